//! IP2HBIN: "host byte order" copies of the address keys (`ip.hsaddr`, ...).
//!
//! In ulogd2 an IPv4 address key held the network-order 32-bit word, and IP2HBIN
//! converted it with `ntohl` so that OPRINT (which prints the word as host order)
//! showed `127.0.0.1` instead of `1.0.0.127`. Here addresses are typed values and every
//! output prints them right, so IP2HBIN passes each address through unchanged: the
//! keys exist so that configurations and SQL schemas naming them keep working.
//! Fixed vs 2.0.8: `reply.ip.hdaddr` is produced; IPv6 addresses are values, not
//! pointers.

use std::sync::Arc;

use ulogd_core::{Event, KeyDef, KeyType, Options, PluginError, PluginSpec, Ret, Stage};

use super::ip2str::family_ok;

static INPUTS: &[KeyDef] = &[
    KeyDef::new("oob.family", KeyType::U8),
    KeyDef::new("oob.protocol", KeyType::U16),
    KeyDef::new("ip.saddr", KeyType::IpAddr).optional(),
    KeyDef::new("ip.daddr", KeyType::IpAddr).optional(),
    KeyDef::new("orig.ip.saddr", KeyType::IpAddr).optional(),
    KeyDef::new("orig.ip.daddr", KeyType::IpAddr).optional(),
    KeyDef::new("reply.ip.saddr", KeyType::IpAddr).optional(),
    KeyDef::new("reply.ip.daddr", KeyType::IpAddr).optional(),
];
const FIRST_ADDR: usize = 2;

static OUTPUTS: &[KeyDef] = &[
    KeyDef::new("ip.hsaddr", KeyType::IpAddr),
    KeyDef::new("ip.hdaddr", KeyType::IpAddr),
    KeyDef::new("orig.ip.hsaddr", KeyType::IpAddr),
    KeyDef::new("orig.ip.hdaddr", KeyType::IpAddr),
    KeyDef::new("reply.ip.hsaddr", KeyType::IpAddr),
    KeyDef::new("reply.ip.hdaddr", KeyType::IpAddr),
];

struct Ip2HBin;

impl Stage for Ip2HBin {
    fn interp(&self, ev: &mut Event<'_>) -> Ret {
        if !family_ok(ev, 0, 1) {
            return Ret::Err;
        }
        for out in 0..OUTPUTS.len() {
            if let Some(a) = ev.addr(FIRST_ADDR + out) {
                ev.set_addr(out, a);
            }
        }
        Ret::Ok
    }
}

fn make(_: &Options) -> Result<Arc<dyn Stage>, PluginError> {
    Ok(Arc::new(Ip2HBin))
}

/// The IP2HBIN plugin.
pub(crate) fn spec() -> PluginSpec {
    super::filter_spec(
        "IP2HBIN",
        &[],
        "copies address keys to ip.hsaddr/ip.hdaddr/... (ulogd2's host-order variants)",
        vec![],
        INPUTS,
        OUTPUTS,
        make,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filters::testutil::*;

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
