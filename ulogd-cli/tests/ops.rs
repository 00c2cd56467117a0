//! What a sysadmin runs the daemon with, end to end against the real kernel: the
//! Prometheus endpoint scraped with curl during an NFLOG burst (counters move and
//! add up; promtool accepts the text), outputs with `sync=0` flushed within 2 s of
//! the last packet, and systemd's notify protocol (READY=1, WATCHDOG=1,
//! STOPPING=1) read from a datagram socket the test binds.
//!
//! Live tests run the daemon in a namespace of their own (`op-` prefix), with
//! `nft ... log group N` on its loopback and `ping` as traffic.

use std::collections::HashMap;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn have(cmd: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {cmd}"))
        .output()
        .is_ok_and(|o| o.status.success())
}

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Root and the tools a live test needs, else a printed reason (a failure in CI).
fn can_run_live(tools: &[&str]) -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let missing: Vec<&str> = tools.iter().copied().filter(|t| !have(t)).collect();
    if root && missing.is_empty() {
        return true;
    }
    let why = format!("needs root (is {root}) and {missing:?} (.ci/install-deps installs them)");
    assert!(!ci(), "{why}");
    println!("skip: {why}");
    false
}

struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Netns {
        let ns = Netns(format!("op-{tag}{}", std::process::id()));
        let _ = Command::new("ip")
            .args(["netns", "del", &ns.0])
            .stderr(Stdio::null())
            .status();
        sh(&["ip", "netns", "add", &ns.0]);
        sh(&["ip", "-n", &ns.0, "link", "set", "lo", "up"]);
        ns
    }

    fn exec<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut v = vec!["ip", "netns", "exec", &self.0];
        v.extend_from_slice(args);
        v
    }

    /// `nft` rules logging every echo request on the namespace's loopback to `group`.
    fn log_pings(&self, group: u16) {
        sh(&self.exec(&["nft", "add", "table", "inet", "op"]));
        sh(&self.exec(&[
            "nft",
            "add chain inet op out { type filter hook output priority 0 ; }",
        ]));
        let rule = format!("add rule inet op out icmp type echo-request log group {group}");
        sh(&self.exec(&["nft", &rule]));
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn sh(args: &[&str]) -> std::process::Output {
    let o = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        o.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("op-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The daemon, stopped with SIGTERM (and reaped) when dropped.
struct Daemon(Child);

impl Daemon {
    fn term(&mut self) -> std::process::ExitStatus {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM) };
        self.0.wait().unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.term();
        }
    }
}

/// A socket standing in for systemd's `$NOTIFY_SOCKET`.
struct NotifySocket {
    sock: UnixDatagram,
    path: PathBuf,
}

impl NotifySocket {
    fn bind(dir: &Path) -> NotifySocket {
        let path = dir.join("notify.sock");
        let sock = UnixDatagram::bind(&path).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        NotifySocket { sock, path }
    }

    /// Waits up to `within` for a datagram equal to `want`; returns every datagram seen.
    fn expect(&self, want: &str, within: Duration, seen: &mut Vec<String>) {
        let end = Instant::now() + within;
        let mut buf = [0u8; 512];
        while Instant::now() < end {
            if let Ok(n) = self.sock.recv(&mut buf) {
                let msg = String::from_utf8_lossy(&buf[..n]).to_string();
                seen.push(msg.clone());
                if msg == want {
                    return;
                }
            }
        }
        panic!("no {want} within {within:?}; got {seen:?}");
    }
}

/// Starts `ulogd -c conf` in `ns` (or here) with `NOTIFY_SOCKET` and waits for READY=1.
fn start(ns: Option<&Netns>, conf: &Path, notify: &NotifySocket, env: &[(&str, &str)]) -> Daemon {
    let bin = env!("CARGO_BIN_EXE_ulogd");
    let mut cmd = match ns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", &ns.0, bin]);
            c
        }
        None => Command::new(bin),
    };
    cmd.arg("-c")
        .arg(conf)
        .env("NOTIFY_SOCKET", &notify.path)
        .envs(env.iter().copied())
        .stdout(Stdio::null());
    let d = Daemon(cmd.spawn().unwrap());
    notify.expect("READY=1", Duration::from_secs(10), &mut Vec::new());
    d
}

/// `name{labels} value` lines of a scrape, keyed by the whole series.
fn parse(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

fn val(m: &HashMap<String, f64>, name: &str, inst: &str, plugin: &str) -> u64 {
    let k = format!("{name}{{id=\"{inst}\",plugin=\"{plugin}\"}}");
    *m.get(&k).unwrap_or_else(|| panic!("no series {k}")) as u64
}

fn scrape(ns: &Netns, port: u16) -> String {
    let url = format!("http://127.0.0.1:{port}/metrics");
    let o = sh(&ns.exec(&["curl", "-sSf", "--max-time", "5", &url]));
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn metrics_move_during_a_burst_add_up_and_pass_promtool() {
    if !can_run_live(&["ip", "nft", "ping", "curl"]) {
        return;
    }
    let ns = Netns::new("m");
    ns.log_pings(5);
    let dir = tmpdir("metrics");
    let out = dir.join("out.json");
    // MARK lets through only packets marked 1 (ping -m 1): half the burst is
    // stopped there, so every one of in/out/stopped is exercised.
    let conf = format!(
        "[global]\nlogfile=\"{d}/daemon.log\"\nmetrics_listen=\"127.0.0.1:9613\"\n\
         stack=n:NFLOG,b:BASE,m:MARK,s:IP2STR,j:JSON\n\
         [n]\ngroup=5\n[m]\nmark=1\n[j]\nfile=\"{out}\"\nsync=0\n",
        d = dir.display(),
        out = out.display()
    );
    let cpath = dir.join("u.conf");
    std::fs::write(&cpath, conf).unwrap();
    let notify = NotifySocket::bind(&dir);
    let mut d = start(Some(&ns), &cpath, &notify, &[]);

    let before = parse(&scrape(&ns, 9613));
    assert_eq!(val(&before, "ulogd_source_events_total", "n", "NFLOG"), 0);
    let ping = |mark: Option<&str>| {
        let mut a = vec!["ping", "-q", "-c", "1500", "-i", "0.001"];
        if let Some(m) = mark {
            a.extend_from_slice(&["-m", m]);
        }
        a.push("127.0.0.1");
        let a: Vec<String> = ns.exec(&a).iter().map(|s| s.to_string()).collect();
        Command::new(&a[0])
            .args(&a[1..])
            .stdout(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut marked = ping(Some("1"));
    let mut plain = ping(None);
    std::thread::sleep(Duration::from_millis(400));
    let during1 = parse(&scrape(&ns, 9613));
    std::thread::sleep(Duration::from_millis(300));
    let during2 = parse(&scrape(&ns, 9613));
    assert!(marked.wait().unwrap().success());
    assert!(plain.wait().unwrap().success());
    let e1 = val(&during1, "ulogd_source_events_total", "n", "NFLOG");
    let e2 = val(&during2, "ulogd_source_events_total", "n", "NFLOG");
    assert!(
        0 < e1 && e1 < e2,
        "events move during the burst: {e1} then {e2}"
    );

    // Traffic over. The kernel batches NFLOG messages and flushes a partial batch
    // after its timeout (1 s), so wait until all 3000 echo requests arrived (or
    // the kernel reports overruns), then for the stacks to drain; then every
    // stage's counters must add up exactly.
    let end = Instant::now() + Duration::from_secs(8);
    let (text, m) = loop {
        std::thread::sleep(Duration::from_millis(200));
        let t = scrape(&ns, 9613);
        let m = parse(&t);
        let all = val(&m, "ulogd_source_events_total", "n", "NFLOG") == 3000
            || val(&m, "ulogd_kernel_overruns_total", "n", "NFLOG") > 0;
        let drained = val(&m, "ulogd_source_in_flight", "n", "NFLOG") == 0;
        if (all && drained) || Instant::now() > end {
            break (t, m);
        }
    };
    let src = val(&m, "ulogd_source_events_total", "n", "NFLOG");
    let overruns = val(&m, "ulogd_kernel_overruns_total", "n", "NFLOG");
    println!("source events {src}, kernel overruns {overruns}");
    assert!(src > 0);
    let mut upstream = src;
    for (id, plugin) in [("b", "BASE"), ("m", "MARK"), ("s", "IP2STR"), ("j", "JSON")] {
        let i = val(&m, "ulogd_stage_events_in_total", id, plugin);
        let o = val(&m, "ulogd_stage_events_out_total", id, plugin);
        let st = val(&m, "ulogd_stage_events_stopped_total", id, plugin);
        let er = val(&m, "ulogd_stage_errors_total", id, plugin);
        println!("{id} ({plugin}): in {i} = out {o} + stopped {st} + errors {er}");
        assert_eq!(i, upstream, "{id} receives what the stage before passed on");
        assert_eq!(i, o + st + er, "{id}: in = out + stopped + errors");
        if id == "m" {
            assert!(o > 0 && st > 0, "MARK passed {o} and stopped {st}");
        }
        upstream = o;
    }
    if overruns == 0 {
        assert_eq!(src, 3000, "every echo request of the burst arrived");
    }
    // Generic per-plugin series: JSON's own count of lines that reached the file
    // (its queue writes at 64 KiB or on its 1 s tick, so it catches up within ~1 s).
    let key = "ulogd_plugin_stat{id=\"j\",plugin=\"JSON\",counter=\"written\"}";
    let mut written = m
        .get(key)
        .copied()
        .expect("JSON's written counter as ulogd_plugin_stat");
    let end = Instant::now() + Duration::from_secs(3);
    while (written as u64) < upstream && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(200));
        written = parse(&scrape(&ns, 9613))
            .get(key)
            .copied()
            .unwrap_or(written);
    }
    assert_eq!(
        written as u64, upstream,
        "JSON wrote a line per event consumed"
    );

    assert!(d.term().success());
    // What JSON consumed is in the file, line for line.
    let lines = std::fs::read_to_string(&out).unwrap().lines().count() as u64;
    assert_eq!(lines, upstream, "JSON lines = JSON's out counter");

    let prom = dir.join("scrape.prom");
    std::fs::write(&prom, &text).unwrap();
    if have("promtool") {
        let o = Command::new("sh")
            .arg("-c")
            .arg(format!("promtool check metrics < {}", prom.display()))
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "promtool check metrics: {}{}\n{text}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        println!("promtool check metrics: OK");
    } else {
        assert!(!ci(), "promtool missing (Debian package prometheus)");
        println!("skip promtool: not installed (Debian package prometheus)");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sync_0_outputs_write_within_2s_of_the_last_packet() {
    if !can_run_live(&["ip", "nft", "ping", "tcpdump"]) {
        return;
    }
    let ns = Netns::new("i");
    ns.log_pings(6);
    let dir = tmpdir("idle");
    let f = |n: &str| dir.join(n).display().to_string();
    let conf = format!(
        "[global]\nlogfile=\"{d}/daemon.log\"\n\
         stack=n:NFLOG,b1:BASE,s1:IP2STR,j:JSON\n\
         stack=n:NFLOG,b2:BASE,i2:IFINDEX,s2:IP2STR,p2:PRINTPKT,e:LOGEMU\n\
         stack=n:NFLOG,b3:BASE,s3:IP2STR,g:GPRINT\n\
         stack=n:NFLOG,b4:BASE,s4:IP2STR,o:OPRINT\n\
         stack=n:NFLOG,b5:BASE,x:XML\n\
         stack=n:NFLOG,b6:BASE,c:PCAP\n\
         [n]\ngroup=6\nnetlink_qthreshold=1\n\
         [j]\nfile=\"{j}\"\nsync=0\n[e]\nfile=\"{e}\"\nsync=0\n\
         [g]\nfile=\"{g}\"\nsync=0\n[o]\nfile=\"{o}\"\nsync=0\n\
         [x]\ndirectory=\"{d}\"\nsync=0\n[c]\nfile=\"{c}\"\nsync=0\n",
        d = dir.display(),
        j = f("out.json"),
        e = f("out.log"),
        g = f("out.gprint"),
        o = f("out.oprint"),
        c = f("out.pcap"),
    );
    let cpath = dir.join("u.conf");
    std::fs::write(&cpath, conf).unwrap();
    let notify = NotifySocket::bind(&dir);
    let mut d = start(Some(&ns), &cpath, &notify, &[]);
    // netlink_qthreshold=1: the kernel sends the packet at once instead of holding
    // a partial batch for its own 1 s timeout, so the 2 s measure ulogd alone.
    sh(&ns.exec(&["ping", "-q", "-c", "1", "127.0.0.1"]));
    let last = Instant::now();

    let xml = || {
        std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|x| x == "xml"))
    };
    let checks: Vec<Check> = vec![
        (
            "JSON",
            Box::new(|| read(&f("out.json")).contains("\"icmp.type\": 8")),
        ),
        (
            "LOGEMU",
            Box::new(|| read(&f("out.log")).contains("PROTO=ICMP TYPE=8")),
        ),
        (
            "GPRINT",
            Box::new(|| read(&f("out.gprint")).contains("icmp.type=8")),
        ),
        (
            "OPRINT",
            Box::new(|| read(&f("out.oprint")).contains("icmp.type=8")),
        ),
        (
            "XML",
            Box::new(move || {
                xml().is_some_and(|p| read(&p.display().to_string()).contains("<packet"))
            }),
        ),
        ("PCAP", Box::new(|| pcap_packets(&f("out.pcap")) == 1)),
    ];
    let mut pending: Vec<&str> = checks.iter().map(|c| c.0).collect();
    while !pending.is_empty() && last.elapsed() < Duration::from_secs(2) {
        pending.retain(|name| !checks.iter().find(|c| c.0 == *name).unwrap().1());
        std::thread::sleep(Duration::from_millis(50));
    }
    let waited = last.elapsed();
    assert!(
        pending.is_empty(),
        "with sync=0 these outputs held the packet for more than 2 s: {pending:?}"
    );
    println!("every sync=0 output had the packet {waited:?} after it was sent");
    assert!(d.term().success());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A child (a listener in a test namespace) killed by its pid when dropped.
struct Listener(Child);

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `socat` in `ns` appending what a TCP peer sends on 127.0.0.1:`port` to `out` as it
/// arrives; returns once the port listens.
fn tcp_sink(ns: &Netns, port: u16, out: &Path) -> Listener {
    let listen = format!("TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr");
    let file = format!("OPEN:{},creat,append", out.display());
    let l = Listener(
        Command::new("ip")
            .args(["netns", "exec", &ns.0, "socat", "-u", &listen, &file])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let filter = format!("sport = :{port}");
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(5) {
        let o = sh(&ns.exec(&["ss", "-Hltn", &filter]));
        if !o.stdout.is_empty() {
            return l;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("socat does not listen on {port}");
}

#[test]
fn network_sinks_write_within_2s_of_the_last_event() {
    if !can_run_live(&["ip", "nft", "ping", "socat", "nfacct", "ss"]) {
        return;
    }
    let ns = Netns::new("n");
    ns.log_pings(7);
    sh(&ns.exec(&["nfacct", "add", "idle_probe"]));
    let dir = tmpdir("netidle");
    let (json_out, carbon_out) = (dir.join("json.out"), dir.join("carbon.out"));
    let _j = tcp_sink(&ns, 4561, &json_out);
    let _g = tcp_sink(&ns, 2003, &carbon_out);
    let conf = format!(
        "[global]\nlogfile=\"{d}/daemon.log\"\n\
         stack=n:NFLOG,b:BASE,s:IP2STR,j:JSON\n\
         stack=a:NFACCT,g:GRAPHITE\n\
         [n]\ngroup=7\nnetlink_qthreshold=1\n\
         [j]\nmode=tcp\nhost=127.0.0.1\nport=4561\nsync=0\nflush_interval=1s\n\
         [a]\npollinterval=3600\n\
         [g]\nhost=127.0.0.1\nport=2003\nprefix=idle\nflush_interval=1s\n",
        d = dir.display(),
    );
    let cpath = dir.join("u.conf");
    std::fs::write(&cpath, conf).unwrap();
    let notify = NotifySocket::bind(&dir);
    let mut d = start(Some(&ns), &cpath, &notify, &[]);
    // One packet, and one NFACCT poll (SIGUSR2): one event per stack, then nothing.
    sh(&ns.exec(&["ping", "-q", "-c", "1", "127.0.0.1"]));
    // SAFETY: signalling our own child (`ip netns exec` execs the daemon: same pid).
    unsafe { libc::kill(d.0.id() as libc::pid_t, libc::SIGUSR2) };
    let last = Instant::now();
    let json_ok = || {
        read(&json_out.display().to_string()).lines().any(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .is_ok_and(|v| v["icmp.type"] == 8 && v["oob.prefix"].is_string())
        })
    };
    let carbon_ok = || {
        let t = read(&carbon_out.display().to_string());
        t.lines().any(|l| l.starts_with("idle.idle_probe.pkts "))
            && t.lines().any(|l| l.starts_with("idle.idle_probe.bytes "))
    };
    let (mut j, mut g) = (false, false);
    while !(j && g) && last.elapsed() < Duration::from_secs(2) {
        j = j || json_ok();
        g = g || carbon_ok();
        std::thread::sleep(Duration::from_millis(20));
    }
    let waited = last.elapsed();
    assert!(
        j && g,
        "held for more than 2 s: JSON over TCP {}, GRAPHITE {}\n{}",
        if j { "delivered" } else { "NOT delivered" },
        if g { "delivered" } else { "NOT delivered" },
        read(&dir.join("daemon.log").display().to_string())
    );
    println!("the TCP JSON and GRAPHITE peers had their event {waited:?} after it");
    assert!(d.term().success());
    let _ = std::fs::remove_dir_all(&dir);
}

/// An output's name and whether its file already holds the packet.
type Check<'a> = (&'a str, Box<dyn Fn() -> bool + 'a>);

fn read(p: &str) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// Packets tcpdump reads from a capture file (0 if it cannot read it yet).
fn pcap_packets(p: &str) -> usize {
    Command::new("tcpdump")
        .args(["-nn", "-r", p])
        .stderr(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).lines().count())
        .unwrap_or(0)
}

fn capture() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../ulogd-netfilter/tests/fixtures/golden-basic/nflog.pcap")
        .display()
        .to_string()
}

#[test]
fn sd_notify_ready_watchdog_then_stopping_on_sigterm() {
    let dir = tmpdir("notify");
    let out = dir.join("out.json");
    let conf = format!(
        "[global]\nlogfile=\"{d}/daemon.log\"\n\
         stack=r:REPLAY,b:BASE,s:IP2STR,j:JSON\n\
         [r]\nfile=\"{pcap}\"\nloop=1\nspeed=50\n[j]\nfile=\"{out}\"\n",
        d = dir.display(),
        pcap = capture(),
        out = out.display()
    );
    let cpath = dir.join("u.conf");
    std::fs::write(&cpath, conf).unwrap();
    let notify = NotifySocket::bind(&dir);
    // READY=1 only once the sources and sinks are open: the output file exists.
    let mut d = start(None, &cpath, &notify, &[("WATCHDOG_USEC", "300000")]);
    assert!(out.exists(), "READY=1 before the outputs were open");
    let mut seen = Vec::new();
    notify.expect("WATCHDOG=1", Duration::from_secs(2), &mut seen);
    // SAFETY: signalling our own child.
    unsafe { libc::kill(d.0.id() as libc::pid_t, libc::SIGTERM) };
    notify.expect("STOPPING=1", Duration::from_secs(5), &mut seen);
    assert!(d.0.wait().unwrap().success());
    // Exactly one STOPPING=1, and nothing claims readiness again.
    let mut buf = [0u8; 64];
    notify
        .sock
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    while let Ok(n) = notify.sock.recv(&mut buf) {
        seen.push(String::from_utf8_lossy(&buf[..n]).to_string());
    }
    assert_eq!(
        seen.iter().filter(|s| *s == "STOPPING=1").count(),
        1,
        "{seen:?}"
    );
    assert!(!seen.iter().any(|s| s == "READY=1"), "{seen:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn metrics_on_a_public_address_are_refused_naming_the_key() {
    let dir = tmpdir("remote");
    let cpath = dir.join("u.conf");
    std::fs::write(
        &cpath,
        format!(
            "[global]\nmetrics_listen=\"0.0.0.0:9613\"\nstack=r:REPLAY,j:JSON\n\
             [r]\nfile=\"{}\"\n",
            capture()
        ),
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_ulogd"))
        .arg("--check")
        .arg("-c")
        .arg(&cpath)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("metrics_allow_remote=1"), "{err}");
    assert!(err.contains("u.conf:2"), "names file and line: {err}");
    let _ = std::fs::remove_dir_all(&dir);
}
