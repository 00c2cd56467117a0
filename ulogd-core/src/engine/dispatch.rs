//! Dispatch: the bundle pools, running the stacks on a bundle, handing batches of
//! bundles to worker threads, and the emitters sources write through.
//!
//! This module knows nothing of the event loop: the driver gives it a channel (or
//! none, for `threads = 0`) and gets back timers a source asked for. Nothing here
//! calls into the driver or into `engine/mod.rs`.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::Waker;

use crate::event::{Binding, Bundle, Event};
use crate::key::KeyDef;
use crate::plugin::{Completion, Emit, PoolEmpty, Ret, SourceSetup, Stage};

use super::timers::Clock;

/// Per-instance event counters (shared by every stack using the instance).
#[derive(Debug, Default)]
pub struct Counters {
    /// Events handed to the instance.
    pub events_in: AtomicU64,
    /// Events it passed on (filters) or consumed (sinks).
    pub ok: AtomicU64,
    /// Events it stopped (filtered out).
    pub stopped: AtomicU64,
    /// Events it failed on.
    pub errors: AtomicU64,
    /// When it last failed on one: milliseconds since the Unix epoch, 0 for never.
    /// Wall-clock time (not the engine's clock) because it is shown to people and
    /// to monitoring; read only on the error path.
    pub last_error_ms: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(&self, r: Ret) {
        self.events_in.fetch_add(1, Ordering::Relaxed);
        match r {
            Ret::Ok => &self.ok,
            Ret::Stop => &self.stopped,
            Ret::Err => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| (d.as_millis() as u64).max(1));
                self.last_error_ms.store(now, Ordering::Relaxed);
                &self.errors
            }
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    /// When the instance last failed on an event, if ever.
    pub fn last_error(&self) -> Option<std::time::SystemTime> {
        match self.last_error_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms)),
        }
    }
}

pub(crate) struct ElemRt {
    pub id: String,
    pub stage: Arc<dyn Stage>,
    pub counters: Arc<Counters>,
    pub binding: Binding,
}

pub(crate) struct StackRt {
    pub label: String,
    pub elems: Vec<ElemRt>,
    /// Sequence number of the next event this stack's sink may take.
    pub turn: Mutex<u64>,
    pub cv: Condvar,
    /// Workers waiting on `cv` (changed under the `turn` lock), so the common case of
    /// nobody waiting costs no wake-up system call.
    pub waiters: std::sync::atomic::AtomicUsize,
}

/// Everything workers need about one source; shared between the loop and workers.
pub(crate) struct SourceShared {
    pub id: String,
    /// Definition of every slot (source outputs, then each element's outputs).
    pub defs: Vec<KeyDef>,
    pub src_binding: Binding,
    pub stacks: Vec<StackRt>,
    // Boxed so a bundle moves through the worker channel as one pointer.
    #[allow(clippy::vec_box)]
    pub pool: Mutex<Vec<Box<Bundle>>>,
    pub pool_size: usize,
    pub nslots: usize,
    /// Set (under the pool lock) when the source found the pool empty.
    pub blocked: AtomicBool,
    pub pool_empty: AtomicU64,
    pub emitted: AtomicU64,
    pub completion: OnceLock<Arc<dyn Completion>>,
    /// Timers armed from a source's own threads ([`SourceSetup::thread_emitter`]):
    /// (timer index, deadline), taken by the driver on its next wake-up.
    pub remote_timers: Mutex<Vec<(usize, Instant)>>,
}

impl SourceShared {
    pub(crate) fn fill_pool(&self) {
        let mut p = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        p.reserve_exact(self.pool_size);
        while p.len() < self.pool_size {
            p.push(Box::new(Bundle::new(self.nslots)));
        }
    }

    pub(crate) fn take(&self) -> Result<Box<Bundle>, PoolEmpty> {
        let mut p = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        match p.pop() {
            Some(b) => Ok(b),
            None => {
                self.blocked.store(true, Ordering::Release);
                let n = self.pool_empty.fetch_add(1, Ordering::Relaxed);
                if n.is_power_of_two() || n == 0 {
                    log::debug!(
                        "source '{}': all {} bundles in flight, pausing reads (happened {} times)",
                        self.id,
                        self.pool_size,
                        n + 1
                    );
                }
                Err(PoolEmpty)
            }
        }
    }

    /// Returns a bundle; true if the source was blocked and should now be woken.
    pub(crate) fn give_back(&self, mut b: Box<Bundle>) -> bool {
        b.clear();
        let mut p = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        p.push(b);
        // Wake a blocked source only once half the pool is back, so a source under
        // back-pressure resumes with a batch of bundles rather than one at a time.
        if p.len() * 2 >= self.pool_size {
            self.blocked.swap(false, Ordering::AcqRel)
        } else {
            false
        }
    }

    pub(crate) fn in_flight(&self) -> usize {
        let p = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        self.pool_size - p.len()
    }

    fn event<'a>(&'a self, b: &'a mut Bundle, binding: &'a Binding) -> Event<'a> {
        Event {
            vals: &mut b.vals,
            arena: &mut b.arena,
            scratch: &mut b.scratch,
            binding,
            defs: &self.defs,
            verdict: &mut b.verdict,
            verdict_final: &mut b.verdict_final,
            verdict_payload: &mut b.verdict_payload,
        }
    }

    /// Lets the source fill its outputs.
    pub(crate) fn fill(&self, b: &mut Bundle, f: &mut dyn FnMut(&mut Event<'_>) -> bool) -> bool {
        let mut ev = self.event(b, &self.src_binding);
        f(&mut ev)
    }

    /// Runs every stack on one event. `ordered` makes sinks wait for their turn
    /// (needed only when several workers run events of this source at once).
    pub(crate) fn process(&self, b: &mut Bundle, ordered: bool) {
        let seq = b.seq;
        for st in &self.stacks {
            let last = st.elems.len().saturating_sub(1);
            let mut alive = true;
            for (i, el) in st.elems.iter().enumerate() {
                let mut guard = None;
                if i == last && ordered {
                    let mut t = st.turn.lock().unwrap_or_else(|e| e.into_inner());
                    while *t != seq {
                        st.waiters.fetch_add(1, Ordering::Relaxed);
                        t = st.cv.wait(t).unwrap_or_else(|e| e.into_inner());
                        st.waiters.fetch_sub(1, Ordering::Relaxed);
                    }
                    guard = Some(t);
                }
                if alive {
                    let mut ev = self.event(b, &el.binding);
                    let r = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        el.stage.interp(&mut ev)
                    })) {
                        Ok(r) => r,
                        Err(_) => {
                            log::error!(
                                "plugin instance '{}' panicked in stack '{}'; event dropped for this stack",
                                el.id,
                                st.label
                            );
                            Ret::Err
                        }
                    };
                    el.counters.bump(r);
                    if r != Ret::Ok {
                        alive = false;
                    }
                }
                if let Some(mut t) = guard {
                    *t = seq + 1;
                    let waiting = st.waiters.load(Ordering::Relaxed) > 0;
                    drop(t);
                    if waiting {
                        st.cv.notify_all();
                    }
                }
            }
            if b.verdict.is_some() {
                b.verdict_final = true;
            }
        }
        if let Some(c) = self.completion.get() {
            let verdict = b.verdict;
            let ev = self.event(b, &self.src_binding);
            c.done(&ev, verdict);
        }
    }
}

/// Events handed to a worker at once: one wake-up per batch, not per event.
pub(crate) const BATCH: usize = 32;

/// Up to [`BATCH`] consecutive events of one source, moved through the channel by
/// value (no allocation).
pub(crate) struct Job {
    si: usize,
    n: usize,
    items: [Option<Box<Bundle>>; BATCH],
}

impl Job {
    pub(crate) fn new(si: usize) -> Job {
        Job {
            si,
            n: 0,
            items: std::array::from_fn(|_| None),
        }
    }
}

/// Starts `n` workers, each running every stack of a job's source on each of its
/// bundles and returning them to the pool (waking the loop when a blocked source's
/// pool has room again). Closing the returned sender ends them once the channel
/// is drained.
pub(crate) fn spawn_workers(
    n: usize,
    sources: Vec<Arc<SourceShared>>,
    waker: Arc<Waker>,
) -> std::io::Result<(crossbeam_channel::Sender<Job>, Vec<JoinHandle<()>>)> {
    let cap: usize = sources.iter().map(|s| s.pool_size).sum::<usize>().max(1);
    // The channel holds every bundle of every pool, so sending never blocks.
    let (tx, rx) = crossbeam_channel::bounded::<Job>(cap);
    let shared = Arc::new(sources);
    let mut handles = Vec::with_capacity(n);
    for i in 0..n {
        let rx = rx.clone();
        let shared = shared.clone();
        let waker = waker.clone();
        let h = std::thread::Builder::new()
            .name(format!("ulogd-worker-{i}"))
            .spawn(move || {
                while let Ok(mut job) = rx.recv() {
                    let s = &shared[job.si];
                    for slot in job.items.iter_mut().take(job.n) {
                        if let Some(mut b) = slot.take() {
                            s.process(&mut b, true);
                            if s.give_back(b) {
                                let _ = waker.wake();
                            }
                        }
                    }
                }
            })?;
        handles.push(h);
    }
    Ok((tx, handles))
}

/// What a source registers in [`crate::Source::start`], collected for the driver.
pub(crate) struct Setup {
    pub shared: Arc<SourceShared>,
    pub fds: Vec<RawFd>,
    pub timers: Vec<(Duration, Option<Duration>)>,
    pub completion: Option<Arc<dyn Completion>>,
    pub clock: Clock,
    pub waker: Arc<Waker>,
}

impl SourceSetup for Setup {
    fn add_fd(&mut self, fd: RawFd) -> usize {
        self.fds.push(fd);
        self.fds.len() - 1
    }
    fn add_timer(&mut self, first: Duration, period: Option<Duration>) -> usize {
        self.timers.push((first, period));
        self.timers.len() - 1
    }
    fn on_done(&mut self, done: Arc<dyn Completion>) {
        self.completion = Some(done);
    }
    fn thread_emitter(&mut self) -> Box<dyn Emit + Send> {
        Box::new(ThreadEmitter {
            bundle: Box::new(Bundle::new(self.shared.nslots)),
            shared: self.shared.clone(),
            clock: self.clock.clone(),
            waker: self.waker.clone(),
        })
    }
}

/// See [`SourceSetup::thread_emitter`].
struct ThreadEmitter {
    shared: Arc<SourceShared>,
    bundle: Box<Bundle>,
    clock: Clock,
    waker: Arc<Waker>,
}

impl Emit for ThreadEmitter {
    fn emit(&mut self, fill: &mut dyn FnMut(&mut Event<'_>) -> bool) -> Result<(), PoolEmpty> {
        let b = &mut self.bundle;
        if self.shared.fill(b, fill) {
            self.shared.emitted.fetch_add(1, Ordering::Relaxed);
            self.shared.process(b, false);
        }
        b.clear();
        Ok(())
    }

    /// The timer belongs to the loop thread: queue the request and wake the loop,
    /// which re-arms it (the source is then run there with `Wake::Timer`).
    fn arm_timer(&mut self, timer: usize, after: Duration) {
        let at = (self.clock)() + after;
        self.shared
            .remote_timers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((timer, at));
        let _ = self.waker.wake();
    }
}

/// The emitter of a source run on the loop thread: runs the stacks inline
/// (`threads = 0`) or batches bundles for the workers.
pub(crate) struct Emitter<'a> {
    pub shared: &'a Arc<SourceShared>,
    pub si: usize,
    pub tx: Option<&'a crossbeam_channel::Sender<Job>>,
    pub seq: &'a mut u64,
    pub blocked: &'a mut bool,
    /// Timers the source re-armed during this call: (index, delay).
    pub armed: &'a mut Vec<(usize, Duration)>,
    pub batch: &'a mut Job,
}

impl Emitter<'_> {
    /// Hands the pending batch to the workers.
    fn flush(&mut self) {
        let Some(tx) = self.tx else { return };
        if self.batch.n == 0 {
            return;
        }
        let mut job = std::mem::replace(self.batch, Job::new(self.si));
        job.si = self.si;
        // The channel holds every bundle of every pool, so this never blocks.
        if let Err(crossbeam_channel::SendError(mut job)) = tx.send(job) {
            for b in job.items.iter_mut().filter_map(Option::take) {
                self.shared.give_back(b);
            }
        }
    }
}

impl Drop for Emitter<'_> {
    fn drop(&mut self) {
        self.flush();
    }
}

impl Emit for Emitter<'_> {
    fn emit(&mut self, fill: &mut dyn FnMut(&mut Event<'_>) -> bool) -> Result<(), PoolEmpty> {
        let mut b = match self.shared.take() {
            Ok(b) => b,
            Err(_) if self.batch.n > 0 => {
                // Our own batch holds bundles: let the workers have them first.
                self.flush();
                match self.shared.take() {
                    Ok(b) => b,
                    Err(e) => {
                        *self.blocked = true;
                        return Err(e);
                    }
                }
            }
            Err(e) => {
                *self.blocked = true;
                return Err(e);
            }
        };
        b.seq = *self.seq;
        if !self.shared.fill(&mut b, fill) {
            self.shared.give_back(b);
            return Ok(());
        }
        *self.seq += 1;
        self.shared.emitted.fetch_add(1, Ordering::Relaxed);
        match self.tx {
            None => {
                self.shared.process(&mut b, false);
                self.shared.give_back(b);
            }
            Some(_) => {
                self.batch.items[self.batch.n] = Some(b);
                self.batch.n += 1;
                if self.batch.n == BATCH {
                    self.flush();
                }
            }
        }
        Ok(())
    }

    fn arm_timer(&mut self, timer: usize, after: Duration) {
        self.armed.push((timer, after));
    }
}

#[cfg(test)]
mod counters_tests {
    use super::*;

    #[test]
    fn an_error_records_when_it_happened() {
        let c = Counters::default();
        c.bump(Ret::Ok);
        c.bump(Ret::Stop);
        assert_eq!(c.last_error(), None);
        let before = std::time::SystemTime::now() - std::time::Duration::from_millis(1);
        c.bump(Ret::Err);
        let t = c.last_error().expect("set by the error");
        assert!(t >= before && t <= std::time::SystemTime::now(), "{t:?}");
        assert_eq!(c.errors.load(Ordering::Relaxed), 1);
        assert_eq!(c.events_in.load(Ordering::Relaxed), 3);
    }
}
