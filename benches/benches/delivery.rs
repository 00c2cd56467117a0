//! Events per second and CPU per event into KAFKA (librdkafka's mock cluster, in
//! process) and NATS (a real nats-server with JetStream, started here), with and
//! without the disk spool, as ratios to the JSON file sink. Each run sends a burst
//! through the engine and ends when the sink's thread has every confirmation (the
//! sinks wait for them at stop), so the time covers delivery, not just hand-over.
//!
//! `cargo bench -p ulogd-benches --bench delivery` (N=200000 by default; set
//! `DL_BENCH_N`). Plain output, one table: the ratios are what to quote.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::mocking::MockCluster;
use ulogd_core::testing::{OwnedValue, TestEvent, TestSource};
use ulogd_core::{Engine, KeyDef, KeyType, Registry};

fn cpu(who: libc::c_int) -> f64 {
    // SAFETY: getrusage fills the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(who, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn events(n: u64) -> (Vec<KeyDef>, Vec<TestEvent>) {
    let keys = vec![
        KeyDef::new("oob.time.sec", KeyType::U32),
        KeyDef::new("oob.prefix", KeyType::String),
        KeyDef::new("oob.in", KeyType::String),
        KeyDef::new("ip.saddr.str", KeyType::String),
        KeyDef::new("ip.daddr.str", KeyType::String),
        KeyDef::new("ip.protocol", KeyType::U8),
        KeyDef::new("ip.totlen", KeyType::U16),
        KeyDef::new("ip.ttl", KeyType::U8),
        KeyDef::new("src_port", KeyType::U16),
        KeyDef::new("dest_port", KeyType::U16),
    ];
    let ev = (0..n)
        .map(|i| {
            vec![
                (0, OwnedValue::Uint(1_795_559_069 + i / 1000)),
                (1, OwnedValue::Bytes(b"IN-DROP".to_vec())),
                (2, OwnedValue::Bytes(b"eth0".to_vec())),
                (
                    3,
                    OwnedValue::Bytes(format!("10.0.{}.{}", i % 200, i % 250).into_bytes()),
                ),
                (4, OwnedValue::Bytes(b"192.0.2.10".to_vec())),
                (5, OwnedValue::Uint(17)),
                (6, OwnedValue::Uint(84)),
                (7, OwnedValue::Uint(64)),
                (8, OwnedValue::Uint(1024 + i % 30000)),
                (9, OwnedValue::Uint(53)),
            ]
        })
        .collect();
    (keys, ev)
}

struct Row {
    name: String,
    eps: f64,
    cpu_us: f64,
    delivered: u64,
}

fn run(name: &str, n: u64, sink: &str, section: &str, children: bool) -> Row {
    let (keys, ev) = events(n);
    let mut reg = Registry::new();
    ulogd_export::register(&mut reg);
    reg.add(TestSource::spec("BURST", keys, ev));
    let text = format!(
        "[global]\nlogfile=\"stdout\"\nloglevel=7\nstack=src:BURST,out:{sink}\n[out]\n{section}\n"
    );
    let engine = Engine::from_str(&reg, "bench.conf", &text).expect("config");
    let (c0, k0, t0) = (
        cpu(libc::RUSAGE_SELF),
        cpu(libc::RUSAGE_CHILDREN),
        Instant::now(),
    );
    let report = engine.run().expect("run");
    let wall = t0.elapsed().as_secs_f64();
    let mut used = cpu(libc::RUSAGE_SELF) - c0;
    if children {
        used += cpu(libc::RUSAGE_CHILDREN) - k0;
    }
    let delivered = report
        .get("out", "delivered")
        .or_else(|| report.get("out", "lines"))
        .unwrap_or(0);
    Row {
        name: name.to_string(),
        eps: n as f64 / wall,
        cpu_us: used * 1e6 / n as f64,
        delivered,
    }
}

fn nats_server(store: &std::path::Path) -> Option<(std::process::Child, u16)> {
    let bin = ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let c = Command::new(bin)
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(store)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if t.elapsed() > Duration::from_secs(10) {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Some((c, port))
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let n: u64 = std::env::var("DL_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let tmp = std::env::temp_dir().join(format!("dl-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let t = tmp.display();
    let mut rows = Vec::new();
    rows.push(run(
        "JSON file (yardstick)",
        n,
        "JSON",
        &format!("file=\"{t}/out.json\""),
        false,
    ));

    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic("ulogd", 1, 1).unwrap();
    let b = cluster.bootstrap_servers();
    rows.push(run(
        "KAFKA, mock cluster",
        n,
        "KAFKA",
        &format!("brokers=\"{b}\"\nstop_timeout=120"),
        false,
    ));
    rows.push(run(
        "KAFKA, mock cluster, spool",
        n,
        "KAFKA",
        &format!("brokers=\"{b}\"\nstop_timeout=120\nspool=1\nspool_dir=\"{t}/kspool\""),
        false,
    ));
    drop(cluster);

    for spool in [false, true] {
        let store = tmp.join(format!("nstore{spool}"));
        std::fs::create_dir_all(&store).unwrap();
        let Some((mut child, port)) = nats_server(&store) else {
            println!("NATS: nats-server not installed, skipped");
            break;
        };
        let sp = if spool {
            format!("\nspool=1\nspool_dir=\"{t}/nspool\"")
        } else {
            String::new()
        };
        let mut r = run(
            if spool {
                "NATS JetStream, spool"
            } else {
                "NATS JetStream"
            },
            n,
            "NATS",
            &format!("servers=\"nats://127.0.0.1:{port}\"\nstream=\"BENCH\"\nstop_timeout=120{sp}"),
            false,
        );
        // The server's CPU, reaped now, belongs to these events too.
        let k0 = cpu(libc::RUSAGE_CHILDREN);
        let _ = child.kill();
        let _ = child.wait();
        let server = (cpu(libc::RUSAGE_CHILDREN) - k0) * 1e6 / n as f64;
        r.name = format!("{} (+{server:.1} µs/event in nats-server)", r.name);
        rows.push(r);
    }
    let _ = std::fs::remove_dir_all(&tmp);

    let base = (rows[0].eps, rows[0].cpu_us);
    println!("\n{n} events, one sink, threads=0");
    println!("| sink | delivered | events/s | CPU per event | events/s vs JSON | CPU vs JSON |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for r in &rows {
        println!(
            "| {} | {} | {:.0} k | {:.2} µs | {:.2}× | {:.1}× |",
            r.name,
            r.delivered,
            r.eps / 1e3,
            r.cpu_us,
            r.eps / base.0,
            r.cpu_us / base.1
        );
    }
}
