//! `ct.*`: conntrack entry fields, produced by NFCT (`ct.mark`, `ct.id`, `ct.event`,
//! `ct.zone`, `ct.labels`), by NFLOG/NFQ with `attach_conntrack` and by IPFIXCOL.
//! The `ct.orig.*` / `ct.reply.*` tuple of an attached entry is named apart from
//! NFCT's `orig.*` / `reply.*` so that it never shadows them.

use std::net::IpAddr;

use super::{family, Def, Raw};

family! {
    /// `ct.id`: conntrack id.
    ID: u32 = Def::new("ct.id").netfilter(6);
    /// `ct.mark`: connection mark.
    MARK: u32 = Def::new("ct.mark").netfilter(4);
    /// `ct.info`: `IP_CT_*` state of the packet.
    INFO: u32 = Def::new("ct.info");
    /// `ct.zone`: conntrack zone.
    ZONE: u16 = Def::new("ct.zone");
    /// `ct.status`: `IPS_*` status bits.
    STATUS: u32 = Def::new("ct.status");
    /// `ct.tcp.state`: `TCP_CONNTRACK_*` state of a TCP entry (NFCT).
    TCP_STATE: u8 = Def::new("ct.tcp.state");
    /// `ct.timeout`: seconds the entry has left (NFCT).
    TIMEOUT: u32 = Def::new("ct.timeout");
    /// `ct.proto`: layer-4 protocol of the attached entry.
    PROTO: u8 = Def::new("ct.proto");
    /// `ct.orig.saddr`.
    ORIG_SADDR: IpAddr = Def::new("ct.orig.saddr");
    /// `ct.orig.daddr`.
    ORIG_DADDR: IpAddr = Def::new("ct.orig.daddr");
    /// `ct.orig.sport`.
    ORIG_SPORT: u16 = Def::new("ct.orig.sport");
    /// `ct.orig.dport`.
    ORIG_DPORT: u16 = Def::new("ct.orig.dport");
    /// `ct.reply.saddr`.
    REPLY_SADDR: IpAddr = Def::new("ct.reply.saddr");
    /// `ct.reply.daddr`.
    REPLY_DADDR: IpAddr = Def::new("ct.reply.daddr");
    /// `ct.reply.sport`.
    REPLY_SPORT: u16 = Def::new("ct.reply.sport");
    /// `ct.reply.dport`.
    REPLY_DPORT: u16 = Def::new("ct.reply.dport");
    /// `ct.event`: 1 new, 2 update, 4 destroy (ulogd2's `NFCT_T_*`).
    EVENT: u32 = Def::new("ct.event");
    /// `ct.labels`: the connlabel bitmap as the kernel sends it.
    LABELS: Raw = Def::new("ct.labels");
}
