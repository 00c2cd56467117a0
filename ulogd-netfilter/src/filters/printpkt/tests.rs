use super::*;
use crate::filters::testutil::*;
use ulogd_core::testing::{OwnedValue, TestEvent};

const GPRINT: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/golden-basic/ulogd2.gprint"
));
const LOGEMU: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/golden-basic/ulogd2.logemu"
));

/// Keys of GPRINT that hold text; every other key is a number.
const TEXT_KEYS: &[&str] = &[
    "oob.prefix",
    "oob.in",
    "oob.out",
    "ip.saddr.str",
    "ip.daddr.str",
];
/// GPRINT of 2.0.8 prints IPv6 addresses as garbage: not used (PRINTPKT reads `.str`).
const SKIP_KEYS: &[&str] = &["ip.saddr", "ip.daddr"];

/// The golden veth pair: A = 02:00:00:00:00:0a sends to B = 02:00:00:00:00:0b.
fn mac_for(ethertype: u16) -> Vec<u8> {
    let mut m = vec![2, 0, 0, 0, 0, 0x0b, 2, 0, 0, 0, 0, 0x0a];
    m.extend_from_slice(&ethertype.to_be_bytes());
    m
}

/// Turns GPRINT lines into a key list and one event per line (first occurrence of a
/// repeated key wins: later ones are copies). `raw.mac` is not printed by GPRINT; it
/// is rebuilt from the capture's known MAC addresses when `raw.mac_len` is there.
fn events_from_gprint(lines: &[&str]) -> (Vec<KeyDef>, Vec<TestEvent>) {
    let mut names: Vec<String> = vec!["raw.mac".into()];
    let mut events = Vec::new();
    for line in lines {
        let mut ev: TestEvent = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        let mut proto = 0u16;
        let mut has_mac = false;
        for kv in line.split(',') {
            let (k, v) = kv.split_once('=').expect("k=v");
            if seen.contains(&k) || SKIP_KEYS.contains(&k) {
                continue;
            }
            seen.push(k);
            let idx = match names.iter().position(|n| n == k) {
                Some(i) => i,
                None => {
                    names.push(k.to_string());
                    names.len() - 1
                }
            };
            let val = if TEXT_KEYS.contains(&k) {
                OwnedValue::Bytes(v.as_bytes().to_vec())
            } else {
                OwnedValue::Uint(v.parse().unwrap_or_else(|_| panic!("{k}={v}")))
            };
            if k == "oob.protocol" {
                proto = v.parse().unwrap();
            }
            if k == "raw.mac_len" {
                has_mac = true;
            }
            ev.push((idx, val));
        }
        if has_mac {
            ev.push((0, OwnedValue::Bytes(mac_for(proto))));
        }
        events.push(ev);
    }
    let keys = names
        .iter()
        .map(|n| {
            let ty = if n == "raw.mac" {
                KeyType::Raw
            } else if TEXT_KEYS.contains(&n.as_str()) {
                KeyType::String
            } else {
                KeyType::U32
            };
            KeyDef::dynamic(n.clone(), ty)
        })
        .collect();
    (keys, events)
}

/// A LOGEMU line without `"Mon DD HH:MM:SS host "`, plus the newline LOGEMU does not
/// add (it is part of `print`).
fn strip_logemu(line: &str) -> String {
    let rest = &line[16..];
    let (_host, rest) = rest.split_once(' ').unwrap();
    format!("{rest}\n")
}

fn prints(rows: &Rows) -> Vec<String> {
    rows.iter()
        .map(|r| get_str(r, "print").expect("print set"))
        .collect()
}

#[test]
fn golden_basic_every_line_byte_for_byte() {
    let g: Vec<&str> = GPRINT.lines().collect();
    let l: Vec<&str> = LOGEMU.lines().collect();
    assert_eq!(g.len(), l.len());
    assert!(g.len() >= 20);
    let (keys, events) = events_from_gprint(&g);
    let rows = run1("PRINTPKT", keys, events);
    let got = prints(&rows);
    assert_eq!(got.len(), l.len());
    for (i, (got, want)) in got.iter().zip(&l).enumerate() {
        assert_eq!(got, &strip_logemu(want), "line {}", i + 1);
    }
    // The four kinds the brief names, spelled out so a reader sees them.
    assert!(got[0].starts_with(
        "IN-ICMP  IN=vB OUT= MAC=02:00:00:00:00:0b:02:00:00:00:00:0a:08:00 SRC=10.77.0.1"
    ));
    assert!(got[6].contains("PROTO=ICMPv6 TYPE=128 CODE=0 ID=4980 SEQ=1 MARK=0x0 \n"));
    assert!(got[8].ends_with("PROTO=UDP SPT=52759 DPT=5001 LEN=14 MARK=0x2a \n"));
    assert!(got[15].ends_with("WINDOW=64 ACK PSH URGP=0 UID=0 GID=0 MARK=0x0 \n"));
}

fn keys_v4() -> Vec<KeyDef> {
    [
        ("oob.family", KeyType::U8),
        ("oob.in", KeyType::String),
        ("oob.out", KeyType::String),
        ("ip.saddr.str", KeyType::String),
        ("ip.daddr.str", KeyType::String),
        ("ip.protocol", KeyType::U8),
        ("icmp.type", KeyType::U8),
        ("icmp.code", KeyType::U8),
        ("icmp.echoid", KeyType::U16),
        ("icmp.echoseq", KeyType::U16),
        ("icmp.gateway", KeyType::IpAddr),
        ("icmp.fragmtu", KeyType::U16),
        ("oob.prefix", KeyType::String),
        ("ip.tos", KeyType::U8),
        ("ip.fragoff", KeyType::U16),
        ("tcp.sport", KeyType::U16),
        ("raw.mac", KeyType::Raw),
        ("raw.mac_len", KeyType::U16),
        ("ahesp.spi", KeyType::U32),
        ("oob.protocol", KeyType::U16),
        ("arp.operation", KeyType::U16),
        ("arp.shwaddr", KeyType::Raw),
        ("arp.saddr.str", KeyType::String),
        ("arp.daddr.str", KeyType::String),
        ("ip6.nexthdr", KeyType::U8),
        ("ip6.fragoff", KeyType::U16),
        ("ip6.fragid", KeyType::U32),
        ("icmpv6.type", KeyType::U8),
    ]
    .into_iter()
    .map(|(n, t)| KeyDef::new(n, t))
    .collect()
}

fn base_v4(extra: &[(usize, OwnedValue)]) -> TestEvent {
    let mut e = vec![
        (0, u(2)),
        (1, s("")),
        (2, s("eth0")),
        (3, s("192.0.2.1")),
        (4, s("192.0.2.2")),
        (5, u(1)),
    ];
    e.extend_from_slice(extra);
    e
}

#[test]
fn icmp_fields_chosen_by_type() {
    let events = vec![
        // net unreachable, code 0: 2.0.8 printed ID/SEQ here; fixed: nothing.
        base_v4(&[(6, u(3)), (7, u(0)), (8, u(7)), (9, u(9))]),
        // fragmentation needed: MTU.
        base_v4(&[(6, u(3)), (7, u(4)), (11, u(1400))]),
        // redirect: gateway in network order.
        base_v4(&[(6, u(5)), (7, u(1)), (10, ip("192.0.2.254"))]),
        // parameter problem: pointer byte.
        base_v4(&[(6, u(12)), (7, u(0)), (10, ip("20.0.0.0"))]),
        // echo reply.
        base_v4(&[(6, u(0)), (7, u(0)), (8, u(7)), (9, u(9))]),
        // truncated ICMP.
        base_v4(&[]),
    ];
    let got = prints(&run1("PRINTPKT", keys_v4(), events));
    let tail = "LEN=0 TOS=00 PREC=0x00 TTL=0 ID=0 PROTO=ICMP ";
    let head = "IN= OUT=eth0 MAC= SRC=192.0.2.1 DST=192.0.2.2 ";
    assert_eq!(got[0], format!("{head}{tail}TYPE=3 CODE=0 \n"));
    assert_eq!(got[1], format!("{head}{tail}TYPE=3 CODE=4 MTU=1400 \n"));
    assert_eq!(
        got[2],
        format!("{head}{tail}TYPE=5 CODE=1 GATEWAY=192.0.2.254 \n")
    );
    assert_eq!(
        got[3],
        format!("{head}{tail}TYPE=12 CODE=0 PARAMETER=20 \n")
    );
    assert_eq!(got[4], format!("{head}{tail}TYPE=0 CODE=0 ID=7 SEQ=9 \n"));
    assert_eq!(got[5], format!("{head}{tail}INCOMPLETE\n"));
}

#[test]
fn prefix_tos_flags_mac_esp_arp_ipv6_frag() {
    let events = vec![
        // weird prefix, TOS/PREC, CE+MF+offset, ESP without SPI, MAC shorter than mac_len.
        vec![
            (0, u(2)),
            (1, s("")),
            (2, s("")),
            (3, s("::1")),
            (4, s("::1")),
            (5, u(50)),
            (12, s("weird \\ \\q\\ pfx ")),
            (13, u(0xfe)),
            (14, u(0xa005)),
            (16, raw(&[0xaa, 0xbb])),
            (17, u(14)),
        ],
        // TCP without ports.
        vec![
            (0, u(2)),
            (1, s("a")),
            (2, s("b")),
            (3, s("x")),
            (4, s("y")),
            (5, u(6)),
        ],
        // AH with SPI.
        vec![
            (0, u(2)),
            (1, s("a")),
            (2, s("b")),
            (3, s("x")),
            (4, s("y")),
            (5, u(51)),
            (18, u(0x1234)),
        ],
        // bridge ARP reply with MAC.
        vec![
            (0, u(7)),
            (1, s("br0")),
            (2, s("")),
            (3, s("x")),
            (4, s("y")),
            (19, u(0x806)),
            (20, u(2)),
            (21, raw(&[1, 2, 3, 4, 5, 6])),
            (22, s("192.0.2.1")),
            (23, s("192.0.2.2")),
        ],
        // bridge, unknown ethertype.
        vec![
            (0, u(7)),
            (1, s("br0")),
            (2, s("")),
            (3, s("x")),
            (4, s("y")),
            (19, u(0x88cc)),
        ],
        // IPv6 fragment of ICMPv6, type without code.
        vec![
            (0, u(10)),
            (1, s("a")),
            (2, s("b")),
            (3, s("fd77::1")),
            (4, s("fd77::2")),
            (24, u(58)),
            (25, u(185)),
            (26, u(0xdead)),
            (27, u(1)),
        ],
    ];
    let got = prints(&run1("PRINTPKT", keys_v4(), events));
    assert_eq!(
        got[0],
        "weird \\ \\q\\ pfx  IN= OUT= MAC=aa:bb SRC=::1 DST=::1 LEN=0 TOS=1E PREC=0xE0 TTL=0 ID=0 CE MF FRAG:5 \
         PROTO=ESP INCOMPLETE\n"
    );
    assert_eq!(
        got[1],
        "IN=a OUT=b MAC= SRC=x DST=y LEN=0 TOS=00 PREC=0x00 TTL=0 ID=0 PROTO=TCP INCOMPLETE\n"
    );
    assert!(got[2].ends_with("PROTO=AH SPI=0x1234 \n"), "{}", got[2]);
    assert_eq!(
        got[3],
        "IN=br0 OUT= MAC= SRC=192.0.2.1 DST=192.0.2.2 PROTO=ARP REPLY REPLY_MAC=01:02:03:04:05:06 \n"
    );
    assert_eq!(got[4], "IN=br0 OUT= MAC= PROTO=35020 \n");
    assert_eq!(
        got[5],
        "IN=a OUT=b MAC= SRC=fd77::1 DST=fd77::2 FRAG: 185 ID: 0000dead PROTO=ICMPv6 TRUNCATED\n"
    );
}

#[test]
fn refuses_stack_without_ip2str() {
    let keys = vec![
        KeyDef::new("oob.family", KeyType::U8),
        KeyDef::new("oob.in", KeyType::String),
    ];
    let Err(err) = run_filters(keys, vec![], &[("p", "PRINTPKT", &[])]) else {
        panic!("PRINTPKT without IP2STR must be refused");
    };
    assert!(
        err.contains("oob.out") || err.contains("ip.saddr.str"),
        "{err}"
    );
}
