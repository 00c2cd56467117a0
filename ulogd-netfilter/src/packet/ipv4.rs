//! IPv4: the checked view [`Ipv4Packet`], [`Ipv4Repr`] (parse/emit) and BASE's
//! decoding of it (`_interp_iphdr`).

use std::net::{IpAddr, Ipv4Addr};

use super::field::{be16, bytes, check, checksum, put16, view, Field};
use super::{ahesp, icmp, sctp, tcp, udp, Decoded, PacketError};
use super::{IPPROTO_AH, IPPROTO_ESP, IPPROTO_ICMP, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP};

mod field {
    use super::Field;
    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const LENGTH: Field = 2..4;
    pub const IDENT: Field = 4..6;
    pub const FLG_OFF: Field = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Field = 10..12;
    pub const SRC: Field = 12..16;
    pub const DST: Field = 16..20;
}

/// Minimum IPv4 header (`sizeof(struct iphdr)`).
pub const MIN_HDR: usize = 20;

view!(
    /// A checked view of an IPv4 header and what follows it.
    Ipv4Packet,
    MIN_HDR,
    "IPv4"
);

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// The version nibble.
    pub fn version(&self) -> u8 {
        self.b()[field::VER_IHL] >> 4
    }
    /// The header length field, in 32-bit words.
    pub fn ihl(&self) -> u8 {
        self.b()[field::VER_IHL] & 0x0f
    }
    /// The header length in bytes (`ihl * 4`; may be below 20 in a hostile packet).
    pub fn header_len(&self) -> usize {
        usize::from(self.ihl()) * 4
    }
    /// Type of service.
    pub fn tos(&self) -> u8 {
        self.b()[field::TOS]
    }
    /// Total length field.
    pub fn total_len(&self) -> u16 {
        be16(self.b(), field::LENGTH)
    }
    /// Identification.
    pub fn ident(&self) -> u16 {
        be16(self.b(), field::IDENT)
    }
    /// The raw flags + fragment offset field (DF = 0x4000, MF = 0x2000).
    pub fn flags_frag(&self) -> u16 {
        be16(self.b(), field::FLG_OFF)
    }
    /// Fragment offset in 8-byte units (non-zero: not the first fragment).
    pub fn frag_offset(&self) -> u16 {
        self.flags_frag() & 0x1fff
    }
    /// Time to live.
    pub fn ttl(&self) -> u8 {
        self.b()[field::TTL]
    }
    /// Protocol of the payload.
    pub fn protocol(&self) -> u8 {
        self.b()[field::PROTOCOL]
    }
    /// Header checksum as on the wire (big-endian).
    pub fn checksum(&self) -> u16 {
        be16(self.b(), field::CHECKSUM)
    }
    /// Source address.
    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(bytes::<4>(self.b(), field::SRC))
    }
    /// Destination address.
    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(bytes::<4>(self.b(), field::DST))
    }
    /// What follows the header, up to the end of the buffer (not bounded by
    /// `total_len`); empty when the header claims more than the buffer holds.
    pub fn payload(&self) -> &[u8] {
        let b = self.b();
        &b[self.header_len().min(b.len())..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    fn m(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }
}

/// The fields of an option-less IPv4 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Repr {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Payload protocol.
    pub protocol: u8,
    /// Type of service.
    pub tos: u8,
    /// Identification.
    pub ident: u16,
    /// Raw flags + fragment offset.
    pub flags_frag: u16,
    /// Time to live.
    pub ttl: u8,
    /// Bytes of payload (`total_len - 20`).
    pub payload_len: usize,
}

impl Ipv4Repr {
    /// Parses a well-formed header: version 4, `ihl` of at least 5 within the buffer,
    /// a total length covering the header.
    pub fn parse<T: AsRef<[u8]>>(p: &Ipv4Packet<T>) -> Result<Ipv4Repr, PacketError> {
        p.check_len()?;
        let bad = |what| PacketError::Malformed {
            header: "IPv4",
            what,
        };
        if p.version() != 4 {
            return Err(bad("version is not 4"));
        }
        if p.header_len() < MIN_HDR {
            return Err(bad("ihl below 5"));
        }
        check(p.b(), p.header_len(), "IPv4 with options")?;
        if usize::from(p.total_len()) < p.header_len() {
            return Err(bad("total length below the header length"));
        }
        Ok(Ipv4Repr {
            src: p.src_addr(),
            dst: p.dst_addr(),
            protocol: p.protocol(),
            tos: p.tos(),
            ident: p.ident(),
            flags_frag: p.flags_frag(),
            ttl: p.ttl(),
            payload_len: usize::from(p.total_len()) - p.header_len(),
        })
    }

    /// Bytes `emit` writes (the header only).
    pub const fn buffer_len(&self) -> usize {
        MIN_HDR
    }

    /// Writes the header (with its checksum) into the first 20 bytes of `p`.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Ipv4Packet<T>) {
        let b = p.m();
        b[field::VER_IHL] = 0x45;
        b[field::TOS] = self.tos;
        put16(b, field::LENGTH, (MIN_HDR + self.payload_len) as u16);
        put16(b, field::IDENT, self.ident);
        put16(b, field::FLG_OFF, self.flags_frag);
        b[field::TTL] = self.ttl;
        b[field::PROTOCOL] = self.protocol;
        put16(b, field::CHECKSUM, 0);
        b[field::SRC].copy_from_slice(&self.src.octets());
        b[field::DST].copy_from_slice(&self.dst.octets());
        let c = checksum(&b[..MIN_HDR]);
        put16(b, field::CHECKSUM, c);
    }

    /// The header followed by `payload` (whose length replaces `payload_len`).
    pub fn to_bytes(mut self, payload: &[u8]) -> Vec<u8> {
        self.payload_len = payload.len();
        let mut v = vec![0; MIN_HDR + payload.len()];
        self.emit(&mut Ipv4Packet::new_unchecked(&mut v[..]));
        v[MIN_HDR..].copy_from_slice(payload);
        v
    }
}

/// Decodes an IPv4 packet starting at `p[0]` into BASE's fields.
///
/// As 2.0.8, nothing is set unless the packet holds a full 20-byte header *and* is
/// longer than `ihl * 4`; the transport header gets what is left (`p.len()`, not
/// `ip.totlen`, bounds it).
pub(super) fn decode(d: &mut Decoded, p: &[u8]) {
    let Ok(ip) = Ipv4Packet::new_checked(p) else {
        return;
    };
    let hlen = ip.header_len();
    if p.len() <= hlen {
        return;
    }
    d.ip_saddr = Some(IpAddr::V4(ip.src_addr()));
    d.ip_daddr = Some(IpAddr::V4(ip.dst_addr()));
    d.ip_protocol = Some(ip.protocol());
    d.ip_tos = Some(ip.tos());
    d.ip_ttl = Some(ip.ttl());
    d.ip_totlen = Some(ip.total_len());
    d.ip_ihl = Some(ip.ihl());
    d.ip_csum = Some(ip.checksum());
    d.ip_id = Some(ip.ident());
    d.ip_fragoff = Some(ip.flags_frag());

    // Fixes (see FIXES): no L4 from inside a too-short header, nor from the
    // payload of a non-first fragment.
    if hlen < MIN_HDR || ip.frag_offset() != 0 {
        return;
    }
    let l4 = ip.payload();
    match ip.protocol() {
        IPPROTO_TCP => tcp::decode(d, l4),
        IPPROTO_UDP => udp::decode(d, l4),
        IPPROTO_ICMP => icmp::decode_v4(d, l4),
        IPPROTO_SCTP => sctp::decode(d, l4),
        IPPROTO_AH => ahesp::decode_ah(d, l4),
        IPPROTO_ESP => ahesp::decode_esp(d, l4),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emit_parse_round_trip() {
        let r = Ipv4Repr {
            src: Ipv4Addr::new(192, 0, 2, 1),
            dst: Ipv4Addr::new(198, 51, 100, 7),
            protocol: 17,
            tos: 0x10,
            ident: 0x1234,
            flags_frag: 0x4000,
            ttl: 64,
            payload_len: 0,
        };
        let bytes = r.to_bytes(&[1, 2, 3]);
        let p = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(checksum(&bytes[..20]), 0, "emitted checksum verifies");
        assert_eq!(
            Ipv4Repr::parse(&p).unwrap(),
            Ipv4Repr {
                payload_len: 3,
                ..r
            }
        );
        assert_eq!(p.payload(), &[1, 2, 3]);
    }

    #[test]
    fn impossible_lengths() {
        assert!(matches!(
            Ipv4Packet::new_checked(&[0x45u8; 19][..]),
            Err(PacketError::Truncated {
                need: 20,
                have: 19,
                ..
            })
        ));
        let mut b = [0u8; 24];
        b[0] = 0x4f; // ihl 15: 60 bytes claimed
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert!(p.payload().is_empty());
        assert!(Ipv4Repr::parse(&p).is_err());
        b[0] = 0x44;
        assert!(Ipv4Repr::parse(&Ipv4Packet::new_unchecked(&b[..])).is_err());
    }
}
