//! UDP header (`_interp_udp`).

use super::{be16, Decoded};

/// Decodes a UDP header; needs its 8 bytes.
pub(super) fn decode(d: &mut Decoded, u: &[u8]) {
    if u.len() < 8 {
        return;
    }
    d.udp_sport = be16(u, 0);
    d.udp_dport = be16(u, 2);
    d.udp_len = be16(u, 4);
    d.udp_csum = be16(u, 6);
}
