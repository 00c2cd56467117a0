//! Slow-sink isolation (issue #15), live: one NFLOG source, `threads=2`, three stacks
//! of it — A writes JSON to a file, B1 and B2 send JSON over TCP to peers that accept
//! and never read (B1 `when_full=drop_newest`, B2 `when_full=spool`). A 100,000-packet
//! burst is sent inside a namespace of our own (UDP datagrams from a thread that
//! entered it, in `sendmmsg`-sized batches, as `benches/tools/udpflood.c`), each
//! logged by nftables to the daemon's NFLOG group.
//!
//! Asserted: the kernel dropped nothing (no NFLOG sequence gap, events = nft's rule
//! counter); stack A has every packet once, in kernel order (`oob.seq.local`
//! contiguous, checked with python's json module); B1's shortfall is counted
//! (`written + dropped + lost` = offered, and the peer holds exactly `written` whole
//! lines); B2 lost nothing silently: what the peer holds plus what the spool keeps
//! for the next start (read back with the spool's own reader) is every packet.

use std::io::Read;
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ulogd_core::testing::netns::{nft, require, run, Netns};
use ulogd_export::spool::{Spool, SpoolConfig};

const PACKETS: usize = 100_000;
/// Datagrams per second: a burst the debug daemon's three stacks keep up with, so a
/// loss on stack A can only come from a slow sink holding the source back.
const RATE: usize = 8_000;

/// Sends `n` datagrams to 127.0.0.1:9999 from inside the namespace at `path`, `rate`
/// per second, in batches of 64.
fn flood(path: &str, n: usize, rate: usize) {
    let path = path.to_string();
    std::thread::spawn(move || {
        let f = std::fs::File::open(&path).unwrap();
        // SAFETY: setns on this thread only (a thread of our own, ending after the
        // burst), with a namespace fd we hold open for the call.
        let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "setns: {}", std::io::Error::last_os_error());
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        let t0 = Instant::now();
        for i in 0..n {
            while s.send_to(&[b'x'; 32], "127.0.0.1:9999").is_err() {
                std::thread::sleep(Duration::from_micros(100));
            }
            if i % 64 == 63 {
                let due = t0 + Duration::from_secs_f64((i + 1) as f64 / rate as f64);
                if let Some(d) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(d);
                }
            }
        }
    })
    .join()
    .unwrap();
}

/// A peer that accepts one connection and reads nothing until `gone` is set (the
/// daemon has exited); then it takes what the kernel still holds for it, to the end
/// of the stream.
fn stalled_peer(l: TcpListener, gone: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<u8>> {
    let small: libc::c_int = 64 * 1024;
    // SAFETY: setsockopt on our own listener with a c_int value.
    unsafe {
        libc::setsockopt(
            l.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&small as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    std::thread::spawn(move || {
        let (mut s, _): (TcpStream, _) = l.accept().unwrap();
        while !gone.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
        }
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut all = Vec::new();
        let _ = s.read_to_end(&mut all);
        all
    })
}

fn counter(log: &str, inst: &str, name: &str) -> u64 {
    let line = log
        .lines()
        .rfind(|l| l.contains(&format!("final counters: {inst} (")))
        .unwrap_or_else(|| panic!("no final counters of {inst}:\n{log}"));
    let key = format!(" {name}=");
    let i = line
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in {line}"))
        + key.len();
    line[i..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// python's json module over JSON lines on stdin: (whole lines parsed, lines that do
/// not parse, the oob.seq.local values in order).
fn check_json(data: &[u8]) -> (u64, u64, Vec<u64>) {
    let py = "import json,sys\n\
              d=sys.stdin.buffer.read()\n\
              good=bad=0; seqs=[]\n\
              lines=d.split(b'\\n')\n\
              if not d.endswith(b'\\n'): lines=lines[:-1]\n\
              for l in lines:\n\
              \x20   if not l: continue\n\
              \x20   try:\n\
              \x20       o=json.loads(l); good+=1; seqs.append(o['oob.seq.local'])\n\
              \x20   except Exception: bad+=1\n\
              print(good,bad,*seqs)\n";
    let mut c = Command::new("python3")
        .args(["-c", py])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = c.stdin.take().unwrap();
    let input = data.to_vec();
    let w = std::thread::spawn(move || {
        use std::io::Write;
        stdin.write_all(&input).unwrap();
    });
    let out = c.wait_with_output().unwrap();
    w.join().unwrap();
    assert!(out.status.success());
    let v: Vec<u64> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    (v[0], v[1], v[2..].to_vec())
}

fn tmpdir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("iso-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn a_stalled_tcp_sink_costs_the_file_stack_of_the_same_source_nothing() {
    if !require(
        "slow-sink isolation",
        &[
            &["ip", "-V"],
            &["nft", "--version"],
            &["python3", "--version"],
        ],
    ) {
        return;
    }
    let ns = Netns::create("iso", 1);
    let group = 4000 + (std::process::id() % 1000) as u16;
    nft(
        ns.name(0),
        &format!(
            "table inet iso {{\n chain out {{\n  type filter hook output priority 0;\n  \
             udp dport 9999 counter log group {group}\n }}\n}}\n"
        ),
    );
    let dir = tmpdir();
    let (l1, l2) = (
        TcpListener::bind("127.0.0.1:0").unwrap(),
        TcpListener::bind("127.0.0.1:0").unwrap(),
    );
    let (p1, p2) = (
        l1.local_addr().unwrap().port(),
        l2.local_addr().unwrap().port(),
    );
    let gone = Arc::new(AtomicBool::new(false));
    let (peer1, peer2) = (
        stalled_peer(l1, gone.clone()),
        stalled_peer(l2, gone.clone()),
    );
    let file = dir.join("a.json");
    let spool_dir = dir.join("spool");
    let log = dir.join("daemon.log");
    let conf = format!(
        "[global]\nlogfile=\"{log}\"\nloglevel=3\nthreads=2\n\
         stack=log1:NFLOG,base1:BASE,s1:IP2STR,a:JSON\n\
         stack=log1:NFLOG,base1:BASE,s1:IP2STR,b1:JSON\n\
         stack=log1:NFLOG,base1:BASE,s1:IP2STR,b2:JSON\n\
         [log1]\ngroup={group}\nseq_local=1\nnetwork_namespace_path=\"{nsp}\"\n\
         netlink_socket_buffer_size=67108864\nnetlink_socket_buffer_maxsize=67108864\n\
         [base1]\n[s1]\n\
         [a]\nfile=\"{file}\"\nsync=0\n\
         [b1]\nmode=tcp\nhost=127.0.0.1\nport={p1}\nqueue_max=2000\nwhen_full=drop_newest\n\
         [b2]\nmode=tcp\nhost=127.0.0.1\nport={p2}\nqueue_max=2000\nwhen_full=spool\n\
         spool_dir=\"{sd}\"\nspool_max_bytes=1GiB\n",
        log = log.display(),
        nsp = ns.path(0),
        file = file.display(),
        sd = spool_dir.display(),
    );
    let cpath = dir.join("u.conf");
    std::fs::write(&cpath, conf).unwrap();
    let mut d = Command::new(env!("CARGO_BIN_EXE_ulogd"))
        .arg("-c")
        .arg(&cpath)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let t0 = Instant::now();
    flood(&ns.path(0), PACKETS, RATE);
    println!("burst of {PACKETS} sent in {:?}", t0.elapsed());
    // Let the daemon catch up with what the kernel holds (stack A's file stops
    // growing; on a loaded machine that takes longer than the burst), then stop it.
    let lines = || std::fs::read(&file).map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count());
    let (mut last, mut still) = (usize::MAX, 0);
    let deadline = Instant::now() + Duration::from_secs(90);
    while Instant::now() < deadline && lines() < PACKETS && still < 3 {
        std::thread::sleep(Duration::from_secs(1));
        let n = lines();
        still = if n == last { still + 1 } else { 0 };
        last = n;
    }
    // SAFETY: signalling our own child.
    unsafe { libc::kill(d.id() as libc::pid_t, libc::SIGTERM) };
    let st = d.wait().unwrap();
    gone.store(true, Ordering::SeqCst);
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(st.success(), "daemon exit {st}:\n{log}");
    let out = run(&[
        "ip",
        "netns",
        "exec",
        ns.name(0),
        "nft",
        "list",
        "chain",
        "inet",
        "iso",
        "out",
    ]);
    let i = out.find("counter packets ").expect("rule counter") + 16;
    let offered: u64 = out[i..].split_whitespace().next().unwrap().parse().unwrap();
    assert_eq!(offered, PACKETS as u64);

    // The source: the kernel dropped nothing (a blocked loop would show as gaps).
    let (events, gaps) = (
        counter(&log, "log1", "events"),
        counter(&log, "log1", "seq_gaps"),
    );
    println!("NFLOG: offered {offered}, events {events}, sequence gaps {gaps}");
    assert_eq!(gaps, 0, "the kernel dropped events:\n{log}");
    assert_eq!(events, offered);

    // Stack A: every packet, once, in kernel order.
    let (good, bad, seqs) = check_json(&std::fs::read(&file).unwrap());
    assert_eq!(bad, 0);
    assert_eq!(good, offered, "stack A lost {} packets", offered - good);
    let first = seqs[0];
    assert!(
        seqs.iter().enumerate().all(|(i, &s)| s == first + i as u64),
        "oob.seq.local of stack A is not contiguous and in order"
    );
    println!(
        "stack A: {good} lines, oob.seq.local {first}..={}",
        first + good - 1
    );

    // B1, drop_newest: whole lines at the peer, the shortfall counted.
    let got1 = peer1.join().unwrap();
    let (good1, bad1, seqs1) = check_json(&got1);
    let (w1, dr1, lo1) = (
        counter(&log, "b1", "written"),
        counter(&log, "b1", "dropped"),
        counter(&log, "b1", "lost"),
    );
    println!("B1 (drop_newest): peer has {good1}, written {w1}, dropped {dr1}, lost {lo1}");
    assert_eq!(bad1, 0, "torn lines at B1's peer");
    assert_eq!(good1, w1, "written is what reached the peer");
    assert!(dr1 > 0, "the stalled peer overflowed queue_max=2000");
    assert_eq!(
        w1 + dr1 + lo1,
        offered,
        "B1 lost records without counting them"
    );
    assert!(seqs1.windows(2).all(|w| w[0] < w[1]), "B1 out of order");

    // B2, spool: what the peer holds + what the spool keeps = everything.
    let got2 = peer2.join().unwrap();
    let (good2, bad2, seqs2) = check_json(&got2);
    let (w2, dr2, lo2, kept) = (
        counter(&log, "b2", "written"),
        counter(&log, "b2", "dropped"),
        counter(&log, "b2", "lost"),
        counter(&log, "b2", "spool_depth"),
    );
    println!(
        "B2 (spool): peer has {good2}, written {w2}, spool keeps {kept}, dropped {dr2}, lost {lo2}"
    );
    assert_eq!(bad2, 0, "torn lines at B2's peer");
    assert_eq!(good2, w2);
    assert_eq!(dr2, 0, "B2 dropped records");
    assert!(
        lo2 <= 1,
        "at most the record cut by the shutdown's disconnect"
    );
    let mut sp = Spool::open(SpoolConfig::new(&spool_dir, 1 << 30)).unwrap();
    assert_eq!(sp.depth(), kept, "spool_depth is what the spool holds");
    let mut spooled = Vec::new();
    let mut from = sp.ack_next();
    loop {
        let b = sp.peek(from, 10_000).unwrap();
        let Some(last) = b.last() else { break };
        from = last.0 + 1;
        for (_, r) in &b {
            spooled.extend_from_slice(r);
        }
    }
    let (sgood, sbad, sseqs) = check_json(&spooled);
    assert_eq!((sgood, sbad), (kept, 0));
    let all: Vec<u64> = seqs2.iter().chain(sseqs.iter()).copied().collect();
    assert!(
        all.windows(2).all(|w| w[0] < w[1]),
        "peer then spool, in order"
    );
    assert_eq!(
        all.len() as u64 + lo2,
        offered,
        "B2: peer {good2} + spool {kept} + lost {lo2} != offered {offered}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
