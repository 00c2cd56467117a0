//! The collector's decoder: pure protocol logic over one transport (all UDP
//! exporters, or one TCP connection). It takes a message and the time, learns and
//! withdraws templates in its [`TemplateCache`], accounts sequence numbers in its
//! [`SeqTracker`], and hands every data record to a callback (the source fills an
//! event with [`super::fill`]); no socket, no clock, no engine, so it is
//! unit-tested on a fake clock and fuzzed as it runs.
//!
//! Bad input is counted (`bad_messages`), reported as a typed [`DecodeError`] in
//! [`Decoded::error`] and never panics; what decoded before the error is kept.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use thiserror::Error;

use super::super::wire::{
    HeaderRepr, MessageView, Protocol, RecordIter, RecordView, SetView, TemplateIter, WireError,
    MIN_DATA_SET_ID,
};
use super::seq::{SeqEvent, SeqTracker};
use super::templates::{
    Learnt, Lookup, TemplateCache, DEFAULT_MAX_EXPORTERS, DEFAULT_MAX_TEMPLATES,
};

/// Why (part of) a message was not decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The bytes are not a valid message, set, template or record.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// A template record with an id below 256 (reserved for set ids).
    #[error("template id {0} is reserved (data template ids start at 256)")]
    ReservedTemplateId(u16),
    /// The exporter and domain already hold `max_templates` templates.
    #[error("more than {0} templates for one exporter and domain (max_templates)")]
    TooManyTemplates(usize),
    /// `max_exporters` exporter/domain pairs are known already.
    #[error("more than {0} exporters and domains (max_exporters)")]
    TooManyExporters(usize),
}

/// The decoder's bounds and timers.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Templates not refreshed for this long are dropped (zero: never; TCP).
    pub template_timeout: Duration,
    /// Templates kept per exporter and observation domain.
    pub max_templates: usize,
    /// Exporter/domain pairs kept (templates and sequence tracks).
    pub max_exporters: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            template_timeout: Duration::from_secs(1800),
            max_templates: DEFAULT_MAX_TEMPLATES,
            max_exporters: DEFAULT_MAX_EXPORTERS,
        }
    }
}

/// Where a message whose record the callback refused goes on: the set and the
/// record in it, with the counts so far. Resuming by position, not by a count of
/// records, matters: a message may redefine a template after using it, and the
/// cache already holds what the first pass learnt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resume {
    set_offset: usize,
    in_set: usize,
    records: usize,
    seq_n: u32,
}

/// What [`Decoder::process`] did with one message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Decoded {
    /// Flow records of the message handed to the callback so far (earlier passes
    /// included).
    pub records: usize,
    /// The callback refused a record (the pool ran out): call again with this to
    /// go on.
    pub blocked: Option<Resume>,
    /// The first problem met, if any (decoding went on where it could).
    pub error: Option<DecodeError>,
}

/// Counters, shared by the UDP decoder and the TCP connections' decoders.
#[derive(Default, Debug)]
pub struct Stats {
    messages: AtomicU64,
    records: AtomicU64,
    options_records: AtomicU64,
    bad_messages: AtomicU64,
    no_template: AtomicU64,
    templates: AtomicU64,
    templates_held: AtomicU64,
    withdrawals: AtomicU64,
    expired: AtomicU64,
    templates_over_limit: AtomicU64,
    exporters_over_limit: AtomicU64,
    seq_gaps: AtomicU64,
    records_missed: AtomicU64,
    seq_resets: AtomicU64,
    seq_outliers: AtomicU64,
    connections: AtomicU64,
    connections_refused: AtomicU64,
}

fn inc(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

impl Stats {
    pub(crate) fn bad_messages_inc(&self) {
        inc(&self.bad_messages, 1);
    }
    pub(crate) fn connections_inc(&self) {
        inc(&self.connections, 1);
    }
    pub(crate) fn connections_refused_inc(&self) {
        inc(&self.connections_refused, 1);
    }

    /// Every counter, by the name the source reports it under.
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        vec![
            ("messages", g(&self.messages)),
            ("records", g(&self.records)),
            ("options_records", g(&self.options_records)),
            ("bad_messages", g(&self.bad_messages)),
            ("no_template", g(&self.no_template)),
            ("templates", g(&self.templates)),
            ("templates_held", g(&self.templates_held)),
            ("withdrawals", g(&self.withdrawals)),
            ("templates_expired", g(&self.expired)),
            ("templates_over_limit", g(&self.templates_over_limit)),
            ("exporters_over_limit", g(&self.exporters_over_limit)),
            ("seq_gaps", g(&self.seq_gaps)),
            ("records_missed", g(&self.records_missed)),
            ("seq_resets", g(&self.seq_resets)),
            ("seq_outliers", g(&self.seq_outliers)),
            ("tcp_connections", g(&self.connections)),
            ("tcp_refused", g(&self.connections_refused)),
        ]
    }

    /// One counter by name (tests, fuzzing).
    pub fn get(&self, name: &str) -> Option<u64> {
        self.snapshot()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }
}

/// Logs at most once per interval, saying how many were suppressed.
#[derive(Default)]
struct RateLimit {
    last: Option<Instant>,
    suppressed: u64,
}

const LOG_EVERY: Duration = Duration::from_secs(10);

impl RateLimit {
    /// `Some(suppressed since the last log)` when a log line may go out now.
    fn allow(&mut self, now: Instant) -> Option<u64> {
        if self
            .last
            .is_some_and(|l| now.saturating_duration_since(l) < LOG_EVERY)
        {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

/// How often a decoder sweeps expired templates (they also go on lookup).
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Template cache and sequence accounting of one transport; see the module
/// documentation.
pub struct Decoder {
    cache: TemplateCache,
    seqs: SeqTracker,
    stats: Arc<Stats>,
    /// `cache.len()` as last added to `stats.templates_held`.
    held: usize,
    last_sweep: Option<Instant>,
    over_limit_log: RateLimit,
}

impl Decoder {
    /// An empty decoder with its own counters.
    pub fn new(limits: Limits) -> Decoder {
        Decoder::with_stats(limits, Arc::default())
    }

    /// An empty decoder counting into `stats`.
    pub fn with_stats(limits: Limits, stats: Arc<Stats>) -> Decoder {
        let idle = if limits.template_timeout.is_zero() {
            Duration::from_secs(1800)
        } else {
            limits.template_timeout
        };
        Decoder {
            cache: TemplateCache::new(
                limits.template_timeout,
                limits.max_templates,
                limits.max_exporters,
            ),
            seqs: SeqTracker::new(limits.max_exporters, idle),
            stats,
            held: 0,
            last_sweep: None,
            over_limit_log: RateLimit::default(),
        }
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Templates held now.
    pub fn templates(&self) -> usize {
        self.cache.len()
    }

    /// Exporter/domain pairs holding templates now.
    pub fn exporters(&self) -> usize {
        self.cache.exporters()
    }

    /// Exporter/domain pairs whose sequence numbers are tracked.
    pub fn tracked(&self) -> usize {
        self.seqs.len()
    }

    /// Records of gaps not confirmed yet (see `seq.rs`).
    pub fn pending_missed(&self) -> u64 {
        self.seqs.pending()
    }

    /// Forgets everything about `peer` (a closed TCP connection).
    pub fn forget(&mut self, peer: SocketAddr) {
        self.cache.forget(peer);
        self.seqs.forget(peer);
        self.account_held();
    }

    fn account_held(&mut self) {
        let now = self.cache.len();
        if now >= self.held {
            inc(&self.stats.templates_held, (now - self.held) as u64);
        } else {
            self.stats
                .templates_held
                .fetch_sub((self.held - now) as u64, Ordering::Relaxed);
        }
        self.held = now;
    }

    /// Drops expired templates (at most once per [`SWEEP_EVERY`]), so memory is
    /// freed even for templates no data set ever looks up again.
    fn sweep(&mut self, now: Instant) {
        if self
            .last_sweep
            .is_some_and(|l| now.saturating_duration_since(l) < SWEEP_EVERY)
        {
            return;
        }
        self.last_sweep = Some(now);
        let n = self.cache.expire(now);
        inc(&self.stats.expired, n as u64);
        self.account_held();
    }

    fn over_limit(&mut self, e: DecodeError, peer: SocketAddr, domain: u32, now: Instant) {
        if let Some(suppressed) = self.over_limit_log.allow(now) {
            let more = if suppressed > 0 {
                format!(" ({suppressed} more since the last message)")
            } else {
                String::new()
            };
            log::warn!("IPFIXCOL: {peer} domain {domain}: {e}; template refused{more}");
        }
    }

    fn learn(
        &mut self,
        peer: SocketAddr,
        h: &HeaderRepr,
        set: &SetView<'_>,
        options: bool,
        now: Instant,
        out: &mut Decoded,
    ) {
        let src = (peer, h.domain);
        for t in TemplateIter::new(set, h.protocol, options) {
            let t = match t {
                Ok(t) => t,
                Err(e) => {
                    log::debug!("IPFIXCOL: {peer}: {e}");
                    inc(&self.stats.bad_messages, 1);
                    out.error.get_or_insert(e.into());
                    return;
                }
            };
            if t.is_withdrawal() {
                inc(&self.stats.withdrawals, 1);
                // RFC 7011 §8.1: id 2 withdraws every template of the domain, id 3
                // every options template.
                if t.id == 2 || t.id == 3 {
                    self.cache.withdraw_all(src, t.id == 3);
                } else {
                    self.cache.withdraw(src, t.id);
                }
                continue;
            }
            if t.id < MIN_DATA_SET_ID {
                inc(&self.stats.bad_messages, 1);
                out.error
                    .get_or_insert(DecodeError::ReservedTemplateId(t.id));
                continue;
            }
            let e = match self.cache.learn(src, t, now) {
                Learnt::New | Learnt::Refreshed => {
                    inc(&self.stats.templates, 1);
                    continue;
                }
                Learnt::TooManyTemplates => {
                    inc(&self.stats.templates_over_limit, 1);
                    DecodeError::TooManyTemplates(self.cache.max_templates())
                }
                Learnt::TooManyExporters => {
                    inc(&self.stats.exporters_over_limit, 1);
                    DecodeError::TooManyExporters(self.cache.max_exporters())
                }
            };
            out.error.get_or_insert(e);
            self.over_limit(e, peer, h.domain, now);
        }
    }

    /// Decodes one message from `peer` at `now`: learns its templates and hands
    /// each data record to `on_record`. `on_record` returns `false` when it cannot
    /// take the record (the pool ran out): decoding stops with
    /// [`Decoded::blocked`], and a later call with that `resume` goes on from the
    /// refused record. Sequence numbers are accounted once, by the call that
    /// finishes the message.
    pub fn process(
        &mut self,
        peer: SocketAddr,
        msg: &[u8],
        resume: Option<Resume>,
        now: Instant,
        on_record: &mut dyn FnMut(&HeaderRepr, &RecordView<'_, '_>) -> bool,
    ) -> Decoded {
        let mut out = Decoded::default();
        self.sweep(now);
        let m = match MessageView::new_checked(msg) {
            Ok(m) => m,
            Err(e) => {
                log::debug!("IPFIXCOL: {peer}: {e}");
                inc(&self.stats.bad_messages, 1);
                out.error = Some(e.into());
                return out;
            }
        };
        let h = m.header;
        let p = h.protocol;
        let src = (peer, h.domain);
        let first_pass = resume.is_none();
        let r = resume.unwrap_or_default();
        if first_pass {
            inc(&self.stats.messages, 1);
        }
        let mut n = r.records;
        let mut seq_n = r.seq_n;
        for set in m.sets() {
            let set = match set {
                Ok(s) => s,
                Err(e) => {
                    // The first pass stopped before it (set errors end a message).
                    log::debug!("IPFIXCOL: {peer}: {e}");
                    inc(&self.stats.bad_messages, 1);
                    out.error.get_or_insert(e.into());
                    break;
                }
            };
            if !first_pass && set.offset < r.set_offset {
                // Done by an earlier pass.
                continue;
            }
            let resumed_here = !first_pass && set.offset == r.set_offset;
            if set.id == p.template_set_id() || set.id == p.options_set_id() {
                self.learn(peer, &h, &set, set.id == p.options_set_id(), now, &mut out);
                continue;
            }
            if set.id < MIN_DATA_SET_ID {
                // Reserved set ids: ignored (RFC 7011 §3.3.2).
                continue;
            }
            let t = match self.cache.get(src, set.id, now) {
                Lookup::Found(t) => t,
                Lookup::Missing => {
                    inc(&self.stats.no_template, 1);
                    continue;
                }
                Lookup::Expired => {
                    inc(&self.stats.expired, 1);
                    inc(&self.stats.no_template, 1);
                    continue;
                }
            };
            for (i, rec) in RecordIter::new(&set, t).enumerate() {
                if resumed_here && i < r.in_set {
                    continue;
                }
                let rec = match rec {
                    Ok(r) => r,
                    Err(e) => {
                        inc(&self.stats.bad_messages, 1);
                        out.error.get_or_insert(e.into());
                        break;
                    }
                };
                // Options records count in the IPFIX sequence too (RFC 7011 §3.1).
                seq_n = seq_n.saturating_add(1);
                if t.is_options() {
                    inc(&self.stats.options_records, 1);
                    continue;
                }
                n += 1;
                if !on_record(&h, &rec) {
                    out.records = n - 1;
                    out.blocked = Some(Resume {
                        set_offset: set.offset,
                        in_set: i,
                        records: n - 1,
                        seq_n: seq_n - 1,
                    });
                    self.account_held();
                    return out;
                }
                inc(&self.stats.records, 1);
            }
        }
        out.records = n;
        let advance = match p {
            Protocol::Ipfix => seq_n,
            Protocol::V9 => 1,
        };
        match self.seqs.observe(src, h.sequence, advance, now) {
            SeqEvent::Gap { missed } => {
                inc(&self.stats.seq_gaps, 1);
                if p == Protocol::Ipfix {
                    inc(&self.stats.records_missed, missed as u64);
                }
            }
            SeqEvent::Reset => inc(&self.stats.seq_resets, 1),
            SeqEvent::Outlier => inc(&self.stats.seq_outliers, 1),
            SeqEvent::First | SeqEvent::Untracked | SeqEvent::InOrder | SeqEvent::Jump => {}
        }
        self.account_held();
        out
    }
}

#[cfg(test)]
mod tests;
