//! The same packets, two meters, one collector: FLOW against softflowd (a capture
//! replayed) and against pmacct's uacctd with its nfprobe plugin (a live NFLOG
//! burst), both exporting IPFIX to nfcapd; nfdump must show the same flows with the
//! same packet and byte counts. Differences that are expected (see README "FLOW"):
//! softflowd and nfprobe put ICMP type/code into the destination port, FLOW exports
//! them as icmpTypeIPv4/icmpCodeIPv4 (176/177), so for ICMP the port columns are not
//! compared. Packets, bytes and TCP flags are compared on every flow.
//!
//! Tools nobody here wrote: nfcapd/nfdump (collector, reader), softflowd, uacctd,
//! nft. Missing tools skip with a reason, but fail under CI=true.

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// True if every tool is there; otherwise skips (or fails under CI=true).
fn need(tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools.iter().copied().filter(|t| !have(t)).collect();
    if missing.is_empty() {
        return true;
    }
    let msg = format!(
        "needs {}: not installed (.ci/install-deps)",
        missing.join(", ")
    );
    assert!(!ci(), "{msg}");
    eprintln!("skipped: {msg}");
    false
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fl-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn kill(child: &Child, sig: libc::c_int) {
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as libc::pid_t, sig) };
}

/// nfcapd writing into `dir` (optionally inside a network namespace).
struct Nfcapd {
    child: Child,
    dir: PathBuf,
}

impl Nfcapd {
    fn start(netns: Option<&str>, port: u16, dir: PathBuf) -> Nfcapd {
        std::fs::create_dir_all(&dir).unwrap();
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "nfcapd"]);
                c
            }
            None => Command::new("nfcapd"),
        };
        let child = cmd
            .args(["-b", "127.0.0.1", "-p", &port.to_string(), "-w"])
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(500));
        Nfcapd { child, dir }
    }

    /// Stops nfcapd (it then writes its file) and reads the flows back with nfdump:
    /// one normalised line per flow, sorted.
    fn flows(&mut self, flags: bool) -> Vec<String> {
        kill(&self.child, libc::SIGTERM);
        let _ = self.child.wait();
        let fmt = "fmt:%pr|%sa|%sp|%da|%dp|%pkt|%byt|%flg";
        let out = Command::new("nfdump")
            .arg("-R")
            .arg(&self.dir)
            .args(["-q", "-N", "-o", fmt])
            .env("TZ", "UTC")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let mut v: Vec<String> = text
            .lines()
            .filter(|l| l.contains('|'))
            .map(|l| {
                let mut f: Vec<String> = l.split('|').map(|x| x.trim().to_string()).collect();
                if f[0] == "1" || f[0] == "58" {
                    // ICMP: type/code travel differently (see the module doc).
                    f[2] = "-".into();
                    f[4] = "-".into();
                }
                if !flags {
                    f[7] = "-".into();
                }
                f.join("|")
            })
            .collect();
        v.sort();
        v
    }
}

impl Drop for Nfcapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn capture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/flow/mixed.pcap")
}

#[test]
fn replayed_capture_gives_softflowds_flows() {
    if !need(&["nfcapd", "nfdump", "softflowd"]) {
        return;
    }
    let dir = tmpdir("replay");
    let (p1, p2) = (free_port(), free_port());
    let mut ours = Nfcapd::start(None, p1, dir.join("ours"));
    let mut theirs = Nfcapd::start(None, p2, dir.join("softflowd"));
    let conf = dir.join("u.conf");
    std::fs::write(
        &conf,
        format!(
            "[global]\nlogfile=\"stdout\"\nloglevel=3\n\
             stack=rep:REPLAY,base:BASE,meter:FLOW\n\
             stack=meter:FLOW,ipfix:IPFIX\n\
             [rep]\nfile=\"{}\"\n\
             [meter]\nclock=\"packet\"\n\
             [ipfix]\ndest=\"udp://127.0.0.1:{p1}\"\n",
            capture().display()
        ),
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_ulogd"))
        .arg("-c")
        .arg(&conf)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{log}");
    assert!(
        log.contains("packets=93") && log.contains("lost=0"),
        "{log}"
    );
    let o = Command::new("softflowd")
        .arg("-r")
        .arg(capture())
        .args(["-n", &format!("127.0.0.1:{p2}"), "-v", "10"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::thread::sleep(Duration::from_millis(300));
    let (a, b) = (ours.flows(true), theirs.flows(true));
    eprintln!("FLOW:\n{}\nsoftflowd:\n{}", a.join("\n"), b.join("\n"));
    assert_eq!(a.len(), 20, "the capture has 20 flows");
    assert!(a
        .iter()
        .any(|l| l.starts_with("6|10.78.0.1|38144|10.78.0.2|6001|31|201620|")));
    assert_eq!(a, b);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A private network namespace, deleted on drop.
struct Netns(String);

impl Netns {
    fn new(name: &str) -> Option<Netns> {
        let _ = Command::new("ip").args(["netns", "del", name]).status();
        let ok = Command::new("ip")
            .args(["netns", "add", name])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return None;
        }
        let ns = Netns(name.to_string());
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        Some(ns)
    }

    fn exec(&self, args: &[&str]) -> std::process::Output {
        Command::new("ip")
            .args(["netns", "exec", &self.0])
            .args(args)
            .output()
            .unwrap()
    }

    fn spawn(&self, args: &[&str]) -> Child {
        Command::new("ip")
            .args(["netns", "exec", &self.0])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

#[test]
fn live_nflog_burst_gives_uacctds_flows() {
    if !need(&["nft", "nfcapd", "nfdump", "uacctd", "socat", "ping"]) {
        return;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        assert!(!ci(), "needs root (network namespace, nftables)");
        eprintln!("skipped: needs root (network namespace, nftables)");
        return;
    }
    let dir = tmpdir("live");
    let Some(ns) = Netns::new(&format!("fl-live{}", std::process::id())) else {
        panic!("cannot create a network namespace although root");
    };
    let (g1, g2) = (31, 32);
    let rules = format!(
        "table inet fl {{ chain in {{ type filter hook input priority 0; policy accept;\n\
         udp dport {{ 40001, 40002 }} accept\n\
         meta l4proto {{ tcp, udp, icmp }} log group {g1} log group {g2}\n}}\n}}\n"
    );
    let rf = dir.join("rules.nft");
    std::fs::write(&rf, rules).unwrap();
    let o = ns.exec(&["nft", "-f", rf.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let (p1, p2) = (40001, 40002);
    let mut ours = Nfcapd::start(Some(&ns.0), p1, dir.join("ours"));
    let mut theirs = Nfcapd::start(Some(&ns.0), p2, dir.join("uacctd"));
    // (The meters' own exports to the collectors above are not logged.)
    // Same idle timeouts on both sides: 2 s, looked at every second.
    let conf = dir.join("u.conf");
    std::fs::write(
        &conf,
        format!(
            "[global]\nlogfile=\"{d}/ulogd.log\"\nloglevel=3\n\
             stack=log:NFLOG,base:BASE,meter:FLOW\n\
             stack=meter:FLOW,ipfix:IPFIX\n\
             [log]\ngroup={g1}\n\
             [meter]\ntcp_timeout=2\ntcp_end_timeout=2\nudp_timeout=2\nicmp_timeout=2\nother_timeout=2\n\
             [ipfix]\ndest=\"udp://127.0.0.1:{p1}\"\n",
            d = dir.display()
        ),
    )
    .unwrap();
    let ua = dir.join("uacctd.conf");
    std::fs::write(
        &ua,
        format!(
            "daemonize: false\nuacctd_group: {g2}\nuacctd_nl_size: 8388608\nplugins: nfprobe\n\
             nfprobe_receiver: 127.0.0.1:{p2}\nnfprobe_version: 10\n\
             nfprobe_timeouts: tcp=2:tcp.rst=2:tcp.fin=2:udp=2:icmp=2:general=2:expint=1\n\
             aggregate: src_host,dst_host,src_port,dst_port,proto\n"
        ),
    )
    .unwrap();
    let ulogd = ns.spawn(&[env!("CARGO_BIN_EXE_ulogd"), "-c", conf.to_str().unwrap()]);
    let uacctd = ns.spawn(&["uacctd", "-f", ua.to_str().unwrap()]);
    std::thread::sleep(Duration::from_millis(1500));

    // The burst: UDP to three ports (1, 2, 3 datagrams), pings, one TCP transfer.
    for (port, n) in [(5001u16, 1), (5002, 2), (5003, 3)] {
        for i in 0..n {
            let msg = format!("datagram {i}\n");
            let mut c = Command::new("ip")
                .args(["netns", "exec", &ns.0, "socat", "-u", "-"])
                .arg(format!("UDP:127.0.0.1:{port},sourceport={}", port + 1000))
                .stdin(Stdio::piped())
                .spawn()
                .unwrap();
            use std::io::Write;
            c.stdin.take().unwrap().write_all(msg.as_bytes()).unwrap();
            c.wait().unwrap();
        }
    }
    let o = ns.exec(&["ping", "-c", "4", "-i", "0.2", "127.0.0.1"]);
    assert!(o.status.success());
    let mut srv = ns.spawn(&["socat", "-u", "TCP-LISTEN:6001,reuseaddr", "OPEN:/dev/null"]);
    std::thread::sleep(Duration::from_millis(300));
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "head -c 100000 /dev/zero | ip netns exec {} socat -u - TCP:127.0.0.1:6001,sourceport=7001",
            ns.0
        ))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let _ = srv.wait();
    // Both meters expire every flow by idle timeout (uacctd exports nothing at exit).
    std::thread::sleep(Duration::from_secs(5));
    for c in [&ulogd, &uacctd] {
        kill(c, libc::SIGINT);
    }
    let (mut ulogd, mut uacctd) = (ulogd, uacctd);
    let _ = ulogd.wait();
    let _ = uacctd.wait();
    std::thread::sleep(Duration::from_millis(300));
    let (a, b) = (ours.flows(true), theirs.flows(true));
    let log = std::fs::read_to_string(dir.join("ulogd.log")).unwrap_or_default();
    eprintln!("FLOW:\n{}\nuacctd:\n{}\n{log}", a.join("\n"), b.join("\n"));
    assert!(
        a.iter()
            .any(|l| l.starts_with("17|127.0.0.1|6003|127.0.0.1|5003|3|")),
        "{a:?}"
    );
    assert!(
        a.iter()
            .any(|l| l.starts_with("6|127.0.0.1|7001|127.0.0.1|6001|")),
        "{a:?}"
    );
    assert_eq!(a, b);
    drop(ns);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sigusr2_exports_every_flow_while_running() {
    let dir = tmpdir("usr2");
    let out = dir.join("flows.json");
    let conf = dir.join("u.conf");
    std::fs::write(
        &conf,
        format!(
            "[global]\nlogfile=\"{d}/daemon.log\"\nloglevel=3\n\
             stack=rep:REPLAY,base:BASE,meter:FLOW\n\
             stack=meter:FLOW,ip2str:IP2STR,json:JSON\n\
             [rep]\nfile=\"{pcap}\"\nloop=1\nspeed=1\n\
             [meter]\n[json]\nfile=\"{o}\"\nsync=1\n",
            d = dir.display(),
            pcap = capture().display(),
            o = out.display()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ulogd"))
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let lines = || {
        std::fs::read_to_string(&out)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    std::thread::sleep(Duration::from_millis(1500));
    // Default timeouts are minutes: nothing has left yet.
    assert!(lines().is_empty(), "{:?}", lines());
    kill(&child, libc::SIGUSR2);
    let t0 = std::time::Instant::now();
    while lines().is_empty() && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let got = lines();
    kill(&child, libc::SIGTERM);
    let status = child.wait().unwrap();
    assert!(status.success());
    assert!(!got.is_empty(), "SIGUSR2 exported nothing");
    for l in &got {
        assert!(l.contains("\"flow.end.reason\": 4"), "{l}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_shows_the_stacking_graph_in_ini_and_toml() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut graphs = Vec::new();
    for f in ["flow-meter.conf", "flow-meter.toml"] {
        let o = Command::new(env!("CARGO_BIN_EXE_ulogd"))
            .args(["--check", "-c"])
            .arg(root.join(f))
            .output()
            .unwrap();
        let text =
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{f}: {text}");
        assert!(
            text.contains("hop meter1:FLOW ends 1 stack(s) and heads 2 stack(s):"),
            "{f}: {text}"
        );
        assert!(
            text.contains("meter1  ->  meter1:FLOW,ip2str1:IP2STR,json1:JSON"),
            "{text}"
        );
        graphs.push(
            text.lines()
                .filter(|l| l.contains("->") || l.contains("hop "))
                .map(str::to_string)
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(graphs[0], graphs[1]);
    // A cycle is refused, naming the stacks.
    let dir = tmpdir("cycle");
    let c = dir.join("c.conf");
    std::fs::write(
        &c,
        "[global]\nstack=r:REPLAY,b:BASE,m1:FLOW\nstack=m1:FLOW,m2:FLOW\nstack=m2:FLOW,m1:FLOW\n[r]\nfile=\"x.pcap\"\n[m1]\n[m2]\n",
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_ulogd"))
        .args(["--check", "-c"])
        .arg(&c)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&o.stderr).into_owned() + &String::from_utf8_lossy(&o.stdout);
    assert!(!o.status.success(), "{text}");
    assert!(
        text.contains("cycle") && text.contains("'m1:FLOW,m2:FLOW' (line 3)"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ipfix_records_carry_flow_end_reason_as_tshark_decodes_it() {
    if !need(&["tshark", "socat"]) {
        return;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        assert!(!ci(), "needs root (network namespace, capture)");
        eprintln!("skipped: needs root (network namespace, capture)");
        return;
    }
    let dir = tmpdir("reason");
    let ns = Netns::new(&format!("fl-ts{}", std::process::id())).expect("netns");
    let cap = dir.join("ipfix.pcap");
    let mut tshark = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.0,
            "tshark",
            "-q",
            "-i",
            "lo",
            "-f",
            "udp port 4739",
            "-w",
        ])
        .arg(&cap)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // A receiver, so the exporter's datagrams are not refused.
    let mut sink = ns.spawn(&["socat", "-u", "UDP-RECV:4739", "OPEN:/dev/null"]);
    std::thread::sleep(Duration::from_millis(1500));
    // clock=packet and 1 s idle timeouts: flows idle for a second of capture time
    // leave as idle (1) while the replay goes on; the rest at shutdown (4).
    let conf = dir.join("u.conf");
    std::fs::write(
        &conf,
        format!(
            "[global]\nlogfile=\"stdout\"\nloglevel=3\n\
             stack=rep:REPLAY,base:BASE,meter:FLOW\nstack=meter:FLOW,ipfix:IPFIX\n\
             [rep]\nfile=\"{}\"\n\
             [meter]\nclock=\"packet\"\nudp_timeout=1\nicmp_timeout=1\ntcp_end_timeout=1\n\
             [ipfix]\ndest=\"udp://127.0.0.1:4739\"\n",
            capture().display()
        ),
    )
    .unwrap();
    let o = ns.exec(&[env!("CARGO_BIN_EXE_ulogd"), "-c", conf.to_str().unwrap()]);
    let log = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{log}");
    std::thread::sleep(Duration::from_millis(500));
    kill(&tshark, libc::SIGINT);
    let _ = tshark.wait();
    let _ = sink.kill();
    let _ = sink.wait();
    let o = Command::new("tshark")
        .arg("-r")
        .arg(&cap)
        .args([
            "-d",
            "udp.port==4739,cflow",
            "-T",
            "fields",
            "-e",
            "cflow.flow_end_reason",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    let mut reasons: Vec<u8> = text
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|s| s.parse().ok())
        .collect();
    reasons.sort();
    eprintln!("{log}\nreasons: {reasons:?}");
    assert_eq!(reasons.len(), 20, "{text}");
    assert!(reasons.contains(&1) && reasons.contains(&4), "{reasons:?}");
    assert!(reasons.iter().all(|r| [1, 3, 4].contains(r)), "{reasons:?}");
    drop(ns);
    let _ = std::fs::remove_dir_all(&dir);
}
