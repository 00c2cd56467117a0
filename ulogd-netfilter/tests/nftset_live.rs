//! Live NFTSET test against the real kernel, in a private network namespace: pings
//! from 192.0.2.10 are logged by nftables to NFLOG, NFLOG,BASE,NFTSET adds the source
//! address to set `blocked`, and the next pings from that address are dropped by a
//! rule on the set (`nft list set` and the rule's counter say so); pings from an
//! allowlisted 192.0.2.20 are logged but never added; the element expires after its
//! timeout. Skips with a printed reason when not root (fails under CI).

use std::time::{Duration, Instant};

use ulogd_core::testing::netns::{nft, ok_in, require, run_in, Netns};
use ulogd_core::{Engine, Registry};

fn set_has(ns: &str, addr: &str) -> bool {
    run_in(ns, &["nft", "list", "set", "inet", "t", "blocked"]).contains(addr)
}

fn ping_from(ns: &str, src: &str) -> bool {
    ok_in(ns, &["ping", "-c", "1", "-W", "1", "-I", src, "127.0.0.1"])
}

fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < end, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn logged_address_is_blocked_allowlisted_is_not_and_entries_expire() {
    if !require(
        "NFTSET live test",
        &[&["ip", "-V"], &["nft", "--version"], &["ping", "-V"]],
    ) {
        return;
    }
    let g = Netns::create("st-set", 1);
    let ns = g.name(0).to_string();
    run_in(&ns, &["ip", "addr", "add", "192.0.2.10/32", "dev", "lo"]);
    run_in(&ns, &["ip", "addr", "add", "192.0.2.20/32", "dev", "lo"]);
    nft(
        &ns,
        "table inet t {
           set blocked { type ipv4_addr; flags timeout; }
           chain c {
             type filter hook input priority 0;
             ip saddr @blocked counter drop
             icmp type echo-request log group 7
           }
         }",
    );
    let mut reg = Registry::new();
    ulogd_netfilter::register(&mut reg);
    let conf = format!(
        "[global]\nlogfile=\"stdout\"\nstack=log1:NFLOG,base1:BASE,block1:NFTSET\n\
         [log1]\ngroup=7\nnetwork_namespace_path=\"{p}\"\n\
         [block1]\ntable=\"t\"\nset=\"blocked\"\ntimeout=3\nallowlist=\"192.0.2.20/32\"\n\
         network_namespace_path=\"{p}\"\n",
        p = g.path(0)
    );
    let mut engine = Engine::from_str(&reg, "live.conf", &conf).unwrap_or_else(|e| panic!("{e:?}"));
    engine.start().unwrap();
    let h = engine.handle();
    let th = std::thread::spawn(move || engine.run().unwrap());

    assert!(
        ping_from(&ns, "192.0.2.10"),
        "the first ping passes (and is logged)"
    );
    wait_until("192.0.2.10 in the set", 3, || set_has(&ns, "192.0.2.10"));
    assert!(
        !ping_from(&ns, "192.0.2.10"),
        "the next ping is dropped by the set rule"
    );
    let rules = run_in(&ns, &["nft", "list", "chain", "inet", "t", "c"]);
    assert!(
        !rules.contains("counter packets 0 "),
        "the drop rule counted the blocked ping: {rules}"
    );

    for _ in 0..3 {
        assert!(ping_from(&ns, "192.0.2.20"), "allowlisted: never blocked");
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !set_has(&ns, "192.0.2.20"),
        "an allowlisted address is never added"
    );

    // The element's 3 s timeout: it disappears, and the address gets through again.
    wait_until("192.0.2.10 expired", 8, || !set_has(&ns, "192.0.2.10"));
    h.stop();
    let report = th.join().unwrap();
    assert_eq!(report.get("block1", "added"), Some(1), "{report}");
    assert_eq!(report.get("block1", "allowlisted"), Some(3), "{report}");
    assert_eq!(report.get("block1", "errors"), Some(0), "{report}");
}
