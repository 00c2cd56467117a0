//! `when_full=spool` of the generic output stage, end to end with the real daemon:
//! JSON over TCP to a peer that accepts and never reads. The memory queue fills, the
//! rest goes to the disk spool; the daemon is killed with SIGKILL mid-burst; the
//! restarted daemon (the peer reads now) replays what the spool held, in order, before
//! its own events — counted from the records' `dvc` field, which differs per run.

use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

fn conf(dir: &Path, port: u16, pcap: &str, run: u32) -> PathBuf {
    let p = dir.join(format!("run{run}.conf"));
    let text = format!(
        "[global]\nlogfile=\"{d}/daemon{run}.log\"\nloglevel=3\n\
         stack=r:REPLAY,b:BASE,s:IP2STR,j:JSON\n\
         [r]\nfile=\"{pcap}\"\nloop={l}\nspeed=0\n\
         [b]\n[s]\n\
         [j]\nmode=tcp\nhost=127.0.0.1\nport={port}\ndevice=run{run}\n\
         queue_max=1000\nwhen_full=spool\nspool_dir=\"{d}/spool\"\nspool_max_bytes=1GiB\n",
        d = dir.display(),
        l = u8::from(run == 1),
    );
    std::fs::write(&p, text).unwrap();
    p
}

fn seg_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
                .map(|e| e.metadata().map_or(0, |m| m.len()))
                .sum()
        })
        .unwrap_or(0)
}

fn counter(line: &str, name: &str) -> u64 {
    line.split(&format!(" {name}="))
        .nth(1)
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {line}"))
}

#[test]
fn json_tcp_spool_survives_kill_9_and_replays_in_order() {
    let dir = std::env::temp_dir().join(format!("out-spool-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let _tmp = Tmp(dir.clone());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let pcap = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../ulogd-netfilter/tests/fixtures/golden-basic/nflog.pcap")
        .display()
        .to_string();
    let ulogd = env!("CARGO_BIN_EXE_ulogd");
    let spool_dir = dir.join("spool");

    // Run 1: an endless replay into a peer that accepts and never reads.
    let mut d1 = Proc(Some(
        Command::new(ulogd)
            .arg("-c")
            .arg(conf(&dir, port, &pcap, 1))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    ));
    let (mut first, _) = listener.accept().unwrap();
    assert!(
        wait_for(Duration::from_secs(30), || seg_bytes(&spool_dir) > 4 << 20),
        "the daemon spools what the stalled peer does not take"
    );
    d1.kill9();

    // What run 1's peer connection got (the kernel buffered it; the daemon is gone).
    let mut got1 = Vec::new();
    first
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let _ = first.read_to_end(&mut got1);
    let whole1 = got1.iter().filter(|&&b| b == b'\n').count();

    // What the spool holds for the next start (opening it cuts a torn tail, as the
    // daemon's own start does).
    let sp = Spool::open(SpoolConfig::new(&spool_dir, 1 << 30)).unwrap();
    let (accepted, kept) = (sp.next_seq(), sp.depth());
    drop(sp);
    eprintln!("run 1: peer got {whole1} lines; spool accepted {accepted}, keeps {kept}");
    assert!(kept > 1000, "{kept} records kept");

    // Run 2: the capture once (20 packets); the peer reads everything.
    let reader = std::thread::spawn(move || {
        let (s, _): (TcpStream, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut lines = Vec::new();
        for l in BufReader::new(s).lines() {
            match l {
                Ok(l) => lines.push(l),
                Err(_) => break,
            }
        }
        lines
    });
    let st = Command::new(ulogd)
        .arg("-c")
        .arg(conf(&dir, port, &pcap, 2))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let lines = reader.join().unwrap();
    let log2 = std::fs::read_to_string(dir.join("daemon2.log")).unwrap();
    let fin = log2
        .lines()
        .find(|l| l.contains("final counters: j (JSON)"))
        .unwrap_or_else(|| panic!("no final counters in\n{log2}"))
        .to_string();
    eprintln!("run 2: {fin}; peer got {} lines", lines.len());

    // Every line whole JSON; run 1's kept records first, in one block, then run 2's.
    let dvc: Vec<String> = lines
        .iter()
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}"));
            v["dvc"].as_str().expect("dvc").to_string()
        })
        .collect();
    let n1 = dvc.iter().take_while(|d| *d == "run1").count() as u64;
    let n2 = dvc
        .iter()
        .skip(n1 as usize)
        .filter(|d| *d == "run2")
        .count() as u64;
    assert_eq!(n1, kept, "every kept record replayed, before run 2's");
    assert_eq!(n2, 20, "run 2's own events after them");
    assert_eq!(
        dvc.len() as u64,
        n1 + n2,
        "nothing else, nothing out of order"
    );
    // `replayed` counts every record read back from the spool: run 2 spooled its own
    // 20 behind the kept ones.
    assert_eq!(counter(&fin, "replayed"), kept + 20, "{fin}");
    assert_eq!(counter(&fin, "spooled"), 20, "{fin}");
    assert_eq!(counter(&fin, "written"), kept + 20, "{fin}");
    for c in ["dropped", "lost", "spool_depth"] {
        assert_eq!(counter(&fin, c), 0, "{c}: {fin}");
    }
}
