//! Record filling: one decoded data record into the collector's output keys
//! ([`super::OUTPUTS`], addressed by the `O_*` positions of that table), mapping
//! IPFIX / NetFlow v9 elements back to the names the exporters read: the tuple,
//! counters, RFC 5103 reverse counters, flow times (IPFIX milliseconds or seconds,
//! NetFlow v9 sysUptime-relative), the RFC 8158 NAT elements (which rebuild the
//! reply tuple), the netfilter enterprise elements (prefix, mark, hook, ct id).
//!
//! It writes through [`KeySink`], which [`Event`] implements, so it runs (and is
//! unit-tested and fuzzed) without the engine.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ulogd_core::{Event, PEN_NETFILTER, PEN_REVERSE};

use super::super::wire::{read_uint, HeaderRepr, Protocol, RecordView};
use super::{
    O_BYTES, O_CTEVENT, O_CTID, O_CTMARK, O_DADDR, O_DOMAIN, O_DPORT, O_END_SEC, O_END_USEC,
    O_EXPORTER, O_HOOK, O_ICMP_CODE, O_ICMP_TYPE, O_IFIN, O_IFOUT, O_MARK, O_PKTS, O_PREFIX,
    O_PROTO, O_RBYTES, O_RDADDR, O_RDPORT, O_RPKTS, O_RPROTO, O_RSADDR, O_RSPORT, O_SADDR, O_SPORT,
    O_START_SEC, O_START_USEC, O_VERSION,
};

/// Where [`fill`] writes: the setters of [`Event`] it uses, by output position.
pub trait KeySink {
    /// Sets an integer key (any width; the engine narrows to the key's type).
    fn set_u64(&mut self, o: usize, v: u64);
    /// Sets a 32-bit key.
    fn set_u32(&mut self, o: usize, v: u32);
    /// Sets a 16-bit key.
    fn set_u16(&mut self, o: usize, v: u16);
    /// Sets an address key.
    fn set_addr(&mut self, o: usize, v: IpAddr);
    /// Sets a string / bytes key.
    fn set_bytes(&mut self, o: usize, v: &[u8]);
}

impl KeySink for Event<'_> {
    fn set_u64(&mut self, o: usize, v: u64) {
        Event::set_u64(self, o, v)
    }
    fn set_u32(&mut self, o: usize, v: u32) {
        Event::set_u32(self, o, v)
    }
    fn set_u16(&mut self, o: usize, v: u16) {
        Event::set_u16(self, o, v)
    }
    fn set_addr(&mut self, o: usize, v: IpAddr) {
        Event::set_addr(self, o, v)
    }
    fn set_bytes(&mut self, o: usize, v: &[u8]) {
        Event::set_bytes(self, o, v)
    }
}

fn set_addr<K: KeySink + ?Sized>(ev: &mut K, o: usize, b: &[u8]) {
    if let Ok(a) = <[u8; 4]>::try_from(b) {
        ev.set_addr(o, IpAddr::V4(Ipv4Addr::from(a)));
    } else if let Ok(a) = <[u8; 16]>::try_from(b) {
        ev.set_addr(o, IpAddr::V6(Ipv6Addr::from(a)));
    }
}

/// Writes one data record into `ev`: the keys of [`super::OUTPUTS`], by their
/// `O_*` positions.
pub fn fill<K: KeySink + ?Sized>(
    ev: &mut K,
    h: &HeaderRepr,
    peer: SocketAddr,
    rec: &RecordView<'_, '_>,
) {
    let mut flow_like = false;
    let mut mark = None;
    let mut start_ms = None;
    let mut end_ms = None;
    let (mut v9_first, mut v9_last) = (None, None);
    let (mut has_rev, mut nat_src, mut nat_dst) = (false, false, false);
    let (mut nat_sport, mut nat_dport) = (false, false);
    let (mut sa, mut da): (&[u8], &[u8]) = (&[], &[]);
    let (mut sp, mut dp, mut pr) = (None, None, None);
    for (f, v) in rec.fields() {
        let u = read_uint(v);
        let set_u = |ev: &mut K, o: usize| {
            if let Some(x) = u {
                ev.set_u64(o, x)
            }
        };
        match (f.pen, f.id) {
            (0, 8 | 27) => {
                sa = v;
                set_addr(ev, O_SADDR, v)
            }
            (0, 12 | 28) => {
                da = v;
                set_addr(ev, O_DADDR, v)
            }
            (0, 4) => {
                pr = u;
                set_u(ev, O_PROTO)
            }
            (0, 7) => {
                sp = u;
                set_u(ev, O_SPORT)
            }
            (0, 11) => {
                dp = u;
                set_u(ev, O_DPORT)
            }
            (0, 1 | 85) => set_u(ev, O_BYTES),
            (0, 2 | 86) => set_u(ev, O_PKTS),
            (PEN_REVERSE, 1 | 85) => {
                has_rev = true;
                set_u(ev, O_RBYTES)
            }
            (PEN_REVERSE, 2 | 86) => {
                has_rev = true;
                set_u(ev, O_RPKTS)
            }
            (0, 152) => start_ms = u,
            (0, 153) => end_ms = u,
            // Hostile values must not overflow (a panic in debug and fuzz builds).
            (0, 150) => start_ms = u.map(|s| s.saturating_mul(1000)),
            (0, 151) => end_ms = u.map(|s| s.saturating_mul(1000)),
            (0, 22) => v9_first = u,
            (0, 21) => v9_last = u,
            // postNAT source = reply destination; postNAT destination = reply source.
            (0, 225 | 281) => {
                nat_src = true;
                set_addr(ev, O_RDADDR, v)
            }
            (0, 226 | 282) => {
                nat_dst = true;
                set_addr(ev, O_RSADDR, v)
            }
            (0, 227) => {
                nat_sport = true;
                set_u(ev, O_RDPORT)
            }
            (0, 228) => {
                nat_dport = true;
                set_u(ev, O_RSPORT)
            }
            (0, 230) => {
                flow_like = true;
                // RFC 8158 (and the historic 1/2): create → NEW, delete → DESTROY.
                match u {
                    Some(1 | 4 | 6 | 8 | 10) => ev.set_u32(O_CTEVENT, 1),
                    Some(2 | 5 | 7 | 9 | 11) => ev.set_u32(O_CTEVENT, 4),
                    _ => {}
                }
            }
            (0, 10) => set_u(ev, O_IFIN),
            (0, 14) => set_u(ev, O_IFOUT),
            (0, 176 | 178) => set_u(ev, O_ICMP_TYPE),
            (0, 177 | 179) => set_u(ev, O_ICMP_CODE),
            (PEN_NETFILTER, 3) => {
                let s = &v[..v.iter().position(|&c| c == 0).unwrap_or(v.len())];
                ev.set_bytes(O_PREFIX, s)
            }
            (PEN_NETFILTER, 4) => mark = u,
            (PEN_NETFILTER, 5) => set_u(ev, O_HOOK),
            (PEN_NETFILTER, 6) => {
                flow_like = true;
                set_u(ev, O_CTID)
            }
            _ => {}
        }
    }
    if h.protocol == Protocol::V9 {
        // NetFlow v9 FIRST/LAST_SWITCHED are sysUptime milliseconds.
        let boot_ms = (h.export_time as u64 * 1000).saturating_sub(h.sys_uptime_ms as u64);
        if start_ms.is_none() {
            start_ms = v9_first.map(|x| boot_ms.saturating_add(x));
        }
        if end_ms.is_none() {
            end_ms = v9_last.map(|x| boot_ms.saturating_add(x));
        }
    }
    let conntrack = flow_like || has_rev || nat_src || nat_dst;
    if let Some(m) = mark {
        ev.set_u32(if conntrack { O_CTMARK } else { O_MARK }, m as u32);
    }
    if let Some(s) = start_ms {
        ev.set_u32(O_START_SEC, (s / 1000) as u32);
        ev.set_u32(O_START_USEC, (s % 1000 * 1000) as u32);
    }
    if let Some(e) = end_ms {
        ev.set_u32(O_END_SEC, (e / 1000) as u32);
        ev.set_u32(O_END_USEC, (e % 1000 * 1000) as u32);
    }
    if conntrack {
        // Rebuild the reply tuple: the swapped original unless NAT said otherwise.
        if !nat_dst {
            set_addr(ev, O_RSADDR, da);
        }
        if !nat_src {
            set_addr(ev, O_RDADDR, sa);
        }
        if let Some(p) = pr {
            ev.set_u64(O_RPROTO, p);
        }
        if let (false, Some(p)) = (nat_dport, dp) {
            ev.set_u64(O_RSPORT, p);
        }
        if let (false, Some(p)) = (nat_sport, sp) {
            ev.set_u64(O_RDPORT, p);
        }
    }
    ev.set_addr(O_EXPORTER, peer.ip());
    ev.set_u32(O_DOMAIN, h.domain);
    ev.set_u16(O_VERSION, h.protocol.version());
}
