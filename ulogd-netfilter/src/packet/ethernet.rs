//! Ethernet II and 802.1Q/802.1ad VLAN tags: checked views ([`EthernetFrame`],
//! [`VlanTag`]) and [`EthernetRepr`]. Used by REPLAY (Ethernet captures) and HWHDR
//! (the hardware header NFLOG hands over).

use super::field::{be16, bytes, put16, view, Field};

mod field {
    use super::Field;
    pub const DST: Field = 0..6;
    pub const SRC: Field = 6..12;
    pub const ETHERTYPE: Field = 12..14;
    pub const VLAN_TCI: Field = 0..2;
    pub const VLAN_ETHERTYPE: Field = 2..4;
}

/// Ethernet header length (`ETH_HLEN`).
pub const HDR: usize = 14;
/// 802.1Q tag ethertype.
pub const ETH_P_8021Q: u16 = 0x8100;
/// 802.1ad (QinQ) tag ethertype.
pub const ETH_P_8021AD: u16 = 0x88a8;

view!(
    /// A checked view of an Ethernet II header and what follows it.
    EthernetFrame,
    HDR,
    "Ethernet"
);

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Destination address.
    pub fn dst_addr(&self) -> [u8; 6] {
        bytes(self.b(), field::DST)
    }
    /// Source address.
    pub fn src_addr(&self) -> [u8; 6] {
        bytes(self.b(), field::SRC)
    }
    /// The ethertype field (may be a VLAN tag's).
    pub fn ethertype(&self) -> u16 {
        be16(self.b(), field::ETHERTYPE)
    }
    /// What follows the 14-byte header.
    pub fn payload(&self) -> &[u8] {
        &self.b()[HDR..]
    }
    /// Skips 802.1Q / 802.1ad tags: the inner ethertype and the offset of the L3
    /// header in the frame, or `None` when a tag is truncated.
    pub fn inner(&self) -> Option<(u16, usize)> {
        let b = self.b();
        let (mut ty, mut off) = (self.ethertype(), HDR);
        while matches!(ty, ETH_P_8021Q | ETH_P_8021AD) {
            let tag = VlanTag::new_checked(b.get(off..)?).ok()?;
            ty = tag.ethertype();
            off += VlanTag::<&[u8]>::HEADER_LEN;
        }
        Some((ty, off))
    }
}

view!(
    /// A checked view of one 802.1Q/802.1ad tag (after the outer ethertype).
    VlanTag,
    4,
    "VLAN tag"
);

impl<T: AsRef<[u8]>> VlanTag<T> {
    /// Tag control information (priority, DEI, VLAN id).
    pub fn tci(&self) -> u16 {
        be16(self.b(), field::VLAN_TCI)
    }
    /// VLAN id.
    pub fn vlan_id(&self) -> u16 {
        self.tci() & 0x0fff
    }
    /// The ethertype that follows the tag.
    pub fn ethertype(&self) -> u16 {
        be16(self.b(), field::VLAN_ETHERTYPE)
    }
}

/// An Ethernet II header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetRepr {
    /// Source address.
    pub src: [u8; 6],
    /// Destination address.
    pub dst: [u8; 6],
    /// Ethertype.
    pub ethertype: u16,
}

impl EthernetRepr {
    /// Reads the header.
    pub fn parse<T: AsRef<[u8]>>(f: &EthernetFrame<T>) -> Result<EthernetRepr, super::PacketError> {
        f.check_len()?;
        Ok(EthernetRepr {
            src: f.src_addr(),
            dst: f.dst_addr(),
            ethertype: f.ethertype(),
        })
    }
    /// Bytes `emit` writes.
    pub const fn buffer_len(&self) -> usize {
        HDR
    }
    /// Writes the header into `b[..14]`.
    pub fn emit(&self, b: &mut [u8]) {
        b[field::DST].copy_from_slice(&self.dst);
        b[field::SRC].copy_from_slice(&self.src);
        put16(b, field::ETHERTYPE, self.ethertype);
    }
    /// The header followed by `payload`.
    pub fn to_bytes(&self, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![0; HDR + payload.len()];
        self.emit(&mut v);
        v[HDR..].copy_from_slice(payload);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vlan_tags_are_skipped() {
        let e = EthernetRepr {
            src: [2, 0, 0, 0, 0, 1],
            dst: [2, 0, 0, 0, 0, 2],
            ethertype: ETH_P_8021Q,
        };
        // One 802.1Q tag (VLAN 5) carrying IPv4.
        let f = e.to_bytes(&[0x00, 0x05, 0x08, 0x00, 0x45]);
        let v = EthernetFrame::new_checked(&f[..]).unwrap();
        assert_eq!(EthernetRepr::parse(&v).unwrap(), e);
        assert_eq!(v.inner(), Some((0x0800, 18)));
        // A truncated tag.
        assert_eq!(EthernetFrame::new_checked(&f[..16]).unwrap().inner(), None);
        assert!(EthernetFrame::new_checked(&f[..13]).is_err());
    }
}
