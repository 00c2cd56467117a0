//! BASE's fields, declared once: each line is a field of [`super::Decoded`] (its
//! name and the type the decoder produces) and the catalogue key it fills. The
//! list is an "X-macro": [`base_fields!`] hands it to a generator macro, so the
//! `Decoded` struct, [`super::KEYS`], [`super::Decoded::get`] (in this module) and
//! BASE's output table, typed handles and setter (`filters/base.rs`) all come from
//! this one list and cannot disagree on order, name or type.

/// Calls `$gen! { ... }` with every BASE field in ulogd2 2.0.8's key order.
macro_rules! base_fields {
    ($gen:ident) => {
        $gen! {
        /// `ip.saddr`: IPv4 or IPv6 source address.
        ip_saddr: ::std::net::IpAddr = ::ulogd_core::catalogue::packet::IP_SADDR,
        /// `ip.daddr`: IPv4 or IPv6 destination address.
        ip_daddr: ::std::net::IpAddr = ::ulogd_core::catalogue::packet::IP_DADDR,
        /// `ip.protocol`: IPv4 protocol; for IPv6 the final upper-layer header.
        ip_protocol: u8 = ::ulogd_core::catalogue::packet::IP_PROTOCOL,
        /// `ip.tos`.
        ip_tos: u8 = ::ulogd_core::catalogue::packet::IP_TOS,
        /// `ip.ttl`.
        ip_ttl: u8 = ::ulogd_core::catalogue::packet::IP_TTL,
        /// `ip.totlen`, host order.
        ip_totlen: u16 = ::ulogd_core::catalogue::packet::IP_TOTLEN,
        /// `ip.ihl`, in 32-bit words.
        ip_ihl: u8 = ::ulogd_core::catalogue::packet::IP_IHL,
        /// `ip.csum`, host order.
        ip_csum: u16 = ::ulogd_core::catalogue::packet::IP_CSUM,
        /// `ip.id`.
        ip_id: u16 = ::ulogd_core::catalogue::packet::IP_ID,
        /// `ip.fragoff`: the raw flags+offset field (DF = 0x4000, MF = 0x2000).
        ip_fragoff: u16 = ::ulogd_core::catalogue::packet::IP_FRAGOFF,
        /// `ip6.payloadlen`.
        ip6_payloadlen: u16 = ::ulogd_core::catalogue::packet::IP6_PAYLOADLEN,
        /// `ip6.priority`: the traffic class.
        ip6_priority: u8 = ::ulogd_core::catalogue::packet::IP6_PRIORITY,
        /// `ip6.flowlabel` (20 bits).
        ip6_flowlabel: u32 = ::ulogd_core::catalogue::packet::IP6_FLOWLABEL,
        /// `ip6.hoplimit`.
        ip6_hoplimit: u8 = ::ulogd_core::catalogue::packet::IP6_HOPLIMIT,
        /// `ip6.nexthdr`: the last header reached by the extension-header walk.
        ip6_nexthdr: u8 = ::ulogd_core::catalogue::packet::IP6_NEXTHDR,
        /// `ip6.fragoff`: fragment offset in bytes (`offlg & 0xfff8`), only with a fragment header.
        ip6_fragoff: u16 = ::ulogd_core::catalogue::packet::IP6_FRAGOFF,
        /// `ip6.fragid`, only with a fragment header.
        ip6_fragid: u32 = ::ulogd_core::catalogue::packet::IP6_FRAGID,
        /// `tcp.sport`.
        tcp_sport: u16 = ::ulogd_core::catalogue::packet::TCP_SPORT,
        /// `tcp.dport`.
        tcp_dport: u16 = ::ulogd_core::catalogue::packet::TCP_DPORT,
        /// `tcp.seq`.
        tcp_seq: u32 = ::ulogd_core::catalogue::packet::TCP_SEQ,
        /// `tcp.ackseq`.
        tcp_ackseq: u32 = ::ulogd_core::catalogue::packet::TCP_ACKSEQ,
        /// `tcp.window`.
        tcp_window: u16 = ::ulogd_core::catalogue::packet::TCP_WINDOW,
        /// `tcp.offset`: data offset in 32-bit words (fixed; 2.0.8 always 0).
        tcp_offset: u8 = ::ulogd_core::catalogue::packet::TCP_OFFSET,
        /// `tcp.reserved`: the 4 reserved bits (fixed; 2.0.8 always 0).
        tcp_reserved: u8 = ::ulogd_core::catalogue::packet::TCP_RESERVED,
        /// `tcp.urg`.
        tcp_urg: bool = ::ulogd_core::catalogue::packet::TCP_URG,
        /// `tcp.urgp`, only when URG is set.
        tcp_urgp: u16 = ::ulogd_core::catalogue::packet::TCP_URGP,
        /// `tcp.ack`.
        tcp_ack: bool = ::ulogd_core::catalogue::packet::TCP_ACK,
        /// `tcp.psh`.
        tcp_psh: bool = ::ulogd_core::catalogue::packet::TCP_PSH,
        /// `tcp.rst`.
        tcp_rst: bool = ::ulogd_core::catalogue::packet::TCP_RST,
        /// `tcp.syn`.
        tcp_syn: bool = ::ulogd_core::catalogue::packet::TCP_SYN,
        /// `tcp.fin`.
        tcp_fin: bool = ::ulogd_core::catalogue::packet::TCP_FIN,
        /// `tcp.res1`: Linux `tcphdr.res1` bitfield (4 reserved bits) as a BOOL.
        tcp_res1: bool = ::ulogd_core::catalogue::packet::TCP_RES1,
        /// `tcp.res2`: Linux `tcphdr.res2` bitfield (ECE, CWR) as a BOOL.
        tcp_res2: bool = ::ulogd_core::catalogue::packet::TCP_RES2,
        /// `tcp.csum`, host order.
        tcp_csum: u16 = ::ulogd_core::catalogue::packet::TCP_CSUM,
        /// `udp.sport`.
        udp_sport: u16 = ::ulogd_core::catalogue::packet::UDP_SPORT,
        /// `udp.dport`.
        udp_dport: u16 = ::ulogd_core::catalogue::packet::UDP_DPORT,
        /// `udp.len`.
        udp_len: u16 = ::ulogd_core::catalogue::packet::UDP_LEN,
        /// `udp.csum`, host order.
        udp_csum: u16 = ::ulogd_core::catalogue::packet::UDP_CSUM,
        /// `icmp.type`.
        icmp_type: u8 = ::ulogd_core::catalogue::packet::ICMP_TYPE,
        /// `icmp.code`.
        icmp_code: u8 = ::ulogd_core::catalogue::packet::ICMP_CODE,
        /// `icmp.echoid`, echo request/reply only.
        icmp_echoid: u16 = ::ulogd_core::catalogue::packet::ICMP_ECHOID,
        /// `icmp.echoseq`, echo request/reply only.
        icmp_echoseq: u16 = ::ulogd_core::catalogue::packet::ICMP_ECHOSEQ,
        /// `icmp.gateway`: redirect gateway / parameter-problem word (first octet = pointer).
        icmp_gateway: ::std::net::Ipv4Addr = ::ulogd_core::catalogue::packet::ICMP_GATEWAY,
        /// `icmp.fragmtu`: next-hop MTU of unreachable/fragmentation-needed.
        icmp_fragmtu: u16 = ::ulogd_core::catalogue::packet::ICMP_FRAGMTU,
        /// `icmp.csum`: as 2.0.8 prints it (wire bytes read little-endian).
        icmp_csum: u16 = ::ulogd_core::catalogue::packet::ICMP_CSUM,
        /// `icmpv6.type`.
        icmpv6_type: u8 = ::ulogd_core::catalogue::packet::ICMPV6_TYPE,
        /// `icmpv6.code`.
        icmpv6_code: u8 = ::ulogd_core::catalogue::packet::ICMPV6_CODE,
        /// `icmpv6.echoid`, echo request/reply only.
        icmpv6_echoid: u16 = ::ulogd_core::catalogue::packet::ICMPV6_ECHOID,
        /// `icmpv6.echoseq`, echo request/reply only.
        icmpv6_echoseq: u16 = ::ulogd_core::catalogue::packet::ICMPV6_ECHOSEQ,
        /// `icmpv6.csum`: as 2.0.8 prints it (wire bytes read little-endian).
        icmpv6_csum: u16 = ::ulogd_core::catalogue::packet::ICMPV6_CSUM,
        /// `ahesp.spi` (fixed; 2.0.8 never set it).
        ahesp_spi: u32 = ::ulogd_core::catalogue::packet::AHESP_SPI,
        /// `oob.protocol`: BASE's copy of its input (the `hw_protocol` given to [`decode`]).
        oob_protocol: u16 = ::ulogd_core::catalogue::oob::PROTOCOL,
        /// `arp.hwtype`.
        arp_hwtype: u16 = ::ulogd_core::catalogue::packet::ARP_HWTYPE,
        /// `arp.protocoltype`.
        arp_protocoltype: u16 = ::ulogd_core::catalogue::packet::ARP_PROTOCOLTYPE,
        /// `arp.operation`.
        arp_operation: u16 = ::ulogd_core::catalogue::packet::ARP_OPERATION,
        /// `arp.shwaddr`: sender hardware address.
        arp_shwaddr: [u8; 6] = ::ulogd_core::catalogue::packet::ARP_SHWADDR,
        /// `arp.saddr`: sender IPv4 address.
        arp_saddr: ::std::net::Ipv4Addr = ::ulogd_core::catalogue::packet::ARP_SADDR,
        /// `arp.dhwaddr`: target hardware address.
        arp_dhwaddr: [u8; 6] = ::ulogd_core::catalogue::packet::ARP_DHWADDR,
        /// `arp.daddr`: target IPv4 address.
        arp_daddr: ::std::net::Ipv4Addr = ::ulogd_core::catalogue::packet::ARP_DADDR,
        /// `sctp.sport`.
        sctp_sport: u16 = ::ulogd_core::catalogue::packet::SCTP_SPORT,
        /// `sctp.dport`.
        sctp_dport: u16 = ::ulogd_core::catalogue::packet::SCTP_DPORT,
        /// `sctp.csum`, host order.
        sctp_csum: u32 = ::ulogd_core::catalogue::packet::SCTP_CSUM,
        }
    };
}
pub(crate) use base_fields;
