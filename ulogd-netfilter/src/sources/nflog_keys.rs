//! The output keys of NFLOG, shared by every source that stands for it (NFLOG, NFQ,
//! REPLAY of NFLOG captures), in ulogd2's order (`ulogd -i` of 2.0.8) so that
//! wildcard outputs print them as ulogd2 did, and the mapping from a parsed
//! [`NflogRepr`] to them. The keys themselves are the catalogue's `raw.*`, `oob.*`
//! and `ct.*` families (`ulogd_core::catalogue`); this list only picks and orders
//! them. ulogd2's pointer-only keys (`raw`, `ct`) are not carried. With
//! `attach_conntrack=1`, [`fill_ct`] turns `NFULA_CT` into the `ct.*` keys.

use std::net::IpAddr;

use ulogd_core::catalogue::{ct, oob, raw, Raw, Str};
use ulogd_core::Event;

use crate::wire::NflogRepr;

ulogd_core::key_list! {
    /// Typed handles into [`NFLOG_KEYS`].
    pub mod k;
    /// NFLOG's output keys.
    pub static NFLOG_KEYS = {
        RAW_MAC: Raw = raw::MAC,
        RAW_PKT: Raw = raw::PKT,
        RAW_PKTLEN: u32 = raw::PKTLEN,
        RAW_PKTCOUNT: u32 = raw::PKTCOUNT,
        OOB_PREFIX: Str = oob::PREFIX,
        OOB_TIME_SEC: u32 = oob::TIME_SEC,
        OOB_TIME_USEC: u32 = oob::TIME_USEC,
        OOB_MARK: u32 = oob::MARK,
        OOB_IFINDEX_IN: u32 = oob::IFINDEX_IN,
        OOB_IFINDEX_OUT: u32 = oob::IFINDEX_OUT,
        OOB_HOOK: u8 = oob::HOOK,
        RAW_MAC_LEN: u16 = raw::MAC_LEN,
        OOB_SEQ_LOCAL: u32 = oob::SEQ_LOCAL,
        OOB_SEQ_GLOBAL: u32 = oob::SEQ_GLOBAL,
        OOB_FAMILY: u8 = oob::FAMILY,
        OOB_PROTOCOL: u16 = oob::PROTOCOL,
        OOB_UID: u32 = oob::UID,
        OOB_GID: u32 = oob::GID,
        RAW_LABEL: u8 = raw::LABEL,
        RAW_TYPE: u16 = raw::TYPE,
        RAW_MAC_SADDR: Raw = raw::MAC_SADDR,
        RAW_MAC_ADDRLEN: u16 = raw::MAC_ADDRLEN,
        // With attach_conntrack: the packet's conntrack entry (new in ulogd-rs; ulogd2
        // only passed a pointer). Named ct.* so they never shadow NFCT's orig.*/reply.*.
        CT_ID: u32 = ct::ID,
        CT_MARK: u32 = ct::MARK,
        CT_INFO: u32 = ct::INFO,
        CT_ZONE: u16 = ct::ZONE,
        CT_STATUS: u32 = ct::STATUS,
        CT_PROTO: u8 = ct::PROTO,
        CT_ORIG_SADDR: IpAddr = ct::ORIG_SADDR,
        CT_ORIG_DADDR: IpAddr = ct::ORIG_DADDR,
        CT_ORIG_SPORT: u16 = ct::ORIG_SPORT,
        CT_ORIG_DPORT: u16 = ct::ORIG_DPORT,
        CT_REPLY_SADDR: IpAddr = ct::REPLY_SADDR,
        CT_REPLY_DADDR: IpAddr = ct::REPLY_DADDR,
        CT_REPLY_SPORT: u16 = ct::REPLY_SPORT,
        CT_REPLY_DPORT: u16 = ct::REPLY_DPORT,
        // Bridge family: the VLAN tag the kernel took off the frame (new in ulogd-rs).
        OOB_VLAN_ID: u16 = oob::VLAN_ID,
        OOB_VLAN_PRIO: u8 = oob::VLAN_PRIO,
        OOB_VLAN_PROTO: u16 = oob::VLAN_PROTO,
    };
}

/// Sets NFLOG's keys from a parsed message, under exactly ulogd2's conditions:
/// the hardware header only when present, interfaces only when non-zero, uid/gid and
/// sequence numbers only when the kernel sent them, `raw.pktcount` always 1, the mark
/// always (0 when absent), `raw.label` always. `fallback` is the time used when the
/// message has no kernel timestamp (now for a live socket, the record time for replay).
pub fn fill_from_repr(ev: &mut Event<'_>, r: &NflogRepr<'_>, fallback: (u32, u32), label: u8) {
    if let Some(v) = r.vlan {
        if let Some(tci) = v.tci {
            ev.set(k::OOB_VLAN_ID, tci & 0x0fff);
            ev.set(k::OOB_VLAN_PRIO, (tci >> 13) as u8);
        }
        ev.set_some(k::OOB_VLAN_PROTO, v.proto);
    }
    if let Some(h) = r.packet_hdr {
        ev.set(k::OOB_HOOK, h.hook);
        ev.set(k::OOB_PROTOCOL, h.hw_protocol);
    }
    // ulogd2 tests NFULA_HWLEN (nflog_get_msg_packet_hwhdrlen), and then sets
    // raw.type from NFULA_HWTYPE (0 when absent).
    let hwlen = r
        .hwlen
        .or_else(|| {
            r.hwheader
                .map(|h| h.len().min(usize::from(u16::MAX)) as u16)
        })
        .unwrap_or(0);
    if hwlen > 0 {
        if let Some(hdr) = r.hwheader {
            ev.set(k::RAW_MAC, hdr);
        }
        ev.set(k::RAW_MAC_LEN, hwlen);
        ev.set(k::RAW_TYPE, r.hwtype.unwrap_or(0));
    }
    if let Some(hw) = r.hwaddr {
        let n = (hw.addr_len as usize).min(hw.addr.len());
        ev.set(k::RAW_MAC_SADDR, &hw.addr[..n]);
        ev.set(k::RAW_MAC_ADDRLEN, hw.addr_len);
    }
    if let Some(p) = r.payload {
        ev.set(k::RAW_PKT, p);
        ev.set(k::RAW_PKTLEN, p.len() as u32);
    }
    ev.set(k::RAW_PKTCOUNT, 1);
    if let Some(p) = r.prefix {
        ev.set(k::OOB_PREFIX, p);
    }
    let (sec, usec) = match r.timestamp {
        // ulogd2 trusts the kernel time unless its seconds are 0.
        Some(t) if t.sec != 0 => (t.sec as u32, t.usec as u32),
        _ => fallback,
    };
    ev.set(k::OOB_TIME_SEC, sec);
    ev.set(k::OOB_TIME_USEC, usec);
    ev.set(k::OOB_MARK, r.mark.unwrap_or(0));
    if let Some(i) = r.indev.filter(|&i| i > 0) {
        ev.set(k::OOB_IFINDEX_IN, i);
    }
    if let Some(i) = r.outdev.filter(|&i| i > 0) {
        ev.set(k::OOB_IFINDEX_OUT, i);
    }
    if let Some(u) = r.uid {
        ev.set(k::OOB_UID, u);
    }
    if let Some(g) = r.gid {
        ev.set(k::OOB_GID, g);
    }
    if let Some(s) = r.seq {
        ev.set(k::OOB_SEQ_LOCAL, s);
    }
    if let Some(s) = r.seq_global {
        ev.set(k::OOB_SEQ_GLOBAL, s);
    }
    ev.set(k::OOB_FAMILY, r.family);
    ev.set(k::RAW_LABEL, label);
}

/// The current wall-clock time as (seconds, microseconds).
pub fn now() -> (u32, u32) {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_secs() as u32, d.subsec_micros())
}

/// With `attach_conntrack`: sets the `ct.*` keys from the message's NFULA_CT and
/// NFULA_CT_INFO attributes. `order` is the byte order of the nested attribute headers
/// (native for a live socket, the capturing host's for a pcap record). A malformed
/// conntrack attribute leaves the `ct.*` keys unset and returns false (counted by the
/// caller); the packet keys are kept.
pub fn fill_ct(ev: &mut Event<'_>, r: &NflogRepr<'_>, order: crate::wire::ByteOrder) -> bool {
    use crate::wire::ctnetlink::{CtEvent, CtRepr};
    if let Some(info) = r.ct_info {
        ev.set(k::CT_INFO, info);
    }
    let Some(ct) = r.ct else { return true };
    let Ok(c) = CtRepr::parse_attrs_with_order(r.family, CtEvent::Get, ct, order) else {
        return false;
    };
    ev.set_some(k::CT_ID, c.id);
    ev.set_some(k::CT_MARK, c.mark);
    ev.set_some(k::CT_ZONE, c.zone);
    ev.set_some(k::CT_STATUS, c.status);
    let dirs = [
        (
            c.orig,
            [k::CT_ORIG_SADDR, k::CT_ORIG_DADDR],
            [k::CT_ORIG_SPORT, k::CT_ORIG_DPORT],
        ),
        (
            c.reply,
            [k::CT_REPLY_SADDR, k::CT_REPLY_DADDR],
            [k::CT_REPLY_SPORT, k::CT_REPLY_DPORT],
        ),
    ];
    for (t, [saddr, daddr], [sport, dport]) in dirs {
        let Some(t) = t else { continue };
        ev.set_some(saddr, t.src);
        ev.set_some(daddr, t.dst);
        ev.set_some(sport, t.sport);
        ev.set_some(dport, t.dport);
        ev.set_some(k::CT_PROTO, t.proto);
    }
    true
}
