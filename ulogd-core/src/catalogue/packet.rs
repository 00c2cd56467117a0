//! BASE's packet keys (`ip.*`, `ip6.*`, `tcp.*`, `udp.*`, `icmp.*`, `icmpv6.*`,
//! `ahesp.spi`, `arp.*`, `sctp.*`), in ulogd2 2.0.8's order; `icmp.type`/`icmp.code`
//! and `icmpv6.type`/`icmpv6.code` are also NFCT's and IPFIXCOL's.
//!
//! Annotations: CIM aliases `src_port`/`dest_port` on the TCP, UDP and SCTP ports (as
//! ulogd2), and IETF elements. `ip.saddr`/`ip.daddr` hold both families but carry the
//! IPv4 elements (8, 12): an exporter that meets an IPv6 value must use
//! `sourceIPv6Address` (27) / `destinationIPv6Address` (28) instead. Ports use the
//! generic `sourceTransportPort` (7) / `destinationTransportPort` (11) for TCP, UDP
//! and SCTP alike (ulogd2 used the deprecated TCP/UDP-specific 180-183); only one of
//! the three is set per packet. `ip.fragoff` has no element: it holds the flags too,
//! not just `fragmentOffset` (ulogd2 annotated it 88 anyway).

use std::net::IpAddr;

use super::{family, ie, Def, Raw};

family! {
    /// `ip.saddr`.
    IP_SADDR: IpAddr = Def::new("ip.saddr").ie(ie::SOURCE_IPV4_ADDRESS);
    /// `ip.daddr`.
    IP_DADDR: IpAddr = Def::new("ip.daddr").ie(ie::DESTINATION_IPV4_ADDRESS);
    /// `ip.protocol`.
    IP_PROTOCOL: u8 = Def::new("ip.protocol").ie(ie::PROTOCOL_IDENTIFIER);
    /// `ip.tos`.
    IP_TOS: u8 = Def::new("ip.tos").ie(ie::IP_CLASS_OF_SERVICE);
    /// `ip.ttl`.
    IP_TTL: u8 = Def::new("ip.ttl").ie(ie::IP_TTL);
    /// `ip.totlen`.
    IP_TOTLEN: u16 = Def::new("ip.totlen").ie(ie::TOTAL_LENGTH_IPV4);
    /// `ip.ihl`.
    IP_IHL: u8 = Def::new("ip.ihl").ie(ie::IP_HEADER_LENGTH);
    /// `ip.csum`.
    IP_CSUM: u16 = Def::new("ip.csum");
    /// `ip.id`.
    IP_ID: u16 = Def::new("ip.id").ie(ie::FRAGMENT_IDENTIFICATION);
    /// `ip.fragoff`.
    IP_FRAGOFF: u16 = Def::new("ip.fragoff");
    /// `ip6.payloadlen`.
    IP6_PAYLOADLEN: u16 = Def::new("ip6.payloadlen").ie(ie::PAYLOAD_LENGTH_IPV6);
    /// `ip6.priority`.
    IP6_PRIORITY: u8 = Def::new("ip6.priority");
    /// `ip6.flowlabel`.
    IP6_FLOWLABEL: u32 = Def::new("ip6.flowlabel").ie(ie::FLOW_LABEL_IPV6);
    /// `ip6.hoplimit`.
    IP6_HOPLIMIT: u8 = Def::new("ip6.hoplimit");
    /// `ip6.nexthdr`.
    IP6_NEXTHDR: u8 = Def::new("ip6.nexthdr").ie(ie::NEXT_HEADER_IPV6);
    /// `ip6.fragoff`.
    IP6_FRAGOFF: u16 = Def::new("ip6.fragoff");
    /// `ip6.fragid`.
    IP6_FRAGID: u32 = Def::new("ip6.fragid");
    /// `tcp.sport`.
    TCP_SPORT: u16 = Def::new("tcp.sport").ie(ie::SOURCE_TRANSPORT_PORT).cim("src_port");
    /// `tcp.dport`.
    TCP_DPORT: u16 = Def::new("tcp.dport").ie(ie::DESTINATION_TRANSPORT_PORT).cim("dest_port");
    /// `tcp.seq`.
    TCP_SEQ: u32 = Def::new("tcp.seq").ie(ie::TCP_SEQUENCE_NUMBER);
    /// `tcp.ackseq`.
    TCP_ACKSEQ: u32 = Def::new("tcp.ackseq").ie(ie::TCP_ACKNOWLEDGEMENT_NUMBER);
    /// `tcp.window`.
    TCP_WINDOW: u16 = Def::new("tcp.window").ie(ie::TCP_WINDOW_SIZE);
    /// `tcp.offset`.
    TCP_OFFSET: u8 = Def::new("tcp.offset");
    /// `tcp.reserved`.
    TCP_RESERVED: u8 = Def::new("tcp.reserved");
    /// `tcp.urg`.
    TCP_URG: bool = Def::new("tcp.urg");
    /// `tcp.urgp`.
    TCP_URGP: u16 = Def::new("tcp.urgp").ie(ie::TCP_URGENT_POINTER);
    /// `tcp.ack`.
    TCP_ACK: bool = Def::new("tcp.ack");
    /// `tcp.psh`.
    TCP_PSH: bool = Def::new("tcp.psh");
    /// `tcp.rst`.
    TCP_RST: bool = Def::new("tcp.rst");
    /// `tcp.syn`.
    TCP_SYN: bool = Def::new("tcp.syn");
    /// `tcp.fin`.
    TCP_FIN: bool = Def::new("tcp.fin");
    /// `tcp.res1`.
    TCP_RES1: bool = Def::new("tcp.res1");
    /// `tcp.res2`.
    TCP_RES2: bool = Def::new("tcp.res2");
    /// `tcp.csum`.
    TCP_CSUM: u16 = Def::new("tcp.csum");
    /// `udp.sport`.
    UDP_SPORT: u16 = Def::new("udp.sport").ie(ie::SOURCE_TRANSPORT_PORT).cim("src_port");
    /// `udp.dport`.
    UDP_DPORT: u16 = Def::new("udp.dport").ie(ie::DESTINATION_TRANSPORT_PORT).cim("dest_port");
    /// `udp.len`.
    UDP_LEN: u16 = Def::new("udp.len");
    /// `udp.csum`.
    UDP_CSUM: u16 = Def::new("udp.csum");
    /// `icmp.type`.
    ICMP_TYPE: u8 = Def::new("icmp.type").ie(ie::ICMP_TYPE_IPV4);
    /// `icmp.code`.
    ICMP_CODE: u8 = Def::new("icmp.code").ie(ie::ICMP_CODE_IPV4);
    /// `icmp.echoid`.
    ICMP_ECHOID: u16 = Def::new("icmp.echoid");
    /// `icmp.echoseq`.
    ICMP_ECHOSEQ: u16 = Def::new("icmp.echoseq");
    /// `icmp.gateway`.
    ICMP_GATEWAY: IpAddr = Def::new("icmp.gateway");
    /// `icmp.fragmtu`.
    ICMP_FRAGMTU: u16 = Def::new("icmp.fragmtu");
    /// `icmp.csum`.
    ICMP_CSUM: u16 = Def::new("icmp.csum");
    /// `icmpv6.type`.
    ICMPV6_TYPE: u8 = Def::new("icmpv6.type").ie(ie::ICMP_TYPE_IPV6);
    /// `icmpv6.code`.
    ICMPV6_CODE: u8 = Def::new("icmpv6.code").ie(ie::ICMP_CODE_IPV6);
    /// `icmpv6.echoid`.
    ICMPV6_ECHOID: u16 = Def::new("icmpv6.echoid");
    /// `icmpv6.echoseq`.
    ICMPV6_ECHOSEQ: u16 = Def::new("icmpv6.echoseq");
    /// `icmpv6.csum`.
    ICMPV6_CSUM: u16 = Def::new("icmpv6.csum");
    /// `ahesp.spi`.
    AHESP_SPI: u32 = Def::new("ahesp.spi");
    /// `arp.hwtype`.
    ARP_HWTYPE: u16 = Def::new("arp.hwtype");
    /// `arp.protocoltype`.
    ARP_PROTOCOLTYPE: u16 = Def::new("arp.protocoltype");
    /// `arp.operation`.
    ARP_OPERATION: u16 = Def::new("arp.operation");
    /// `arp.shwaddr`.
    ARP_SHWADDR: Raw = Def::new("arp.shwaddr");
    /// `arp.saddr`.
    ARP_SADDR: IpAddr = Def::new("arp.saddr");
    /// `arp.dhwaddr`.
    ARP_DHWADDR: Raw = Def::new("arp.dhwaddr");
    /// `arp.daddr`.
    ARP_DADDR: IpAddr = Def::new("arp.daddr");
    /// `sctp.sport`.
    SCTP_SPORT: u16 = Def::new("sctp.sport").ie(ie::SOURCE_TRANSPORT_PORT).cim("src_port");
    /// `sctp.dport`.
    SCTP_DPORT: u16 = Def::new("sctp.dport").ie(ie::DESTINATION_TRANSPORT_PORT).cim("dest_port");
    /// `sctp.csum`.
    SCTP_CSUM: u32 = Def::new("sctp.csum");
}
