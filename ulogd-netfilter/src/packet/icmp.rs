//! ICMP (`_interp_icmp`) and ICMPv6 (`_interp_icmpv6`).

use super::{arr, be16, le16, u8_at, Decoded};
use std::net::Ipv4Addr;

/// `sizeof(struct icmphdr)` and `sizeof(struct icmp6_hdr)`.
const MIN_HDR: usize = 8;

const ICMP_ECHOREPLY: u8 = 0;
const ICMP_DEST_UNREACH: u8 = 3;
const ICMP_REDIRECT: u8 = 5;
const ICMP_ECHO: u8 = 8;
const ICMP_PARAMETERPROB: u8 = 12;
const ICMP_FRAG_NEEDED: u8 = 4;

const ICMP6_ECHO_REQUEST: u8 = 128;
const ICMP6_ECHO_REPLY: u8 = 129;

/// Decodes an ICMP (v4) header.
pub(super) fn decode_v4(d: &mut Decoded, i: &[u8]) {
    if i.len() < MIN_HDR {
        return;
    }
    let (Some(ty), Some(code)) = (u8_at(i, 0), u8_at(i, 1)) else {
        return;
    };
    d.icmp_type = Some(ty);
    d.icmp_code = Some(code);
    match ty {
        ICMP_ECHO | ICMP_ECHOREPLY => {
            d.icmp_echoid = be16(i, 4);
            d.icmp_echoseq = be16(i, 6);
        }
        // Fixed: the address as on the wire (2.0.8 stored it ntohl()'d).
        ICMP_REDIRECT | ICMP_PARAMETERPROB => d.icmp_gateway = arr::<4>(i, 4).map(Ipv4Addr::from),
        ICMP_DEST_UNREACH if code == ICMP_FRAG_NEEDED => d.icmp_fragmtu = be16(i, 6),
        _ => {}
    }
    // Not byte-swapped in 2.0.8: the wire bytes as a little-endian (x86) integer.
    d.icmp_csum = le16(i, 2);
}

/// Decodes an ICMPv6 header.
pub(super) fn decode_v6(d: &mut Decoded, i: &[u8]) {
    if i.len() < MIN_HDR {
        return;
    }
    let Some(ty) = u8_at(i, 0) else { return };
    d.icmpv6_type = Some(ty);
    d.icmpv6_code = u8_at(i, 1);
    if matches!(ty, ICMP6_ECHO_REQUEST | ICMP6_ECHO_REPLY) {
        d.icmpv6_echoid = be16(i, 4);
        d.icmpv6_echoseq = be16(i, 6);
    }
    // Not byte-swapped in 2.0.8, as for ICMP.
    d.icmpv6_csum = le16(i, 2);
}
