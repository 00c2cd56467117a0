//! Live bridge-family NFLOG test against the real kernel: two namespaces joined by a
//! bridge in a third, nftables logging ARP in the bridge's forward hook (`table
//! bridge ... ether type arp log group 9`), and a ping from one side, whose ARP request
//! crosses the bridge. NFLOG,BASE,IP2STR,PRINTPKT must decode it as ARP (`arp.*` keys,
//! `PROTO=ARP REQUEST` with the addresses, as ulogd2 prints ARP). Skips with a
//! printed reason when not root (fails under CI).

use std::time::{Duration, Instant};

use ulogd_core::testing::netns::{nft, ok_in, require, run, run_in, Netns};
use ulogd_core::testing::{collect_sink, Collected, OwnedValue};
use ulogd_core::{Engine, Registry};

fn text(row: &[(String, OwnedValue)], k: &str) -> Option<String> {
    match row.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()) {
        Some(OwnedValue::Bytes(b)) => Some(String::from_utf8_lossy(&b).to_string()),
        Some(OwnedValue::Uint(v)) => Some(v.to_string()),
        Some(other) => Some(format!("{other:?}")),
        None => None,
    }
}

fn wait_for(seen: &Collected, n: usize, secs: u64) {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end && seen.lock().unwrap().len() < n {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Three namespaces: 0 holds bridge `br0`, 1 and 2 are hosts whose `eth0` is a port of
/// it (with `addrs`' addresses when given); `rules` are loaded in the bridge's.
fn bridge(prefix: &str, addrs: [Option<&str>; 2], rules: &str) -> Netns {
    let g = Netns::create(prefix, 3);
    let br = g.name(0);
    run_in(br, &["ip", "link", "add", "br0", "type", "bridge"]);
    run_in(br, &["ip", "link", "set", "br0", "up"]);
    for (i, port) in ["pa", "pb"].into_iter().enumerate() {
        let host = g.name(i + 1);
        run(&[
            "ip", "-n", br, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns",
            host,
        ]);
        run_in(br, &["ip", "link", "set", port, "master", "br0", "up"]);
        if let Some(addr) = addrs[i] {
            run_in(host, &["ip", "addr", "add", addr, "dev", "eth0"]);
        }
        run_in(host, &["ip", "link", "set", "eth0", "up"]);
    }
    nft(br, rules);
    g
}

/// Runs `stack` (ending in COLLECT) with NFLOG `group` in the bridge's namespace
/// while `traffic` runs; the collected rows.
fn collect_while(
    g: &Netns,
    group: u16,
    stack: &str,
    n: usize,
    traffic: impl FnOnce(),
) -> Vec<Vec<(String, OwnedValue)>> {
    let mut reg = Registry::new();
    ulogd_netfilter::register(&mut reg);
    let (sink, seen) = collect_sink("COLLECT");
    reg.add(sink);
    let conf = format!(
        "[global]\nlogfile=\"stdout\"\nstack={stack}\n\
         [log1]\ngroup={group}\nnetwork_namespace_path=\"{}\"\n",
        g.path(0)
    );
    let mut engine = Engine::from_str(&reg, "live.conf", &conf).unwrap_or_else(|e| panic!("{e:?}"));
    engine.start().unwrap();
    let h = engine.handle();
    let th = std::thread::spawn(move || engine.run().unwrap());
    traffic();
    wait_for(&seen, n, 5);
    h.stop();
    th.join().unwrap();
    let rows = seen.lock().unwrap().clone();
    rows
}

#[test]
fn arp_across_a_bridge_is_decoded_and_printed() {
    if !require(
        "bridge NFLOG live test",
        &[&["ip", "-V"], &["nft", "--version"], &["ping", "-V"]],
    ) {
        return;
    }
    // 0: the bridge, 1 and 2: hosts.
    let g = bridge(
        "st-br",
        [Some("10.9.0.1/24"), Some("10.9.0.2/24")],
        "table bridge t { chain c { type filter hook forward priority 0; ether type arp log group 9; }; }",
    );
    let a = g.name(1);
    let rows = collect_while(
        &g,
        9,
        "log1:NFLOG,base1:BASE,ifi1:IFINDEX,ip2str1:IP2STR,print1:PRINTPKT,c:COLLECT",
        2,
        || {
            // The ping needs ARP first: request a → b (broadcast), reply b → a.
            let pinged = (0..3).any(|_| ok_in(a, &["ping", "-c", "1", "-W", "1", "10.9.0.2"]));
            assert!(pinged, "the hosts reach each other across the bridge");
        },
    );
    let req = rows
        .iter()
        .find(|r| text(r, "arp.operation").as_deref() == Some("1"))
        .unwrap_or_else(|| panic!("an ARP request was logged: {rows:?}"));
    assert_eq!(
        text(req, "oob.family").as_deref(),
        Some("7"),
        "bridge family"
    );
    assert_eq!(
        text(req, "oob.protocol").as_deref(),
        Some("2054"),
        "ethertype 0x0806"
    );
    assert_eq!(text(req, "arp.saddr.str").as_deref(), Some("10.9.0.1"));
    assert_eq!(text(req, "arp.daddr.str").as_deref(), Some("10.9.0.2"));
    let line = text(req, "print").unwrap();
    assert!(
        line.contains("SRC=10.9.0.1 DST=10.9.0.2 PROTO=ARP REQUEST"),
        "PRINTPKT's ARP line: {line}"
    );
    let reply = rows
        .iter()
        .find(|r| text(r, "arp.operation").as_deref() == Some("2"))
        .unwrap_or_else(|| panic!("an ARP reply was logged: {rows:?}"));
    let line = text(reply, "print").unwrap();
    assert!(
        line.contains("SRC=10.9.0.2 DST=10.9.0.1 PROTO=ARP REPLY"),
        "PRINTPKT's ARP reply: {line}"
    );
}

/// 802.1Q-tagged frames across the bridge: host a sends tagged IPv4/ICMP frames (VLAN
/// 100, priority 5) from a packet socket (this kernel has no VLAN devices), nftables
/// logs `vlan id 100` frames in the bridge's forward hook, and NFLOG's `NFULA_VLAN`
/// (the tag the receiving port took off the frame) becomes `oob.vlan.id` /
/// `oob.vlan.prio` / `oob.vlan.proto`, while BASE decodes the inner IPv4/ICMP packet.
#[test]
fn vlan_tagged_frames_carry_their_tag() {
    if !require(
        "bridge VLAN NFLOG live test",
        &[
            &["ip", "-V"],
            &["nft", "--version"],
            &["python3", "--version"],
        ],
    ) {
        return;
    }
    let g = bridge(
        "st-vl",
        [None, None],
        "table bridge t { chain c { type filter hook forward priority 0; vlan id 100 ip protocol icmp log group 10; }; }",
    );
    let a = g.name(1);
    // An echo request 10.10.0.1 -> 10.10.0.2 in an 802.1Q frame (TCI: PCP 5, VID 100).
    let sender = r#"
import socket, struct
def csum(b):
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b)); s = (s >> 16) + (s & 0xffff); s += s >> 16
    return (~s) & 0xffff
icmp = struct.pack('!BBHHH', 8, 0, 0, 7, 1) + b'vlan-test'
icmp = icmp[:2] + struct.pack('!H', csum(icmp + b'\0')) + icmp[4:]
ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(icmp), 1, 0, 64, 1, 0,
                 socket.inet_aton('10.10.0.1'), socket.inet_aton('10.10.0.2'))
ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
eth = b'\x02\x00\x00\x00\x00\x02' + b'\x02\x00\x00\x00\x00\x01'
frame = eth + struct.pack('!HH', 0x8100, (5 << 13) | 100) + struct.pack('!H', 0x0800) + ip + icmp
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(('eth0', 0))
for _ in range(3):
    s.send(frame)
"#;
    let rows = collect_while(
        &g,
        10,
        "log1:NFLOG,base1:BASE,ip2str1:IP2STR,c:COLLECT",
        1,
        || {
            run_in(a, &["python3", "-c", sender]);
        },
    );
    let req = rows
        .iter()
        .find(|r| text(r, "ip.saddr.str").as_deref() == Some("10.10.0.1"))
        .unwrap_or_else(|| panic!("the tagged echo request was logged: {rows:?}"));
    assert_eq!(text(req, "oob.vlan.id").as_deref(), Some("100"), "{req:?}");
    assert_eq!(text(req, "oob.vlan.prio").as_deref(), Some("5"), "{req:?}");
    assert_eq!(
        text(req, "oob.vlan.proto").as_deref(),
        Some("33024"),
        "0x8100: {req:?}"
    );
    assert_eq!(text(req, "ip.daddr.str").as_deref(), Some("10.10.0.2"));
    assert_eq!(text(req, "icmp.type").as_deref(), Some("8"));
}
