//! Packet codecs and the decoder behind BASE.
//!
//! Like `wire/` (smoltcp's style): each protocol module holds a checked zero-copy
//! view (`Ipv4Packet`, `TcpPacket`, `EthernetFrame`, ...: `new_checked`, then
//! accessors that never panic; byte ranges in a private `mod field`) and a `Repr`
//! with `parse` and `emit`. Every plugin that looks into packet bytes (BASE, PWSNIFF,
//! HWHDR, REPLAY) reads them through these views; tests build packets with `emit`.
//!
//! [`decode`] is BASE: a pure function from the L3 bytes NFLOG (or a capture)
//! delivered to the fields ulogd2's BASE plugin sets ([`Decoded`], declared once in
//! `fields.rs`). A truncated or hostile packet leaves the fields of the headers it
//! does not fully contain unset (`None`) and never panics. Values follow ulogd2 2.0.8 (`ulogd_raw2packet_BASE.c`): host-order
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

pub mod ahesp;
pub mod arp;
pub mod ethernet;
pub(crate) mod field;
pub(crate) mod fields;
pub mod icmp;
pub mod ipv4;
pub mod ipv6;
pub mod sctp;
pub mod tcp;
pub mod udp;

pub use ahesp::{AhHeader, EspHeader};
pub use arp::{ArpPacket, ArpRepr};
pub use ethernet::{EthernetFrame, EthernetRepr, VlanTag};
pub use field::{checksum, PacketError};
pub use icmp::{IcmpPacket, IcmpRepr, Icmpv6Packet};
pub use ipv4::{Ipv4Packet, Ipv4Repr};
pub use ipv6::{Ipv6ExtHeader, Ipv6FragHeader, Ipv6Packet, Ipv6Repr};
pub use sctp::SctpHeader;
pub use tcp::{TcpPacket, TcpRepr};
pub use udp::{UdpPacket, UdpRepr};

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

macro_rules! decoded_struct {
    ($( $(#[$m:meta])* $f:ident : $t:ty = $d:expr, )*) => {
        /// Every output key of BASE, in ulogd2 2.0.8's order (`iphdr_rets[]`).
        pub const KEYS: &[&str] = &[$( $d.name() ),*];

        /// Every field BASE can set; `None` when the packet did not carry it.
        ///
        /// Each field is the BASE key of the same name with `.` replaced by `_`; see
        /// [`Decoded::get`] for access by key name. Declared in `fields.rs`.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
        pub struct Decoded {
            $( $(#[$m])* pub $f: Option<$t>, )*
        }

        impl Decoded {
            /// The value of the BASE key `key` (one of [`KEYS`]); `None` when unset or
            /// unknown.
            pub fn get(&self, key: &str) -> Option<Value> {
                $( if key == $d.name() {
                    return self.$f.map(Value::from);
                } )*
                None
            }
        }
    };
}
fields::base_fields!(decoded_struct);

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

macro_rules! value_from {
    ($($t:ty => $v:ident,)*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Value {
                Value::$v(v.into())
            }
        }
    )*};
}
value_from! {
    bool => Bool,
    u8 => U8,
    u16 => U16,
    u32 => U32,
    IpAddr => Addr,
    Ipv4Addr => Addr,
    [u8; 6] => Mac,
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

/// The IP version nibble of an L3 packet (4 or 6 for IP), `None` when empty.
pub fn ip_version(pkt: &[u8]) -> Option<u8> {
    pkt.first().map(|b| b >> 4)
}
