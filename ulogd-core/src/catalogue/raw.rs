//! `raw.*`: the packet and its hardware header, produced by NFLOG, NFQ and REPLAY.

use super::{family, ie, Def, Raw};

family! {
    /// `raw.mac`: the hardware header.
    MAC: Raw = Def::new("raw.mac");
    /// `raw.pkt`: the packet from its L3 header on.
    PKT: Raw = Def::new("raw.pkt").netfilter(1);
    /// `raw.pktlen`: bytes of `raw.pkt`.
    PKTLEN: u32 = Def::new("raw.pktlen").netfilter(2);
    /// `raw.pktcount`: packets (always 1 for a logged packet).
    PKTCOUNT: u32 = Def::new("raw.pktcount").ie(ie::PACKET_DELTA_COUNT);
    /// `raw.mac_len`: bytes of `raw.mac`.
    MAC_LEN: u16 = Def::new("raw.mac_len");
    /// `raw.label`: the source's `label` option.
    LABEL: u8 = Def::new("raw.label");
    /// `raw.type`: ARPHRD_* hardware type.
    TYPE: u16 = Def::new("raw.type");
    /// `raw.mac.saddr`: source hardware address.
    MAC_SADDR: Raw = Def::new("raw.mac.saddr").ie(ie::SOURCE_MAC_ADDRESS);
    /// `raw.mac.addrlen`: bytes of `raw.mac.saddr`.
    MAC_ADDRLEN: u16 = Def::new("raw.mac.addrlen");
}
