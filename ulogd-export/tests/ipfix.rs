//! IPFIX / NFLOW9 outputs and the IPFIXCOL collector, end to end: our exporter →
//! our collector, and our exporter → collectors nobody here wrote (tshark's
//! decoder, nfdump's nfcapd).

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ulogd_core::testing::{collect_sink, Collected, OwnedValue, TestEvent, TestSource};
use ulogd_core::{Engine, KeyDef, KeyType, Registry, PEN_NETFILTER};

static N: AtomicUsize = AtomicUsize::new(0);

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

fn tmpdir() -> PathBuf {
    let d = std::env::temp_dir().join(unique("ulogd-ipfix"));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn free_port() -> u16 {
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    let t = std::net::TcpListener::bind(("127.0.0.1", u.local_addr().unwrap().port()));
    let p = u.local_addr().unwrap().port();
    drop(t);
    p
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// NFCT's keys (ulogd2 names, types and IPFIX annotations).
fn flow_keys() -> Vec<KeyDef> {
    vec![
        KeyDef::new("orig.ip.saddr", KeyType::IpAddr).ietf(8),
        KeyDef::new("orig.ip.daddr", KeyType::IpAddr).ietf(12),
        KeyDef::new("orig.ip.protocol", KeyType::U8).ietf(4),
        KeyDef::new("orig.l4.sport", KeyType::U16).ietf(7),
        KeyDef::new("orig.l4.dport", KeyType::U16).ietf(11),
        KeyDef::new("orig.raw.pktlen", KeyType::U64).ietf(1),
        KeyDef::new("orig.raw.pktcount", KeyType::U64).ietf(2),
        KeyDef::new("reply.ip.saddr", KeyType::IpAddr).ietf(225),
        KeyDef::new("reply.ip.daddr", KeyType::IpAddr).ietf(226),
        KeyDef::new("reply.ip.protocol", KeyType::U8).ietf(4),
        KeyDef::new("reply.l4.sport", KeyType::U16).ietf(227),
        KeyDef::new("reply.l4.dport", KeyType::U16).ietf(228),
        KeyDef::new("reply.raw.pktlen", KeyType::U64).ipfix(29305, 1),
        KeyDef::new("reply.raw.pktcount", KeyType::U64).ipfix(29305, 2),
        KeyDef::new("flow.start.sec", KeyType::U32).ietf(150),
        KeyDef::new("flow.start.usec", KeyType::U32),
        KeyDef::new("flow.end.sec", KeyType::U32).ietf(151),
        KeyDef::new("flow.end.usec", KeyType::U32),
        KeyDef::new("ct.mark", KeyType::U32).ipfix(PEN_NETFILTER, 4),
        KeyDef::new("ct.id", KeyType::U32).ipfix(PEN_NETFILTER, 6),
        KeyDef::new("ct.event", KeyType::U32),
    ]
}

#[derive(Clone, Debug)]
struct Flow {
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    ports: Option<(u16, u16)>,
    /// Reply tuple source/destination and ports (NAT when not the swap).
    rsrc: IpAddr,
    rdst: IpAddr,
    rports: Option<(u16, u16)>,
    bytes: (u64, u64),
    pkts: (u64, u64),
    start: (u32, u32),
    end: (u32, u32),
    mark: u32,
    id: u32,
    event: u32,
}

fn v4(s: &str) -> IpAddr {
    IpAddr::V4(s.parse::<Ipv4Addr>().unwrap())
}
fn v6(s: &str) -> IpAddr {
    IpAddr::V6(s.parse::<Ipv6Addr>().unwrap())
}

impl Flow {
    fn plain(src: IpAddr, dst: IpAddr, proto: u8, ports: Option<(u16, u16)>, id: u32) -> Flow {
        Flow {
            src,
            dst,
            proto,
            ports,
            rsrc: dst,
            rdst: src,
            rports: ports.map(|(a, b)| (b, a)),
            bytes: (1000 + id as u64, 5000 + id as u64),
            pkts: (10, 8),
            start: (1_700_000_000 + id, 250_000),
            end: (1_700_000_005 + id, 500_000),
            mark: 7,
            id,
            event: 4,
        }
    }

    fn event(&self) -> TestEvent {
        use OwnedValue::*;
        let mut e = vec![
            (0, Addr(self.src)),
            (1, Addr(self.dst)),
            (2, Uint(self.proto as u64)),
            (5, Uint(self.bytes.0)),
            (6, Uint(self.pkts.0)),
            (7, Addr(self.rsrc)),
            (8, Addr(self.rdst)),
            (9, Uint(self.proto as u64)),
            (12, Uint(self.bytes.1)),
            (13, Uint(self.pkts.1)),
            (14, Uint(self.start.0 as u64)),
            (15, Uint(self.start.1 as u64)),
            (16, Uint(self.end.0 as u64)),
            (17, Uint(self.end.1 as u64)),
            (18, Uint(self.mark as u64)),
            (19, Uint(self.id as u64)),
            (20, Uint(self.event as u64)),
        ];
        if let (Some((s, d)), Some((rs, rd))) = (self.ports, self.rports) {
            e.push((3, Uint(s as u64)));
            e.push((4, Uint(d as u64)));
            e.push((10, Uint(rs as u64)));
            e.push((11, Uint(rd as u64)));
        }
        e
    }

    /// The keys the collector must give back (every key fed, but `ct.event`,
    /// which is only exported as a NAT event).
    fn expected(&self) -> Vec<(String, OwnedValue)> {
        let keys = flow_keys();
        let mut v: Vec<(String, OwnedValue)> = self
            .event()
            .into_iter()
            .filter(|(i, _)| *i != 20)
            .map(|(i, val)| (keys[i].name.to_string(), val))
            .collect();
        // The collector gives times at millisecond resolution.
        for (k, val) in v.iter_mut() {
            if k.ends_with(".usec") {
                if let OwnedValue::Uint(u) = val {
                    *u = *u / 1000 * 1000;
                }
            }
        }
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

fn sample_flows() -> Vec<Flow> {
    let mut nat = Flow::plain(v4("192.168.1.10"), v4("8.8.8.8"), 17, Some((5000, 53)), 2);
    nat.rsrc = v4("8.8.8.8");
    nat.rdst = v4("203.0.113.1");
    nat.rports = Some((53, 61000));
    vec![
        Flow::plain(v4("10.0.0.1"), v4("10.0.0.2"), 6, Some((40000, 80)), 1),
        nat,
        Flow::plain(
            v6("2001:db8::1"),
            v6("2001:db8::2"),
            6,
            Some((1234, 443)),
            3,
        ),
        Flow::plain(v4("10.0.0.3"), v4("10.0.0.4"), 1, None, 4),
    ]
}

fn registry(events: Vec<TestEvent>) -> (Registry, Collected) {
    let mut reg = Registry::new();
    ulogd_export::register(&mut reg);
    ulogd_netfilter::register(&mut reg);
    reg.add(TestSource::spec("NFCTTEST", flow_keys(), events));
    let (spec, seen) = collect_sink("COLLECT");
    reg.add(spec);
    (reg, seen)
}

/// Runs the exporter over `events` until they are all sent.
fn export(plugin: &str, options: &str, events: Vec<TestEvent>) -> ulogd_core::Report {
    let (reg, _) = registry(events);
    ulogd_core::testing::run(
        &reg,
        &format!("src:NFCTTEST,out:{plugin}"),
        &format!("[out]\n{options}\n"),
        0,
    )
    .unwrap()
}

/// A running collector engine.
struct Col {
    handle: ulogd_core::EngineHandle,
    thread: Option<std::thread::JoinHandle<ulogd_core::Report>>,
    seen: Collected,
}

impl Col {
    fn start(listen: &str) -> Col {
        let (reg, seen) = registry(vec![]);
        let text = format!(
            "[global]\nlogfile=\"stdout\"\nstack=col:IPFIXCOL,out:COLLECT\n[col]\nlisten=\"{listen}\"\n"
        );
        let engine = Engine::from_str(&reg, "test.conf", &text).unwrap();
        let handle = engine.handle();
        let thread = std::thread::spawn(move || engine.run().unwrap());
        std::thread::sleep(Duration::from_millis(200));
        Col {
            handle,
            thread: Some(thread),
            seen,
        }
    }

    fn wait(&self, n: usize, secs: u64) -> Vec<Vec<(String, OwnedValue)>> {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(secs) {
            if self.seen.lock().unwrap().len() >= n {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(100));
        self.seen.lock().unwrap().clone()
    }

    fn stop(mut self) -> ulogd_core::Report {
        self.handle.stop();
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for Col {
    fn drop(&mut self) {
        self.handle.stop();
    }
}

fn only_flow_keys(row: &[(String, OwnedValue)]) -> Vec<(String, OwnedValue)> {
    let mut v: Vec<_> = row
        .iter()
        .filter(|(k, _)| !k.starts_with("ipfix.") && k != "ct.event")
        .cloned()
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn get<'a>(row: &'a [(String, OwnedValue)], k: &str) -> Option<&'a OwnedValue> {
    row.iter().find(|x| x.0 == k).map(|x| &x.1)
}

fn roundtrip(transport: &str) {
    let port = free_port();
    let col = Col::start(&format!("{transport}://127.0.0.1:{port}"));
    let flows = sample_flows();
    let events: Vec<TestEvent> = flows.iter().map(Flow::event).collect();
    let rep = export(
        "IPFIX",
        &format!("dest=\"{transport}://127.0.0.1:{port}\"\ndomain_id=9"),
        events,
    );
    assert_eq!(rep.get("out", "records"), Some(4), "{rep}");
    let rows = col.wait(4, 5);
    let crep = col.stop();
    assert_eq!(rows.len(), 4, "{crep}");
    for (f, row) in flows.iter().zip(&rows) {
        assert_eq!(only_flow_keys(row), f.expected(), "flow {}", f.id);
        assert_eq!(get(row, "ipfix.domain"), Some(&OwnedValue::Uint(9)));
        assert_eq!(get(row, "ipfix.version"), Some(&OwnedValue::Uint(10)));
    }
    assert_eq!(crep.get("col", "seq_gaps"), Some(0), "{crep}");
    assert_eq!(crep.get("col", "bad_messages"), Some(0), "{crep}");
}

#[test]
fn roundtrip_ipfix_udp_biflow_gives_back_the_keys() {
    roundtrip("udp");
}

#[test]
fn roundtrip_ipfix_tcp_biflow_gives_back_the_keys() {
    roundtrip("tcp");
}

#[test]
fn roundtrip_nflow9_uniflows_and_nat_events() {
    let port = free_port();
    let col = Col::start(&format!("udp://127.0.0.1:{port}"));
    let flows = sample_flows();
    // The NATed flow's NEW event first, then every DESTROY.
    let mut new = flows[1].clone();
    new.event = 1;
    let mut events = vec![new.event()];
    events.extend(flows.iter().map(Flow::event));
    let rep = export(
        "NFLOW9",
        &format!("dest=\"udp://127.0.0.1:{port}\"\nnat_events=1"),
        events,
    );
    // 1 NAT create + 4 orig + 4 reply records.
    assert_eq!(rep.get("out", "records"), Some(9), "{rep}");
    let rows = col.wait(9, 5);
    let crep = col.stop();
    assert_eq!(rows.len(), 9, "{crep}");
    // NAT create: pre- and post-NAT tuples.
    let r = &rows[0];
    assert_eq!(get(r, "ct.event"), Some(&OwnedValue::Uint(1)));
    assert_eq!(
        get(r, "orig.ip.saddr"),
        Some(&OwnedValue::Addr(v4("192.168.1.10")))
    );
    assert_eq!(
        get(r, "reply.ip.daddr"),
        Some(&OwnedValue::Addr(v4("203.0.113.1")))
    );
    assert_eq!(get(r, "reply.l4.dport"), Some(&OwnedValue::Uint(61000)));
    // Flow 1: orig then reply uni-flow.
    let (o, rp) = (&rows[1], &rows[2]);
    assert_eq!(
        get(o, "orig.ip.saddr"),
        Some(&OwnedValue::Addr(v4("10.0.0.1")))
    );
    assert_eq!(get(o, "orig.raw.pktlen"), Some(&OwnedValue::Uint(1001)));
    assert_eq!(
        get(rp, "orig.ip.saddr"),
        Some(&OwnedValue::Addr(v4("10.0.0.2")))
    );
    assert_eq!(get(rp, "orig.l4.sport"), Some(&OwnedValue::Uint(80)));
    assert_eq!(get(rp, "orig.raw.pktlen"), Some(&OwnedValue::Uint(5001)));
    assert_eq!(get(rp, "ipfix.version"), Some(&OwnedValue::Uint(9)));
    // NAT delete on the NATed flow's DESTROY.
    assert_eq!(get(&rows[3], "ct.event"), Some(&OwnedValue::Uint(4)));
    assert_eq!(
        get(&rows[3], "reply.ip.daddr"),
        Some(&OwnedValue::Addr(v4("203.0.113.1")))
    );
    // IPv6 record.
    assert_eq!(
        get(&rows[5], "orig.ip.daddr"),
        Some(&OwnedValue::Addr(v6("2001:db8::2")))
    );
    assert_eq!(crep.get("col", "seq_gaps"), Some(0), "{crep}");
}

/// Datagrams a plain UDP socket receives while `f` runs.
fn capture_udp(f: impl FnOnce(u16)) -> (u16, Vec<Vec<u8>>) {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = s.local_addr().unwrap().port();
    f(port);
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    while let Ok(n) = s.recv(&mut buf) {
        out.push(buf[..n].to_vec());
    }
    (port, out)
}

/// A pcap of IPv4/UDP packets 127.0.0.1:40000 → 127.0.0.1:`port` (LINKTYPE_RAW).
fn write_pcap(path: &Path, port: u16, dgrams: &[Vec<u8>]) {
    let mut f = std::fs::File::create(path).unwrap();
    let mut h = Vec::new();
    h.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&4u16.to_le_bytes());
    h.extend_from_slice(&[0; 8]);
    h.extend_from_slice(&65535u32.to_le_bytes());
    h.extend_from_slice(&101u32.to_le_bytes());
    for (i, d) in dgrams.iter().enumerate() {
        let tot = 28 + d.len();
        let mut ip = vec![
            0x45,
            0,
            (tot >> 8) as u8,
            tot as u8,
            0,
            i as u8,
            0x40,
            0,
            64,
            17,
            0,
            0,
        ];
        ip.extend_from_slice(&[127, 0, 0, 1, 127, 0, 0, 1]);
        let mut sum: u32 = ip
            .chunks(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]) as u32)
            .sum();
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        let cs = !(sum as u16);
        ip[10..12].copy_from_slice(&cs.to_be_bytes());
        let ul = 8 + d.len();
        ip.extend_from_slice(&40000u16.to_be_bytes());
        ip.extend_from_slice(&port.to_be_bytes());
        ip.extend_from_slice(&(ul as u16).to_be_bytes());
        ip.extend_from_slice(&[0, 0]);
        ip.extend_from_slice(d);
        h.extend_from_slice(&(1_700_000_100u32 + i as u32).to_le_bytes());
        h.extend_from_slice(&0u32.to_le_bytes());
        h.extend_from_slice(&(ip.len() as u32).to_le_bytes());
        h.extend_from_slice(&(ip.len() as u32).to_le_bytes());
        h.extend_from_slice(&ip);
    }
    f.write_all(&h).unwrap();
}

fn tshark(pcap: &Path, port: u16) -> String {
    let out = Command::new("tshark")
        .args(["-r"])
        .arg(pcap)
        .args(["-V", "-d"])
        .arg(format!("udp.port=={port},cflow"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn assert_clean(text: &str) {
    for bad in [
        "Malformed",
        "Expert Info (Error",
        "Expert Info (Warning",
        "expected",
    ] {
        assert!(
            !text.contains(bad),
            "tshark reports {bad:?}:\n{}",
            text.lines()
                .filter(|l| l.contains(bad))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

fn tshark_case(plugin: &str, options: &str) -> String {
    let flows = sample_flows();
    // Enough flows for several messages: sequence numbers are checked too.
    let mut events: Vec<TestEvent> = Vec::new();
    for _ in 0..10 {
        events.extend(flows.iter().map(Flow::event));
    }
    let (port, dgrams) = capture_udp(|port| {
        let rep = export(
            plugin,
            &format!("dest=\"udp://127.0.0.1:{port}\"\nmtu=512\nnth_template=2\n{options}"),
            events,
        );
        assert_eq!(rep.get("out", "lost"), Some(0), "{rep}");
    });
    assert!(dgrams.len() > 3, "{} datagrams", dgrams.len());
    let d = tmpdir();
    let pcap = d.join("export.pcap");
    write_pcap(&pcap, port, &dgrams);
    let text = tshark(&pcap, port);
    let _ = std::fs::remove_dir_all(&d);
    assert_clean(&text);
    text
}

#[test]
fn tshark_decodes_ipfix_without_errors() {
    if !have("tshark") {
        eprintln!("skipped: tshark is not installed");
        return;
    }
    let text = tshark_case("IPFIX", "nat_events=1");
    for want in [
        "Version: 10",
        "SrcAddr: 10.0.0.1",
        "DstAddr: 10.0.0.2",
        "SrcPort: 40000",
        "DstPort: 80",
        "SrcAddr: 2001:db8::1",
        "Octets: 1001",
        "Packets: 10",
        "Post NAT Source IPv4 Address: 203.0.113.1",
        "Post NAPT Source Transport Port: 61000",
        "Post NAT Destination IPv4 Address: 8.8.8.8",
        "Nat Event: NAT44 session delete",
        "Octets: 5001 (Reverse Type 1 BYTES)",
        "Packets: 8 (Reverse Type 2 PKTS)",
        "[Duration: 5.250000000 seconds (milliseconds)]",
        "StartTime: Nov 14, 2023 22:13:21.250000000 UTC",
        "EndTime: Nov 14, 2023 22:13:26.500000000 UTC",
        "Enterprise Private entry: (netfilter/iptables project) Type 4: Value (hex bytes): 00 00 00 07",
        "PacketsExp:",
    ] {
        assert!(text.contains(want), "tshark output lacks {want:?}");
    }
}

#[test]
fn tshark_decodes_nflow9_without_errors() {
    if !have("tshark") {
        eprintln!("skipped: tshark is not installed");
        return;
    }
    let text = tshark_case("NFLOW9", "");
    for want in [
        "Version: 9",
        "SrcAddr: 10.0.0.1",
        "SrcAddr: 10.0.0.2",
        "SrcPort: 40000",
        "SrcAddr: 2001:db8::1",
        "Octets: 5001",
        "Post NAT Source IPv4 Address: 203.0.113.1",
    ] {
        assert!(text.contains(want), "tshark output lacks {want:?}");
    }
}

/// nfcapd on `port` writing into a scratch directory; killed (and the directory
/// removed) on drop.
struct Nfcapd {
    child: std::process::Child,
    dir: PathBuf,
}

impl Nfcapd {
    fn start(port: u16) -> Nfcapd {
        let dir = tmpdir();
        let child = Command::new("nfcapd")
            .args(["-b", "127.0.0.1", "-p", &port.to_string(), "-w"])
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(500));
        Nfcapd { child, dir }
    }

    /// Stops nfcapd (it writes its file) and prints the flows with nfdump.
    fn dump(&mut self, fmt: &str) -> String {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
        let out = Command::new("nfdump")
            .arg("-R")
            .arg(&self.dir)
            .args(["-q", "-N", "-o", &format!("fmt:{fmt}")])
            .env("TZ", "UTC")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    }
}

impl Drop for Nfcapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn nfdump_case(plugin: &str, options: &str) -> Vec<String> {
    let port = free_port();
    let mut nf = Nfcapd::start(port);
    let events: Vec<TestEvent> = sample_flows().iter().map(Flow::event).collect();
    let rep = export(
        plugin,
        &format!("dest=\"udp://127.0.0.1:{port}\"\n{options}"),
        events,
    );
    assert_eq!(rep.get("out", "lost"), Some(0), "{rep}");
    std::thread::sleep(Duration::from_millis(300));
    let text = nf.dump("%ts|%te|%pr|%sa|%sp|%da|%dp|%pkt|%byt|%xsa|%xsp|%xda|%xdp");
    eprintln!("{text}");
    text.lines()
        .map(|l| l.split('|').map(str::trim).collect::<Vec<_>>().join("|"))
        .filter(|l| l.contains('|'))
        .collect()
}

#[test]
fn nfcapd_stores_ipfix_flows() {
    if !have("nfcapd") || !have("nfdump") {
        eprintln!("skipped: nfdump is not installed");
        return;
    }
    let lines = nfdump_case("IPFIX", "nat_events=1");
    let z = "0.0.0.0|0|0.0.0.0|0";
    let want = vec![
        format!("2023-11-14 22:13:21.250|2023-11-14 22:13:26.500|6|10.0.0.1|40000|10.0.0.2|80|10|1001|{z}"),
        "2023-11-14 22:13:22.250|2023-11-14 22:13:27.500|17|192.168.1.10|5000|8.8.8.8|53|10|1002|203.0.113.1|61000|8.8.8.8|53".to_string(),
        format!("2023-11-14 22:13:23.250|2023-11-14 22:13:28.500|6|2001:db8::1|1234|2001:db8::2|443|10|1003|{z}"),
        format!("2023-11-14 22:13:24.250|2023-11-14 22:13:29.500|1|10.0.0.3|0|10.0.0.4|0.0|10|1004|{z}"),
    ];
    assert_eq!(lines, want);
}

#[test]
fn nfcapd_stores_nflow9_flows() {
    if !have("nfcapd") || !have("nfdump") {
        eprintln!("skipped: nfdump is not installed");
        return;
    }
    let lines = nfdump_case("NFLOW9", "");
    let z = "0.0.0.0|0|0.0.0.0|0";
    let want = vec![
        format!("2023-11-14 22:13:21.250|2023-11-14 22:13:26.500|6|10.0.0.1|40000|10.0.0.2|80|10|1001|{z}"),
        format!("2023-11-14 22:13:21.250|2023-11-14 22:13:26.500|6|10.0.0.2|80|10.0.0.1|40000|8|5001|{z}"),
        "2023-11-14 22:13:22.250|2023-11-14 22:13:27.500|17|192.168.1.10|5000|8.8.8.8|53|10|1002|203.0.113.1|61000|8.8.8.8|53".to_string(),
        format!("2023-11-14 22:13:22.250|2023-11-14 22:13:27.500|17|8.8.8.8|53|203.0.113.1|61000|8|5002|{z}"),
        format!("2023-11-14 22:13:23.250|2023-11-14 22:13:28.500|6|2001:db8::1|1234|2001:db8::2|443|10|1003|{z}"),
        format!("2023-11-14 22:13:23.250|2023-11-14 22:13:28.500|6|2001:db8::2|443|2001:db8::1|1234|8|5003|{z}"),
        format!("2023-11-14 22:13:24.250|2023-11-14 22:13:29.500|1|10.0.0.3|0|10.0.0.4|0.0|10|1004|{z}"),
        format!("2023-11-14 22:13:24.250|2023-11-14 22:13:29.500|1|10.0.0.4|0|10.0.0.3|0.0|8|5004|{z}"),
    ];
    assert_eq!(lines, want);
}

/// A source emitting `n` flows, one every `every`, from a timer.
struct Paced {
    n: usize,
    next: usize,
    every: Duration,
}

impl ulogd_core::Source for Paced {
    fn start(
        &mut self,
        setup: &mut dyn ulogd_core::SourceSetup,
    ) -> Result<(), ulogd_core::PluginError> {
        setup.add_timer(self.every, Some(self.every));
        Ok(())
    }
    fn run(
        &mut self,
        _wake: ulogd_core::Wake,
        emit: &mut dyn ulogd_core::Emit,
    ) -> Result<ulogd_core::Flow, ulogd_core::PluginError> {
        if self.next >= self.n {
            return Ok(ulogd_core::Flow::Finished);
        }
        let f = Flow::plain(
            v4("10.1.0.1"),
            v4("10.1.0.2"),
            17,
            Some((1000, 2000)),
            self.next as u32,
        );
        let e = f.event();
        if emit
            .emit(&mut |ev| {
                for (i, v) in &e {
                    ulogd_core::testing::set_owned(ev, *i, v);
                }
                true
            })
            .is_ok()
        {
            self.next += 1;
        }
        Ok(ulogd_core::Flow::Idle)
    }
}

fn paced_spec(n: usize, every: Duration) -> ulogd_core::PluginSpec {
    ulogd_core::PluginSpec {
        name: "PACED",
        aliases: &[],
        kind: ulogd_core::Kind::Source,
        summary: "test: flows from a timer",
        options: vec![],
        inputs: vec![],
        outputs: flow_keys(),
        wildcard: false,
        build: Box::new(move |_| {
            Ok(ulogd_core::Built::Source {
                source: Box::new(Paced { n, next: 0, every }),
                outputs: flow_keys(),
            })
        }),
    }
}

fn ids(rows: &[Vec<(String, OwnedValue)>]) -> Vec<u64> {
    let mut v: Vec<u64> = rows
        .iter()
        .filter_map(|r| match get(r, "ct.id") {
            Some(OwnedValue::Uint(x)) => Some(*x),
            _ => None,
        })
        .collect();
    v.sort();
    v
}

#[test]
fn tcp_collector_restart_loses_nothing() {
    let port = free_port();
    let n = 120;
    let col1 = Col::start(&format!("tcp://127.0.0.1:{port}"));
    let mut reg = Registry::new();
    ulogd_export::register(&mut reg);
    reg.add(paced_spec(n, Duration::from_millis(20)));
    let exporter = std::thread::spawn(move || {
        ulogd_core::testing::run(
            &reg,
            "src:PACED,out:IPFIX",
            &format!("[out]\ndest=\"tcp://127.0.0.1:{port}\"\nflush_ms=100\nqueue_max=64\n"),
            0,
        )
        .unwrap()
    });
    // Let some flows through, restart the collector mid-stream.
    std::thread::sleep(Duration::from_millis(700));
    let r1 = col1.stop();
    let first = r1.get("col", "records").unwrap();
    std::thread::sleep(Duration::from_millis(600));
    let col2 = Col::start(&format!("tcp://127.0.0.1:{port}"));
    let rep = exporter.join().unwrap();
    let rows2 = col2.wait(n - first as usize, 10);
    let r2 = col2.stop();
    assert!(first > 0 && first < n as u64, "first collector got {first}");
    assert_eq!(rep.get("out", "lost"), Some(0), "{rep}");
    assert!(rep.get("out", "connects").unwrap() >= 2, "{rep}");
    let got = first + r2.get("col", "records").unwrap();
    assert_eq!(
        got, n as u64,
        "exporter: {rep}\ncollector 1: {r1}\ncollector 2: {r2}"
    );
    // The second collector got the rest, in order, without duplicates.
    let second = ids(&rows2);
    let want: Vec<u64> = (first..n as u64).collect();
    assert_eq!(second, want);
    assert_eq!(r2.get("col", "no_template"), Some(0), "{r2}");
}

#[test]
fn udp_sequence_gaps_are_detected_by_the_collector() {
    // Messages 2 and 3 of a capture are not delivered: the collector counts the gap
    // and the records it missed.
    let events: Vec<TestEvent> = (0..40)
        .map(|i| Flow::plain(v4("10.2.0.1"), v4("10.2.0.2"), 6, Some((1, 2)), i).event())
        .collect();
    let (_, dgrams) = capture_udp(|port| {
        export(
            "IPFIX",
            &format!("dest=\"udp://127.0.0.1:{port}\"\nmtu=400\nnth_template=0"),
            events,
        );
    });
    assert!(dgrams.len() > 5);
    let port = free_port();
    let col = Col::start(&format!("udp://127.0.0.1:{port}"));
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    use ulogd_export::ipfix::wire::HeaderRepr;
    let seq = |i: usize| HeaderRepr::parse(&dgrams[i]).unwrap().sequence;
    // What the exporter says it sent in messages 2 and 3.
    let missed = seq(4) - seq(2);
    assert!(missed > 0);
    for (i, d) in dgrams.iter().enumerate() {
        if i != 2 && i != 3 {
            s.send_to(d, ("127.0.0.1", port)).unwrap();
        }
    }
    col.wait(40 - missed as usize, 5);
    let r = col.stop();
    assert_eq!(r.get("col", "seq_gaps"), Some(1), "{r}");
    assert_eq!(r.get("col", "records_missed"), Some(missed as u64), "{r}");
}

#[test]
fn collector_survives_hostile_datagrams() {
    let port = free_port();
    let col = Col::start(&format!("udp://127.0.0.1:{port}"));
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut junk: Vec<Vec<u8>> = vec![
        vec![],
        vec![0, 10],
        vec![0, 10, 0, 200, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        vec![
            0, 9, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3,
        ],
        // Template with a huge field count, then a data set for it.
        vec![
            0, 10, 0, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 8, 1, 0, 0xff, 0xff, 1, 0,
            0, 8, 0, 0, 0, 0,
        ],
    ];
    let mut x: u32 = 12345;
    for _ in 0..200 {
        let mut d = vec![0, if x & 1 == 0 { 10 } else { 9 }];
        for _ in 0..(x % 300) {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            d.push((x >> 16) as u8);
        }
        if d[1] == 10 && d.len() >= 4 {
            let l = d.len() as u16;
            d[2..4].copy_from_slice(&l.to_be_bytes());
        }
        junk.push(d);
    }
    for d in &junk {
        s.send_to(d, ("127.0.0.1", port)).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    // Still alive: a real flow after the junk is decoded.
    let f = sample_flows()[0].clone();
    export(
        "IPFIX",
        &format!("dest=\"udp://127.0.0.1:{port}\""),
        vec![f.event()],
    );
    let rows = col.wait(1, 5);
    let r = col.stop();
    assert!(r.get("col", "bad_messages").unwrap() > 0, "{r}");
    let good: Vec<_> = rows
        .iter()
        .filter(|r| get(r, "ct.id") == Some(&OwnedValue::Uint(1)))
        .collect();
    assert_eq!(good.len(), 1);
    assert_eq!(only_flow_keys(good[0]), f.expected());
}

fn json_field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let k = format!("\"{key}\": ");
    let at = line.find(&k)? + k.len();
    let rest = &line[at..];
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    Some(rest[..end].trim_matches('"'))
}

#[test]
fn nflog_packets_replayed_through_base_export_and_come_back() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../ulogd-netfilter/tests/fixtures/golden-basic");
    let golden = std::fs::read_to_string(fixtures.join("ulogd2.json")).unwrap();
    let mut reg = Registry::new();
    ulogd_export::register(&mut reg);
    ulogd_netfilter::register(&mut reg);
    let (port, dgrams) = capture_udp(|port| {
        let rep = ulogd_core::testing::run(
            &reg,
            "rep:REPLAY,base:BASE,out:IPFIX",
            &format!(
                "[rep]\nfile=\"{}\"\n[out]\ndest=\"udp://127.0.0.1:{port}\"\n",
                fixtures.join("nflog.pcap").display()
            ),
            0,
        )
        .unwrap();
        assert_eq!(rep.get("out", "records"), Some(20), "{rep}");
    });
    // tshark decodes it cleanly.
    if have("tshark") {
        let d = tmpdir();
        let pcap = d.join("nflog-export.pcap");
        write_pcap(&pcap, port, &dgrams);
        let text = tshark(&pcap, port);
        let _ = std::fs::remove_dir_all(&d);
        assert_clean(&text);
        for want in [
            "SrcAddr: 10.77.0.1",
            "SrcAddr: fd77::1",
            "DstPort: 5001",
            "DstPort: 6001",
            "Octets: 84",
            "Packets: 1",
        ] {
            assert!(text.contains(want), "tshark output lacks {want:?}");
        }
    } else {
        eprintln!("tshark part skipped: tshark is not installed");
    }
    // Our collector gives back the packets' tuples, in order.
    let cport = free_port();
    let col = Col::start(&format!("udp://127.0.0.1:{cport}"));
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    for d in &dgrams {
        s.send_to(d, ("127.0.0.1", cport)).unwrap();
    }
    let rows = col.wait(20, 5);
    let _ = col.stop();
    assert_eq!(rows.len(), 20);
    for (row, line) in rows.iter().zip(golden.lines()) {
        let src: IpAddr = json_field(line, "src_ip").unwrap().parse().unwrap();
        let dst: IpAddr = json_field(line, "dest_ip").unwrap().parse().unwrap();
        assert_eq!(
            get(row, "orig.ip.saddr"),
            Some(&OwnedValue::Addr(src)),
            "{line}"
        );
        assert_eq!(
            get(row, "orig.ip.daddr"),
            Some(&OwnedValue::Addr(dst)),
            "{line}"
        );
        let num = |k: &str| json_field(line, k).map(|v| OwnedValue::Uint(v.parse().unwrap()));
        assert_eq!(get(row, "orig.ip.protocol").cloned(), num("ip.protocol"));
        assert_eq!(get(row, "orig.raw.pktlen").cloned(), num("raw.pktlen"));
        assert_eq!(
            get(row, "oob.prefix").cloned().map(|v| match v {
                OwnedValue::Bytes(b) => String::from_utf8(b).unwrap(),
                _ => String::new(),
            }),
            json_field(line, "oob.prefix").map(str::to_string)
        );
        let port = num("src_port");
        assert_eq!(get(row, "orig.l4.sport").cloned(), port, "{line}");
        assert_eq!(get(row, "oob.mark").cloned(), num("oob.mark"), "{line}");
        if let Some(sec) = json_field(line, "oob.time.sec") {
            let sec: u64 = sec.parse().unwrap();
            assert_eq!(get(row, "flow.start.sec"), Some(&OwnedValue::Uint(sec)));
        }
    }
}

#[test]
fn partly_filled_message_leaves_within_a_second() {
    // The engine keeps running (the paced source is slow): only the flush timer can
    // send the first record.
    let port = free_port();
    let col = Col::start(&format!("udp://127.0.0.1:{port}"));
    let mut reg = Registry::new();
    ulogd_export::register(&mut reg);
    reg.add(paced_spec(2, Duration::from_millis(1500)));
    let t0 = Instant::now();
    let exporter = std::thread::spawn(move || {
        ulogd_core::testing::run(
            &reg,
            "src:PACED,out:IPFIX",
            &format!("[out]\ndest=\"udp://127.0.0.1:{port}\"\n"),
            0,
        )
        .unwrap()
    });
    let rows = col.wait(1, 5);
    let waited = t0.elapsed();
    assert_eq!(rows.len(), 1);
    // Emitted at 1.5 s, received before 2.5 s (the source's second event is at 3 s).
    assert!(waited < Duration::from_millis(2500), "{waited:?}");
    exporter.join().unwrap();
    let _ = col.stop();
}

/// Deletes namespaces and kills helpers, whatever happens.
struct NsGuard {
    ns: Vec<String>,
}

impl Drop for NsGuard {
    fn drop(&mut self) {
        for ns in &self.ns {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn sh(args: &[&str]) {
    let o = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A live NATed UDP flow: namespaces A → R (masquerade) → C; NFCT in R (NEW and
/// DESTROY, no cache) → IPFIX with NAT events → nfcapd; nfdump prints the pre- and
/// post-NAT tuples of the NAT create and delete records.
#[test]
fn live_nat_flow_exported_with_nat_events_to_nfcapd() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root for network namespaces, nftables and conntrack");
        return;
    }
    for t in ["ip", "nft", "conntrack", "nfcapd", "nfdump"] {
        if !have(t) {
            eprintln!("skipped: {t} is not installed (bash .ci/install-deps)");
            return;
        }
    }
    let id = std::process::id();
    let (a, r, c) = (
        format!("ix-a{id}"),
        format!("ix-r{id}"),
        format!("ix-c{id}"),
    );
    let _guard = NsGuard {
        ns: vec![a.clone(), r.clone(), c.clone()],
    };
    for ns in [&a, &r, &c] {
        sh(&["ip", "netns", "add", ns]);
        sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
    }
    sh(&[
        "ip", "-n", &a, "link", "add", "vA", "type", "veth", "peer", "name", "vRA", "netns", &r,
    ]);
    sh(&[
        "ip", "-n", &c, "link", "add", "vC", "type", "veth", "peer", "name", "vRC", "netns", &r,
    ]);
    for (ns, dev, addr) in [
        (&a, "vA", "10.81.1.2/24"),
        (&r, "vRA", "10.81.1.1/24"),
        (&r, "vRC", "10.81.2.1/24"),
        (&c, "vC", "10.81.2.2/24"),
    ] {
        sh(&["ip", "-n", ns, "addr", "add", addr, "dev", dev]);
        sh(&["ip", "-n", ns, "link", "set", dev, "up"]);
    }
    sh(&[
        "ip",
        "-n",
        &a,
        "route",
        "add",
        "default",
        "via",
        "10.81.1.1",
    ]);
    sh(&[
        "ip",
        "-n",
        &c,
        "route",
        "add",
        "default",
        "via",
        "10.81.2.1",
    ]);
    sh(&[
        "ip",
        "netns",
        "exec",
        &r,
        "sysctl",
        "-qw",
        "net.ipv4.ip_forward=1",
    ]);
    let rules = "table ip t {\n chain post {\n type nat hook postrouting priority 100;\n oifname \"vRC\" udp dport 7000 masquerade\n }\n}\n";
    let mut nft = Command::new("ip")
        .args(["netns", "exec", &r, "nft", "-f", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    nft.stdin
        .take()
        .unwrap()
        .write_all(rules.as_bytes())
        .unwrap();
    assert!(nft.wait().unwrap().success());
    sh(&[
        "ip",
        "netns",
        "exec",
        &r,
        "sysctl",
        "-qw",
        "net.netfilter.nf_conntrack_acct=1",
    ]);
    sh(&[
        "ip",
        "netns",
        "exec",
        &r,
        "sysctl",
        "-qw",
        "net.netfilter.nf_conntrack_timestamp=1",
    ]);

    let port = free_port();
    let mut nf = Nfcapd::start(port);
    let mut reg = Registry::new();
    ulogd_export::register(&mut reg);
    ulogd_netfilter::register(&mut reg);
    let conf = format!(
        "[global]\nlogfile=\"stdout\"\nstack=ct:NFCT,out:IPFIX\n\
         [ct]\nnetwork_namespace_path=\"/var/run/netns/{r}\"\nhash_enable=0\nevent_mask=5\n\
         [out]\ndest=\"udp://127.0.0.1:{port}\"\nnat_events=1\nnat_event_codes=historic\nflush_ms=100\n"
    );
    let engine = Engine::from_str(&reg, "live.conf", &conf).unwrap();
    let handle = engine.handle();
    let th = std::thread::spawn(move || engine.run().unwrap());
    std::thread::sleep(Duration::from_millis(300));
    sh(&[
        "ip",
        "netns",
        "exec",
        &a,
        "bash",
        "-c",
        "echo hello nat > /dev/udp/10.81.2.2/7000",
    ]);
    std::thread::sleep(Duration::from_millis(300));
    // End the flow now (UDP would otherwise wait for its timeout).
    sh(&[
        "ip",
        "netns",
        "exec",
        &r,
        "conntrack",
        "-D",
        "-p",
        "udp",
        "--dport",
        "7000",
    ]);
    std::thread::sleep(Duration::from_millis(500));
    handle.stop();
    let rep = th.join().unwrap();
    assert_eq!(rep.get("out", "records"), Some(2), "{rep}");
    let text = nf.dump("%pr|%sa|%da|%dp|%xsa|%xda|%xdp|%pkt|%byt|%nevt");
    let lines: Vec<String> = text
        .lines()
        .filter(|l| l.contains('|'))
        .map(|l| l.split('|').map(str::trim).collect::<Vec<_>>().join("|"))
        .collect();
    eprintln!("{text}");
    assert_eq!(lines.len(), 2, "{text}");
    // Create (no counters yet), then delete with the counters.
    for (l, (pkts, ev)) in lines.iter().zip([("0", "ADD"), ("1", "DELETE")]) {
        let f: Vec<&str> = l.split('|').collect();
        assert_eq!(
            &f[..7],
            &[
                "17",
                "10.81.1.2",
                "10.81.2.2",
                "7000",
                "10.81.2.1",
                "10.81.2.2",
                "7000"
            ],
            "{text}"
        );
        assert_eq!((f[7], f[9]), (pkts, ev), "{text}");
    }
}

/// pmacct's nfacctd with the print plugin writing CSV.
fn nfacctd_case(plugin: &str) -> Option<String> {
    if !have("nfacctd") {
        eprintln!("skipped: nfacctd is not installed (Debian package pmacct)");
        return None;
    }
    let port = free_port();
    let d = tmpdir();
    let out = d.join("flows.csv");
    let conf = d.join("nfacctd.conf");
    std::fs::write(
        &conf,
        format!(
            "daemonize: false\nnfacctd_ip: 127.0.0.1\nnfacctd_port: {port}\nplugins: print\n\
             print_output: csv\nprint_output_file: {}\nprint_refresh_time: 1\n\
             print_history: 0\naggregate: src_host,dst_host,src_port,dst_port,proto\n",
            out.display()
        ),
    )
    .unwrap();
    // Its own process group: nfacctd forks a plugin process, and it does not exit
    // on SIGTERM while the plugin lives; the whole group is killed at the end.
    use std::os::unix::process::CommandExt;
    let mut child = Command::new("nfacctd")
        .arg("-f")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    struct KillGroup(i32);
    impl Drop for KillGroup {
        fn drop(&mut self) {
            // SAFETY: kill(2) on the process group of our own child.
            unsafe { libc::kill(-self.0, libc::SIGKILL) };
        }
    }
    let group = KillGroup(child.id() as i32);
    std::thread::sleep(Duration::from_millis(700));
    let events: Vec<TestEvent> = sample_flows().iter().map(Flow::event).collect();
    export(plugin, &format!("dest=\"udp://127.0.0.1:{port}\""), events);
    let t = Instant::now();
    let mut text = String::new();
    while t.elapsed() < Duration::from_secs(6) {
        std::thread::sleep(Duration::from_millis(300));
        text = std::fs::read_to_string(&out).unwrap_or_default();
        if text.lines().count() > 4 {
            break;
        }
    }
    drop(group);
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&d);
    eprintln!("{text}");
    Some(text)
}

fn sorted_csv(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text.lines().skip(1).map(str::to_string).collect();
    v.sort();
    v
}

#[test]
fn nfacctd_accounts_ipfix_flows() {
    let Some(text) = nfacctd_case("IPFIX") else {
        return;
    };
    assert!(
        text.starts_with("SRC_IP,DST_IP,SRC_PORT,DST_PORT,PROTOCOL,PACKETS,BYTES"),
        "{text}"
    );
    assert_eq!(
        sorted_csv(&text),
        vec![
            "10.0.0.1,10.0.0.2,40000,80,tcp,10,1001",
            "10.0.0.3,10.0.0.4,0,0,icmp,10,1004",
            "192.168.1.10,8.8.8.8,5000,53,udp,10,1002",
            "2001:db8::1,2001:db8::2,1234,443,tcp,10,1003",
        ]
    );
}

#[test]
fn nfacctd_accounts_nflow9_flows() {
    let Some(text) = nfacctd_case("NFLOW9") else {
        return;
    };
    assert_eq!(
        sorted_csv(&text),
        vec![
            "10.0.0.1,10.0.0.2,40000,80,tcp,10,1001",
            "10.0.0.2,10.0.0.1,80,40000,tcp,8,5001",
            "10.0.0.3,10.0.0.4,0,0,icmp,10,1004",
            "10.0.0.4,10.0.0.3,0,0,icmp,8,5004",
            "192.168.1.10,8.8.8.8,5000,53,udp,10,1002",
            "2001:db8::1,2001:db8::2,1234,443,tcp,10,1003",
            "2001:db8::2,2001:db8::1,443,1234,tcp,8,5003",
            "8.8.8.8,203.0.113.1,53,61000,udp,8,5002",
        ]
    );
}

#[test]
fn collector_template_withdrawal_and_expiry() {
    // Withdrawal through the real source; expiry (template_timeout) is checked on a
    // fake clock by the decoder's unit test
    // `exporter_messages_withdrawn_relearnt_and_expired`, with the same counts,
    // instead of sleeping past the timeout here.
    use ulogd_export::ipfix::wire::HeaderRepr;
    let events: Vec<TestEvent> = (0..30)
        .map(|i| Flow::plain(v4("10.3.0.1"), v4("10.3.0.2"), 6, Some((1, 2)), i).event())
        .collect();
    let (_, d) = capture_udp(|port| {
        export(
            "IPFIX",
            &format!(
                "dest=\"udp://127.0.0.1:{port}\"\nmtu=300\nnth_template=0\ntemplate_refresh=0"
            ),
            events,
        );
    });
    assert!(d.len() >= 4);
    let r1 = ulogd_export::ipfix::wire::walk(&d[1]).unwrap() as u64;
    let seq = |i: usize| HeaderRepr::parse(&d[i]).unwrap().sequence as u64;
    let r2 = seq(3) - seq(2);
    assert!(r1 > 0 && r2 > 0);
    // A withdrawal of template 257 (the flows' template) for domain 0.
    let mut wd = vec![0, 10, 0, 24, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    wd.extend_from_slice(&[0, 2, 0, 8, 1, 1, 0, 0]);
    let port = free_port();
    let col = Col::start(&format!("udp://127.0.0.1:{port}"));
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    // One socket, one decoder: the datagrams are decoded in the order sent.
    for b in [&d[1], &d[2], &wd, &d[2], &d[1]] {
        // template + r1 records; r2 records; withdrawn; no template; learnt again + r1
        s.send_to(b, ("127.0.0.1", port)).unwrap();
    }
    col.wait((2 * r1 + r2) as usize, 5);
    let rep = col.stop();
    assert_eq!(rep.get("col", "records"), Some(2 * r1 + r2), "{rep}");
    assert_eq!(rep.get("col", "withdrawals"), Some(1), "{rep}");
    assert_eq!(rep.get("col", "templates_expired"), Some(0), "{rep}");
    assert_eq!(rep.get("col", "no_template"), Some(1), "{rep}");
}

#[test]
fn collector_bounds_are_checked_at_build_time() {
    let (reg, _) = registry(vec![]);
    for (opt, bad) in [
        ("max_templates", "0"),
        ("max_templates", "70000"),
        ("max_exporters", "0"),
    ] {
        let text = format!(
            "[global]\nstack=col:IPFIXCOL,out:COLLECT\n[col]\nlisten=\"udp://127.0.0.1:1\"\n{opt}={bad}\n"
        );
        let errs = match Engine::from_str(&reg, "t.conf", &text) {
            Ok(_) => panic!("{opt}={bad} accepted"),
            Err(e) => e,
        };
        let all: String = errs.iter().map(|e| e.to_string()).collect();
        assert!(all.contains(opt) && all.contains("t.conf"), "{all}");
    }
    let ok = "[global]\nstack=col:IPFIXCOL,out:COLLECT\n[col]\nlisten=\"udp://127.0.0.1:1\"\nmax_templates=64\nmax_exporters=8\n";
    assert!(Engine::from_str(&reg, "t.conf", ok).is_ok());
}

/// A TCP collector that accepts and then reads nothing: the exporter's writes are
/// non-blocking, so the engine goes on, the session's queue (`queue_max` messages)
/// takes what the socket does not and drops the rest, counted; the connection is
/// never given up for a slow reader (one connect), and what reached the collector is
/// a chain of whole messages (the one cut by the shutdown aside), as many as the
/// `messages` counter says.
#[test]
fn tcp_collector_that_stops_reading_never_blocks_and_drops_are_counted() {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let small: libc::c_int = 32 * 1024;
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
    let port = l.local_addr().unwrap().port();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let d2 = done.clone();
    let peer = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        while !d2.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(20));
        }
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut all = Vec::new();
        let _ = s.read_to_end(&mut all);
        all
    });
    let n = 60_000u32;
    let events: Vec<TestEvent> = (0..n)
        .map(|i| Flow::plain(v4("10.9.0.1"), v4("10.9.0.2"), 6, Some((1, 2)), i).event())
        .collect();
    let rep = export(
        "IPFIX",
        &format!("dest=\"tcp://127.0.0.1:{port}\"\nqueue_max=16"),
        events,
    );
    done.store(true, Ordering::SeqCst);
    let got = peer.join().unwrap();
    let c = |k: &str| rep.get("out", k).unwrap();
    println!("{rep}; the collector holds {} bytes", got.len());
    assert_eq!(
        c("connects"),
        1,
        "a slow collector is not a dead one: {rep}"
    );
    assert!(c("queue_drops") > 0 && c("lost") > 0, "{rep}");
    let mut off = 0;
    let mut whole = 0u64;
    use ulogd_export::ipfix::wire::HeaderRepr;
    while let Ok(h) = HeaderRepr::parse(&got[off..]) {
        let len = h.length_or_count as usize;
        assert!(len >= 16, "message length {len} at {off}");
        if off + len > got.len() {
            break; // cut by the shutdown
        }
        off += len;
        whole += 1;
    }
    assert!(got.len() - off < 65536, "only one message may be cut");
    assert_eq!(whole, c("messages"), "{rep}");
}
