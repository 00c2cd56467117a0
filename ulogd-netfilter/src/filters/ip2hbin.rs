//! IP2HBIN: "host byte order" copies of the address keys (`ip.hsaddr`, ...).
//!
//! In ulogd2 an IPv4 address key held the network-order 32-bit word, and IP2HBIN
//! converted it with `ntohl` so that OPRINT (which prints the word as host order)
//! showed `127.0.0.1` instead of `1.0.0.127`. Here addresses are typed values and every
//! output prints them right, so IP2HBIN passes each address through unchanged: the
//! keys exist so that configurations and SQL schemas naming them keep working.
//! Fixed vs 2.0.8: `reply.ip.hdaddr` is produced; IPv6 addresses are values, not
//! pointers.

use std::net::IpAddr;

use ulogd_core::{Event, KeyDef, KeyType};

static OUTPUTS: &[KeyDef] = &[
    KeyDef::new("ip.hsaddr", KeyType::IpAddr),
    KeyDef::new("ip.hdaddr", KeyType::IpAddr),
    KeyDef::new("orig.ip.hsaddr", KeyType::IpAddr),
    KeyDef::new("orig.ip.hdaddr", KeyType::IpAddr),
    KeyDef::new("reply.ip.hsaddr", KeyType::IpAddr),
    KeyDef::new("reply.ip.hdaddr", KeyType::IpAddr),
];

pub(crate) struct Ip2HBin;

impl super::addr::Convert for Ip2HBin {
    const NAME: &'static str = "IP2HBIN";
    const SUMMARY: &'static str =
        "copies address keys to ip.hsaddr/ip.hdaddr/... (ulogd2's host-order variants)";
    const OUTPUTS: &'static [KeyDef] = OUTPUTS;
    fn convert(ev: &mut Event<'_>, out: usize, a: IpAddr) {
        ev.set_addr(out, a);
    }
}

/// The IP2HBIN plugin.
pub(crate) fn spec() -> ulogd_core::PluginSpec {
    super::addr::spec::<Ip2HBin>()
}

#[cfg(test)]
mod tests {
    use crate::filters::testutil::*;
    use ulogd_core::{KeyDef, KeyType};

    #[test]
    fn passes_addresses_through() {
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
            (3, ip("10.0.0.9")),
        ]];
        let rows = run1("IP2HBIN", keys, events);
        assert_eq!(get(&rows[0], "ip.hsaddr"), Some(&ip("127.0.0.1")));
        assert_eq!(get(&rows[0], "reply.ip.hdaddr"), Some(&ip("10.0.0.9")));
        assert_eq!(get(&rows[0], "ip.hdaddr"), None);
    }
}
