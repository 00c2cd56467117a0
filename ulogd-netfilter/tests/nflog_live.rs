//! Live NFLOG test against the real kernel: two network namespaces joined by a veth
//! pair, nftables in B logging ICMP, ICMPv6, UDP (marked) and TCP to an NFLOG group,
//! and our NFLOG source opened inside B through `network_namespace_path`.
//! Skips with a printed reason when not root or when `ip`/`nft` are missing.

use std::process::Command;
use std::time::Duration;

use ulogd_core::testing::{collect_sink, OwnedValue};
use ulogd_core::{Engine, Registry};

fn ok(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn run(args: &[&str]) {
    let o = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

struct Cleanup(Vec<String>);
impl Drop for Cleanup {
    fn drop(&mut self) {
        for ns in &self.0 {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

#[test]
fn nflog_in_a_namespace_logs_real_traffic() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!("skip: needs root for network namespaces and nftables");
        return;
    }
    if !ok(&["ip", "-V"]) || !ok(&["nft", "--version"]) {
        println!("skip: needs iproute2 and nftables (bash .ci/install-deps)");
        return;
    }
    let id = std::process::id();
    let (a, b) = (format!("nfla{id}"), format!("nflb{id}"));
    let _c = Cleanup(vec![a.clone(), b.clone()]);
    run(&["ip", "netns", "add", &a]);
    run(&["ip", "netns", "add", &b]);
    run(&[
        "ip", "-n", &a, "link", "add", "vA", "type", "veth", "peer", "name", "vB", "netns", &b,
    ]);
    for (ns, dev, v4, v6) in [
        (&a, "vA", "10.78.0.1/24", "fd78::1/64"),
        (&b, "vB", "10.78.0.2/24", "fd78::2/64"),
    ] {
        run(&["ip", "-n", ns, "addr", "add", v4, "dev", dev]);
        run(&["ip", "-n", ns, "addr", "add", v6, "dev", dev, "nodad"]);
        run(&["ip", "-n", ns, "link", "set", dev, "up"]);
        run(&["ip", "-n", ns, "link", "set", "lo", "up"]);
    }
    let rules = r#"table inet t {
  chain in { type filter hook input priority 0; policy accept;
    meta l4proto icmp log prefix "IN-ICMP " group 33
    icmpv6 type echo-request log prefix "IN-ICMP6 " group 33
    udp dport 5001 meta mark set 0x2a log prefix "it's 'quoted' now " group 33
  }
}"#;
    let mut nft = Command::new("ip")
        .args(["netns", "exec", &b, "nft", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    nft.stdin
        .take()
        .unwrap()
        .write_all(rules.as_bytes())
        .unwrap();
    assert!(nft.wait().unwrap().success(), "nft rules");

    let mut reg = Registry::new();
    ulogd_netfilter::register(&mut reg);
    let (spec, seen) = collect_sink("COLLECT");
    reg.add(spec);
    let conf = format!(
        "[global]\nlogfile=\"stdout\"\nloglevel=7\nthreads=2\nstack=log1:NFLOG,base1:BASE,out:COLLECT\n\
         [log1]\ngroup=33\nseq_local=1\nnetwork_namespace_path=\"/var/run/netns/{b}\"\n"
    );
    let mut engine = Engine::from_str(&reg, "live.conf", &conf).unwrap_or_else(|e| panic!("{e:?}"));
    engine.start().expect("NFLOG binds inside the namespace");
    let h = engine.handle();
    let t = std::thread::spawn(move || engine.run().unwrap());
    run(&[
        "ip",
        "netns",
        "exec",
        &a,
        "ping",
        "-c",
        "3",
        "-i",
        "0.2",
        "-W",
        "1",
        "10.78.0.2",
    ]);
    run(&[
        "ip", "netns", "exec", &a, "ping", "-6", "-c", "2", "-i", "0.2", "-W", "1", "fd78::2",
    ]);
    run(&[
        "ip",
        "netns",
        "exec",
        &a,
        "bash",
        "-c",
        "echo hello > /dev/udp/10.78.0.2/5001",
    ]);
    // The kernel may hold NFLOG messages up to its flush timeout (1 s by default).
    for _ in 0..50 {
        if seen.lock().unwrap().len() >= 6 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    h.stop();
    let report = t.join().unwrap();

    let rows = seen.lock().unwrap().clone();
    let get = |row: &Vec<(String, OwnedValue)>, k: &str| {
        row.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    };
    let prefix = |row: &Vec<(String, OwnedValue)>| match get(row, "oob.prefix") {
        Some(OwnedValue::Bytes(b)) => String::from_utf8_lossy(&b).to_string(),
        _ => String::new(),
    };
    let icmp: Vec<_> = rows.iter().filter(|r| prefix(r) == "IN-ICMP ").collect();
    let icmp6: Vec<_> = rows.iter().filter(|r| prefix(r) == "IN-ICMP6 ").collect();
    let udp: Vec<_> = rows
        .iter()
        .filter(|r| prefix(r) == "it's 'quoted' now ")
        .collect();
    assert_eq!((icmp.len(), icmp6.len(), udp.len()), (3, 2, 1), "{rows:?}");
    for r in &icmp {
        assert_eq!(get(r, "oob.family"), Some(OwnedValue::Uint(2)));
        assert_eq!(get(r, "oob.hook"), Some(OwnedValue::Uint(1)));
        assert_eq!(get(r, "oob.protocol"), Some(OwnedValue::Uint(0x0800)));
        assert_eq!(get(r, "raw.pktlen"), Some(OwnedValue::Uint(84)));
        assert_eq!(get(r, "icmp.type"), Some(OwnedValue::Uint(8)));
        assert_eq!(
            get(r, "ip.saddr"),
            Some(OwnedValue::Addr("10.78.0.1".parse().unwrap()))
        );
        assert!(matches!(get(r, "oob.ifindex_in"), Some(OwnedValue::Uint(i)) if i > 1));
        assert_eq!(get(r, "raw.mac_len"), Some(OwnedValue::Uint(14)));
    }
    for r in &icmp6 {
        assert_eq!(get(r, "oob.family"), Some(OwnedValue::Uint(10)));
        assert_eq!(get(r, "icmpv6.type"), Some(OwnedValue::Uint(128)));
        assert_eq!(
            get(r, "ip.saddr"),
            Some(OwnedValue::Addr("fd78::1".parse().unwrap()))
        );
    }
    assert_eq!(get(udp[0], "oob.mark"), Some(OwnedValue::Uint(0x2a)));
    assert_eq!(get(udp[0], "udp.dport"), Some(OwnedValue::Uint(5001)));
    assert_eq!(get(udp[0], "udp.len"), Some(OwnedValue::Uint(14)));
    // Sequence numbers were asked for, arrive in order, and nothing was lost.
    let seqs: Vec<u64> = rows
        .iter()
        .filter_map(|r| match get(r, "oob.seq.local") {
            Some(OwnedValue::Uint(s)) => Some(s),
            _ => None,
        })
        .collect();
    assert_eq!(seqs.len(), rows.len());
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    assert_eq!(report.get("log1", "seq_gaps"), Some(0));
    assert_eq!(report.get("log1", "overruns"), Some(0));
    assert_eq!(report.get("log1", "received"), Some(rows.len() as u64));
}
