//! `oob.*`: out-of-band packet metadata, produced by NFLOG, NFQ and REPLAY (and
//! `oob.family`/`oob.protocol` by NFCT), read by BASE, IFINDEX, the address filters,
//! PRINTPKT and the outputs.
//!
//! `oob.time.sec` carries `flowStartSeconds` as in ulogd2; `oob.time.usec` carries no
//! element: it is a sub-second fraction, not the 64-bit `dateTimeMicroseconds` of
//! `flowStartMicroseconds` (154) that ulogd2 annotated it with (the IPFIX exporter
//! finds both by name).

use super::{family, ie, Def, Str};

family! {
    /// `oob.prefix`: the log prefix of the rule.
    PREFIX: Str = Def::new("oob.prefix").netfilter(3);
    /// `oob.time.sec`: packet time, seconds.
    TIME_SEC: u32 = Def::new("oob.time.sec").ie(ie::FLOW_START_SECONDS);
    /// `oob.time.usec`: packet time, microseconds within the second.
    TIME_USEC: u32 = Def::new("oob.time.usec");
    /// `oob.mark`: packet mark.
    MARK: u32 = Def::new("oob.mark").netfilter(4);
    /// `oob.ifindex_in`: input interface index.
    IFINDEX_IN: u32 = Def::new("oob.ifindex_in").ie(ie::INGRESS_INTERFACE);
    /// `oob.ifindex_out`: output interface index.
    IFINDEX_OUT: u32 = Def::new("oob.ifindex_out").ie(ie::EGRESS_INTERFACE);
    /// `oob.hook`: netfilter hook number.
    HOOK: u8 = Def::new("oob.hook").netfilter(5);
    /// `oob.seq.local`: per-group sequence number.
    SEQ_LOCAL: u32 = Def::new("oob.seq.local").netfilter(7);
    /// `oob.seq.global`: global sequence number.
    SEQ_GLOBAL: u32 = Def::new("oob.seq.global").netfilter(8);
    /// `oob.family`: nfgen family (2 IPv4, 10 IPv6, 7 bridge).
    FAMILY: u8 = Def::new("oob.family");
    /// `oob.protocol`: hardware protocol (ethertype).
    PROTOCOL: u16 = Def::new("oob.protocol");
    /// `oob.uid`: socket owner uid.
    UID: u32 = Def::new("oob.uid");
    /// `oob.gid`: socket owner gid.
    GID: u32 = Def::new("oob.gid");
    /// `oob.vlan.id`: the 802.1Q VLAN id the kernel took off the frame (NFLOG of the
    /// bridge family, `NFULA_VLAN`).
    VLAN_ID: u16 = Def::new("oob.vlan.id").ie(ie::DOT1Q_VLAN_ID);
    /// `oob.vlan.prio`: its priority (PCP) bits.
    VLAN_PRIO: u8 = Def::new("oob.vlan.prio").ie(ie::DOT1Q_PRIORITY);
    /// `oob.vlan.proto`: its tag protocol (0x8100 802.1Q, 0x88a8 802.1ad).
    VLAN_PROTO: u16 = Def::new("oob.vlan.proto");
}
