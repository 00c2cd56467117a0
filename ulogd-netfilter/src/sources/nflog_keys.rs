//! The output keys of NFLOG, shared by every source that stands for it (NFLOG, REPLAY
//! of NFLOG captures, later NFQUEUE), in ulogd2's order (`ulogd -i` of 2.0.8) so that
//! wildcard outputs print them as ulogd2 did. ulogd2's pointer-only keys (`raw`, `ct`)
//! are not carried. `NFULA_CT` (`attach_conntrack=1`) is parsed by the wire layer
//! ([`NflogRepr::ct`]) but not turned into keys yet: that comes with the conntrack
//! decoder.

use ulogd_core::{Event, KeyDef, KeyType, PEN_NETFILTER};

use crate::wire::NflogRepr;

/// Positions in [`NFLOG_KEYS`].
#[allow(missing_docs)]
pub mod k {
    pub const RAW_MAC: usize = 0;
    pub const RAW_PKT: usize = 1;
    pub const RAW_PKTLEN: usize = 2;
    pub const RAW_PKTCOUNT: usize = 3;
    pub const OOB_PREFIX: usize = 4;
    pub const OOB_TIME_SEC: usize = 5;
    pub const OOB_TIME_USEC: usize = 6;
    pub const OOB_MARK: usize = 7;
    pub const OOB_IFINDEX_IN: usize = 8;
    pub const OOB_IFINDEX_OUT: usize = 9;
    pub const OOB_HOOK: usize = 10;
    pub const RAW_MAC_LEN: usize = 11;
    pub const OOB_SEQ_LOCAL: usize = 12;
    pub const OOB_SEQ_GLOBAL: usize = 13;
    pub const OOB_FAMILY: usize = 14;
    pub const OOB_PROTOCOL: usize = 15;
    pub const OOB_UID: usize = 16;
    pub const OOB_GID: usize = 17;
    pub const RAW_LABEL: usize = 18;
    pub const RAW_TYPE: usize = 19;
    pub const RAW_MAC_SADDR: usize = 20;
    pub const RAW_MAC_ADDRLEN: usize = 21;
    pub const CT_ID: usize = 22;
    pub const CT_MARK: usize = 23;
    pub const CT_INFO: usize = 24;
    pub const CT_ZONE: usize = 25;
    pub const CT_STATUS: usize = 26;
    pub const CT_PROTO: usize = 27;
    pub const CT_ORIG_SADDR: usize = 28;
    pub const CT_ORIG_DADDR: usize = 29;
    pub const CT_ORIG_SPORT: usize = 30;
    pub const CT_ORIG_DPORT: usize = 31;
    pub const CT_REPLY_SADDR: usize = 32;
    pub const CT_REPLY_DADDR: usize = 33;
    pub const CT_REPLY_SPORT: usize = 34;
    pub const CT_REPLY_DPORT: usize = 35;
}

/// NFLOG's output keys.
pub static NFLOG_KEYS: &[KeyDef] = &[
    KeyDef::new("raw.mac", KeyType::Raw),
    KeyDef::new("raw.pkt", KeyType::Raw).ipfix(PEN_NETFILTER, 1),
    KeyDef::new("raw.pktlen", KeyType::U32).ipfix(PEN_NETFILTER, 2),
    KeyDef::new("raw.pktcount", KeyType::U32).ietf(2),
    KeyDef::new("oob.prefix", KeyType::String).ipfix(PEN_NETFILTER, 3),
    KeyDef::new("oob.time.sec", KeyType::U32).ietf(150),
    KeyDef::new("oob.time.usec", KeyType::U32).ietf(154),
    KeyDef::new("oob.mark", KeyType::U32).ipfix(PEN_NETFILTER, 4),
    KeyDef::new("oob.ifindex_in", KeyType::U32).ietf(10),
    KeyDef::new("oob.ifindex_out", KeyType::U32).ietf(14),
    KeyDef::new("oob.hook", KeyType::U8).ipfix(PEN_NETFILTER, 5),
    KeyDef::new("raw.mac_len", KeyType::U16),
    KeyDef::new("oob.seq.local", KeyType::U32).ipfix(PEN_NETFILTER, 7),
    KeyDef::new("oob.seq.global", KeyType::U32).ipfix(PEN_NETFILTER, 8),
    KeyDef::new("oob.family", KeyType::U8),
    KeyDef::new("oob.protocol", KeyType::U16),
    KeyDef::new("oob.uid", KeyType::U32),
    KeyDef::new("oob.gid", KeyType::U32),
    KeyDef::new("raw.label", KeyType::U8),
    KeyDef::new("raw.type", KeyType::U16),
    KeyDef::new("raw.mac.saddr", KeyType::Raw).ietf(56),
    KeyDef::new("raw.mac.addrlen", KeyType::U16),
    // With attach_conntrack: the packet's conntrack entry (new in ulogd-rs; ulogd2 only
    // passed a pointer). Named ct.* so they never shadow NFCT's orig.*/reply.* keys.
    KeyDef::new("ct.id", KeyType::U32).ipfix(PEN_NETFILTER, 6),
    KeyDef::new("ct.mark", KeyType::U32),
    KeyDef::new("ct.info", KeyType::U32),
    KeyDef::new("ct.zone", KeyType::U16),
    KeyDef::new("ct.status", KeyType::U32),
    KeyDef::new("ct.proto", KeyType::U8),
    KeyDef::new("ct.orig.saddr", KeyType::IpAddr),
    KeyDef::new("ct.orig.daddr", KeyType::IpAddr),
    KeyDef::new("ct.orig.sport", KeyType::U16),
    KeyDef::new("ct.orig.dport", KeyType::U16),
    KeyDef::new("ct.reply.saddr", KeyType::IpAddr),
    KeyDef::new("ct.reply.daddr", KeyType::IpAddr),
    KeyDef::new("ct.reply.sport", KeyType::U16),
    KeyDef::new("ct.reply.dport", KeyType::U16),
];

/// Sets NFLOG's keys from a parsed message, under exactly ulogd2's conditions:
/// the hardware header only when present, interfaces only when non-zero, uid/gid and
/// sequence numbers only when the kernel sent them, `raw.pktcount` always 1, the mark
/// always (0 when absent), `raw.label` always. `fallback` is the time used when the
/// message has no kernel timestamp (now for a live socket, the record time for replay).
pub fn fill_from_repr(ev: &mut Event<'_>, r: &NflogRepr<'_>, fallback: (u32, u32), label: u8) {
    if let Some(h) = r.packet_hdr {
        ev.set_u8(k::OOB_HOOK, h.hook);
        ev.set_u16(k::OOB_PROTOCOL, h.hw_protocol);
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
            ev.set_bytes(k::RAW_MAC, hdr);
        }
        ev.set_u16(k::RAW_MAC_LEN, hwlen);
        ev.set_u16(k::RAW_TYPE, r.hwtype.unwrap_or(0));
    }
    if let Some(hw) = r.hwaddr {
        let n = (hw.addr_len as usize).min(hw.addr.len());
        ev.set_bytes(k::RAW_MAC_SADDR, &hw.addr[..n]);
        ev.set_u16(k::RAW_MAC_ADDRLEN, hw.addr_len);
    }
    if let Some(p) = r.payload {
        ev.set_bytes(k::RAW_PKT, p);
        ev.set_u32(k::RAW_PKTLEN, p.len() as u32);
    }
    ev.set_u32(k::RAW_PKTCOUNT, 1);
    if let Some(p) = r.prefix {
        ev.set_bytes(k::OOB_PREFIX, p);
    }
    let (sec, usec) = match r.timestamp {
        // ulogd2 trusts the kernel time unless its seconds are 0.
        Some(t) if t.sec != 0 => (t.sec as u32, t.usec as u32),
        _ => fallback,
    };
    ev.set_u32(k::OOB_TIME_SEC, sec);
    ev.set_u32(k::OOB_TIME_USEC, usec);
    ev.set_u32(k::OOB_MARK, r.mark.unwrap_or(0));
    if let Some(i) = r.indev.filter(|&i| i > 0) {
        ev.set_u32(k::OOB_IFINDEX_IN, i);
    }
    if let Some(i) = r.outdev.filter(|&i| i > 0) {
        ev.set_u32(k::OOB_IFINDEX_OUT, i);
    }
    if let Some(u) = r.uid {
        ev.set_u32(k::OOB_UID, u);
    }
    if let Some(g) = r.gid {
        ev.set_u32(k::OOB_GID, g);
    }
    if let Some(s) = r.seq {
        ev.set_u32(k::OOB_SEQ_LOCAL, s);
    }
    if let Some(s) = r.seq_global {
        ev.set_u32(k::OOB_SEQ_GLOBAL, s);
    }
    ev.set_u8(k::OOB_FAMILY, r.family);
    ev.set_u8(k::RAW_LABEL, label);
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
        ev.set_u32(k::CT_INFO, info);
    }
    let Some(ct) = r.ct else { return true };
    let Ok(c) = CtRepr::parse_attrs_with_order(r.family, CtEvent::Get, ct, order) else {
        return false;
    };
    let put16 = |ev: &mut Event<'_>, o, v: Option<u16>| {
        if let Some(v) = v {
            ev.set_u16(o, v)
        }
    };
    if let Some(v) = c.id {
        ev.set_u32(k::CT_ID, v);
    }
    if let Some(v) = c.mark {
        ev.set_u32(k::CT_MARK, v);
    }
    put16(ev, k::CT_ZONE, c.zone);
    if let Some(v) = c.status {
        ev.set_u32(k::CT_STATUS, v);
    }
    for (t, base) in [(c.orig, k::CT_ORIG_SADDR), (c.reply, k::CT_REPLY_SADDR)] {
        let Some(t) = t else { continue };
        if let Some(a) = t.src {
            ev.set_addr(base, a);
        }
        if let Some(a) = t.dst {
            ev.set_addr(base + 1, a);
        }
        put16(ev, base + 2, t.sport);
        put16(ev, base + 3, t.dport);
        if let Some(p) = t.proto {
            ev.set_u8(k::CT_PROTO, p);
        }
    }
    true
}
