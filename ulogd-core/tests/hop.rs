//! Source stacking through the real engine, with a synthetic hop plugin (PAIR) that
//! knows nothing of flows: its sink half collects `n`, its source half emits one
//! event per two inputs (`sum`, `first`), and whatever is left as a last odd one when
//! flushed. Nothing here is special to FLOW.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use ulogd_core::testing::{collect_sink, Collected, OwnedValue, TestSource};
use ulogd_core::{
    Built, Doorbell, Emit, Engine, Event, Flow, Inputs, KeyDef, KeyType, Kind, PluginError,
    PluginSpec, Registry, Ret, Source, SourceSetup, Stage, Wake,
};

struct Shared {
    q: Mutex<(VecDeque<u64>, bool)>,
    bell: Doorbell,
}

struct PairStage(Arc<Shared>);

impl Stage for PairStage {
    fn interp(&self, ev: &mut Event<'_>) -> Ret {
        let Some(n) = ev.u64(0) else { return Ret::Stop };
        let ready = {
            let mut q = self.0.q.lock().unwrap();
            q.0.push_back(n);
            q.0.len() >= 2
        };
        if ready {
            self.0.bell.ring();
        }
        Ret::Ok
    }
    fn flush(&self) {
        self.0.q.lock().unwrap().1 = true;
    }
}

struct PairSource {
    s: Arc<Shared>,
    held: Option<(u64, u64)>,
}

impl Source for PairSource {
    fn start(&mut self, setup: &mut dyn SourceSetup) -> Result<(), PluginError> {
        setup.add_fd(self.s.bell.fd());
        Ok(())
    }
    fn run(&mut self, _wake: Wake, emit: &mut dyn Emit) -> Result<Flow, PluginError> {
        self.s.bell.answer();
        loop {
            let item = match self.held.take() {
                Some(x) => x,
                None => {
                    let mut q = self.s.q.lock().unwrap();
                    let flushing = q.1;
                    match q.0.len() {
                        0 => return Ok(Flow::Idle),
                        1 if !flushing => return Ok(Flow::Idle),
                        1 => {
                            let a = q.0.pop_front().unwrap();
                            (a, a)
                        }
                        _ => {
                            let a = q.0.pop_front().unwrap();
                            let b = q.0.pop_front().unwrap();
                            (a + b, a)
                        }
                    }
                }
            };
            if emit
                .emit(&mut |ev| {
                    ev.set_u64(0, item.0);
                    ev.set_u64(1, item.1);
                    true
                })
                .is_err()
            {
                self.held = Some(item);
                return Ok(Flow::Idle);
            }
        }
    }
}

fn pair_spec(kind: Kind) -> PluginSpec {
    let outs = vec![
        KeyDef::new("sum", KeyType::U64),
        KeyDef::new("first", KeyType::U64),
    ];
    let ins = vec![KeyDef::new("n", KeyType::U64)];
    PluginSpec {
        name: "PAIR",
        aliases: &[],
        kind,
        summary: "test hop",
        options: vec![],
        inputs: ins.clone(),
        outputs: outs.clone(),
        wildcard: false,
        build: Box::new(move |_| {
            let s = Arc::new(Shared {
                q: Mutex::new((VecDeque::new(), false)),
                bell: Doorbell::new()?,
            });
            Ok(Built::Hop {
                stage: Arc::new(PairStage(s.clone())),
                inputs: Inputs::Keys(ins.clone()),
                source: Box::new(PairSource { s, held: None }),
                outputs: outs.clone(),
            })
        }),
    }
}

/// A filter renaming `sum` to `n`, so a second hop can take the first one's output.
struct Rename;
impl Stage for Rename {
    fn interp(&self, ev: &mut Event<'_>) -> Ret {
        match ev.u64(0) {
            Some(v) => {
                ev.set_u64(0, v);
                Ret::Ok
            }
            None => Ret::Stop,
        }
    }
}

fn registry(events: u64) -> (Registry, Collected, Collected) {
    let mut reg = Registry::new();
    let evs = (1..=events)
        .map(|n| vec![(0, OwnedValue::Uint(n))])
        .collect();
    reg.add(TestSource::spec(
        "SRC",
        vec![KeyDef::new("n", KeyType::U64)],
        evs,
    ));
    reg.add(pair_spec(Kind::Sink));
    reg.add_variant(pair_spec(Kind::Source));
    let (a, seen_a) = collect_sink("OUTA");
    let (b, seen_b) = collect_sink("OUTB");
    reg.add(a);
    reg.add(b);
    reg.add(PluginSpec {
        name: "RENAME",
        aliases: &[],
        kind: Kind::Filter,
        summary: "sum -> n",
        options: vec![],
        inputs: vec![KeyDef::new("sum", KeyType::U64)],
        outputs: vec![KeyDef::new("n", KeyType::U64)],
        wildcard: false,
        build: Box::new(|_| {
            Ok(Built::Stage {
                stage: Arc::new(Rename),
                inputs: Inputs::Keys(vec![KeyDef::new("sum", KeyType::U64)]),
                outputs: vec![KeyDef::new("n", KeyType::U64)],
            })
        }),
    });
    (reg, seen_a, seen_b)
}

fn get(row: &[(String, OwnedValue)], k: &str) -> u64 {
    match row.iter().rev().find(|(n, _)| n == k) {
        Some((_, OwnedValue::Uint(v))) => *v,
        other => panic!("{k}: {other:?} in {row:?}"),
    }
}

const TWO_STACKS: &str = "stack=src:SRC,h:PAIR\nstack=h:PAIR,a:OUTA\nstack=h:PAIR,b:OUTB\n";

fn conf(threads: usize, keyspool: usize, stacks: &str) -> String {
    format!("[global]\nlogfile=\"stdout\"\nthreads={threads}\nkeyspool={keyspool}\n{stacks}")
}

#[test]
fn a_hop_heads_two_stacks_in_order_with_every_thread_count_and_tiny_pools() {
    for (threads, keyspool) in [(0, 64), (2, 64), (2, 2), (0, 1)] {
        let (reg, a, b) = registry(1001);
        let e = Engine::from_str(&reg, "t.conf", &conf(threads, keyspool, TWO_STACKS)).unwrap();
        let rep = e.run().unwrap();
        for seen in [&a, &b] {
            let rows = seen.lock().unwrap();
            // 500 pairs, then the odd last one at the shutdown flush.
            assert_eq!(rows.len(), 501, "threads={threads} keyspool={keyspool}");
            let firsts: Vec<u64> = rows.iter().map(|r| get(r, "first")).collect();
            let want: Vec<u64> = (0..501).map(|i| 2 * i + 1).collect();
            assert_eq!(firsts, want, "order across the hop");
            let total: u64 = rows.iter().map(|r| get(r, "sum")).sum();
            assert_eq!(total, 1001 * 1002 / 2);
        }
        assert_eq!(rep.get("h", "events"), Some(501), "{rep}");
    }
}

#[test]
fn hops_chain_and_drain_upstream_first_at_shutdown() {
    // src -> h1 -> (sum renamed to n) -> h2 -> a. 7 events: h1 emits 4 (the last at
    // its flush), h2 pairs those into 2; both flushes must happen in that order or
    // h2's last pair would miss h1's last record.
    let stacks = "stack=src:SRC,h1:PAIR\nstack=h1:PAIR,r:RENAME,h2:PAIR\nstack=h2:PAIR,a:OUTA\n";
    for threads in [0, 2] {
        let (reg, a, _) = registry(7);
        let e = Engine::from_str(&reg, "t.conf", &conf(threads, 16, stacks)).unwrap();
        let d = e.describe().join("\n");
        assert!(
            d.contains("hop h1:PAIR ends 1 stack(s) and heads 1 stack(s)"),
            "{d}"
        );
        e.run().unwrap();
        let rows = a.lock().unwrap();
        let sums: Vec<u64> = rows.iter().map(|r| get(r, "sum")).collect();
        // h1: 1+2, 3+4, 5+6, 7 -> h2: 3+7, 11+7
        assert_eq!(sums, [10, 18], "threads={threads}");
    }
}

#[test]
fn cycles_are_start_up_errors_naming_the_stacks() {
    let (reg, _, _) = registry(1);
    let stacks = "stack=src:SRC,h1:PAIR\nstack=h1:PAIR,r:RENAME,h2:PAIR\nstack=h2:PAIR,r2:RENAME,h1:PAIR\nstack=h2:PAIR,a:OUTA\n";
    let err = match Engine::from_str(&reg, "t.conf", &conf(0, 8, stacks)) {
        Err(e) => e
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n"),
        Ok(_) => panic!("a cycle was accepted"),
    };
    assert!(err.contains("cycle"), "{err}");
    assert!(err.contains("'h1:PAIR,r:RENAME,h2:PAIR' (line 6)"), "{err}");
    assert!(
        err.contains("'h2:PAIR,r2:RENAME,h1:PAIR' (line 7)"),
        "{err}"
    );
    assert!(!err.contains("h2:PAIR,a:OUTA"), "{err}");
}

#[test]
fn a_hop_cannot_stand_in_the_middle() {
    let (reg, _, _) = registry(1);
    let stacks = "stack=src:SRC,h:PAIR,a:OUTA\n";
    let err = match Engine::from_str(&reg, "t.conf", &conf(0, 8, stacks)) {
        Err(e) => e
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n"),
        Ok(_) => panic!("accepted"),
    };
    assert!(
        err.contains("PAIR is a sink, but stands in the middle"),
        "{err}"
    );
}

#[test]
fn toml_expresses_stacking_too() {
    let (reg, a, b) = registry(4);
    let text = r#"
[global]
logfile = "stdout"
threads = 1
stack = ["src:SRC,h:PAIR", "h:PAIR,a:OUTA", "h:PAIR,b:OUTB"]
"#;
    let e = Engine::from_str(&reg, "t.toml", text).unwrap();
    let d = e.describe();
    assert!(
        d.iter().any(|l| l.contains("h  ->  h:PAIR,a:OUTA")),
        "{d:?}"
    );
    assert!(
        d.iter().any(|l| l.contains("src:SRC,h:PAIR  ->  h")),
        "{d:?}"
    );
    e.run().unwrap();
    assert_eq!(a.lock().unwrap().len(), 2);
    assert_eq!(b.lock().unwrap().len(), 2);
}
