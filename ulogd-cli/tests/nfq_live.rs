//! Live NFQ / MTNFQ tests against the real kernel: two network namespaces A and B
//! joined by a veth pair, `iptables -j NFQUEUE` in B (iptables-nft: this kernel has no
//! nft `queue` expression built in), our source opened inside B through
//! `network_namespace_path`, and nftables counters in a later input chain of B (priority
//! 10) that see what our verdicts let through, with the mark they set. Skips with a
//! printed reason when not root or when `ip`/`nft`/`iptables` are missing (fails under CI).

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ulogd_core::testing::netns::{nft, ok, require, run, Netns};
use ulogd_core::testing::{collect_sink, OwnedValue};
use ulogd_core::{Built, Engine, Event, Inputs, Kind, PluginSpec, Registry, Ret, Stage};

/// Root, iproute2, nftables and iptables, or skip (fail under CI).
fn can_run() -> bool {
    require(
        "NFQ live tests",
        &[
            &["ip", "netns", "list"],
            &["nft", "--version"],
            &["iptables", "-V"],
        ],
    )
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Namespaces A (10.81.N.1) and B (10.81.N.2); in B, packets from A go to NFQUEUE
/// (`iptables_target`), then to nft chain `t/c` whose counters carry `counters`.
fn setup(iptables_target: &str, counters: &str) -> (Netns, String, String, String) {
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let guard = Netns::create("nl-nfq", 2);
    let (a, b) = (guard.name(0).to_string(), guard.name(1).to_string());
    run(&[
        "ip", "-n", &a, "link", "add", "vA", "type", "veth", "peer", "name", "vB", "netns", &b,
    ]);
    let net = 20 + n as u8;
    for (ns, dev, h) in [(&a, "vA", 1), (&b, "vB", 2)] {
        let v4 = format!("10.81.{net}.{h}/24");
        run(&["ip", "-n", ns, "addr", "add", &v4, "dev", dev]);
        run(&["ip", "-n", ns, "link", "set", dev, "up"]);
    }
    let vb = format!("10.81.{net}.2");
    let src = format!("10.81.{net}.0/24");
    let mut args = vec![
        "ip", "netns", "exec", &b, "iptables", "-A", "INPUT", "-s", &src, "-j",
    ];
    args.extend(iptables_target.split_whitespace());
    run(&args);
    let rules = format!(
        "table inet t {{\n chain c {{ type filter hook input priority 10; policy accept;\n{counters}\n }}\n}}\n"
    );
    nft(&b, &rules);
    (guard, a, b, vb)
}

/// Packets counted by the nft rule with `comment "NAME"` in namespace `ns`.
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

fn udp(ns: &str, dst: &str, port: u16, count: usize) {
    run(&[
        "ip",
        "netns",
        "exec",
        ns,
        "bash",
        "-c",
        &format!("for i in $(seq {count}); do echo x > /dev/udp/{dst}/{port}; done"),
    ]);
}

fn ping(ns: &str, dst: &str, count: u32) -> bool {
    ok(&[
        "ip",
        "netns",
        "exec",
        ns,
        "ping",
        "-c",
        &count.to_string(),
        "-i",
        "0.2",
        "-W",
        "1",
        dst,
    ])
}

fn wait_for(mut f: impl FnMut() -> bool) {
    for _ in 0..60 {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn verdict_rules_drop_one_flow_pass_another_and_set_a_mark() {
    if !can_run() {
        return;
    }
    let (_g, a, b, vb) = setup(
        "NFQUEUE --queue-num 3",
        r#"  meta mark 0x1 counter comment "marked"
  udp dport 9999 counter comment "dropped"
  udp dport 9998 counter comment "passed""#,
    );
    let dir = std::env::temp_dir().join(format!("nfq-live-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("nfq.json");
    let mut reg = Registry::new();
    ulogd_netfilter::register(&mut reg);
    ulogd_export::register(&mut reg);
    let (spec, seen) = collect_sink("COLLECT");
    reg.add(spec);
    let conf = format!(
        "[global]\nlogfile=\"stdout\"\nthreads=0\n\
         stack=q:NFQ,base:BASE,v:VERDICT,out:COLLECT\nstack=q:NFQ,j:JSON\n\
         [q]\nqueue_num=3\nnetwork_namespace_path=\"/var/run/netns/{b}\"\n\
         [v]\nrules=\"udp.dport == 9999 -> drop; ip.protocol == 1 && ip.daddr == 10.81.0.0/16 -> accept, mark 0x1\"\n\
         [j]\nfile=\"{}\"\nsync=1\n",
        json.display()
    );
    let mut engine = Engine::from_str(&reg, "nfq.conf", &conf).unwrap_or_else(|e| panic!("{e:?}"));
    engine.start().expect("NFQ binds inside the namespace");
    let h = engine.handle();
    let t = std::thread::spawn(move || engine.run().unwrap());

    assert!(ping(&a, &vb, 3), "ping is accepted by the VERDICT rule");
    udp(&a, &vb, 9999, 5);
    udp(&a, &vb, 9998, 4);
    wait_for(|| seen.lock().unwrap().len() >= 3 + 5 + 4);
    h.stop();
    let report = t.join().unwrap();
    println!("{report}");

    assert_eq!(
        counter(&b, "marked"),
        3,
        "the mark set by the verdict is seen by nft"
    );
    assert_eq!(counter(&b, "dropped"), 0, "udp/9999 dropped by the rule");
    assert_eq!(
        counter(&b, "passed"),
        4,
        "udp/9998 passed by default_verdict"
    );
    assert_eq!(report.get("q", "received"), Some(12));
    assert_eq!(report.get("q", "verdicts"), Some(12));
    assert_eq!(report.get("q", "kernel_errors"), Some(0));

    // The keys NFLOG gives, plus nfq.*, decoded by BASE.
    let rows = seen.lock().unwrap().clone();
    let first = &rows[0];
    for k in [
        "raw.pkt",
        "raw.pktlen",
        "oob.hook",
        "oob.mark",
        "oob.ifindex_in",
        "oob.family",
        "oob.protocol",
        "nfq.id",
        "nfq.queue",
        "nfq.hw_protocol",
        "ip.saddr",
        "ip.daddr",
    ] {
        assert!(
            first.iter().any(|(n, _)| n == k),
            "{k} missing in {first:?}"
        );
    }
    let q = first.iter().find(|(n, _)| n == "nfq.queue").unwrap();
    assert_eq!(q.1, OwnedValue::Uint(3));

    // The JSON stack got every packet; python's json reads each line.
    let py = format!(
        "import json\nrows=[json.loads(l) for l in open('{}')]\n\
         assert len(rows)==12, len(rows)\n\
         for r in rows:\n  assert r['nfq.queue']==3 and 'oob.hook' in r and 'raw.pktlen' in r, r\n\
         print('ok', len(rows))\n",
        json.display()
    );
    let out = run(&["python3", "-c", &py]);
    assert!(out.starts_with("ok 12"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A sink that blocks until `open` is set (a daemon that stops reading).
fn gate_sink(open: Arc<AtomicBool>) -> PluginSpec {
    PluginSpec {
        name: "GATE",
        aliases: &[],
        kind: Kind::Sink,
        summary: "test",
        options: vec![],
        inputs: vec![],
        outputs: vec![],
        wildcard: false,
        build: Box::new(move |_| {
            struct G(Arc<AtomicBool>);
            impl Stage for G {
                fn interp(&self, _ev: &mut Event<'_>) -> Ret {
                    while !self.0.load(Ordering::Acquire) {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Ret::Ok
                }
            }
            Ok(Built::Stage {
                stage: Arc::new(G(open.clone())),
                inputs: Inputs::Keys(vec![]),
                outputs: vec![],
            })
        }),
    }
}

#[test]
fn fail_open_accepts_while_the_daemon_is_stuck_and_stop_answers_every_packet() {
    if !can_run() {
        return;
    }
    let (_g, a, b, vb) = setup(
        "NFQUEUE --queue-num 5",
        r#"  udp dport 7100 counter comment "fo"
  udp dport 7200 counter comment "late""#,
    );
    let open = Arc::new(AtomicBool::new(false));
    let mut reg = Registry::new();
    ulogd_netfilter::register(&mut reg);
    reg.add(gate_sink(open.clone()));
    let conf = format!(
        "[global]\nlogfile=\"stdout\"\nthreads=0\nstack=q:NFQ,g:GATE\n\
         [q]\nqueue_num=5\nqueue_maxlen=4\nfail_open=1\n\
         network_namespace_path=\"/var/run/netns/{b}\"\n"
    );
    let mut engine = Engine::from_str(&reg, "fo.conf", &conf).unwrap_or_else(|e| panic!("{e:?}"));
    engine.start().unwrap();
    let h = engine.handle();
    let t = std::thread::spawn(move || engine.run().unwrap());
    // The first packet blocks the daemon in its sink; 4 wait in the queue; the rest
    // overflow it and fail_open accepts them.
    udp(&a, &vb, 7100, 30);
    wait_for(|| counter(&b, "fo") >= 25);
    let passed_while_stuck = counter(&b, "fo");
    assert!(
        passed_while_stuck >= 25,
        "fail_open accepted only {passed_while_stuck} of 30"
    );
    // More packets queue up behind the stuck daemon; stopping it must still answer
    // every one of them (default_verdict=accept) before the socket closes.
    udp(&a, &vb, 7200, 3);
    h.stop();
    open.store(true, Ordering::Release);
    let report = t.join().unwrap();
    println!("{report}");
    assert_eq!(counter(&b, "fo"), 30, "every udp/7100 packet got through");
    assert_eq!(
        counter(&b, "late"),
        3,
        "packets queued at shutdown were accepted"
    );
}

#[test]
fn mtnfq_spreads_a_balanced_range_and_every_packet_gets_one_verdict() {
    if !can_run() {
        return;
    }
    let (_g, a, b, vb) = setup(
        "NFQUEUE --queue-balance 6:7",
        r#"  udp dport 7300 counter comment "mt""#,
    );
    let mut reg = Registry::new();
    ulogd_netfilter::register(&mut reg);
    let (spec, seen) = collect_sink("COLLECT");
    reg.add(spec);
    let conf = format!(
        "[global]\nlogfile=\"stdout\"\nthreads=0\nstack=q:MTNFQ,base:BASE,v:VERDICT,out:COLLECT\n\
         [q]\nqueue_num=6\nqueue_count=2\nnetwork_namespace_path=\"/var/run/netns/{b}\"\n\
         [v]\nrules=\"udp.dport == 7300 -> accept, mark 7\"\n"
    );
    let mut engine = Engine::from_str(&reg, "mt.conf", &conf).unwrap_or_else(|e| panic!("{e:?}"));
    engine.start().unwrap();
    let h = engine.handle();
    let t = std::thread::spawn(move || engine.run().unwrap());
    // The balance hashes addresses (not ports): 20 source addresses, 10 packets each.
    let net = vb.rsplit_once('.').unwrap().0.to_string();
    for i in 0..20 {
        let addr = format!("{net}.{}/24", 100 + i);
        run(&["ip", "-n", &a, "addr", "add", &addr, "dev", "vA"]);
    }
    let py = format!(
        "import socket\nfor i in range(20):\n s=socket.socket(2,2)\n s.bind(('{net}.%d'%(100+i),0))\n for j in range(10): s.sendto(b'x',('{vb}',7300))\n"
    );
    run(&["ip", "netns", "exec", &a, "python3", "-c", &py]);
    wait_for(|| seen.lock().unwrap().len() >= 200);
    h.stop();
    let report = t.join().unwrap();
    println!("{report}");
    assert_eq!(counter(&b, "mt"), 200, "every packet accepted once");
    assert_eq!(report.get("q", "received"), Some(200));
    assert_eq!(report.get("q", "verdicts"), Some(200));
    assert_eq!(
        report.get("q", "kernel_errors"),
        Some(0),
        "no id answered twice"
    );
    let rows = seen.lock().unwrap().clone();
    let mut per_queue = [0u32; 2];
    for r in &rows {
        if let Some((_, OwnedValue::Uint(q))) = r.iter().find(|(n, _)| n == "nfq.queue") {
            per_queue[(*q - 6) as usize] += 1;
        }
    }
    assert!(
        per_queue[0] > 0 && per_queue[1] > 0,
        "both queues used: {per_queue:?}"
    );
}

/// Rewrites the first payload byte of UDP packets to port 9997 into `y` (checksum
/// cleared, allowed for UDP over IPv4) and accepts them with that new payload.
struct Rewrite;

impl ulogd_core::Stage for Rewrite {
    fn interp(&self, ev: &mut ulogd_core::Event<'_>) -> ulogd_core::Ret {
        let Some(pkt) = ev.bytes(0) else {
            return ulogd_core::Ret::Ok;
        };
        let mut p = pkt.to_vec();
        let ihl = usize::from(p.first().copied().unwrap_or(0) & 0x0f) * 4;
        let is_target = p.len() > ihl + 8
            && p.get(9) == Some(&17)
            && p.get(ihl + 2..ihl + 4) == Some(&9997u16.to_be_bytes()[..]);
        if is_target {
            p[ihl + 8] = b'y';
            p[ihl + 6] = 0;
            p[ihl + 7] = 0;
            ev.set_verdict(
                ulogd_core::Verdict {
                    action: ulogd_core::VerdictAction::Accept,
                    mark: None,
                    connmark: None,
                },
                false,
            );
            ev.set_verdict_payload(&p);
        }
        ulogd_core::Ret::Ok
    }
}

#[test]
fn a_verdict_can_replace_the_payload() {
    if !can_run() {
        return;
    }
    let (_g, a, b, vb) = setup(
        "NFQUEUE --queue-num 5",
        r#"  udp dport 9997 @th,64,8 0x79 counter comment "rewritten"
  udp dport 9997 @th,64,8 0x78 counter comment "original""#,
    );
    let mut reg = Registry::new();
    ulogd_netfilter::register(&mut reg);
    reg.add(PluginSpec {
        name: "REWRITE",
        aliases: &[],
        kind: ulogd_core::Kind::Sink,
        summary: "test",
        options: vec![],
        inputs: vec![],
        outputs: vec![],
        wildcard: false,
        build: Box::new(|_| {
            Ok(ulogd_core::Built::Stage {
                stage: Arc::new(Rewrite),
                inputs: ulogd_core::Inputs::Keys(vec![ulogd_core::KeyDef::new(
                    "raw.pkt",
                    ulogd_core::KeyType::Raw,
                )]),
                outputs: vec![],
            })
        }),
    });
    let conf = format!(
        "[global]\nlogfile=\"stdout\"\nthreads=0\nstack=q:NFQ,r:REWRITE\n\
         [q]\nqueue_num=5\nnetwork_namespace_path=\"/var/run/netns/{b}\"\n"
    );
    let mut engine = Engine::from_str(&reg, "nfq.conf", &conf).unwrap_or_else(|e| panic!("{e:?}"));
    engine.start().expect("NFQ binds inside the namespace");
    let h = engine.handle();
    let t = std::thread::spawn(move || engine.run().unwrap());
    udp(&a, &vb, 9997, 3);
    wait_for(|| counter(&b, "rewritten") >= 3);
    h.stop();
    t.join().unwrap();
    assert_eq!(
        counter(&b, "rewritten"),
        3,
        "the kernel carried on with the new payload"
    );
    assert_eq!(counter(&b, "original"), 0);
}

/// Runs `q:NFQ,out:COLLECT` on queue `queue` in namespace `b`: starts the engine,
/// lets `traffic` run while nobody reads, then stops the engine before its loop ever
/// reads, so shutdown meets everything the kernel queued. The report and how many
/// events reached the sink.
fn stop_before_reading(
    b: &str,
    queue: u16,
    extra: &str,
    traffic: impl FnOnce(),
) -> (ulogd_core::Report, usize) {
    let mut reg = Registry::new();
    ulogd_netfilter::register(&mut reg);
    let (spec, seen) = collect_sink("COLLECT");
    reg.add(spec);
    let conf = format!(
        "[global]\nlogfile=\"stdout\"\nthreads=0\nstack=q:NFQ,out:COLLECT\n\
         [q]\nqueue_num={queue}\n{extra}network_namespace_path=\"/var/run/netns/{b}\"\n"
    );
    let mut engine = Engine::from_str(&reg, "stop.conf", &conf).unwrap_or_else(|e| panic!("{e:?}"));
    engine.start().unwrap();
    traffic();
    engine.handle().stop();
    let report = engine.run().unwrap();
    let n = seen.lock().unwrap().len();
    (report, n)
}

/// #19.5: packets the kernel dropped because the queue was full (`queue_dropped`)
/// are counted from the kernel's own numbers (`/proc/net/netfilter/nfnetlink_queue`);
/// packets already in the socket at shutdown go through the stacks (they used to get
/// `default_verdict` unseen), and what would still be queued after that is
/// `queued_in_kernel` in the shutdown summary.
#[test]
fn queue_full_drops_are_counted_and_shutdown_runs_the_socket_through_the_stacks() {
    if !can_run() {
        return;
    }
    let (_g, a, b, vb) = setup(
        "NFQUEUE --queue-num 6",
        r#"  udp dport 7300 counter comment "through""#,
    );
    let (report, rows) = stop_before_reading(&b, 6, "queue_maxlen=4\n", || {
        // Nobody reads yet: 4 packets fill the queue, the other 26 are dropped by
        // the kernel (no fail_open).
        udp(&a, &vb, 7300, 30);
    });
    println!("{report}");
    let qd = report.get("q", "queue_dropped").unwrap_or(0);
    let got = report.get("q", "received").unwrap_or(0);
    ulogd_core::testing::reliability_row(&format!(
        "| NFQUEUE queue full (queue_maxlen=4) | offered 30 | delivered {got} | counted-lost {qd} | silently-lost {} |",
        30 - got as i64 - qd as i64
    ));
    assert_eq!(report.get("q", "queue_dropped"), Some(26), "{report}");
    assert_eq!(report.get("q", "user_dropped"), Some(0), "{report}");
    // The 4 queued ones were read at shutdown and passed the stack.
    assert_eq!(report.get("q", "received"), Some(4), "{report}");
    assert_eq!(rows, 4);
    assert_eq!(report.get("q", "queued_in_kernel"), Some(0), "{report}");
    wait_for(|| counter(&b, "through") >= 4);
    assert_eq!(counter(&b, "through"), 4);
}

/// #19.5: packets the kernel could not deliver because our socket buffer was full
/// (`user_dropped`) are counted; with what arrived they are every packet sent.
#[test]
fn socket_full_drops_are_counted() {
    if !can_run() {
        return;
    }
    let (_g, a, b, vb) = setup(
        "NFQUEUE --queue-num 7",
        r#"  udp dport 7400 counter comment "through""#,
    );
    let (report, rows) = stop_before_reading(&b, 7, "netlink_socket_buffer_size=4096\n", || {
        udp(&a, &vb, 7400, 40);
    });
    println!("{report}");
    let got = report.get("q", "received").unwrap();
    let dropped = report.get("q", "user_dropped").unwrap();
    ulogd_core::testing::reliability_row(&format!(
        "| NFQUEUE socket buffer full (4 KiB) | offered 40 | delivered {got} | counted-lost {dropped} | silently-lost {} |",
        40 - got as i64 - dropped as i64
    ));
    assert!(dropped > 0, "a 4 KiB socket buffer took all 40: {report}");
    assert_eq!(got + dropped, 40, "{report}");
    assert_eq!(rows as u64, got);
    assert_eq!(report.get("q", "queue_dropped"), Some(0), "{report}");
    wait_for(|| counter(&b, "through") >= got);
    assert_eq!(counter(&b, "through"), got);
}
