//! Records per second encoded by the IPFIX and NFLOW9 outputs: conntrack-like flows
//! (IPv4 and IPv6, a NATed one) from a test source through the real engine into
//! the exporter, sent over UDP to a loopback socket that a thread drains. Prints the
//! allocations per record in steady state too (the hot path should make none).

use std::net::{IpAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ulogd_benches::{CountingAlloc, ALLOCATIONS};
use ulogd_core::testing::{OwnedValue, TestEvent, TestSource};
use ulogd_core::{KeyDef, Registry};

#[global_allocator]
static A: CountingAlloc = CountingAlloc;

/// The NFCT-like key list of the test source: the catalogue's conntrack flow keys
/// (the same declarations NFCT and IPFIXCOL use).
fn keys() -> Vec<KeyDef> {
    use ulogd_core::catalogue::{ct, flow};
    vec![
        flow::ORIG_IP_SADDR.key_def(),
        flow::ORIG_IP_DADDR.key_def(),
        flow::ORIG_IP_PROTOCOL.key_def(),
        flow::ORIG_L4_SPORT.key_def(),
        flow::ORIG_L4_DPORT.key_def(),
        flow::ORIG_RAW_PKTLEN.key_def(),
        flow::ORIG_RAW_PKTCOUNT.key_def(),
        flow::REPLY_IP_SADDR.key_def(),
        flow::REPLY_IP_DADDR.key_def(),
        flow::REPLY_L4_SPORT.key_def(),
        flow::REPLY_L4_DPORT.key_def(),
        flow::REPLY_RAW_PKTLEN.key_def(),
        flow::REPLY_RAW_PKTCOUNT.key_def(),
        flow::START_SEC.key_def(),
        flow::START_USEC.key_def(),
        flow::END_SEC.key_def(),
        flow::END_USEC.key_def(),
        ct::MARK.key_def(),
        ct::ID.key_def(),
        ct::EVENT.key_def(),
    ]
}

fn events(n: u64) -> Vec<TestEvent> {
    use OwnedValue::*;
    (0..n)
        .map(|i| {
            let (s, d, rd): (IpAddr, IpAddr, IpAddr) = match i % 3 {
                0 => (
                    [10, 0, (i >> 8) as u8, i as u8].into(),
                    [10, 9, 0, 1].into(),
                    [10, 0, (i >> 8) as u8, i as u8].into(),
                ),
                1 => (
                    [192, 168, 0, i as u8].into(),
                    [8, 8, 8, 8].into(),
                    [203, 0, 113, 1].into(),
                ),
                _ => (
                    "2001:db8::1".parse().unwrap(),
                    "2001:db8::2".parse().unwrap(),
                    "2001:db8::1".parse().unwrap(),
                ),
            };
            vec![
                (0, Addr(s)),
                (1, Addr(d)),
                (2, Uint(6)),
                (3, Uint(1024 + i % 60000)),
                (4, Uint(443)),
                (5, Uint(1500 * i)),
                (6, Uint(i)),
                (7, Addr(d)),
                (8, Addr(rd)),
                (9, Uint(443)),
                (10, Uint(1024 + i % 60000)),
                (11, Uint(900 * i)),
                (12, Uint(i)),
                (13, Uint(1_700_000_000)),
                (14, Uint(1234)),
                (15, Uint(1_700_000_009)),
                (16, Uint(5678)),
                (17, Uint(1)),
                (18, Uint(i)),
                (19, Uint(4)),
            ]
        })
        .collect()
}

fn registry(n: u64) -> Registry {
    let mut reg = Registry::new();
    ulogd_export::register(&mut reg);
    reg.add(TestSource::spec("FLOWS", keys(), events(n)));
    reg
}

fn run(reg: &Registry, plugin: &str, port: u16, n: u64) {
    let r = ulogd_core::testing::run(
        reg,
        &format!("src:FLOWS,out:{plugin}"),
        &format!("[out]\ndest=\"udp://127.0.0.1:{port}\"\n"),
        0,
    )
    .expect("bench stack runs");
    assert!(r.get("out", "records").unwrap_or(0) >= n, "{r}");
}

fn ipfix(c: &mut Criterion) {
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = sink.local_addr().unwrap().port();
    let stop = Arc::new(AtomicBool::new(false));
    let st = stop.clone();
    sink.set_read_timeout(Some(std::time::Duration::from_millis(100)))
        .unwrap();
    let drain = std::thread::spawn(move || {
        let mut b = vec![0u8; 65536];
        while !st.load(Ordering::Relaxed) {
            let _ = sink.recv(&mut b);
        }
    });
    const N: u64 = 20_000;
    for plugin in ["IPFIX", "NFLOW9"] {
        // The event lists are built before counting.
        let (r1, r2) = (registry(1_000), registry(51_000));
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        run(&r1, plugin, port, 1_000);
        let small = ALLOCATIONS.load(Ordering::Relaxed) - before;
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        run(&r2, plugin, port, 51_000);
        let big = ALLOCATIONS.load(Ordering::Relaxed) - before;
        println!(
            "{plugin}: {:.4} allocations per flow in steady state",
            (big as f64 - small as f64) / 50_000.0
        );
        let reg = registry(N);
        let mut g = c.benchmark_group(format!("{}-udp-export", plugin.to_lowercase()));
        g.throughput(Throughput::Elements(N));
        g.sample_size(10);
        g.bench_function("flows", |b| b.iter(|| run(&reg, plugin, port, N)));
        g.finish();
    }
    stop.store(true, Ordering::Relaxed);
    let _ = drain.join();
}

criterion_group!(benches, ipfix);
criterion_main!(benches);
