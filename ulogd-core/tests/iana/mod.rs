//! IANA's IPFIX registry (the fixture copied from it) and the type rule, shared by
//! `catalogue_iana.rs` and the workspace-wide check in `benches/tests/iana_keys.rs`.

use std::collections::HashMap;

use ulogd_core::KeyType;

/// id -> (name, abstract data type), from the fixture.
pub fn registry() -> HashMap<u16, (String, String)> {
    let text = include_str!("../fixtures/iana/ipfix-information-elements.csv");
    let mut m = HashMap::new();
    for line in text.lines() {
        if line.starts_with('#') || line.starts_with("ElementID") || line.is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f.len(), 4, "bad fixture line {line:?}");
        m.insert(f[0].parse().unwrap(), (f[1].to_string(), f[2].to_string()));
    }
    m
}

/// Whether a key of type `ty` can hold element values of IANA type `dt`
/// (reduced-size encoding, RFC 7011 §6.2, lets a narrower integer carry a wider one).
pub fn fits(ty: KeyType, dt: &str) -> bool {
    let width = |t: KeyType| match t {
        KeyType::U8 => 8,
        KeyType::U16 => 16,
        KeyType::U32 => 32,
        KeyType::U64 => 64,
        _ => 0,
    };
    match dt {
        "unsigned8" | "unsigned16" | "unsigned32" | "unsigned64" => {
            let w: u32 = dt["unsigned".len()..].parse().unwrap();
            (1..=w).contains(&width(ty))
        }
        "dateTimeSeconds" => matches!(ty, KeyType::U32 | KeyType::U64),
        "ipv4Address" | "ipv6Address" => ty == KeyType::IpAddr,
        "macAddress" | "octetArray" => ty == KeyType::Raw,
        "string" => ty == KeyType::String,
        "boolean" => ty == KeyType::Bool,
        _ => false,
    }
}
