//! PYTHON with a real interpreter: every example of `examples/python/` in a stack on
//! the golden REPLAY capture (or a test source for NFCT keys), a fork-style script
//! with every value type, exceptions, and modules refused at build time.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{IpAddr, TcpListener};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

use ulogd_core::testing::{collect_sink, Collected, OwnedValue, TestSource};
use ulogd_core::{
    Built, Engine, Event, Inputs, KeyDef, KeyType, Kind, PluginSpec, Registry, Report, Ret, Stage,
    Verdict, VerdictAction,
};

const PCAP: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../ulogd-netfilter/tests/fixtures/golden-basic/nflog.pcap"
);
const GOLDEN_JSON: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../ulogd-netfilter/tests/fixtures/golden-basic/ulogd2.json"
);
const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/python");

/// Log lines the engine and the plugin wrote (captured for every test).
fn logs() -> &'static Mutex<Vec<String>> {
    static LOGS: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    struct Capture;
    impl log::Log for Capture {
        fn enabled(&self, _: &log::Metadata) -> bool {
            true
        }
        fn log(&self, r: &log::Record) {
            let line = format!("<{}> {}", r.level(), r.args());
            if r.level() <= log::Level::Warn {
                eprintln!("{line}");
            }
            logs().lock().unwrap_or_else(|e| e.into_inner()).push(line);
        }
        fn flush(&self) {}
    }
    LOGS.get_or_init(|| {
        static CAPTURE: Capture = Capture;
        let _ = log::set_logger(&CAPTURE);
        log::set_max_level(log::LevelFilter::Info);
        Mutex::new(Vec::new())
    })
}

/// A scratch directory removed on drop.
struct TmpDir(PathBuf);

impl TmpDir {
    fn new(name: &str) -> TmpDir {
        let p = std::env::temp_dir().join(format!("ulogd-py-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TmpDir(p)
    }
    fn path(&self, f: &str) -> String {
        self.0.join(f).display().to_string()
    }
    fn write(&self, f: &str, text: &str) -> String {
        let p = self.path(f);
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

type Verdicts = Arc<Mutex<Vec<Option<Verdict>>>>;

struct VerdictSink(Verdicts);

impl Stage for VerdictSink {
    fn interp(&self, ev: &mut Event<'_>) -> Ret {
        self.0.lock().unwrap().push(ev.verdict());
        Ret::Ok
    }
}

struct Reg {
    reg: Registry,
    seen: Collected,
    verdicts: Verdicts,
}

fn registry() -> Reg {
    logs();
    let mut reg = Registry::new();
    ulogd_netfilter::register(&mut reg);
    ulogd_export::register(&mut reg);
    ulogd_python::register(&mut reg);
    let (spec, seen) = collect_sink("COLLECT");
    reg.add(spec);
    let verdicts: Verdicts = Arc::default();
    let v2 = verdicts.clone();
    reg.add(PluginSpec {
        name: "VERDICTS",
        aliases: &[],
        kind: Kind::Sink,
        summary: "test sink: records each event's verdict",
        options: vec![],
        inputs: vec![],
        outputs: vec![],
        wildcard: false,
        build: Box::new(move |_| {
            Ok(Built::Stage {
                stage: Arc::new(VerdictSink(v2.clone())),
                inputs: Inputs::Keys(vec![]),
                outputs: vec![],
            })
        }),
    });
    Reg {
        reg,
        seen,
        verdicts,
    }
}

fn run(reg: &Registry, stack: &str, sections: &str, threads: usize) -> Report {
    ulogd_core::testing::run(reg, stack, sections, threads).unwrap_or_else(|e| panic!("{e}"))
}

fn build_errors(reg: &Registry, stack: &str, sections: &str) -> String {
    let text = format!("[global]\nlogfile=\"stdout\"\nstack={stack}\n{sections}\n");
    match Engine::from_str(reg, "py.conf", &text) {
        Ok(_) => panic!("stack {stack} was accepted"),
        Err(e) => e
            .iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

/// Runs a Python snippet with the system interpreter (an independent checker).
fn python(code: &str, args: &[&str]) -> String {
    let out = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(code)
        .args(args)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "python3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn replay(file: &str) -> String {
    format!("[r]\nfile=\"{file}\"\n")
}

#[test]
fn example_nflog_log_on_replay() {
    let r = registry();
    // What the lines must say, from ulogd2's own JSON of the same capture.
    let want = python(
        r#"
import json, sys
for l in open(sys.argv[1]):
    d = json.loads(l)
    s = "%sSRC=%s DST=%s PROTO=%s LEN=%s" % (d["oob.prefix"], d["src_ip"], d["dest_ip"], d["ip.protocol"], d["raw.pktlen"])
    if "src_port" in d:
        s += " SPT=%d DPT=%d" % (d["src_port"], d["dest_port"])
    if "icmp.type" in d:
        s += " TYPE=%d" % d["icmp.type"]
    print(s)
"#,
        &[GOLDEN_JSON],
    );
    assert_eq!(want.lines().count(), 20);
    for threads in [0, 2] {
        let t = TmpDir::new(&format!("nflog-{threads}"));
        let out = t.path("packets.log");
        let report = run(
            &r.reg,
            "r:REPLAY,b:BASE,p:PYTHON",
            &format!(
                "{}[p]\nmodule=\"nflog_log\"\npath_append=\"{EXAMPLES}\"\nfile=\"{out}\"\n",
                replay(PCAP)
            ),
            threads,
        );
        assert_eq!(report.get("p", "ok"), Some(20), "{report}");
        assert_eq!(std::fs::read_to_string(&out).unwrap(), want);
    }
}

#[test]
fn example_source_feeds_sink() {
    let r = registry();
    let t = TmpDir::new("source");
    let out = t.path("counter.log");
    let report = run(
        &r.reg,
        "src:PYTHON,out:PYTHON",
        &format!(
            "[src]\nmodule=\"source\"\npath_append=\"{EXAMPLES}\"\ninterval=\"0.01\"\ncount=\"5\"\n\
             [out]\nmodule=\"sink\"\npath_append=\"{EXAMPLES}\"\nfile=\"{out}\"\n"
        ),
        0,
    );
    assert_eq!(report.get("src", "events"), Some(5), "{report}");
    assert_eq!(report.get("src", "python_events"), Some(5));
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    for (i, l) in lines.iter().enumerate() {
        assert!(l.starts_with(&format!("counter={} time=", i + 1)), "{l}");
        assert!(l.ends_with(&format!("label=tick {}", i + 1)), "{l}");
    }
}

#[test]
fn example_nfct_log_with_flow_keys() {
    // No NFCT source in this tree yet: a test source emits NFCT's keys (names and
    // types of ulogd2's NFCT) for one IPv6 and one IPv4 flow.
    let mut r = registry();
    let keys = vec![
        KeyDef::new("oob.family", KeyType::U8),
        KeyDef::new("ct.id", KeyType::U32),
        KeyDef::new("ct.event", KeyType::U32),
        KeyDef::new("orig.ip.saddr", KeyType::IpAddr),
        KeyDef::new("orig.ip.daddr", KeyType::IpAddr),
        KeyDef::new("orig.ip.protocol", KeyType::U8),
        KeyDef::new("orig.l4.sport", KeyType::U16),
        KeyDef::new("orig.l4.dport", KeyType::U16),
        KeyDef::new("orig.raw.pktlen", KeyType::U64),
        KeyDef::new("orig.raw.pktcount", KeyType::U64),
        KeyDef::new("reply.raw.pktlen", KeyType::U64),
        KeyDef::new("reply.raw.pktcount", KeyType::U64),
        KeyDef::new("flow.start.sec", KeyType::U32),
        KeyDef::new("flow.end.sec", KeyType::U32),
    ];
    let a = |s: &str| OwnedValue::Addr(s.parse::<IpAddr>().unwrap());
    let u = OwnedValue::Uint;
    let events = vec![
        vec![
            (0, u(10)),
            (1, u(63229125)),
            (2, u(4)),
            (3, a("fd77::1")),
            (4, a("fd77::2")),
            (5, u(17)),
            (6, u(54541)),
            (7, u(9999)),
            (8, u(5_000_000_000_000)),
            (9, u(1 << 33)),
            (10, u(0)),
            (11, u(0)),
            (12, u(1795560563)),
            (13, u(1795560568)),
        ],
        vec![
            (0, u(2)),
            (1, u(7)),
            (2, u(1)),
            (3, a("10.77.0.1")),
            (4, a("10.77.0.2")),
            (5, u(6)),
            (6, u(40000)),
            (7, u(6001)),
            (8, u(60)),
            (9, u(1)),
        ],
    ];
    r.reg.add(TestSource::spec("NFCTTEST", keys, events));
    let t = TmpDir::new("nfct");
    let out = t.path("flows.log");
    run(
        &r.reg,
        "ct:NFCTTEST,p:PYTHON",
        &format!("[p]\nmodule=\"nfct_log\"\npath_append=\"{EXAMPLES}\"\nfile=\"{out}\"\n"),
        0,
    );
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "DESTROY id=63229125 ipv6 fd77::1:54541 -> fd77::2:9999 proto=17 \
         bytes=5000000000000/0 packets=8589934592/0 duration=5\n\
         NEW id=7 ipv4 10.77.0.1:40000 -> 10.77.0.2:6001 proto=6 \
         bytes=60/None packets=1/None duration=None\n"
    );
}

#[test]
fn example_nfq_accept_sets_verdicts_on_replay() {
    let r = registry();
    let want = python(
        r#"
import json, sys
for l in open(sys.argv[1]):
    d = json.loads(l)
    print("drop" if d.get("dest_port") == 5001 else "accept")
"#,
        &[GOLDEN_JSON],
    );
    run(
        &r.reg,
        "r:REPLAY,b:BASE,p:PYTHON,v:VERDICTS",
        &format!(
            "{}[p]\nmodule=\"nfq_accept\"\npath_append=\"{EXAMPLES}\"\nmark=\"0x10\"\ndrop_ports=\"5001\"\n",
            replay(PCAP)
        ),
        2,
    );
    let got: Vec<&str> = r
        .verdicts
        .lock()
        .unwrap()
        .iter()
        .map(|v| match v {
            Some(Verdict {
                action: VerdictAction::Drop,
                mark: None,
                ..
            }) => "drop",
            Some(Verdict {
                action: VerdictAction::Accept,
                mark: Some(0x10),
                ..
            }) => "accept",
            other => panic!("unexpected verdict {other:?}"),
        })
        .collect();
    assert_eq!(got, want.lines().collect::<Vec<_>>());
    assert_eq!(got.iter().filter(|v| **v == "drop").count(), 4);
}

#[test]
fn example_enrich_then_json() {
    let r = registry();
    let t = TmpDir::new("enrich");
    let table = t.write(
        "inventory.csv",
        "# address,host,owner\n10.77.0.1,web-a,alice\nfd77::1,web-a6,bob\n",
    );
    let out = t.path("out.json");
    run(
        &r.reg,
        "r:REPLAY,b:BASE,inv:PYTHON,i:IP2STR,j:JSON",
        &format!(
            "{}[inv]\nmodule=\"enrich\"\npath_append=\"{EXAMPLES}\"\ntable=\"{table}\"\n\
             default_owner=\"nobody\"\n[j]\nfile=\"{out}\"\nsync=1\n",
            replay(PCAP)
        ),
        2,
    );
    let summary = python(
        r#"
import json, sys
want = {"10.77.0.1": ("web-a", "alice"), "fd77::1": ("web-a6", "bob")}
n = 0
for l in open(sys.argv[1]):
    d = json.loads(l)
    host, owner = want.get(d["src_ip"], (None, "nobody"))
    assert d.get("src_host") == host, d
    assert d["inventory.owner"] == owner, d
    n += 1
print(n)
"#,
        &[&out],
    );
    assert_eq!(summary.trim(), "20");
}

/// A one-thread HTTP server that stores each POST body and answers 200.
fn http_server() -> (String, Arc<Mutex<Vec<Vec<u8>>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/events", l.local_addr().unwrap());
    let bodies: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let b2 = bodies.clone();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let (head_end, len) = loop {
                let n = c.read(&mut chunk).unwrap_or(0);
                if n == 0 {
                    break (0, 0);
                }
                buf.extend_from_slice(&chunk[..n]);
                if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..p]).to_ascii_lowercase();
                    let len = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    break (p + 4, len);
                }
            };
            while buf.len() < head_end + len {
                let n = c.read(&mut chunk).unwrap_or(0);
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            if head_end > 0 && buf.starts_with(b"POST /events") {
                b2.lock()
                    .unwrap()
                    .push(buf[head_end..head_end + len].to_vec());
            }
            let _ =
                c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        }
    });
    (url, bodies)
}

#[test]
fn example_http_batch_posts_json() {
    let r = registry();
    let (url, bodies) = http_server();
    let report = run(
        &r.reg,
        "r:REPLAY,b:BASE,post:PYTHON",
        &format!(
            "{}[post]\nmodule=\"http_batch\"\npath_append=\"{EXAMPLES}\"\nurl=\"{url}\"\nbatch=\"8\"\n",
            replay(PCAP)
        ),
        0,
    );
    assert_eq!(report.get("post", "ok"), Some(20), "{report}");
    let bodies = bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 3, "batches of 8, 8 and the last 4 at stop()");
    let t = TmpDir::new("http");
    let mut files = Vec::new();
    for (i, b) in bodies.iter().enumerate() {
        let p = t.path(&format!("batch{i}.json"));
        std::fs::write(&p, b).unwrap();
        files.push(p);
    }
    let mut args: Vec<&str> = vec![GOLDEN_JSON];
    args.extend(files.iter().map(String::as_str));
    let out = python(
        r#"
import json, sys
golden = [json.loads(l) for l in open(sys.argv[1])]
sizes, got = [], []
for f in sys.argv[2:]:
    batch = json.load(open(f))
    sizes.append(len(batch))
    got.extend(batch)
for g, e in zip(golden, got):
    assert e["ip.saddr"] == g["src_ip"] and e["ip.daddr"] == g["dest_ip"], (g, e)
    assert e["oob.prefix"] == g["oob.prefix"] and e["raw.pktlen"] == g["raw.pktlen"], e
    assert isinstance(e["raw.pkt"], str) and len(e["raw.pkt"]) == 2 * e["raw.pktlen"], e
print(sizes, len(got))
"#,
        &args,
    );
    assert_eq!(out.trim(), "[8, 8, 4] 20");
}

const FORK_STYLE: &str = r#"
import ipaddress
import ulogd

stash = []

def configure(ikeys, okeys):
    ikeys.type = ulogd.ULOGD_DTYPE_PACKET
    okeys.type = ulogd.ULOGD_DTYPE_PACKET
    for name, t in [("oob.prefix", ulogd.ULOGD_RET_STRING), ("raw.pktlen", ulogd.ULOGD_RET_UINT32),
                    ("ip.saddr", ulogd.ULOGD_RET_IPADDR), ("raw.pkt", ulogd.ULOGD_RET_RAW),
                    ("oob.family", ulogd.ULOGD_RET_UINT8)]:
        ikeys.add(ulogd.Keyinfo(name=name, type=t))
    ikeys.add(ulogd.Keyinfo("nosuch.key", 0, ulogd.ULOGD_RET_UINT32, ulogd.ULOGD_KEYF_OPTIONAL))
    for name, t in [("t.u8", ulogd.ULOGD_RET_UINT8), ("t.u64", ulogd.ULOGD_RET_UINT64),
                    ("t.i8", ulogd.ULOGD_RET_INT8), ("t.i64", ulogd.ULOGD_RET_INT64),
                    ("t.bool", ulogd.ULOGD_RET_BOOL), ("t.v4", ulogd.ULOGD_RET_IPADDR),
                    ("t.v6", ulogd.ULOGD_RET_IP6ADDR), ("t.str", ulogd.ULOGD_RET_STRING),
                    ("t.raw", ulogd.ULOGD_RET_RAW), ("t.errors", ulogd.ULOGD_RET_STRING),
                    ("t.unset", ulogd.ULOGD_RET_UINT32)]:
        okeys.add(ulogd.Keyinfo(name=name, type=t))
    try:
        okeys.add(ulogd.Keyinfo(name="t.u8", type=ulogd.ULOGD_RET_UINT8))
        raise AssertionError("duplicate accepted")
    except ValueError:
        pass
    okeys.add(ulogd.Keyinfo(name="t.gone", type=ulogd.ULOGD_RET_UINT8))
    okeys.delete("t.gone")
    return 0

def start(ikset):
    assert len(ikset) == 6 and ikset[0].name == "oob.prefix" and ikset["ip.saddr"].value is None
    return 0

def interp(ikset, okset):
    errors = []
    if stash:
        try:
            stash[0]["oob.prefix"].value
            errors.append("stale keyset readable")
        except RuntimeError:
            pass
        stash.clear()
    stash.append(ikset)
    prefix, totlen = ikset["oob.prefix"].value, ikset["raw.pktlen"].value
    saddr, pkt = ikset["ip.saddr"].value, ikset["raw.pkt"].value
    assert isinstance(prefix, str) and type(totlen) is int, (prefix, totlen)
    assert isinstance(saddr, (ipaddress.IPv4Address, ipaddress.IPv6Address)), saddr
    assert isinstance(pkt, bytes) and len(pkt) == totlen, (pkt, totlen)
    assert ikset["nosuch.key"].value is None and not ikset["nosuch.key"].is_valid()
    assert ikset["ip.saddr"].is_valid() and ikset[2].name == "ip.saddr" and ikset[-1].name == "nosuch.key"
    assert [k.name for k in ikset] == ["oob.prefix", "raw.pktlen", "ip.saddr", "raw.pkt", "oob.family", "nosuch.key"]
    assert "raw.pkt" in ikset and "nope" not in ikset
    assert ikset["raw.pktlen"].type == ulogd.ULOGD_RET_UINT32
    assert ikset["raw.pktlen"].flags & ulogd.ULOGD_RETF_VALID
    okset["t.u8"].value = ikset["oob.family"].value
    okset["t.u64"].value = 2**64 - 1
    okset["t.i8"].value = -128
    okset["t.i64"].value = -2**63
    okset["t.bool"].value = True
    okset["t.v4"].value = saddr + 1 if saddr.version == 4 else ipaddress.IPv4Address("192.0.2.1")
    okset["t.v6"].value = 2**128 - 2
    okset["t.str"].value = prefix.strip().lower()
    okset["t.raw"].value = pkt[:4]
    for key, bad in [("t.u8", "x"), ("t.str", 5), ("t.v4", b"ab"), ("t.raw", "text"), ("t.bool", 1.5)]:
        try:
            okset[key].value = bad
            errors.append("accepted %s=%r" % (key, bad))
        except TypeError as e:
            assert key in str(e), str(e)
    for key, bad in [("t.u8", 256), ("t.i8", -129), ("t.u64", -1)]:
        try:
            okset[key].value = bad
            errors.append("accepted %s=%r" % (key, bad))
        except OverflowError as e:
            assert key in str(e), str(e)
    try:
        ikset["oob.prefix"].value = "x"
        errors.append("input writable")
    except AttributeError:
        pass
    okset["t.errors"].value = ";".join(errors)
    return ulogd.ULOGD_IRET_OK

def stop():
    return 0

def signal(signo):
    return 0
"#;

#[test]
fn fork_style_script_with_every_value_type() {
    let r = registry();
    let t = TmpDir::new("fork");
    t.write("forkstyle.py", FORK_STYLE);
    for threads in [0, 2] {
        r.seen.lock().unwrap().clear();
        let report = run(
            &r.reg,
            "r:REPLAY,b:BASE,py:PYTHON,c:COLLECT",
            &format!(
                "{}[py]\nmodule=\"forkstyle\"\npath_append=\"{}\"\n",
                replay(PCAP),
                t.0.display()
            ),
            threads,
        );
        assert_eq!(report.get("py", "errors"), Some(0), "{report}");
        let seen = r.seen.lock().unwrap();
        assert_eq!(seen.len(), 20);
        for ev in seen.iter() {
            let m: BTreeMap<&str, &OwnedValue> = ev.iter().map(|(k, v)| (k.as_str(), v)).collect();
            assert_eq!(m["t.errors"], &OwnedValue::Bytes(vec![]), "{m:?}");
            assert_eq!(m["t.u8"], m["oob.family"]);
            assert_eq!(m["t.u64"], &OwnedValue::Uint(u64::MAX));
            assert_eq!(m["t.i8"], &OwnedValue::Int(-128));
            assert_eq!(m["t.i64"], &OwnedValue::Int(i64::MIN));
            assert_eq!(m["t.bool"], &OwnedValue::Bool(true));
            assert_eq!(
                m["t.v6"],
                &OwnedValue::Addr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe".parse().unwrap())
            );
            let OwnedValue::Addr(IpAddr::V4(v4)) = m["t.v4"] else {
                panic!("{m:?}")
            };
            match m["ip.saddr"] {
                OwnedValue::Addr(IpAddr::V4(s)) => assert_eq!(u32::from(*v4), u32::from(*s) + 1),
                _ => assert_eq!(v4.to_string(), "192.0.2.1"),
            }
            let OwnedValue::Bytes(pkt) = m["raw.pkt"] else {
                panic!()
            };
            assert_eq!(m["t.raw"], &OwnedValue::Bytes(pkt[..4].to_vec()));
            let OwnedValue::Bytes(prefix) = m["oob.prefix"] else {
                panic!()
            };
            let want = String::from_utf8_lossy(prefix).trim().to_lowercase();
            assert_eq!(m["t.str"], &OwnedValue::Bytes(want.into_bytes()));
            assert!(!m.contains_key("t.unset"));
        }
    }
}

#[test]
fn exception_is_logged_counted_and_later_events_flow() {
    let r = registry();
    let t = TmpDir::new("exc");
    t.write(
        "failing.py",
        r#"
import ulogd
def configure(ikeys, okeys):
    ikeys.add(ulogd.Keyinfo(name="ip.protocol", type=ulogd.ULOGD_RET_UINT8))
    return 0
def start(ikset):
    return 0
def lookup(proto):
    return 100 // (proto - 1)
def interp(ikset, okset):
    lookup(ikset["ip.protocol"].value)
    return ulogd.ULOGD_IRET_OK
def stop():
    return 0
def signal(signo):
    return 0
"#,
    );
    let report = run(
        &r.reg,
        "r:REPLAY,b:BASE,bad:PYTHON,c:COLLECT",
        &format!(
            "{}[bad]\nmodule=\"failing\"\npath_append=\"{}\"\n",
            replay(PCAP),
            t.0.display()
        ),
        2,
    );
    // The 6 ICMP packets (protocol 1) raise ZeroDivisionError; the other 14 flow.
    assert_eq!(report.get("bad", "errors"), Some(6), "{report}");
    assert_eq!(report.get("bad", "python_exceptions"), Some(6));
    assert_eq!(report.get("bad", "ok"), Some(14));
    assert_eq!(r.seen.lock().unwrap().len(), 14);
    let logs = logs().lock().unwrap_or_else(|e| e.into_inner()).clone();
    let tb = logs
        .iter()
        .find(|l| l.contains("[bad] PYTHON module 'failing': exception in interp()"))
        .expect("exception logged");
    assert!(tb.contains("Traceback (most recent call last)"), "{tb}");
    assert!(tb.contains("in lookup"), "{tb}");
    assert!(tb.contains("ZeroDivisionError"), "{tb}");
}

#[test]
fn bad_modules_are_refused_with_their_name() {
    let r = registry();
    let t = TmpDir::new("bad");
    t.write(
        "nointerp.py",
        "def configure(i, o):\n    return 0\ndef start(i):\n    return 0\ndef stop():\n    return 0\ndef signal(s):\n    return 0\n",
    );
    t.write("broken.py", "def configure(:\n");
    t.write(
        "badconf.py",
        "def configure(i, o):\n    raise ValueError('no table')\ndef start(i):\n    return 0\ndef interp(i, o):\n    return 0\ndef stop():\n    return 0\ndef signal(s):\n    return 0\n",
    );
    let dir = t.0.display().to_string();
    let cases = [
        (
            "no_such_module_xyz",
            "cannot load Python module 'no_such_module_xyz': no such module",
        ),
        (
            "nointerp",
            "Python module 'nointerp' lacks the callback interp(ikset, okset)",
        ),
        ("broken", "cannot load Python module 'broken': "),
        ("broken", "SyntaxError: invalid syntax"),
        (
            "badconf",
            "Python module 'badconf': configure() failed: ValueError: no table",
        ),
    ];
    for (module, want) in cases {
        let e = build_errors(
            &r.reg,
            "r:REPLAY,b:BASE,p:PYTHON,c:COLLECT",
            &format!(
                "{}[p]\nmodule=\"{module}\"\npath_append=\"{dir}\"\n",
                replay(PCAP)
            ),
        );
        assert!(e.contains(want), "{module}: {e}");
        assert!(e.contains("[p] (PYTHON)"), "{e}");
    }
    // A source needs no interp(), but needs output keys.
    let e = build_errors(
        &r.reg,
        "p:PYTHON,c:COLLECT",
        &format!("[p]\nmodule=\"nointerp\"\npath_append=\"{dir}\"\n"),
    );
    assert!(
        e.contains("Python module 'nointerp': configure() failed: TypeError"),
        "{e}"
    );
}

#[test]
fn two_instances_of_one_module_keep_their_own_globals_and_config() {
    let r = registry();
    let t = TmpDir::new("twice");
    t.write(
        "counter.py",
        r#"
import ulogd
TAG = ULOGD_CONFIG["tag"]
seen = 0
def configure(ikeys, okeys):
    okeys.add(ulogd.Keyinfo(name="count." + TAG, type=ulogd.ULOGD_RET_UINT32))
    okeys.add(ulogd.Keyinfo(name="instance." + TAG, type=ulogd.ULOGD_RET_STRING))
    return 0
def start(ikset):
    return 0
def interp(ikset, okset):
    global seen
    seen += 1
    okset["count." + TAG].value = seen
    okset["instance." + TAG].value = ULOGD_INSTANCE
    return 0
def stop():
    return 0
def signal(signo):
    return 0
"#,
    );
    let dir = t.0.display().to_string();
    run(
        &r.reg,
        "r:REPLAY,b:BASE,p1:PYTHON,p2:PYTHON,c:COLLECT",
        &format!(
            "{}[p1]\nmodule=\"counter\"\npath_append=\"{dir}\"\ntag=\"a\"\n\
             [p2]\nmodule=\"counter\"\npath_append=\"{dir}\"\ntag=\"b\"\n",
            replay(PCAP)
        ),
        0,
    );
    let seen = r.seen.lock().unwrap();
    let last: BTreeMap<&str, &OwnedValue> = seen[19].iter().map(|(k, v)| (k.as_str(), v)).collect();
    assert_eq!(last["count.a"], &OwnedValue::Uint(20));
    assert_eq!(last["count.b"], &OwnedValue::Uint(20));
    assert_eq!(last["instance.a"], &OwnedValue::Bytes(b"p1".to_vec()));
    assert_eq!(last["instance.b"], &OwnedValue::Bytes(b"p2".to_vec()));
}
