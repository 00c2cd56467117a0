//! IPsec AH / ESP: `ahesp.spi` (under `#if 0` in 2.0.8; see FIXES).

use super::{be32, Decoded};

/// ESP: SPI at offset 0; needs the 8-byte SPI + sequence number header.
pub(super) fn decode_esp(d: &mut Decoded, b: &[u8]) {
    if b.len() >= 8 {
        d.ahesp_spi = be32(b, 0);
    }
}

/// AH: SPI at offset 4; needs the 12-byte fixed header (next header, length,
/// reserved, SPI, sequence number).
pub(super) fn decode_ah(d: &mut Decoded, b: &[u8]) {
    if b.len() >= 12 {
        d.ahesp_spi = be32(b, 4);
    }
}
