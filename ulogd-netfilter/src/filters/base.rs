//! BASE: decodes `raw.pkt` into the IPv4/IPv6/TCP/UDP/SCTP/ICMP/ICMPv6/ARP keys.
//!
//! The decoding itself is [`crate::packet::decode`], a pure function; this stage feeds
//! it the first `raw.pktlen` bytes of `raw.pkt` (never more than were captured), the
//! family and the hardware protocol, and sets exactly the keys it found. `oob.protocol`
//! is copied from the input, as ulogd2 does. Keys are declared in ulogd2 2.0.8's order
//! and types (`ulogd -i`), which wildcard outputs (GPRINT, JSON) follow.
//!
//! Annotations: CIM aliases `src_port`/`dest_port` on the TCP, UDP and SCTP ports (as
//! ulogd2), and IPFIX IETF information elements. `ip.saddr`/`ip.daddr` hold both
//! families but carry the IPv4 elements (8, 12): an exporter that meets an IPv6 value
//! must use `sourceIPv6Address` (27) / `destinationIPv6Address` (28) instead. Ports use
//! the generic `sourceTransportPort` (7) / `destinationTransportPort` (11) for TCP,
//! UDP and SCTP alike (ulogd2 used the deprecated TCP/UDP-specific 180-183); only one
//! of the three is set per packet. `ip.fragoff` has no element: it holds the flags too,
//! not just `fragmentOffset` (ulogd2 annotated it 88 anyway).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use ulogd_core::{Event, KeyDef, KeyType, Options, PluginError, PluginSpec, Ret, Stage};

use crate::packet;

static INPUTS: &[KeyDef] = &[
    KeyDef::new("raw.pkt", KeyType::Raw),
    KeyDef::new("raw.pktlen", KeyType::U32),
    KeyDef::new("oob.family", KeyType::U8),
    KeyDef::new("oob.protocol", KeyType::U16),
];
const IN_PKT: usize = 0;
const IN_PKTLEN: usize = 1;
const IN_FAMILY: usize = 2;
const IN_PROTOCOL: usize = 3;

/// Output keys, in ulogd2's order. Positions are the `O_*` constants below.
static OUTPUTS: &[KeyDef] = &[
    KeyDef::new("ip.saddr", KeyType::IpAddr).ietf(8),
    KeyDef::new("ip.daddr", KeyType::IpAddr).ietf(12),
    KeyDef::new("ip.protocol", KeyType::U8).ietf(4),
    KeyDef::new("ip.tos", KeyType::U8).ietf(5),
    KeyDef::new("ip.ttl", KeyType::U8).ietf(192),
    KeyDef::new("ip.totlen", KeyType::U16).ietf(190),
    KeyDef::new("ip.ihl", KeyType::U8).ietf(189),
    KeyDef::new("ip.csum", KeyType::U16),
    KeyDef::new("ip.id", KeyType::U16).ietf(54),
    KeyDef::new("ip.fragoff", KeyType::U16),
    KeyDef::new("ip6.payloadlen", KeyType::U16).ietf(191),
    KeyDef::new("ip6.priority", KeyType::U8),
    KeyDef::new("ip6.flowlabel", KeyType::U32).ietf(31),
    KeyDef::new("ip6.hoplimit", KeyType::U8),
    KeyDef::new("ip6.nexthdr", KeyType::U8).ietf(193),
    KeyDef::new("ip6.fragoff", KeyType::U16),
    KeyDef::new("ip6.fragid", KeyType::U32),
    KeyDef::new("tcp.sport", KeyType::U16)
        .ietf(7)
        .cim("src_port"),
    KeyDef::new("tcp.dport", KeyType::U16)
        .ietf(11)
        .cim("dest_port"),
    KeyDef::new("tcp.seq", KeyType::U32).ietf(184),
    KeyDef::new("tcp.ackseq", KeyType::U32).ietf(185),
    KeyDef::new("tcp.window", KeyType::U16).ietf(186),
    KeyDef::new("tcp.offset", KeyType::U8),
    KeyDef::new("tcp.reserved", KeyType::U8),
    KeyDef::new("tcp.urg", KeyType::Bool),
    KeyDef::new("tcp.urgp", KeyType::U16).ietf(187),
    KeyDef::new("tcp.ack", KeyType::Bool),
    KeyDef::new("tcp.psh", KeyType::Bool),
    KeyDef::new("tcp.rst", KeyType::Bool),
    KeyDef::new("tcp.syn", KeyType::Bool),
    KeyDef::new("tcp.fin", KeyType::Bool),
    KeyDef::new("tcp.res1", KeyType::Bool),
    KeyDef::new("tcp.res2", KeyType::Bool),
    KeyDef::new("tcp.csum", KeyType::U16),
    KeyDef::new("udp.sport", KeyType::U16)
        .ietf(7)
        .cim("src_port"),
    KeyDef::new("udp.dport", KeyType::U16)
        .ietf(11)
        .cim("dest_port"),
    KeyDef::new("udp.len", KeyType::U16),
    KeyDef::new("udp.csum", KeyType::U16),
    KeyDef::new("icmp.type", KeyType::U8).ietf(176),
    KeyDef::new("icmp.code", KeyType::U8).ietf(177),
    KeyDef::new("icmp.echoid", KeyType::U16),
    KeyDef::new("icmp.echoseq", KeyType::U16),
    KeyDef::new("icmp.gateway", KeyType::IpAddr),
    KeyDef::new("icmp.fragmtu", KeyType::U16),
    KeyDef::new("icmp.csum", KeyType::U16),
    KeyDef::new("icmpv6.type", KeyType::U8).ietf(178),
    KeyDef::new("icmpv6.code", KeyType::U8).ietf(179),
    KeyDef::new("icmpv6.echoid", KeyType::U16),
    KeyDef::new("icmpv6.echoseq", KeyType::U16),
    KeyDef::new("icmpv6.csum", KeyType::U16),
    KeyDef::new("ahesp.spi", KeyType::U32),
    KeyDef::new("oob.protocol", KeyType::U16),
    KeyDef::new("arp.hwtype", KeyType::U16),
    KeyDef::new("arp.protocoltype", KeyType::U16),
    KeyDef::new("arp.operation", KeyType::U16),
    KeyDef::new("arp.shwaddr", KeyType::Raw),
    KeyDef::new("arp.saddr", KeyType::IpAddr),
    KeyDef::new("arp.dhwaddr", KeyType::Raw),
    KeyDef::new("arp.daddr", KeyType::IpAddr),
    KeyDef::new("sctp.sport", KeyType::U16)
        .ietf(7)
        .cim("src_port"),
    KeyDef::new("sctp.dport", KeyType::U16)
        .ietf(11)
        .cim("dest_port"),
    KeyDef::new("sctp.csum", KeyType::U32),
];

/// Sets an output from a decoded field of any of the decoder's value types.
trait Out {
    fn put(self, ev: &mut Event<'_>, o: usize);
}

macro_rules! out_uint {
    ($($t:ty),*) => {$(
        impl Out for $t {
            #[inline]
            fn put(self, ev: &mut Event<'_>, o: usize) {
                ev.set_u64(o, self as u64)
            }
        }
    )*};
}
out_uint!(u8, u16, u32, u64);

impl Out for bool {
    #[inline]
    fn put(self, ev: &mut Event<'_>, o: usize) {
        ev.set_bool(o, self)
    }
}
impl Out for IpAddr {
    #[inline]
    fn put(self, ev: &mut Event<'_>, o: usize) {
        ev.set_addr(o, self)
    }
}
impl Out for Ipv4Addr {
    #[inline]
    fn put(self, ev: &mut Event<'_>, o: usize) {
        ev.set_v4(o, self)
    }
}
impl Out for Ipv6Addr {
    #[inline]
    fn put(self, ev: &mut Event<'_>, o: usize) {
        ev.set_v6(o, self)
    }
}
impl<const N: usize> Out for [u8; N] {
    #[inline]
    fn put(self, ev: &mut Event<'_>, o: usize) {
        ev.set_bytes(o, &self)
    }
}

#[inline]
fn put<T: Out>(ev: &mut Event<'_>, o: usize, v: Option<T>) {
    if let Some(v) = v {
        v.put(ev, o)
    }
}

/// Writes every field `decode` found. The list follows [`OUTPUTS`]; the position of
/// each key is checked against its name by the `output_positions` test.
fn set_all(ev: &mut Event<'_>, d: packet::Decoded) {
    put(ev, 0, d.ip_saddr);
    put(ev, 1, d.ip_daddr);
    put(ev, 2, d.ip_protocol);
    put(ev, 3, d.ip_tos);
    put(ev, 4, d.ip_ttl);
    put(ev, 5, d.ip_totlen);
    put(ev, 6, d.ip_ihl);
    put(ev, 7, d.ip_csum);
    put(ev, 8, d.ip_id);
    put(ev, 9, d.ip_fragoff);
    put(ev, 10, d.ip6_payloadlen);
    put(ev, 11, d.ip6_priority);
    put(ev, 12, d.ip6_flowlabel);
    put(ev, 13, d.ip6_hoplimit);
    put(ev, 14, d.ip6_nexthdr);
    put(ev, 15, d.ip6_fragoff);
    put(ev, 16, d.ip6_fragid);
    put(ev, 17, d.tcp_sport);
    put(ev, 18, d.tcp_dport);
    put(ev, 19, d.tcp_seq);
    put(ev, 20, d.tcp_ackseq);
    put(ev, 21, d.tcp_window);
    put(ev, 22, d.tcp_offset);
    put(ev, 23, d.tcp_reserved);
    put(ev, 24, d.tcp_urg);
    put(ev, 25, d.tcp_urgp);
    put(ev, 26, d.tcp_ack);
    put(ev, 27, d.tcp_psh);
    put(ev, 28, d.tcp_rst);
    put(ev, 29, d.tcp_syn);
    put(ev, 30, d.tcp_fin);
    put(ev, 31, d.tcp_res1);
    put(ev, 32, d.tcp_res2);
    put(ev, 33, d.tcp_csum);
    put(ev, 34, d.udp_sport);
    put(ev, 35, d.udp_dport);
    put(ev, 36, d.udp_len);
    put(ev, 37, d.udp_csum);
    put(ev, 38, d.icmp_type);
    put(ev, 39, d.icmp_code);
    put(ev, 40, d.icmp_echoid);
    put(ev, 41, d.icmp_echoseq);
    put(ev, 42, d.icmp_gateway);
    put(ev, 43, d.icmp_fragmtu);
    put(ev, 44, d.icmp_csum);
    put(ev, 45, d.icmpv6_type);
    put(ev, 46, d.icmpv6_code);
    put(ev, 47, d.icmpv6_echoid);
    put(ev, 48, d.icmpv6_echoseq);
    put(ev, 49, d.icmpv6_csum);
    put(ev, 50, d.ahesp_spi);
    // 51: oob.protocol, copied from the input by `interp`.
    put(ev, 52, d.arp_hwtype);
    put(ev, 53, d.arp_protocoltype);
    put(ev, 54, d.arp_operation);
    put(ev, 55, d.arp_shwaddr);
    put(ev, 56, d.arp_saddr);
    put(ev, 57, d.arp_dhwaddr);
    put(ev, 58, d.arp_daddr);
    put(ev, 59, d.sctp_sport);
    put(ev, 60, d.sctp_dport);
    put(ev, 61, d.sctp_csum);
}
const O_OOB_PROTOCOL: usize = 51;

struct Base;

impl Stage for Base {
    fn interp(&self, ev: &mut Event<'_>) -> Ret {
        let proto = ev.u16(IN_PROTOCOL);
        if let Some(p) = proto {
            ev.set_u16(O_OOB_PROTOCOL, p);
        }
        let family = ev.u8(IN_FAMILY).unwrap_or(0);
        let decoded = {
            let Some(pkt) = ev.bytes(IN_PKT) else {
                return Ret::Ok;
            };
            let len = ev
                .u32(IN_PKTLEN)
                .map_or(pkt.len(), |l| (l as usize).min(pkt.len()));
            packet::decode(family, proto.unwrap_or(0), &pkt[..len])
        };
        set_all(ev, decoded);
        Ret::Ok
    }
}

fn make(_: &Options) -> Result<Arc<dyn Stage>, PluginError> {
    Ok(Arc::new(Base))
}

/// The BASE plugin.
pub(crate) fn spec() -> PluginSpec {
    super::filter_spec(
        "BASE",
        &[],
        "decodes raw.pkt into IPv4/IPv6/TCP/UDP/SCTP/ICMP/ICMPv6/ARP keys",
        vec![],
        INPUTS,
        OUTPUTS,
        make,
    )
}

#[cfg(test)]
mod tests;
