//! Conntrack flow keys: `orig.*`, `reply.*`, `flow.*` and `nat.*`, produced by NFCT
//! and IPFIXCOL, read by the address filters, PRINTFLOW, NACCT, the IPFIX/NetFlow v9
//! exporters and the SQL outputs.
//!
//! Annotations follow ulogd2: `orig.raw.pktlen` is `octetTotalCount` (85) and
//! `orig.raw.pktcount` `packetTotalCount` (86), since conntrack counters are totals
//! since the flow began, not deltas; `sourceIPv4Address` (8) / `destinationIPv4Address`
//! (12) for both families (an exporter meeting an IPv6 value uses 27/28); the reply
//! direction is the RFC 5103 reverse (PEN 29305) of the same elements. `flow.*.usec`
//! carry no element: they are sub-second fractions, not `dateTimeMicroseconds`.

use std::net::IpAddr;

use super::{family, ie, Def};

family! {
    /// `orig.ip.saddr`.
    ORIG_IP_SADDR: IpAddr = Def::new("orig.ip.saddr").ie(ie::SOURCE_IPV4_ADDRESS);
    /// `orig.ip.daddr`.
    ORIG_IP_DADDR: IpAddr = Def::new("orig.ip.daddr").ie(ie::DESTINATION_IPV4_ADDRESS);
    /// `orig.ip.protocol`.
    ORIG_IP_PROTOCOL: u8 = Def::new("orig.ip.protocol").ie(ie::PROTOCOL_IDENTIFIER);
    /// `orig.l4.sport`.
    ORIG_L4_SPORT: u16 = Def::new("orig.l4.sport").ie(ie::SOURCE_TRANSPORT_PORT);
    /// `orig.l4.dport`.
    ORIG_L4_DPORT: u16 = Def::new("orig.l4.dport").ie(ie::DESTINATION_TRANSPORT_PORT);
    /// `orig.raw.pktlen`: bytes, original direction.
    ORIG_RAW_PKTLEN: u64 = Def::new("orig.raw.pktlen").ie(ie::OCTET_TOTAL_COUNT);
    /// `orig.raw.pktcount`: packets, original direction.
    ORIG_RAW_PKTCOUNT: u64 = Def::new("orig.raw.pktcount").ie(ie::PACKET_TOTAL_COUNT);
    /// `reply.ip.saddr`.
    REPLY_IP_SADDR: IpAddr = Def::new("reply.ip.saddr").reverse(ie::SOURCE_IPV4_ADDRESS);
    /// `reply.ip.daddr`.
    REPLY_IP_DADDR: IpAddr = Def::new("reply.ip.daddr").reverse(ie::DESTINATION_IPV4_ADDRESS);
    /// `reply.ip.protocol`.
    REPLY_IP_PROTOCOL: u8 = Def::new("reply.ip.protocol").reverse(ie::PROTOCOL_IDENTIFIER);
    /// `reply.l4.sport`.
    REPLY_L4_SPORT: u16 = Def::new("reply.l4.sport").reverse(ie::SOURCE_TRANSPORT_PORT);
    /// `reply.l4.dport`.
    REPLY_L4_DPORT: u16 = Def::new("reply.l4.dport").reverse(ie::DESTINATION_TRANSPORT_PORT);
    /// `reply.raw.pktlen`: bytes, reply direction.
    REPLY_RAW_PKTLEN: u64 = Def::new("reply.raw.pktlen").reverse(ie::OCTET_TOTAL_COUNT);
    /// `reply.raw.pktcount`: packets, reply direction.
    REPLY_RAW_PKTCOUNT: u64 = Def::new("reply.raw.pktcount").reverse(ie::PACKET_TOTAL_COUNT);
    /// `flow.start.sec`.
    START_SEC: u32 = Def::new("flow.start.sec").ie(ie::FLOW_START_SECONDS);
    /// `flow.start.usec`.
    START_USEC: u32 = Def::new("flow.start.usec");
    /// `flow.end.sec`.
    END_SEC: u32 = Def::new("flow.end.sec").ie(ie::FLOW_END_SECONDS);
    /// `flow.end.usec`.
    END_USEC: u32 = Def::new("flow.end.usec");
    /// `nat.src`: the source was translated.
    NAT_SRC: bool = Def::new("nat.src");
    /// `nat.ip.saddr`: post-NAT source address.
    NAT_IP_SADDR: IpAddr = Def::new("nat.ip.saddr").ie(ie::POST_NAT_SOURCE_IPV4_ADDRESS);
    /// `nat.l4.sport`: post-NAPT source port.
    NAT_L4_SPORT: u16 = Def::new("nat.l4.sport").ie(ie::POST_NAPT_SOURCE_TRANSPORT_PORT);
    /// `nat.dst`: the destination was translated.
    NAT_DST: bool = Def::new("nat.dst");
    /// `nat.ip.daddr`: post-NAT destination address.
    NAT_IP_DADDR: IpAddr = Def::new("nat.ip.daddr").ie(ie::POST_NAT_DESTINATION_IPV4_ADDRESS);
    /// `nat.l4.dport`: post-NAPT destination port.
    NAT_L4_DPORT: u16 = Def::new("nat.l4.dport").ie(ie::POST_NAPT_DESTINATION_TRANSPORT_PORT);
}
