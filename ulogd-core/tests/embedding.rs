//! The embedding API: plugin objects in the builder, errors for undeclared ids, and a
//! handle that reads live counters and passes signals from another thread.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ulogd_core::{
    Emit, EngineBuilder, Event, Flow, Inputs, KeyDef, KeyType, PluginError, Ret, Signal, Source,
    SourceSetup, Stage, Wake,
};

/// Emits one event per run, forever (`Flow::Again`), until stopped.
struct Endless;

impl Source for Endless {
    fn start(&mut self, _s: &mut dyn SourceSetup) -> Result<(), PluginError> {
        Ok(())
    }
    fn run(&mut self, _w: Wake, emit: &mut dyn Emit) -> Result<Flow, PluginError> {
        let _ = emit.emit(&mut |ev| {
            ev.set_u64(0, 7);
            true
        });
        Ok(Flow::Again)
    }
    fn counters(&self) -> Vec<(&'static str, u64)> {
        vec![("runs", 1)]
    }
}

#[derive(Default)]
struct Sink {
    n: AtomicU64,
    signals: Mutex<Vec<Signal>>,
}

impl Stage for Sink {
    fn interp(&self, ev: &mut Event<'_>) -> Ret {
        assert_eq!(ev.u64(0), Some(7));
        self.n.fetch_add(1, Ordering::Relaxed);
        Ret::Ok
    }
    fn signal(&self, sig: Signal) {
        self.signals.lock().unwrap().push(sig);
    }
}

fn key() -> KeyDef {
    KeyDef::new("n", KeyType::U64)
}

#[test]
fn undeclared_id_is_an_error_not_a_fake_plugin() {
    let errs = match EngineBuilder::default()
        .source("s", Box::new(Endless), vec![key()])
        .stack(&["s", "nowhere"])
        .build()
    {
        Ok(_) => panic!("built a stack with an undeclared instance"),
        Err(e) => e,
    };
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0]
            .message
            .contains("instance 'nowhere' is not declared"),
        "{}",
        errs[0]
    );
}

#[test]
fn objects_must_stand_where_their_kind_allows() {
    let sink = Arc::new(Sink::default());
    let errs = match EngineBuilder::default()
        .source("s", Box::new(Endless), vec![key()])
        .stage("k", sink, Inputs::Keys(vec![key()]), vec![])
        .stack(&["k", "s"])
        .build()
    {
        Ok(_) => panic!("a stage stood first"),
        Err(e) => e,
    };
    let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    assert!(
        text.iter()
            .any(|t| t.contains("'k' is a stage object but stands at position 1")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|t| t.contains("'s' is a source object but stands at position 2")),
        "{text:?}"
    );
}

#[test]
fn handle_reads_live_counters_and_passes_signals_from_another_thread() {
    let sink = Arc::new(Sink::default());
    let engine = EngineBuilder::default()
        .source("s", Box::new(Endless), vec![key()])
        .stage("k", sink.clone(), Inputs::Keys(vec![key()]), vec![])
        .stack(&["s", "k"])
        .threads(2)
        .build()
        .unwrap_or_else(|e| panic!("{e:?}"));
    let h = engine.handle();
    let th = std::thread::spawn(move || engine.run().unwrap());
    let deadline = Instant::now() + Duration::from_secs(20);
    // Counters move while the engine runs, and the source's own counters get
    // published.
    loop {
        let s = h.snapshot();
        if s.sources[0].events > 1000 && s.stages[0].ok > 1000 && !s.sources[0].counters.is_empty()
        {
            assert_eq!(s.sources[0].counters, vec![("runs", 1)]);
            assert_eq!(s.sources[0].pool_size, 64); // the default keyspool
            break;
        }
        assert!(Instant::now() < deadline, "counters never moved: {s:?}");
        std::thread::yield_now();
    }
    h.signal(Signal::Hup);
    h.signal(Signal::Usr2);
    while sink.signals.lock().unwrap().len() < 2 {
        assert!(Instant::now() < deadline, "signals not delivered");
        std::thread::yield_now();
    }
    assert_eq!(
        *sink.signals.lock().unwrap(),
        vec![Signal::Hup, Signal::Usr2]
    );
    h.stop();
    let report = th.join().unwrap();
    let n = sink.n.load(Ordering::Relaxed);
    assert_eq!(report.get("k", "ok"), Some(n));
    assert_eq!(report.get("s", "events"), Some(n));
    // After the end the handle still reads the final figures.
    assert_eq!(h.snapshot().stages[0].ok, n);
}

/// A wildcard sink that derives, per stack, the upstream key names joined by ','
/// (in `bind`) and records it with each event; refuses stacks without key `n`.
#[derive(Default)]
struct Planner {
    seen: Mutex<Vec<String>>,
}

impl Stage for Planner {
    fn bind(&self, keys: &ulogd_core::StackKeys<'_>) -> Result<ulogd_core::BindState, PluginError> {
        let names: Vec<&str> = keys.wildcard.iter().map(|k| &*k.name).collect();
        if !names.contains(&"n") {
            return Err(PluginError::new("needs key 'n'"));
        }
        Ok(ulogd_core::BindState::new(names.join(",")))
    }
    fn interp(&self, ev: &mut Event<'_>) -> Ret {
        let plan = ev.bind_state::<String>().expect("bound").clone();
        self.seen.lock().unwrap().push(plan);
        Ret::Ok
    }
}

/// Adds key `extra` (a filter object).
struct Extra;

impl Stage for Extra {
    fn interp(&self, ev: &mut Event<'_>) -> Ret {
        ev.set_u64(0, 1);
        Ret::Ok
    }
}

/// Emits `left` events then finishes.
struct Few {
    left: u32,
}

impl Source for Few {
    fn start(&mut self, _s: &mut dyn SourceSetup) -> Result<(), PluginError> {
        Ok(())
    }
    fn run(&mut self, _w: Wake, emit: &mut dyn Emit) -> Result<Flow, PluginError> {
        while self.left > 0 {
            self.left -= 1;
            let _ = emit.emit(&mut |ev| {
                ev.set_u64(0, 7);
                true
            });
        }
        Ok(Flow::Finished)
    }
}

#[test]
fn bind_state_is_kept_per_stack_and_reaches_the_event() {
    let planner = Arc::new(Planner::default());
    let report = EngineBuilder::default()
        .source("s", Box::new(Few { left: 2 }), vec![key()])
        .stage(
            "x",
            Arc::new(Extra),
            Inputs::Keys(vec![]),
            vec![KeyDef::new("extra", KeyType::U64)],
        )
        .stage("p", planner.clone(), Inputs::All, vec![])
        .stack(&["s", "p"])
        .stack(&["s", "x", "p"])
        .build()
        .unwrap_or_else(|e| panic!("{e:?}"))
        .run()
        .unwrap();
    assert_eq!(report.get("p", "ok"), Some(4));
    // Each event went through both stacks, each with its own plan.
    assert_eq!(
        *planner.seen.lock().unwrap(),
        ["n", "n,extra", "n", "n,extra"]
    );
}

#[test]
fn a_bind_error_refuses_the_stack_by_name() {
    let errs = match EngineBuilder::default()
        .stage(
            "x",
            Arc::new(Extra),
            Inputs::Keys(vec![]),
            vec![KeyDef::new("extra", KeyType::U64)],
        )
        .source(
            "s",
            Box::new(Few { left: 1 }),
            vec![KeyDef::new("m", KeyType::U64)],
        )
        .stage("p", Arc::new(Planner::default()), Inputs::All, vec![])
        .stack(&["s", "x", "p"])
        .build()
    {
        Ok(_) => panic!("bind error ignored"),
        Err(e) => e,
    };
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0]
            .to_string()
            .contains("stack 's:object,x:object,p:object': p (object): needs key 'n'"),
        "{}",
        errs[0]
    );
}

/// Waits on nothing (one dormant timer).
struct Quiet;

impl Source for Quiet {
    fn start(&mut self, s: &mut dyn SourceSetup) -> Result<(), PluginError> {
        s.add_timer(Duration::from_secs(3600), None);
        Ok(())
    }
    fn run(&mut self, _w: Wake, _e: &mut dyn Emit) -> Result<Flow, PluginError> {
        Ok(Flow::Idle)
    }
}

fn readable(fd: std::os::fd::RawFd, timeout_ms: i32) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call.
    let n = unsafe { libc::poll(&mut p, 1, timeout_ms) };
    n == 1 && p.revents & libc::POLLIN != 0
}

#[test]
fn a_host_loop_polls_the_engine_fd_and_steps() {
    let sink = Arc::new(Sink::default());
    let mut engine = EngineBuilder::default()
        .source("q", Box::new(Quiet), vec![key()])
        .stage("k", sink.clone(), Inputs::Keys(vec![key()]), vec![])
        .stack(&["q", "k"])
        .build()
        .unwrap_or_else(|e| panic!("{e:?}"));
    engine.start().unwrap();
    let fd = engine.as_raw_fd();
    assert!(!readable(fd, 0), "nothing to do yet");
    let t = engine.timeout().unwrap();
    assert!(t > Duration::from_secs(3500), "{t:?}");
    // Another thread asks for something: the host's poll on the engine's fd wakes.
    let h = engine.handle();
    std::thread::spawn(move || h.signal(Signal::Usr1))
        .join()
        .unwrap();
    assert!(
        readable(fd, 10_000),
        "the engine fd did not become readable"
    );
    assert_eq!(
        engine.step(Some(Duration::ZERO)).unwrap(),
        ulogd_core::Step::Running
    );
    assert_eq!(*sink.signals.lock().unwrap(), vec![Signal::Usr1]);
    engine.handle().stop();
    assert!(readable(fd, 10_000));
    assert_eq!(
        engine.step(Some(Duration::ZERO)).unwrap(),
        ulogd_core::Step::Finished
    );
    engine.finish();
}
