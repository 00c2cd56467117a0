//! The one output stage: lock, queue, open/reopen/reconnect, counters, error reports.

use std::io;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ulogd_core::{Event, PluginError, Ret, Signal, Stage};

use super::overflow::Overflow;
use super::{Encoder, QueueConfig, RecordQueue, WhenFull};
use crate::transport::{wait_writable, Framing, Opened, Transport};

/// A file is written once this much is queued (or on `sync`, the `flush_interval`
/// tick, shutdown).
const FILE_FLUSH_AT: usize = 64 * 1024;
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A stream peer is looked at for a close before writing at most this often.
const PEER_CHECK_EVERY: Duration = Duration::from_millis(1);
/// How often repeated errors are summarised.
const REPORT_EVERY: Duration = Duration::from_secs(10);
/// `when_full=block` on a peer: the longest wait for one record.
const BLOCK_MAX: Duration = Duration::from_secs(1);
/// At shutdown, how long a peer gets to take what is queued.
const DRAIN_AT_STOP: Duration = Duration::from_secs(2);

/// First occurrence at once, then one summary per [`REPORT_EVERY`].
struct RateLimit {
    last: Option<Instant>,
    suppressed: u64,
    last_msg: String,
    /// The kind of the last logged occurrence: a new kind is logged at once.
    kind: Option<io::ErrorKind>,
}

impl RateLimit {
    fn new() -> RateLimit {
        RateLimit {
            last: None,
            suppressed: 0,
            last_msg: String::new(),
            kind: None,
        }
    }

    /// Whether to log this occurrence now (else it is counted for the summary): the
    /// first of an episode, or one of a different kind than the last logged.
    fn note(&mut self, kind: Option<io::ErrorKind>, msg: impl FnOnce() -> String) -> bool {
        let new_kind = kind.is_some() && kind != self.kind;
        self.kind = kind.or(self.kind);
        match self.last {
            _ if new_kind => {
                self.last = Some(Instant::now());
                true
            }
            None => {
                self.last = Some(Instant::now());
                true
            }
            Some(_) => {
                self.suppressed += 1;
                if self.suppressed == 1 || self.last_msg.is_empty() {
                    self.last_msg = msg();
                }
                false
            }
        }
    }

    /// The occurrences since the last message, if an interval has passed.
    fn due(&mut self) -> Option<(u64, String)> {
        let last = self.last?;
        if self.suppressed == 0 || last.elapsed() < REPORT_EVERY {
            return None;
        }
        self.last = Some(Instant::now());
        let n = std::mem::take(&mut self.suppressed);
        Some((n, std::mem::take(&mut self.last_msg)))
    }

    /// Ends an episode: the next occurrence logs at once. Returns the unreported count.
    fn reset(&mut self) -> Option<u64> {
        let was = self
            .last
            .take()
            .map(|_| std::mem::take(&mut self.suppressed));
        self.last_msg.clear();
        was
    }
}

#[derive(Default)]
struct Counters {
    written: u64,
    dropped: u64,
    lost: u64,
    errors: u64,
    connects: u64,
}

struct Inner<E> {
    enc: E,
    t: Box<dyn Transport>,
    q: RecordQueue,
    cfg: QueueConfig,
    sync: bool,
    flush_at: usize,
    c: Counters,
    /// A peer: not connected until this instant (backoff).
    next_attempt: Instant,
    /// When a stream peer was last looked at for a close (see `pump_with`).
    peer_checked: Instant,
    backoff: Duration,
    /// A connect is pending or done but nothing written yet on this connection.
    fresh: bool,
    /// A file write failed: retry from the tick, not from every event.
    failing: bool,
    last_error: Option<String>,
    errs: RateLimit,
    drops: RateLimit,
    /// `when_full=spool`: the disk overflow (opened at start).
    spill: Option<Overflow>,
    /// A record on its way to the spool.
    scratch: Vec<u8>,
}

/// A sink made of an [`Encoder`], a bounded [`RecordQueue`] and a [`Transport`].
pub(crate) struct OutputStage<E: Encoder> {
    name: &'static str,
    inner: Mutex<Inner<E>>,
}

impl<E: Encoder> OutputStage<E> {
    /// A sink of plugin `name`; `sync` writes a file after every record.
    pub(crate) fn new(
        name: &'static str,
        enc: E,
        t: Box<dyn Transport>,
        cfg: QueueConfig,
        sync: bool,
    ) -> OutputStage<E> {
        let file = t.is_file();
        OutputStage {
            name,
            inner: Mutex::new(Inner {
                enc,
                t,
                q: RecordQueue::new(cfg.max),
                cfg,
                sync,
                flush_at: if file { FILE_FLUSH_AT } else { 0 },
                c: Counters::default(),
                next_attempt: Instant::now(),
                peer_checked: Instant::now(),
                backoff: BACKOFF_MIN,
                fresh: false,
                failing: false,
                last_error: None,
                errs: RateLimit::new(),
                drops: RateLimit::new(),
                spill: None,
                scratch: Vec::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<E>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<E: Encoder> Inner<E> {
    fn is_file(&self) -> bool {
        self.t.is_file()
    }

    /// Writes the header of a freshly opened empty file, synchronously.
    fn write_header(&mut self, name: &str) {
        let h = self.enc.header();
        let mut d = &h[..];
        while !d.is_empty() {
            match self.t.write(d) {
                Ok(n) if n > 0 => d = &d[n..],
                Ok(_) => break,
                Err(e) => {
                    self.c.errors += 1;
                    log::error!(
                        "{name}: can't write the header of {}: {e}",
                        self.t.describe()
                    );
                    break;
                }
            }
        }
    }

    /// Opens (start, SIGHUP, reconnect). `Err` only for a file that cannot be opened.
    fn open(&mut self, name: &str) -> io::Result<()> {
        match self.t.open() {
            Ok(Opened::Ready { empty }) => {
                if self.is_file() {
                    if empty {
                        self.write_header(name);
                    }
                } else {
                    self.connected(name);
                }
                Ok(())
            }
            Ok(Opened::Pending) => {
                self.fresh = true;
                Ok(())
            }
            Err(e) if self.is_file() => Err(e),
            Err(e) => {
                self.t.close();
                self.connect_failed(name, &e);
                Ok(())
            }
        }
    }

    fn connected(&mut self, name: &str) {
        self.fresh = false;
        self.c.connects += 1;
        self.backoff = BACKOFF_MIN;
        let waiting = self.q.depth();
        if let Some(n) = self.errs.reset() {
            log::info!(
                "{name}: {}: connected ({waiting} records waiting; {n} unreported errors before)",
                self.t.describe()
            );
        } else {
            log::info!(
                "{name}: {}: connected ({waiting} records waiting)",
                self.t.describe()
            );
        }
    }

    fn connect_failed(&mut self, name: &str, e: &io::Error) {
        self.c.errors += 1;
        let who = if e.kind() == io::ErrorKind::PermissionDenied {
            // SAFETY-free: geteuid cannot fail.
            format!(" (running as uid {})", current_uid())
        } else {
            String::new()
        };
        let what = format!(
            "{}: connect failed: {e}{who}; {} records waiting, retrying in {:?}",
            self.t.describe(),
            self.q.depth(),
            self.backoff
        );
        if self.errs.note(Some(e.kind()), || what.clone()) {
            log::warn!("{name}: {what} (repeats are summarised every {REPORT_EVERY:?})");
        }
        self.last_error = Some(e.to_string());
        self.next_attempt = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
    }

    /// A peer's connection ended (write error, peer closed, SIGHUP): what it took of the
    /// head record is torn at that peer, so the record is dropped (counted as lost); the
    /// rest is kept for the next connection.
    fn disconnect(&mut self, name: &str, why: &str, at_once: bool) {
        if self.q.head_done() > 0 && self.q.drop_front() {
            self.c.lost += 1;
            self.spool_done(name, 1);
            log::warn!(
                "{name}: {}: one record was cut by the disconnect ({why}); counted as lost",
                self.t.describe()
            );
        }
        self.t.close();
        self.fresh = false;
        self.next_attempt = if at_once {
            Instant::now()
        } else {
            Instant::now() + self.backoff
        };
    }

    /// Writes as much of the queue as the transport takes now, without waiting.
    fn pump(&mut self, name: &str) {
        self.pump_with(name, false);
    }

    /// [`Inner::pump`]; `commit` lets the spool write out appended records so they can
    /// be read back (the tick and shutdown, never per event).
    fn pump_with(&mut self, name: &str, commit: bool) {
        if !self.t.is_open() {
            return;
        }
        // A peer that went away still lets the first writes succeed (until its RST
        // comes back): look before writing, so what is queued waits for the next
        // connection instead of vanishing into a dead one. One MSG_PEEK per pump,
        // as the IPFIX exporter does per message — at most once per PEER_CHECK_EVERY,
        // so a burst pays one system call per millisecond, not per record.
        if !self.is_file()
            && !self.fresh
            && !self.q.is_empty()
            && self.peer_checked.elapsed() >= PEER_CHECK_EVERY
            && {
                self.peer_checked = Instant::now();
                self.t.peer_closed()
            }
        {
            log::warn!("{name}: {}: peer closed the connection", self.t.describe());
            self.disconnect(name, "peer closed", true);
            return;
        }
        loop {
            self.refill(name, commit);
            if self.q.is_empty() {
                return;
            }
            let r = match self.t.framing() {
                Framing::Stream => self.t.write(self.q.pending()),
                Framing::Message => self.t.write(self.q.front().unwrap_or_default()),
            };
            match r {
                Ok(0) => return,
                Ok(n) => {
                    let done = match self.t.framing() {
                        Framing::Stream => self.q.consume(n),
                        Framing::Message => {
                            let len = self.q.front().map_or(0, <[u8]>::len);
                            self.q.consume(len)
                        }
                    };
                    self.c.written += done as u64;
                    self.spool_done(name, done);
                    if self.fresh {
                        self.connected(name);
                    }
                    if self.failing {
                        self.recovered(name);
                    }
                }
                Err(e) => {
                    self.write_failed(name, e);
                    return;
                }
            }
        }
    }

    /// Moves records back from the spool into the queue.
    fn refill(&mut self, name: &str, commit: bool) {
        let Some(o) = self.spill.as_mut() else {
            return;
        };
        if let Err(e) = o.refill(&mut self.q, commit) {
            self.spool_error(name, &e);
        }
    }

    /// `n` records left the front of the queue: acknowledge the spooled ones.
    fn spool_done(&mut self, name: &str, n: usize) {
        let Some(o) = self.spill.as_mut() else {
            return;
        };
        if let Err(e) = o.done(n) {
            self.spool_error(name, &e);
        }
    }

    fn spool_error(&mut self, name: &str, e: &crate::spool::SpoolError) {
        self.c.errors += 1;
        let what = format!("spool: {e}");
        if self.errs.note(None, || what.clone()) {
            log::error!("{name}: {what} (repeats are summarised every {REPORT_EVERY:?})");
        }
    }

    /// `when_full=spool`: one record for the spool. Outside an episode it goes to the
    /// memory queue if it fits; the first that does not starts one (see
    /// [`super::overflow`]). Returns false if dropped (spool full and blocking, or
    /// failing).
    fn push_spool(
        &mut self,
        name: &str,
        mut encode: impl FnMut(&mut E, &mut Vec<u8>) -> bool,
    ) -> bool {
        let Inner { q, enc, spill, .. } = self;
        let o = spill.as_mut().expect("push_spool with a spool");
        if !o.active() {
            match q.push_with(|b| encode(enc, b)) {
                Ok(true) => {
                    o.pushed_direct();
                    return true;
                }
                Ok(false) => return true,
                Err(_) => o.spill(q),
            }
        }
        let mut rec = std::mem::take(&mut self.scratch);
        rec.clear();
        if !encode(&mut self.enc, &mut rec) || rec.is_empty() {
            self.scratch = rec;
            return true;
        }
        let block =
            self.cfg.spool.as_ref().map(|c| c.when_full) == Some(crate::spool::WhenFull::Block);
        let mut waited = Duration::ZERO;
        let ok = loop {
            let o = self.spill.as_mut().expect("spool");
            match o.append(&rec) {
                Ok(()) => break true,
                Err(crate::spool::SpoolError::Full)
                    if block && self.t.is_open() && waited < BLOCK_MAX =>
                {
                    let before = self.q.bytes();
                    self.pump_with(name, true);
                    if self.q.bytes() == before {
                        match self.t.raw_fd() {
                            Some(fd) => {
                                wait_writable(fd, 100);
                            }
                            None => std::thread::sleep(Duration::from_millis(100)),
                        }
                        waited += Duration::from_millis(100);
                    }
                }
                Err(e) => {
                    self.c.dropped += 1;
                    let what = format!(
                        "spool {}: record dropped ({e}); {} dropped so far",
                        o.dir(),
                        self.c.dropped
                    );
                    if self.drops.note(None, || what.clone()) {
                        log::warn!(
                            "{name}: {}: {what} (repeats are summarised every {REPORT_EVERY:?})",
                            self.t.describe()
                        );
                    }
                    break false;
                }
            }
        };
        self.scratch = rec;
        ok
    }

    fn recovered(&mut self, name: &str) {
        self.failing = false;
        let n = self.errs.reset().unwrap_or(0);
        log::info!(
            "{name}: writing to {} again ({} failed writes since the first error; {} records dropped so far)",
            self.t.describe(),
            n + 1,
            self.c.dropped
        );
    }

    fn write_failed(&mut self, name: &str, e: io::Error) {
        self.c.errors += 1;
        self.last_error = Some(e.to_string());
        if self.is_file() {
            self.failing = true;
            let what = format!(
                "write to {} failed: {e}; {} records ({} bytes) waiting, retried every second",
                self.t.describe(),
                self.q.depth(),
                self.q.bytes()
            );
            if self.errs.note(Some(e.kind()), || what.clone()) {
                log::error!("{name}: {what} (repeats are summarised every {REPORT_EVERY:?})");
            }
        } else {
            let first = !self.fresh;
            if first {
                log::warn!(
                    "{name}: {}: send failed: {e}; reconnecting",
                    self.t.describe()
                );
                self.disconnect(name, &e.to_string(), true);
            } else {
                // The pending connect failed.
                self.t.close();
                self.connect_failed(name, &e);
            }
        }
    }

    /// Queues one event's record, applying `when_full`. Returns false if dropped.
    fn push(&mut self, name: &str, mut encode: impl FnMut(&mut E, &mut Vec<u8>) -> bool) -> bool {
        if self.spill.is_some() {
            return self.push_spool(name, encode);
        }
        let mut waited = Duration::ZERO;
        loop {
            let Inner { q, enc, .. } = self;
            if q.push_with(|b| encode(enc, b)).is_ok() {
                return true;
            }
            if self.cfg.when_full == WhenFull::Block && self.t.is_open() && !self.failing {
                if self.is_file() {
                    self.pump(name);
                    if !self.failing {
                        continue;
                    }
                } else if waited < BLOCK_MAX {
                    let before = self.q.bytes();
                    self.pump(name);
                    if self.q.bytes() == before {
                        match self.t.raw_fd() {
                            Some(fd) => {
                                wait_writable(fd, 100);
                            }
                            None => std::thread::sleep(Duration::from_millis(100)),
                        }
                        waited += Duration::from_millis(100);
                    }
                    continue;
                }
            }
            self.c.dropped += 1;
            let what = format!(
                "queue full ({}; {} records, {} bytes held): record dropped (when_full={}); {} dropped so far",
                self.cfg.max,
                self.q.depth(),
                self.q.bytes(),
                self.cfg.when_full,
                self.c.dropped
            );
            // Loss: shown at every log level (ulogd_core::ALWAYS).
            if self.drops.note(None, || what.clone()) {
                log::warn!(
                    target: ulogd_core::ALWAYS,
                    "{name}: {}: {what} (repeats are summarised every {REPORT_EVERY:?})",
                    self.t.describe()
                );
            }
            return false;
        }
    }

    /// Periodic work: summaries, reconnect, retry, drain.
    fn tick(&mut self, name: &str) {
        if let Some((n, msg)) = self.errs.due() {
            log::warn!("{name}: {n} more errors in the last {REPORT_EVERY:?}, the latest: {msg}");
        }
        if let Some((n, _)) = self.drops.due() {
            log::warn!(
                target: ulogd_core::ALWAYS,
                "{name}: {}: {n} more records dropped (queue full) in the last {REPORT_EVERY:?}; {} dropped in all",
                self.t.describe(),
                self.c.dropped
            );
        }
        if let Some(o) = self.spill.as_mut() {
            if let Err(e) = o.commit() {
                self.spool_error(name, &e);
            }
        }
        if self.is_file() {
            self.pump_with(name, true);
            return;
        }
        if self.t.is_open() && !self.fresh && self.t.peer_closed() {
            log::warn!("{name}: {}: peer closed the connection", self.t.describe());
            self.disconnect(name, "peer closed", true);
        }
        if !self.t.is_open() && Instant::now() >= self.next_attempt {
            let _ = self.open(name);
        }
        self.pump_with(name, true);
    }

    /// Gives up on what is still queued (shutdown): counted as lost, and reported.
    fn abandon(&mut self, name: &str) {
        if self.spill.is_some() {
            return self.keep_in_spool(name);
        }
        if self.q.is_empty() {
            return;
        }
        if self.is_file() && self.q.head_done() > 0 {
            // Take back the torn beginning of the head record: the file ends whole.
            if let Err(e) = self.t.discard_tail(self.q.head_done() as u64) {
                log::error!(
                    "{name}: can't remove a torn record at the end of {}: {e}",
                    self.t.describe()
                );
            }
        }
        let (n, bytes) = self.q.clear();
        self.c.lost += n as u64;
        log::error!(
            target: ulogd_core::ALWAYS,
            "{name}: {n} records ({bytes} bytes) could not be {} {} ({}); they are lost",
            if self.is_file() {
                "written to"
            } else {
                "sent to"
            },
            self.t.describe(),
            match (&self.last_error, self.t.is_open()) {
                (_, true) => "the destination did not take them in time",
                (Some(e), false) => e.as_str(),
                (None, false) => "not connected",
            }
        );
    }
}

impl<E: Encoder> Inner<E> {
    /// Shutdown with a spool: what is still queued stays in the spool for the next
    /// run (a partly written head is cut at the peer: lost, as on a disconnect).
    fn keep_in_spool(&mut self, name: &str) {
        if self.q.head_done() > 0 {
            if self.is_file() {
                let _ = self.t.discard_tail(self.q.head_done() as u64);
                self.q.rewind_front();
            } else {
                self.disconnect(name, "shutdown", true);
            }
        }
        let Inner { q, spill, .. } = self;
        let o = spill.as_mut().expect("keep_in_spool with a spool");
        match o.keep_at_stop(q) {
            Ok((kept, lost)) => {
                self.c.lost += lost;
                if kept > 0 {
                    log::info!(
                        "{name}: {kept} records kept in the spool {} for the next start ({})",
                        o.dir(),
                        self.last_error.as_deref().unwrap_or("not sent yet")
                    );
                }
                if lost > 0 {
                    log::error!(
                        "{name}: {lost} records could not be kept in the spool {} ({}); they are lost",
                        o.dir(),
                        o.last_error.as_deref().unwrap_or("not spooled")
                    );
                }
            }
            Err(e) => {
                let d = o.dir();
                self.c.errors += 1;
                log::error!("{name}: spool {d}: {e}; records queued at shutdown may be lost");
            }
        }
    }
}

fn current_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    #[allow(unsafe_code)]
    unsafe {
        libc::geteuid()
    }
}

impl<E: Encoder> Stage for OutputStage<E> {
    fn bind(&self, keys: &ulogd_core::StackKeys<'_>) -> Result<ulogd_core::BindState, PluginError> {
        self.lock().enc.bind(keys)
    }

    fn start(&self) -> Result<(), PluginError> {
        let mut g = self.lock();
        let name = self.name;
        g.enc.start()?;
        if let Some(c) = g.cfg.spool.clone() {
            if g.spill.is_none() {
                let o = Overflow::open(c).map_err(|e| PluginError::new(format!("{name}: {e}")))?;
                let depth = o.depth();
                if depth > 0 {
                    log::info!(
                        "{name}: spool {}: replaying {depth} records kept from an earlier run",
                        o.dir()
                    );
                }
                g.spill = Some(o);
            }
        } else if g.cfg.when_full == WhenFull::Spool {
            return Err(PluginError::new(format!(
                "{name}: when_full=spool needs a spool directory"
            )));
        }
        if let Some((uid, gids)) = super::run_as() {
            if let Some(why) = g.t.check_access(uid, &gids) {
                log::warn!(
                    "{name}: {}: after dropping privileges to uid {uid} (-u), {why}",
                    g.t.describe()
                );
            }
        }
        let file = g.is_file();
        g.open(name)
            .map_err(|e| PluginError::new(format!("{name}: can't open {}: {e}", g.t.describe())))?;
        if !file && !g.t.is_open() {
            log::warn!(
                "{name}: {} is not reachable; records are queued (queue_max {:?}, when_full={:?}) until it is",
                g.t.describe(),
                g.cfg.max,
                g.cfg.when_full
            );
        }
        Ok(())
    }

    fn interp(&self, ev: &mut Event<'_>) -> Ret {
        let mut g = self.lock();
        let g = &mut *g;
        let name = self.name;
        if g.flush_at > 0 && g.q.bytes() >= g.flush_at && !g.failing {
            g.pump(name);
        }
        if !g.push(name, |enc, b| enc.encode(ev, b)) {
            return Ret::Err;
        }
        if (g.sync || g.q.bytes() >= g.flush_at) && !g.failing {
            g.pump(name);
        }
        Ret::Ok
    }

    fn signal(&self, sig: Signal) {
        if sig != Signal::Hup {
            return;
        }
        let mut g = self.lock();
        let name = self.name;
        g.pump(name);
        if g.is_file() {
            if g.q.head_done() > 0 {
                // The old file would keep a torn record: take it back, write it whole
                // to the new file.
                let n = g.q.head_done() as u64;
                if g.t.discard_tail(n).is_ok() {
                    g.q.rewind_front();
                }
            }
            log::info!("{name}: reopening {}", g.t.describe());
            if let Err(e) = g.open(name) {
                log::error!("{name}: can't reopen {}: {e}", g.t.describe());
            }
            g.failing = false;
            g.pump(name);
        } else if g.t.is_open() {
            g.disconnect(name, "SIGHUP", true);
            let _ = g.open(name);
            g.pump(name);
        }
    }

    fn tick(&self) {
        self.lock().tick(self.name);
    }

    fn tick_interval(&self) -> Option<Duration> {
        let g = self.lock();
        // A file is written when 64 KiB are queued or at this tick: `flush_interval`
        // bounds how long a record waits. A peer is written at once; the tick retries
        // what a full socket left and reconnects.
        Some(if g.is_file() {
            g.cfg.flush_interval
        } else {
            g.cfg.flush_interval.min(Duration::from_millis(100))
        })
    }

    fn flush(&self) {
        let mut g = self.lock();
        let name = self.name;
        g.failing = false;
        g.pump_with(name, true);
        if g.is_file() {
            return;
        }
        let end = Instant::now() + DRAIN_AT_STOP;
        while !g.q.is_empty() && g.t.is_open() && Instant::now() < end {
            let before = g.q.bytes();
            g.pump_with(name, true);
            if g.q.bytes() == before {
                match g.t.raw_fd() {
                    Some(fd) => {
                        wait_writable(fd, 50);
                    }
                    None => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        }
    }

    fn stop(&self) {
        let mut g = self.lock();
        let name = self.name;
        g.failing = false;
        g.pump(name);
        g.abandon(name);
        g.t.close();
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        let g = self.lock();
        let mut v = vec![
            ("written", g.c.written),
            ("dropped", g.c.dropped),
            ("lost", g.c.lost),
            ("depth", g.q.depth() as u64),
            ("bytes", g.q.bytes() as u64),
            ("write_errors", g.c.errors),
        ];
        if !g.is_file() {
            v.push(("reconnects", g.c.connects.saturating_sub(1)));
        }
        if let Some(o) = &g.spill {
            let sc = o.counters();
            v[1].1 += o.refused + sc.dropped;
            v.extend([
                ("spool_depth", sc.depth),
                ("spool_bytes", sc.bytes),
                ("spooled", sc.spooled),
                ("replayed", o.replayed),
                ("spool_corrupt", sc.corrupt),
            ]);
        }
        v
    }
}

#[cfg(test)]
mod tests {
    //! The stage's policies against a scripted transport (no sockets, no files): how
    //! much each write takes, when it fails.
    use super::*;
    use crate::output::QueueMax;
    use std::sync::Arc;

    #[derive(Default)]
    struct Script {
        /// Bytes the destination holds (what "reached" it).
        got: Vec<u8>,
        /// Bytes the destination still takes before it stalls (None: unlimited).
        budget: Option<usize>,
        /// The next writes fail with this.
        fail: Option<io::ErrorKind>,
        discarded: u64,
        opens: u32,
    }

    struct Fake(Arc<Mutex<Script>>, bool, bool);

    impl Transport for Fake {
        fn describe(&self) -> String {
            "fake".into()
        }
        fn framing(&self) -> Framing {
            Framing::Stream
        }
        fn is_file(&self) -> bool {
            self.1
        }
        fn open(&mut self) -> io::Result<Opened> {
            self.0.lock().unwrap().opens += 1;
            self.2 = true;
            Ok(Opened::Ready { empty: false })
        }
        fn is_open(&self) -> bool {
            self.2
        }
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            let mut s = self.0.lock().unwrap();
            if let Some(k) = s.fail {
                return Err(io::Error::from(k));
            }
            let n = s.budget.map_or(data.len(), |b| b.min(data.len()));
            if let Some(b) = s.budget.as_mut() {
                *b -= n;
            }
            s.got.extend_from_slice(&data[..n]);
            Ok(n)
        }
        fn close(&mut self) {
            self.2 = false;
        }
        fn discard_tail(&mut self, n: u64) -> io::Result<()> {
            let mut s = self.0.lock().unwrap();
            let len = s.got.len() - n as usize;
            s.got.truncate(len);
            s.discarded += n;
            Ok(())
        }
    }

    struct Nothing;
    impl Encoder for Nothing {
        fn encode(&mut self, _ev: &Event<'_>, _out: &mut Vec<u8>) -> bool {
            false
        }
    }

    fn stage(
        file: bool,
        max: QueueMax,
        when_full: WhenFull,
    ) -> (OutputStage<Nothing>, Arc<Mutex<Script>>) {
        let s = Arc::new(Mutex::new(Script::default()));
        let st = OutputStage::new(
            "T",
            Nothing,
            Box::new(Fake(s.clone(), file, false)),
            QueueConfig::new(max, when_full),
            false,
        );
        st.start().unwrap();
        (st, s)
    }

    fn push(st: &OutputStage<Nothing>, rec: &str) -> bool {
        let mut g = st.lock();
        let ok = g.push("T", |_, b| {
            b.extend_from_slice(rec.as_bytes());
            true
        });
        g.pump("T");
        ok
    }

    fn counter(st: &OutputStage<Nothing>, name: &str) -> u64 {
        st.counters().into_iter().find(|c| c.0 == name).unwrap().1
    }

    #[test]
    fn short_writes_resume_and_written_counts_whole_records() {
        let (st, s) = stage(false, QueueMax::Records(100), WhenFull::DropNewest);
        s.lock().unwrap().budget = Some(20);
        for i in 0..5 {
            assert!(push(&st, &format!("record-{i}\n")));
        }
        // The peer took 20 bytes: two whole records of 9 and 2 bytes of the third.
        assert_eq!(counter(&st, "written"), 2);
        s.lock().unwrap().budget = None;
        st.tick();
        assert_eq!(counter(&st, "written"), 5);
        assert_eq!(
            String::from_utf8(s.lock().unwrap().got.clone()).unwrap(),
            "record-0\nrecord-1\nrecord-2\nrecord-3\nrecord-4\n"
        );
    }

    #[test]
    fn a_stalled_peer_fills_only_the_queue_and_drops_are_counted() {
        let (st, s) = stage(false, QueueMax::Records(3), WhenFull::DropNewest);
        s.lock().unwrap().budget = Some(0);
        let taken: Vec<bool> = (0..5).map(|i| push(&st, &format!("r{i}\n"))).collect();
        assert_eq!(taken, [true, true, true, false, false]);
        assert_eq!((counter(&st, "dropped"), counter(&st, "depth")), (2, 3));
        s.lock().unwrap().budget = None;
        st.tick();
        assert_eq!(s.lock().unwrap().got, b"r0\nr1\nr2\n");
        assert_eq!((counter(&st, "written"), counter(&st, "depth")), (3, 0));
    }

    #[test]
    fn a_disconnect_mid_record_drops_only_that_record() {
        let (st, s) = stage(false, QueueMax::Records(100), WhenFull::DropNewest);
        s.lock().unwrap().budget = Some(3);
        push(&st, "aaaaa\n");
        s.lock().unwrap().fail = Some(io::ErrorKind::BrokenPipe);
        push(&st, "bbbbb\n");
        assert_eq!(counter(&st, "lost"), 1, "the torn record");
        let mut sc = s.lock().unwrap();
        sc.fail = None;
        sc.budget = None;
        sc.got.clear(); // a new peer
        drop(sc);
        st.tick(); // reconnects at once after a working connection broke
        assert_eq!(s.lock().unwrap().opens, 2);
        assert_eq!(s.lock().unwrap().got, b"bbbbb\n", "whole at the new peer");
        assert_eq!(counter(&st, "reconnects"), 1);
    }

    #[test]
    fn full_disk_keeps_records_and_stop_takes_back_the_torn_tail() {
        let (st, s) = stage(true, QueueMax::Records(3), WhenFull::Block);
        s.lock().unwrap().budget = Some(5);
        push(&st, "line-1\n"); // 5 of 7 bytes reach the disk
        s.lock().unwrap().fail = Some(io::ErrorKind::StorageFull);
        push(&st, "line-2\n");
        push(&st, "line-3\n");
        // Block cannot wait for a failing disk: the 4th is dropped, counted.
        assert!(!push(&st, "line-4\n"));
        assert_eq!(counter(&st, "dropped"), 1);
        assert_eq!(counter(&st, "written"), 0);
        st.flush();
        st.stop();
        let sc = s.lock().unwrap();
        assert_eq!(sc.got, b"", "the torn beginning of line-1 was taken back");
        assert_eq!(sc.discarded, 5);
        assert_eq!(counter(&st, "lost"), 3);
    }

    #[test]
    fn full_disk_then_space_returns() {
        let (st, s) = stage(true, QueueMax::Records(100), WhenFull::Block);
        s.lock().unwrap().fail = Some(io::ErrorKind::StorageFull);
        for i in 0..3 {
            push(&st, &format!("l{i}\n"));
        }
        st.tick();
        assert_eq!(counter(&st, "written"), 0);
        assert!(counter(&st, "write_errors") >= 1);
        s.lock().unwrap().fail = None;
        st.tick();
        assert_eq!(counter(&st, "written"), 3);
        assert_eq!(s.lock().unwrap().got, b"l0\nl1\nl2\n");
    }

    #[test]
    fn sighup_moves_a_torn_record_whole_to_the_new_file() {
        let (st, s) = stage(true, QueueMax::Records(100), WhenFull::Block);
        s.lock().unwrap().budget = Some(2);
        push(&st, "abcdef\n");
        s.lock().unwrap().fail = Some(io::ErrorKind::StorageFull);
        st.signal(Signal::Hup);
        let mut sc = s.lock().unwrap();
        assert_eq!(sc.got, b"", "the old file ends whole");
        sc.fail = None;
        sc.budget = None;
        drop(sc);
        st.tick();
        assert_eq!(s.lock().unwrap().got, b"abcdef\n");
        assert_eq!(counter(&st, "written"), 1);
    }

    fn spool_stage(
        dir: &std::path::Path,
        max: QueueMax,
    ) -> (OutputStage<Nothing>, Arc<Mutex<Script>>) {
        let s = Arc::new(Mutex::new(Script::default()));
        let mut cfg = QueueConfig::new(max, WhenFull::Spool);
        cfg.spool = Some(crate::spool::SpoolConfig::new(dir, 1 << 20));
        let st = OutputStage::new(
            "T",
            Nothing,
            Box::new(Fake(s.clone(), false, false)),
            cfg,
            false,
        );
        st.start().unwrap();
        (st, s)
    }

    #[test]
    fn spool_takes_the_overflow_and_replays_it_in_order() {
        let d = std::env::temp_dir().join(format!("stage-spool-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        let (st, s) = spool_stage(&d, QueueMax::Records(4));
        s.lock().unwrap().budget = Some(0); // a peer that stopped reading
        let mut expect = String::new();
        for i in 0..50 {
            let r = format!("rec-{i}\n");
            expect.push_str(&r);
            assert!(push(&st, &r), "never dropped");
        }
        assert_eq!(counter(&st, "dropped"), 0);
        assert_eq!(counter(&st, "spool_depth"), 50, "all moved to the spool");
        assert_eq!(counter(&st, "spooled"), 50);
        // The peer reads again: ticks commit, read back and write everything, in order.
        s.lock().unwrap().budget = None;
        for _ in 0..20 {
            st.tick();
        }
        assert_eq!(
            String::from_utf8(s.lock().unwrap().got.clone()).unwrap(),
            expect
        );
        assert_eq!(
            (counter(&st, "written"), counter(&st, "replayed")),
            (50, 50)
        );
        assert_eq!(counter(&st, "spool_depth"), 0);
        // The episode is over: the next record goes straight to the queue.
        assert!(push(&st, "after\n"));
        assert_eq!(counter(&st, "spooled"), 50);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn spool_survives_a_restart() {
        let d = std::env::temp_dir().join(format!("stage-spool-rs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        let (st, s) = spool_stage(&d, QueueMax::Records(4));
        s.lock().unwrap().budget = Some(0);
        for i in 0..10 {
            push(&st, &format!("a{i}\n"));
        }
        st.stop();
        assert_eq!(counter(&st, "lost"), 0);
        let (st, s) = spool_stage(&d, QueueMax::Records(4));
        for _ in 0..10 {
            st.tick();
        }
        push(&st, "b0\n");
        st.tick();
        let got = String::from_utf8(s.lock().unwrap().got.clone()).unwrap();
        let want: String = (0..10).map(|i| format!("a{i}\n")).collect::<String>() + "b0\n";
        assert_eq!(got, want);
        let _ = std::fs::remove_dir_all(&d);
    }
}
