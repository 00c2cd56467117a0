//! The IPFIX and NFLOW9 outputs.
//!
//! A wildcard sink: the first event of each stack builds a [`Plan`] (which upstream
//! key fills which element); every event then lists its set fields into a stack
//! array, finds or creates the template with exactly those fields and appends the
//! record to the message being built. A message leaves when the next record would
//! pass `mtu`, when it holds `corksets_max` records, or from `tick()` when it has
//! waited `flush_ms` (500 ms by default), so a partly filled message never waits
//! for more traffic (ulogd2 2.0.8 and the fork never flush it).
//!
//! Sequence numbers are patched into the header when the message is sent: IPFIX
//! counts the data records sent before this message on the transport session
//! (RFC 7011 §3.1), NetFlow v9 the packets sent before it (RFC 3954 §5.1). Over UDP,
//! every template and the exporter-statistics options template (messages sent,
//! records sent, records not sent) are resent every `nth_template` messages and
//! every `template_refresh` seconds. Over TCP, they are sent once per connection,
//! at its start; while the collector is away, finished messages wait in a queue of
//! `queue_max` messages (more are dropped and counted), and the connection is
//! retried with backoff (1 s doubling to 30 s).
//!
//! Feedback: the exporter's own packets are flows too. With an NFCT source, keep
//! them out with the source's filters (`accept_dst_filter` / `accept_proto_filter`)
//! or an nft rule `ct mark set` + NFCT's mark filter, or mark the collector's port
//! `notrack` (`nft add rule inet raw output udp dport 4739 notrack`): see the README.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ulogd_core::{
    Built, Event, Inputs, Kind, OptionDef, Options, PluginError, PluginSpec, Ret, Signal, Stage,
};

use super::template::{stats_template, Dir, Fields, Plan, Shape, Templates, STATS_TEMPLATE_ID};
use super::wire::{HeaderRepr, Protocol, TemplateRepr};
use crate::net::{Endpoint, Sock};

const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Largest IPFIX message (the length field is 16 bits).
const MAX_MESSAGE: usize = 65535;

/// Parsed destination.
fn parse_dest(s: &str) -> Result<Endpoint, String> {
    let (scheme, rest) = s
        .split_once("://")
        .ok_or_else(|| format!("\"{s}\" is not udp://host:port or tcp://host:port"))?;
    let (host, port) = if let Some(r) = rest.strip_prefix('[') {
        let (h, p) = r
            .split_once(']')
            .ok_or_else(|| format!("\"{s}\": missing ']' after the IPv6 address"))?;
        (h, p.strip_prefix(':').unwrap_or(""))
    } else {
        rest.rsplit_once(':')
            .ok_or_else(|| format!("\"{s}\": missing :port"))?
    };
    if host.is_empty() {
        return Err(format!("\"{s}\": missing host"));
    }
    if port.parse::<u16>().map_or(true, |p| p == 0) {
        return Err(format!("\"{s}\": bad port \"{port}\""));
    }
    match scheme.to_ascii_lowercase().as_str() {
        "udp" => Ok(Endpoint::Udp(host.into(), port.into())),
        "tcp" => Ok(Endpoint::Tcp(host.into(), port.into())),
        other => Err(format!(
            "\"{s}\": transport \"{other}\" is not supported (udp or tcp)"
        )),
    }
}

/// Exporter settings.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub shape: Shape,
    pub dest: Endpoint,
    pub domain: u32,
    pub nth_template: u32,
    pub template_refresh: Duration,
    pub corksets_max: u32,
    pub mtu: usize,
    pub flush: Duration,
    pub queue_max: usize,
}

/// A finished message waiting to be sent.
struct Queued {
    buf: Vec<u8>,
    /// Flow records (counters, losses).
    records: u32,
    /// Data records of any template, options included (the IPFIX sequence).
    seq_records: u32,
}

enum Link {
    Udp(std::net::UdpSocket),
    Tcp(std::net::TcpStream),
}

struct Inner {
    plans: Vec<Plan>,
    templates: Templates,
    stats_tmpl: TemplateRepr,
    msg: Vec<u8>,
    /// Data records in `msg`.
    msg_records: u32,
    /// NFv9 count: records of any kind in `msg`.
    msg_count: u16,
    open_set: Option<(u16, usize)>,
    msg_started: Instant,
    queue: VecDeque<Queued>,
    spare: Vec<Vec<u8>>,
    link: Option<Link>,
    next_attempt: Instant,
    backoff: Duration,
    /// IPFIX: data records sent on this session; NFv9: packets sent.
    seq: u32,
    msgs_since_templates: u32,
    last_templates: Instant,
    start: Instant,
    // counters
    messages: u64,
    records: u64,
    lost: u64,
    queue_drops: u64,
    templates_sent: u64,
    connects: u64,
    overflow_logged: bool,
}

/// The sink.
pub(crate) struct Exporter {
    cfg: Config,
    inner: Mutex<Inner>,
}

fn unix_now() -> (u32, u64) {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_secs() as u32, d.as_millis() as u64)
}

/// Whether a TCP peer has closed (a non-blocking peek sees EOF or an error).
fn tcp_peer_closed(s: &std::net::TcpStream) -> bool {
    let mut b = [0u8; 1];
    // SAFETY: recv into a 1-byte buffer we own, on a socket we own.
    let r = unsafe {
        libc::recv(
            s.as_raw_fd(),
            b.as_mut_ptr().cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    if r == 0 {
        return true;
    }
    if r < 0 {
        let e = io::Error::last_os_error();
        return e.kind() != io::ErrorKind::WouldBlock && e.kind() != io::ErrorKind::Interrupted;
    }
    false
}

impl Inner {
    fn new(cfg: &Config) -> Inner {
        let now = Instant::now();
        Inner {
            plans: Vec::new(),
            templates: Templates::default(),
            stats_tmpl: stats_template(cfg.shape.protocol),
            msg: Vec::with_capacity(cfg.mtu.max(64)),
            msg_records: 0,
            msg_count: 0,
            open_set: None,
            msg_started: now,
            queue: VecDeque::new(),
            spare: Vec::new(),
            link: None,
            next_attempt: now,
            backoff: BACKOFF_MIN,
            seq: 0,
            msgs_since_templates: 0,
            last_templates: now,
            start: now,
            messages: 0,
            records: 0,
            lost: 0,
            queue_drops: 0,
            templates_sent: 0,
            connects: 0,
            overflow_logged: false,
        }
    }

    fn is_tcp(cfg: &Config) -> bool {
        matches!(cfg.dest, Endpoint::Tcp(..))
    }

    fn begin(&mut self, p: Protocol) {
        if self.msg.is_empty() {
            self.msg.resize(p.header_len(), 0);
            self.msg_started = Instant::now();
        }
    }

    fn close_set(&mut self) {
        if let Some((_, start)) = self.open_set.take() {
            while (self.msg.len() - start) & 3 != 0 {
                self.msg.push(0);
            }
            let l = (self.msg.len() - start) as u16;
            self.msg[start + 2..start + 4].copy_from_slice(&l.to_be_bytes());
        }
    }

    fn open_set(&mut self, id: u16) {
        if self.open_set.is_some_and(|(i, _)| i == id) {
            return;
        }
        self.close_set();
        let start = self.msg.len();
        self.msg.extend_from_slice(&id.to_be_bytes());
        self.msg.extend_from_slice(&[0, 0]);
        self.open_set = Some((id, start));
    }

    /// Closes the message being built and queues it.
    fn finish(&mut self, cfg: &Config) {
        if self.msg.len() <= cfg.shape.protocol.header_len() {
            self.msg.clear();
            return;
        }
        self.close_set();
        let p = cfg.shape.protocol;
        // Length (IPFIX) or count (NFv9) now; time and sequence at send time.
        let loc = match p {
            Protocol::Ipfix => self.msg.len() as u16,
            Protocol::V9 => self.msg_count,
        };
        self.msg[2..4].copy_from_slice(&loc.to_be_bytes());
        let fresh = self.spare.pop().unwrap_or_default();
        let buf = std::mem::replace(&mut self.msg, fresh);
        let records = self.msg_records;
        self.msg.clear();
        self.msg_records = 0;
        self.msg_count = 0;
        if self.queue.len() >= cfg.queue_max {
            self.queue_drops += 1;
            self.lost += records as u64;
            self.spare.push(buf);
            return;
        }
        self.queue.push_back(Queued {
            buf,
            records,
            seq_records: records,
        });
        if !Self::is_tcp(cfg) {
            self.msgs_since_templates += 1;
        }
    }

    /// Queues messages with every template, the options template and a statistics
    /// record. `front`: before everything queued (a new TCP connection).
    fn queue_templates(&mut self, cfg: &Config, front: bool) {
        let p = cfg.shape.protocol;
        // Finish what is being built so the templates go in messages of their own.
        if !front {
            self.finish(cfg);
        }
        let mut out: Vec<Queued> = Vec::new();
        let mut buf = self.spare.pop().unwrap_or_default();
        let mut count: u16 = 0;
        let hl = p.header_len();
        buf.clear();
        buf.resize(hl, 0);
        let push_msg = |buf: &mut Vec<u8>, count: &mut u16, out: &mut Vec<Queued>| {
            let loc = match p {
                Protocol::Ipfix => buf.len() as u16,
                Protocol::V9 => *count,
            };
            buf[2..4].copy_from_slice(&loc.to_be_bytes());
            out.push(Queued {
                buf: std::mem::take(buf),
                records: 0,
                seq_records: 0,
            });
            buf.resize(hl, 0);
            *count = 0;
        };
        for (i, t) in self.templates.list.iter().enumerate() {
            if buf.len() > hl && buf.len() + t.wire_len(p) + 8 > cfg.mtu {
                push_msg(&mut buf, &mut count, &mut out);
            }
            t.emit_set(p, &mut buf);
            count += 1;
            self.templates.announced[i] = true;
            self.templates_sent += 1;
        }
        // Options template and one statistics record.
        if buf.len() > hl && buf.len() + 64 > cfg.mtu {
            push_msg(&mut buf, &mut count, &mut out);
        }
        self.stats_tmpl.emit_set(p, &mut buf);
        let start = buf.len();
        buf.extend_from_slice(&STATS_TEMPLATE_ID.to_be_bytes());
        buf.extend_from_slice(&[0, 0]);
        buf.extend_from_slice(&std::process::id().to_be_bytes());
        buf.extend_from_slice(&self.messages.to_be_bytes());
        buf.extend_from_slice(&self.records.to_be_bytes());
        buf.extend_from_slice(&self.lost.to_be_bytes());
        let l = (buf.len() - start) as u16;
        buf[start + 2..start + 4].copy_from_slice(&l.to_be_bytes());
        count += 2;
        self.templates_sent += 1;
        push_msg(&mut buf, &mut count, &mut out);
        if let Some(q) = out.last_mut() {
            q.seq_records = 1;
        }
        if front {
            for q in out.into_iter().rev() {
                self.queue.push_front(q);
            }
        } else {
            self.queue.extend(out);
        }
        self.msgs_since_templates = 0;
        self.last_templates = Instant::now();
    }

    /// Sends what is queued, in order, while the link takes it.
    fn drain(&mut self, cfg: &Config) {
        let p = cfg.shape.protocol;
        while let Some(q) = self.queue.front_mut() {
            let Some(link) = self.link.as_mut() else {
                if !Self::is_tcp(cfg) {
                    // UDP without a socket (name did not resolve yet): lost.
                    let q = self.queue.pop_front().expect("front exists");
                    self.lost += q.records as u64;
                    self.spare.push(q.buf);
                    continue;
                }
                return;
            };
            let (secs, _) = unix_now();
            let h = HeaderRepr {
                protocol: p,
                length_or_count: u16::from_be_bytes([q.buf[2], q.buf[3]]),
                sys_uptime_ms: self.start.elapsed().as_millis() as u32,
                export_time: secs,
                sequence: self.seq,
                domain: cfg.domain,
            };
            h.emit(&mut q.buf);
            let r = match link {
                Link::Udp(s) => s.send(&q.buf).map(|_| ()),
                Link::Tcp(s) => {
                    if tcp_peer_closed(s) {
                        Err(io::Error::new(
                            io::ErrorKind::ConnectionReset,
                            "collector closed the connection",
                        ))
                    } else {
                        s.write_all(&q.buf)
                    }
                }
            };
            match r {
                Ok(()) => {
                    let q = self.queue.pop_front().expect("front exists");
                    self.messages += 1;
                    self.records += q.records as u64;
                    self.seq = match p {
                        Protocol::Ipfix => self.seq.wrapping_add(q.seq_records),
                        Protocol::V9 => self.seq.wrapping_add(1),
                    };
                    self.spare.push(q.buf);
                }
                Err(e) if Self::is_tcp(cfg) => {
                    log::warn!(
                        "{}: {}: {e}; {} messages queued, reconnecting",
                        p.name(),
                        cfg.dest.describe(),
                        self.queue.len()
                    );
                    self.link = None;
                    self.next_attempt = Instant::now();
                    return;
                }
                Err(e) => {
                    // UDP: ECONNREFUSED from an earlier ICMP error, or a full buffer.
                    log::debug!("{}: {}: {e}", p.name(), cfg.dest.describe());
                    let q = self.queue.pop_front().expect("front exists");
                    self.lost += q.records as u64;
                    self.spare.push(q.buf);
                }
            }
        }
    }

    /// Takes a new connection: new transport session.
    fn install(&mut self, cfg: &Config, r: io::Result<Sock>) {
        match r {
            Ok(Sock::Tcp(s)) => {
                self.link = Some(Link::Tcp(s));
                self.connects += 1;
                self.backoff = BACKOFF_MIN;
                self.seq = 0;
                log::info!(
                    "{}: connected to {}",
                    cfg.shape.protocol.name(),
                    cfg.dest.describe()
                );
                self.queue_templates(cfg, true);
                self.drain(cfg);
            }
            Ok(Sock::Udp(s)) => {
                self.link = Some(Link::Udp(s));
                self.connects += 1;
            }
            Ok(Sock::Unix(_)) => {}
            Err(e) => {
                log::warn!(
                    "{}: can't connect to {}: {e}; retrying in {:?}",
                    cfg.shape.protocol.name(),
                    cfg.dest.describe(),
                    self.backoff
                );
                self.next_attempt = Instant::now() + self.backoff;
                self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
            }
        }
    }

    fn add_record(&mut self, cfg: &Config, f: &Fields<'_>) {
        let p = cfg.shape.protocol;
        if f.overflow && !self.overflow_logged {
            self.overflow_logged = true;
            log::warn!(
                "{}: records carry more than {} fields; the rest are left out",
                p.name(),
                super::template::MAX_FIELDS
            );
        }
        let Some(ti) = self.templates.lookup(f.specs()) else {
            self.lost += 1;
            return;
        };
        let rec_len = f.encoded_len();
        let (tid, announced, twire) = {
            let t = &self.templates.list[ti];
            (t.id, self.templates.announced[ti], t.wire_len(p))
        };
        let mut extra = 0;
        if !announced {
            extra += 4 + twire + 3;
        }
        if !announced || self.open_set.map(|s| s.0) != Some(tid) {
            extra += 4 + 3;
        }
        let hl = p.header_len();
        if self.msg.len() > hl
            && (self.msg.len() + rec_len + extra > cfg.mtu
                || (cfg.corksets_max > 0 && self.msg_records >= cfg.corksets_max))
        {
            self.finish(cfg);
        }
        if hl + rec_len + extra > MAX_MESSAGE {
            self.lost += 1;
            return;
        }
        self.begin(p);
        if !self.templates.announced[ti] {
            self.close_set();
            self.templates.list[ti].emit_set(p, &mut self.msg);
            self.templates.announced[ti] = true;
            self.templates_sent += 1;
            self.msg_count = self.msg_count.saturating_add(1);
        }
        self.open_set(tid);
        f.encode(&mut self.msg);
        self.msg_records += 1;
        self.msg_count = self.msg_count.saturating_add(1);
    }

    /// Periodic UDP template refresh, then sending.
    fn maintain(&mut self, cfg: &Config) {
        if !Self::is_tcp(cfg) {
            let by_count = cfg.nth_template > 0 && self.msgs_since_templates >= cfg.nth_template;
            let by_time = !cfg.template_refresh.is_zero()
                && self.last_templates.elapsed() >= cfg.template_refresh;
            if by_count || by_time {
                self.queue_templates(cfg, false);
            }
        }
        self.drain(cfg);
    }
}

impl Exporter {
    pub(crate) fn new(cfg: Config) -> Exporter {
        let inner = Mutex::new(Inner::new(&cfg));
        Exporter { cfg, inner }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Connects (UDP at once; TCP the first attempt) and queues the first
    /// templates message.
    fn connect_now(&self) {
        let r = self.cfg.dest.connect();
        let mut g = self.lock();
        g.install(&self.cfg, r);
        if !Inner::is_tcp(&self.cfg) {
            g.queue_templates(&self.cfg, false);
            g.drain(&self.cfg);
        }
    }
}

impl Stage for Exporter {
    fn start(&self) -> Result<(), PluginError> {
        self.connect_now();
        Ok(())
    }

    fn interp(&self, ev: &mut Event<'_>) -> Ret {
        let cfg = &self.cfg;
        let mut g = self.lock();
        let id = ev.binding_id();
        // Take the plans out so a plan and the message state can be used together
        // (a move of the vector, no allocation).
        let plans = std::mem::take(&mut g.plans);
        let mut plans = plans;
        let pi = match plans.iter().position(|p| p.id == id) {
            Some(i) => i,
            None => {
                plans.push(Plan::new(ev));
                plans.len() - 1
            }
        };
        let plan = &plans[pi];
        let ct_event = plan.ct_event(ev);
        let natted = plan.has_reply && plan.natted(ev);
        // RFC 8158 natEvent: 4 NAT44 session create, 5 NAT44 session delete; or the
        // historic 1 / 2.
        let (create, delete) = if cfg.shape.nat_historic {
            (1u8, 2u8)
        } else {
            (4, 5)
        };
        let nat_event =
            |c: bool| (cfg.shape.nat_events && natted).then_some(if c { create } else { delete });
        let mut f = Fields::new();
        match ct_event {
            // NEW: only a NAT event (the flow itself is exported when it ends).
            Some(1) => {
                if let Some(e) = nat_event(true) {
                    plan.collect(ev, &cfg.shape, Dir::Orig, Some(e), &mut f);
                    g.add_record(cfg, &f);
                }
            }
            _ => {
                let ne = if ct_event == Some(4) {
                    nat_event(false)
                } else {
                    None
                };
                plan.collect(ev, &cfg.shape, Dir::Orig, ne, &mut f);
                if f.n > 0 {
                    g.add_record(cfg, &f);
                }
                if plan.has_reply && !cfg.shape.biflow {
                    plan.collect(ev, &cfg.shape, Dir::Reply, None, &mut f);
                    if f.n > 0 {
                        g.add_record(cfg, &f);
                    }
                }
            }
        }
        g.plans = plans;
        if !g.queue.is_empty() {
            g.maintain(cfg);
        }
        Ret::Ok
    }

    fn signal(&self, sig: Signal) {
        if sig == Signal::Hup && Inner::is_tcp(&self.cfg) {
            let mut g = self.lock();
            g.link = None;
            g.next_attempt = Instant::now();
        }
    }

    fn tick(&self) {
        let cfg = &self.cfg;
        let ep = {
            let mut g = self.lock();
            if g.msg.len() > cfg.shape.protocol.header_len() && g.msg_started.elapsed() >= cfg.flush
            {
                g.finish(cfg);
            }
            g.maintain(cfg);
            if let Some(Link::Tcp(s)) = &g.link {
                if tcp_peer_closed(s) {
                    log::warn!(
                        "{}: {} closed the connection",
                        cfg.shape.protocol.name(),
                        cfg.dest.describe()
                    );
                    g.link = None;
                    g.next_attempt = Instant::now();
                }
            }
            if g.link.is_none() && Instant::now() >= g.next_attempt {
                let b = g.backoff;
                g.next_attempt = Instant::now() + b;
                Some(cfg.dest.clone())
            } else {
                None
            }
        };
        if let Some(ep) = ep {
            let r = ep.connect();
            let mut g = self.lock();
            if g.link.is_none() {
                g.install(cfg, r);
                if !Inner::is_tcp(cfg) {
                    g.drain(cfg);
                }
            }
        }
    }

    fn tick_interval(&self) -> Option<Duration> {
        Some((self.cfg.flush / 2).max(Duration::from_millis(10)))
    }

    fn flush(&self) {
        let cfg = &self.cfg;
        let mut g = self.lock();
        g.finish(cfg);
        if g.link.is_none() && Inner::is_tcp(cfg) && !g.queue.is_empty() {
            let r = cfg.dest.connect();
            g.install(cfg, r);
        }
        g.drain(cfg);
        if !g.queue.is_empty() {
            let n: u64 = g.queue.iter().map(|q| q.records as u64).sum();
            log::warn!(
                "{}: {} records still queued for {} at shutdown are lost",
                cfg.shape.protocol.name(),
                n,
                cfg.dest.describe()
            );
            g.lost += n;
        }
    }

    fn stop(&self) {
        self.lock().link = None;
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        let g = self.lock();
        vec![
            ("messages", g.messages),
            ("records", g.records),
            ("lost", g.lost),
            ("queue_drops", g.queue_drops),
            ("queued", g.queue.len() as u64),
            ("templates_sent", g.templates_sent),
            ("templates", g.templates.list.len() as u64),
            ("connects", g.connects),
        ]
    }
}

fn config_err(o: &Options, name: &str, msg: impl std::fmt::Display) -> PluginError {
    PluginError::new(o.error(name, msg).to_string())
}

/// Reads and checks the options of an IPFIX or NFLOW9 instance.
pub(crate) fn config(p: Protocol, o: &Options) -> Result<Config, PluginError> {
    // Destination: `dest`, or ulogd2's host/port/proto.
    let dest = if o.given("dest") || !o.given("host") {
        let d = if o.str("dest").is_empty() {
            match p {
                Protocol::Ipfix => "udp://127.0.0.1:4739",
                Protocol::V9 => "udp://127.0.0.1:9996",
            }
        } else {
            o.str("dest")
        };
        if o.given("host") {
            return Err(config_err(o, "host", "give either dest or host/port/proto"));
        }
        parse_dest(d).map_err(|e| config_err(o, "dest", e))?
    } else {
        let proto = o.str("proto").to_ascii_lowercase();
        if proto != "udp" && proto != "tcp" {
            return Err(config_err(o, "proto", "must be udp or tcp"));
        }
        let host = o.str("host");
        let host = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        let port = o.u32("port").map_err(|e| PluginError::new(e.to_string()))?;
        parse_dest(&format!("{proto}://{host}:{port}")).map_err(|e| config_err(o, "host", e))?
    };
    if o.given("oid") && o.given("domain_id") {
        return Err(config_err(
            o,
            "oid",
            "give either domain_id or oid (its old name)",
        ));
    }
    let dname = if o.given("oid") { "oid" } else { "domain_id" };
    let domain = o.u32(dname).map_err(|e| PluginError::new(e.to_string()))?;
    let mut nth_template = o
        .u32("nth_template")
        .map_err(|e| PluginError::new(e.to_string()))?;
    let mut refresh = o
        .u32("template_refresh")
        .map_err(|e| PluginError::new(e.to_string()))?;
    if o.given("send_template") {
        match o.str("send_template").to_ascii_lowercase().as_str() {
            // Templates with the first use only (and on each TCP connection).
            "once" | "never" => {
                if o.str("send_template").eq_ignore_ascii_case("never") {
                    log::warn!(
                        "[{}] send_template=never: templates are still sent once, \
                         collectors cannot decode records without them",
                        o.instance()
                    );
                }
                nth_template = 0;
                refresh = 0;
            }
            _ => nth_template = 1,
        }
    }
    let mtu = o.int("mtu");
    if !(64..=65535).contains(&mtu) {
        return Err(config_err(o, "mtu", "must be between 64 and 65535"));
    }
    let corksets_max = o
        .u32("corksets_max")
        .map_err(|e| PluginError::new(e.to_string()))?;
    let flush_ms = o.int("flush_ms");
    if !(10..=60_000).contains(&flush_ms) {
        return Err(config_err(o, "flush_ms", "must be between 10 and 60000"));
    }
    let queue_max = o.int("queue_max");
    if !(1..=1_000_000).contains(&queue_max) {
        return Err(config_err(o, "queue_max", "must be between 1 and 1000000"));
    }
    let biflow = o.bool("biflow");
    if p == Protocol::V9 && biflow {
        return Err(config_err(
            o,
            "biflow",
            "NetFlow v9 has no biflows (RFC 5103 is IPFIX only); conntrack flows are exported as two uni-flows",
        ));
    }
    Ok(Config {
        shape: Shape {
            protocol: p,
            biflow,
            nat_events: o.bool("nat_events"),
            export_raw: o.bool("export_raw"),
            nat_historic: match o.str("nat_event_codes").to_ascii_lowercase().as_str() {
                "rfc8158" => false,
                "historic" => true,
                other => {
                    return Err(config_err(
                        o,
                        "nat_event_codes",
                        format!("must be rfc8158 or historic, not \"{other}\""),
                    ))
                }
            },
        },
        dest,
        domain,
        nth_template,
        template_refresh: Duration::from_secs(refresh as u64),
        corksets_max,
        mtu: mtu as usize,
        flush: Duration::from_millis(flush_ms as u64),
        queue_max: queue_max as usize,
    })
}

fn options(p: Protocol) -> Vec<OptionDef> {
    let ipfix = p == Protocol::Ipfix;
    vec![
        OptionDef::string(
            "dest",
            "",
            "udp://host:port or tcp://host:port (names and [IPv6] literals); default udp://127.0.0.1:4739 (IPFIX), :9996 (NFLOW9)",
        ),
        OptionDef::int("domain_id", "0", "observation domain id (IPFIX) / source id (NetFlow v9)"),
        OptionDef::int("nth_template", "16", "UDP: resend templates every N messages (0: never by count)"),
        OptionDef::int("template_refresh", "60", "UDP: resend templates every N seconds (0: never by time)"),
        OptionDef::int("corksets_max", "0", "most data records per message (0: as many as mtu allows)"),
        OptionDef::int("mtu", "1400", "largest message in bytes"),
        OptionDef::int("flush_ms", "500", "a partly filled message leaves after this many ms"),
        OptionDef::int("queue_max", "1024", "TCP: messages kept while the collector is away"),
        OptionDef::boolean(
            "biflow",
            if ipfix { "1" } else { "0" },
            "conntrack flows as RFC 5103 biflows (IPFIX) instead of two uni-flows",
        ),
        OptionDef::boolean("nat_events", "0", "natEvent records for NATed conntrack NEW and DESTROY"),
        OptionDef::string(
            "nat_event_codes",
            "rfc8158",
            "natEvent values: rfc8158 (4 create, 5 delete) or historic (1, 2: nfdump 1.7 names them)",
        ),
        OptionDef::boolean("export_raw", "0", "export raw keys (raw.pkt) as variable-length fields (IPFIX)"),
        OptionDef::int("oid", "0", "ulogd2 name of domain_id"),
        OptionDef::string("host", "", "ulogd2: collector host (use dest)"),
        OptionDef::int("port", if ipfix { "4739" } else { "9996" }, "ulogd2: collector port (use dest)"),
        OptionDef::string("proto", "udp", "ulogd2: udp or tcp (use dest)"),
        OptionDef::string("send_template", "", "ulogd2: once, never (= once) or always (= nth_template 1)"),
    ]
}

fn spec_for(p: Protocol, name: &'static str, summary: &'static str) -> PluginSpec {
    PluginSpec {
        name,
        aliases: &[],
        kind: Kind::Sink,
        summary,
        options: options(p),
        inputs: vec![],
        outputs: vec![],
        wildcard: true,
        build: Box::new(move |ctx| {
            let cfg = config(p, ctx.options)?;
            Ok(Built::Stage {
                stage: std::sync::Arc::new(Exporter::new(cfg)),
                inputs: Inputs::All,
                outputs: vec![],
            })
        }),
    }
}

/// The IPFIX output (RFC 7011).
pub(crate) fn ipfix_spec() -> PluginSpec {
    spec_for(
        Protocol::Ipfix,
        "IPFIX",
        "IPFIX export over UDP/TCP; templates from the stack's keys, IPv4/IPv6, biflows, NAT events",
    )
}

/// The NFLOW9 output (RFC 3954).
pub(crate) fn nflow9_spec() -> PluginSpec {
    spec_for(
        Protocol::V9,
        "NFLOW9",
        "NetFlow v9 export over UDP/TCP; templates from the stack's keys, IPv4/IPv6, NAT events",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dest_forms() {
        assert_eq!(
            parse_dest("udp://127.0.0.1:4739").unwrap(),
            Endpoint::Udp("127.0.0.1".into(), "4739".into())
        );
        assert_eq!(
            parse_dest("tcp://[::1]:9995").unwrap(),
            Endpoint::Tcp("::1".into(), "9995".into())
        );
        assert_eq!(
            parse_dest("TCP://collector.example:2055").unwrap(),
            Endpoint::Tcp("collector.example".into(), "2055".into())
        );
        assert!(parse_dest("sctp://a:1").is_err());
        assert!(parse_dest("udp://a").is_err());
        assert!(parse_dest("udp://:5").is_err());
        assert!(parse_dest("udp://a:0").is_err());
        assert!(parse_dest("a:4739").is_err());
    }

    fn opts(p: Protocol, pairs: &[(&str, &str)]) -> Result<Config, PluginError> {
        let o = Options::from_pairs("IPFIX", "x", &options(p), pairs).unwrap();
        config(p, &o)
    }

    #[test]
    fn ulogd2_option_names() {
        let c = opts(
            Protocol::Ipfix,
            &[
                ("oid", "7"),
                ("host", "::1"),
                ("port", "4740"),
                ("proto", "tcp"),
                ("send_template", "once"),
            ],
        )
        .unwrap();
        assert_eq!(c.dest, Endpoint::Tcp("::1".into(), "4740".into()));
        assert_eq!((c.domain, c.nth_template), (7, 0));
        let c = opts(Protocol::V9, &[]).unwrap();
        assert_eq!(c.dest, Endpoint::Udp("127.0.0.1".into(), "9996".into()));
        assert!(!c.shape.biflow);
        assert!(opts(Protocol::V9, &[("biflow", "1")]).is_err());
        assert!(opts(Protocol::Ipfix, &[("mtu", "10")]).is_err());
        let e = opts(Protocol::Ipfix, &[("dest", "smtp://x:1")])
            .err()
            .unwrap();
        assert!(e.to_string().contains("dest"), "{e}");
    }
}
