//! Byte-for-byte comparisons with real ulogd2 2.0.8 output (the one copy of the golden
//! files, `ulogd-netfilter/tests/fixtures/golden-basic`),
//! feeding the exact keys of each golden line through the engine.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use ulogd_core::testing::{OwnedValue, TestSource};
use ulogd_core::{KeyDef, KeyType, Registry};

const JSON: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../ulogd-netfilter/tests/fixtures/golden-basic/ulogd2.json"
));
const GPRINT: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../ulogd-netfilter/tests/fixtures/golden-basic/ulogd2.gprint"
));
const LOGEMU: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../ulogd-netfilter/tests/fixtures/golden-basic/ulogd2.logemu"
));

fn tmp(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "ulogd-export-golden-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

/// Runs one event with `keys` through `stack_tail` (e.g. `out:JSON`) and returns the file.
fn run_one(keys: Vec<(KeyDef, OwnedValue)>, plugin: &str, extra: &str) -> String {
    ulogd_export::set_utc_offset_override(Some(0));
    let out = tmp("out");
    let defs: Vec<KeyDef> = keys.iter().map(|k| k.0.clone()).collect();
    let ev: Vec<(usize, OwnedValue)> = keys
        .into_iter()
        .enumerate()
        .map(|(i, k)| (i, k.1))
        .collect();
    let mut reg = Registry::new();
    reg.add(TestSource::spec("SRC", defs, vec![ev]));
    ulogd_export::register(&mut reg);
    let sections = format!("[out]\nfile=\"{}\"\n{extra}\n", out.display());
    ulogd_core::testing::run(&reg, &format!("src:SRC,out:{plugin}"), &sections, 0).unwrap();
    std::fs::read_to_string(&out).unwrap()
}

/// Splits a flat golden JSON object into (name, raw value text).
fn json_fields(line: &str) -> Vec<(String, String)> {
    let body = &line[1..line.len() - 1];
    let mut out = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let rest1 = rest.strip_prefix('"').unwrap();
        let q = rest1.find('"').unwrap();
        let name = &rest1[..q];
        let rest2 = rest1[q + 1..].strip_prefix(": ").unwrap();
        let end = if let Some(r) = rest2.strip_prefix('"') {
            r.find('"').unwrap() + 2
        } else {
            rest2.find(", ").unwrap_or(rest2.len())
        };
        out.push((name.to_string(), rest2[..end].to_string()));
        rest = rest2[end..].strip_prefix(", ").unwrap_or("");
    }
    out
}

#[test]
fn json_golden_lines() {
    for line in JSON.lines() {
        let fields = json_fields(line);
        let proto = fields
            .iter()
            .find(|f| f.0 == "ip.protocol")
            .map(|f| f.1.clone());
        let l4 = match proto.as_deref() {
            Some("6") => "tcp",
            Some("17") => "udp",
            _ => "sctp",
        };
        let mut keys: Vec<(KeyDef, OwnedValue)> = vec![
            // RAW and IPADDR keys are dropped by JSON.
            (
                KeyDef::new("raw.pkt", KeyType::Raw),
                OwnedValue::Bytes(vec![0x45, 0]),
            ),
        ];
        for (name, val) in fields.iter().skip(2) {
            let (def, v) = match name.as_str() {
                "src_ip" => (
                    KeyDef::new("ip.saddr.str", KeyType::String).cim("src_ip"),
                    OwnedValue::Bytes(val.trim_matches('"').as_bytes().to_vec()),
                ),
                "dest_ip" => (
                    KeyDef::new("ip.daddr.str", KeyType::String).cim("dest_ip"),
                    OwnedValue::Bytes(val.trim_matches('"').as_bytes().to_vec()),
                ),
                "src_port" => (
                    KeyDef::dynamic(format!("{l4}.sport"), KeyType::U16).cim("src_port"),
                    OwnedValue::Uint(val.parse().unwrap()),
                ),
                "dest_port" => (
                    KeyDef::dynamic(format!("{l4}.dport"), KeyType::U16).cim("dest_port"),
                    OwnedValue::Uint(val.parse().unwrap()),
                ),
                n if val.starts_with('"') => (
                    KeyDef::dynamic(n.to_string(), KeyType::String),
                    OwnedValue::Bytes(val.trim_matches('"').as_bytes().to_vec()),
                ),
                n => (
                    KeyDef::dynamic(n.to_string(), KeyType::U32),
                    OwnedValue::Uint(val.parse().unwrap()),
                ),
            };
            keys.push((def, v));
            if name == "oob.family" {
                let a: IpAddr = "10.77.0.1".parse().unwrap();
                keys.push((
                    KeyDef::new("ip.saddr", KeyType::IpAddr),
                    OwnedValue::Addr(a),
                ));
            }
        }
        // BASE emits oob.protocol a second time: one field, first position, last value.
        if let Some(p) = fields.iter().find(|f| f.0 == "oob.protocol") {
            keys.push((
                KeyDef::new("oob.protocol", KeyType::U16),
                OwnedValue::Uint(p.1.parse().unwrap()),
            ));
        }
        let got = run_one(keys, "JSON", "sync=1");
        assert_eq!(got, format!("{line}\n"));
    }
}

#[test]
fn gprint_golden_lines() {
    for line in GPRINT.lines() {
        let mut keys: Vec<(KeyDef, OwnedValue)> = vec![(
            KeyDef::new("raw.pkt", KeyType::Raw),
            OwnedValue::Bytes(vec![0x45]),
        )];
        for pair in line.split(',') {
            let (name, val) = pair.split_once('=').unwrap();
            let name = leak(name);
            let kv = match name {
                "oob.prefix" | "oob.in" | "oob.out" | "ip.saddr.str" | "ip.daddr.str" => (
                    KeyDef::new(name, KeyType::String),
                    OwnedValue::Bytes(val.as_bytes().to_vec()),
                ),
                "ip.saddr" | "ip.daddr" => (
                    KeyDef::new(name, KeyType::IpAddr),
                    OwnedValue::Addr(val.parse().unwrap()),
                ),
                _ => (
                    KeyDef::new(name, KeyType::U32),
                    OwnedValue::Uint(val.parse().unwrap()),
                ),
            };
            keys.push(kv);
        }
        let got = run_one(keys, "GPRINT", "");
        assert_eq!(got, format!("{line}\n"));
    }
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[test]
fn logemu_golden_lines() {
    for line in LOGEMU.lines() {
        // "Nov 24 22:24:29 vm <print>"
        let (stamp, rest) = line.split_at(15);
        let print = rest.strip_prefix(" vm ").unwrap();
        let day: i64 = stamp[4..6].trim().parse().unwrap();
        assert_eq!(&stamp[..3], "Nov");
        let hms: Vec<i64> = stamp[7..].split(':').map(|x| x.parse().unwrap()).collect();
        let secs = days_from_civil(2026, 11, day) * 86400 + hms[0] * 3600 + hms[1] * 60 + hms[2];
        let keys = vec![
            (
                KeyDef::new("print", KeyType::String),
                OwnedValue::Bytes(format!("{print}\n").into_bytes()),
            ),
            (
                KeyDef::new("oob.time.sec", KeyType::U32),
                OwnedValue::Uint(secs as u64),
            ),
        ];
        let got = run_one(keys, "LOGEMU", "");
        // Same bytes apart from the host name.
        let (gstamp, grest) = got.split_at(15);
        assert_eq!(gstamp, stamp);
        let host_end = grest[1..].find(' ').unwrap() + 1;
        assert!(!grest[1..host_end].contains('.'));
        assert_eq!(&grest[host_end + 1..], format!("{print}\n"));
    }
}
