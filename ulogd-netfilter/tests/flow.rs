//! FLOW through the real engine: records leave on the expiry timer while no packet
//! arrives (`clock=system`), and carry NFCT's keys plus flowEndReason.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ulogd_core::testing::{collect_sink, OwnedValue};
use ulogd_core::{
    Built, Emit, Engine, Flow, KeyDef, KeyType, Kind, PluginError, PluginSpec, Registry, Source,
    SourceSetup, Wake,
};

static KEYS: &[KeyDef] = &[
    KeyDef::new("oob.family", KeyType::U8),
    KeyDef::new("ip.saddr", KeyType::IpAddr),
    KeyDef::new("ip.daddr", KeyType::IpAddr),
    KeyDef::new("ip.protocol", KeyType::U8),
    KeyDef::new("udp.sport", KeyType::U16),
    KeyDef::new("udp.dport", KeyType::U16),
    KeyDef::new("ip.totlen", KeyType::U16),
];

/// Emits three UDP packets of one flow, then stays silent without finishing.
struct ThreeThenQuiet {
    sent: bool,
}

impl Source for ThreeThenQuiet {
    fn start(&mut self, _s: &mut dyn SourceSetup) -> Result<(), PluginError> {
        Ok(())
    }
    fn run(&mut self, _w: Wake, emit: &mut dyn Emit) -> Result<Flow, PluginError> {
        if !self.sent {
            for _ in 0..3 {
                emit.emit(&mut |ev| {
                    ev.set_u8(0, 2);
                    ev.set_addr(1, "192.0.2.1".parse().unwrap());
                    ev.set_addr(2, "192.0.2.2".parse().unwrap());
                    ev.set_u8(3, 17);
                    ev.set_u16(4, 40000);
                    ev.set_u16(5, 53);
                    ev.set_u16(6, 60);
                    true
                })
                .map_err(|e| PluginError::new(e.to_string()))?;
            }
            self.sent = true;
        }
        Ok(Flow::Idle)
    }
}

fn get<'a>(row: &'a [(String, OwnedValue)], k: &str) -> Option<&'a OwnedValue> {
    row.iter().find(|(n, _)| n == k).map(|(_, v)| v)
}

#[test]
fn an_idle_flow_leaves_on_the_timer_while_no_packet_arrives() {
    for threads in [0, 2] {
        let mut reg = Registry::new();
        reg.add(PluginSpec {
            name: "QUIET",
            aliases: &[],
            kind: Kind::Source,
            summary: "test",
            options: vec![],
            inputs: vec![],
            outputs: KEYS.to_vec(),
            wildcard: false,
            build: Box::new(|_| {
                Ok(Built::Source {
                    source: Box::new(ThreeThenQuiet { sent: false }),
                    outputs: KEYS.to_vec(),
                })
            }),
        });
        ulogd_netfilter::flow::register(&mut reg);
        let (spec, seen) = collect_sink("COLLECT");
        reg.add(spec);
        let engine = Engine::builder(&reg)
            .instance("q", "QUIET", &[])
            .instance(
                "m",
                "FLOW",
                &[("udp_timeout", "1"), ("expiry_interval", "50")],
            )
            .instance("out", "COLLECT", &[])
            .stack(&["q", "m"])
            .stack(&["m", "out"])
            .threads(threads)
            .build()
            .unwrap();
        let handle = engine.handle();
        let t0 = Instant::now();
        let runner = std::thread::spawn(move || engine.run().unwrap());
        while seen.lock().unwrap().is_empty() && t0.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let waited = t0.elapsed();
        handle.stop();
        let rep = runner.join().unwrap();
        let rows = Arc::clone(&seen);
        let rows = rows.lock().unwrap();
        assert_eq!(rows.len(), 1, "threads={threads}: {rows:?}\n{rep}");
        let r = &rows[0];
        // Left by the idle timeout (1), not by the shutdown flush (4).
        assert_eq!(
            get(r, "flow.end.reason"),
            Some(&OwnedValue::Uint(1)),
            "{r:?}"
        );
        assert!(waited >= Duration::from_millis(900), "{waited:?}");
        assert_eq!(get(r, "orig.raw.pktcount"), Some(&OwnedValue::Uint(3)));
        assert_eq!(get(r, "orig.raw.pktlen"), Some(&OwnedValue::Uint(180)));
        assert_eq!(get(r, "orig.l4.dport"), Some(&OwnedValue::Uint(53)));
        let src: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(get(r, "orig.ip.saddr"), Some(&OwnedValue::Addr(src)));
        assert_eq!(rep.get("m", "ended_idle"), Some(1), "{rep}");
    }
}

#[test]
fn flow_keys_are_nfcts_own() {
    use ulogd_netfilter::sources::nfct_keys::NFCT_KEYS;
    let outs = ulogd_netfilter::flow::plugin::outputs();
    let mut shared = 0;
    for k in &outs {
        if let Some(c) = NFCT_KEYS.iter().find(|c| c.name == k.name) {
            assert_eq!((c.ty, c.ipfix), (k.ty, k.ipfix), "{}", k.name);
            shared += 1;
        }
    }
    assert_eq!(shared, 19);
    let reason = outs.iter().find(|k| k.name == "flow.end.reason").unwrap();
    assert_eq!(reason.ipfix.unwrap().id, 136);
    let flags = outs.iter().find(|k| k.name == "flow.tcp.flags").unwrap();
    assert_eq!(flags.ipfix.unwrap().id, 6);
}

#[test]
fn sampling_scales_counters_and_flow_key_fields_split_flows() {
    use ulogd_core::testing::TestSource;
    let mut keys = KEYS.to_vec();
    keys.push(KeyDef::new("oob.mark", KeyType::U32));
    let ev = |mark: u64| {
        vec![
            (0, OwnedValue::Uint(2)),
            (1, OwnedValue::Addr("192.0.2.1".parse().unwrap())),
            (2, OwnedValue::Addr("192.0.2.2".parse().unwrap())),
            (3, OwnedValue::Uint(17)),
            (4, OwnedValue::Uint(40000)),
            (5, OwnedValue::Uint(53)),
            (6, OwnedValue::Uint(60)),
            (7, OwnedValue::Uint(mark)),
        ]
    };
    for (opts, want) in [
        // Without the mark in the key: one flow of 3 packets, times 10.
        (vec![("sampling_rate", "10")], vec![(30, 1800, None)]),
        // With it: two flows, and the mark travels in the record.
        (
            vec![("flow_key", "mark")],
            vec![(1, 60, Some(8)), (2, 120, Some(7))],
        ),
    ] {
        let mut reg = Registry::new();
        reg.add(TestSource::spec(
            "SRC",
            keys.clone(),
            vec![ev(7), ev(8), ev(7)],
        ));
        ulogd_netfilter::flow::register(&mut reg);
        let (spec, seen) = collect_sink("COLLECT");
        reg.add(spec);
        let engine = Engine::builder(&reg)
            .instance("s", "SRC", &[])
            .instance("m", "FLOW", &opts)
            .instance("out", "COLLECT", &[])
            .stack(&["s", "m"])
            .stack(&["m", "out"])
            .build()
            .unwrap();
        engine.run().unwrap();
        let rows = seen.lock().unwrap();
        let mut got: Vec<(u64, u64, Option<u64>)> = rows
            .iter()
            .map(|r| {
                let u = |k| match get(r, k) {
                    Some(OwnedValue::Uint(v)) => Some(*v),
                    _ => None,
                };
                // Flushed at shutdown: reason 4.
                assert_eq!(u("flow.end.reason"), Some(4));
                (
                    u("orig.raw.pktcount").unwrap(),
                    u("orig.raw.pktlen").unwrap(),
                    u("oob.mark"),
                )
            })
            .collect();
        got.sort();
        assert_eq!(got, want, "{opts:?}");
    }
}
