//! Outputs through the engine: JSON socket modes, PCAP read back by tcpdump, XML,
//! OPRINT and NACCT files.

use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, UdpSocket};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ulogd_core::testing::{OwnedValue, TestSource};
use ulogd_core::{KeyDef, KeyType, Registry};

fn tmpdir() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "ulogd-export-out-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn reg_with(keys: Vec<KeyDef>, events: Vec<Vec<(usize, OwnedValue)>>) -> Registry {
    ulogd_export::set_utc_offset_override(Some(0));
    let mut reg = Registry::new();
    reg.add(TestSource::spec("SRC", keys, events));
    ulogd_export::register(&mut reg);
    reg
}

fn simple() -> (Vec<KeyDef>, Vec<Vec<(usize, OwnedValue)>>) {
    let keys = vec![
        KeyDef::new("oob.prefix", KeyType::String),
        KeyDef::new("oob.time.sec", KeyType::U32),
    ];
    let evs = (0..3)
        .map(|i| {
            vec![
                (0, OwnedValue::Bytes(format!("p{i}").into_bytes())),
                (1, OwnedValue::Uint(1_795_559_069 + i)),
            ]
        })
        .collect();
    (keys, evs)
}

const EXPECT: &str = "{\"timestamp\": \"2026-11-24T22:24:29\", \"dvc\": \"Netfilter\", \"oob.prefix\": \"p0\", \"oob.time.sec\": 1795559069}\n";

#[test]
fn json_tcp_and_unix() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let t = std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut all = String::new();
        BufReader::new(s).read_to_string(&mut all).unwrap();
        all
    });
    let (k, e) = simple();
    let reg = reg_with(k, e);
    let sec = format!("[out]\nmode=tcp\nhost=\"127.0.0.1\"\nport=\"{port}\"\n");
    ulogd_core::testing::run(&reg, "src:SRC,out:JSON", &sec, 1).unwrap();
    let got = t.join().unwrap();
    assert_eq!(got.lines().count(), 3);
    assert!(got.starts_with(EXPECT), "{got}");

    let dir = tmpdir();
    let path = dir.join("j.sock");
    let l = UnixListener::bind(&path).unwrap();
    let t = std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        BufReader::new(s)
            .lines()
            .map(|l| l.unwrap())
            .collect::<Vec<_>>()
    });
    let (k, e) = simple();
    let reg = reg_with(k, e);
    let sec = format!("[out]\nmode=unix\nfile=\"{}\"\n", path.display());
    ulogd_core::testing::run(&reg, "src:SRC,out:JSON", &sec, 0).unwrap();
    let got = t.join().unwrap();
    assert_eq!(got.len(), 3);
    assert_eq!(format!("{}\n", got[0]), EXPECT);
}

#[test]
fn json_udp_one_datagram_per_event() {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let port = s.local_addr().unwrap().port();
    let (k, e) = simple();
    let reg = reg_with(k, e);
    let sec = format!("[out]\nmode=udp\nport=\"{port}\"\n");
    ulogd_core::testing::run(&reg, "src:SRC,out:JSON", &sec, 0).unwrap();
    let mut buf = [0u8; 2048];
    let n = s.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], EXPECT.as_bytes());
    for _ in 0..2 {
        let n = s.recv(&mut buf).unwrap();
        assert!(buf[..n].ends_with(b"}\n"));
    }
}

#[test]
fn json_peer_down_does_not_fail_start() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (k, e) = simple();
    let reg = reg_with(k, e);
    let sec = format!("[out]\nmode=tcp\nport=\"{port}\"\n");
    let report = ulogd_core::testing::run(&reg, "src:SRC,out:JSON", &sec, 0).unwrap();
    assert_eq!(report.get("out", "lost"), Some(3), "{report:?}");
}

#[test]
fn pcap_raw_and_nflog_read_by_tcpdump() {
    // An ICMP echo request, 10.77.0.1 > 10.77.0.2 (from the golden capture).
    let pkt: Vec<u8> = vec![
        0x45, 0x00, 0x00, 0x1c, 0x71, 0xb6, 0x40, 0x00, 0x40, 0x01, 0xb4, 0x4b, 0x0a, 0x4d, 0x00,
        0x01, 0x0a, 0x4d, 0x00, 0x02, 0x08, 0x00, 0xf7, 0xfe, 0x00, 0x01, 0x00, 0x00,
    ];
    let keys = vec![
        KeyDef::new("raw.pkt", KeyType::Raw),
        KeyDef::new("raw.pktlen", KeyType::U32),
        KeyDef::new("ip.totlen", KeyType::U16),
        KeyDef::new("oob.time.sec", KeyType::U32),
        KeyDef::new("oob.time.usec", KeyType::U32),
        KeyDef::new("oob.family", KeyType::U8),
        KeyDef::new("oob.prefix", KeyType::String),
        KeyDef::new("oob.mark", KeyType::U32),
        KeyDef::new("oob.ifindex_in", KeyType::U32),
        KeyDef::new("oob.hook", KeyType::U8),
        KeyDef::new("oob.protocol", KeyType::U16),
    ];
    let ev = vec![
        (0, OwnedValue::Bytes(pkt.clone())),
        (1, OwnedValue::Uint(pkt.len() as u64)),
        (2, OwnedValue::Uint(28)),
        (3, OwnedValue::Uint(1_795_559_069)),
        (4, OwnedValue::Uint(981_723)),
        (5, OwnedValue::Uint(2)),
        (6, OwnedValue::Bytes(b"IN-ICMP ".to_vec())),
        (7, OwnedValue::Uint(42)),
        (8, OwnedValue::Uint(2)),
        (9, OwnedValue::Uint(1)),
        (10, OwnedValue::Uint(0x0800)),
    ];
    let dir = tmpdir();
    for lt in ["raw", "nflog"] {
        let f = dir.join(format!("{lt}.pcap"));
        for _ in 0..2 {
            // Second run appends to the non-empty file without a new header.
            let reg = reg_with(keys.clone(), vec![ev.clone()]);
            let sec = format!("[out]\nfile=\"{}\"\nlinktype={lt}\n", f.display());
            ulogd_core::testing::run(&reg, "src:SRC,out:PCAP", &sec, 0).unwrap();
        }
        let data = std::fs::read(&f).unwrap();
        if lt == "raw" {
            assert_eq!(data.len(), 24 + 2 * (16 + pkt.len()));
            assert_eq!(&data[24..28], &1_795_559_069u32.to_ne_bytes());
        }
        let out = match std::process::Command::new("tcpdump")
            .args(["-r"])
            .arg(&f)
            .args(["-nn", "-v"])
            .output()
        {
            Ok(o) => o,
            Err(e) => {
                println!("tcpdump not available ({e}); skipping the read-back check");
                continue;
            }
        };
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{text}");
        assert_eq!(
            text.matches("10.77.0.1 > 10.77.0.2: ICMP echo request")
                .count(),
            2,
            "{text}"
        );
        if lt == "raw" {
            assert!(text.contains("link-type RAW"), "{text}");
        } else {
            assert!(text.contains("link-type NFLOG"), "{text}");
        }
    }
    // tshark decodes the NFLOG TLVs: prefix, mark, indev.
    let f = dir.join("nflog.pcap");
    if let Ok(o) = std::process::Command::new("tshark")
        .arg("-r")
        .arg(&f)
        .args(["-V"])
        .output()
    {
        let text = String::from_utf8_lossy(&o.stdout);
        if o.status.success() {
            assert!(text.contains("IN-ICMP"), "{text}");
            for want in [
                "NFULA_MARK",
                "0000002a",
                "IFINDEX_INDEV: 2",
                "Netfilter hook: Local in",
                "22:24:29.981723",
            ] {
                assert!(text.contains(want), "{want} missing in {text}");
            }
        } else {
            println!(
                "tshark failed, skipped: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
    } else {
        println!("tshark not available; skipped");
    }
}

#[test]
fn xml_oprint_nacct_files() {
    let dir = tmpdir();
    let keys = vec![
        KeyDef::new("sum.name", KeyType::String),
        KeyDef::new("sum.pkts", KeyType::U64),
        KeyDef::new("sum.bytes", KeyType::U64),
        KeyDef::new("oob.time.sec", KeyType::U32),
        KeyDef::new("ip.saddr", KeyType::IpAddr),
    ];
    let ev = vec![
        (0, OwnedValue::Bytes(b"udp2000".to_vec())),
        (1, OwnedValue::Uint(5)),
        (2, OwnedValue::Uint(150)),
        (3, OwnedValue::Uint(1_795_560_711)),
        (4, OwnedValue::Addr("10.77.0.1".parse().unwrap())),
    ];
    let reg = reg_with(keys.clone(), vec![ev.clone()]);
    let sec = format!("[out]\ndirectory=\"{}\"\n", dir.display());
    ulogd_core::testing::run(&reg, "src:SRC,out:XML", &sec, 0).unwrap();
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    let name = files[0].file_name().unwrap().to_str().unwrap().to_string();
    assert!(
        name.starts_with("ulogd-sum-") && name.ends_with(".xml"),
        "{name}"
    );
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert_eq!(
        text,
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<sum>\n<obj><name>udp2000</name><pkts>00000000000000000005</pkts><bytes>00000000000000000150</bytes><hour>22</hour><min>51</min><sec>51</sec><wday>3</wday><day>24</day><month>11</month><year>2026</year></obj>\n</sum>\n"
    );

    let f = dir.join("o.log");
    let reg = reg_with(keys, vec![ev]);
    let sec = format!("[out]\nfile=\"{}\"\n", f.display());
    ulogd_core::testing::run(&reg, "src:SRC,out:OPRINT", &sec, 0).unwrap();
    assert_eq!(
        std::fs::read_to_string(&f).unwrap(),
        "===>PACKET BOUNDARY\nsum.name=udp2000\nsum.pkts=5\nsum.bytes=150\nsum=default\noob.time.sec=1795560711\nip.saddr=10.77.0.1\n"
    );

    let keys = vec![
        KeyDef::new("orig.ip.saddr.str", KeyType::String),
        KeyDef::new("orig.ip.daddr.str", KeyType::String),
        KeyDef::new("orig.ip.protocol", KeyType::U8),
        KeyDef::new("orig.l4.sport", KeyType::U16),
        KeyDef::new("orig.l4.dport", KeyType::U16),
        KeyDef::new("reply.raw.pktlen", KeyType::U64),
        KeyDef::new("reply.raw.pktcount", KeyType::U64),
        KeyDef::new("flow.end.sec", KeyType::U32),
    ];
    let ev = vec![
        (0, OwnedValue::Bytes(b"127.0.0.1".to_vec())),
        (1, OwnedValue::Bytes(b"127.0.0.1".to_vec())),
        (2, OwnedValue::Uint(6)),
        (3, OwnedValue::Uint(55876)),
        (4, OwnedValue::Uint(8080)),
        (5, OwnedValue::Uint(40)),
        (6, OwnedValue::Uint(1)),
        (7, OwnedValue::Uint(1_795_560_563)),
    ];
    let f = dir.join("n.log");
    let reg = reg_with(keys, vec![ev]);
    let sec = format!("[out]\nfile=\"{}\"\n", f.display());
    ulogd_core::testing::run(&reg, "src:SRC,out:NACCT", &sec, 0).unwrap();
    // First line of samples/nacct-nfct.log.
    assert_eq!(
        std::fs::read_to_string(&f).unwrap(),
        "1795560563\t6\t127.0.0.1\t55876\t127.0.0.1\t8080\t1\t40\n"
    );
    // An ICMPv6 flow prints its type and code where ports would be (2.0.8: 0 0).
    let keys = vec![
        KeyDef::new("orig.ip.saddr.str", KeyType::String),
        KeyDef::new("orig.ip.daddr.str", KeyType::String),
        KeyDef::new("orig.ip.protocol", KeyType::U8),
        KeyDef::new("reply.raw.pktlen", KeyType::U64),
        KeyDef::new("reply.raw.pktcount", KeyType::U64),
        KeyDef::new("flow.end.sec", KeyType::U32),
        KeyDef::new("icmpv6.type", KeyType::U8),
        KeyDef::new("icmpv6.code", KeyType::U8),
    ];
    let ev = vec![
        (0, OwnedValue::Bytes(b"fd77::1".to_vec())),
        (1, OwnedValue::Bytes(b"fd77::2".to_vec())),
        (2, OwnedValue::Uint(58)),
        (3, OwnedValue::Uint(208)),
        (4, OwnedValue::Uint(2)),
        (5, OwnedValue::Uint(1_795_560_570)),
        (6, OwnedValue::Uint(128)),
        (7, OwnedValue::Uint(0)),
    ];
    let f = dir.join("n6.log");
    let reg = reg_with(keys, vec![ev]);
    let sec = format!("[out]\nfile=\"{}\"\n", f.display());
    ulogd_core::testing::run(&reg, "src:SRC,out:NACCT", &sec, 0).unwrap();
    assert_eq!(
        std::fs::read_to_string(&f).unwrap(),
        "1795560570\t58\tfd77::1\t128\tfd77::2\t0\t2\t208\n"
    );
}
