//! Every checked packet view and Repr parser on arbitrary bytes: after
//! `new_checked` succeeds no accessor may panic, `Repr::parse` returns an error
//! rather than panicking, and what parses re-emits to a buffer that parses to the
//! same Repr. The first byte picks the view.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ulogd_netfilter::packet::*;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, b)) = data.split_first() else {
        return;
    };
    match sel % 10 {
        0 => {
            if let Ok(f) = EthernetFrame::new_checked(b) {
                let _ = (f.src_addr(), f.dst_addr(), f.payload().len());
                if let Some((ty, off)) = f.inner() {
                    assert!(off <= b.len());
                    let l3 = &b[off..];
                    let family = match ip_version(l3) {
                        Some(4) => 2,
                        Some(6) => 10,
                        _ => 7,
                    };
                    let _ = decode(family, ty, l3);
                }
                if let Ok(r) = EthernetRepr::parse(&f) {
                    let mut out = vec![0; r.buffer_len()];
                    r.emit(&mut out);
                    assert_eq!(
                        EthernetRepr::parse(&EthernetFrame::new_checked(&out[..]).unwrap())
                            .unwrap(),
                        r
                    );
                }
            }
        }
        1 => {
            if let Ok(p) = Ipv4Packet::new_checked(b) {
                let _ = (
                    p.version(),
                    p.header_len(),
                    p.total_len(),
                    p.frag_offset(),
                    p.checksum(),
                );
                let _ = (p.src_addr(), p.dst_addr(), p.payload().len());
                if let Ok(r) = Ipv4Repr::parse(&p) {
                    let out = r.to_bytes(&[]);
                    let back =
                        Ipv4Repr::parse(&Ipv4Packet::new_checked(&out[..]).unwrap()).unwrap();
                    assert_eq!(
                        back,
                        Ipv4Repr {
                            payload_len: 0,
                            ..r
                        }
                    );
                }
            }
        }
        2 => {
            if let Ok(p) = Ipv6Packet::new_checked(b) {
                let _ = (
                    p.traffic_class(),
                    p.flow_label(),
                    p.payload_len(),
                    p.payload().len(),
                );
                if let Ok(r) = Ipv6Repr::parse(&p) {
                    let out = r.to_bytes(&[]);
                    let back =
                        Ipv6Repr::parse(&Ipv6Packet::new_checked(&out[..]).unwrap()).unwrap();
                    assert_eq!(
                        back,
                        Ipv6Repr {
                            payload_len: 0,
                            ..r
                        }
                    );
                }
            }
            if let Ok(f) = Ipv6FragHeader::new_checked(b) {
                let _ = (f.frag_offset(), f.ident());
            }
            if let Ok(e) = Ipv6ExtHeader::new_checked(b) {
                let _ = (e.next_header(), e.len_field());
            }
        }
        3 => {
            if let Ok(p) = TcpPacket::new_checked(b) {
                let _ = (p.header_len(), p.payload().len(), p.reserved(), p.urgent());
                let r = TcpRepr::parse(&p).unwrap();
                let out = r.to_bytes(&[]);
                assert_eq!(
                    TcpRepr::parse(&TcpPacket::new_checked(&out[..]).unwrap()).unwrap(),
                    r
                );
            }
        }
        4 => {
            if let Ok(p) = UdpPacket::new_checked(b) {
                let r = UdpRepr::parse(&p).unwrap();
                let _ = (p.len(), p.payload().len());
                let out = r.to_bytes(p.payload());
                assert_eq!(
                    UdpRepr::parse(&UdpPacket::new_checked(&out[..]).unwrap()).unwrap(),
                    r
                );
            }
        }
        5 => {
            if let Ok(p) = IcmpPacket::new_checked(b) {
                let _ = (
                    p.echo_ident(),
                    p.echo_seq(),
                    p.gateway(),
                    p.next_hop_mtu(),
                    p.checksum_le(),
                );
                let r = IcmpRepr::parse(&p).unwrap();
                let out = r.to_bytes(&[]);
                assert_eq!(
                    IcmpRepr::parse(&IcmpPacket::new_checked(&out[..]).unwrap()).unwrap(),
                    r
                );
            }
        }
        6 => {
            if let Ok(p) = ArpPacket::new_checked(b) {
                let _ = (p.hardware_type(), p.protocol_type(), p.operation());
                if let Ok(r) = ArpRepr::parse(&p) {
                    let out = r.to_bytes();
                    assert_eq!(
                        ArpRepr::parse(&ArpPacket::new_checked(&out[..]).unwrap()).unwrap(),
                        r
                    );
                }
            }
        }
        7 => {
            if let Ok(a) = AhHeader::new_checked(b) {
                let _ = (a.spi(), a.header_len(), a.next_header());
            }
            if let Ok(e) = EspHeader::new_checked(b) {
                let _ = e.spi();
            }
            if let Ok(s) = SctpHeader::new_checked(b) {
                let _ = (s.src_port(), s.dst_port(), s.checksum());
            }
            if let Ok(v) = VlanTag::new_checked(b) {
                let _ = (v.vlan_id(), v.ethertype());
            }
        }
        _ => {
            // BASE on the bytes, as the base_decoder target, through every family.
            for family in [2u8, 10, 7] {
                for proto in [0x0800u16, 0x86dd, 0x0806] {
                    let _ = decode(family, proto, b);
                }
            }
            let _ = checksum(b);
        }
    }
});
