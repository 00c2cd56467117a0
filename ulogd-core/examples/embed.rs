// Embedding ulogd-core: a custom source and a custom sink, built in code and run
// on the caller's thread. Run with `cargo run -p ulogd-core --example embed`.

use std::sync::Arc;
use std::time::Duration;

use ulogd_core::{
    Built, Emit, Engine, Event, Flow, Inputs, KeyDef, KeyType, Kind, OptionDef, PluginError,
    PluginSpec, Registry, Ret, Source, SourceSetup, Stage, Wake,
};

/// Emits `count` readings, one every 10 ms, from a timer.
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
}

/// Prints each reading.
struct Printer;

impl Stage for Printer {
    fn interp(&self, ev: &mut Event<'_>) -> Ret {
        println!(
            "{} is at {} C",
            ev.str(0).unwrap_or("?"),
            ev.i64(1).unwrap_or(0)
        );
        Ret::Ok
    }
}

fn registry() -> Registry {
    let keys = vec![
        KeyDef::new("room", KeyType::String),
        KeyDef::new("celsius", KeyType::I64),
    ];
    let mut reg = Registry::new();
    let outs = keys.clone();
    reg.add(PluginSpec {
        name: "THERMO",
        aliases: &[],
        kind: Kind::Source,
        summary: "example source: fake temperature readings",
        options: vec![OptionDef::int("count", "3", "how many readings")],
        inputs: vec![],
        outputs: keys.clone(),
        wildcard: false,
        build: Box::new(move |ctx| {
            Ok(Built::Source {
                source: Box::new(Thermometer {
                    left: ctx.options.int("count"),
                }),
                outputs: outs.clone(),
            })
        }),
    });
    reg.add(PluginSpec {
        name: "PRINTER",
        aliases: &[],
        kind: Kind::Sink,
        summary: "example sink: prints readings",
        options: vec![],
        inputs: keys.clone(),
        outputs: vec![],
        wildcard: false,
        build: Box::new(move |_| {
            Ok(Built::Stage {
                stage: Arc::new(Printer),
                inputs: Inputs::Keys(keys.clone()),
                outputs: vec![],
            })
        }),
    });
    // Built-in plugins would be added here too: ulogd_netfilter::register(&mut reg), ...
    reg
}

fn main() {
    let reg = registry();
    let engine = Engine::builder(&reg)
        .instance("t1", "THERMO", &[("count", "5")])
        .instance("p1", "PRINTER", &[])
        .stack(&["t1", "p1"])
        .threads(1)
        .build()
        .unwrap_or_else(|errors| panic!("{errors:?}"));
    // engine.handle().stop() from another thread would end it early.
    let report = engine.run().expect("engine runs");
    print!("{report}");
    assert_eq!(report.get("p1", "ok"), Some(5));
}
