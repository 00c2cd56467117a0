//! IPv6: the checked views [`Ipv6Packet`], [`Ipv6ExtHeader`] and
//! [`Ipv6FragHeader`], [`Ipv6Repr`], and BASE's header and extension-header walk
//! (`_interp_ipv6hdr`).

use std::net::{IpAddr, Ipv6Addr};

use super::field::{be16, be32, bytes, put16, put32, view, Field};
use super::{ahesp, icmp, tcp, udp, Decoded, PacketError};
use super::{
    IPPROTO_AH, IPPROTO_DSTOPTS, IPPROTO_ESP, IPPROTO_FRAGMENT, IPPROTO_HOPOPTS, IPPROTO_ICMPV6,
    IPPROTO_NONE, IPPROTO_ROUTING, IPPROTO_TCP, IPPROTO_UDP,
};

mod field {
    use super::Field;
    pub const VER_TC_FLOW: Field = 0..4;
    pub const PAYLOAD_LEN: Field = 4..6;
    pub const NXT_HDR: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: Field = 8..24;
    pub const DST: Field = 24..40;
    // Extension headers.
    pub const EXT_NEXT: usize = 0;
    pub const EXT_LEN: usize = 1;
    pub const FRAG_OFFLG: Field = 2..4;
    pub const FRAG_IDENT: Field = 4..8;
}

/// `sizeof(struct ip6_hdr)`.
pub const HDR: usize = 40;
/// `sizeof(struct ip6_frag)`.
const FRAG_HDR: usize = 8;
/// `IP6F_OFF_MASK` in host order: the 13-bit offset, kept in byte units.
const FRAG_OFF_MASK: u16 = 0xfff8;

view!(
    /// A checked view of the fixed IPv6 header and what follows it.
    Ipv6Packet,
    HDR,
    "IPv6"
);

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Version (4 bits), traffic class (8) and flow label (20) as one word.
    pub fn ver_tc_flow(&self) -> u32 {
        be32(self.b(), field::VER_TC_FLOW)
    }
    /// Version nibble.
    pub fn version(&self) -> u8 {
        (self.ver_tc_flow() >> 28) as u8
    }
    /// Traffic class.
    pub fn traffic_class(&self) -> u8 {
        ((self.ver_tc_flow() >> 20) & 0xff) as u8
    }
    /// Flow label.
    pub fn flow_label(&self) -> u32 {
        self.ver_tc_flow() & 0x000f_ffff
    }
    /// Payload length.
    pub fn payload_len(&self) -> u16 {
        be16(self.b(), field::PAYLOAD_LEN)
    }
    /// Next header.
    pub fn next_header(&self) -> u8 {
        self.b()[field::NXT_HDR]
    }
    /// Hop limit.
    pub fn hop_limit(&self) -> u8 {
        self.b()[field::HOP_LIMIT]
    }
    /// Source address.
    pub fn src_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(bytes::<16>(self.b(), field::SRC))
    }
    /// Destination address.
    pub fn dst_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(bytes::<16>(self.b(), field::DST))
    }
    /// What follows the fixed header, up to the end of the buffer.
    pub fn payload(&self) -> &[u8] {
        &self.b()[HDR..]
    }
}

view!(
    /// The two bytes every extension header starts with (next header, length).
    Ipv6ExtHeader,
    2,
    "IPv6 extension"
);

impl<T: AsRef<[u8]>> Ipv6ExtHeader<T> {
    /// Next header.
    pub fn next_header(&self) -> u8 {
        self.b()[field::EXT_NEXT]
    }
    /// The length byte (its unit depends on the header type).
    pub fn len_field(&self) -> u8 {
        self.b()[field::EXT_LEN]
    }
}

view!(
    /// The 8-byte fragment header.
    Ipv6FragHeader,
    FRAG_HDR,
    "IPv6 fragment"
);

impl<T: AsRef<[u8]>> Ipv6FragHeader<T> {
    /// Fragment offset in bytes (`offlg & 0xfff8`).
    pub fn frag_offset(&self) -> u16 {
        be16(self.b(), field::FRAG_OFFLG) & FRAG_OFF_MASK
    }
    /// Identification.
    pub fn ident(&self) -> u32 {
        be32(self.b(), field::FRAG_IDENT)
    }
}

/// The fields of the fixed IPv6 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Repr {
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// Next header.
    pub next_header: u8,
    /// Traffic class.
    pub traffic_class: u8,
    /// Flow label (20 bits).
    pub flow_label: u32,
    /// Hop limit.
    pub hop_limit: u8,
    /// Payload length.
    pub payload_len: usize,
}

impl Ipv6Repr {
    /// Parses the fixed header (version 6).
    pub fn parse<T: AsRef<[u8]>>(p: &Ipv6Packet<T>) -> Result<Ipv6Repr, PacketError> {
        p.check_len()?;
        if p.version() != 6 {
            return Err(PacketError::Malformed {
                header: "IPv6",
                what: "version is not 6",
            });
        }
        Ok(Ipv6Repr {
            src: p.src_addr(),
            dst: p.dst_addr(),
            next_header: p.next_header(),
            traffic_class: p.traffic_class(),
            flow_label: p.flow_label(),
            hop_limit: p.hop_limit(),
            payload_len: usize::from(p.payload_len()),
        })
    }
    /// Bytes `emit` writes.
    pub const fn buffer_len(&self) -> usize {
        HDR
    }
    /// Writes the fixed header into `b[..40]`.
    pub fn emit(&self, b: &mut [u8]) {
        let w = (6 << 28) | (u32::from(self.traffic_class) << 20) | (self.flow_label & 0xf_ffff);
        put32(b, field::VER_TC_FLOW, w);
        put16(b, field::PAYLOAD_LEN, self.payload_len as u16);
        b[field::NXT_HDR] = self.next_header;
        b[field::HOP_LIMIT] = self.hop_limit;
        b[field::SRC].copy_from_slice(&self.src.octets());
        b[field::DST].copy_from_slice(&self.dst.octets());
    }
    /// The header followed by `payload` (whose length replaces `payload_len`).
    pub fn to_bytes(mut self, payload: &[u8]) -> Vec<u8> {
        self.payload_len = payload.len();
        let mut v = vec![0; HDR + payload.len()];
        self.emit(&mut v);
        v[HDR..].copy_from_slice(payload);
        v
    }
}

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

/// Decodes an IPv6 packet starting at `p[0]` into BASE's fields.
///
/// Walks HOPOPTS/ROUTING/DSTOPTS/FRAGMENT/AH/ESP like 2.0.8: a truncated extension
/// header ends decoding with `ip6.nexthdr` unset; a fragment header with a non-zero
/// offset stops the walk at the next header (`ip6.nexthdr` = that header,
/// `ip.protocol` unset); ESP stops it (`ip6.nexthdr` = 50); otherwise `ip.protocol`
/// and `ip6.nexthdr` are the upper-layer header, and TCP/UDP/ICMPv6 are decoded.
pub(super) fn decode(d: &mut Decoded, p: &[u8]) {
    let Ok(ip) = Ipv6Packet::new_checked(p) else {
        return;
    };
    d.ip_saddr = Some(IpAddr::V6(ip.src_addr()));
    d.ip_daddr = Some(IpAddr::V6(ip.dst_addr()));
    d.ip6_payloadlen = Some(ip.payload_len());
    d.ip6_priority = Some(ip.traffic_class());
    d.ip6_flowlabel = Some(ip.flow_label());
    d.ip6_hoplimit = Some(ip.hop_limit());

    let mut rest = ip.payload();
    let mut cur = ip.next_header();
    let mut fragment = false;
    while cur != IPPROTO_NONE && is_ext(cur) {
        let Ok(ext) = Ipv6ExtHeader::new_checked(rest) else {
            return;
        };
        let hdrlen = match cur {
            IPPROTO_FRAGMENT => {
                let Ok(f) = Ipv6FragHeader::new_checked(rest) else {
                    return;
                };
                let off = f.frag_offset();
                d.ip6_fragoff = Some(off);
                d.ip6_fragid = Some(f.ident());
                if off != 0 {
                    fragment = true;
                }
                FRAG_HDR
            }
            _ if fragment => {
                d.ip6_nexthdr = Some(cur);
                return;
            }
            IPPROTO_HOPOPTS | IPPROTO_ROUTING | IPPROTO_DSTOPTS => {
                (usize::from(ext.len_field()) + 1) * 8
            }
            IPPROTO_AH => {
                let hdrlen = (usize::from(ext.len_field()) + 2) * 4;
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
        cur = ext.next_header();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emit_parse() {
        let r = Ipv6Repr {
            src: "2001:db8::1".parse().unwrap(),
            dst: "2001:db8::2".parse().unwrap(),
            next_header: 17,
            traffic_class: 0xb8,
            flow_label: 0xabcde,
            hop_limit: 64,
            payload_len: 0,
        };
        let b = r.to_bytes(&[0; 8]);
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(
            Ipv6Repr::parse(&p).unwrap(),
            Ipv6Repr {
                payload_len: 8,
                ..r
            }
        );
        assert!(Ipv6Packet::new_checked(&b[..39]).is_err());
        assert!(Ipv6FragHeader::new_checked(&b[..7]).is_err());
    }
}
