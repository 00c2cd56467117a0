//! Shared pieces of the ulogd-rs benchmarks: a synthetic 5-plugin stack (source,
//! three filters, sink) and a counting global allocator, used by `benches/engine.rs`
//! and by the allocation test in `tests/alloc.rs`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ulogd_core::{
    Built, Emit, Engine, Event, Flow, Inputs, KeyDef, KeyType, Kind, PluginError, PluginSpec,
    Registry, Ret, Source, SourceSetup, Stage, Wake,
};

/// Counts every allocation made through it.
pub struct CountingAlloc;

/// Allocations so far.
pub static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        System.realloc(p, l, n)
    }
}

static SRC: &[KeyDef] = &[
    KeyDef::new("n", KeyType::U64),
    KeyDef::new("oob.prefix", KeyType::String),
    KeyDef::new("raw.pkt", KeyType::Raw),
];

const PKT: [u8; 84] = [0x45; 84];

struct Synth {
    left: u64,
}

impl Source for Synth {
    fn start(&mut self, _s: &mut dyn SourceSetup) -> Result<(), PluginError> {
        Ok(())
    }
    fn run(&mut self, _w: Wake, emit: &mut dyn Emit) -> Result<Flow, PluginError> {
        for _ in 0..256 {
            if self.left == 0 {
                return Ok(Flow::Finished);
            }
            let n = self.left;
            if emit
                .emit(&mut |ev| {
                    ev.set_u64(0, n);
                    ev.set_str(1, "IN-ICMP ");
                    ev.set_bytes(2, &PKT);
                    true
                })
                .is_err()
            {
                return Ok(Flow::Idle);
            }
            self.left -= 1;
        }
        Ok(Flow::Again)
    }
}

/// A filter reading `n` and the packet, writing a number and a string.
struct Work;

impl Stage for Work {
    fn interp(&self, ev: &mut Event<'_>) -> Ret {
        let n = ev.u64(0).unwrap_or(0);
        let len = ev.bytes(1).map_or(0, |b| b.len()) as u64;
        ev.set_u64(0, n.wrapping_mul(31).wrapping_add(len));
        ev.set_with(1, |ev, buf| {
            buf.extend_from_slice(ev.bytes(2).unwrap_or(b""));
            buf.extend_from_slice(b"-x");
        });
        Ret::Ok
    }
}

/// A sink that folds every value into a checksum.
struct Fold(AtomicU64);

impl Stage for Fold {
    fn interp(&self, ev: &mut Event<'_>) -> Ret {
        let mut h = 0u64;
        for (_, v) in ev.wildcard() {
            if let Some(ulogd_core::Value::Uint(x)) = v {
                h = h.wrapping_add(x);
            }
        }
        self.0.fetch_add(h, Ordering::Relaxed);
        Ret::Ok
    }
}

/// A registry with SYNTH (source), WORK (filter) and FOLD (wildcard sink).
pub fn registry(events: u64) -> Registry {
    let mut reg = Registry::new();
    reg.add(PluginSpec {
        name: "SYNTH",
        aliases: &[],
        kind: Kind::Source,
        summary: "bench source",
        options: vec![],
        inputs: vec![],
        outputs: SRC.to_vec(),
        wildcard: false,
        build: Box::new(move |_| {
            Ok(Built::Source {
                source: Box::new(Synth { left: events }),
                outputs: SRC.to_vec(),
            })
        }),
    });
    reg.add(PluginSpec {
        name: "WORK",
        aliases: &[],
        kind: Kind::Filter,
        summary: "bench filter",
        options: vec![],
        inputs: vec![],
        outputs: vec![],
        wildcard: false,
        build: Box::new(|_| {
            Ok(Built::Stage {
                stage: Arc::new(Work),
                inputs: Inputs::Keys(vec![
                    KeyDef::new("n", KeyType::U64),
                    KeyDef::new("raw.pkt", KeyType::Raw),
                    KeyDef::new("oob.prefix", KeyType::String),
                ]),
                outputs: vec![
                    KeyDef::new("n", KeyType::U64),
                    KeyDef::new("raw.pkt", KeyType::Raw),
                ],
            })
        }),
    });
    reg.add(PluginSpec {
        name: "FOLD",
        aliases: &[],
        kind: Kind::Sink,
        summary: "bench sink",
        options: vec![],
        inputs: vec![],
        outputs: vec![],
        wildcard: true,
        build: Box::new(|_| {
            Ok(Built::Stage {
                stage: Arc::new(Fold(AtomicU64::new(0))),
                inputs: Inputs::All,
                outputs: vec![],
            })
        }),
    });
    reg
}

/// Runs `events` through source, three filters and a sink with `threads` workers.
pub fn run_stack(events: u64, threads: usize) {
    let reg = registry(events);
    let engine = Engine::builder(&reg)
        .instance("s", "SYNTH", &[])
        .instance("w1", "WORK", &[])
        .instance("w2", "WORK", &[])
        .instance("w3", "WORK", &[])
        .instance("f", "FOLD", &[])
        .stack(&["s", "w1", "w2", "w3", "f"])
        .threads(threads)
        .keyspool(64)
        .build()
        .expect("bench stack builds");
    let r = engine.run().expect("runs");
    assert_eq!(r.get("f", "ok"), Some(events));
}

// --- FLOW: packets (as BASE would decode them) into the FLOW meter, whose flow
// records head a second stack into FOLD (source stacking across the hop).

static PKT_KEYS: &[KeyDef] = &[
    KeyDef::new("oob.family", KeyType::U8),
    KeyDef::new("ip.saddr", KeyType::IpAddr),
    KeyDef::new("ip.daddr", KeyType::IpAddr),
    KeyDef::new("ip.protocol", KeyType::U8),
    KeyDef::new("udp.sport", KeyType::U16),
    KeyDef::new("udp.dport", KeyType::U16),
    KeyDef::new("ip.totlen", KeyType::U16),
];

struct Packets {
    left: u64,
    n: u64,
    /// Tuples cycle through this many (0: every packet a new tuple).
    tuples: u64,
}

impl Source for Packets {
    fn start(&mut self, _s: &mut dyn SourceSetup) -> Result<(), PluginError> {
        Ok(())
    }
    fn run(&mut self, _w: Wake, emit: &mut dyn Emit) -> Result<Flow, PluginError> {
        for _ in 0..256 {
            if self.left == 0 {
                return Ok(Flow::Finished);
            }
            let t = if self.tuples == 0 {
                self.n
            } else {
                self.n % self.tuples
            };
            if emit
                .emit(&mut |ev| {
                    ev.set_u8(0, 2);
                    ev.set_v4(1, std::net::Ipv4Addr::from(0x0a00_0000 | (t >> 16) as u32));
                    ev.set_v4(2, std::net::Ipv4Addr::new(10, 1, 0, 1));
                    ev.set_u8(3, 17);
                    ev.set_u16(4, t as u16);
                    ev.set_u16(5, 53);
                    ev.set_u16(6, 84);
                    true
                })
                .is_err()
            {
                return Ok(Flow::Idle);
            }
            self.left -= 1;
            self.n += 1;
        }
        Ok(Flow::Again)
    }
}

/// Runs `events` packets through `PKTS -> FLOW` and the flow records through
/// `FLOW -> FOLD` with `threads` workers. `tuples` distinct flows cycle (0: every
/// packet is a new flow, so with `max_flows` below `events` each packet evicts one).
/// Returns (records FOLD saw, packets FLOW could not count: its table and its queue
/// of ended records were both full).
pub fn run_flow_stack(events: u64, threads: usize, tuples: u64, max_flows: usize) -> (u64, u64) {
    let mut reg = registry(0);
    reg.add(PluginSpec {
        name: "PKTS",
        aliases: &[],
        kind: Kind::Source,
        summary: "bench packets",
        options: vec![],
        inputs: vec![],
        outputs: PKT_KEYS.to_vec(),
        wildcard: false,
        build: Box::new(move |_| {
            Ok(Built::Source {
                source: Box::new(Packets {
                    left: events,
                    n: 0,
                    tuples,
                }),
                outputs: PKT_KEYS.to_vec(),
            })
        }),
    });
    ulogd_netfilter::flow::register(&mut reg);
    let mf = max_flows.to_string();
    let engine = Engine::builder(&reg)
        .instance("p", "PKTS", &[])
        .instance("m", "FLOW", &[("max_flows", &mf)])
        .instance("f", "FOLD", &[])
        .stack(&["p", "m"])
        .stack(&["m", "f"])
        .threads(threads)
        .keyspool(64)
        .build()
        .expect("flow bench stacks build");
    let r = engine.run().expect("runs");
    (
        r.get("f", "ok").unwrap_or(0),
        r.get("m", "packets_dropped").unwrap_or(0),
    )
}
