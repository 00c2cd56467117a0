//! Timer behaviour through the whole engine, on a hand-driven clock: the test moves
//! time and calls `step(Some(ZERO))`, so nothing sleeps and nothing is flaky.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ulogd_core::{
    Emit, Engine, EngineBuilder, Event, Flow, Inputs, KeyDef, KeyType, PluginError, Ret, Signal,
    Source, SourceSetup, Stage, Step, Wake,
};

/// A clock that only moves when told to.
#[derive(Clone)]
struct FakeClock {
    base: Instant,
    nanos: Arc<AtomicU64>,
}

impl FakeClock {
    fn new() -> FakeClock {
        FakeClock {
            base: Instant::now(),
            nanos: Arc::new(AtomicU64::new(0)),
        }
    }
    fn advance(&self, d: Duration) {
        self.nanos.fetch_add(d.as_nanos() as u64, Ordering::SeqCst);
    }
    fn now(&self) -> Instant {
        self.base + Duration::from_nanos(self.nanos.load(Ordering::SeqCst))
    }
}

type Wakes = Arc<Mutex<Vec<Wake>>>;

/// Records every wake; how it sets timers is up to `mode`.
struct Ticker {
    wakes: Wakes,
    mode: Mode,
    threads: Vec<std::thread::JoinHandle<()>>,
}

#[derive(Clone, Copy)]
enum Mode {
    /// A 10 ms periodic timer from start.
    Periodic,
    /// A dormant timer (an hour), re-armed to 50 ms by SIGUSR2.
    ArmOnSignal,
    /// A dormant timer re-armed to 30 ms from a thread of the source's own.
    ArmFromThread,
}

impl Source for Ticker {
    fn start(&mut self, setup: &mut dyn SourceSetup) -> Result<(), PluginError> {
        match self.mode {
            Mode::Periodic => {
                setup.add_timer(Duration::from_millis(10), Some(Duration::from_millis(10)));
            }
            Mode::ArmOnSignal => {
                setup.add_timer(Duration::from_secs(3600), None);
            }
            Mode::ArmFromThread => {
                let t = setup.add_timer(Duration::from_secs(3600), None);
                let mut em = setup.thread_emitter();
                self.threads.push(std::thread::spawn(move || {
                    em.arm_timer(t, Duration::from_millis(30));
                }));
            }
        }
        Ok(())
    }
    fn run(&mut self, wake: Wake, emit: &mut dyn Emit) -> Result<Flow, PluginError> {
        self.wakes.lock().unwrap().push(wake);
        let _ = emit.emit(&mut |ev| {
            ev.set_u64(0, 1);
            true
        });
        Ok(Flow::Idle)
    }
    fn signal(&mut self, sig: Signal, emit: &mut dyn Emit) {
        if sig == Signal::Usr2 {
            emit.arm_timer(0, Duration::from_millis(50));
        }
    }
    fn stop(&mut self) {
        for t in self.threads.drain(..) {
            t.join().unwrap();
        }
    }
}

struct Count(AtomicU64);

impl Stage for Count {
    fn interp(&self, _ev: &mut Event<'_>) -> Ret {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ret::Ok
    }
}

fn engine(mode: Mode, clock: &FakeClock) -> (Engine, Wakes) {
    let wakes: Wakes = Arc::default();
    let c = clock.clone();
    let key = KeyDef::new("n", KeyType::U64);
    let engine = EngineBuilder::default()
        .source(
            "tick",
            Box::new(Ticker {
                wakes: wakes.clone(),
                mode,
                threads: Vec::new(),
            }),
            vec![key.clone()],
        )
        .stage(
            "count",
            Arc::new(Count(AtomicU64::new(0))),
            Inputs::Keys(vec![key]),
            vec![],
        )
        .stack(&["tick", "count"])
        .clock(move || c.now())
        .build()
        .unwrap_or_else(|e| panic!("{e:?}"));
    (engine, wakes)
}

fn timer_wakes(w: &Wakes) -> usize {
    w.lock()
        .unwrap()
        .iter()
        .filter(|w| matches!(w, Wake::Timer(0)))
        .count()
}

fn step(e: &mut Engine) {
    assert_eq!(e.step(Some(Duration::ZERO)).unwrap(), Step::Running);
}

#[test]
fn periodic_timer_follows_the_injected_clock() {
    let clock = FakeClock::new();
    let (mut e, wakes) = engine(Mode::Periodic, &clock);
    e.start().unwrap();
    step(&mut e);
    assert_eq!(timer_wakes(&wakes), 0);
    assert_eq!(e.timeout(), Some(Duration::from_millis(10)));
    clock.advance(Duration::from_millis(9));
    step(&mut e);
    assert_eq!(timer_wakes(&wakes), 0, "not before its deadline");
    clock.advance(Duration::from_millis(1));
    step(&mut e);
    assert_eq!(timer_wakes(&wakes), 1);
    for _ in 0..5 {
        clock.advance(Duration::from_millis(10));
        step(&mut e);
    }
    assert_eq!(timer_wakes(&wakes), 6);
    e.handle().stop();
    assert_eq!(e.step(Some(Duration::ZERO)).unwrap(), Step::Finished);
    let report = e.finish();
    assert_eq!(report.get("count", "ok"), Some(6));
    assert_eq!(report.get("tick", "events"), Some(6));
}

#[test]
fn timer_armed_in_signal_is_kept() {
    let clock = FakeClock::new();
    let (mut e, wakes) = engine(Mode::ArmOnSignal, &clock);
    e.start().unwrap();
    e.handle().signal(Signal::Usr2);
    step(&mut e);
    assert_eq!(e.timeout(), Some(Duration::from_millis(50)));
    clock.advance(Duration::from_millis(49));
    step(&mut e);
    assert_eq!(timer_wakes(&wakes), 0);
    clock.advance(Duration::from_millis(1));
    step(&mut e);
    assert_eq!(timer_wakes(&wakes), 1, "the timer armed in signal() fired");
    // Engine::deliver on the loop thread keeps them too.
    e.deliver(Signal::Usr2);
    clock.advance(Duration::from_millis(50));
    step(&mut e);
    assert_eq!(timer_wakes(&wakes), 2);
    // One-shot: nothing more, however long we wait.
    clock.advance(Duration::from_secs(60));
    step(&mut e);
    assert_eq!(timer_wakes(&wakes), 2);
    e.finish();
}

#[test]
fn timer_armed_from_a_source_thread_fires_on_the_loop() {
    let clock = FakeClock::new();
    let (mut e, wakes) = engine(Mode::ArmFromThread, &clock);
    e.start().unwrap();
    // The thread's request wakes the loop; wait for it in real time (no sleep: the
    // waker makes poll return).
    let deadline = Instant::now() + Duration::from_secs(10);
    while e.timeout() != Some(Duration::from_millis(30)) {
        assert!(
            Instant::now() < deadline,
            "the thread's arm_timer never arrived"
        );
        e.step(Some(Duration::from_millis(100))).unwrap();
    }
    assert_eq!(timer_wakes(&wakes), 0);
    clock.advance(Duration::from_millis(30));
    step(&mut e);
    assert_eq!(timer_wakes(&wakes), 1);
    e.finish();
}
