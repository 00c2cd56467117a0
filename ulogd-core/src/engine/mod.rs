//! The propagation engine: the event loop, the bundle pools and the worker threads.
//!
//! Life of an event: a source runs on the loop thread, takes a [`Bundle`] from its
//! own pool, fills its output slots and hands the bundle on. With `threads = 0` the
//! stacks run right there; otherwise the bundle goes through a bounded channel to a
//! worker, which runs every stack of that source on it and returns it to the pool.
//!
//! Ordering: each event of a source gets a sequence number. Filters of different
//! events may run concurrently, but before a stack's sink runs, the worker waits for
//! that stack's turn counter to reach the event's number, so every sink sees a
//! source's events in the order the kernel delivered them.
//!
//! Back-pressure: when a source's pool is empty, [`crate::Emit::emit`] returns
//! [`PoolEmpty`]; the source keeps its place and the loop stops running it until a
//! worker returns a bundle (the kernel socket buffer absorbs the burst). Timers,
//! signals and other sources go on. The `pool_empty` counter says how often.

mod build;
mod builder;
mod hop;
mod run;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};

use crate::event::{Binding, Bundle, Event};
use crate::key::KeyDef;
use crate::plugin::{Completion, PoolEmpty, Ret, Stage};

pub use builder::EngineBuilder;
pub use hop::Doorbell;
pub use run::{Engine, EngineError, EngineHandle, InstanceReport, Report};

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
}

impl Counters {
    fn bump(&self, r: Ret) {
        self.events_in.fetch_add(1, Ordering::Relaxed);
        match r {
            Ret::Ok => &self.ok,
            Ret::Stop => &self.stopped,
            Ret::Err => &self.errors,
        }
        .fetch_add(1, Ordering::Relaxed);
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
