//! SCTP common header: the checked view [`SctpHeader`] and BASE's decoding
//! (`_interp_sctp`, IPv4 only as in 2.0.8).

use super::field::{be16, be32, view, Field};
use super::Decoded;

mod field {
    use super::Field;
    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const CHECKSUM: Field = 8..12;
}

view!(
    /// The 12-byte SCTP common header.
    SctpHeader,
    12,
    "SCTP"
);

impl<T: AsRef<[u8]>> SctpHeader<T> {
    /// Source port.
    pub fn src_port(&self) -> u16 {
        be16(self.b(), field::SRC_PORT)
    }
    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        be16(self.b(), field::DST_PORT)
    }
    /// CRC32c checksum.
    pub fn checksum(&self) -> u32 {
        be32(self.b(), field::CHECKSUM)
    }
}

/// Decodes the 12-byte SCTP common header into BASE's fields.
pub(super) fn decode(d: &mut Decoded, s: &[u8]) {
    let Ok(s) = SctpHeader::new_checked(s) else {
        return;
    };
    d.sctp_sport = Some(s.src_port());
    d.sctp_dport = Some(s.dst_port());
    d.sctp_csum = Some(s.checksum());
}
