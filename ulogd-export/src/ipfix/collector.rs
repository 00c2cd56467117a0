//! IPFIXCOL: a source that receives IPFIX and NetFlow v9 (the "Source IPFIX" of
//! the issue; named `IPFIXCOL` because `IPFIX` is the output's name).
//!
//! UDP datagrams (IPFIX or NetFlow v9) are read on the event loop; TCP connections
//! (IPFIX, framed by the message length) are served by one thread of the source
//! with an emitter of its own. Templates are kept per exporter (address and port;
//! for TCP, per connection) and observation domain; IPFIX withdrawals (field count
//! 0, or ids 2/3 for "all") remove them, UDP templates expire after
//! `template_timeout` seconds without a refresh, and TCP templates die with their
//! connection. Data records are decoded into the keys the exporters read (the
//! `orig.*` / `reply.*` conntrack names, `flow.start.*`, `ct.mark`, `oob.prefix`,
//! ...), so `IPFIXCOL → JSON` prints what the exporter was fed. Sequence numbers are
//! checked per exporter and domain; gaps are counted (`seq_gaps`, `records_missed`).
//! Bad input never panics: it is counted (`bad_messages`) and logged at debug level.

use std::collections::HashMap;
use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ulogd_core::catalogue::{self as cat, Str};
use ulogd_core::{
    Built, Emit, Event, Flow, Kind, OptionDef, PluginError, PluginSpec, Source, SourceSetup, Wake,
    PEN_NETFILTER, PEN_REVERSE,
};

use super::wire::{
    read_uint, HeaderRepr, MessageView, Protocol, RecordIter, RecordView, SetView, TemplateIter,
    TemplateRepr, MIN_DATA_SET_ID,
};

// Output keys: the catalogue's conntrack flow, `ct.*`, `oob.*` and `ipfix.*` keys
// (declared once in `ulogd_core::catalogue`, shared with NFCT and the benches), in
// this order. The `O_*` positions below come from the typed handles.
ulogd_core::key_list! {
    mod out;
    static OUTPUTS = {
        SADDR: IpAddr = cat::flow::ORIG_IP_SADDR,
        DADDR: IpAddr = cat::flow::ORIG_IP_DADDR,
        PROTO: u8 = cat::flow::ORIG_IP_PROTOCOL,
        SPORT: u16 = cat::flow::ORIG_L4_SPORT,
        DPORT: u16 = cat::flow::ORIG_L4_DPORT,
        BYTES: u64 = cat::flow::ORIG_RAW_PKTLEN,
        PKTS: u64 = cat::flow::ORIG_RAW_PKTCOUNT,
        RSADDR: IpAddr = cat::flow::REPLY_IP_SADDR,
        RDADDR: IpAddr = cat::flow::REPLY_IP_DADDR,
        RPROTO: u8 = cat::flow::REPLY_IP_PROTOCOL,
        RSPORT: u16 = cat::flow::REPLY_L4_SPORT,
        RDPORT: u16 = cat::flow::REPLY_L4_DPORT,
        RBYTES: u64 = cat::flow::REPLY_RAW_PKTLEN,
        RPKTS: u64 = cat::flow::REPLY_RAW_PKTCOUNT,
        START_SEC: u32 = cat::flow::START_SEC,
        START_USEC: u32 = cat::flow::START_USEC,
        END_SEC: u32 = cat::flow::END_SEC,
        END_USEC: u32 = cat::flow::END_USEC,
        CTMARK: u32 = cat::ct::MARK,
        CTID: u32 = cat::ct::ID,
        CTEVENT: u32 = cat::ct::EVENT,
        PREFIX: Str = cat::oob::PREFIX,
        MARK: u32 = cat::oob::MARK,
        HOOK: u8 = cat::oob::HOOK,
        IFIN: u32 = cat::oob::IFINDEX_IN,
        IFOUT: u32 = cat::oob::IFINDEX_OUT,
        ICMP_TYPE: u8 = cat::packet::ICMP_TYPE,
        ICMP_CODE: u8 = cat::packet::ICMP_CODE,
        EXPORTER: IpAddr = cat::ipfix::EXPORTER,
        DOMAIN: u32 = cat::ipfix::DOMAIN,
        VERSION: u16 = cat::ipfix::VERSION,
    };
}
const O_SADDR: usize = out::SADDR.pos();
const O_DADDR: usize = out::DADDR.pos();
const O_PROTO: usize = out::PROTO.pos();
const O_SPORT: usize = out::SPORT.pos();
const O_DPORT: usize = out::DPORT.pos();
const O_BYTES: usize = out::BYTES.pos();
const O_PKTS: usize = out::PKTS.pos();
const O_RSADDR: usize = out::RSADDR.pos();
const O_RDADDR: usize = out::RDADDR.pos();
const O_RPROTO: usize = out::RPROTO.pos();
const O_RSPORT: usize = out::RSPORT.pos();
const O_RDPORT: usize = out::RDPORT.pos();
const O_RBYTES: usize = out::RBYTES.pos();
const O_RPKTS: usize = out::RPKTS.pos();
const O_START_SEC: usize = out::START_SEC.pos();
const O_START_USEC: usize = out::START_USEC.pos();
const O_END_SEC: usize = out::END_SEC.pos();
const O_END_USEC: usize = out::END_USEC.pos();
const O_CTMARK: usize = out::CTMARK.pos();
const O_CTID: usize = out::CTID.pos();
const O_CTEVENT: usize = out::CTEVENT.pos();
const O_PREFIX: usize = out::PREFIX.pos();
const O_MARK: usize = out::MARK.pos();
const O_HOOK: usize = out::HOOK.pos();
const O_IFIN: usize = out::IFIN.pos();
const O_IFOUT: usize = out::IFOUT.pos();
const O_ICMP_TYPE: usize = out::ICMP_TYPE.pos();
const O_ICMP_CODE: usize = out::ICMP_CODE.pos();
const O_EXPORTER: usize = out::EXPORTER.pos();
const O_DOMAIN: usize = out::DOMAIN.pos();
const O_VERSION: usize = out::VERSION.pos();

/// Counters shared by the UDP path and the TCP thread.
#[derive(Default, Debug)]
pub(crate) struct Stats {
    messages: AtomicU64,
    records: AtomicU64,
    options_records: AtomicU64,
    bad_messages: AtomicU64,
    no_template: AtomicU64,
    templates: AtomicU64,
    withdrawals: AtomicU64,
    expired: AtomicU64,
    seq_gaps: AtomicU64,
    records_missed: AtomicU64,
    connections: AtomicU64,
}

fn inc(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

struct Entry {
    t: TemplateRepr,
    seen: Instant,
}

/// Template cache and sequence tracking of one transport (all UDP exporters, or
/// one TCP connection).
pub struct Decoder {
    templates: HashMap<(SocketAddr, u32, u16), Entry>,
    seqs: HashMap<(SocketAddr, u32), u32>,
    timeout: Duration,
    stats: Arc<Stats>,
}

/// What [`Decoder::process`] did with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every data record was handed on; the count of them.
    Done(usize),
    /// The pool ran out after this many records: call again with that `skip`.
    Blocked(usize),
}

fn set_addr(ev: &mut Event<'_>, o: usize, b: &[u8]) {
    if let Ok(a) = <[u8; 4]>::try_from(b) {
        ev.set_addr(o, IpAddr::V4(Ipv4Addr::from(a)));
    } else if let Ok(a) = <[u8; 16]>::try_from(b) {
        ev.set_addr(o, IpAddr::V6(Ipv6Addr::from(a)));
    }
}

/// Writes one data record into `ev`.
fn fill(ev: &mut Event<'_>, h: &HeaderRepr, peer: SocketAddr, rec: &RecordView<'_, '_>) {
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
        let set_u = |ev: &mut Event<'_>, o: usize| {
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
            (0, 150) => start_ms = u.map(|s| s * 1000),
            (0, 151) => end_ms = u.map(|s| s * 1000),
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
            start_ms = v9_first.map(|x| boot_ms + x);
        }
        if end_ms.is_none() {
            end_ms = v9_last.map(|x| boot_ms + x);
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

impl Decoder {
    /// An empty cache; UDP templates expire after `timeout`.
    pub(crate) fn new(timeout: Duration, stats: Arc<Stats>) -> Decoder {
        Decoder {
            templates: HashMap::new(),
            seqs: HashMap::new(),
            timeout,
            stats,
        }
    }

    /// Forgets everything about `peer` (a closed TCP connection).
    pub(crate) fn forget(&mut self, peer: SocketAddr) {
        self.templates.retain(|k, _| k.0 != peer);
        self.seqs.retain(|k, _| k.0 != peer);
    }

    fn learn(&mut self, peer: SocketAddr, h: &HeaderRepr, set: &SetView<'_>, options: bool) {
        let p = h.protocol;
        for t in TemplateIter::new(set, p, options) {
            let t = match t {
                Ok(t) => t,
                Err(e) => {
                    log::debug!("IPFIXCOL: {peer}: {e}");
                    inc(&self.stats.bad_messages, 1);
                    return;
                }
            };
            if t.is_withdrawal() {
                inc(&self.stats.withdrawals, 1);
                if t.id == 2 || t.id == 3 {
                    // Withdraw all (options) templates of the domain.
                    self.templates.retain(|k, e| {
                        !(k.0 == peer && k.1 == h.domain && e.t.is_options() == (t.id == 3))
                    });
                } else {
                    self.templates.remove(&(peer, h.domain, t.id));
                }
                continue;
            }
            if t.id < MIN_DATA_SET_ID {
                inc(&self.stats.bad_messages, 1);
                continue;
            }
            inc(&self.stats.templates, 1);
            self.templates.insert(
                (peer, h.domain, t.id),
                Entry {
                    t,
                    seen: Instant::now(),
                },
            );
        }
    }

    /// Decodes one message from `peer`: learns its templates and emits its data
    /// records, skipping the first `skip` (already emitted before the pool ran out).
    pub fn process(
        &mut self,
        peer: SocketAddr,
        msg: &[u8],
        skip: usize,
        emit: &mut dyn Emit,
    ) -> Outcome {
        let m = match MessageView::new_checked(msg) {
            Ok(m) => m,
            Err(e) => {
                log::debug!("IPFIXCOL: {peer}: {e}");
                inc(&self.stats.bad_messages, 1);
                return Outcome::Done(0);
            }
        };
        let h = m.header;
        let p = h.protocol;
        if skip == 0 {
            inc(&self.stats.messages, 1);
        }
        let mut n = 0usize;
        let mut seq_n = 0u32;
        let now = Instant::now();
        for set in m.sets() {
            let set = match set {
                Ok(s) => s,
                Err(e) => {
                    log::debug!("IPFIXCOL: {peer}: {e}");
                    inc(&self.stats.bad_messages, 1);
                    break;
                }
            };
            if set.id == p.template_set_id() || set.id == p.options_set_id() {
                if skip == 0 {
                    self.learn(peer, &h, &set, set.id == p.options_set_id());
                }
                continue;
            }
            if set.id < MIN_DATA_SET_ID {
                continue;
            }
            let key = (peer, h.domain, set.id);
            let expired = match self.templates.get(&key) {
                None => {
                    if skip == 0 {
                        inc(&self.stats.no_template, 1);
                    }
                    continue;
                }
                Some(e) => !self.timeout.is_zero() && now.duration_since(e.seen) > self.timeout,
            };
            if expired {
                self.templates.remove(&key);
                inc(&self.stats.expired, 1);
                inc(&self.stats.no_template, 1);
                continue;
            }
            let t = &self.templates[&key].t;
            for rec in RecordIter::new(&set, t) {
                let Ok(rec) = rec else {
                    inc(&self.stats.bad_messages, 1);
                    break;
                };
                // Options records count in the IPFIX sequence too (RFC 7011 §3.1).
                seq_n += 1;
                if t.is_options() {
                    if skip == 0 {
                        inc(&self.stats.options_records, 1);
                    }
                    continue;
                }
                n += 1;
                if n <= skip {
                    continue;
                }
                let r = emit.emit(&mut |ev| {
                    fill(ev, &h, peer, &rec);
                    true
                });
                if r.is_err() {
                    return Outcome::Blocked(n - 1);
                }
                inc(&self.stats.records, 1);
            }
        }
        // Sequence check, once per message.
        let sk = (peer, h.domain);
        if let Some(&exp) = self.seqs.get(&sk) {
            if exp != h.sequence {
                let d = h.sequence.wrapping_sub(exp);
                if d < 1 << 31 {
                    inc(&self.stats.seq_gaps, 1);
                    if p == Protocol::Ipfix {
                        inc(&self.stats.records_missed, d as u64);
                    }
                }
            }
        }
        let next = match p {
            Protocol::Ipfix => h.sequence.wrapping_add(seq_n),
            Protocol::V9 => h.sequence.wrapping_add(1),
        };
        self.seqs.insert(sk, next);
        Outcome::Done(n)
    }
}

/// Largest datagram.
const DGRAM_MAX: usize = 65536;

/// A datagram whose records were not all emitted (the pool ran out).
struct Pending {
    len: usize,
    peer: SocketAddr,
    skip: usize,
}

/// The source.
pub(crate) struct Collector {
    udp_addrs: Vec<SocketAddr>,
    tcp_addrs: Vec<SocketAddr>,
    udp: Vec<UdpSocket>,
    fds: Vec<usize>,
    dec: Decoder,
    stats: Arc<Stats>,
    timeout: Duration,
    buf: Vec<u8>,
    pending: Option<Pending>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

fn resolve(s: &str) -> Result<SocketAddr, String> {
    let hp = s.trim();
    let (host, port) = if let Some(r) = hp.strip_prefix('[') {
        let (h, p) = r.split_once(']').ok_or("missing ']'")?;
        (h, p.trim_start_matches(':'))
    } else {
        hp.rsplit_once(':').ok_or("missing :port")?
    };
    let port: u16 = port.parse().map_err(|_| format!("bad port \"{port}\""))?;
    let host = if host.is_empty() { "0.0.0.0" } else { host };
    (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("{host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host}: no address"))
}

/// Parses `listen`: a comma-separated list of `udp://addr:port` and `tcp://addr:port`.
pub(crate) fn parse_listen(s: &str) -> Result<(Vec<SocketAddr>, Vec<SocketAddr>), String> {
    let (mut u, mut t) = (Vec::new(), Vec::new());
    for item in s.split(',').map(str::trim).filter(|x| !x.is_empty()) {
        let (scheme, rest) = item
            .split_once("://")
            .ok_or_else(|| format!("\"{item}\" is not udp://addr:port or tcp://addr:port"))?;
        let a = resolve(rest).map_err(|e| format!("\"{item}\": {e}"))?;
        match scheme.to_ascii_lowercase().as_str() {
            "udp" => u.push(a),
            "tcp" => t.push(a),
            other => return Err(format!("\"{item}\": transport \"{other}\" (udp or tcp)")),
        }
    }
    if u.is_empty() && t.is_empty() {
        return Err("nothing to listen on".into());
    }
    Ok((u, t))
}

/// One TCP connection of the collector thread.
struct Conn {
    stream: mio::net::TcpStream,
    peer: SocketAddr,
    buf: Vec<u8>,
    dec: Decoder,
}

fn tcp_thread(
    listeners: Vec<std::net::TcpListener>,
    mut emit: Box<dyn Emit + Send>,
    stop: Arc<AtomicBool>,
    timeout: Duration,
    stats: Arc<Stats>,
) {
    let Ok(mut poll) = mio::Poll::new() else {
        log::error!("IPFIXCOL: can't create a poller; TCP input disabled");
        return;
    };
    let mut ls = Vec::new();
    for (i, l) in listeners.into_iter().enumerate() {
        let _ = l.set_nonblocking(true);
        let mut l = mio::net::TcpListener::from_std(l);
        if poll
            .registry()
            .register(&mut l, mio::Token(i), mio::Interest::READABLE)
            .is_ok()
        {
            ls.push(l);
        }
    }
    let base = 1usize << 20;
    let mut conns: HashMap<usize, Conn> = HashMap::new();
    let mut next = base;
    let mut events = mio::Events::with_capacity(64);
    let mut chunk = vec![0u8; 65536];
    while !stop.load(Ordering::Relaxed) {
        if let Err(e) = poll.poll(&mut events, Some(Duration::from_millis(100))) {
            if e.kind() != io::ErrorKind::Interrupted {
                log::error!("IPFIXCOL: poll: {e}");
                return;
            }
            continue;
        }
        for ev in events.iter() {
            let tok = ev.token().0;
            if tok < base {
                let Some(l) = ls.get(tok) else { continue };
                loop {
                    match l.accept() {
                        Ok((mut s, peer)) => {
                            let t = next;
                            next += 1;
                            if poll
                                .registry()
                                .register(&mut s, mio::Token(t), mio::Interest::READABLE)
                                .is_err()
                            {
                                continue;
                            }
                            inc(&stats.connections, 1);
                            log::info!("IPFIXCOL: exporter {peer} connected over TCP");
                            conns.insert(
                                t,
                                Conn {
                                    stream: s,
                                    peer,
                                    buf: Vec::new(),
                                    dec: Decoder::new(Duration::ZERO, stats.clone()),
                                },
                            );
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => {
                            log::warn!("IPFIXCOL: accept: {e}");
                            break;
                        }
                    }
                }
                continue;
            }
            let mut close = false;
            if let Some(c) = conns.get_mut(&tok) {
                loop {
                    match c.stream.read(&mut chunk) {
                        Ok(0) => {
                            close = true;
                            break;
                        }
                        Ok(n) => c.buf.extend_from_slice(&chunk[..n]),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(_) => {
                            close = true;
                            break;
                        }
                    }
                }
                // Whole messages, framed by the IPFIX length field.
                let mut at = 0;
                while c.buf.len() - at >= 16 {
                    let b = &c.buf[at..];
                    let ver = u16::from_be_bytes([b[0], b[1]]);
                    let len = u16::from_be_bytes([b[2], b[3]]) as usize;
                    if ver != 10 || len < 16 {
                        log::warn!(
                            "IPFIXCOL: {}: not an IPFIX stream (version {ver}, length {len}); closing",
                            c.peer
                        );
                        inc(&stats.bad_messages, 1);
                        close = true;
                        break;
                    }
                    if b.len() < len {
                        break;
                    }
                    // The thread emitter never runs out of bundles.
                    let _ = c.dec.process(c.peer, &b[..len], 0, emit.as_mut());
                    at += len;
                }
                c.buf.drain(..at);
            }
            if close {
                if let Some(mut c) = conns.remove(&tok) {
                    let _ = poll.registry().deregister(&mut c.stream);
                    c.dec.forget(c.peer);
                    log::info!("IPFIXCOL: exporter {} disconnected", c.peer);
                }
            }
        }
    }
    // Stopping: decode what the exporters already sent before closing.
    for (_, mut c) in conns.drain() {
        loop {
            match c.stream.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => c.buf.extend_from_slice(&chunk[..n]),
            }
        }
        let mut at = 0;
        while c.buf.len() - at >= 16 {
            let b = &c.buf[at..];
            let len = u16::from_be_bytes([b[2], b[3]]) as usize;
            if len < 16 || b.len() < len {
                break;
            }
            let _ = c.dec.process(c.peer, &b[..len], 0, emit.as_mut());
            at += len;
        }
    }
    let _ = timeout;
}

impl Source for Collector {
    fn start(&mut self, setup: &mut dyn SourceSetup) -> Result<(), PluginError> {
        for a in &self.udp_addrs {
            let s = UdpSocket::bind(a)
                .map_err(|e| PluginError::new(format!("IPFIXCOL: can't bind udp {a}: {e}")))?;
            s.set_nonblocking(true)?;
            // Room for bursts: 4 MiB if allowed (best effort).
            let sz: libc::c_int = 4 << 20;
            // SAFETY: setsockopt with a c_int we own, on our socket.
            unsafe {
                libc::setsockopt(
                    s.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_RCVBUF,
                    (&sz as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
            }
            self.fds.push(setup.add_fd(s.as_raw_fd()));
            self.udp.push(s);
        }
        if !self.tcp_addrs.is_empty() {
            let mut ls = Vec::new();
            for a in &self.tcp_addrs {
                ls.push(std::net::TcpListener::bind(a).map_err(|e| {
                    PluginError::new(format!("IPFIXCOL: can't listen on tcp {a}: {e}"))
                })?);
            }
            let emit = setup.thread_emitter();
            let (stop, timeout, stats) = (self.stop.clone(), self.timeout, self.stats.clone());
            self.thread = Some(
                std::thread::Builder::new()
                    .name("ipfixcol-tcp".into())
                    .spawn(move || tcp_thread(ls, emit, stop, timeout, stats))?,
            );
        }
        Ok(())
    }

    fn run(&mut self, wake: Wake, emit: &mut dyn Emit) -> Result<Flow, PluginError> {
        // Finish a datagram left half-emitted first.
        if let Some(p) = self.pending.take() {
            match self.dec.process(p.peer, &self.buf[..p.len], p.skip, emit) {
                Outcome::Done(_) => {}
                Outcome::Blocked(skip) => {
                    self.pending = Some(Pending { skip, ..p });
                    return Ok(Flow::Idle);
                }
            }
        }
        let which: Vec<usize> = match wake {
            Wake::Readable(fd) => self.fds.iter().position(|&f| f == fd).into_iter().collect(),
            _ => (0..self.udp.len()).collect(),
        };
        for i in which {
            loop {
                let (len, peer) = match self.udp[i].recv_from(&mut self.buf) {
                    Ok(x) => x,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        log::warn!("IPFIXCOL: recv: {e}");
                        break;
                    }
                };
                if let Outcome::Blocked(skip) = self.dec.process(peer, &self.buf[..len], 0, emit) {
                    self.pending = Some(Pending { len, peer, skip });
                    return Ok(Flow::Idle);
                }
            }
        }
        Ok(Flow::Idle)
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.udp.clear();
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        let s = &self.stats;
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        vec![
            ("messages", g(&s.messages)),
            ("records", g(&s.records)),
            ("options_records", g(&s.options_records)),
            ("bad_messages", g(&s.bad_messages)),
            ("no_template", g(&s.no_template)),
            ("templates", g(&s.templates)),
            ("withdrawals", g(&s.withdrawals)),
            ("templates_expired", g(&s.expired)),
            ("seq_gaps", g(&s.seq_gaps)),
            ("records_missed", g(&s.records_missed)),
            ("tcp_connections", g(&s.connections)),
        ]
    }
}

/// The IPFIXCOL source.
pub(crate) fn spec() -> PluginSpec {
    PluginSpec {
        name: "IPFIXCOL",
        aliases: &[],
        kind: Kind::Source,
        summary: "IPFIX / NetFlow v9 collector (UDP, TCP): records decoded into flow keys",
        options: vec![
            OptionDef::string(
                "listen",
                "udp://0.0.0.0:4739",
                "comma-separated udp://addr:port and tcp://addr:port ([IPv6] literals too)",
            ),
            OptionDef::int(
                "template_timeout",
                "1800",
                "UDP: forget a template not refreshed for this many seconds (0: never)",
            ),
        ],
        inputs: vec![],
        outputs: OUTPUTS.to_vec(),
        wildcard: false,
        build: Box::new(|ctx| {
            let o = ctx.options;
            let (udp_addrs, tcp_addrs) = parse_listen(o.str("listen"))
                .map_err(|e| PluginError::new(o.error("listen", e).to_string()))?;
            let t = o.int("template_timeout");
            if !(0..=86400 * 365).contains(&t) {
                return Err(PluginError::new(
                    o.error("template_timeout", "must be 0 or a number of seconds")
                        .to_string(),
                ));
            }
            let timeout = Duration::from_secs(t as u64);
            let stats: Arc<Stats> = Arc::default();
            Ok(Built::Source {
                source: Box::new(Collector {
                    udp_addrs,
                    tcp_addrs,
                    udp: Vec::new(),
                    fds: Vec::new(),
                    dec: Decoder::new(timeout, stats.clone()),
                    stats,
                    timeout,
                    buf: vec![0u8; DGRAM_MAX],
                    pending: None,
                    stop: Arc::new(AtomicBool::new(false)),
                    thread: None,
                }),
                outputs: OUTPUTS.to_vec(),
            })
        }),
    }
}
