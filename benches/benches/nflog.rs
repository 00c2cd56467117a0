//! The NFLOG hot path piece by piece, on the real packets of the golden capture:
//! the zero-copy netlink walker, BASE's decoder, and a whole stack
//! (REPLAY, BASE, IFINDEX, IP2STR, JSON to /dev/null) through the engine.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ulogd_netfilter::packet;
use ulogd_netfilter::wire::{NflogRepr, NlmsgIter, NlmsgView, PcapReader};

const CAPTURE: &[u8] =
    include_bytes!("../../ulogd-netfilter/tests/fixtures/golden-basic/nflog.pcap");

fn reprs() -> Vec<NflogRepr<'static>> {
    PcapReader::new(CAPTURE)
        .expect("pcap")
        .filter_map(|r| r.ok())
        .filter_map(|r| NflogRepr::parse_pcap_record(r.data).ok())
        .collect()
}

fn walker(c: &mut Criterion) {
    // One recv() buffer holding every golden packet as a netlink message.
    let mut buf = Vec::new();
    for (i, r) in reprs().iter().enumerate() {
        r.emit_nlmsg(i as u32, &mut buf).expect("emit");
    }
    let n = NlmsgIter::new(&buf).count() as u64;
    let mut g = c.benchmark_group("nflog-walker");
    g.throughput(Throughput::Elements(n));
    g.bench_function("parse every message of a recv buffer", |b| {
        b.iter(|| {
            let mut marks = 0u64;
            for m in NlmsgIter::new(std::hint::black_box(&buf)) {
                let m: NlmsgView<&[u8]> = m.expect("valid");
                let r = NflogRepr::parse_nlmsg(&m).expect("valid");
                marks += r.mark.unwrap_or(0) as u64 + r.payload.map_or(0, |p| p.len() as u64);
            }
            marks
        })
    });
    g.finish();
}

fn base(c: &mut Criterion) {
    let pkts: Vec<(u8, u16, &[u8])> = reprs()
        .iter()
        .filter_map(|r| Some((r.family, r.packet_hdr?.hw_protocol, r.payload?)))
        .collect();
    let mut g = c.benchmark_group("base-decoder");
    g.throughput(Throughput::Elements(pkts.len() as u64));
    g.bench_function("decode the golden packets", |b| {
        b.iter(|| {
            let mut n = 0u32;
            for &(f, p, pkt) in &pkts {
                n += packet::decode(f, p, std::hint::black_box(pkt))
                    .ip_ttl
                    .unwrap_or(0) as u32;
            }
            n
        })
    });
    g.finish();
}

fn stack(c: &mut Criterion) {
    // The golden capture repeated 500 times: 10,000 events per run.
    let (hdr, recs) = CAPTURE.split_at(24);
    let mut file = hdr.to_vec();
    for _ in 0..500 {
        file.extend_from_slice(recs);
    }
    let path = std::env::temp_dir().join(format!("ulogd-bench-{}.pcap", std::process::id()));
    std::fs::write(&path, &file).expect("write capture");
    let mut reg = ulogd_core::Registry::new();
    ulogd_netfilter::register(&mut reg);
    ulogd_export::register(&mut reg);
    let mut g = c.benchmark_group("replay-base-ifindex-ip2str-json");
    g.throughput(Throughput::Elements(10_000));
    g.sample_size(20);
    for threads in [0usize, 2] {
        g.bench_function(format!("threads={threads}"), |b| {
            b.iter(|| {
                let engine = ulogd_core::Engine::builder(&reg)
                    .instance(
                        "r",
                        "REPLAY",
                        &[("file", path.to_str().expect("utf-8 path"))],
                    )
                    .instance("b", "BASE", &[])
                    .instance("i", "IFINDEX", &[])
                    .instance("s", "IP2STR", &[])
                    .instance("j", "JSON", &[("file", "/dev/null")])
                    .stack(&["r", "b", "i", "s", "j"])
                    .threads(threads)
                    .build()
                    .expect("stack builds");
                engine.run().expect("runs")
            })
        });
    }
    g.finish();
    let _ = std::fs::remove_file(&path);
}

criterion_group!(benches, walker, base, stack);
criterion_main!(benches);
