//! The exporting process of one destination, as a state machine without I/O or
//! clock (quinn-proto's shape): records go in with [`IpfixSession::handle_record`],
//! finished messages come out of [`IpfixSession::poll_transmit`], and the socket edge
//! reports what happened to them ([`IpfixSession::handle_sent`],
//! [`IpfixSession::handle_send_failed`]) and to the connection
//! ([`IpfixSession::handle_connected`], ...). Every decision that depends on time
//! takes `now` from the caller, and [`IpfixSession::poll_timeout`] says when the
//! next one is due, so the tests drive it on a fake clock.
//!
//! What it decides:
//! - message building: records of one template share a data set; a message leaves
//!   when the next record would pass `mtu`, when it holds `corksets_max` records,
//!   or `flush` after its first record (so a quiet stack never keeps one back);
//! - templates: a new template goes inline before its first record; over UDP every
//!   template and the exporter-statistics options template (messages, records,
//!   records not sent) are resent every `nth_template` messages and every
//!   `template_refresh`; over TCP they are sent first on each connection;
//! - sequence numbers, written into the header when the message leaves: IPFIX
//!   counts the data records sent before the message on this transport session,
//!   options records included (RFC 7011 §3.1), NetFlow v9 the packets sent before
//!   it (RFC 3954 §5.1); both restart at 0 on a new TCP connection;
//! - the queue: finished messages wait (TCP: while the collector is away) up to
//!   `queue_max`; more are dropped and counted (`queue_drops`, `lost`);
//! - reconnecting: after a failed attempt the next one waits 1 s, doubling to 30 s.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::super::template::{stats_template, Fields, Templates, MAX_FIELDS, STATS_TEMPLATE_ID};
use super::super::wire::{HeaderRepr, Protocol, TemplateRepr};

/// First reconnect delay.
pub(crate) const BACKOFF_MIN: Duration = Duration::from_secs(1);
/// Longest reconnect delay.
pub(crate) const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Largest IPFIX message (the length field is 16 bits).
const MAX_MESSAGE: usize = 65535;

/// How messages travel: it decides template refresh, sequence restarts and what a
/// failed send means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transport {
    /// Datagrams: templates refreshed periodically; a failed send loses the message.
    Udp,
    /// A stream: templates once per connection; a failed send keeps the message for
    /// the next connection.
    Tcp,
}

/// What the session needs to know (the exporter's options minus the address).
#[derive(Clone, Copy, Debug)]
pub(crate) struct SessionConfig {
    pub protocol: Protocol,
    pub transport: Transport,
    /// Observation domain (IPFIX) / source id (NetFlow v9).
    pub domain: u32,
    /// UDP: templates every N messages (0: not by count).
    pub nth_template: u32,
    /// UDP: templates every this long (zero: not by time).
    pub template_refresh: Duration,
    /// Most data records per message (0: as many as `mtu` allows).
    pub corksets_max: u32,
    pub mtu: usize,
    /// A partly filled message leaves this long after its first record.
    pub flush: Duration,
    /// Finished messages kept while they cannot be sent.
    pub queue_max: usize,
    /// exportingProcessId in the statistics record (the process id).
    pub exporter_id: u32,
}

/// A finished message waiting to be sent.
struct Queued {
    buf: Vec<u8>,
    /// Flow records (counters, losses).
    records: u32,
    /// Data records of any template, options included (the IPFIX sequence).
    seq_records: u32,
}

/// The session's counters (the Stage's `counters()`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counters {
    /// Messages sent.
    pub messages: u64,
    /// Flow records sent.
    pub records: u64,
    /// Flow records that will never be sent (queue full, send failed, shutdown).
    pub lost: u64,
    /// Messages dropped because the queue was full.
    pub queue_drops: u64,
    /// Template records put into messages.
    pub templates_sent: u64,
    /// Connections (UDP: sockets) made.
    pub connects: u64,
}

/// One destination's exporting process; see the module documentation.
pub(crate) struct IpfixSession {
    cfg: SessionConfig,
    templates: Templates,
    stats_tmpl: TemplateRepr,
    /// The message being built (header space first, patched when it leaves).
    msg: Vec<u8>,
    /// Data records in `msg`.
    msg_records: u32,
    /// NetFlow v9 header count: records of any kind in `msg`.
    msg_count: u16,
    /// The data set being appended to: (template id, offset of its header).
    open_set: Option<(u16, usize)>,
    /// When the first record went into `msg`.
    msg_started: Instant,
    queue: VecDeque<Queued>,
    /// Buffers of sent messages, reused.
    spare: Vec<Vec<u8>>,
    /// Whether the edge holds a socket (UDP) / a connection (TCP).
    connected: bool,
    /// Earliest time of the next connection attempt.
    next_attempt: Instant,
    backoff: Duration,
    /// IPFIX: data records sent on this transport session; NetFlow v9: packets sent.
    seq: u32,
    msgs_since_templates: u32,
    last_templates: Instant,
    /// Origin of NetFlow v9's sysUptime.
    start: Instant,
    counters: Counters,
    overflow_logged: bool,
}

impl IpfixSession {
    /// A session that has not connected yet; `now` is its start (sysUptime 0).
    pub(crate) fn new(cfg: SessionConfig, now: Instant) -> IpfixSession {
        IpfixSession {
            cfg,
            templates: Templates::default(),
            stats_tmpl: stats_template(cfg.protocol),
            msg: Vec::with_capacity(cfg.mtu.max(64)),
            msg_records: 0,
            msg_count: 0,
            open_set: None,
            msg_started: now,
            queue: VecDeque::new(),
            spare: Vec::new(),
            connected: false,
            next_attempt: now,
            backoff: BACKOFF_MIN,
            seq: 0,
            msgs_since_templates: 0,
            last_templates: now,
            start: now,
            counters: Counters::default(),
            overflow_logged: false,
        }
    }

    /// The configuration.
    pub(crate) fn config(&self) -> &SessionConfig {
        &self.cfg
    }

    /// Counters so far.
    pub(crate) fn counters(&self) -> Counters {
        self.counters
    }

    /// Finished messages not sent yet.
    pub(crate) fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Data templates defined so far.
    pub(crate) fn template_count(&self) -> usize {
        self.templates.list.len()
    }

    fn is_tcp(&self) -> bool {
        self.cfg.transport == Transport::Tcp
    }

    // ---- records in ------------------------------------------------------------

    /// Appends one record: finds or creates the template of exactly its fields,
    /// announces a new template inline, starts a new message when this one is full.
    pub(crate) fn handle_record(&mut self, f: &Fields<'_>, now: Instant) {
        let p = self.cfg.protocol;
        if f.overflow && !self.overflow_logged {
            self.overflow_logged = true;
            log::warn!(
                "{}: records carry more than {MAX_FIELDS} fields; the rest are left out",
                p.name(),
            );
        }
        let Some(ti) = self.templates.lookup(f.specs()) else {
            self.counters.lost += 1;
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
            && (self.msg.len() + rec_len + extra > self.cfg.mtu
                || (self.cfg.corksets_max > 0 && self.msg_records >= self.cfg.corksets_max))
        {
            self.finish();
        }
        if hl + rec_len + extra > MAX_MESSAGE {
            self.counters.lost += 1;
            return;
        }
        if self.msg.is_empty() {
            self.msg.resize(hl, 0);
            self.msg_started = now;
        }
        if !self.templates.announced[ti] {
            self.close_set();
            self.templates.list[ti].emit_set(p, &mut self.msg);
            self.templates.announced[ti] = true;
            self.counters.templates_sent += 1;
            self.msg_count = self.msg_count.saturating_add(1);
        }
        self.open_set(tid);
        f.encode(&mut self.msg);
        self.msg_records += 1;
        self.msg_count = self.msg_count.saturating_add(1);
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

    /// Closes the message being built (if it holds anything) and queues it; over
    /// `queue_max` it is dropped and counted.
    pub(crate) fn finish(&mut self) {
        let p = self.cfg.protocol;
        if self.msg.len() <= p.header_len() {
            self.msg.clear();
            return;
        }
        self.close_set();
        // Length (IPFIX) or count (NFv9) now; time and sequence when it leaves.
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
        if !self.is_tcp() {
            self.msgs_since_templates += 1;
        }
        self.push_queue(Queued {
            buf,
            records,
            seq_records: records,
        });
    }

    fn push_queue(&mut self, q: Queued) {
        if self.queue.len() >= self.cfg.queue_max {
            self.counters.queue_drops += 1;
            self.counters.lost += q.records as u64;
            self.spare.push(q.buf);
            return;
        }
        self.queue.push_back(q);
    }

    /// Queues messages with every template, the options template and one
    /// statistics record. `front`: before everything queued (a new TCP connection,
    /// whose collector knows nothing yet). The message being built stays open: it
    /// is queued after the templates, so nothing refers to an unsent template.
    fn queue_templates(&mut self, front: bool, now: Instant) {
        let p = self.cfg.protocol;
        let mtu = self.cfg.mtu;
        let hl = p.header_len();
        let mut out: Vec<Queued> = Vec::new();
        let mut buf = self.spare.pop().unwrap_or_default();
        let mut count: u16 = 0;
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
            if buf.len() > hl && buf.len() + t.wire_len(p) + 8 > mtu {
                push_msg(&mut buf, &mut count, &mut out);
            }
            t.emit_set(p, &mut buf);
            count += 1;
            self.templates.announced[i] = true;
            self.counters.templates_sent += 1;
        }
        // The options template and one statistics record.
        if buf.len() > hl && buf.len() + 64 > mtu {
            push_msg(&mut buf, &mut count, &mut out);
        }
        self.stats_tmpl.emit_set(p, &mut buf);
        let start = buf.len();
        buf.extend_from_slice(&STATS_TEMPLATE_ID.to_be_bytes());
        buf.extend_from_slice(&[0, 0]);
        buf.extend_from_slice(&self.cfg.exporter_id.to_be_bytes());
        buf.extend_from_slice(&self.counters.messages.to_be_bytes());
        buf.extend_from_slice(&self.counters.records.to_be_bytes());
        buf.extend_from_slice(&self.counters.lost.to_be_bytes());
        let l = (buf.len() - start) as u16;
        buf[start + 2..start + 4].copy_from_slice(&l.to_be_bytes());
        count += 2;
        self.counters.templates_sent += 1;
        push_msg(&mut buf, &mut count, &mut out);
        if let Some(q) = out.last_mut() {
            q.seq_records = 1;
        }
        if front {
            for q in out.into_iter().rev() {
                self.queue.push_front(q);
            }
        } else {
            for q in out {
                self.push_queue(q);
            }
        }
        self.msgs_since_templates = 0;
        self.last_templates = now;
    }

    /// UDP template refresh, by count and by time.
    fn refresh_if_due(&mut self, now: Instant) {
        if self.is_tcp() {
            return;
        }
        let by_count =
            self.cfg.nth_template > 0 && self.msgs_since_templates >= self.cfg.nth_template;
        let by_time = !self.cfg.template_refresh.is_zero()
            && now.saturating_duration_since(self.last_templates) >= self.cfg.template_refresh;
        if by_count || by_time {
            self.queue_templates(false, now);
        }
    }

    // ---- time ------------------------------------------------------------------

    /// Runs what is due at `now`: the flush timer of a partly filled message, the
    /// UDP template refresh by time.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        if self.msg.len() > self.cfg.protocol.header_len()
            && now.saturating_duration_since(self.msg_started) >= self.cfg.flush
        {
            self.finish();
        }
        self.refresh_if_due(now);
    }

    /// When [`Self::handle_timeout`] or [`Self::poll_connect`] next has something
    /// to do (`None`: nothing pending).
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let flush = (self.msg.len() > self.cfg.protocol.header_len())
            .then(|| self.msg_started + self.cfg.flush);
        let refresh = (!self.is_tcp() && !self.cfg.template_refresh.is_zero())
            .then(|| self.last_templates + self.cfg.template_refresh);
        let connect = (!self.connected).then_some(self.next_attempt);
        [flush, refresh, connect].into_iter().flatten().min()
    }

    // ---- messages out ----------------------------------------------------------

    /// Whether a finished message waits.
    pub(crate) fn has_transmit(&self) -> bool {
        !self.queue.is_empty()
    }

    /// The next message to send, its header written (sequence, export time
    /// `unix_secs`, NetFlow v9 sysUptime from `now`); `None` when nothing can be
    /// sent. The edge answers with [`Self::handle_sent`] or
    /// [`Self::handle_send_failed`]. Over UDP without a socket, waiting messages
    /// are lost (counted) rather than kept.
    pub(crate) fn poll_transmit(&mut self, now: Instant, unix_secs: u32) -> Option<&[u8]> {
        self.refresh_if_due(now);
        while !self.connected && !self.queue.is_empty() {
            if self.is_tcp() {
                return None;
            }
            let q = self.queue.pop_front().expect("not empty");
            self.counters.lost += q.records as u64;
            self.spare.push(q.buf);
        }
        let p = self.cfg.protocol;
        let (seq, domain) = (self.seq, self.cfg.domain);
        let uptime = now.saturating_duration_since(self.start).as_millis() as u32;
        let q = self.queue.front_mut()?;
        let h = HeaderRepr {
            protocol: p,
            length_or_count: u16::from_be_bytes([q.buf[2], q.buf[3]]),
            sys_uptime_ms: uptime,
            export_time: unix_secs,
            sequence: seq,
            domain,
        };
        h.emit(&mut q.buf);
        Some(&q.buf)
    }

    /// The message [`Self::poll_transmit`] returned last, as it was then (its header
    /// is not written again): the rest of a message a stream took only part of.
    pub(crate) fn front(&self) -> Option<&[u8]> {
        self.queue.front().map(|q| &q.buf[..])
    }

    /// The message of the last [`Self::poll_transmit`] left.
    pub(crate) fn handle_sent(&mut self) {
        let Some(q) = self.queue.pop_front() else {
            return;
        };
        self.counters.messages += 1;
        self.counters.records += q.records as u64;
        self.seq = match self.cfg.protocol {
            Protocol::Ipfix => self.seq.wrapping_add(q.seq_records),
            Protocol::V9 => self.seq.wrapping_add(1),
        };
        self.spare.push(q.buf);
    }

    /// The message of the last [`Self::poll_transmit`] could not be sent. TCP: the
    /// connection is gone, the message stays first in the queue for the next one
    /// (reconnect at once). UDP (ECONNREFUSED from an earlier ICMP error, a full
    /// buffer): the message is lost.
    pub(crate) fn handle_send_failed(&mut self, now: Instant) {
        if self.is_tcp() {
            self.handle_link_lost(now);
        } else if let Some(q) = self.queue.pop_front() {
            self.counters.lost += q.records as u64;
            self.spare.push(q.buf);
        }
    }

    // ---- the link --------------------------------------------------------------

    /// Whether the edge should try to connect now. Saying yes arms the next attempt
    /// one backoff later, so a connect that hangs is not retried at once.
    pub(crate) fn poll_connect(&mut self, now: Instant) -> bool {
        if self.connected || now < self.next_attempt {
            return false;
        }
        self.next_attempt = now + self.backoff;
        true
    }

    /// The edge holds a new socket / connection: a new transport session. TCP:
    /// the sequence restarts and every template goes first; UDP: every template is
    /// queued.
    pub(crate) fn handle_connected(&mut self, now: Instant) {
        self.connected = true;
        self.counters.connects += 1;
        self.backoff = BACKOFF_MIN;
        match self.cfg.transport {
            Transport::Tcp => {
                self.seq = 0;
                self.queue_templates(true, now);
            }
            Transport::Udp => self.queue_templates(false, now),
        }
    }

    /// A connection attempt failed; returns how long until the next one.
    pub(crate) fn handle_connect_failed(&mut self, now: Instant) -> Duration {
        let b = self.backoff;
        self.next_attempt = now + b;
        self.backoff = (b * 2).min(BACKOFF_MAX);
        b
    }

    /// The link is gone (peer closed, write error, SIGHUP): reconnect at once.
    pub(crate) fn handle_link_lost(&mut self, now: Instant) {
        self.connected = false;
        self.next_attempt = now;
    }

    /// Shutdown: everything still queued is lost; returns how many records.
    pub(crate) fn abandon_queue(&mut self) -> u64 {
        let n: u64 = self.queue.iter().map(|q| q.records as u64).sum();
        self.counters.lost += n;
        while let Some(q) = self.queue.pop_front() {
            self.spare.push(q.buf);
        }
        n
    }
}

#[cfg(test)]
mod tests;
