//! Live NFQUEUE with a Python verdict: two network namespaces A and B joined by a
//! veth pair, `iptables -j NFQUEUE` in B, NFQ opened inside B, and
//! `examples/python/nfq_accept.py` deciding: udp/9999 dropped, everything else
//! accepted with mark 0x1. nftables counters in a later input chain of B (priority
//! 10) see what the verdicts let through and the mark. Skips with a printed reason
//! when not root or when `ip`/`nft`/`iptables`/`ping` are missing (fails under CI).

use std::time::Duration;

use ulogd_core::testing::netns::{nft, ok, require, run, Netns};
use ulogd_core::{Engine, Registry};

const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/python");

/// Root and the tools, or skip (fail under CI).
fn can_run() -> bool {
    require(
        "NFQ with a Python verdict",
        &[
            &["ip", "netns", "list"],
            &["nft", "--version"],
            &["iptables", "-V"],
            &["ping", "-V"],
        ],
    )
}

fn counter(ns: &str, name: &str) -> u64 {
    let out = run(&[
        "ip", "netns", "exec", ns, "nft", "list", "table", "inet", "t",
    ]);
    let line = out
        .lines()
        .find(|l| l.contains(&format!("comment \"{name}\"")))
        .unwrap_or_else(|| panic!("no counter {name} in\n{out}"));
    let after = line.split("packets ").nth(1).expect("counter packets");
    after.split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn python_verdict_drops_one_flow_and_accepts_another() {
    if !can_run() {
        return;
    }
    let guard = Netns::create("nl-pyq", 2);
    let (a, b) = (guard.name(0).to_string(), guard.name(1).to_string());
    run(&[
        "ip", "-n", &a, "link", "add", "vA", "type", "veth", "peer", "name", "vB", "netns", &b,
    ]);
    for (ns, dev, h) in [(&a, "vA", 1), (&b, "vB", 2)] {
        let v4 = format!("10.83.7.{h}/24");
        run(&["ip", "-n", ns, "addr", "add", &v4, "dev", dev]);
        run(&["ip", "-n", ns, "link", "set", dev, "up"]);
    }
    run(&[
        "ip",
        "netns",
        "exec",
        &b,
        "iptables",
        "-A",
        "INPUT",
        "-s",
        "10.83.7.0/24",
        "-j",
        "NFQUEUE",
        "--queue-num",
        "5",
    ]);
    let rules = "table inet t {\n chain c { type filter hook input priority 10; policy accept;\n\
                 meta mark 0x1 counter comment \"marked\"\n\
                 udp dport 9999 counter comment \"dropped\"\n\
                 udp dport 9998 counter comment \"passed\"\n }\n}\n";
    nft(&b, rules);

    let mut reg = Registry::new();
    ulogd_netfilter::register(&mut reg);
    ulogd_export::register(&mut reg);
    ulogd_python::register(&mut reg);
    let conf = format!(
        "[global]\nlogfile=\"stdout\"\nthreads=2\nstack=q:NFQ,base:BASE,py:PYTHON\n\
         [q]\nqueue_num=5\ndefault_verdict=accept\nnetwork_namespace_path=\"/var/run/netns/{b}\"\n\
         [py]\nmodule=\"nfq_accept\"\npath_append=\"{EXAMPLES}\"\nmark=\"0x1\"\ndrop_ports=\"9999\"\n"
    );
    let mut engine = Engine::from_str(&reg, "nfq.conf", &conf).unwrap_or_else(|e| panic!("{e:?}"));
    engine.start().expect("NFQ binds inside the namespace");
    let h = engine.handle();
    let t = std::thread::spawn(move || engine.run().unwrap());

    assert!(
        ok(&[
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
            "10.83.7.2",
        ]),
        "ping is accepted by the script"
    );
    for port in [9999, 9998] {
        let n = if port == 9999 { 5 } else { 4 };
        run(&[
            "ip",
            "netns",
            "exec",
            &a,
            "bash",
            "-c",
            &format!("for i in $(seq {n}); do echo x > /dev/udp/10.83.7.2/{port}; done"),
        ]);
    }
    for _ in 0..50 {
        if counter(&b, "passed") >= 4 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(200));
    h.stop();
    let report = t.join().unwrap();
    println!("{report}");
    assert_eq!(counter(&b, "dropped"), 0, "udp/9999 dropped by the script");
    assert_eq!(counter(&b, "passed"), 4, "udp/9998 accepted by the script");
    assert_eq!(
        counter(&b, "marked"),
        3 + 4,
        "ping and udp/9998 carry the mark the script set"
    );
    assert_eq!(report.get("py", "python_exceptions"), Some(0));
    assert_eq!(report.get("py", "in"), Some(3 + 5 + 4));
}
