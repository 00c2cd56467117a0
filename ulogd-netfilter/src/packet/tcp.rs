//! TCP header (`_interp_tcp`).

use super::{be16, be32, u8_at, Decoded};

/// `sizeof(struct tcphdr)`.
const MIN_HDR: usize = 20;

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;
const URG: u8 = 0x20;
/// ECE and CWR: Linux's `tcphdr.res2` bitfield (little-endian layout).
const RES2: u8 = 0xc0;

/// Decodes a TCP header; needs the 20 fixed bytes (options are not required).
pub(super) fn decode(d: &mut Decoded, t: &[u8]) {
    if t.len() < MIN_HDR {
        return;
    }
    let (Some(off_res), Some(flags)) = (u8_at(t, 12), u8_at(t, 13)) else {
        return;
    };
    d.tcp_sport = be16(t, 0);
    d.tcp_dport = be16(t, 2);
    d.tcp_seq = be32(t, 4);
    d.tcp_ackseq = be32(t, 8);
    // Fixed: 2.0.8 stored ntohs() of these 4-bit fields, i.e. always 0.
    d.tcp_offset = Some(off_res >> 4);
    d.tcp_reserved = Some(off_res & 0x0f);
    d.tcp_window = be16(t, 14);
    d.tcp_urg = Some(flags & URG != 0);
    if flags & URG != 0 {
        d.tcp_urgp = be16(t, 18);
    }
    d.tcp_ack = Some(flags & ACK != 0);
    d.tcp_psh = Some(flags & PSH != 0);
    d.tcp_rst = Some(flags & RST != 0);
    d.tcp_syn = Some(flags & SYN != 0);
    d.tcp_fin = Some(flags & FIN != 0);
    // BOOL keys fed with Linux's tcphdr bitfields: res1 = low nibble of byte 12.
    d.tcp_res1 = Some(off_res & 0x0f != 0);
    d.tcp_res2 = Some(flags & RES2 != 0);
    d.tcp_csum = be16(t, 16);
}
