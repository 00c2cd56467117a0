//! IPv4 header (`_interp_iphdr`).

use super::{ahesp, arr, be16, icmp, sctp, tcp, u8_at, udp, Decoded};
use super::{IPPROTO_AH, IPPROTO_ESP, IPPROTO_ICMP, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP};
use std::net::{IpAddr, Ipv4Addr};

/// Minimum IPv4 header (`sizeof(struct iphdr)`).
const MIN_HDR: usize = 20;

/// Decodes an IPv4 packet starting at `p[0]`.
///
/// As 2.0.8, nothing is set unless the packet holds a full 20-byte header *and* is
/// longer than `ihl * 4`; the transport header gets what is left (`p.len()`, not
/// `ip.totlen`, bounds it).
pub(super) fn decode(d: &mut Decoded, p: &[u8]) {
    let Some(vihl) = u8_at(p, 0) else { return };
    let ihl = vihl & 0x0f;
    let hlen = usize::from(ihl) * 4;
    if p.len() < MIN_HDR || p.len() <= hlen {
        return;
    }
    let (Some(saddr), Some(daddr)) = (arr::<4>(p, 12), arr::<4>(p, 16)) else {
        return;
    };
    let Some(proto) = u8_at(p, 9) else { return };
    let Some(fragoff) = be16(p, 6) else { return };
    d.ip_saddr = Some(IpAddr::V4(Ipv4Addr::from(saddr)));
    d.ip_daddr = Some(IpAddr::V4(Ipv4Addr::from(daddr)));
    d.ip_protocol = Some(proto);
    d.ip_tos = u8_at(p, 1);
    d.ip_ttl = u8_at(p, 8);
    d.ip_totlen = be16(p, 2);
    d.ip_ihl = Some(ihl);
    d.ip_csum = be16(p, 10);
    d.ip_id = be16(p, 4);
    d.ip_fragoff = Some(fragoff);

    // Fixes (see FIXES): no L4 from inside a too-short header, nor from the
    // payload of a non-first fragment.
    if hlen < MIN_HDR || fragoff & 0x1fff != 0 {
        return;
    }
    let Some(l4) = p.get(hlen..) else { return };
    match proto {
        IPPROTO_TCP => tcp::decode(d, l4),
        IPPROTO_UDP => udp::decode(d, l4),
        IPPROTO_ICMP => icmp::decode_v4(d, l4),
        IPPROTO_SCTP => sctp::decode(d, l4),
        IPPROTO_AH => ahesp::decode_ah(d, l4),
        IPPROTO_ESP => ahesp::decode_esp(d, l4),
        _ => {}
    }
}
