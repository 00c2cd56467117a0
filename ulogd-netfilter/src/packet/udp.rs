//! UDP: the checked view [`UdpPacket`], [`UdpRepr`] and BASE's decoding
//! (`_interp_udp`).

use super::field::{be16, put16, view, Field};
use super::Decoded;

mod field {
    use super::Field;
    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const LENGTH: Field = 4..6;
    pub const CHECKSUM: Field = 6..8;
}

/// UDP header length.
pub const HDR: usize = 8;

view!(
    /// A checked view of a UDP header.
    UdpPacket,
    HDR,
    "UDP"
);

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Source port.
    pub fn src_port(&self) -> u16 {
        be16(self.b(), field::SRC_PORT)
    }
    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        be16(self.b(), field::DST_PORT)
    }
    /// Length field (header + payload).
    pub fn len(&self) -> u16 {
        be16(self.b(), field::LENGTH)
    }
    /// Whether the length field is 0.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Checksum.
    pub fn checksum(&self) -> u16 {
        be16(self.b(), field::CHECKSUM)
    }
    /// What follows the header.
    pub fn payload(&self) -> &[u8] {
        &self.b()[HDR..]
    }
}

/// A UDP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UdpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Checksum as written.
    pub checksum: u16,
}

impl UdpRepr {
    /// Reads the header.
    pub fn parse<T: AsRef<[u8]>>(p: &UdpPacket<T>) -> Result<UdpRepr, super::PacketError> {
        p.check_len()?;
        Ok(UdpRepr {
            src_port: p.src_port(),
            dst_port: p.dst_port(),
            checksum: p.checksum(),
        })
    }
    /// Bytes `emit` writes.
    pub const fn buffer_len(&self) -> usize {
        HDR
    }
    /// Writes the header for `payload_len` bytes of payload into `b[..8]`.
    pub fn emit(&self, b: &mut [u8], payload_len: usize) {
        put16(b, field::SRC_PORT, self.src_port);
        put16(b, field::DST_PORT, self.dst_port);
        put16(b, field::LENGTH, (HDR + payload_len) as u16);
        put16(b, field::CHECKSUM, self.checksum);
    }
    /// The header followed by `payload`.
    pub fn to_bytes(&self, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![0; HDR + payload.len()];
        self.emit(&mut v, payload.len());
        v[HDR..].copy_from_slice(payload);
        v
    }
}

/// Decodes a UDP header into BASE's fields; needs its 8 bytes.
pub(super) fn decode(d: &mut Decoded, u: &[u8]) {
    let Ok(u) = UdpPacket::new_checked(u) else {
        return;
    };
    d.udp_sport = Some(u.src_port());
    d.udp_dport = Some(u.dst_port());
    d.udp_len = Some(u.len());
    d.udp_csum = Some(u.checksum());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emit_parse() {
        let r = UdpRepr {
            src_port: 5353,
            dst_port: 53,
            checksum: 0x1234,
        };
        let b = r.to_bytes(b"abc");
        let p = UdpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(UdpRepr::parse(&p).unwrap(), r);
        assert_eq!((p.len(), p.payload()), (11, &b"abc"[..]));
        assert!(UdpPacket::new_checked(&b[..7]).is_err());
    }
}
