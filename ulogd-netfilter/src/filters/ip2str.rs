//! IP2STR: addresses to text (`inet_ntop` format).
//!
//! ulogd2 chose IPv4 or IPv6 from `oob.family` (and, for the bridge family, from the
//! ethertype in `oob.protocol`), because its address keys were untyped 128-bit slots.
//! Here an address knows its own family, so each set input address is printed as what
//! it is; `oob.family`/`oob.protocol` stay declared inputs (same bindings as ulogd2)
//! but are only used to reject a bridge packet of an unknown ethertype, as 2.0.8 does.
//! Fixed vs 2.0.8: `arp.daddr.str` no longer overruns a static buffer (bugzilla #890),
//! and ARP addresses are values, not pointers printed as garbage.

use std::net::IpAddr;

use ulogd_core::{Event, KeyDef, KeyType};

use super::fmt::put_ip;

static OUTPUTS: &[KeyDef] = &[
    KeyDef::new("ip.saddr.str", KeyType::String).cim("src_ip"),
    KeyDef::new("ip.daddr.str", KeyType::String).cim("dest_ip"),
    KeyDef::new("orig.ip.saddr.str", KeyType::String).cim("src_ip"),
    KeyDef::new("orig.ip.daddr.str", KeyType::String).cim("dest_ip"),
    KeyDef::new("reply.ip.saddr.str", KeyType::String),
    KeyDef::new("reply.ip.daddr.str", KeyType::String),
    KeyDef::new("arp.saddr.str", KeyType::String),
    KeyDef::new("arp.daddr.str", KeyType::String),
];

pub(crate) struct Ip2Str;

impl super::addr::Convert for Ip2Str {
    const NAME: &'static str = "IP2STR";
    const SUMMARY: &'static str = "converts IPv4/IPv6 address keys to text (ip.saddr.str, ...)";
    const OUTPUTS: &'static [KeyDef] = OUTPUTS;
    fn convert(ev: &mut Event<'_>, out: usize, a: IpAddr) {
        ev.set_with(out, |_, buf| put_ip(buf, a));
    }
}

/// The IP2STR plugin.
pub(crate) fn spec() -> ulogd_core::PluginSpec {
    super::addr::spec::<Ip2Str>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filters::testutil::*;
    use ulogd_core::{KeyDef, KeyType};

    #[test]
    fn prints_each_set_address() {
        let keys = vec![
            KeyDef::new("oob.family", KeyType::U8),
            KeyDef::new("oob.protocol", KeyType::U16),
            KeyDef::new("ip.saddr", KeyType::IpAddr),
            KeyDef::new("ip.daddr", KeyType::IpAddr),
            KeyDef::new("arp.daddr", KeyType::IpAddr),
            KeyDef::new("reply.ip.daddr", KeyType::IpAddr),
        ];
        let events = vec![
            vec![
                (0, u(2)),
                (1, u(0x800)),
                (2, ip("10.77.0.1")),
                (3, ip("10.77.0.2")),
            ],
            vec![
                (0, u(10)),
                (1, u(0x86dd)),
                (2, ip("fd77::1")),
                (3, ip("fd77::2")),
                (5, ip("::1")),
            ],
            vec![(0, u(7)), (1, u(0x806)), (4, ip("192.0.2.1"))],
            vec![(0, u(7)), (1, u(0x8100)), (2, ip("192.0.2.1"))],
        ];
        let (rep, rows) = run_filters(keys, events, &[("i", "IP2STR", &[])]).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(
            get_str(&rows[0], "ip.saddr.str").as_deref(),
            Some("10.77.0.1")
        );
        assert_eq!(
            get_str(&rows[0], "ip.daddr.str").as_deref(),
            Some("10.77.0.2")
        );
        assert_eq!(get(&rows[0], "orig.ip.saddr.str"), None);
        assert_eq!(
            get_str(&rows[1], "ip.saddr.str").as_deref(),
            Some("fd77::1")
        );
        assert_eq!(
            get_str(&rows[1], "reply.ip.daddr.str").as_deref(),
            Some("::1")
        );
        assert_eq!(
            get_str(&rows[2], "arp.daddr.str").as_deref(),
            Some("192.0.2.1")
        );
        assert_eq!(rep.get("i", "errors"), Some(1));
    }

    #[test]
    fn cim_aliases() {
        assert_eq!(OUTPUTS[0].json_name(), "src_ip");
        assert_eq!(OUTPUTS[3].json_name(), "dest_ip");
        assert_eq!(OUTPUTS[4].json_name(), "reply.ip.saddr.str");
    }
}
