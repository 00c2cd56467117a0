//! The packet decoder behind BASE: a pure function from the bytes NFLOG (or a
//! capture) delivered to the fields ulogd2's BASE plugin sets.
//!
//! Every header is read through checked slices: a truncated or hostile packet leaves
//! the fields of the headers it does not fully contain unset and never panics. Values
//! follow ulogd2 2.0.8 (host-order integers; `ip.fragoff` is the raw flags+offset
//! field; ICMP/ICMPv6 checksums as ulogd2 printed them on x86, i.e. the wire bytes read
//! little-endian), except for the deliberate fixes listed in [`FIXES`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[cfg(test)]
mod tests;

/// Deliberate differences from ulogd2 2.0.8's BASE, for the README.
pub const FIXES: &[&str] = &[
    "tcp.offset is the TCP data offset in 32-bit words (2.0.8: always 0, ntohs() on a 4-bit field)",
    "tcp.reserved is the 4 reserved TCP header bits (2.0.8: always 0)",
    "ahesp.spi is set for AH and ESP (2.0.8: never set, the code is under #if 0)",
    "icmp.gateway is the gateway address in network order (2.0.8: byte-swapped)",
    "arp.saddr / arp.daddr are the addresses themselves (2.0.8: a pointer)",
    "no transport header is decoded from a non-first IPv4 fragment (2.0.8 decoded payload bytes as a header)",
];

const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
const AF_BRIDGE: u8 = 7;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
const ETH_P_ARP: u16 = 0x0806;

const IPPROTO_HOPOPTS: u8 = 0;
const IPPROTO_ICMP: u8 = 1;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_ROUTING: u8 = 43;
const IPPROTO_FRAGMENT: u8 = 44;
const IPPROTO_ESP: u8 = 50;
const IPPROTO_AH: u8 = 51;
const IPPROTO_ICMPV6: u8 = 58;
const IPPROTO_NONE: u8 = 59;
const IPPROTO_DSTOPTS: u8 = 60;
const IPPROTO_SCTP: u8 = 132;

/// Every field BASE can set; `None` when the packet did not carry it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[allow(missing_docs)] // Each field is the BASE key of the same name (`_` for `.`).
pub struct Decoded {
    pub ip_saddr: Option<IpAddr>,
    pub ip_daddr: Option<IpAddr>,
    pub ip_protocol: Option<u8>,
    pub ip_tos: Option<u8>,
    pub ip_ttl: Option<u8>,
    pub ip_totlen: Option<u16>,
    pub ip_ihl: Option<u8>,
    pub ip_csum: Option<u16>,
    pub ip_id: Option<u16>,
    pub ip_fragoff: Option<u16>,
    pub ip6_payloadlen: Option<u16>,
    pub ip6_priority: Option<u8>,
    pub ip6_flowlabel: Option<u32>,
    pub ip6_hoplimit: Option<u8>,
    pub ip6_nexthdr: Option<u8>,
    pub ip6_fragoff: Option<u16>,
    pub ip6_fragid: Option<u32>,
    pub tcp_sport: Option<u16>,
    pub tcp_dport: Option<u16>,
    pub tcp_seq: Option<u32>,
    pub tcp_ackseq: Option<u32>,
    pub tcp_window: Option<u16>,
    pub tcp_offset: Option<u8>,
    pub tcp_reserved: Option<u8>,
    pub tcp_urg: Option<bool>,
    pub tcp_urgp: Option<u16>,
    pub tcp_ack: Option<bool>,
    pub tcp_psh: Option<bool>,
    pub tcp_rst: Option<bool>,
    pub tcp_syn: Option<bool>,
    pub tcp_fin: Option<bool>,
    pub tcp_res1: Option<bool>,
    pub tcp_res2: Option<bool>,
    pub tcp_csum: Option<u16>,
    pub udp_sport: Option<u16>,
    pub udp_dport: Option<u16>,
    pub udp_len: Option<u16>,
    pub udp_csum: Option<u16>,
    pub icmp_type: Option<u8>,
    pub icmp_code: Option<u8>,
    pub icmp_echoid: Option<u16>,
    pub icmp_echoseq: Option<u16>,
    pub icmp_gateway: Option<Ipv4Addr>,
    pub icmp_fragmtu: Option<u16>,
    pub icmp_csum: Option<u16>,
    pub icmpv6_type: Option<u8>,
    pub icmpv6_code: Option<u8>,
    pub icmpv6_echoid: Option<u16>,
    pub icmpv6_echoseq: Option<u16>,
    pub icmpv6_csum: Option<u16>,
    pub ahesp_spi: Option<u32>,
    pub arp_hwtype: Option<u16>,
    pub arp_protocoltype: Option<u16>,
    pub arp_operation: Option<u16>,
    pub arp_shwaddr: Option<[u8; 6]>,
    pub arp_saddr: Option<Ipv4Addr>,
    pub arp_dhwaddr: Option<[u8; 6]>,
    pub arp_daddr: Option<Ipv4Addr>,
    pub sctp_sport: Option<u16>,
    pub sctp_dport: Option<u16>,
    pub sctp_csum: Option<u32>,
}

impl Decoded {
    /// True when nothing was decoded.
    pub fn is_empty(&self) -> bool {
        *self == Decoded::default()
    }
}

#[inline]
fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
#[inline]
fn le16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
#[inline]
fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
#[inline]
fn arr<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..at + N)?.try_into().ok()
}

/// Decodes `pkt`, an L3 packet of nfgen family `family` (2 IPv4, 10 IPv6, 7 bridge:
/// then `hw_protocol`, the ethertype, says what it is).
pub fn decode(family: u8, hw_protocol: u16, pkt: &[u8]) -> Decoded {
    let mut d = Decoded::default();
    match family {
        AF_INET => ipv4(&mut d, pkt),
        AF_INET6 => ipv6(&mut d, pkt),
        AF_BRIDGE => match hw_protocol {
            ETH_P_IP => ipv4(&mut d, pkt),
            ETH_P_IPV6 => ipv6(&mut d, pkt),
            ETH_P_ARP => arp(&mut d, pkt),
            _ => {}
        },
        _ => {}
    }
    d
}

fn ipv4(d: &mut Decoded, p: &[u8]) {
    if p.len() < 20 {
        return;
    }
    let ihl = p[0] & 0x0f;
    let hlen = ihl as usize * 4;
    // As ulogd2: the header must fit and leave at least one byte.
    if p.len() <= hlen || hlen < 20 {
        return;
    }
    d.ip_saddr = arr::<4>(p, 12).map(|a| IpAddr::V4(a.into()));
    d.ip_daddr = arr::<4>(p, 16).map(|a| IpAddr::V4(a.into()));
    d.ip_protocol = Some(p[9]);
    d.ip_tos = Some(p[1]);
    d.ip_ttl = Some(p[8]);
    d.ip_totlen = be16(p, 2);
    d.ip_ihl = Some(ihl);
    d.ip_csum = be16(p, 10);
    d.ip_id = be16(p, 4);
    let frag = be16(p, 6).unwrap_or(0);
    d.ip_fragoff = Some(frag);
    if frag & 0x1fff != 0 {
        return;
    }
    transport(d, p[9], &p[hlen..]);
}

fn transport(d: &mut Decoded, proto: u8, l4: &[u8]) {
    match proto {
        IPPROTO_TCP => tcp(d, l4),
        IPPROTO_UDP => udp(d, l4),
        IPPROTO_ICMP => icmp(d, l4),
        IPPROTO_ICMPV6 => icmpv6(d, l4),
        IPPROTO_SCTP => sctp(d, l4),
        IPPROTO_ESP => d.ahesp_spi = be32(l4, 0),
        IPPROTO_AH => d.ahesp_spi = be32(l4, 4),
        _ => {}
    }
}

fn tcp(d: &mut Decoded, t: &[u8]) {
    if t.len() < 20 {
        return;
    }
    let flags = t[13];
    d.tcp_sport = be16(t, 0);
    d.tcp_dport = be16(t, 2);
    d.tcp_seq = be32(t, 4);
    d.tcp_ackseq = be32(t, 8);
    d.tcp_offset = Some(t[12] >> 4);
    d.tcp_reserved = Some(t[12] & 0x0f);
    d.tcp_window = be16(t, 14);
    d.tcp_fin = Some(flags & 0x01 != 0);
    d.tcp_syn = Some(flags & 0x02 != 0);
    d.tcp_rst = Some(flags & 0x04 != 0);
    d.tcp_psh = Some(flags & 0x08 != 0);
    d.tcp_ack = Some(flags & 0x10 != 0);
    d.tcp_urg = Some(flags & 0x20 != 0);
    // Linux's struct tcphdr: res1 = the 4 reserved bits, res2 = ECE and CWR.
    d.tcp_res1 = Some(t[12] & 0x0f != 0);
    d.tcp_res2 = Some(flags & 0xc0 != 0);
    d.tcp_csum = be16(t, 16);
    if flags & 0x20 != 0 {
        d.tcp_urgp = be16(t, 18);
    }
}

fn udp(d: &mut Decoded, u: &[u8]) {
    if u.len() < 8 {
        return;
    }
    d.udp_sport = be16(u, 0);
    d.udp_dport = be16(u, 2);
    d.udp_len = be16(u, 4);
    d.udp_csum = be16(u, 6);
}

fn sctp(d: &mut Decoded, s: &[u8]) {
    if s.len() < 12 {
        return;
    }
    d.sctp_sport = be16(s, 0);
    d.sctp_dport = be16(s, 2);
    d.sctp_csum = be32(s, 8);
}

fn icmp(d: &mut Decoded, i: &[u8]) {
    if i.len() < 8 {
        return;
    }
    let (ty, code) = (i[0], i[1]);
    d.icmp_type = Some(ty);
    d.icmp_code = Some(code);
    match ty {
        // Echo reply, echo request.
        0 | 8 => {
            d.icmp_echoid = be16(i, 4);
            d.icmp_echoseq = be16(i, 6);
        }
        // Redirect, parameter problem.
        5 | 12 => d.icmp_gateway = arr::<4>(i, 4).map(Ipv4Addr::from),
        // Destination unreachable, fragmentation needed.
        3 if code == 4 => d.icmp_fragmtu = be16(i, 6),
        _ => {}
    }
    d.icmp_csum = le16(i, 2);
}

fn icmpv6(d: &mut Decoded, i: &[u8]) {
    if i.len() < 8 {
        return;
    }
    d.icmpv6_type = Some(i[0]);
    d.icmpv6_code = Some(i[1]);
    if matches!(i[0], 128 | 129) {
        d.icmpv6_echoid = be16(i, 4);
        d.icmpv6_echoseq = be16(i, 6);
    }
    d.icmpv6_csum = le16(i, 2);
}

fn ipv6(d: &mut Decoded, p: &[u8]) {
    if p.len() < 40 {
        return;
    }
    let Some(flow) = be32(p, 0) else { return };
    d.ip_saddr = arr::<16>(p, 8).map(|a| IpAddr::V6(Ipv6Addr::from(a)));
    d.ip_daddr = arr::<16>(p, 24).map(|a| IpAddr::V6(Ipv6Addr::from(a)));
    d.ip6_payloadlen = be16(p, 4);
    d.ip6_priority = Some(((flow >> 20) & 0xff) as u8);
    d.ip6_flowlabel = Some(flow & 0x000f_ffff);
    d.ip6_hoplimit = Some(p[7]);
    let mut next = p[6];
    let mut rest = &p[40..];
    let mut fragment = false;
    // Walk extension headers; each length is checked before it is skipped.
    loop {
        let hdrlen = match next {
            IPPROTO_FRAGMENT => {
                if rest.len() < 8 {
                    return;
                }
                let off = be16(rest, 2).unwrap_or(0) & 0xfff8;
                d.ip6_fragoff = Some(off);
                d.ip6_fragid = be32(rest, 4);
                if off != 0 {
                    fragment = true;
                }
                8
            }
            IPPROTO_HOPOPTS | IPPROTO_ROUTING | IPPROTO_DSTOPTS => {
                let Some(&l) = rest.get(1) else { return };
                (l as usize + 1) * 8
            }
            IPPROTO_AH => {
                let Some(&l) = rest.get(1) else { return };
                d.ahesp_spi = be32(rest, 4);
                (l as usize + 2) * 4
            }
            _ => break,
        };
        if rest.len() < hdrlen {
            return;
        }
        next = rest[0];
        rest = &rest[hdrlen..];
        if fragment {
            break;
        }
    }
    d.ip6_nexthdr = Some(next);
    d.ip_protocol = Some(next);
    if fragment || next == IPPROTO_NONE {
        return;
    }
    transport(d, next, rest);
}

fn arp(d: &mut Decoded, a: &[u8]) {
    if a.len() < 8 {
        return;
    }
    d.arp_hwtype = be16(a, 0);
    d.arp_protocoltype = be16(a, 2);
    d.arp_operation = be16(a, 6);
    // Ethernet/IPv4 ARP only: 6-byte hardware and 4-byte protocol addresses.
    if a[4] == 6 && a[5] == 4 && a.len() >= 28 {
        d.arp_shwaddr = arr::<6>(a, 8);
        d.arp_saddr = arr::<4>(a, 14).map(Ipv4Addr::from);
        d.arp_dhwaddr = arr::<6>(a, 18);
        d.arp_daddr = arr::<4>(a, 24).map(Ipv4Addr::from);
    }
}
