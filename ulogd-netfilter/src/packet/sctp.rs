//! SCTP common header (`_interp_sctp`), IPv4 only as in 2.0.8.

use super::{be16, be32, Decoded};

/// Decodes the 12-byte SCTP common header.
pub(super) fn decode(d: &mut Decoded, s: &[u8]) {
    if s.len() < 12 {
        return;
    }
    d.sctp_sport = be16(s, 0);
    d.sctp_dport = be16(s, 2);
    d.sctp_csum = be32(s, 8);
}
