//! IPv6 header and extension-header walk (`_interp_ipv6hdr`).

use super::{ahesp, arr, be16, be32, icmp, tcp, u8_at, udp, Decoded};
use super::{
    IPPROTO_AH, IPPROTO_DSTOPTS, IPPROTO_ESP, IPPROTO_FRAGMENT, IPPROTO_HOPOPTS, IPPROTO_ICMPV6,
    IPPROTO_NONE, IPPROTO_ROUTING, IPPROTO_TCP, IPPROTO_UDP,
};
use std::net::{IpAddr, Ipv6Addr};

/// `sizeof(struct ip6_hdr)`.
const HDR: usize = 40;
/// `sizeof(struct ip6_frag)`.
const FRAG_HDR: usize = 8;
/// `IP6F_OFF_MASK` in host order: the 13-bit offset, kept in byte units.
const FRAG_OFF_MASK: u16 = 0xfff8;

fn is_ext(h: u8) -> bool {
    matches!(
        h,
        IPPROTO_HOPOPTS
            | IPPROTO_ROUTING
            | IPPROTO_FRAGMENT
            | IPPROTO_ESP
            | IPPROTO_AH
            | IPPROTO_DSTOPTS
    )
}

/// Decodes an IPv6 packet starting at `p[0]`.
///
/// Walks HOPOPTS/ROUTING/DSTOPTS/FRAGMENT/AH/ESP like 2.0.8: a truncated extension
/// header ends decoding with `ip6.nexthdr` unset; a fragment header with a non-zero
/// offset stops the walk at the next header (`ip6.nexthdr` = that header,
/// `ip.protocol` unset); ESP stops it (`ip6.nexthdr` = 50); otherwise `ip.protocol`
/// and `ip6.nexthdr` are the upper-layer header, and TCP/UDP/ICMPv6 are decoded.
pub(super) fn decode(d: &mut Decoded, p: &[u8]) {
    if p.len() < HDR {
        return;
    }
    let (Some(flow), Some(saddr), Some(daddr), Some(next)) =
        (be32(p, 0), arr::<16>(p, 8), arr::<16>(p, 24), u8_at(p, 6))
    else {
        return;
    };
    d.ip_saddr = Some(IpAddr::V6(Ipv6Addr::from(saddr)));
    d.ip_daddr = Some(IpAddr::V6(Ipv6Addr::from(daddr)));
    d.ip6_payloadlen = be16(p, 4);
    d.ip6_priority = Some(((flow >> 20) & 0xff) as u8);
    d.ip6_flowlabel = Some(flow & 0x000f_ffff);
    d.ip6_hoplimit = u8_at(p, 7);

    let Some(mut rest) = p.get(HDR..) else { return };
    let mut cur = next;
    let mut fragment = false;
    while cur != IPPROTO_NONE && is_ext(cur) {
        // Every extension header starts with next-header and length bytes.
        let (Some(ext_next), Some(ext_len)) = (u8_at(rest, 0), u8_at(rest, 1)) else {
            return;
        };
        let hdrlen = match cur {
            IPPROTO_FRAGMENT => {
                let (Some(offlg), Some(id)) = (be16(rest, 2), be32(rest, 4)) else {
                    return;
                };
                let off = offlg & FRAG_OFF_MASK;
                d.ip6_fragoff = Some(off);
                d.ip6_fragid = Some(id);
                if off != 0 {
                    fragment = true;
                }
                FRAG_HDR
            }
            _ if fragment => {
                d.ip6_nexthdr = Some(cur);
                return;
            }
            IPPROTO_HOPOPTS | IPPROTO_ROUTING | IPPROTO_DSTOPTS => (usize::from(ext_len) + 1) * 8,
            IPPROTO_AH => {
                let hdrlen = (usize::from(ext_len) + 2) * 4;
                if rest.len() >= hdrlen {
                    ahesp::decode_ah(d, rest);
                }
                hdrlen
            }
            // ESP: the rest is encrypted.
            _ => {
                ahesp::decode_esp(d, rest);
                d.ip6_nexthdr = Some(cur);
                return;
            }
        };
        // Truncated: 2.0.8 returns without setting anything more.
        let Some(after) = rest.get(hdrlen..) else {
            return;
        };
        rest = after;
        cur = ext_next;
    }
    d.ip6_nexthdr = Some(cur);
    if fragment {
        return;
    }
    d.ip_protocol = Some(cur);
    match cur {
        IPPROTO_TCP => tcp::decode(d, rest),
        IPPROTO_UDP => udp::decode(d, rest),
        IPPROTO_ICMPV6 => icmp::decode_v6(d, rest),
        _ => {}
    }
}
