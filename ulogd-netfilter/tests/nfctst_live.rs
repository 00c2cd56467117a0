//! Live NFCTST test against the real kernel: a network namespace whose conntrack table
//! holds a few flows (UDP on loopback through an `nft ... ct state` rule, so conntrack
//! is active there), our NFCTST source polling inside it, and its figures compared
//! with `conntrack -S` (per-CPU counters) and `conntrack -C` (entries), the tools of
//! the Debian package `conntrack`. Skips with a printed reason when not root or a
//! tool is missing; under CI (`CI=true`) that fails the test.

use std::time::{Duration, Instant};

use ulogd_core::testing::netns::{nft, require, run_in, Netns};
use ulogd_core::testing::{collect_sink, Collected, OwnedValue};
use ulogd_core::{Engine, Registry};

fn get(row: &[(String, OwnedValue)], k: &str) -> Option<u64> {
    match row.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()) {
        Some(OwnedValue::Uint(v)) => Some(v),
        None => None,
        other => panic!("{k}: {other:?}"),
    }
}

fn wait_for(seen: &Collected, n: usize, secs: u64) {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end && seen.lock().unwrap().len() < n {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `conntrack -S` lines: `cpu=0 found=0 invalid=0 insert=0 ...`, as name → value per cpu.
fn conntrack_s(ns: &str) -> Vec<Vec<(String, u64)>> {
    run_in(ns, &["conntrack", "-S"])
        .lines()
        .map(|l| {
            l.split_whitespace()
                .filter_map(|f| f.split_once('='))
                .map(|(k, v)| (k.to_string(), v.parse().unwrap()))
                .collect()
        })
        .collect()
}

#[test]
fn nfctst_matches_conntrack_s_and_c() {
    if !require(
        "NFCTST live test",
        &[
            &["ip", "-V"],
            &["nft", "--version"],
            &["conntrack", "--version"],
        ],
    ) {
        return;
    }
    let g = Netns::create("st-ct", 1);
    let ns = g.name(0).to_string();
    nft(
        &ns,
        "table inet t { chain c { type filter hook input priority 0; ct state new counter; }; }",
    );
    for port in 3000..3005 {
        run_in(
            &ns,
            &["bash", "-c", &format!("echo x > /dev/udp/127.0.0.1/{port}")],
        );
    }
    let entries: u64 = run_in(&ns, &["conntrack", "-C"]).trim().parse().unwrap();
    assert!(entries >= 5, "the flows are in the table: {entries}");
    let before = conntrack_s(&ns);

    let mut reg = Registry::new();
    ulogd_netfilter::register(&mut reg);
    let (sink, seen) = collect_sink("COLLECT");
    reg.add(sink);
    let conf = format!(
        "[global]\nlogfile=\"stdout\"\nstack=st1:NFCTST,c:COLLECT\n\
         [st1]\npollinterval=1\nper_cpu=1\n\
         network_namespace_path=\"{}\"\n",
        g.path(0)
    );
    let mut engine = Engine::from_str(&reg, "live.conf", &conf).unwrap_or_else(|e| panic!("{e:?}"));
    engine.start().unwrap();
    let h = engine.handle();
    let th = std::thread::spawn(move || engine.run().unwrap());
    let cpus = before.len();
    // The first poll: one event per CPU, then the totals.
    wait_for(&seen, cpus + 1, 5);
    h.stop();
    th.join().unwrap();
    let after = conntrack_s(&ns);
    assert_eq!(before, after, "nothing moved the counters during the test");

    let rows = seen.lock().unwrap().clone();
    assert!(rows.len() > cpus, "{rows:?}");
    let mut totals: Vec<(String, u64)> = Vec::new();
    for (i, line) in before.iter().enumerate() {
        let row = &rows[i];
        for (k, v) in line {
            if k == "cpu" {
                assert_eq!(get(row, "nfctst.cpu"), Some(*v));
                continue;
            }
            assert_eq!(
                get(row, &format!("nfctst.{k}")),
                Some(*v),
                "cpu {i} {k} as conntrack -S says"
            );
            match totals.iter_mut().find(|(n, _)| n == k) {
                Some((_, t)) => *t += v,
                None => totals.push((k.clone(), *v)),
            }
        }
    }
    let sum = &rows[cpus];
    assert_eq!(get(sum, "nfctst.cpu"), None, "the totals event has no cpu");
    for (k, v) in &totals {
        assert_eq!(get(sum, &format!("nfctst.{k}")), Some(*v), "total {k}");
    }
    assert_eq!(
        get(sum, "nfctst.entries"),
        Some(entries),
        "entries as conntrack -C"
    );
    assert!(get(sum, "nfctst.max_entries").unwrap_or(0) > 0);
    assert!(get(sum, "oob.time.sec").unwrap_or(0) > 1_600_000_000);
}
