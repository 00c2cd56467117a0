//! TCP: the checked view [`TcpPacket`], [`TcpRepr`] and BASE's decoding
//! (`_interp_tcp`).

use super::field::{be16, be32, put16, put32, view, Field};
use super::Decoded;

mod field {
    use super::Field;
    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const SEQ: Field = 4..8;
    pub const ACK: Field = 8..12;
    pub const OFF_RES: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: Field = 14..16;
    pub const CHECKSUM: Field = 16..18;
    pub const URGENT: Field = 18..20;
}

/// `sizeof(struct tcphdr)`.
pub const MIN_HDR: usize = 20;

/// FIN flag.
pub const FIN: u8 = 0x01;
/// SYN flag.
pub const SYN: u8 = 0x02;
/// RST flag.
pub const RST: u8 = 0x04;
/// PSH flag.
pub const PSH: u8 = 0x08;
/// ACK flag.
pub const ACK: u8 = 0x10;
/// URG flag.
pub const URG: u8 = 0x20;
/// ECE and CWR: Linux's `tcphdr.res2` bitfield (little-endian layout).
const RES2: u8 = 0xc0;

view!(
    /// A checked view of a TCP header (the 20 fixed bytes; options and payload are
    /// clamped to what the buffer holds).
    TcpPacket,
    MIN_HDR,
    "TCP"
);

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Source port.
    pub fn src_port(&self) -> u16 {
        be16(self.b(), field::SRC_PORT)
    }
    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        be16(self.b(), field::DST_PORT)
    }
    /// Sequence number.
    pub fn seq_number(&self) -> u32 {
        be32(self.b(), field::SEQ)
    }
    /// Acknowledgement number.
    pub fn ack_number(&self) -> u32 {
        be32(self.b(), field::ACK)
    }
    /// Data offset in 32-bit words.
    pub fn data_offset(&self) -> u8 {
        self.b()[field::OFF_RES] >> 4
    }
    /// The 4 reserved bits after the data offset.
    pub fn reserved(&self) -> u8 {
        self.b()[field::OFF_RES] & 0x0f
    }
    /// The flag byte (CWR ECE URG ACK PSH RST SYN FIN).
    pub fn flags(&self) -> u8 {
        self.b()[field::FLAGS]
    }
    /// Window.
    pub fn window(&self) -> u16 {
        be16(self.b(), field::WINDOW)
    }
    /// Checksum.
    pub fn checksum(&self) -> u16 {
        be16(self.b(), field::CHECKSUM)
    }
    /// Urgent pointer.
    pub fn urgent(&self) -> u16 {
        be16(self.b(), field::URGENT)
    }
    /// Header length in bytes (data offset, at least the fixed 20).
    pub fn header_len(&self) -> usize {
        (usize::from(self.data_offset()) * 4).max(MIN_HDR)
    }
    /// The payload after the data offset; empty when the offset points past the
    /// buffer.
    pub fn payload(&self) -> &[u8] {
        let b = self.b();
        &b[self.header_len().min(b.len())..]
    }
}

/// The fields of an option-less TCP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number.
    pub ack: u32,
    /// Flags byte.
    pub flags: u8,
    /// Window.
    pub window: u16,
    /// Checksum as written (the view does not know the pseudo-header).
    pub checksum: u16,
    /// Urgent pointer.
    pub urgent: u16,
}

impl TcpRepr {
    /// Reads the fixed header.
    pub fn parse<T: AsRef<[u8]>>(p: &TcpPacket<T>) -> Result<TcpRepr, super::PacketError> {
        p.check_len()?;
        Ok(TcpRepr {
            src_port: p.src_port(),
            dst_port: p.dst_port(),
            seq: p.seq_number(),
            ack: p.ack_number(),
            flags: p.flags(),
            window: p.window(),
            checksum: p.checksum(),
            urgent: p.urgent(),
        })
    }
    /// Bytes `emit` writes.
    pub const fn buffer_len(&self) -> usize {
        MIN_HDR
    }
    /// Writes the header (data offset 5) into the first 20 bytes of `b`.
    pub fn emit(&self, b: &mut [u8]) {
        put16(b, field::SRC_PORT, self.src_port);
        put16(b, field::DST_PORT, self.dst_port);
        put32(b, field::SEQ, self.seq);
        put32(b, field::ACK, self.ack);
        b[field::OFF_RES] = 5 << 4;
        b[field::FLAGS] = self.flags;
        put16(b, field::WINDOW, self.window);
        put16(b, field::CHECKSUM, self.checksum);
        put16(b, field::URGENT, self.urgent);
    }
    /// The header followed by `payload`.
    pub fn to_bytes(&self, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![0; MIN_HDR + payload.len()];
        self.emit(&mut v);
        v[MIN_HDR..].copy_from_slice(payload);
        v
    }
}

/// Decodes a TCP header into BASE's fields; needs the 20 fixed bytes (options are
/// not required).
pub(super) fn decode(d: &mut Decoded, t: &[u8]) {
    let Ok(t) = TcpPacket::new_checked(t) else {
        return;
    };
    let flags = t.flags();
    d.tcp_sport = Some(t.src_port());
    d.tcp_dport = Some(t.dst_port());
    d.tcp_seq = Some(t.seq_number());
    d.tcp_ackseq = Some(t.ack_number());
    // Fixed: 2.0.8 stored ntohs() of these 4-bit fields, i.e. always 0.
    d.tcp_offset = Some(t.data_offset());
    d.tcp_reserved = Some(t.reserved());
    d.tcp_window = Some(t.window());
    d.tcp_urg = Some(flags & URG != 0);
    if flags & URG != 0 {
        d.tcp_urgp = Some(t.urgent());
    }
    d.tcp_ack = Some(flags & ACK != 0);
    d.tcp_psh = Some(flags & PSH != 0);
    d.tcp_rst = Some(flags & RST != 0);
    d.tcp_syn = Some(flags & SYN != 0);
    d.tcp_fin = Some(flags & FIN != 0);
    // BOOL keys fed with Linux's tcphdr bitfields: res1 = low nibble of byte 12.
    d.tcp_res1 = Some(t.reserved() != 0);
    d.tcp_res2 = Some(flags & RES2 != 0);
    d.tcp_csum = Some(t.checksum());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emit_parse_and_offsets() {
        let r = TcpRepr {
            src_port: 40000,
            dst_port: 21,
            seq: 7,
            ack: 9,
            flags: SYN | ACK,
            window: 512,
            checksum: 0xbeef,
            urgent: 0,
        };
        let mut b = r.to_bytes(b"USER x\r\n");
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(TcpRepr::parse(&p).unwrap(), r);
        assert_eq!(p.payload(), b"USER x\r\n");
        // A data offset past the buffer: empty payload, no panic.
        b[12] = 15 << 4;
        assert!(TcpPacket::new_checked(&b[..]).unwrap().payload().is_empty());
        // Offsets below 5 count as the fixed header.
        b[12] = 0;
        assert_eq!(TcpPacket::new_checked(&b[..]).unwrap().header_len(), 20);
        assert!(TcpPacket::new_checked(&b[..19]).is_err());
    }
}
