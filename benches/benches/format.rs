//! What the text formatters cost, stage by stage, on the real packets of the golden
//! capture: the same replayed burst through `REPLAY,BASE,NULL` (the floor of these
//! stacks) and through the same stack with IP2STR, PRINTPKT, PRINTPKT+LOGEMU and
//! IP2STR+JSON added. A stage's cost is its row minus the floor.
//!
//! Only public API, so the same file builds against an older tree: that is how the
//! before/after figures of a formatting change are taken (both trees benched in
//! turn on the same machine; see `benches/README.md`).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const CAPTURE: &[u8] =
    include_bytes!("../../ulogd-netfilter/tests/fixtures/golden-basic/nflog.pcap");

/// Repeats of the capture's records per run.
const REPEAT: usize = 500;

fn capture_file() -> (std::path::PathBuf, u64) {
    let (hdr, recs) = CAPTURE.split_at(24);
    let mut file = hdr.to_vec();
    for _ in 0..REPEAT {
        file.extend_from_slice(recs);
    }
    let n = ulogd_netfilter::wire::PcapReader::new(CAPTURE)
        .expect("pcap")
        .count() as u64
        * REPEAT as u64;
    let path = std::env::temp_dir().join(format!("ulogd-bench-format-{}.pcap", std::process::id()));
    std::fs::write(&path, &file).expect("write capture");
    (path, n)
}

fn format(c: &mut Criterion) {
    let (path, n) = capture_file();
    let file = path.to_str().expect("utf-8 path").to_string();
    let mut reg = ulogd_core::Registry::new();
    ulogd_netfilter::register(&mut reg);
    ulogd_export::register(&mut reg);
    // (name, stages after REPLAY,BASE; each stage is (plugin, options)).
    type Stages = &'static [(&'static str, &'static [(&'static str, &'static str)])];
    let cases: &[(&str, Stages)] = &[
        ("floor: REPLAY,BASE,NULL", &[("NULL", &[])]),
        ("IP2STR", &[("IP2STR", &[]), ("NULL", &[])]),
        ("PRINTPKT", &[("PRINTPKT", &[]), ("NULL", &[])]),
        (
            "PRINTPKT,LOGEMU",
            &[("PRINTPKT", &[]), ("LOGEMU", &[("file", "/dev/null")])],
        ),
        (
            "IP2STR,JSON",
            &[("IP2STR", &[]), ("JSON", &[("file", "/dev/null")])],
        ),
    ];
    let mut g = c.benchmark_group("format");
    g.throughput(Throughput::Elements(n));
    g.sample_size(20);
    for (name, stages) in cases {
        g.bench_function(*name, |b| {
            b.iter(|| {
                let mut builder = ulogd_core::Engine::builder(&reg)
                    .instance("r", "REPLAY", &[("file", file.as_str())])
                    .instance("b", "BASE", &[]);
                let ids: Vec<String> = (0..stages.len()).map(|i| format!("s{i}")).collect();
                for ((plugin, opts), id) in stages.iter().zip(&ids) {
                    builder = builder.instance(id, plugin, opts);
                }
                let mut stack = vec!["r", "b"];
                stack.extend(ids.iter().map(String::as_str));
                let engine = builder.stack(&stack).build().expect("stack builds");
                engine.run().expect("runs")
            })
        });
    }
    g.finish();
    let _ = std::fs::remove_file(&path);
}

criterion_group!(benches, format);
criterion_main!(benches);
