//! The FLOW meter: the table alone (packets of 64 live flows; a flood of new tuples
//! into a full table, each evicting one) and the whole PKTS -> FLOW -> FOLD hop
//! through the engine.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ulogd_netfilter::flow::table::{FlowKey, FlowTable, PacketInfo, Timeouts};

fn packet(n: u32) -> PacketInfo {
    let mut key = FlowKey {
        family: 2,
        proto: 17,
        sport: n as u16,
        dport: 53,
        ..FlowKey::default()
    };
    key.saddr[..4].copy_from_slice(&(0x0a00_0000 | (n >> 16)).to_be_bytes());
    key.daddr[..4].copy_from_slice(&[10, 1, 0, 1]);
    PacketInfo {
        key,
        bytes: 84,
        tcp_flags: 0,
        ts: n as u64,
    }
}

fn table(c: &mut Criterion) {
    const N: u32 = 10_000;
    let mut g = c.benchmark_group("flow-table");
    g.throughput(Throughput::Elements(N as u64));
    let mut t = FlowTable::new(65536, Timeouts::default());
    let live: Vec<PacketInfo> = (0..N).map(|i| packet(i % 64)).collect();
    g.bench_function("packets of 64 live flows", |b| {
        b.iter(|| {
            for p in &live {
                t.handle_packet(std::hint::black_box(p), p.ts);
            }
        })
    });
    let mut full = FlowTable::new(1024, Timeouts::default());
    let mut next = 0u32;
    g.bench_function("new tuples into a full table (evict + record)", |b| {
        b.iter(|| {
            let mut records = 0u64;
            for _ in 0..N {
                next = next.wrapping_add(1);
                full.handle_packet(&packet(next), next as u64);
                while full.poll_expired(next as u64).is_some() {
                    records += 1;
                }
            }
            records
        })
    });
    g.finish();
}

fn hop(c: &mut Criterion) {
    let mut g = c.benchmark_group("flow-engine");
    g.sample_size(10);
    g.throughput(Throughput::Elements(100_000));
    g.bench_function("PKTS -> FLOW -> FOLD, 64 flows, threads=0", |b| {
        b.iter(|| ulogd_benches::run_flow_stack(100_000, 0, 64, 1024))
    });
    g.finish();
}

criterion_group!(benches, table, hop);
criterion_main!(benches);
