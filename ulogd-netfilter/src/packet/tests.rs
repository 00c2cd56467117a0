use super::*;
use proptest::prelude::*;

fn ipv4_hdr(proto: u8, payload: &[u8], frag: u16) -> Vec<u8> {
    let total = 20 + payload.len();
    let mut p = vec![0x45, 0x10];
    p.extend_from_slice(&(total as u16).to_be_bytes());
    p.extend_from_slice(&0x1234u16.to_be_bytes());
    p.extend_from_slice(&frag.to_be_bytes());
    p.extend_from_slice(&[64, proto, 0xab, 0xcd, 10, 0, 0, 1, 10, 0, 0, 2]);
    p.extend_from_slice(payload);
    p
}

fn ipv6_hdr(next: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x6a, 0xb1, 0x23, 0x45];
    p.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    p.extend_from_slice(&[next, 63]);
    p.extend_from_slice(&"fd77::1".parse::<Ipv6Addr>().unwrap().octets());
    p.extend_from_slice(&"fd77::2".parse::<Ipv6Addr>().unwrap().octets());
    p.extend_from_slice(payload);
    p
}

const TCP: [u8; 20] = [
    0xa0, 0xcc, 0x17, 0x71, 0x39, 0x3f, 0x3c, 0x01, 0, 0, 0, 5, 0x5a, 0xe3, 0xff, 0x00, 0x14, 0xcb,
    0x00, 0x07,
];

#[test]
fn ipv4_tcp_all_flags() {
    let d = decode(2, 0x0800, &ipv4_hdr(6, &TCP, 0x4000));
    assert_eq!(d.ip_saddr, Some("10.0.0.1".parse().unwrap()));
    assert_eq!(
        (d.ip_tos, d.ip_ttl, d.ip_ihl, d.ip_id),
        (Some(0x10), Some(64), Some(5), Some(0x1234))
    );
    assert_eq!(
        (d.ip_totlen, d.ip_csum, d.ip_fragoff),
        (Some(40), Some(0xabcd), Some(0x4000))
    );
    assert_eq!((d.tcp_sport, d.tcp_dport), (Some(41164), Some(6001)));
    assert_eq!((d.tcp_seq, d.tcp_ackseq), (Some(0x393f3c01), Some(5)));
    assert_eq!(
        (d.tcp_offset, d.tcp_reserved, d.tcp_res1),
        (Some(5), Some(0xa), Some(true))
    );
    // flags 0xe3: CWR ECE URG FIN SYN
    assert_eq!(
        (d.tcp_fin, d.tcp_syn, d.tcp_rst, d.tcp_psh),
        (Some(true), Some(true), Some(false), Some(false))
    );
    assert_eq!(
        (d.tcp_ack, d.tcp_urg, d.tcp_res2),
        (Some(false), Some(true), Some(true))
    );
    assert_eq!(
        (d.tcp_window, d.tcp_csum, d.tcp_urgp),
        (Some(0xff00), Some(0x14cb), Some(7))
    );
}

#[test]
fn urgp_only_with_urg() {
    let mut t = TCP;
    t[13] = 0x02;
    let d = decode(2, 0, &ipv4_hdr(6, &t, 0));
    assert_eq!(d.tcp_urgp, None);
    assert_eq!(d.tcp_syn, Some(true));
}

#[test]
fn every_truncation_leaves_fields_unset_and_never_panics() {
    let full = ipv4_hdr(6, &TCP, 0);
    for n in 0..full.len() {
        let d = decode(2, 0, &full[..n]);
        if n <= 20 {
            assert!(d.is_empty(), "len {n}");
        } else if n < 40 {
            assert!(d.ip_saddr.is_some() && d.tcp_sport.is_none(), "len {n}");
        }
    }
    let v6 = ipv6_hdr(17, &[0x13, 0x89, 0x13, 0x89, 0, 11, 0xaa, 0xbb, 1, 2, 3]);
    for n in 0..v6.len() {
        let d = decode(10, 0, &v6[..n]);
        assert_eq!(d.udp_sport.is_some(), n >= 48, "len {n}");
    }
}

#[test]
fn udp_sctp_esp_ah() {
    let d = decode(
        2,
        0,
        &ipv4_hdr(
            17,
            &[0xce, 0x17, 0x13, 0x89, 0, 14, 0x14, 0xbc, 1, 2, 3, 4, 5, 6],
            0,
        ),
    );
    assert_eq!(
        (d.udp_sport, d.udp_dport, d.udp_len, d.udp_csum),
        (Some(52759), Some(5001), Some(14), Some(5308))
    );
    let d = decode(
        2,
        0,
        &ipv4_hdr(132, &[0, 1, 0, 2, 0, 0, 0, 9, 0xde, 0xad, 0xbe, 0xef], 0),
    );
    assert_eq!(
        (d.sctp_sport, d.sctp_dport, d.sctp_csum),
        (Some(1), Some(2), Some(0xdeadbeef))
    );
    let d = decode(2, 0, &ipv4_hdr(50, &[0, 0, 0x10, 0x01, 0, 0, 0, 1], 0));
    assert_eq!(d.ahesp_spi, Some(0x1001));
    let d = decode(
        2,
        0,
        &ipv4_hdr(51, &[4, 4, 0, 0, 0, 0, 0x20, 0x02, 0, 0, 0, 1], 0),
    );
    assert_eq!(d.ahesp_spi, Some(0x2002));
}

#[test]
fn icmp_by_type() {
    let echo = [8, 0, 0x0c, 0x45, 0x13, 0x73, 0, 1];
    let d = decode(2, 0, &ipv4_hdr(1, &echo, 0));
    assert_eq!(
        (d.icmp_type, d.icmp_code, d.icmp_echoid, d.icmp_echoseq),
        (Some(8), Some(0), Some(4979), Some(1))
    );
    assert_eq!(
        d.icmp_csum,
        Some(0x450c),
        "ICMP checksum as ulogd2 printed it on x86"
    );
    let redirect = [5, 1, 0, 0, 192, 0, 2, 1];
    let d = decode(2, 0, &ipv4_hdr(1, &redirect, 0));
    assert_eq!(d.icmp_gateway, Some(Ipv4Addr::new(192, 0, 2, 1)));
    assert_eq!(d.icmp_echoid, None);
    let needfrag = [3, 4, 0, 0, 0, 0, 0x05, 0xdc];
    assert_eq!(
        decode(2, 0, &ipv4_hdr(1, &needfrag, 0)).icmp_fragmtu,
        Some(1500)
    );
    // Net unreachable has code 0 but is no echo: no ID/SEQ (ulogd2 keyed on code).
    let unreach = [3, 0, 0, 0, 0, 0, 0, 0];
    assert_eq!(decode(2, 0, &ipv4_hdr(1, &unreach, 0)).icmp_echoid, None);
}

#[test]
fn non_first_fragment_has_no_transport() {
    let d = decode(2, 0, &ipv4_hdr(6, &TCP, 0x2001));
    assert_eq!(d.ip_fragoff, Some(0x2001));
    assert_eq!(d.tcp_sport, None);
}

#[test]
fn ipv6_icmpv6_and_extension_headers() {
    let d = decode(
        10,
        0x86dd,
        &ipv6_hdr(58, &[128, 0, 0xff, 0xdc, 0x13, 0x74, 0, 1]),
    );
    assert_eq!(d.ip_saddr, Some("fd77::1".parse().unwrap()));
    assert_eq!(
        (d.ip6_priority, d.ip6_flowlabel, d.ip6_hoplimit),
        (Some(0xab), Some(0x12345), Some(63))
    );
    assert_eq!((d.ip6_nexthdr, d.ip_protocol), (Some(58), Some(58)));
    assert_eq!(
        (d.icmpv6_type, d.icmpv6_echoid, d.icmpv6_echoseq),
        (Some(128), Some(4980), Some(1))
    );
    assert_eq!(d.icmpv6_csum, Some(0xdcff));
    // Hop-by-hop (8 bytes) then a first fragment then UDP.
    let mut ext = vec![44, 0, 0, 0, 0, 0, 0, 0];
    ext.extend_from_slice(&[17, 0, 0x00, 0x01, 0, 0, 0, 42]);
    ext.extend_from_slice(&[0, 7, 0, 8, 0, 8, 0, 0]);
    let d = decode(10, 0, &ipv6_hdr(0, &ext));
    assert_eq!(
        (d.ip6_fragoff, d.ip6_fragid, d.ip6_nexthdr),
        (Some(0), Some(42), Some(17))
    );
    assert_eq!(d.udp_dport, Some(8));
    // A non-first fragment stops the walk.
    let mut ext = vec![17, 0, 0x00, 0x09, 0, 0, 0, 43];
    ext.extend_from_slice(&[0, 7, 0, 8, 0, 8, 0, 0]);
    let d = decode(10, 0, &ipv6_hdr(44, &ext));
    assert_eq!((d.ip6_fragoff, d.udp_dport), (Some(8), None));
    // AH in IPv6.
    let ah = [
        6, 4, 0, 0, 0, 0, 0x30, 0x03, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    assert_eq!(decode(10, 0, &ipv6_hdr(51, &ah)).ahesp_spi, Some(0x3003));
}

#[test]
fn arp_over_bridge() {
    let mut a = vec![0, 1, 8, 0, 6, 4, 0, 2];
    a.extend_from_slice(&[
        2, 0, 0, 0, 0, 0xa, 10, 0, 0, 1, 2, 0, 0, 0, 0, 0xb, 10, 0, 0, 2,
    ]);
    let d = decode(7, 0x0806, &a);
    assert_eq!(
        (d.arp_hwtype, d.arp_protocoltype, d.arp_operation),
        (Some(1), Some(0x800), Some(2))
    );
    assert_eq!(d.arp_shwaddr, Some([2, 0, 0, 0, 0, 0xa]));
    assert_eq!(
        (d.arp_saddr, d.arp_daddr),
        (
            Some(Ipv4Addr::new(10, 0, 0, 1)),
            Some(Ipv4Addr::new(10, 0, 0, 2))
        )
    );
    assert_eq!(
        decode(7, 0x0800, &ipv4_hdr(17, &[0; 8], 0)).udp_len,
        Some(0)
    );
    assert!(decode(7, 0x1234, &a).is_empty());
    assert!(decode(3, 0, &a).is_empty());
}

proptest! {
    #[test]
    fn any_bytes_never_panic(family in prop_oneof![Just(2u8), Just(10), Just(7), any::<u8>()],
                             proto in prop_oneof![Just(0x0800u16), Just(0x86dd), Just(0x0806), any::<u16>()],
                             bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode(family, proto, &bytes);
    }

    #[test]
    fn mutated_headers_never_panic(next in any::<u8>(), body in proptest::collection::vec(any::<u8>(), 0..120)) {
        let _ = decode(10, 0, &ipv6_hdr(next, &body));
        let _ = decode(2, 0, &ipv4_hdr(next, &body, 0));
    }
}
