//! Drop-in details against ulogd2 2.0.8 (the compat review): NFCT → XML as
//! `ct1:NFCT,xml1:XML` (addresses without IP2STR; one shared `xml1` writes a packet
//! file and a flow file), OPRINT's `raw=`/`ct=`/`sum=` lines, and the plugins ours
//! does not have (MYSQL, DBI, ULOG) refused with what to use instead. XML is read
//! back with Python's XML parser.

mod common;

use std::process::Command;

use common::*;
use ulogd_core::testing::{OwnedValue, TestSource};
use ulogd_core::{KeyDef, KeyType, Registry};

fn pkt_source() -> ulogd_core::PluginSpec {
    let keys = vec![
        KeyDef::new("oob.prefix", KeyType::String),
        KeyDef::new("oob.hook", KeyType::U8),
        KeyDef::new("raw.pkt", KeyType::Raw),
        KeyDef::new("raw.pktlen", KeyType::U32),
        KeyDef::new("oob.time.sec", KeyType::U32),
    ];
    let ev = vec![
        (0, OwnedValue::Bytes(b"test".to_vec())),
        (1, OwnedValue::Uint(3)),
        (2, OwnedValue::Bytes(vec![0x45, 0, 0, 0x14])),
        (3, OwnedValue::Uint(4)),
        (4, OwnedValue::Uint(1_795_560_497)),
    ];
    TestSource::spec("PKT", keys, vec![ev])
}

fn python_xml(path: &std::path::Path, script: &str) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(format!(
            "import sys, xml.etree.ElementTree as ET\nroot = ET.parse(sys.argv[1]).getroot()\n{script}"
        ))
        .arg(path)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "python3: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// ulogd.conf.in: `stack=ct1:NFCT,xml1:XML` (no IP2STR) and the same `xml1` in a
/// packet stack. ulogd2 writes the flows' `<src>`/`<dst>` and two files
/// (`ulogd-pkt-*.xml` with `<packet>`, `ulogd-flow-*.xml` with `<conntrack>`).
#[test]
fn xml_flows_have_addresses_and_their_own_file() {
    let dir = tmpdir();
    let mut reg = Registry::new();
    reg.add(TestSource::spec(
        "CT",
        flow_keys(),
        vec![
            Flow::tcp(0, 60).event(),
            Flow {
                src: "fd99::2".parse().unwrap(),
                dst: "fd99::1".parse().unwrap(),
                proto: 17,
                sport: 5353,
                dport: 53,
                bytes: 52,
                pkts: 1,
                event: 4,
                start: 1,
                end: 5,
            }
            .event(),
        ],
    ));
    reg.add(pkt_source());
    ulogd_export::register(&mut reg);
    let text = format!(
        "[global]\nlogfile=\"stdout\"\nthreads=0\nstack=ct1:CT,xml1:XML\nstack=log1:PKT,xml1:XML\n\
         [xml1]\ndirectory=\"{}\"\nsync=1\n",
        dir.display()
    );
    ulogd_core::Engine::from_str(&reg, "xml.conf", &text)
        .unwrap()
        .run()
        .unwrap();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names[0].starts_with("ulogd-flow-"), "{names:?}");
    assert!(names[1].starts_with("ulogd-pkt-"), "{names:?}");
    let flows = python_xml(
        &files[0],
        "print(root.tag)\n\
         for f in root.findall('flow'):\n\
         \x20   for m in f.findall('meta'):\n\
         \x20       l3 = m.find('layer3')\n\
         \x20       if l3 is not None:\n\
         \x20           print(m.get('direction'), l3.get('protoname'), l3.findtext('src'), l3.findtext('dst'), m.findtext('layer4/sport'), m.findtext('counters/bytes'))\n\
         \x20   print('id', f.findtext(\"meta[@direction='independent']/id\"), 'delta', f.findtext(\"meta[@direction='independent']/deltatime\"))",
    );
    assert_eq!(
        flows,
        "conntrack\n\
         original ipv4 10.0.0.1 192.0.2.1 40000 60\n\
         reply ipv4 192.0.2.1 10.0.0.1 443 30\n\
         id None delta 100\n\
         original ipv6 fd99::2 fd99::1 5353 52\n\
         reply ipv6 fd99::1 fd99::2 53 26\n\
         id None delta 4\n"
    );
    let pkts = python_xml(
        &files[1],
        "print(root.tag, len(root.findall('log')), len(root.findall('flow')), root.findtext('log/prefix'), root.findtext('log/payload'))",
    );
    assert_eq!(pkts, "packet 1 0 test 45000014\n");
}

/// OPRINT prints ulogd2's pointer keys as `ct=default` (after NFCT's
/// `oob.protocol`) and `sum=default` (after `sum.bytes`), as samples/oprint-*.log.
#[test]
fn oprint_prints_pointer_lines_as_ulogd2() {
    let dir = tmpdir();
    let out = dir.join("oprint.log");
    let mut reg = Registry::new();
    // NFCT's order: tuples, counters, ct.*, flow.*, oob.family, oob.protocol, then
    // the keys ours adds (ct.zone, nat.*).
    let keys = vec![
        KeyDef::new("orig.ip.saddr", KeyType::IpAddr),
        KeyDef::new("ct.event", KeyType::U32),
        KeyDef::new("oob.family", KeyType::U8),
        KeyDef::new("oob.protocol", KeyType::U16),
        KeyDef::new("ct.zone", KeyType::U16),
    ];
    let ev = vec![
        (0, OwnedValue::Addr("10.0.0.1".parse().unwrap())),
        (1, OwnedValue::Uint(4)),
        (2, OwnedValue::Uint(2)),
        (3, OwnedValue::Uint(0)),
        (4, OwnedValue::Uint(0)),
    ];
    reg.add(TestSource::spec("CT", keys, vec![ev]));
    reg.add(TestSource::spec(
        "ACCT",
        vec![
            KeyDef::new("sum.name", KeyType::String),
            KeyDef::new("sum.pkts", KeyType::U64),
            KeyDef::new("sum.bytes", KeyType::U64),
            KeyDef::new("oob.time.sec", KeyType::U32),
        ],
        vec![vec![
            (0, OwnedValue::Bytes(b"udp2000".to_vec())),
            (1, OwnedValue::Uint(5)),
            (2, OwnedValue::Uint(150)),
            (3, OwnedValue::Uint(0)),
        ]],
    ));
    ulogd_export::register(&mut reg);
    let text = format!(
        "[global]\nlogfile=\"stdout\"\nthreads=0\nstack=ct1:CT,op1:OPRINT\nstack=acct1:ACCT,op1:OPRINT\n\
         [op1]\nfile=\"{}\"\nsync=1\n",
        out.display()
    );
    ulogd_core::Engine::from_str(&reg, "oprint.conf", &text)
        .unwrap()
        .run()
        .unwrap();
    let log = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    let at = |k: &str| lines.iter().position(|l| *l == k);
    // NFCT's layout: ... oob.family, oob.protocol, ct=default, then our extra keys.
    let ct = at("ct=default").expect("ct=default");
    assert!(lines[ct - 1].starts_with("oob.protocol="), "{log}");
    assert!(lines[ct + 1].starts_with("ct.zone="), "{log}");
    let sum = at("sum=default").expect("sum=default");
    assert_eq!(lines[sum - 1], "sum.bytes=150", "{log}");
    assert_eq!(lines[sum + 1], "oob.time.sec=0", "{log}");
    assert_eq!(lines.iter().filter(|l| l.ends_with("=default")).count(), 2);
}

/// ulogd.conf.in's MYSQL, DBI and ULOG stanzas: refused with the reason and what to
/// use, not "unknown plugin".
#[test]
fn mysql_dbi_ulog_refused_with_what_to_use() {
    let reg = registry(&[]);
    for (stack, section, want) in [
        (
            "log2:NFLOG,base1:BASE,ifi1:IFINDEX,ip2str1:IP2STR,mac2str1:HWHDR,mysql1:MYSQL",
            "[log2]\ngroup=2\n[mysql1]\ndb=\"nulog\"\nhost=\"localhost\"\nuser=\"nupik\"\ntable=\"ulog\"\npass=\"changeme\"\nprocedure=\"INSERT_PACKET_FULL\"\nbacklog_memcap=1000000\nbacklog_oneshot_requests=10\nring_buffer_size=1000\n",
            "MYSQL is not supported by ulogd-rs; use PGSQL or SQLITE3",
        ),
        (
            "log2:NFLOG,base1:BASE,ifi1:IFINDEX,ip2str1:IP2STR,mac2str1:HWHDR,dbi1:DBI",
            "[log2]\ngroup=2\n[dbi1]\ndb=\"ulog2\"\ndbtype=\"pgsql\"\nhost=\"localhost\"\nuser=\"ulog2\"\ntable=\"ulog\"\npass=\"ulog2\"\nprocedure=\"INSERT_PACKET_FULL\"\n",
            "DBI is not supported by ulogd-rs; use PGSQL or SQLITE3",
        ),
        (
            "ulog1:ULOG,base1:BASE,ip2str1:IP2STR,print1:PRINTPKT,emu1:LOGEMU",
            "[ulog1]\nnlgroup=1\n[emu1]\nfile=\"/dev/null\"\n",
            "ULOG is not supported by ulogd-rs; the kernel's ipt_ULOG target was removed in Linux 3.17: use NFLOG",
        ),
    ] {
        let text = format!("[global]\nstack={stack}\n{section}");
        let errs = ulogd_core::Engine::from_str(&reg, "ulogd.conf", &text)
            .err()
            .expect("refused");
        let msg: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(msg.len(), 1, "one message: {msg:?}");
        assert!(msg[0].contains(want), "{msg:?}");
        assert!(!msg[0].contains("unknown"), "{msg:?}");
    }
}

/// SYSLOG with no socket at start (ulogd2 runs its other stacks): the daemon starts,
/// the other stack writes from the first line, SYSLOG counts its lines as lost and
/// delivers once the socket appears.
#[test]
fn syslog_socket_missing_at_start_is_retried() {
    let dir = tmpdir();
    let sock = dir.join("log.sock");
    let out = dir.join("oprint.log");
    let mut reg = Registry::new();
    reg.add(paced_spec(
        "P",
        vec![KeyDef::new("print", KeyType::String)],
        (0..200)
            .map(|i| vec![(0, OwnedValue::Bytes(format!("line {i}").into_bytes()))])
            .collect(),
        1,
        false,
    ));
    ulogd_export::register(&mut reg);
    let text = format!(
        "[global]\nlogfile=\"stdout\"\nthreads=0\nstack=p1:P,sys1:SYSLOG\nstack=p1:P,op1:OPRINT\n\
         [sys1]\nsocket=\"{}\"\n[op1]\nfile=\"{}\"\nsync=1\n",
        sock.display(),
        out.display()
    );
    let engine = ulogd_core::Engine::from_str(&reg, "syslog.conf", &text).unwrap();
    let runner = std::thread::spawn(move || engine.run().unwrap());
    std::thread::sleep(std::time::Duration::from_millis(500));
    let early = std::fs::read_to_string(&out).unwrap_or_default();
    assert!(
        early.contains("print=line 0"),
        "the other stack runs: {early}"
    );
    let server = std::os::unix::net::UnixDatagram::bind(&sock).unwrap();
    server
        .set_read_timeout(Some(std::time::Duration::from_secs(3)))
        .unwrap();
    // Read as a syslog daemon does (a unix datagram queue holds only a few).
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 256];
        let mut got = Vec::new();
        while let Ok(n) = server.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        got
    });
    let report = runner.join().unwrap();
    let got = reader.join().unwrap();
    let sent = report.get("sys1", "written").unwrap();
    let lost = report.get("sys1", "lost").unwrap_or(0) + report.get("sys1", "dropped").unwrap_or(0);
    eprintln!("SYSLOG: written {sent}, lost or dropped {lost}");
    // Lines made before the socket existed wait in the output's queue (or are counted
    // when it is full); none disappears.
    assert_eq!(sent + lost, 200, "every line sent or counted");
    assert!(sent >= 50, "lines after the socket appeared are delivered");
    assert_eq!(got.len() as u64, sent);
    assert!(got.iter().all(|m| m.contains("]: line ")), "{got:?}");
    assert!(got.last().unwrap().ends_with("]: line 199"), "{got:?}");
}
