//! The delivery thread of a sink: channel → backlog → transport → acknowledgement.
//!
//! Protocol logic only; the client library is behind [`Transport`], so the same
//! loop drives librdkafka and JetStream. Records are sent in backlog order; the
//! backlog's ack pointer advances to just below the oldest record not yet confirmed,
//! so after a restart the spool replays exactly the records the peer never
//! confirmed (at least once; NATS de-duplicates by message id, Kafka's idempotent
//! producer within one run).

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::backlog::Backlog;
use super::envelope::{self, Envelope};
use super::Stats;
use crate::spool::{Seq, SpoolError};

/// What the peer said about one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Stored by the peer.
    Delivered,
    /// Not stored, worth sending again (peer away, timeout).
    Retry(String),
    /// Not stored and never will be (unknown topic, refused); the record is dropped.
    Failed(String),
}

/// The client library seen by the pump.
pub trait Transport {
    /// Hands one record to the client. `Err(())` when the client's own queue is full:
    /// the pump polls and tries again later.
    #[allow(clippy::result_unit_err)]
    fn send(&mut self, seq: Seq, env: &Envelope<'_>) -> Result<(), ()>;
    /// Waits up to `timeout` for outcomes of records sent, appending them to `out`.
    fn poll(&mut self, timeout: Duration, out: &mut Vec<(Seq, Outcome)>);
    /// After a `Retry`, resend from that record on (JetStream: order is kept and the
    /// server drops the duplicates by message id) instead of that record alone.
    fn rewind_on_retry(&self) -> bool;
    /// Last words before the thread exits (flush client buffers up to `timeout`).
    fn close(&mut self, _timeout: Duration, _out: &mut Vec<(Seq, Outcome)>) {}
}

/// Tuning of a pump.
#[derive(Clone, Debug)]
pub struct PumpConfig {
    /// Log name (`KAFKA k1`).
    pub name: String,
    /// Records sent per round.
    pub batch: usize,
    /// Records handed to the client and not yet confirmed, at most.
    pub max_in_flight: usize,
    /// Between two "peer unreachable" reports.
    pub log_interval: Duration,
    /// At shutdown, how long to wait for outstanding confirmations.
    pub drain_timeout: Duration,
}

/// Runs until the channel is closed and drained (then up to `drain_timeout` more for
/// confirmations). Everything not confirmed stays in a spool backlog for the next run.
pub fn run(
    cfg: PumpConfig,
    rx: Receiver<Vec<u8>>,
    mut backlog: Box<dyn Backlog>,
    transport: &mut dyn Transport,
    stats: Arc<Stats>,
) {
    let mut p = Pump {
        cursor: backlog.ack_next(),
        outstanding: BTreeSet::new(),
        resend: VecDeque::new(),
        backoff_until: None,
        backoff: Duration::from_millis(50),
        last_progress: Instant::now(),
        last_log: Instant::now() - cfg.log_interval,
        full_logged: false,
        outcomes: Vec::new(),
        rewind: transport.rewind_on_retry(),
        busy: false,
        cfg,
        stats,
    };
    let depth = backlog.counters().depth;
    if depth > 0 {
        log::info!(
            "{}: replaying {depth} records kept from an earlier run",
            p.cfg.name
        );
    }
    let mut pending: Option<Vec<u8>> = None;
    let mut closed = false;
    let mut close_at: Option<Instant> = None;
    loop {
        // 1. Intake: what the front queued, into the backlog.
        // Nothing to send (or sending is held back): wait for the channel instead
        // of spinning.
        let backing_off = p.backoff_until.is_some_and(|u| Instant::now() < u);
        let idle = backing_off
            || p.busy
            || (p.outstanding.is_empty() && p.resend.is_empty() && p.cursor >= next_of(&*backlog));
        if closed && idle && p.outstanding.is_empty() {
            std::thread::sleep(Duration::from_millis(10));
        }
        let mut took = 0usize;
        while !closed && took < p.cfg.batch * 4 {
            let rec = match pending.take() {
                Some(r) => r,
                None => {
                    let r = if took == 0 && idle {
                        let wait = p
                            .backoff_until
                            .map_or(Duration::from_millis(100), |u| {
                                u.saturating_duration_since(Instant::now())
                            })
                            .clamp(Duration::from_millis(1), Duration::from_millis(100));
                        rx.recv_timeout(wait)
                    } else {
                        rx.try_recv().map_err(|e| match e {
                            crossbeam_channel::TryRecvError::Empty => RecvTimeoutError::Timeout,
                            crossbeam_channel::TryRecvError::Disconnected => {
                                RecvTimeoutError::Disconnected
                            }
                        })
                    };
                    match r {
                        Ok(r) => r,
                        Err(RecvTimeoutError::Timeout) => break,
                        Err(RecvTimeoutError::Disconnected) => {
                            closed = true;
                            break;
                        }
                    }
                }
            };
            match backlog.append(&rec) {
                Ok(_) => {
                    took += 1;
                    p.full_logged = false;
                }
                Err(SpoolError::Full) => {
                    // A blocking backlog: keep the record and stop taking, so the
                    // channel fills and the front holds back (or drops, counted).
                    pending = Some(rec);
                    if !p.full_logged {
                        log::warn!("{}: backlog full, holding back", p.cfg.name);
                        p.full_logged = true;
                    }
                    break;
                }
                Err(e) => {
                    Stats::add(&p.stats.errors, 1);
                    p.rate_log(&format!("{}: {e}", p.cfg.name));
                    break;
                }
            }
        }
        if let Err(e) = backlog.commit() {
            p.rate_log(&format!("{}: {e}", p.cfg.name));
        }
        // 2. Send what the client can take.
        p.send_round(&mut *backlog, transport);
        // 3. Outcomes.
        let wait = if p.outstanding.is_empty() {
            Duration::ZERO
        } else {
            Duration::from_millis(20)
        };
        let mut out = std::mem::take(&mut p.outcomes);
        transport.poll(wait, &mut out);
        p.apply(&mut out);
        p.outcomes = out;
        // 4. Acknowledge below the oldest unconfirmed record.
        let low = p
            .outstanding
            .first()
            .copied()
            .into_iter()
            .chain(p.resend.front().copied())
            .chain(std::iter::once(p.cursor))
            .min()
            .unwrap_or(p.cursor);
        if low > backlog.ack_next() {
            if let Err(e) = backlog.ack(low - 1) {
                p.rate_log(&format!("{}: {e}", p.cfg.name));
            }
        }
        *p.stats.spool.lock().unwrap_or_else(|e| e.into_inner()) = backlog.counters();
        p.report_stall(&*backlog);
        if closed && pending.is_none() {
            let done =
                p.outstanding.is_empty() && p.resend.is_empty() && p.cursor >= next_of(&*backlog);
            let at = *close_at.get_or_insert_with(|| Instant::now() + p.cfg.drain_timeout);
            if done || Instant::now() >= at {
                let mut out = Vec::new();
                transport.close(Duration::from_millis(500), &mut out);
                p.apply(&mut out);
                let _ = backlog.commit();
                *p.stats.spool.lock().unwrap_or_else(|e| e.into_inner()) = backlog.counters();
                if !done {
                    log::warn!(
                        "{}: stopping with {} records not confirmed by the peer{}",
                        p.cfg.name,
                        backlog.counters().depth,
                        if backlog.durable() {
                            " (kept in the spool)"
                        } else {
                            " (lost)"
                        }
                    );
                }
                return;
            }
        }
    }
}

/// One past the newest committed record of the backlog.
fn next_of(b: &dyn Backlog) -> Seq {
    b.ack_next() + b.counters().depth
}

struct Pump {
    cfg: PumpConfig,
    stats: Arc<Stats>,
    /// Next record never sent in this run.
    cursor: Seq,
    outstanding: BTreeSet<Seq>,
    resend: VecDeque<Seq>,
    backoff_until: Option<Instant>,
    backoff: Duration,
    last_progress: Instant,
    last_log: Instant,
    full_logged: bool,
    outcomes: Vec<(Seq, Outcome)>,
    rewind: bool,
    /// The client refused the last send (its queue is full, or it is not ready).
    busy: bool,
}

impl Pump {
    fn send_round(&mut self, backlog: &mut dyn Backlog, t: &mut dyn Transport) {
        if self.backoff_until.is_some_and(|u| Instant::now() < u) {
            return;
        }
        self.backoff_until = None;
        self.busy = false;
        // Single resends first (Kafka after a failed delivery report).
        while let Some(&seq) = self.resend.front() {
            if self.outstanding.len() >= self.cfg.max_in_flight {
                return;
            }
            match backlog.peek(seq, 1) {
                Ok(v) if v.first().is_some_and(|r| r.0 == seq) => {
                    if !self.send_one(t, seq, &v[0].1) {
                        return;
                    }
                    Stats::add(&self.stats.retried, 1);
                }
                _ => {} // gone (dropped while full)
            }
            self.resend.pop_front();
        }
        while self.outstanding.len() < self.cfg.max_in_flight {
            let room = (self.cfg.max_in_flight - self.outstanding.len()).min(self.cfg.batch);
            let recs = match backlog.peek(self.cursor, room) {
                Ok(r) => r,
                Err(e) => {
                    self.rate_log(&format!("{}: {e}", self.cfg.name));
                    return;
                }
            };
            if recs.is_empty() {
                // The backlog may have dropped what the cursor pointed at.
                self.cursor = self.cursor.max(backlog.ack_next());
                return;
            }
            for (seq, rec) in recs {
                if !self.send_one(t, seq, &rec) {
                    return;
                }
                self.cursor = seq + 1;
            }
        }
    }

    /// `false` when the client is full (the record is sent again later).
    fn send_one(&mut self, t: &mut dyn Transport, seq: Seq, rec: &[u8]) -> bool {
        let Some(env) = envelope::decode(rec) else {
            Stats::add(&self.stats.failed, 1);
            self.rate_log(&format!(
                "{}: record {seq} is malformed, skipped",
                self.cfg.name
            ));
            return true;
        };
        match t.send(seq, &env) {
            Ok(()) => {
                self.outstanding.insert(seq);
                true
            }
            Err(()) => {
                self.busy = true;
                false
            }
        }
    }

    fn apply(&mut self, out: &mut Vec<(Seq, Outcome)>) {
        for (seq, o) in out.drain(..) {
            if !self.outstanding.remove(&seq) {
                continue; // an outcome of a send superseded by a rewind
            }
            match o {
                Outcome::Delivered => {
                    Stats::add(&self.stats.delivered, 1);
                    self.last_progress = Instant::now();
                    self.backoff = Duration::from_millis(50);
                }
                Outcome::Failed(why) => {
                    Stats::add(&self.stats.failed, 1);
                    self.rate_log(&format!("{}: message refused: {why}", self.cfg.name));
                }
                Outcome::Retry(why) => {
                    self.rate_log(&format!("{}: will retry: {why}", self.cfg.name));
                    self.backoff_until = Some(Instant::now() + self.backoff);
                    self.backoff = (self.backoff * 2).min(Duration::from_secs(2));
                    if self.cursor > seq && self.rewind_all(seq) {
                        Stats::add(&self.stats.retried, 1);
                    } else {
                        self.resend.push_back(seq);
                    }
                }
            }
        }
    }

    fn rewind_all(&mut self, seq: Seq) -> bool {
        if !self.rewind {
            return false;
        }
        self.cursor = seq;
        self.outstanding = self
            .outstanding
            .iter()
            .copied()
            .filter(|&s| s < seq)
            .collect();
        self.resend.retain(|&s| s < seq);
        true
    }

    fn report_stall(&mut self, backlog: &dyn Backlog) {
        let waiting = backlog.counters().depth;
        if waiting > 0
            && self.last_progress.elapsed() >= self.cfg.log_interval
            && self.last_log.elapsed() >= self.cfg.log_interval
        {
            log::warn!(
                "{}: nothing confirmed for {}s, {waiting} records waiting (peer unreachable?)",
                self.cfg.name,
                self.last_progress.elapsed().as_secs()
            );
            self.last_log = Instant::now();
        }
    }

    fn rate_log(&mut self, msg: &str) {
        if self.last_log.elapsed() >= self.cfg.log_interval {
            log::warn!("{msg}");
            self.last_log = Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::backlog::MemBacklog;
    use std::collections::HashMap;

    /// A peer without I/O: records every send, answers from a script (per seq, the
    /// outcomes of its successive sends; `Delivered` when the script is empty).
    struct Fake {
        rewind: bool,
        sent: Vec<Seq>,
        script: HashMap<Seq, VecDeque<Outcome>>,
        due: Vec<(Seq, Outcome)>,
    }

    impl Transport for Fake {
        fn send(&mut self, seq: Seq, env: &Envelope<'_>) -> Result<(), ()> {
            assert_eq!(env.payload, format!("m{seq}").as_bytes());
            self.sent.push(seq);
            let o = self
                .script
                .get_mut(&seq)
                .and_then(|q| q.pop_front())
                .unwrap_or(Outcome::Delivered);
            self.due.push((seq, o));
            Ok(())
        }
        fn poll(&mut self, _t: Duration, out: &mut Vec<(Seq, Outcome)>) {
            out.append(&mut self.due);
        }
        fn rewind_on_retry(&self) -> bool {
            self.rewind
        }
    }

    fn drive(fake: &mut Fake, n: u64) -> Arc<Stats> {
        let (tx, rx) = crossbeam_channel::bounded(100);
        for i in 0..n {
            tx.send(envelope::encode(b"t", None, format!("m{i}").as_bytes()))
                .unwrap();
        }
        drop(tx);
        let stats = Arc::new(Stats::default());
        let cfg = PumpConfig {
            name: "test".into(),
            batch: 4,
            max_in_flight: 8,
            log_interval: Duration::from_secs(60),
            drain_timeout: Duration::from_secs(10),
        };
        run(
            cfg,
            rx,
            Box::new(MemBacklog::new(1000)),
            fake,
            stats.clone(),
        );
        stats
    }

    fn fake(rewind: bool, script: &[(Seq, Outcome)]) -> Fake {
        let mut m: HashMap<Seq, VecDeque<Outcome>> = HashMap::new();
        for (s, o) in script {
            m.entry(*s).or_default().push_back(o.clone());
        }
        Fake {
            rewind,
            sent: Vec::new(),
            script: m,
            due: Vec::new(),
        }
    }

    #[test]
    fn everything_delivered_in_order_and_acknowledged() {
        let mut f = fake(false, &[]);
        let st = drive(&mut f, 50);
        assert_eq!(f.sent, (0..50).collect::<Vec<_>>());
        assert_eq!(Stats::get(&st.delivered), 50);
        assert_eq!(st.spool.lock().unwrap().depth, 0);
    }

    #[test]
    fn a_retry_resends_that_record_alone_without_rewind() {
        let mut f = fake(false, &[(3, Outcome::Retry("away".into()))]);
        let st = drive(&mut f, 10);
        assert_eq!(f.sent.iter().filter(|&&s| s == 3).count(), 2);
        assert_eq!(f.sent.len(), 11);
        assert_eq!(Stats::get(&st.delivered), 10);
        assert_eq!(Stats::get(&st.retried), 1);
        assert_eq!(st.spool.lock().unwrap().depth, 0);
    }

    #[test]
    fn a_retry_rewinds_when_the_peer_deduplicates() {
        // The peer loses 3 and everything sent after it in that round.
        let mut f = fake(true, &[(3, Outcome::Retry("timeout".into()))]);
        let st = drive(&mut f, 10);
        let first_resend = f.sent.iter().rposition(|&s| s == 3).unwrap();
        assert!(first_resend > 3, "{:?}", f.sent);
        assert_eq!(&f.sent[first_resend..], &(3..10).collect::<Vec<_>>()[..]);
        assert_eq!(Stats::get(&st.delivered), 10);
        assert_eq!(st.spool.lock().unwrap().depth, 0);
    }

    #[test]
    fn a_refused_record_is_counted_and_does_not_hold_the_rest() {
        let mut f = fake(false, &[(5, Outcome::Failed("unknown topic".into()))]);
        let st = drive(&mut f, 10);
        assert_eq!(Stats::get(&st.delivered), 9);
        assert_eq!(Stats::get(&st.failed), 1);
        assert_eq!(st.spool.lock().unwrap().depth, 0);
        assert_eq!(f.sent.len(), 10);
    }
}
