//! ARP: the checked view [`ArpPacket`] of an Ethernet/IPv4 `struct ether_arp`,
//! [`ArpRepr`], and BASE's decoding over the bridge family (`_interp_arp`).

use std::net::Ipv4Addr;

use super::field::{be16, bytes, put16, view, Field};
use super::Decoded;

mod field {
    use super::Field;
    pub const HTYPE: Field = 0..2;
    pub const PTYPE: Field = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Field = 6..8;
    pub const SHA: Field = 8..14;
    pub const SPA: Field = 14..18;
    pub const THA: Field = 18..24;
    pub const TPA: Field = 24..28;
}

/// `sizeof(struct ether_arp)`: Ethernet/IPv4 ARP.
pub const ETHER_ARP_LEN: usize = 28;

view!(
    /// A checked view of an Ethernet/IPv4 ARP packet (all 28 bytes, whatever the
    /// address lengths say, as 2.0.8 reads it).
    ArpPacket,
    ETHER_ARP_LEN,
    "ARP"
);

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// Hardware type.
    pub fn hardware_type(&self) -> u16 {
        be16(self.b(), field::HTYPE)
    }
    /// Protocol type.
    pub fn protocol_type(&self) -> u16 {
        be16(self.b(), field::PTYPE)
    }
    /// Hardware address length field.
    pub fn hardware_len(&self) -> u8 {
        self.b()[field::HLEN]
    }
    /// Protocol address length field.
    pub fn protocol_len(&self) -> u8 {
        self.b()[field::PLEN]
    }
    /// Operation.
    pub fn operation(&self) -> u16 {
        be16(self.b(), field::OPER)
    }
    /// Sender hardware address.
    pub fn sender_hw(&self) -> [u8; 6] {
        bytes(self.b(), field::SHA)
    }
    /// Sender protocol address.
    pub fn sender_ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(bytes::<4>(self.b(), field::SPA))
    }
    /// Target hardware address.
    pub fn target_hw(&self) -> [u8; 6] {
        bytes(self.b(), field::THA)
    }
    /// Target protocol address.
    pub fn target_ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(bytes::<4>(self.b(), field::TPA))
    }
}

/// An Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpRepr {
    /// Operation (1 request, 2 reply).
    pub operation: u16,
    /// Sender hardware address.
    pub sender_hw: [u8; 6],
    /// Sender IPv4 address.
    pub sender_ip: Ipv4Addr,
    /// Target hardware address.
    pub target_hw: [u8; 6],
    /// Target IPv4 address.
    pub target_ip: Ipv4Addr,
}

impl ArpRepr {
    /// Reads an Ethernet (1) / IPv4 (0x0800) packet with 6/4-byte addresses.
    pub fn parse<T: AsRef<[u8]>>(p: &ArpPacket<T>) -> Result<ArpRepr, super::PacketError> {
        p.check_len()?;
        if (
            p.hardware_type(),
            p.protocol_type(),
            p.hardware_len(),
            p.protocol_len(),
        ) != (1, 0x0800, 6, 4)
        {
            return Err(super::PacketError::Malformed {
                header: "ARP",
                what: "not Ethernet/IPv4",
            });
        }
        Ok(ArpRepr {
            operation: p.operation(),
            sender_hw: p.sender_hw(),
            sender_ip: p.sender_ip(),
            target_hw: p.target_hw(),
            target_ip: p.target_ip(),
        })
    }
    /// Bytes `emit` writes.
    pub const fn buffer_len(&self) -> usize {
        ETHER_ARP_LEN
    }
    /// Writes the packet into `b[..28]`.
    pub fn emit(&self, b: &mut [u8]) {
        put16(b, field::HTYPE, 1);
        put16(b, field::PTYPE, 0x0800);
        b[field::HLEN] = 6;
        b[field::PLEN] = 4;
        put16(b, field::OPER, self.operation);
        b[field::SHA].copy_from_slice(&self.sender_hw);
        b[field::SPA].copy_from_slice(&self.sender_ip.octets());
        b[field::THA].copy_from_slice(&self.target_hw);
        b[field::TPA].copy_from_slice(&self.target_ip.octets());
    }
    /// The packet as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = vec![0; ETHER_ARP_LEN];
        self.emit(&mut v);
        v
    }
}

/// Decodes an Ethernet/IPv4 ARP packet into BASE's fields; like 2.0.8, needs all 28
/// bytes and does not look at the hardware/protocol address lengths.
pub(super) fn decode(d: &mut Decoded, a: &[u8]) {
    let Ok(a) = ArpPacket::new_checked(a) else {
        return;
    };
    d.arp_hwtype = Some(a.hardware_type());
    d.arp_protocoltype = Some(a.protocol_type());
    d.arp_operation = Some(a.operation());
    d.arp_shwaddr = Some(a.sender_hw());
    // Fixed: the addresses themselves (2.0.8 stored pointers).
    d.arp_saddr = Some(a.sender_ip());
    d.arp_dhwaddr = Some(a.target_hw());
    d.arp_daddr = Some(a.target_ip());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emit_parse() {
        let r = ArpRepr {
            operation: 1,
            sender_hw: [2, 0, 0, 0, 0, 1],
            sender_ip: Ipv4Addr::new(192, 0, 2, 1),
            target_hw: [0; 6],
            target_ip: Ipv4Addr::new(192, 0, 2, 2),
        };
        let b = r.to_bytes();
        assert_eq!(
            ArpRepr::parse(&ArpPacket::new_checked(&b[..]).unwrap()).unwrap(),
            r
        );
        assert!(ArpPacket::new_checked(&b[..27]).is_err());
        let mut bad = b.clone();
        bad[4] = 8;
        assert!(ArpRepr::parse(&ArpPacket::new_unchecked(&bad[..])).is_err());
    }
}
