//! IANA IPFIX information elements the catalogue annotates keys with: id and the
//! registry's name, so `tests/catalogue_iana.rs` can check both against IANA's
//! registry (`tests/fixtures/iana/ipfix-information-elements.csv`).

/// An IETF information element: IANA id and name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ie {
    /// Element id.
    pub id: u16,
    /// The registry's name.
    pub name: &'static str,
}

/// `octetDeltaCount` (unsigned64).
pub const OCTET_DELTA_COUNT: Ie = Ie {
    id: 1,
    name: "octetDeltaCount",
};
/// `packetDeltaCount` (unsigned64).
pub const PACKET_DELTA_COUNT: Ie = Ie {
    id: 2,
    name: "packetDeltaCount",
};
/// `protocolIdentifier` (unsigned8).
pub const PROTOCOL_IDENTIFIER: Ie = Ie {
    id: 4,
    name: "protocolIdentifier",
};
/// `ipClassOfService` (unsigned8).
pub const IP_CLASS_OF_SERVICE: Ie = Ie {
    id: 5,
    name: "ipClassOfService",
};
/// `sourceTransportPort` (unsigned16).
pub const SOURCE_TRANSPORT_PORT: Ie = Ie {
    id: 7,
    name: "sourceTransportPort",
};
/// `sourceIPv4Address` (ipv4Address).
pub const SOURCE_IPV4_ADDRESS: Ie = Ie {
    id: 8,
    name: "sourceIPv4Address",
};
/// `ingressInterface` (unsigned32).
pub const INGRESS_INTERFACE: Ie = Ie {
    id: 10,
    name: "ingressInterface",
};
/// `destinationTransportPort` (unsigned16).
pub const DESTINATION_TRANSPORT_PORT: Ie = Ie {
    id: 11,
    name: "destinationTransportPort",
};
/// `destinationIPv4Address` (ipv4Address).
pub const DESTINATION_IPV4_ADDRESS: Ie = Ie {
    id: 12,
    name: "destinationIPv4Address",
};
/// `egressInterface` (unsigned32).
pub const EGRESS_INTERFACE: Ie = Ie {
    id: 14,
    name: "egressInterface",
};
/// `sourceIPv6Address` (ipv6Address).
pub const SOURCE_IPV6_ADDRESS: Ie = Ie {
    id: 27,
    name: "sourceIPv6Address",
};
/// `destinationIPv6Address` (ipv6Address).
pub const DESTINATION_IPV6_ADDRESS: Ie = Ie {
    id: 28,
    name: "destinationIPv6Address",
};
/// `flowLabelIPv6` (unsigned32).
pub const FLOW_LABEL_IPV6: Ie = Ie {
    id: 31,
    name: "flowLabelIPv6",
};
/// `fragmentIdentification` (unsigned32).
pub const FRAGMENT_IDENTIFICATION: Ie = Ie {
    id: 54,
    name: "fragmentIdentification",
};
/// `sourceMacAddress` (macAddress).
pub const SOURCE_MAC_ADDRESS: Ie = Ie {
    id: 56,
    name: "sourceMacAddress",
};
/// `octetTotalCount` (unsigned64).
pub const OCTET_TOTAL_COUNT: Ie = Ie {
    id: 85,
    name: "octetTotalCount",
};
/// `packetTotalCount` (unsigned64).
pub const PACKET_TOTAL_COUNT: Ie = Ie {
    id: 86,
    name: "packetTotalCount",
};
/// `flowStartSeconds` (dateTimeSeconds).
pub const FLOW_START_SECONDS: Ie = Ie {
    id: 150,
    name: "flowStartSeconds",
};
/// `flowEndSeconds` (dateTimeSeconds).
pub const FLOW_END_SECONDS: Ie = Ie {
    id: 151,
    name: "flowEndSeconds",
};
/// `icmpTypeIPv4` (unsigned8).
pub const ICMP_TYPE_IPV4: Ie = Ie {
    id: 176,
    name: "icmpTypeIPv4",
};
/// `icmpCodeIPv4` (unsigned8).
pub const ICMP_CODE_IPV4: Ie = Ie {
    id: 177,
    name: "icmpCodeIPv4",
};
/// `icmpTypeIPv6` (unsigned8).
pub const ICMP_TYPE_IPV6: Ie = Ie {
    id: 178,
    name: "icmpTypeIPv6",
};
/// `icmpCodeIPv6` (unsigned8).
pub const ICMP_CODE_IPV6: Ie = Ie {
    id: 179,
    name: "icmpCodeIPv6",
};
/// `tcpSequenceNumber` (unsigned32).
pub const TCP_SEQUENCE_NUMBER: Ie = Ie {
    id: 184,
    name: "tcpSequenceNumber",
};
/// `tcpAcknowledgementNumber` (unsigned32).
pub const TCP_ACKNOWLEDGEMENT_NUMBER: Ie = Ie {
    id: 185,
    name: "tcpAcknowledgementNumber",
};
/// `tcpWindowSize` (unsigned16).
pub const TCP_WINDOW_SIZE: Ie = Ie {
    id: 186,
    name: "tcpWindowSize",
};
/// `tcpUrgentPointer` (unsigned16).
pub const TCP_URGENT_POINTER: Ie = Ie {
    id: 187,
    name: "tcpUrgentPointer",
};
/// `ipHeaderLength` (unsigned8).
pub const IP_HEADER_LENGTH: Ie = Ie {
    id: 189,
    name: "ipHeaderLength",
};
/// `totalLengthIPv4` (unsigned16).
pub const TOTAL_LENGTH_IPV4: Ie = Ie {
    id: 190,
    name: "totalLengthIPv4",
};
/// `payloadLengthIPv6` (unsigned16).
pub const PAYLOAD_LENGTH_IPV6: Ie = Ie {
    id: 191,
    name: "payloadLengthIPv6",
};
/// `ipTTL` (unsigned8).
pub const IP_TTL: Ie = Ie {
    id: 192,
    name: "ipTTL",
};
/// `nextHeaderIPv6` (unsigned8).
pub const NEXT_HEADER_IPV6: Ie = Ie {
    id: 193,
    name: "nextHeaderIPv6",
};
/// `postNATSourceIPv4Address` (ipv4Address).
pub const POST_NAT_SOURCE_IPV4_ADDRESS: Ie = Ie {
    id: 225,
    name: "postNATSourceIPv4Address",
};
/// `postNATDestinationIPv4Address` (ipv4Address).
pub const POST_NAT_DESTINATION_IPV4_ADDRESS: Ie = Ie {
    id: 226,
    name: "postNATDestinationIPv4Address",
};
/// `postNAPTSourceTransportPort` (unsigned16).
pub const POST_NAPT_SOURCE_TRANSPORT_PORT: Ie = Ie {
    id: 227,
    name: "postNAPTSourceTransportPort",
};
/// `postNAPTDestinationTransportPort` (unsigned16).
pub const POST_NAPT_DESTINATION_TRANSPORT_PORT: Ie = Ie {
    id: 228,
    name: "postNAPTDestinationTransportPort",
};
/// `dot1qVlanId` (unsigned16).
pub const DOT1Q_VLAN_ID: Ie = Ie {
    id: 243,
    name: "dot1qVlanId",
};
/// `dot1qPriority` (unsigned8).
pub const DOT1Q_PRIORITY: Ie = Ie {
    id: 244,
    name: "dot1qPriority",
};
