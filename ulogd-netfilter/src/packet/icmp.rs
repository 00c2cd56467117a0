//! ICMP and ICMPv6: the checked view [`IcmpPacket`] (both share the 8-byte layout
//! type, code, checksum, four bytes of "rest of header"), [`IcmpRepr`], and BASE's
//! decoding (`_interp_icmp`, `_interp_icmpv6`).

use std::net::Ipv4Addr;

use super::field::{be16, bytes, put16, view, Field};
use super::Decoded;

mod field {
    use super::Field;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;
    pub const REST: Field = 4..8;
    pub const ECHO_IDENT: Field = 4..6;
    pub const ECHO_SEQ: Field = 6..8;
    pub const NEXT_HOP_MTU: Field = 6..8;
}

/// `sizeof(struct icmphdr)` and `sizeof(struct icmp6_hdr)`.
pub const MIN_HDR: usize = 8;

const ICMP_ECHOREPLY: u8 = 0;
const ICMP_DEST_UNREACH: u8 = 3;
const ICMP_REDIRECT: u8 = 5;
const ICMP_ECHO: u8 = 8;
const ICMP_PARAMETERPROB: u8 = 12;
const ICMP_FRAG_NEEDED: u8 = 4;

const ICMP6_ECHO_REQUEST: u8 = 128;
const ICMP6_ECHO_REPLY: u8 = 129;

view!(
    /// A checked view of an ICMP or ICMPv6 header.
    IcmpPacket,
    MIN_HDR,
    "ICMP"
);

/// ICMPv6 has the same fixed layout.
pub type Icmpv6Packet<T> = IcmpPacket<T>;

impl<T: AsRef<[u8]>> IcmpPacket<T> {
    /// Message type.
    pub fn msg_type(&self) -> u8 {
        self.b()[field::TYPE]
    }
    /// Message code.
    pub fn msg_code(&self) -> u8 {
        self.b()[field::CODE]
    }
    /// Checksum, big-endian.
    pub fn checksum(&self) -> u16 {
        be16(self.b(), field::CHECKSUM)
    }
    /// Checksum bytes read little-endian: how ulogd2 2.0.8 shows the un-swapped ICMP
    /// checksums on x86.
    pub fn checksum_le(&self) -> u16 {
        u16::from_le_bytes(bytes::<2>(self.b(), field::CHECKSUM))
    }
    /// Echo identifier (echo request/reply).
    pub fn echo_ident(&self) -> u16 {
        be16(self.b(), field::ECHO_IDENT)
    }
    /// Echo sequence number (echo request/reply).
    pub fn echo_seq(&self) -> u16 {
        be16(self.b(), field::ECHO_SEQ)
    }
    /// The four "rest of header" bytes as an address (redirect gateway; for a
    /// parameter problem the first octet is the pointer).
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(bytes::<4>(self.b(), field::REST))
    }
    /// Next-hop MTU of unreachable/fragmentation-needed.
    pub fn next_hop_mtu(&self) -> u16 {
        be16(self.b(), field::NEXT_HOP_MTU)
    }
    /// What follows the header.
    pub fn payload(&self) -> &[u8] {
        &self.b()[MIN_HDR..]
    }
}

/// An ICMP or ICMPv6 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IcmpRepr {
    /// Message type.
    pub msg_type: u8,
    /// Message code.
    pub msg_code: u8,
    /// Checksum as written.
    pub checksum: u16,
    /// The four "rest of header" bytes.
    pub rest: [u8; 4],
}

impl IcmpRepr {
    /// An echo request/reply header.
    pub fn echo(msg_type: u8, ident: u16, seq: u16) -> IcmpRepr {
        let [a, b] = ident.to_be_bytes();
        let [c, d] = seq.to_be_bytes();
        IcmpRepr {
            msg_type,
            rest: [a, b, c, d],
            ..IcmpRepr::default()
        }
    }
    /// Reads the header.
    pub fn parse<T: AsRef<[u8]>>(p: &IcmpPacket<T>) -> Result<IcmpRepr, super::PacketError> {
        p.check_len()?;
        Ok(IcmpRepr {
            msg_type: p.msg_type(),
            msg_code: p.msg_code(),
            checksum: p.checksum(),
            rest: bytes::<4>(p.b(), field::REST),
        })
    }
    /// Bytes `emit` writes.
    pub const fn buffer_len(&self) -> usize {
        MIN_HDR
    }
    /// Writes the header into `b[..8]`.
    pub fn emit(&self, b: &mut [u8]) {
        b[field::TYPE] = self.msg_type;
        b[field::CODE] = self.msg_code;
        put16(b, field::CHECKSUM, self.checksum);
        b[field::REST].copy_from_slice(&self.rest);
    }
    /// The header followed by `payload`.
    pub fn to_bytes(&self, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![0; MIN_HDR + payload.len()];
        self.emit(&mut v);
        v[MIN_HDR..].copy_from_slice(payload);
        v
    }
}

/// Decodes an ICMP (v4) header into BASE's fields.
pub(super) fn decode_v4(d: &mut Decoded, i: &[u8]) {
    let Ok(i) = IcmpPacket::new_checked(i) else {
        return;
    };
    let (ty, code) = (i.msg_type(), i.msg_code());
    d.icmp_type = Some(ty);
    d.icmp_code = Some(code);
    match ty {
        ICMP_ECHO | ICMP_ECHOREPLY => {
            d.icmp_echoid = Some(i.echo_ident());
            d.icmp_echoseq = Some(i.echo_seq());
        }
        // Fixed: the address as on the wire (2.0.8 stored it ntohl()'d).
        ICMP_REDIRECT | ICMP_PARAMETERPROB => d.icmp_gateway = Some(i.gateway()),
        ICMP_DEST_UNREACH if code == ICMP_FRAG_NEEDED => d.icmp_fragmtu = Some(i.next_hop_mtu()),
        _ => {}
    }
    // Not byte-swapped in 2.0.8: the wire bytes as a little-endian (x86) integer.
    d.icmp_csum = Some(i.checksum_le());
}

/// Decodes an ICMPv6 header into BASE's fields.
pub(super) fn decode_v6(d: &mut Decoded, i: &[u8]) {
    let Ok(i) = Icmpv6Packet::new_checked(i) else {
        return;
    };
    let ty = i.msg_type();
    d.icmpv6_type = Some(ty);
    d.icmpv6_code = Some(i.msg_code());
    if matches!(ty, ICMP6_ECHO_REQUEST | ICMP6_ECHO_REPLY) {
        d.icmpv6_echoid = Some(i.echo_ident());
        d.icmpv6_echoseq = Some(i.echo_seq());
    }
    // Not byte-swapped in 2.0.8, as for ICMP.
    d.icmpv6_csum = Some(i.checksum_le());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emit_parse() {
        let r = IcmpRepr::echo(8, 0x1234, 7);
        let b = r.to_bytes(b"ping");
        let p = IcmpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(IcmpRepr::parse(&p).unwrap(), r);
        assert_eq!((p.echo_ident(), p.echo_seq()), (0x1234, 7));
        assert!(IcmpPacket::new_checked(&b[..7]).is_err());
    }
}
