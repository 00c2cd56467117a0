//! The packet decoder behind BASE: a pure function from the L3 bytes NFLOG (or a
//! capture) delivered to the fields ulogd2's BASE plugin sets.
//!
//! Every header is read through checked slices: a truncated or hostile packet leaves
//! the fields of the headers it does not fully contain unset (`None`) and never
//! panics. Values follow ulogd2 2.0.8 (`ulogd_raw2packet_BASE.c`): host-order
//! integers, `ip.fragoff` is the raw 16-bit flags+offset field, `ip.csum` host
//! order, `icmp.csum`/`icmpv6.csum` *not* byte-swapped (the wire bytes read
//! little-endian, as ulogd2 printed them on x86), except for the deliberate fixes
//! listed in [`FIXES`].
//!
//! Quirks of 2.0.8 that are kept on purpose:
//! - an IPv4 packet must be longer than its header (`len > ihl * 4`), else nothing
//!   at all is set;
//! - `tcp.res1`/`tcp.res2` are BOOL keys holding the bitfields of Linux's
//!   `struct tcphdr` (`res1` = the 4 reserved bits, `res2` = ECE/CWR), so they are
//!   true when any of those bits is set;
//! - `tcp.urgp` only with URG; `icmp.echoid/echoseq` only for echo request/reply;
//!   `icmp.gateway` for redirect (5) and parameter problem (12, where the first
//!   octet is the pointer); `icmp.fragmtu` only for unreachable/frag-needed (3/4);
//! - IPv6: `ip.protocol` is only set when an upper-layer header is reached (not for
//!   a non-first fragment nor at ESP); `ip6.nexthdr` is the last header reached and
//!   is unset when an extension header is truncated; a fragment header with offset 0
//!   does not stop the walk; SCTP is only decoded over IPv4;
//! - ARP needs the full 28-byte Ethernet/IPv4 `struct ether_arp`, whatever its
//!   hardware/protocol address lengths say.

use std::net::{IpAddr, Ipv4Addr};

mod ahesp;
mod arp;
mod icmp;
mod ipv4;
mod ipv6;
mod sctp;
mod tcp;
mod udp;

#[cfg(test)]
mod tests;

/// Deliberate differences from ulogd2 2.0.8's BASE, for the README.
pub const FIXES: &[&str] = &[
    "tcp.offset is the TCP data offset in 32-bit words (2.0.8: always 0, ntohs() applied to a 4-bit field)",
    "tcp.reserved is the 4 reserved TCP header bits (2.0.8: always 0, same bug)",
    "ahesp.spi is set for AH (SPI at offset 4, needs the 12-byte AH header) and ESP (SPI at offset 0, needs 8 bytes), \
     over IPv4 and IPv6 (2.0.8: never set, the code is under #if 0)",
    "icmp.gateway is the address in network order, i.e. printed as on the wire (2.0.8: stored ntohl()'d, so shown byte-swapped)",
    "arp.saddr / arp.daddr hold the IPv4 addresses themselves (2.0.8: a pointer into the packet, printed as garbage)",
    "no transport header is decoded from a non-first IPv4 fragment (2.0.8 decoded payload bytes as a TCP/UDP/ICMP header)",
    "no transport header is decoded when the IPv4 ihl is below 5 (2.0.8 decoded the IP header itself as L4); \
     the IP fields are still set",
    "IPv6: reaching an ESP header always sets ip6.nexthdr = 50 (2.0.8 applied an AH-style length check to the SPI \
     bytes and could leave ip6.nexthdr unset)",
];

/// nfgen family AF_INET.
pub const AF_INET: u8 = 2;
/// nfgen family AF_INET6.
pub const AF_INET6: u8 = 10;
/// nfgen family AF_BRIDGE (the payload starts at the L3 header; dispatch on ethertype).
pub const AF_BRIDGE: u8 = 7;
/// Ethertype IPv4.
pub const ETH_P_IP: u16 = 0x0800;
/// Ethertype IPv6.
pub const ETH_P_IPV6: u16 = 0x86dd;
/// Ethertype ARP.
pub const ETH_P_ARP: u16 = 0x0806;

pub(crate) const IPPROTO_HOPOPTS: u8 = 0;
pub(crate) const IPPROTO_ICMP: u8 = 1;
pub(crate) const IPPROTO_TCP: u8 = 6;
pub(crate) const IPPROTO_UDP: u8 = 17;
pub(crate) const IPPROTO_ROUTING: u8 = 43;
pub(crate) const IPPROTO_FRAGMENT: u8 = 44;
pub(crate) const IPPROTO_ESP: u8 = 50;
pub(crate) const IPPROTO_AH: u8 = 51;
pub(crate) const IPPROTO_ICMPV6: u8 = 58;
pub(crate) const IPPROTO_NONE: u8 = 59;
pub(crate) const IPPROTO_DSTOPTS: u8 = 60;
pub(crate) const IPPROTO_SCTP: u8 = 132;

/// Every output key of BASE, in ulogd2 2.0.8's order (`iphdr_rets[]`).
pub const KEYS: &[&str] = &[
    "ip.saddr",
    "ip.daddr",
    "ip.protocol",
    "ip.tos",
    "ip.ttl",
    "ip.totlen",
    "ip.ihl",
    "ip.csum",
    "ip.id",
    "ip.fragoff",
    "ip6.payloadlen",
    "ip6.priority",
    "ip6.flowlabel",
    "ip6.hoplimit",
    "ip6.nexthdr",
    "ip6.fragoff",
    "ip6.fragid",
    "tcp.sport",
    "tcp.dport",
    "tcp.seq",
    "tcp.ackseq",
    "tcp.window",
    "tcp.offset",
    "tcp.reserved",
    "tcp.urg",
    "tcp.urgp",
    "tcp.ack",
    "tcp.psh",
    "tcp.rst",
    "tcp.syn",
    "tcp.fin",
    "tcp.res1",
    "tcp.res2",
    "tcp.csum",
    "udp.sport",
    "udp.dport",
    "udp.len",
    "udp.csum",
    "icmp.type",
    "icmp.code",
    "icmp.echoid",
    "icmp.echoseq",
    "icmp.gateway",
    "icmp.fragmtu",
    "icmp.csum",
    "icmpv6.type",
    "icmpv6.code",
    "icmpv6.echoid",
    "icmpv6.echoseq",
    "icmpv6.csum",
    "ahesp.spi",
    "oob.protocol",
    "arp.hwtype",
    "arp.protocoltype",
    "arp.operation",
    "arp.shwaddr",
    "arp.saddr",
    "arp.dhwaddr",
    "arp.daddr",
    "sctp.sport",
    "sctp.dport",
    "sctp.csum",
];

/// Every field BASE can set; `None` when the packet did not carry it.
///
/// Each field is the BASE key of the same name with `.` replaced by `_`; see
/// [`Decoded::get`] for access by key name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Decoded {
    /// `ip.saddr`: IPv4 or IPv6 source address.
    pub ip_saddr: Option<IpAddr>,
    /// `ip.daddr`: IPv4 or IPv6 destination address.
    pub ip_daddr: Option<IpAddr>,
    /// `ip.protocol`: IPv4 protocol; for IPv6 the final upper-layer header.
    pub ip_protocol: Option<u8>,
    /// `ip.tos`.
    pub ip_tos: Option<u8>,
    /// `ip.ttl`.
    pub ip_ttl: Option<u8>,
    /// `ip.totlen`, host order.
    pub ip_totlen: Option<u16>,
    /// `ip.ihl`, in 32-bit words.
    pub ip_ihl: Option<u8>,
    /// `ip.csum`, host order.
    pub ip_csum: Option<u16>,
    /// `ip.id`.
    pub ip_id: Option<u16>,
    /// `ip.fragoff`: the raw flags+offset field (DF = 0x4000, MF = 0x2000).
    pub ip_fragoff: Option<u16>,
    /// `ip6.payloadlen`.
    pub ip6_payloadlen: Option<u16>,
    /// `ip6.priority`: the traffic class.
    pub ip6_priority: Option<u8>,
    /// `ip6.flowlabel` (20 bits).
    pub ip6_flowlabel: Option<u32>,
    /// `ip6.hoplimit`.
    pub ip6_hoplimit: Option<u8>,
    /// `ip6.nexthdr`: the last header reached by the extension-header walk.
    pub ip6_nexthdr: Option<u8>,
    /// `ip6.fragoff`: fragment offset in bytes (`offlg & 0xfff8`), only with a fragment header.
    pub ip6_fragoff: Option<u16>,
    /// `ip6.fragid`, only with a fragment header.
    pub ip6_fragid: Option<u32>,
    /// `tcp.sport`.
    pub tcp_sport: Option<u16>,
    /// `tcp.dport`.
    pub tcp_dport: Option<u16>,
    /// `tcp.seq`.
    pub tcp_seq: Option<u32>,
    /// `tcp.ackseq`.
    pub tcp_ackseq: Option<u32>,
    /// `tcp.window`.
    pub tcp_window: Option<u16>,
    /// `tcp.offset`: data offset in 32-bit words (fixed; 2.0.8 always 0).
    pub tcp_offset: Option<u8>,
    /// `tcp.reserved`: the 4 reserved bits (fixed; 2.0.8 always 0).
    pub tcp_reserved: Option<u8>,
    /// `tcp.urg`.
    pub tcp_urg: Option<bool>,
    /// `tcp.urgp`, only when URG is set.
    pub tcp_urgp: Option<u16>,
    /// `tcp.ack`.
    pub tcp_ack: Option<bool>,
    /// `tcp.psh`.
    pub tcp_psh: Option<bool>,
    /// `tcp.rst`.
    pub tcp_rst: Option<bool>,
    /// `tcp.syn`.
    pub tcp_syn: Option<bool>,
    /// `tcp.fin`.
    pub tcp_fin: Option<bool>,
    /// `tcp.res1`: Linux `tcphdr.res1` bitfield (4 reserved bits) as a BOOL.
    pub tcp_res1: Option<bool>,
    /// `tcp.res2`: Linux `tcphdr.res2` bitfield (ECE, CWR) as a BOOL.
    pub tcp_res2: Option<bool>,
    /// `tcp.csum`, host order.
    pub tcp_csum: Option<u16>,
    /// `udp.sport`.
    pub udp_sport: Option<u16>,
    /// `udp.dport`.
    pub udp_dport: Option<u16>,
    /// `udp.len`.
    pub udp_len: Option<u16>,
    /// `udp.csum`, host order.
    pub udp_csum: Option<u16>,
    /// `icmp.type`.
    pub icmp_type: Option<u8>,
    /// `icmp.code`.
    pub icmp_code: Option<u8>,
    /// `icmp.echoid`, echo request/reply only.
    pub icmp_echoid: Option<u16>,
    /// `icmp.echoseq`, echo request/reply only.
    pub icmp_echoseq: Option<u16>,
    /// `icmp.gateway`: redirect gateway / parameter-problem word (first octet = pointer).
    pub icmp_gateway: Option<Ipv4Addr>,
    /// `icmp.fragmtu`: next-hop MTU of unreachable/fragmentation-needed.
    pub icmp_fragmtu: Option<u16>,
    /// `icmp.csum`: as 2.0.8 prints it (wire bytes read little-endian).
    pub icmp_csum: Option<u16>,
    /// `icmpv6.type`.
    pub icmpv6_type: Option<u8>,
    /// `icmpv6.code`.
    pub icmpv6_code: Option<u8>,
    /// `icmpv6.echoid`, echo request/reply only.
    pub icmpv6_echoid: Option<u16>,
    /// `icmpv6.echoseq`, echo request/reply only.
    pub icmpv6_echoseq: Option<u16>,
    /// `icmpv6.csum`: as 2.0.8 prints it (wire bytes read little-endian).
    pub icmpv6_csum: Option<u16>,
    /// `ahesp.spi` (fixed; 2.0.8 never set it).
    pub ahesp_spi: Option<u32>,
    /// `oob.protocol`: BASE's copy of its input (the `hw_protocol` given to [`decode`]).
    pub oob_protocol: Option<u16>,
    /// `arp.hwtype`.
    pub arp_hwtype: Option<u16>,
    /// `arp.protocoltype`.
    pub arp_protocoltype: Option<u16>,
    /// `arp.operation`.
    pub arp_operation: Option<u16>,
    /// `arp.shwaddr`: sender hardware address.
    pub arp_shwaddr: Option<[u8; 6]>,
    /// `arp.saddr`: sender IPv4 address.
    pub arp_saddr: Option<Ipv4Addr>,
    /// `arp.dhwaddr`: target hardware address.
    pub arp_dhwaddr: Option<[u8; 6]>,
    /// `arp.daddr`: target IPv4 address.
    pub arp_daddr: Option<Ipv4Addr>,
    /// `sctp.sport`.
    pub sctp_sport: Option<u16>,
    /// `sctp.dport`.
    pub sctp_dport: Option<u16>,
    /// `sctp.csum`, host order.
    pub sctp_csum: Option<u32>,
}

/// One decoded value, typed like the BASE key that carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Value {
    /// A BOOL key.
    Bool(bool),
    /// A UINT8 key.
    U8(u8),
    /// A UINT16 key.
    U16(u16),
    /// A UINT32 key.
    U32(u32),
    /// An IPADDR key.
    Addr(IpAddr),
    /// A 6-byte hardware address (RAW key).
    Mac([u8; 6]),
}

impl Value {
    /// The value as an integer, as JSON/GPRINT print it (bools as 0/1); `None` for
    /// addresses.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::Bool(b) => Some(u64::from(b)),
            Value::U8(v) => Some(v.into()),
            Value::U16(v) => Some(v.into()),
            Value::U32(v) => Some(v.into()),
            Value::Addr(_) | Value::Mac(_) => None,
        }
    }
}

impl Decoded {
    /// True when nothing was decoded from the packet (`oob.protocol`, a copy of the
    /// input, is not counted).
    pub fn is_empty(&self) -> bool {
        Decoded {
            oob_protocol: None,
            ..*self
        } == Decoded::default()
    }

    /// The value of the BASE key `key` (one of [`KEYS`]); `None` when unset or unknown.
    pub fn get(&self, key: &str) -> Option<Value> {
        use Value::*;
        let v4 = |a: Option<Ipv4Addr>| a.map(|a| Addr(IpAddr::V4(a)));
        match key {
            "ip.saddr" => self.ip_saddr.map(Addr),
            "ip.daddr" => self.ip_daddr.map(Addr),
            "ip.protocol" => self.ip_protocol.map(U8),
            "ip.tos" => self.ip_tos.map(U8),
            "ip.ttl" => self.ip_ttl.map(U8),
            "ip.totlen" => self.ip_totlen.map(U16),
            "ip.ihl" => self.ip_ihl.map(U8),
            "ip.csum" => self.ip_csum.map(U16),
            "ip.id" => self.ip_id.map(U16),
            "ip.fragoff" => self.ip_fragoff.map(U16),
            "ip6.payloadlen" => self.ip6_payloadlen.map(U16),
            "ip6.priority" => self.ip6_priority.map(U8),
            "ip6.flowlabel" => self.ip6_flowlabel.map(U32),
            "ip6.hoplimit" => self.ip6_hoplimit.map(U8),
            "ip6.nexthdr" => self.ip6_nexthdr.map(U8),
            "ip6.fragoff" => self.ip6_fragoff.map(U16),
            "ip6.fragid" => self.ip6_fragid.map(U32),
            "tcp.sport" => self.tcp_sport.map(U16),
            "tcp.dport" => self.tcp_dport.map(U16),
            "tcp.seq" => self.tcp_seq.map(U32),
            "tcp.ackseq" => self.tcp_ackseq.map(U32),
            "tcp.window" => self.tcp_window.map(U16),
            "tcp.offset" => self.tcp_offset.map(U8),
            "tcp.reserved" => self.tcp_reserved.map(U8),
            "tcp.urg" => self.tcp_urg.map(Bool),
            "tcp.urgp" => self.tcp_urgp.map(U16),
            "tcp.ack" => self.tcp_ack.map(Bool),
            "tcp.psh" => self.tcp_psh.map(Bool),
            "tcp.rst" => self.tcp_rst.map(Bool),
            "tcp.syn" => self.tcp_syn.map(Bool),
            "tcp.fin" => self.tcp_fin.map(Bool),
            "tcp.res1" => self.tcp_res1.map(Bool),
            "tcp.res2" => self.tcp_res2.map(Bool),
            "tcp.csum" => self.tcp_csum.map(U16),
            "udp.sport" => self.udp_sport.map(U16),
            "udp.dport" => self.udp_dport.map(U16),
            "udp.len" => self.udp_len.map(U16),
            "udp.csum" => self.udp_csum.map(U16),
            "icmp.type" => self.icmp_type.map(U8),
            "icmp.code" => self.icmp_code.map(U8),
            "icmp.echoid" => self.icmp_echoid.map(U16),
            "icmp.echoseq" => self.icmp_echoseq.map(U16),
            "icmp.gateway" => v4(self.icmp_gateway),
            "icmp.fragmtu" => self.icmp_fragmtu.map(U16),
            "icmp.csum" => self.icmp_csum.map(U16),
            "icmpv6.type" => self.icmpv6_type.map(U8),
            "icmpv6.code" => self.icmpv6_code.map(U8),
            "icmpv6.echoid" => self.icmpv6_echoid.map(U16),
            "icmpv6.echoseq" => self.icmpv6_echoseq.map(U16),
            "icmpv6.csum" => self.icmpv6_csum.map(U16),
            "ahesp.spi" => self.ahesp_spi.map(U32),
            "oob.protocol" => self.oob_protocol.map(U16),
            "arp.hwtype" => self.arp_hwtype.map(U16),
            "arp.protocoltype" => self.arp_protocoltype.map(U16),
            "arp.operation" => self.arp_operation.map(U16),
            "arp.shwaddr" => self.arp_shwaddr.map(Mac),
            "arp.saddr" => v4(self.arp_saddr),
            "arp.dhwaddr" => self.arp_dhwaddr.map(Mac),
            "arp.daddr" => v4(self.arp_daddr),
            "sctp.sport" => self.sctp_sport.map(U16),
            "sctp.dport" => self.sctp_dport.map(U16),
            "sctp.csum" => self.sctp_csum.map(U32),
            _ => None,
        }
    }

    /// The keys that are set, with their values, in [`KEYS`] order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, Value)> + '_ {
        KEYS.iter()
            .filter_map(move |&k| self.get(k).map(|v| (k, v)))
    }
}

/// Decodes `pkt`, the L3 packet of an nfgen `family` (2 IPv4, 10 IPv6, 7 bridge:
/// then `hw_protocol`, the ethertype, picks IPv4 / IPv6 / ARP), as ulogd2's BASE
/// does. `oob_protocol` is always `Some(hw_protocol)`.
pub fn decode(family: u8, hw_protocol: u16, pkt: &[u8]) -> Decoded {
    let mut d = Decoded {
        oob_protocol: Some(hw_protocol),
        ..Decoded::default()
    };
    match family {
        AF_INET => ipv4::decode(&mut d, pkt),
        AF_INET6 => ipv6::decode(&mut d, pkt),
        AF_BRIDGE => match hw_protocol {
            ETH_P_IP => ipv4::decode(&mut d, pkt),
            ETH_P_IPV6 => ipv6::decode(&mut d, pkt),
            ETH_P_ARP => arp::decode(&mut d, pkt),
            _ => {}
        },
        _ => {}
    }
    d
}

/// Big-endian u16 at `at`, if in bounds.
#[inline]
pub(crate) fn be16(b: &[u8], at: usize) -> Option<u16> {
    arr::<2>(b, at).map(u16::from_be_bytes)
}

/// Little-endian u16 at `at` (how 2.0.8 shows the un-swapped ICMP checksums on x86).
#[inline]
pub(crate) fn le16(b: &[u8], at: usize) -> Option<u16> {
    arr::<2>(b, at).map(u16::from_le_bytes)
}

/// Big-endian u32 at `at`, if in bounds.
#[inline]
pub(crate) fn be32(b: &[u8], at: usize) -> Option<u32> {
    arr::<4>(b, at).map(u32::from_be_bytes)
}

/// `N` bytes at `at`, if in bounds.
#[inline]
pub(crate) fn arr<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..at.checked_add(N)?)?.try_into().ok()
}

/// Byte at `at`, if in bounds.
#[inline]
pub(crate) fn u8_at(b: &[u8], at: usize) -> Option<u8> {
    b.get(at).copied()
}
