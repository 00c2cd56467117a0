//! Engine tests with test-only plugins: a synthetic source, a filter and a counting sink.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ulogd_core::{
    BuildContext, Built, Emit, Engine, Event, Flow, Inputs, KeyDef, KeyType, Kind, OptionDef,
    PluginError, PluginSpec, Registry, Ret, Source, SourceSetup, Stage, Wake,
};

static SRC_KEYS: &[KeyDef] = &[
    KeyDef::new("seq", KeyType::U64),
    KeyDef::new("text", KeyType::String),
];

/// Emits `count` events numbered 0.., in batches of 100, then finishes.
struct Counter {
    count: u64,
    next: u64,
}

impl Source for Counter {
    fn start(&mut self, _s: &mut dyn SourceSetup) -> Result<(), PluginError> {
        Ok(())
    }
    fn run(&mut self, _w: Wake, emit: &mut dyn Emit) -> Result<Flow, PluginError> {
        for _ in 0..100 {
            if self.next == self.count {
                return Ok(Flow::Finished);
            }
            let n = self.next;
            if emit
                .emit(&mut |ev| {
                    ev.set_u64(0, n);
                    ev.set_str(1, "event");
                    true
                })
                .is_err()
            {
                return Ok(Flow::Idle);
            }
            self.next += 1;
        }
        Ok(Flow::Again)
    }
}

/// Stops events whose `seq` is divisible by `every`; adds `doubled = seq * 2`.
struct Filt {
    every: u64,
}

impl Stage for Filt {
    fn interp(&self, ev: &mut Event<'_>) -> Ret {
        let Some(s) = ev.u64(0) else { return Ret::Err };
        if self.every > 0 && s % self.every == 0 {
            return Ret::Stop;
        }
        ev.set_u64(0, s * 2);
        Ret::Ok
    }
}

#[derive(Default)]
struct SinkState {
    seen: Mutex<Vec<u64>>,
    flushed_with: Mutex<Option<usize>>,
    stopped: AtomicUsize,
}

struct Sink {
    st: Arc<SinkState>,
    delay: Duration,
}

impl Stage for Sink {
    fn interp(&self, ev: &mut Event<'_>) -> Ret {
        let s = ev.u64(0).expect("seq bound");
        assert_eq!(ev.str(1), Some("event"));
        if !self.delay.is_zero() {
            std::thread::sleep(self.delay);
        }
        self.st.seen.lock().unwrap().push(s);
        Ret::Ok
    }
    fn flush(&self) {
        *self.st.flushed_with.lock().unwrap() = Some(self.st.seen.lock().unwrap().len());
    }
    fn stop(&self) {
        self.st.stopped.fetch_add(1, Ordering::SeqCst);
    }
}

type Sinks = Arc<Mutex<Vec<(String, Arc<SinkState>)>>>;

struct World {
    reg: Registry,
    sinks: Sinks,
    builds: Arc<AtomicUsize>,
}

fn world(count: u64, sink_delay: Duration) -> World {
    let mut reg = Registry::new();
    reg.add(PluginSpec {
        name: "COUNTER",
        aliases: &[],
        kind: Kind::Source,
        summary: "test",
        options: vec![],
        inputs: vec![],
        outputs: SRC_KEYS.to_vec(),
        wildcard: false,
        build: Box::new(move |_| {
            Ok(Built::Source {
                source: Box::new(Counter { count, next: 0 }),
                outputs: SRC_KEYS.to_vec(),
            })
        }),
    });
    reg.add(PluginSpec {
        name: "FILT",
        aliases: &[],
        kind: Kind::Filter,
        summary: "test",
        options: vec![OptionDef::int("every", "0", "stop every Nth")],
        inputs: vec![],
        outputs: vec![],
        wildcard: false,
        build: Box::new(|ctx: &BuildContext<'_>| {
            Ok(Built::Stage {
                stage: Arc::new(Filt {
                    every: ctx.options.int("every") as u64,
                }),
                inputs: Inputs::Keys(vec![KeyDef::new("seq", KeyType::U64)]),
                outputs: vec![KeyDef::new("seq", KeyType::U64)],
            })
        }),
    });
    let sinks: Sinks = Arc::default();
    let builds = Arc::new(AtomicUsize::new(0));
    let (s2, b2) = (sinks.clone(), builds.clone());
    reg.add(PluginSpec {
        name: "SINK",
        aliases: &[],
        kind: Kind::Sink,
        summary: "test",
        options: vec![],
        inputs: vec![],
        outputs: vec![],
        wildcard: false,
        build: Box::new(move |ctx: &BuildContext<'_>| {
            b2.fetch_add(1, Ordering::SeqCst);
            let st = Arc::new(SinkState::default());
            s2.lock().unwrap().push((ctx.id.to_string(), st.clone()));
            Ok(Built::Stage {
                stage: Arc::new(Sink {
                    st,
                    delay: sink_delay,
                }),
                inputs: Inputs::Keys(vec![
                    KeyDef::new("seq", KeyType::U64),
                    KeyDef::new("text", KeyType::String),
                ]),
                outputs: vec![],
            })
        }),
    });
    World { reg, sinks, builds }
}

fn conf(threads: usize, keyspool: usize, stacks: &[&str], extra: &str) -> String {
    let mut s = format!(
        "[global]\nlogfile=\"stdout\"\nloglevel=7\nthreads={threads}\nkeyspool={keyspool}\n"
    );
    for st in stacks {
        s.push_str(&format!("stack={st}\n"));
    }
    s.push_str(extra);
    // Every instance needs its section, as in ulogd2 (empty is fine); appended last so
    // that the stack= lines keep their line numbers.
    for st in stacks {
        for el in st.split(',') {
            let id = el.split(':').next().unwrap_or_default();
            let header = format!("[{id}]\n");
            if !s.contains(&header) {
                s.push_str(&header);
            }
        }
    }
    s
}

fn sink(w: &World, id: &str) -> Arc<SinkState> {
    w.sinks
        .lock()
        .unwrap()
        .iter()
        .find(|(i, _)| i == id)
        .unwrap()
        .1
        .clone()
}

fn run_every_stack_once(threads: usize) {
    let n = 5000;
    let w = world(n, Duration::ZERO);
    let text = conf(
        threads,
        16,
        &["src:COUNTER,plain:SINK", "src:COUNTER,f:FILT,doubled:SINK"],
        "",
    );
    let engine = Engine::from_str(&w.reg, "t.conf", &text).unwrap_or_else(|e| panic!("{e:?}"));
    let report = engine.run().unwrap();
    let plain = sink(&w, "plain").seen.lock().unwrap().clone();
    let doubled = sink(&w, "doubled").seen.lock().unwrap().clone();
    // Every event exactly once, in kernel (emit) order, in each stack.
    assert_eq!(plain, (0..n).collect::<Vec<_>>());
    assert_eq!(doubled, (0..n).map(|x| x * 2).collect::<Vec<_>>());
    assert_eq!(report.get("src", "events"), Some(n));
    assert_eq!(report.get("plain", "ok"), Some(n));
    assert_eq!(report.get("f", "in"), Some(n));
}

#[test]
fn every_stack_once_in_order_inline() {
    run_every_stack_once(0);
}

#[test]
fn every_stack_once_in_order_threads() {
    run_every_stack_once(4);
}

#[test]
fn stop_ends_only_that_stack() {
    let n = 1000;
    for threads in [0, 3] {
        let w = world(n, Duration::ZERO);
        let text = conf(
            threads,
            8,
            &["src:COUNTER,f:FILT,a:SINK", "src:COUNTER,b:SINK"],
            "[f]\nevery=10\n",
        );
        let report = Engine::from_str(&w.reg, "t.conf", &text)
            .unwrap()
            .run()
            .unwrap();
        let a = sink(&w, "a").seen.lock().unwrap().clone();
        let b = sink(&w, "b").seen.lock().unwrap().clone();
        let want_a: Vec<u64> = (0..n).filter(|x| x % 10 != 0).map(|x| x * 2).collect();
        assert_eq!(a, want_a);
        assert_eq!(b.len() as u64, n);
        assert_eq!(report.get("f", "stopped"), Some(n / 10));
        assert_eq!(report.get("a", "in"), Some(n - n / 10));
    }
}

#[test]
fn pool_exhaustion_back_pressures_without_loss() {
    let n = 300;
    let w = world(n, Duration::from_micros(200));
    let text = conf(2, 2, &["src:COUNTER,s:SINK"], "");
    let report = Engine::from_str(&w.reg, "t.conf", &text)
        .unwrap()
        .run()
        .unwrap();
    assert_eq!(
        sink(&w, "s").seen.lock().unwrap().clone(),
        (0..n).collect::<Vec<_>>()
    );
    assert!(report.get("src", "pool_empty").unwrap() > 0, "{report}");
}

#[test]
fn shutdown_flushes_after_last_event() {
    let n = 2000;
    let w = world(n, Duration::ZERO);
    let text = conf(2, 4, &["src:COUNTER,s:SINK"], "");
    Engine::from_str(&w.reg, "t.conf", &text)
        .unwrap()
        .run()
        .unwrap();
    let s = sink(&w, "s");
    assert_eq!(*s.flushed_with.lock().unwrap(), Some(n as usize));
    assert_eq!(s.stopped.load(Ordering::SeqCst), 1);
}

#[test]
fn shared_instance_is_built_once() {
    let w = world(10, Duration::ZERO);
    let text = conf(
        0,
        4,
        &["src:COUNTER,s:SINK", "src:COUNTER,f:FILT,s:SINK"],
        "",
    );
    let report = Engine::from_str(&w.reg, "t.conf", &text)
        .unwrap()
        .run()
        .unwrap();
    assert_eq!(w.builds.load(Ordering::SeqCst), 1);
    // One sink object, fed by two stacks with different upstream keys.
    assert_eq!(report.get("s", "in"), Some(20));
}

#[test]
fn stop_from_another_thread() {
    let w = world(u64::MAX, Duration::ZERO);
    let text = conf(2, 8, &["src:COUNTER,s:SINK"], "");
    let engine = Engine::from_str(&w.reg, "t.conf", &text).unwrap();
    let h = engine.handle();
    let t = std::thread::spawn(move || engine.run().unwrap());
    std::thread::sleep(Duration::from_millis(100));
    h.stop();
    let report = t.join().unwrap();
    let seen = sink(&w, "s").seen.lock().unwrap().len() as u64;
    assert!(seen > 0);
    assert_eq!(
        report.get("src", "events"),
        Some(seen),
        "every emitted event reached the sink"
    );
}

#[test]
fn build_errors_name_stack_instance_and_key() {
    let w = world(1, Duration::ZERO);
    // SINK needs `text`; FILT alone as a source is wrong; unknown plugin; bad option.
    let text = conf(
        0,
        4,
        &[
            "src:COUNTER,f:FILT,s:SINK",
            "x:FILT,s2:SINK",
            "src:COUNTER,j:JSNO",
        ],
        "[f]\nevry=3\n",
    );
    let errs = Engine::from_str(&w.reg, "t.conf", &text)
        .err()
        .expect("must fail");
    let all: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    let joined = all.join("\n");
    assert!(
        joined.contains(
            "t.conf:10: unknown option 'evry' in [f] for plugin FILT (did you mean 'every'?)"
        ),
        "{joined}"
    );
    assert!(
        joined.contains("t.conf:7: stack 'x:FILT,s2:SINK': FILT is a filter, but stands first"),
        "{joined}"
    );
    assert!(
        joined.contains("t.conf:8: stack 'src:COUNTER,j:JSNO': unknown plugin 'JSNO'"),
        "{joined}"
    );

    let text = conf(0, 4, &["src:COUNTER,f:FILT,s:SINK"], "");
    let mut reg = world(1, Duration::ZERO).reg;
    // A sink needing a key nobody produces.
    reg.add(PluginSpec {
        name: "NEEDY",
        aliases: &[],
        kind: Kind::Sink,
        summary: "test",
        options: vec![],
        inputs: vec![],
        outputs: vec![],
        wildcard: false,
        build: Box::new(|_| {
            Ok(Built::Stage {
                stage: Arc::new(Filt { every: 0 }),
                inputs: Inputs::Keys(vec![KeyDef::new("oob.in", KeyType::String)]),
                outputs: vec![],
            })
        }),
    });
    let text2 = text.replace("s:SINK", "n:NEEDY");
    let errs = Engine::from_str(&reg, "t.conf", &text2)
        .err()
        .expect("must fail");
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].key.as_deref(), Some("oob.in"));
    assert!(
        errs[0].to_string().contains("stack 'src:COUNTER,f:FILT,n:NEEDY': n (NEEDY) needs key 'oob.in', which no plugin before it produces"),
        "{}",
        errs[0]
    );
    // A near miss gets a hint naming the upstream key.
    let mut reg = world(1, Duration::ZERO).reg;
    reg.add(PluginSpec {
        name: "TYPO2",
        aliases: &[],
        kind: Kind::Sink,
        summary: "test",
        options: vec![],
        inputs: vec![],
        outputs: vec![],
        wildcard: false,
        build: Box::new(|_| {
            Ok(Built::Stage {
                stage: Arc::new(Filt { every: 0 }),
                inputs: Inputs::Keys(vec![KeyDef::new("sek", KeyType::U64)]),
                outputs: vec![],
            })
        }),
    });
    let errs = Engine::from_str(&reg, "t.conf", &conf(0, 4, &["src:COUNTER,t:TYPO2"], ""))
        .err()
        .unwrap();
    assert!(
        errs[0]
            .message
            .contains("needs key 'sek', which no plugin before it produces (did you mean 'seq'?)"),
        "{}",
        errs[0]
    );
    // Type mismatch: `seq` declared String by the consumer.
    let mut reg = world(1, Duration::ZERO).reg;
    reg.add(PluginSpec {
        name: "TYPO",
        aliases: &[],
        kind: Kind::Sink,
        summary: "test",
        options: vec![],
        inputs: vec![],
        outputs: vec![],
        wildcard: false,
        build: Box::new(|_| {
            Ok(Built::Stage {
                stage: Arc::new(Filt { every: 0 }),
                inputs: Inputs::Keys(vec![KeyDef::new("seq", KeyType::String)]),
                outputs: vec![],
            })
        }),
    });
    let errs = Engine::from_str(&reg, "t.conf", &conf(0, 4, &["src:COUNTER,t:TYPO"], ""))
        .err()
        .unwrap();
    assert!(
        errs[0]
            .message
            .contains("needs key 'seq' as string, but upstream produces it as u_int64_t"),
        "{}",
        errs[0]
    );
}

/// A source with threads of its own (as MTNFQ), each emitting through a thread emitter.
struct Threaded {
    handles: Vec<std::thread::JoinHandle<()>>,
    done: bool,
}

impl Source for Threaded {
    fn start(&mut self, s: &mut dyn SourceSetup) -> Result<(), PluginError> {
        for t in 0..2u64 {
            let mut em = s.thread_emitter();
            self.handles.push(std::thread::spawn(move || {
                for i in 0..1000u64 {
                    em.emit(&mut |ev| {
                        ev.set_u64(0, t * 1_000_000 + i);
                        ev.set_str(1, "event");
                        true
                    })
                    .expect("a thread emitter never runs out of bundles");
                }
            }));
        }
        s.add_timer(Duration::from_millis(1), Some(Duration::from_millis(5)));
        Ok(())
    }
    fn run(&mut self, _w: Wake, _e: &mut dyn Emit) -> Result<Flow, PluginError> {
        if self.handles.iter().all(|h| h.is_finished()) && !self.done {
            self.done = true;
            return Ok(Flow::Finished);
        }
        Ok(Flow::Idle)
    }
    fn stop(&mut self) {
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

#[test]
fn source_threads_run_stacks_themselves() {
    let w = world(0, Duration::ZERO);
    let mut reg = w.reg;
    reg.add(PluginSpec {
        name: "THREADED",
        aliases: &[],
        kind: Kind::Source,
        summary: "test",
        options: vec![],
        inputs: vec![],
        outputs: SRC_KEYS.to_vec(),
        wildcard: false,
        build: Box::new(|_| {
            Ok(Built::Source {
                source: Box::new(Threaded {
                    handles: vec![],
                    done: false,
                }),
                outputs: SRC_KEYS.to_vec(),
            })
        }),
    });
    let report = Engine::from_str(&reg, "t.conf", &conf(2, 4, &["q:THREADED,s:SINK"], ""))
        .unwrap()
        .run()
        .unwrap();
    let seen = w.sinks.lock().unwrap()[0].1.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2000);
    assert_eq!(report.get("q", "events"), Some(2000));
    for t in 0..2u64 {
        let mine: Vec<u64> = seen
            .iter()
            .copied()
            .filter(|v| v / 1_000_000 == t)
            .collect();
        assert_eq!(
            mine,
            (0..1000).map(|i| t * 1_000_000 + i).collect::<Vec<_>>(),
            "thread {t} in order"
        );
    }
}
