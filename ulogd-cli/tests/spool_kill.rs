//! The spool end to end, with the real daemon and a real nats-server (JetStream):
//! `ulogd` replays a capture in a loop into NATS with `spool=1` and is killed with
//! SIGKILL mid-burst; a damaged tail is added to its newest spool segment; the
//! restarted daemon skips and counts the damage, replays what the server never
//! confirmed, and afterwards the stream holds every record the spool had accepted
//! exactly once (the server drops re-sent ones by their `Nats-Msg-Id`).
#![cfg(feature = "nats")]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use futures_util::StreamExt;
use ulogd_export::spool::{Spool, SpoolConfig};

fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let t = Instant::now();
    while t.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

struct Tmp(PathBuf);
impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child killed (by its pid) when dropped.
struct Proc(Option<Child>);
impl Proc {
    fn kill9(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill(); // SIGKILL
            let _ = c.wait();
        }
    }
}
impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn nats_server(port: u16, store: &Path) -> Option<Proc> {
    let bin = ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    let Some(bin) = bin else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("nats-server is not installed (.ci/install-deps installs it)");
        }
        eprintln!("SKIP: nats-server is not installed (apt-get install nats-server)");
        return None;
    };
    let c = Command::new(bin)
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(store)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nats-server starts");
    assert!(wait_for(Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    }));
    Some(Proc(Some(c)))
}

/// (messages in the stream, the sequence numbers in their message ids).
fn stream_seqs(port: u16) -> (u64, Vec<u64>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = async_nats::connect(format!("nats://127.0.0.1:{port}"))
            .await
            .unwrap();
        let js = jetstream::new(c);
        let mut st = js.get_stream("ULOGD").await.expect("stream ULOGD");
        let count = st.info().await.unwrap().state.messages;
        let cons = st
            .create_consumer(jetstream::consumer::pull::Config {
                ack_policy: jetstream::consumer::AckPolicy::None,
                ..Default::default()
            })
            .await
            .unwrap();
        let mut seqs = Vec::new();
        while (seqs.len() as u64) < count {
            let mut b = cons
                .fetch()
                .max_messages(1000)
                .expires(Duration::from_secs(2))
                .messages()
                .await
                .unwrap();
            let before = seqs.len();
            while let Some(m) = b.next().await {
                let m = m.unwrap();
                let v: serde_json::Value = serde_json::from_slice(&m.payload).expect("JSON");
                assert_eq!(v["dvc"], "Netfilter", "{v}");
                let id = m.headers.as_ref().unwrap().get("Nats-Msg-Id").unwrap();
                let seq = id.to_string().rsplit('.').next().unwrap().parse().unwrap();
                seqs.push(seq);
            }
            if seqs.len() == before {
                break;
            }
        }
        (count, seqs)
    })
}

fn conf(dir: &Path, port: u16, pcap: &str, looped: bool) -> PathBuf {
    let p = dir.join(if looped { "run1.conf" } else { "run2.conf" });
    let text = format!(
        "[global]\nlogfile=\"{d}/daemon{n}.log\"\nloglevel=3\n\
         stack=r:REPLAY,b:BASE,s:IP2STR,n:NATS\n\
         [r]\nfile=\"{pcap}\"\nloop={l}\nspeed=0\n\
         [n]\nservers=\"nats://127.0.0.1:{port}\"\nsubject=\"ulogd.e2e\"\nstream=\"ULOGD\"\n\
         spool=1\nspool_dir=\"{d}/spool\"\nspool_max_bytes=1073741824\n\
         ack_timeout_ms=1000\nstop_timeout=60\nlog_interval=1\n",
        d = dir.display(),
        n = if looped { 1 } else { 2 },
        l = looped as u8,
    );
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn kill_9_mid_burst_then_restart_delivers_every_spooled_record_once() {
    let dir = std::env::temp_dir().join(format!("dl-spoolkill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("store")).unwrap();
    let _tmp = Tmp(dir.clone());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let Some(_server) = nats_server(port, &dir.join("store")) else {
        return;
    };
    let pcap = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../ulogd-netfilter/tests/fixtures/golden-basic/nflog.pcap")
        .display()
        .to_string();
    let ulogd = env!("CARGO_BIN_EXE_ulogd");

    // Run 1: an endless replay, killed with SIGKILL once the spool holds records.
    let c1 = conf(&dir, port, &pcap, true);
    let mut d1 = Proc(Some(
        Command::new(ulogd)
            .arg("-c")
            .arg(&c1)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    ));
    let spool_dir = dir.join("spool");
    let seg_bytes = || -> u64 {
        std::fs::read_dir(&spool_dir)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
                    .map(|e| e.metadata().map_or(0, |m| m.len()))
                    .sum()
            })
            .unwrap_or(0)
    };
    assert!(
        wait_for(Duration::from_secs(20), || seg_bytes() > 2 << 20),
        "the daemon spools"
    );
    d1.kill9();

    // What the spool accepted before the kill (opening it also cuts a torn tail,
    // as the daemon's own restart would).
    let cfg = SpoolConfig::new(&spool_dir, 1 << 30);
    let sp = Spool::open(cfg.clone()).unwrap();
    let accepted = sp.next_seq();
    let unconfirmed = sp.depth();
    drop(sp);
    assert!(accepted > 1000, "{accepted} records spooled");
    let (in_stream_after_kill, _) = stream_seqs(port);
    eprintln!(
        "run 1: {accepted} records spooled, {unconfirmed} not confirmed, {in_stream_after_kill} in the stream"
    );

    // Damage: half a record at the end of the newest segment, as a write cut short.
    let mut segs: Vec<PathBuf> = std::fs::read_dir(&spool_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    segs.sort();
    if let Some(last) = segs.last() {
        let mut f = std::fs::OpenOptions::new().append(true).open(last).unwrap();
        f.write_all(b"ULSP\x00\x01\x00\x00\x07\x00\x00\x00\x00\x00\x00\x00junk")
            .unwrap();
    } else {
        std::fs::write(spool_dir.join("seg-00000000000099999999.log"), b"ULSPjunk").unwrap();
    }

    // Run 2: the capture once more (it finishes, so the daemon exits by itself).
    let c2 = conf(&dir, port, &pcap, false);
    let st = Command::new(ulogd)
        .arg("-c")
        .arg(&c2)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let log2 = std::fs::read_to_string(dir.join("daemon2.log")).unwrap();
    let counters = log2
        .lines()
        .find(|l| l.contains("final counters: n (NATS)"))
        .unwrap_or_else(|| panic!("no final counters in\n{log2}"))
        .to_string();
    eprintln!("run 2: {counters}");
    assert!(counters.contains(" corrupt=1"), "{counters}");
    assert!(counters.contains(" depth=0"), "{counters}");
    assert!(
        counters.contains(&format!(" replayed={unconfirmed}")),
        "{counters}"
    );
    let events2: u64 = log2
        .lines()
        .find(|l| l.contains("final counters: r (REPLAY)"))
        .and_then(|l| l.split(" events=").nth(1))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("REPLAY's events");

    // Every record the spool accepted, and run 2's, exactly once.
    let (count, mut seqs) = stream_seqs(port);
    seqs.sort_unstable();
    let want: Vec<u64> = (0..accepted + events2).collect();
    let dups = seqs.windows(2).filter(|w| w[0] == w[1]).count();
    assert_eq!(dups, 0, "duplicates in the stream");
    assert_eq!(count, accepted + events2);
    assert_eq!(seqs, want);
}
