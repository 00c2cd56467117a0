//! The output keys of NFCT, in ulogd2 2.0.8's order (`ulogd -i` of NFCT) so that
//! wildcard outputs print them as ulogd2 did, followed by the keys ulogd2 lacks:
//!
//! - `icmpv6.type` / `icmpv6.code` (ICMPv6 flows; ulogd2 2.0.8 had none),
//! - `ct.zone` (set when the entry is in a non-default zone) and `ct.labels` (the raw
//!   connlabel bitmap as the kernel sends it, an array of host-order longs, set when
//!   the entry has labels; the kernel leaves them out of DESTROY events, so flow ends
//!   carry them in hash mode, from the cache, but not with `hash_enable=0`),
//! - NAT made explicit, derived from the reply tuple: `nat.src` is true when the
//!   source was translated (the reply goes to another address or port than the
//!   original source), and then `nat.ip.saddr` / `nat.l4.sport` hold the post-NAT
//!   source (the reply tuple's destination); `nat.dst` is true when the destination
//!   was translated, with `nat.ip.daddr` / `nat.l4.dport` the real destination (the
//!   reply tuple's source). Flows without translation leave all six unset, so their
//!   records print exactly as ulogd2's.
//!
//! Counters are 64-bit (`orig.raw.pktlen` is bytes, `orig.raw.pktcount` packets, as in
//! ulogd2) and read 0 when the kernel sends none (`nf_conntrack_acct=0`), as ulogd2.
//! `oob.protocol` is always 0, as in ulogd2 (kept for drop-in outputs), but typed u16 like
//! NFLOG's so that IP2STR binds to it (ulogd2 declared u8 and did not check). ulogd2's
//! pointer-only `ct` key is not carried.
//!
//! The keys themselves, with their IPFIX annotations, are declared once in the
//! catalogue (`ulogd_core::catalogue::{flow, ct, oob, packet}`), shared with
//! IPFIXCOL and the benches; this list only picks and orders them.

use std::net::IpAddr;

use ulogd_core::catalogue::{ct, flow, oob, packet, Key, Raw};
use ulogd_core::Event;

use crate::wire::{CtCounters, CtRepr, TupleRepr};

/// `ct.event` value of a new flow (ulogd2's `NFCT_T_NEW`).
pub const CT_EVENT_NEW: u32 = 1;
/// `ct.event` value of an update and of a SIGUSR2 dump (`NFCT_T_UPDATE`).
pub const CT_EVENT_UPDATE: u32 = 2;
/// `ct.event` value of a flow end (`NFCT_T_DESTROY`).
pub const CT_EVENT_DESTROY: u32 = 4;

ulogd_core::key_list! {
    /// Typed handles into [`NFCT_KEYS`].
    pub mod k;
    /// Every NFCT output key, indexed by [`k`].
    pub static NFCT_KEYS = {
        ORIG_IP_SADDR: IpAddr = flow::ORIG_IP_SADDR,
        ORIG_IP_DADDR: IpAddr = flow::ORIG_IP_DADDR,
        ORIG_IP_PROTOCOL: u8 = flow::ORIG_IP_PROTOCOL,
        ORIG_L4_SPORT: u16 = flow::ORIG_L4_SPORT,
        ORIG_L4_DPORT: u16 = flow::ORIG_L4_DPORT,
        ORIG_RAW_PKTLEN: u64 = flow::ORIG_RAW_PKTLEN,
        ORIG_RAW_PKTCOUNT: u64 = flow::ORIG_RAW_PKTCOUNT,
        REPLY_IP_SADDR: IpAddr = flow::REPLY_IP_SADDR,
        REPLY_IP_DADDR: IpAddr = flow::REPLY_IP_DADDR,
        REPLY_IP_PROTOCOL: u8 = flow::REPLY_IP_PROTOCOL,
        REPLY_L4_SPORT: u16 = flow::REPLY_L4_SPORT,
        REPLY_L4_DPORT: u16 = flow::REPLY_L4_DPORT,
        REPLY_RAW_PKTLEN: u64 = flow::REPLY_RAW_PKTLEN,
        REPLY_RAW_PKTCOUNT: u64 = flow::REPLY_RAW_PKTCOUNT,
        ICMP_CODE: u8 = packet::ICMP_CODE,
        ICMP_TYPE: u8 = packet::ICMP_TYPE,
        CT_MARK: u32 = ct::MARK,
        CT_ID: u32 = ct::ID,
        CT_EVENT: u32 = ct::EVENT,
        FLOW_START_SEC: u32 = flow::START_SEC,
        FLOW_START_USEC: u32 = flow::START_USEC,
        FLOW_END_SEC: u32 = flow::END_SEC,
        FLOW_END_USEC: u32 = flow::END_USEC,
        OOB_FAMILY: u8 = oob::FAMILY,
        OOB_PROTOCOL: u16 = oob::PROTOCOL,
        ICMPV6_TYPE: u8 = packet::ICMPV6_TYPE,
        ICMPV6_CODE: u8 = packet::ICMPV6_CODE,
        CT_ZONE: u16 = ct::ZONE,
        CT_LABELS: Raw = ct::LABELS,
        NAT_SRC: bool = flow::NAT_SRC,
        NAT_IP_SADDR: IpAddr = flow::NAT_IP_SADDR,
        NAT_L4_SPORT: u16 = flow::NAT_L4_SPORT,
        NAT_DST: bool = flow::NAT_DST,
        NAT_IP_DADDR: IpAddr = flow::NAT_IP_DADDR,
        NAT_L4_DPORT: u16 = flow::NAT_L4_DPORT,
        // The entry's status bits, TCP state and time left (what XML's <meta> shows
        // as libnetfilter_conntrack prints it; new in ulogd-rs).
        CT_STATUS: u32 = ct::STATUS,
        CT_TCP_STATE: u8 = ct::TCP_STATE,
        CT_TIMEOUT: u32 = ct::TIMEOUT,
    };
}

/// Largest connlabel bitmap kept (`NF_CT_LABELS_MAX_SIZE`: 128 bits).
pub const LABELS_MAX: usize = 16;

/// A time as (seconds, microseconds) since the epoch, as the keys carry it.
pub type Ts = (u32, u32);

/// Converts kernel nanoseconds since the epoch.
pub fn ns_to_ts(ns: u64) -> Ts {
    (
        (ns / 1_000_000_000) as u32,
        ((ns % 1_000_000_000) / 1000) as u32,
    )
}

/// The owned part of a conntrack message that records are made of: what the flow
/// cache keeps between NEW and DESTROY and what a vanished flow is emitted from.
/// `Copy`, no heap: taking one per event allocates nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct CtFlow {
    /// `AF_INET` or `AF_INET6`.
    pub family: u8,
    /// Original-direction tuple.
    pub orig: TupleRepr,
    /// Reply-direction tuple.
    pub reply: TupleRepr,
    /// `CTA_MARK` (0 when absent).
    pub mark: u32,
    /// `CTA_ID` (0 when absent).
    pub id: u32,
    /// `CTA_STATUS` (0 when absent).
    pub status: u32,
    /// `CTA_ZONE`, or the original tuple's zone.
    pub zone: Option<u16>,
    /// Original-direction counters (zero when absent).
    pub counters_orig: CtCounters,
    /// Reply-direction counters.
    pub counters_reply: CtCounters,
    /// Connlabel bitmap, `labels_len` bytes of it.
    pub labels: [u8; LABELS_MAX],
    /// Bytes of `labels` in use (0: no labels).
    pub labels_len: u8,
    /// Kernel start time in ns (`nf_conntrack_timestamp`).
    pub kstart: Option<u64>,
    /// Kernel stop time in ns (DESTROY with `nf_conntrack_timestamp`).
    pub kstop: Option<u64>,
    /// `CTA_PROTOINFO_TCP_STATE` of a TCP entry.
    pub tcp_state: Option<u8>,
    /// `CTA_TIMEOUT`: seconds left.
    pub timeout: Option<u32>,
}

impl CtFlow {
    /// Copies what records need out of a parsed message.
    pub fn from_repr(r: &CtRepr<'_>) -> CtFlow {
        let mut f = CtFlow {
            family: r.family,
            orig: r.orig.unwrap_or_default(),
            reply: r.reply.unwrap_or_default(),
            mark: r.mark.unwrap_or(0),
            id: r.id.unwrap_or(0),
            status: r.status.unwrap_or(0),
            tcp_state: r.tcp_state(),
            timeout: r.timeout,
            zone: r.zone.or(r.orig.and_then(|t| t.zone)),
            counters_orig: r.counters_orig.unwrap_or_default(),
            counters_reply: r.counters_reply.unwrap_or_default(),
            kstart: r.timestamp_start.filter(|&t| t != 0),
            kstop: r.timestamp_stop.filter(|&t| t != 0),
            ..CtFlow::default()
        };
        if let Some(l) = r.labels {
            let n = l.len().min(LABELS_MAX);
            f.labels[..n].copy_from_slice(&l[..n]);
            f.labels_len = n as u8;
        }
        f
    }

    /// Takes newer state from `newer` (an UPDATE or a dump entry of the same flow),
    /// keeping what `newer` lacks.
    pub fn update_from(&mut self, newer: &CtFlow) {
        let kstart = self.kstart;
        let old_counters = (self.counters_orig, self.counters_reply);
        let old_labels = (self.labels, self.labels_len);
        *self = *newer;
        if self.kstart.is_none() {
            self.kstart = kstart;
        }
        // The kernel sends labels only with NEW/UPDATE events that change them,
        // never with DESTROY: keep the last known ones.
        if self.labels_len == 0 {
            (self.labels, self.labels_len) = old_labels;
        }
        // Events without counters (UPDATEs of some kernels) keep the last known ones.
        if newer.counters_orig == CtCounters::default()
            && newer.counters_reply == CtCounters::default()
        {
            (self.counters_orig, self.counters_reply) = old_counters;
        }
    }

    /// Whether the source was translated: (post-NAT address, post-NAT port).
    pub fn snat(&self) -> Option<(Option<IpAddr>, Option<u16>)> {
        let (o, r) = (&self.orig, &self.reply);
        let addr = r.dst.is_some() && r.dst != o.src;
        let port = r.dport.is_some() && r.dport != o.sport;
        (addr || port).then_some((r.dst, r.dport))
    }

    /// Whether the destination was translated: (real address, real port).
    pub fn dnat(&self) -> Option<(Option<IpAddr>, Option<u16>)> {
        let (o, r) = (&self.orig, &self.reply);
        let addr = r.src.is_some() && r.src != o.dst;
        let port = r.sport.is_some() && r.sport != o.dport;
        (addr || port).then_some((r.src, r.sport))
    }
}

/// Handles of one direction's tuple keys.
struct TupleKeys {
    saddr: Key<IpAddr>,
    daddr: Key<IpAddr>,
    proto: Key<u8>,
    sport: Key<u16>,
    dport: Key<u16>,
}

const ORIG: TupleKeys = TupleKeys {
    saddr: k::ORIG_IP_SADDR,
    daddr: k::ORIG_IP_DADDR,
    proto: k::ORIG_IP_PROTOCOL,
    sport: k::ORIG_L4_SPORT,
    dport: k::ORIG_L4_DPORT,
};
const REPLY: TupleKeys = TupleKeys {
    saddr: k::REPLY_IP_SADDR,
    daddr: k::REPLY_IP_DADDR,
    proto: k::REPLY_IP_PROTOCOL,
    sport: k::REPLY_L4_SPORT,
    dport: k::REPLY_L4_DPORT,
};

fn set_tuple(ev: &mut Event<'_>, t: &TupleRepr, keys: &TupleKeys) {
    ev.set_some(keys.saddr, t.src);
    ev.set_some(keys.daddr, t.dst);
    ev.set(keys.proto, t.proto.unwrap_or(0));
    ev.set_some(keys.sport, t.sport);
    ev.set_some(keys.dport, t.dport);
}

/// Writes one flow record into `ev`'s NFCT outputs. `event` is the `ct.event` value;
/// `start` / `end` the flow times when known.
pub fn fill(ev: &mut Event<'_>, f: &CtFlow, event: u32, start: Option<Ts>, end: Option<Ts>) {
    set_tuple(ev, &f.orig, &ORIG);
    ev.set(k::ORIG_RAW_PKTLEN, f.counters_orig.bytes);
    ev.set(k::ORIG_RAW_PKTCOUNT, f.counters_orig.packets);
    set_tuple(ev, &f.reply, &REPLY);
    ev.set(k::REPLY_RAW_PKTLEN, f.counters_reply.bytes);
    ev.set(k::REPLY_RAW_PKTCOUNT, f.counters_reply.packets);
    if let Some(t) = f.orig.icmp_type {
        ev.set(k::ICMP_TYPE, t);
        ev.set(k::ICMP_CODE, f.orig.icmp_code.unwrap_or(0));
    }
    if let Some(t) = f.orig.icmpv6_type {
        ev.set(k::ICMPV6_TYPE, t);
        ev.set(k::ICMPV6_CODE, f.orig.icmpv6_code.unwrap_or(0));
    }
    ev.set(k::CT_MARK, f.mark);
    ev.set(k::CT_ID, f.id);
    ev.set(k::CT_EVENT, event);
    if let Some((s, u)) = start {
        ev.set(k::FLOW_START_SEC, s);
        ev.set(k::FLOW_START_USEC, u);
    }
    if let Some((s, u)) = end {
        ev.set(k::FLOW_END_SEC, s);
        ev.set(k::FLOW_END_USEC, u);
    }
    ev.set(k::OOB_FAMILY, f.family);
    ev.set(k::OOB_PROTOCOL, 0);
    ev.set_some(k::CT_ZONE, f.zone.filter(|&z| z != 0));
    if f.status != 0 {
        ev.set(k::CT_STATUS, f.status);
    }
    ev.set_some(k::CT_TCP_STATE, f.tcp_state);
    ev.set_some(k::CT_TIMEOUT, f.timeout);
    if f.labels_len > 0 {
        ev.set(k::CT_LABELS, &f.labels[..f.labels_len as usize]);
    }
    if let Some((a, p)) = f.snat() {
        ev.set(k::NAT_SRC, true);
        ev.set_some(k::NAT_IP_SADDR, a);
        ev.set_some(k::NAT_L4_SPORT, p);
    }
    if let Some((a, p)) = f.dnat() {
        ev.set(k::NAT_DST, true);
        ev.set_some(k::NAT_IP_DADDR, a);
        ev.set_some(k::NAT_L4_DPORT, p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::CtEvent;

    fn t(s: &str, d: &str, sp: u16, dp: u16) -> TupleRepr {
        TupleRepr {
            src: Some(s.parse().unwrap()),
            dst: Some(d.parse().unwrap()),
            proto: Some(6),
            sport: Some(sp),
            dport: Some(dp),
            ..TupleRepr::default()
        }
    }

    #[test]
    fn key_table_matches_positions() {
        assert_eq!(NFCT_KEYS.len(), k::CT_TIMEOUT.pos() + 1);
        assert_eq!(NFCT_KEYS[k::CT_TCP_STATE.pos()].name, "ct.tcp.state");
        assert_eq!(NFCT_KEYS[k::CT_EVENT.pos()].name, "ct.event");
        assert_eq!(NFCT_KEYS[k::OOB_PROTOCOL.pos()].name, "oob.protocol");
        assert_eq!(NFCT_KEYS[k::ICMP_TYPE.pos()].name, "icmp.type");
        assert_eq!(NFCT_KEYS[k::NAT_IP_DADDR.pos()].name, "nat.ip.daddr");
        assert_eq!(NFCT_KEYS[k::FLOW_END_SEC.pos()].ipfix.unwrap().id, 151);
        assert_eq!(NFCT_KEYS[k::ORIG_RAW_PKTLEN.pos()].ipfix.unwrap().id, 85);
    }

    #[test]
    fn nat_is_derived_from_the_reply_tuple() {
        let plain = CtFlow {
            orig: t("10.0.0.1", "10.0.0.2", 40000, 80),
            reply: t("10.0.0.2", "10.0.0.1", 80, 40000),
            ..CtFlow::default()
        };
        assert_eq!((plain.snat(), plain.dnat()), (None, None));
        let snat = CtFlow {
            orig: t("10.0.0.1", "10.0.0.2", 40000, 80),
            reply: t("10.0.0.2", "192.0.2.1", 80, 61000),
            ..CtFlow::default()
        };
        assert_eq!(
            snat.snat(),
            Some((Some("192.0.2.1".parse().unwrap()), Some(61000)))
        );
        assert_eq!(snat.dnat(), None);
        let dnat = CtFlow {
            orig: t("10.0.0.1", "192.0.2.1", 40000, 80),
            reply: t("10.0.0.9", "10.0.0.1", 8080, 40000),
            ..CtFlow::default()
        };
        assert_eq!(snat.dnat(), None);
        assert_eq!(
            dnat.dnat(),
            Some((Some("10.0.0.9".parse().unwrap()), Some(8080)))
        );
    }

    #[test]
    fn update_keeps_kernel_start_and_counters_when_missing() {
        let mut a = CtFlow::from_repr(&CtRepr {
            family: 2,
            event: CtEvent::New,
            timestamp_start: Some(5_000_000_123_000),
            labels: Some(&[8, 0, 0, 0, 0, 0, 0, 0]),
            counters_orig: Some(CtCounters {
                packets: 3,
                bytes: 180,
            }),
            ..CtRepr::default()
        });
        let b = CtFlow::from_repr(&CtRepr {
            family: 2,
            event: CtEvent::Update,
            mark: Some(7),
            ..CtRepr::default()
        });
        a.update_from(&b);
        assert_eq!(a.mark, 7);
        assert_eq!(a.kstart, Some(5_000_000_123_000));
        assert_eq!(a.counters_orig.packets, 3);
        assert_eq!((a.labels_len, a.labels[0]), (8, 8));
        assert_eq!(ns_to_ts(5_000_000_123_000), (5000, 123));
    }

    #[test]
    fn labels_are_bounded() {
        let big = [0xffu8; 40];
        let f = CtFlow::from_repr(&CtRepr {
            labels: Some(&big),
            ..CtRepr::default()
        });
        assert_eq!(f.labels_len as usize, LABELS_MAX);
    }
}
