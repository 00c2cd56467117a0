//! ARP over the bridge family (`_interp_arp`).

use super::{arr, be16, Decoded};
use std::net::Ipv4Addr;

/// `sizeof(struct ether_arp)`: Ethernet/IPv4 ARP.
const ETHER_ARP_LEN: usize = 28;

/// Decodes an Ethernet/IPv4 ARP packet; like 2.0.8, needs all 28 bytes and does
/// not look at the hardware/protocol address lengths.
pub(super) fn decode(d: &mut Decoded, a: &[u8]) {
    if a.len() < ETHER_ARP_LEN {
        return;
    }
    d.arp_hwtype = be16(a, 0);
    d.arp_protocoltype = be16(a, 2);
    d.arp_operation = be16(a, 6);
    d.arp_shwaddr = arr::<6>(a, 8);
    // Fixed: the addresses themselves (2.0.8 stored pointers).
    d.arp_saddr = arr::<4>(a, 14).map(Ipv4Addr::from);
    d.arp_dhwaddr = arr::<6>(a, 18);
    d.arp_daddr = arr::<4>(a, 24).map(Ipv4Addr::from);
}
