//! Live NFACCT tests against the real kernel: a network namespace with an nfacct
//! object (`nfacct add`, the tool from the Debian package `nfacct`) counted by an
//! iptables `-m nfacct` rule, UDP packets on loopback, and our NFACCT source polling
//! inside the namespace. Our counters are compared with `nfacct get`. Skips with a
//! printed reason when not root or a tool is missing.

use std::time::{Duration, Instant};

use ulogd_core::testing::netns::{require, run, Netns};
use ulogd_core::testing::{collect_sink, Collected, OwnedValue};
use ulogd_core::{Engine, Registry};

/// Root, iproute2, iptables and nfacct, or skip (fail under CI).
fn can_run() -> bool {
    require(
        "NFACCT live tests",
        &[
            &["ip", "-V"],
            &["iptables", "--version"],
            &["nfacct", "version"],
        ],
    )
}

/// A namespace with objects `udp2000` (5 packets of 30 bytes counted) and `idle`.
fn setup(tag: &str) -> (String, Netns) {
    let guard = Netns::create(&format!("nl-acct{tag}"), 1);
    let ns = guard.name(0).to_string();
    let x = |args: &[&str]| {
        let mut v = vec!["ip", "netns", "exec", ns.as_str()];
        v.extend_from_slice(args);
        run(&v)
    };
    x(&["nfacct", "add", "udp2000"]);
    x(&["nfacct", "add", "idle"]);
    x(&[
        "iptables",
        "-A",
        "INPUT",
        "-p",
        "udp",
        "--dport",
        "2000",
        "-m",
        "nfacct",
        "--nfacct-name",
        "udp2000",
    ]);
    for _ in 0..5 {
        // 20 (IPv4) + 8 (UDP) + 2 ("x\n") = 30 bytes.
        x(&["bash", "-c", "echo x > /dev/udp/127.0.0.1/2000"]);
    }
    (ns, guard)
}

/// `nfacct get NAME` in `ns`: (packets, bytes).
fn nfacct_get(ns: &str, name: &str) -> (u64, u64) {
    let out = run(&["ip", "netns", "exec", ns, "nfacct", "get", name]);
    // { pkts = 00000000000000000005, bytes = 00000000000000000150 } = udp2000;
    let num = |key: &str| -> u64 {
        let i = out.find(key).unwrap_or_else(|| panic!("{out}")) + key.len();
        out[i..]
            .trim_start_matches([' ', '='])
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    (num("pkts"), num("bytes"))
}

fn get(row: &[(String, OwnedValue)], k: &str) -> Option<OwnedValue> {
    row.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
}

fn wait_for(seen: &Collected, n: usize, secs: u64) {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end && seen.lock().unwrap().len() < n {
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn nfacct_totals_match_the_nfacct_tool_in_every_stack() {
    if !can_run() {
        return;
    }
    let (ns, _g) = setup("t");
    let mut reg = Registry::new();
    ulogd_netfilter::register(&mut reg);
    let (s1, seen1) = collect_sink("COLLECT1");
    let (s2, seen2) = collect_sink("COLLECT2");
    reg.add(s1);
    reg.add(s2);
    // One NFACCT instance shared by two stacks: both get real times (ulogd2 gave the
    // second one 1970).
    let conf = format!(
        "[global]\nlogfile=\"stdout\"\nthreads=2\n\
         stack=acct1:NFACCT,a:COLLECT1\nstack=acct1:NFACCT,b:COLLECT2\n\
         [acct1]\npollinterval=1\nzerocounter=0\ntimestamp=1\n\
         network_namespace_path=\"/var/run/netns/{ns}\"\n"
    );
    let mut engine = Engine::from_str(&reg, "live.conf", &conf).unwrap_or_else(|e| panic!("{e:?}"));
    engine.start().unwrap();
    let h = engine.handle();
    let t0 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let th = std::thread::spawn(move || engine.run().unwrap());
    // Two polls: four records per stack.
    wait_for(&seen2, 4, 5);
    h.stop();
    let report = th.join().unwrap();
    let (pkts, bytes) = nfacct_get(&ns, "udp2000");
    assert_eq!((pkts, bytes), (5, 150));
    for seen in [&seen1, &seen2] {
        let rows = seen.lock().unwrap().clone();
        assert!(rows.len() >= 4, "{rows:?}");
        for r in &rows {
            let name = match get(r, "sum.name") {
                Some(OwnedValue::Bytes(b)) => String::from_utf8(b).unwrap(),
                other => panic!("{other:?}"),
            };
            let want = if name == "udp2000" { (5, 150) } else { (0, 0) };
            assert_eq!(
                (get(r, "sum.pkts"), get(r, "sum.bytes")),
                (
                    Some(OwnedValue::Uint(want.0)),
                    Some(OwnedValue::Uint(want.1))
                ),
                "{name}"
            );
            match get(r, "oob.time.sec") {
                Some(OwnedValue::Uint(s)) => assert!(s >= t0 && s <= t0 + 10, "{s} vs {t0}"),
                other => panic!("oob.time.sec {other:?}"),
            }
            assert!(get(r, "oob.time.usec").is_some());
        }
    }
    assert_eq!(report.get("acct1", "parse_errors"), Some(0));
    assert_eq!(report.get("acct1", "errors"), Some(0));
}

#[test]
fn nfacct_zerocounter_and_sigusr2_poll_at_once() {
    if !can_run() {
        return;
    }
    let (ns, _g) = setup("z");
    let mut reg = Registry::new();
    ulogd_netfilter::register(&mut reg);
    let (s1, seen) = collect_sink("COLLECT");
    reg.add(s1);
    let conf = format!(
        "[global]\nlogfile=\"stdout\"\nthreads=0\nstack=acct1:NFACCT,a:COLLECT\n\
         [acct1]\npollinterval=3600\nnetwork_namespace_path=\"/var/run/netns/{ns}\"\n"
    );
    let mut engine = Engine::from_str(&reg, "live.conf", &conf).unwrap_or_else(|e| panic!("{e:?}"));
    engine.start().unwrap();
    let h = engine.handle();
    let th = std::thread::spawn(move || engine.run().unwrap());
    std::thread::sleep(Duration::from_millis(200));
    assert!(seen.lock().unwrap().is_empty(), "no poll before the hour");
    h.signal(ulogd_core::Signal::Usr2);
    wait_for(&seen, 2, 3);
    h.stop();
    th.join().unwrap();
    let rows = seen.lock().unwrap().clone();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let udp = rows
        .iter()
        .find(|r| get(r, "sum.name") == Some(OwnedValue::Bytes(b"udp2000".to_vec())))
        .unwrap();
    assert_eq!(get(udp, "sum.pkts"), Some(OwnedValue::Uint(5)));
    assert_eq!(get(udp, "sum.bytes"), Some(OwnedValue::Uint(150)));
    // timestamp=0 (default): no time keys, as ulogd2.
    assert_eq!(get(udp, "oob.time.sec"), None);
    // zerocounter=1 (default): the kernel's counters were reset by our read.
    assert_eq!(nfacct_get(&ns, "udp2000"), (0, 0));
}
