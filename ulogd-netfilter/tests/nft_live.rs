//! Live NFT test against the real kernel: in a private network namespace, `nft`
//! adds and deletes a table, a chain, a rule with a comment, a set and an element,
//! while our NFT source and `nft monitor` (the nftables tool itself) both watch; the
//! two must report the same changes in the same order, and the same generations and
//! processes. Skips with a printed reason when not root (fails under CI).

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ulogd_core::testing::netns::{require, run_in, Netns};
use ulogd_core::testing::{collect_sink, Collected, OwnedValue};
use ulogd_core::{Engine, Registry};

fn text(row: &[(String, OwnedValue)], k: &str) -> String {
    match row.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()) {
        Some(OwnedValue::Bytes(b)) => String::from_utf8(b).unwrap(),
        Some(OwnedValue::Uint(v)) => v.to_string(),
        None => String::new(),
        other => panic!("{k}: {other:?}"),
    }
}

fn wait_for(seen: &Collected, n: usize, secs: u64) {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end && seen.lock().unwrap().len() < n {
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn nft_events_match_nft_monitor() {
    if !require("NFT live test", &[&["ip", "-V"], &["nft", "--version"]]) {
        return;
    }
    let g = Netns::create("st-nft", 1);
    let ns = g.name(0).to_string();

    let mut reg = Registry::new();
    ulogd_netfilter::register(&mut reg);
    let (sink, seen) = collect_sink("COLLECT");
    reg.add(sink);
    let conf = format!(
        "[global]\nlogfile=\"stdout\"\nstack=n1:NFT,c:COLLECT\n\
         [n1]\nnetwork_namespace_path=\"{}\"\n",
        g.path(0)
    );
    let mut engine = Engine::from_str(&reg, "live.conf", &conf).unwrap_or_else(|e| panic!("{e:?}"));
    engine.start().unwrap();
    let h = engine.handle();
    let th = std::thread::spawn(move || engine.run().unwrap());
    let mut monitor = Command::new("ip")
        .args(["netns", "exec", &ns, "nft", "monitor"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));

    let nft = |cmd: &str| run_in(&ns, &["nft", cmd]);
    nft("add table inet t");
    nft("add chain inet t c { type filter hook input priority 0; }");
    nft("add rule inet t c ip saddr 192.0.2.1 drop comment \"block one\"");
    nft("add set inet t s { type ipv4_addr; flags timeout; }");
    nft("add element inet t s { 192.0.2.7 timeout 60s }");
    nft("delete element inet t s { 192.0.2.7 }");
    let listing = run_in(&ns, &["nft", "-a", "list", "chain", "inet", "t", "c"]);
    let handle = listing
        .lines()
        .find(|l| l.contains("block one"))
        .and_then(|l| l.rsplit("# handle ").next())
        .map(|h| h.trim().to_string())
        .unwrap();
    nft(&format!("delete rule inet t c handle {handle}"));
    nft("delete set inet t s");
    nft("delete chain inet t c");
    nft("delete table inet t");
    // 10 changes and 10 generations.
    wait_for(&seen, 20, 5);
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: ending our own child.
    unsafe { libc::kill(monitor.id() as libc::pid_t, libc::SIGTERM) };
    let mut mon = String::new();
    monitor
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut mon)
        .unwrap();
    let _ = monitor.wait();
    h.stop();
    th.join().unwrap();

    let rows = seen.lock().unwrap().clone();
    // What nft monitor printed, as (event, object, family, table, name) and generations.
    let mut theirs = Vec::new();
    let mut their_gens = Vec::new();
    for l in mon.lines() {
        if let Some(g) = l.strip_prefix("# new generation ") {
            // "# new generation 5 by process 1234 (nft)"
            let w: Vec<&str> = g.split_whitespace().collect();
            their_gens.push((
                w[0].to_string(),
                w[3].to_string(),
                w[4].trim_matches(['(', ')']).to_string(),
            ));
            continue;
        }
        let w: Vec<&str> = l.split_whitespace().collect();
        if w.len() < 4 {
            continue;
        }
        let name = match w[1] {
            "table" => String::new(),
            _ => w[4].to_string(),
        };
        theirs.push((
            w[0].to_string(),
            w[1].to_string(),
            w[2].to_string(),
            w[3].to_string(),
            name,
        ));
    }
    let mut ours = Vec::new();
    let mut our_gens = Vec::new();
    for r in &rows {
        let obj = text(r, "nft.object");
        if obj == "generation" {
            our_gens.push((
                text(r, "nft.gen"),
                text(r, "nft.proc.pid"),
                text(r, "nft.proc.name"),
            ));
            continue;
        }
        let name = match obj.as_str() {
            "table" => String::new(),
            "chain" | "rule" => text(r, "nft.chain"),
            _ => text(r, "nft.set"),
        };
        ours.push((
            text(r, "nft.event"),
            obj,
            text(r, "nft.family"),
            text(r, "nft.table"),
            name,
        ));
    }
    assert_eq!(ours.len(), 10, "{ours:?}\nnft monitor:\n{mon}");
    assert_eq!(ours, theirs, "nft monitor:\n{mon}");
    assert_eq!(
        our_gens, their_gens,
        "generations and processes as nft monitor"
    );
    // Details nft monitor shows in its own syntax.
    let rule = rows
        .iter()
        .find(|r| text(r, "nft.object") == "rule")
        .unwrap();
    assert_eq!(text(rule, "nft.comment"), "block one");
    assert_eq!(text(rule, "nft.handle"), handle);
    let elem = rows
        .iter()
        .find(|r| text(r, "nft.object") == "element")
        .unwrap();
    assert_eq!(text(elem, "nft.elem"), "192.0.2.7");
    assert_eq!(text(elem, "nft.elem.timeout"), "60000");
    assert!(mon.contains("192.0.2.7"), "{mon}");
}
