use super::*;
use crate::filters::testutil::*;
use crate::wire::{NflogRepr, PcapReader};
use ulogd_core::testing::{OwnedValue, TestEvent};
use ulogd_core::{KeyDef, KeyType};

fn src_keys() -> Vec<KeyDef> {
    vec![
        KeyDef::new("raw.pkt", KeyType::Raw),
        KeyDef::new("raw.pktlen", KeyType::U32),
        KeyDef::new("oob.family", KeyType::U8),
        KeyDef::new("oob.protocol", KeyType::U16),
    ]
}

fn pkt_event(family: u64, proto: u64, pkt: &[u8]) -> TestEvent {
    vec![
        (0, raw(pkt)),
        (1, u(pkt.len() as u64)),
        (2, u(family)),
        (3, u(proto)),
    ]
}

/// The keys BASE itself set (everything after the source's four keys).
fn base_keys(row: &[(String, OwnedValue)]) -> &[(String, OwnedValue)] {
    &row[row.len().min(4)..]
}

#[test]
fn output_positions() {
    let pos = |n: &str| OUTPUTS.iter().position(|k| k.name == n).unwrap();
    assert_eq!(OUTPUTS.len(), 62);
    assert_eq!(pos("oob.protocol"), out::oob_protocol.pos());
    assert_eq!(pos("ahesp.spi"), 50);
    assert_eq!(pos("arp.hwtype"), 52);
    assert_eq!(pos("sctp.csum"), 61);
    assert_eq!(pos("icmp.gateway"), 42);
    assert_eq!(pos("tcp.urgp"), 25);
    assert_eq!(OUTPUTS[pos("tcp.dport")].json_name(), "dest_port");
    assert_eq!(OUTPUTS[pos("sctp.sport")].json_name(), "src_port");
}

/// A crafted IPv4/TCP SYN with the URG flag, and a truncated copy of it.
#[test]
fn crafted_tcp() {
    #[rustfmt::skip]
    let pkt: &[u8] = &[
        0x45, 0x10, 0x00, 0x28, 0x12, 0x34, 0x40, 0x00, 0x40, 0x06, 0xab, 0xcd,
        192, 0, 2, 1, 192, 0, 2, 2,
        0x9c, 0x40, 0x00, 0x50, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
        0x50, 0x22, 0x72, 0x10, 0xbe, 0xef, 0x00, 0x07,
    ];
    let events = vec![
        pkt_event(2, 0x800, pkt),
        pkt_event(2, 0x800, &pkt[..30]),
        pkt_event(2, 0x800, &[]),
    ];
    let rows = run1("BASE", src_keys(), events);
    let r = &rows[0];
    assert_eq!(get(r, "ip.saddr"), Some(&ip("192.0.2.1")));
    assert_eq!(get(r, "ip.daddr"), Some(&ip("192.0.2.2")));
    assert_eq!(get(r, "ip.protocol"), Some(&u(6)));
    assert_eq!(get(r, "ip.tos"), Some(&u(0x10)));
    assert_eq!(get(r, "ip.totlen"), Some(&u(40)));
    assert_eq!(get(r, "ip.id"), Some(&u(0x1234)));
    assert_eq!(get(r, "ip.fragoff"), Some(&u(0x4000)));
    assert_eq!(get(r, "tcp.sport"), Some(&u(40000)));
    assert_eq!(get(r, "tcp.dport"), Some(&u(80)));
    assert_eq!(get(r, "tcp.seq"), Some(&u(1)));
    assert_eq!(get(r, "tcp.window"), Some(&u(0x7210)));
    assert_eq!(get(r, "tcp.syn"), Some(&OwnedValue::Bool(true)));
    assert_eq!(get(r, "tcp.urg"), Some(&OwnedValue::Bool(true)));
    assert_eq!(get(r, "tcp.ack"), Some(&OwnedValue::Bool(false)));
    assert_eq!(get(r, "tcp.urgp"), Some(&u(7)));
    assert_eq!(get(r, "udp.sport"), None);
    assert_eq!(get(r, "oob.protocol"), Some(&u(0x800)));
    // Truncated TCP header: IP keys only.
    assert_eq!(get(&rows[1], "ip.protocol"), Some(&u(6)));
    assert_eq!(get(&rows[1], "tcp.sport"), None);
    // Empty packet: nothing but the oob.protocol copy.
    let names: Vec<&str> = base_keys(&rows[2])
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(names, ["oob.protocol"]);
}

/// Keys where this BASE differs from 2.0.8 on purpose (bug fixes in the decoder):
/// compared for presence only.
const FIXED_KEYS: &[&str] = &["tcp.offset", "tcp.reserved", "icmp.csum", "icmpv6.csum"];

/// The BASE keys of a GPRINT line of the same packet (from `ip.saddr` to BASE's copy
/// of `oob.protocol`), as (name, text value).
fn gprint_base_keys(line: &str) -> Vec<(String, String)> {
    let kv: Vec<(&str, &str)> = line
        .split(',')
        .map(|x| x.split_once('=').unwrap())
        .collect();
    let start = kv.iter().position(|(k, _)| *k == "ip.saddr").unwrap();
    let end = start
        + kv[start..]
            .iter()
            .position(|(k, _)| *k == "oob.protocol")
            .unwrap();
    kv[start..=end]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn text(v: &OwnedValue) -> String {
    match v {
        OwnedValue::Uint(x) => x.to_string(),
        OwnedValue::Int(x) => x.to_string(),
        OwnedValue::Bool(x) => (*x as u8).to_string(),
        OwnedValue::Addr(a) => a.to_string(),
        OwnedValue::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
    }
}

/// The golden capture (group 9 of the same traffic ulogd2 logged to groups 5-8):
/// BASE must set the same keys, in the same order, with the same values as ulogd2's
/// GPRINT shows, except [`FIXED_KEYS`] and the IPv6 addresses that 2.0.8's GPRINT
/// prints as garbage.
#[test]
fn golden_capture_matches_ulogd2_gprint() {
    let pcap = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/golden-basic/nflog.pcap"
    ))
    .unwrap();
    let gprint = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/golden-basic/ulogd2.gprint"
    ));
    let mut events = Vec::new();
    for rec in PcapReader::new(&pcap).unwrap() {
        let r = NflogRepr::parse_pcap_record(rec.unwrap().data).unwrap();
        let proto = r.packet_hdr.unwrap().hw_protocol;
        events.push(pkt_event(r.family as u64, proto as u64, r.payload.unwrap()));
    }
    let lines: Vec<&str> = gprint.lines().collect();
    assert_eq!(events.len(), lines.len());
    let rows = run1("BASE", src_keys(), events);
    for (i, (row, line)) in rows.iter().zip(&lines).enumerate() {
        let want = gprint_base_keys(line);
        let got: Vec<(String, String)> = base_keys(row)
            .iter()
            .map(|(k, v)| (k.clone(), text(v)))
            .collect();
        let names = |v: &[(String, String)]| v.iter().map(|x| x.0.clone()).collect::<Vec<_>>();
        assert_eq!(names(&got), names(&want), "line {}: key set/order", i + 1);
        let v6 = line.contains("oob.family=10");
        for ((k, g), (_, w)) in got.iter().zip(&want) {
            if FIXED_KEYS.contains(&k.as_str()) || (v6 && (k == "ip.saddr" || k == "ip.daddr")) {
                continue;
            }
            assert_eq!(g, w, "line {}: {k}", i + 1);
        }
        if v6 {
            assert_eq!(get(row, "ip.saddr"), Some(&ip("fd77::1")), "line {}", i + 1);
        }
    }
}
