//! IPsec AH / ESP: checked views of their fixed headers and `ahesp.spi` (under
//! `#if 0` in 2.0.8; see FIXES).

use super::field::{be32, view, Field};
use super::Decoded;

mod field {
    use super::Field;
    pub const AH_NEXT: usize = 0;
    pub const AH_LEN: usize = 1;
    pub const AH_SPI: Field = 4..8;
    pub const ESP_SPI: Field = 0..4;
}

view!(
    /// The 12-byte fixed AH header (next header, length, reserved, SPI, sequence).
    AhHeader,
    12,
    "AH"
);

impl<T: AsRef<[u8]>> AhHeader<T> {
    /// Next header.
    pub fn next_header(&self) -> u8 {
        self.b()[field::AH_NEXT]
    }
    /// Header length in bytes (`(len + 2) * 4`).
    pub fn header_len(&self) -> usize {
        (usize::from(self.b()[field::AH_LEN]) + 2) * 4
    }
    /// Security parameters index.
    pub fn spi(&self) -> u32 {
        be32(self.b(), field::AH_SPI)
    }
}

view!(
    /// The 8-byte ESP header (SPI, sequence number); the rest is encrypted.
    EspHeader,
    8,
    "ESP"
);

impl<T: AsRef<[u8]>> EspHeader<T> {
    /// Security parameters index.
    pub fn spi(&self) -> u32 {
        be32(self.b(), field::ESP_SPI)
    }
}

/// ESP: SPI at offset 0; needs the 8-byte SPI + sequence number header.
pub(super) fn decode_esp(d: &mut Decoded, b: &[u8]) {
    if let Ok(e) = EspHeader::new_checked(b) {
        d.ahesp_spi = Some(e.spi());
    }
}

/// AH: SPI at offset 4; needs the 12-byte fixed header.
pub(super) fn decode_ah(d: &mut Decoded, b: &[u8]) {
    if let Ok(a) = AhHeader::new_checked(b) {
        d.ahesp_spi = Some(a.spi());
    }
}
