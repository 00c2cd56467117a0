//! IP2BIN: addresses as `0x` + 32 hex digits of the 128-bit address (IPv4 as the
//! v4-mapped `::ffff:a.b.c.d`), a raw string meant to be pasted unquoted into MySQL
//! `BINARY(16)` columns: 127.0.0.1 is `0x00000000000000000000ffff7f000001`.
//!
//! Fixed vs 2.0.8: `reply.ip.daddr.bin` is produced (2.0.8's loop stopped one key
//! short). The address's own family is used (see IP2STR); a bridge packet of an unknown
//! ethertype is an error, as in 2.0.8.

use std::net::IpAddr;

use ulogd_core::{Event, KeyDef, KeyType};

use super::fmt::put_hex2;

static OUTPUTS: &[KeyDef] = &[
    KeyDef::new("ip.saddr.bin", KeyType::RawStr),
    KeyDef::new("ip.daddr.bin", KeyType::RawStr),
    KeyDef::new("orig.ip.saddr.bin", KeyType::RawStr),
    KeyDef::new("orig.ip.daddr.bin", KeyType::RawStr),
    KeyDef::new("reply.ip.saddr.bin", KeyType::RawStr),
    KeyDef::new("reply.ip.daddr.bin", KeyType::RawStr),
];

/// Appends `0x` and the 32 hex digits of `a` (IPv4 mapped into IPv6).
pub(crate) fn put_bin(buf: &mut Vec<u8>, a: IpAddr) {
    let o = match a {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    };
    buf.extend_from_slice(b"0x");
    for b in o {
        put_hex2(buf, b);
    }
}

pub(crate) struct Ip2Bin;

impl super::addr::Convert for Ip2Bin {
    const NAME: &'static str = "IP2BIN";
    const SUMMARY: &'static str =
        "converts address keys to 0x-prefixed 128-bit hex raw strings for SQL BINARY(16)";
    const OUTPUTS: &'static [KeyDef] = OUTPUTS;
    fn convert(ev: &mut Event<'_>, out: usize, a: IpAddr) {
        ev.set_with(out, |_, buf| put_bin(buf, a));
    }
}

/// The IP2BIN plugin.
pub(crate) fn spec() -> ulogd_core::PluginSpec {
    super::addr::spec::<Ip2Bin>()
}

#[cfg(test)]
mod tests {
    use crate::filters::testutil::*;
    use ulogd_core::{KeyDef, KeyType};

    #[test]
    fn v4_mapped_and_v6_and_reply_daddr() {
        let keys = vec![
            KeyDef::new("oob.family", KeyType::U8),
            KeyDef::new("oob.protocol", KeyType::U16),
            KeyDef::new("ip.saddr", KeyType::IpAddr),
            KeyDef::new("reply.ip.daddr", KeyType::IpAddr),
        ];
        let events = vec![vec![
            (0, u(2)),
            (1, u(0x800)),
            (2, ip("127.0.0.1")),
            (3, ip("fd77::2")),
        ]];
        let rows = run1("IP2BIN", keys, events);
        assert_eq!(
            get_str(&rows[0], "ip.saddr.bin").as_deref(),
            Some("0x00000000000000000000ffff7f000001")
        );
        assert_eq!(
            get_str(&rows[0], "reply.ip.daddr.bin").as_deref(),
            Some("0xfd770000000000000000000000000002")
        );
        assert_eq!(get(&rows[0], "ip.daddr.bin"), None);
    }
}
