//! Test helpers for plugin authors: a source that emits events given in code and a
//! sink that collects what reaches it, so a filter or an output can be tested through
//! the real engine without sockets.
//!
//! ```
//! use ulogd_core::testing::{Collected, OwnedValue, TestSource, collect_sink};
//! use ulogd_core::{KeyDef, KeyType, Registry};
//! let keys = vec![KeyDef::new("oob.prefix", KeyType::String)];
//! let events = vec![vec![(0, OwnedValue::Bytes(b"hi".to_vec()))]];
//! let mut reg = Registry::new();
//! reg.add(TestSource::spec("TESTSRC", keys, events));
//! let (spec, seen) = collect_sink("COLLECT");
//! reg.add(spec);
//! let report = ulogd_core::testing::run(&reg, "src:TESTSRC,out:COLLECT", "", 0).unwrap();
//! assert_eq!(seen.lock().unwrap()[0][0].0, "oob.prefix");
//! assert_eq!(report.get("src", "events"), Some(1));
//! ```

#[cfg(feature = "netns")]
pub mod netns;

use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use crate::event::{Event, Value};
use crate::key::KeyDef;
use crate::plugin::{
    Built, Emit, Flow, Inputs, Kind, PluginError, PluginSpec, Ret, Source, SourceSetup, Stage, Wake,
};
use crate::{Engine, Report};

/// An owned key value, for building and checking events in tests.
#[derive(Clone, Debug, PartialEq)]
pub enum OwnedValue {
    /// Unsigned integer (any width) or bool as 0/1.
    Uint(u64),
    /// Signed integer.
    Int(i64),
    /// Boolean.
    Bool(bool),
    /// Address.
    Addr(IpAddr),
    /// String or raw bytes.
    Bytes(Vec<u8>),
}

impl From<Value<'_>> for OwnedValue {
    fn from(v: Value<'_>) -> Self {
        match v {
            Value::Uint(x) => OwnedValue::Uint(x),
            Value::Int(x) => OwnedValue::Int(x),
            Value::Bool(x) => OwnedValue::Bool(x),
            Value::Addr(x) => OwnedValue::Addr(x),
            Value::Bytes(x) => OwnedValue::Bytes(x.to_vec()),
        }
    }
}

/// Prints one row of the reliability table (`| case | offered N | delivered N |
/// counted-lost N | silently-lost N |`) and, when `ULOGD_RELIABILITY_TABLE` names a
/// file, appends it there too: cargo hides a passing test's output, and CI prints
/// every case's row as one table at the end of the run (`.ci/test`).
pub fn reliability_row(row: &str) {
    println!("{row}");
    if let Some(path) = std::env::var_os("ULOGD_RELIABILITY_TABLE") {
        use std::io::Write;
        // One append of the whole line: rows of tests running at once stay whole.
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = f.write_all(format!("{row}\n").as_bytes());
        }
    }
}

/// Writes `v` to output `idx` of `ev`.
pub fn set_owned(ev: &mut Event<'_>, idx: usize, v: &OwnedValue) {
    match v {
        OwnedValue::Uint(x) => ev.set_u64(idx, *x),
        OwnedValue::Int(x) => ev.set_i64(idx, *x),
        OwnedValue::Bool(x) => ev.set_bool(idx, *x),
        OwnedValue::Addr(x) => ev.set_addr(idx, *x),
        OwnedValue::Bytes(x) => ev.set_bytes(idx, x),
    }
}

/// One event: (output index, value) pairs.
pub type TestEvent = Vec<(usize, OwnedValue)>;

/// A source emitting a fixed list of events, then finishing.
pub struct TestSource {
    events: Arc<Vec<TestEvent>>,
    next: usize,
}

impl TestSource {
    /// A plugin spec named `name` whose instances emit `events` with keys `outputs`.
    pub fn spec(name: &'static str, outputs: Vec<KeyDef>, events: Vec<TestEvent>) -> PluginSpec {
        let events = Arc::new(events);
        let outs = outputs.clone();
        PluginSpec {
            name,
            aliases: &[],
            kind: Kind::Source,
            summary: "test source: emits events given in code",
            options: vec![],
            inputs: vec![],
            outputs: outputs.clone(),
            wildcard: false,
            build: Box::new(move |_| {
                Ok(Built::Source {
                    source: Box::new(TestSource {
                        events: events.clone(),
                        next: 0,
                    }),
                    outputs: outs.clone(),
                })
            }),
        }
    }
}

impl Source for TestSource {
    fn start(&mut self, _setup: &mut dyn SourceSetup) -> Result<(), PluginError> {
        Ok(())
    }
    fn run(&mut self, _wake: Wake, emit: &mut dyn Emit) -> Result<Flow, PluginError> {
        while self.next < self.events.len() {
            let evs = self.events.clone();
            let e = &evs[self.next];
            if emit
                .emit(&mut |ev| {
                    for (i, v) in e {
                        set_owned(ev, *i, v);
                    }
                    true
                })
                .is_err()
            {
                return Ok(Flow::Idle);
            }
            self.next += 1;
        }
        Ok(Flow::Finished)
    }
}

/// What a collecting sink saw: per event, every set upstream key (name, value).
pub type Collected = Arc<Mutex<Vec<Vec<(String, OwnedValue)>>>>;

struct CollectSink {
    seen: Collected,
}

impl Stage for CollectSink {
    fn interp(&self, ev: &mut Event<'_>) -> Ret {
        // Every test through this sink also checks the set-key walk against the
        // full one.
        assert!(
            ev.wildcard_set_positions().eq(ev
                .wildcard()
                .enumerate()
                .filter(|(_, (_, v))| v.is_some())
                .map(|(i, _)| i)),
            "wildcard_set_positions disagrees with wildcard()"
        );
        let row = ev
            .wildcard()
            .filter_map(|(k, v)| v.map(|v| (k.name.to_string(), OwnedValue::from(v))))
            .collect();
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(row);
        Ret::Ok
    }
}

/// A wildcard sink plugin named `name` and the shared vector it fills.
pub fn collect_sink(name: &'static str) -> (PluginSpec, Collected) {
    let seen: Collected = Arc::default();
    let s2 = seen.clone();
    let spec = PluginSpec {
        name,
        aliases: &[],
        kind: Kind::Sink,
        summary: "test sink: collects every upstream key of every event",
        options: vec![],
        inputs: vec![],
        outputs: vec![],
        wildcard: true,
        build: Box::new(move |_| {
            Ok(Built::Stage {
                stage: Arc::new(CollectSink { seen: s2.clone() }),
                inputs: Inputs::All,
                outputs: vec![],
            })
        }),
    };
    (spec, seen)
}

/// Builds and runs one stack until its sources finish. `sections` is extra ini text
/// (instance sections); `threads` is the worker count.
pub fn run(
    registry: &crate::Registry,
    stack: &str,
    sections: &str,
    threads: usize,
) -> Result<Report, String> {
    let mut text =
        format!("[global]\nlogfile=\"stdout\"\nthreads={threads}\nstack={stack}\n{sections}\n");
    // Every instance needs a section, as in ulogd2; an instance the caller gave no
    // options gets an empty one (appended last, so the caller's lines keep their numbers).
    for el in stack.split(',') {
        let id = el.split(':').next().unwrap_or_default().trim();
        if !sections.contains(&format!("[{id}]")) {
            text.push_str(&format!("[{id}]\n"));
        }
    }
    let engine = Engine::from_str(registry, "test.conf", &text).map_err(|e| {
        e.iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    })?;
    engine.run().map_err(|e| e.to_string())
}
