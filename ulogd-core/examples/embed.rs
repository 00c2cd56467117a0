// Embedding ulogd-core: a custom source and a custom sink handed to the builder as
// objects (no registry, no plugin names), driven by the host's own loop with
// `step()`, with live counters read from the handle. The engine installs no signal
// handler and sets no logger: the host stays in charge of its process.
// Run with `cargo run -p ulogd-core --example embed`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ulogd_core::{
    Emit, EngineBuilder, Event, Flow, Inputs, KeyDef, KeyType, PluginError, Ret, Snapshot, Source,
    SourceSetup, Stage, Step, Wake,
};

/// Emits `left` readings, one every 10 ms, from a timer.
struct Thermometer {
    left: i64,
}

impl Source for Thermometer {
    fn start(&mut self, setup: &mut dyn SourceSetup) -> Result<(), PluginError> {
        setup.add_timer(Duration::from_millis(10), Some(Duration::from_millis(10)));
        Ok(())
    }
    fn run(&mut self, _wake: Wake, emit: &mut dyn Emit) -> Result<Flow, PluginError> {
        if self.left == 0 {
            return Ok(Flow::Finished);
        }
        let celsius = 20 + self.left;
        // A full pool just means we skip this tick.
        let _ = emit.emit(&mut |ev| {
            ev.set_str(0, "kitchen");
            ev.set_i64(1, celsius);
            true
        });
        self.left -= 1;
        Ok(Flow::Idle)
    }
    fn counters(&self) -> Vec<(&'static str, u64)> {
        vec![("left", self.left as u64)]
    }
}

/// Prints each reading and keeps the hottest.
#[derive(Default)]
struct Printer {
    max: AtomicU64,
}

impl Stage for Printer {
    fn interp(&self, ev: &mut Event<'_>) -> Ret {
        let c = ev.i64(1).unwrap_or(0);
        println!("{} is at {c} C", ev.str(0).unwrap_or("?"));
        self.max.fetch_max(c as u64, Ordering::Relaxed);
        Ret::Ok
    }
}

/// Builds, drives and finishes the engine; returns the handle's last snapshot.
fn embed() -> Snapshot {
    let keys = vec![
        KeyDef::new("room", KeyType::String),
        KeyDef::new("celsius", KeyType::I64),
    ];
    let printer = Arc::new(Printer::default());
    // Registered plugins mix in with `Engine::builder(&registry).instance(..)`.
    let mut engine = EngineBuilder::default()
        .source("t1", Box::new(Thermometer { left: 5 }), keys.clone())
        .stage("p1", printer.clone(), Inputs::Keys(keys), vec![])
        .stack(&["t1", "p1"])
        .threads(1)
        .build()
        .unwrap_or_else(|errors| panic!("{errors:?}"));
    let handle = engine.handle(); // Send + Clone: stop(), signal(), snapshot()
    engine.start().expect("engine starts");
    // The host's loop: here it only waits on the engine, a real one would poll
    // `engine.as_raw_fd()` with its own descriptors and sleep at most
    // `engine.timeout()`.
    assert!(engine.as_raw_fd() >= 0);
    while engine.step(Some(Duration::from_millis(50))).expect("step") == Step::Running {
        let live = handle.snapshot();
        let src = &live.sources[0];
        assert!(src.events <= 5 && src.in_flight <= src.pool_size);
    }
    let last = handle.snapshot();
    let report = engine.finish();
    print!("{report}");
    assert_eq!(report.get("p1", "ok"), Some(5));
    assert_eq!(printer.max.load(Ordering::Relaxed), 25);
    last
}

fn main() {
    embed();
}
