//! µs per event through REPLAY,BASE,PYTHON(no-op),JSON against REPLAY,BASE,JSON, with
//! threads=0 and threads=2. Run with `bash benches/python-stage.sh` (or `cargo bench
//! -p ulogd-python --features python --bench python_stage`); `EVENTS=n` sets the size.
//!
//! The golden capture (20 packets) is repeated into a pcap of EVENTS records in a
//! temporary directory; JSON writes to /dev/null; each case runs 3 times, best kept.

use std::time::Instant;

use ulogd_core::{Engine, Registry};

const PCAP: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../ulogd-netfilter/tests/fixtures/golden-basic/nflog.pcap"
);

const NOOP: &str = r#"
def configure(ikeys, okeys):
    return 0
def start(ikset):
    return 0
def interp(ikset, okset):
    return 0
def stop():
    return 0
def signal(signo):
    return 0
"#;

/// Repeats the records of a classic pcap until `n` records.
fn big_pcap(n: usize) -> Vec<u8> {
    let src = std::fs::read(PCAP).expect("golden capture");
    let le = src[..4] == [0xd4, 0xc3, 0xb2, 0xa1];
    let rd = |b: &[u8]| {
        let a = [b[0], b[1], b[2], b[3]];
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    let mut recs = Vec::new();
    let mut off = 24;
    while off + 16 <= src.len() {
        let len = rd(&src[off + 8..]) as usize;
        recs.push(&src[off..off + 16 + len]);
        off += 16 + len;
    }
    let mut out = src[..24].to_vec();
    for i in 0..n {
        out.extend_from_slice(recs[i % recs.len()]);
    }
    out
}

fn main() {
    let n: usize = std::env::var("EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let dir = std::env::temp_dir().join(format!("ulogd-py-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join("big.pcap");
    std::fs::write(&pcap, big_pcap(n)).unwrap();
    std::fs::write(dir.join("noop.py"), NOOP).unwrap();

    let mut reg = Registry::new();
    ulogd_netfilter::register(&mut reg);
    ulogd_export::register(&mut reg);
    ulogd_python::register(&mut reg);

    println!("{n} events, best of 3 runs; µs per event (whole stack)");
    println!("{:<40} {:>10} {:>10}", "stack", "threads=0", "threads=2");
    let mut results = Vec::new();
    for (label, stack) in [
        ("REPLAY,BASE,JSON", "r:REPLAY,b:BASE,j:JSON"),
        (
            "REPLAY,BASE,PYTHON(no-op),JSON",
            "r:REPLAY,b:BASE,p:PYTHON,j:JSON",
        ),
    ] {
        let mut row = Vec::new();
        for threads in [0usize, 2] {
            let mut best = f64::MAX;
            for _ in 0..3 {
                let text = format!(
                    "[global]\nlogfile=\"stdout\"\nloglevel=7\nthreads={threads}\nstack={stack}\n\
                     [r]\nfile=\"{}\"\n[p]\nmodule=\"noop\"\npath_append=\"{}\"\n\
                     [j]\nfile=\"/dev/null\"\n",
                    pcap.display(),
                    dir.display()
                );
                let engine = Engine::from_str(&reg, "bench.conf", &text).unwrap_or_else(|e| {
                    panic!(
                        "{}",
                        e.iter()
                            .map(|x| x.to_string())
                            .collect::<Vec<_>>()
                            .join("\n")
                    )
                });
                let t0 = Instant::now();
                let report = engine.run().expect("run");
                let us = t0.elapsed().as_secs_f64() * 1e6 / n as f64;
                assert_eq!(report.get("r", "events"), Some(n as u64), "{report}");
                best = best.min(us);
            }
            row.push(best);
        }
        println!("{label:<40} {:>10.3} {:>10.3}", row[0], row[1]);
        results.push(row);
    }
    println!(
        "{:<40} {:>10.3} {:>10.3}",
        "PYTHON(no-op) adds",
        results[1][0] - results[0][0],
        results[1][1] - results[0][1]
    );
    let _ = std::fs::remove_dir_all(&dir);
}
