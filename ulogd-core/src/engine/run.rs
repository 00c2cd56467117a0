//! The event loop: sources, timers, signals and the worker threads.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};

use crate::config::ConfigFile;
use crate::event::Bundle;
use crate::global::{Global, Settings, StackSpec};
use crate::options::ConfigError;
use crate::plugin::{Completion, Emit, Flow, PoolEmpty, Signal, SourceSetup, Wake};
use crate::registry::Registry;

use super::build::{build, SourceInst, StageInst};
use super::SourceShared;

const WAKER: Token = Token(0);
const SIGNALS: Token = Token(1);
const FD_BASE: usize = 16;
const FDS_PER_SOURCE: usize = 1 << 12;

/// An error while starting or running the engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A plugin instance failed to start (file, socket, permission).
    #[error("cannot start '{id}' ({plugin}): {message}")]
    Start {
        /// Instance id.
        id: String,
        /// Plugin name.
        plugin: String,
        /// Why.
        message: String,
    },
    /// The event loop itself failed.
    #[error("event loop: {0}")]
    Io(#[from] std::io::Error),
}

/// Counters of one instance, for SIGUSR1 and the shutdown summary.
#[derive(Debug, Clone)]
pub struct InstanceReport {
    /// Instance id.
    pub id: String,
    /// Plugin name.
    pub plugin: String,
    /// (counter name, value).
    pub counters: Vec<(&'static str, u64)>,
}

/// Every instance's counters.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Sources first, then filters and sinks.
    pub instances: Vec<InstanceReport>,
}

impl Report {
    /// One counter of one instance.
    pub fn get(&self, id: &str, counter: &str) -> Option<u64> {
        self.instances
            .iter()
            .find(|i| i.id == id)?
            .counters
            .iter()
            .find(|c| c.0 == counter)
            .map(|c| c.1)
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for i in &self.instances {
            write!(f, "{} ({}):", i.id, i.plugin)?;
            for (k, v) in &i.counters {
                write!(f, " {k}={v}")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// Stops a running engine from another thread.
#[derive(Clone)]
pub struct EngineHandle {
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
}

impl EngineHandle {
    /// Asks the loop to stop: sources stop reading, events in flight finish, sinks
    /// are flushed. [`Engine::run`] then returns.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.waker.wake();
    }
}

struct Timer {
    period: Option<Duration>,
    generation: u64,
}

struct SourceRt {
    inst: SourceInst,
    shared: Arc<SourceShared>,
    fds: Vec<RawFd>,
    timers: Vec<Timer>,
    seq: u64,
    blocked: bool,
    again: bool,
    finished: bool,
    pending_timers: Vec<usize>,
    batch: Job,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum TimerId {
    Source {
        src: usize,
        idx: usize,
        generation: u64,
    },
    Tick {
        stage: usize,
    },
}

/// Events handed to a worker at once: one wake-up per batch, not per event.
const BATCH: usize = 32;

/// Up to [`BATCH`] consecutive events of one source, moved through the channel by
/// value (no allocation).
struct Job {
    si: usize,
    n: usize,
    items: [Option<Box<Bundle>>; BATCH],
}

impl Job {
    fn new(si: usize) -> Job {
        Job {
            si,
            n: 0,
            items: std::array::from_fn(|_| None),
        }
    }
}

/// A built engine: every instance constructed and every stack bound. Nothing is
/// opened until [`Engine::start`].
pub struct Engine {
    settings: Settings,
    sources: Vec<SourceRt>,
    stages: Vec<StageInst>,
    poll: Poll,
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
    timers: BinaryHeap<Reverse<(Instant, TimerId)>>,
    signals: Option<SignalPipe>,
    workers: Vec<JoinHandle<()>>,
    tx: Option<crossbeam_channel::Sender<Job>>,
    started: bool,
    /// Source stacking (`hop.rs`), upstream first.
    hops: Vec<super::hop::HopLink>,
}

struct SignalPipe {
    rx: mio::net::UnixStream,
    flags: [(libc::c_int, Arc<AtomicBool>); 6],
}

impl Engine {
    /// Builds from a parsed configuration file: `[global]` settings and stacks, each
    /// instance from its section. `overrides` (e.g. the command line) replaces settings.
    pub fn from_config(
        registry: &Registry,
        cfg: &ConfigFile,
        overrides: impl FnOnce(&mut Settings),
    ) -> Result<Engine, Vec<ConfigError>> {
        let mut g = Global::from_config(cfg)?;
        overrides(&mut g.settings);
        Engine::from_stacks(registry, cfg, &g.stacks, g.settings)
    }

    /// Builds from a configuration text (ini syntax, or TOML if `name` ends in `.toml`).
    pub fn from_str(
        registry: &Registry,
        name: &str,
        text: &str,
    ) -> Result<Engine, Vec<ConfigError>> {
        let cfg = ConfigFile::parse(std::path::Path::new(name), text).map_err(|e| {
            vec![ConfigError {
                file: e.file,
                line: e.line,
                key: None,
                message: e.message,
            }]
        })?;
        Engine::from_config(registry, &cfg, |_| {})
    }

    /// Builds from explicit stacks, with instance options taken from `cfg`'s sections.
    pub fn from_stacks(
        registry: &Registry,
        cfg: &ConfigFile,
        stacks: &[StackSpec],
        settings: Settings,
    ) -> Result<Engine, Vec<ConfigError>> {
        let topo = build(registry, cfg, stacks, settings.keyspool)?;
        let poll = Poll::new().map_err(|e| {
            vec![ConfigError {
                file: cfg.origin.clone(),
                line: 0,
                key: None,
                message: format!("cannot create the event loop: {e}"),
            }]
        })?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER).map_err(|e| {
            vec![ConfigError {
                file: cfg.origin.clone(),
                line: 0,
                key: None,
                message: format!("cannot create the event loop waker: {e}"),
            }]
        })?);
        let hops = topo.hops;
        let sources = topo
            .sources
            .into_iter()
            .map(|(inst, shared)| SourceRt {
                inst,
                shared,
                fds: Vec::new(),
                timers: Vec::new(),
                seq: 0,
                blocked: false,
                again: false,
                finished: false,
                pending_timers: Vec::new(),
                batch: Job::new(0),
            })
            .collect();
        Ok(Engine {
            settings,
            sources,
            stages: topo.stages,
            poll,
            waker,
            stop: Arc::new(AtomicBool::new(false)),
            timers: BinaryHeap::new(),
            signals: None,
            workers: Vec::new(),
            tx: None,
            started: false,
            hops,
        })
    }

    /// Starts building an engine in code.
    pub fn builder(registry: &Registry) -> super::EngineBuilder<'_> {
        super::EngineBuilder::new(registry)
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// A handle that stops the loop from another thread.
    pub fn handle(&self) -> EngineHandle {
        EngineHandle {
            stop: self.stop.clone(),
            waker: self.waker.clone(),
        }
    }

    /// Descriptions of the built stacks, one line each, for `--check` and the log.
    pub fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        for s in &self.sources {
            for st in &s.shared.stacks {
                out.push(format!(
                    "stack {}:{}{} ({} keys per event)",
                    s.inst.id,
                    s.inst.plugin,
                    st.label
                        .split_once(',')
                        .map(|x| format!(",{}", x.1))
                        .unwrap_or_default(),
                    s.shared.nslots
                ));
            }
        }
        // Source stacking: which stacks feed which hop.
        out.extend(super::hop::describe(&self.hops));
        out
    }

    /// Delivers SIGTERM/SIGINT/SIGHUP/SIGUSR1/SIGUSR2 to this engine (the daemon
    /// does this; an embedding program usually handles signals itself).
    pub fn handle_signals(&mut self) -> Result<(), EngineError> {
        let (mut rx, tx) = mio::net::UnixStream::pair()?;
        let mk = || Arc::new(AtomicBool::new(false));
        let flags = [
            (libc::SIGTERM, mk()),
            (libc::SIGINT, mk()),
            (libc::SIGHUP, mk()),
            (libc::SIGUSR1, mk()),
            (libc::SIGUSR2, mk()),
            (libc::SIGPIPE, mk()),
        ];
        let tx_fd = tx.into_raw_fd();
        // SAFETY: tx_fd is a fresh, owned descriptor from into_raw_fd above.
        let tx_std = unsafe { std::os::unix::net::UnixStream::from_raw_fd(tx_fd) };
        for (sig, flag) in &flags {
            signal_hook::flag::register(*sig, flag.clone())?;
            if *sig != libc::SIGPIPE {
                signal_hook::low_level::pipe::register(*sig, tx_std.try_clone()?)?;
            }
        }
        drop(tx_std);
        self.poll
            .registry()
            .register(&mut rx, SIGNALS, Interest::READABLE)?;
        self.signals = Some(SignalPipe { rx, flags });
        Ok(())
    }

    /// Starts sinks and filters, then sources (so nothing is emitted into a sink
    /// that is not open), then the workers.
    pub fn start(&mut self) -> Result<(), EngineError> {
        for st in &self.stages {
            st.stage.start().map_err(|e| EngineError::Start {
                id: st.id.clone(),
                plugin: st.plugin.to_string(),
                message: e.to_string(),
            })?;
        }
        let now = Instant::now();
        for (i, st) in self.stages.iter().enumerate() {
            if let Some(p) = st.stage.tick_interval() {
                self.timers
                    .push(Reverse((now + p, TimerId::Tick { stage: i })));
            }
        }
        for (si, s) in self.sources.iter_mut().enumerate() {
            s.shared.fill_pool();
            let mut setup = Setup {
                shared: s.shared.clone(),
                fds: Vec::new(),
                timers: Vec::new(),
                completion: None,
            };
            s.inst
                .source
                .start(&mut setup)
                .map_err(|e| EngineError::Start {
                    id: s.inst.id.clone(),
                    plugin: s.inst.plugin.to_string(),
                    message: e.to_string(),
                })?;
            for (idx, fd) in setup.fds.iter().enumerate() {
                self.poll.registry().register(
                    &mut SourceFd(fd),
                    Token(FD_BASE + si * FDS_PER_SOURCE + idx),
                    Interest::READABLE,
                )?;
            }
            for (idx, (first, period)) in setup.timers.iter().enumerate() {
                s.timers.push(Timer {
                    period: *period,
                    generation: 0,
                });
                self.timers.push(Reverse((
                    now + *first,
                    TimerId::Source {
                        src: si,
                        idx,
                        generation: 0,
                    },
                )));
            }
            s.fds = setup.fds;
            if let Some(c) = setup.completion {
                let _ = s.shared.completion.set(c);
            }
            // A source with nothing to wait on is run straight away (file replay).
            s.again = s.fds.is_empty() && s.timers.is_empty();
        }
        if self.settings.threads > 0 {
            let cap: usize = self
                .sources
                .iter()
                .map(|s| s.shared.pool_size)
                .sum::<usize>()
                .max(1);
            let (tx, rx) = crossbeam_channel::bounded::<Job>(cap);
            let shared: Arc<Vec<Arc<SourceShared>>> =
                Arc::new(self.sources.iter().map(|s| s.shared.clone()).collect());
            for n in 0..self.settings.threads {
                let rx = rx.clone();
                let shared = shared.clone();
                let waker = self.waker.clone();
                let h = std::thread::Builder::new()
                    .name(format!("ulogd-worker-{n}"))
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
                self.workers.push(h);
            }
            self.tx = Some(tx);
        }
        self.started = true;
        log::info!(
            "started {} source(s), {} stack(s), {} worker thread(s), {} bundles per source",
            self.sources.len(),
            self.sources
                .iter()
                .map(|s| s.shared.stacks.len())
                .sum::<usize>(),
            self.settings.threads,
            self.settings.keyspool
        );
        Ok(())
    }

    /// Every instance's counters.
    pub fn report(&self) -> Report {
        let mut r = Report::default();
        for s in &self.sources {
            let mut c = vec![
                ("events", s.shared.emitted.load(Ordering::Relaxed)),
                ("pool_empty", s.shared.pool_empty.load(Ordering::Relaxed)),
            ];
            c.extend(s.inst.source.counters());
            r.instances.push(InstanceReport {
                id: s.inst.id.clone(),
                plugin: s.inst.plugin.to_string(),
                counters: c,
            });
        }
        for st in &self.stages {
            let k = &st.counters;
            let mut c = vec![
                ("in", k.events_in.load(Ordering::Relaxed)),
                ("ok", k.ok.load(Ordering::Relaxed)),
                ("stopped", k.stopped.load(Ordering::Relaxed)),
                ("errors", k.errors.load(Ordering::Relaxed)),
            ];
            c.extend(st.stage.counters());
            r.instances.push(InstanceReport {
                id: st.id.clone(),
                plugin: st.plugin.to_string(),
                counters: c,
            });
        }
        r
    }

    /// Runs until stopped (signal or [`EngineHandle::stop`]) or until every source
    /// has finished; then drains events in flight, flushes and stops every plugin.
    /// Returns the final counters.
    pub fn run(mut self) -> Result<Report, EngineError> {
        if !self.started {
            self.start()?;
        }
        let mut events = Events::with_capacity(256);
        let result = self.main_loop(&mut events);
        self.shutdown();
        let report = self.report();
        result.map(|_| report)
    }

    fn main_loop(&mut self, events: &mut Events) -> Result<(), EngineError> {
        let mut ready: Vec<(usize, Wake)> = Vec::with_capacity(64);
        loop {
            if self.stop.load(Ordering::SeqCst) {
                log::info!("stopping on request");
                return Ok(());
            }
            // A hop source (hop.rs) never finishes itself: it is drained at shutdown.
            if self.sources.iter().any(|s| !s.inst.hop)
                && self.sources.iter().all(|s| s.finished || s.inst.hop)
            {
                log::info!("every source has finished");
                return Ok(());
            }
            let now = Instant::now();
            let any_again = self
                .sources
                .iter()
                .any(|s| s.again && !s.blocked && !s.finished);
            let timeout = if any_again {
                Some(Duration::ZERO)
            } else {
                self.timers
                    .peek()
                    .map(|Reverse((t, _))| t.saturating_duration_since(now))
            };
            match self.poll.poll(events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
            ready.clear();
            let mut signalled = false;
            for ev in events.iter() {
                match ev.token() {
                    WAKER => {}
                    SIGNALS => signalled = true,
                    Token(t) if t >= FD_BASE => {
                        let si = (t - FD_BASE) / FDS_PER_SOURCE;
                        let idx = (t - FD_BASE) % FDS_PER_SOURCE;
                        ready.push((si, Wake::Readable(idx)));
                    }
                    _ => {}
                }
            }
            if signalled && self.handle_pending_signals() {
                return Ok(());
            }
            // Sources whose pool has room again.
            for (si, s) in self.sources.iter_mut().enumerate() {
                if s.blocked && s.shared.in_flight() * 2 <= s.shared.pool_size {
                    s.blocked = false;
                    ready.push((si, Wake::Resume));
                    for t in std::mem::take(&mut s.pending_timers) {
                        ready.push((si, Wake::Timer(t)));
                    }
                } else if s.again && !s.blocked {
                    ready.push((si, Wake::Resume));
                }
            }
            // Timers due.
            let now = Instant::now();
            while let Some(Reverse((t, id))) = self.timers.peek().copied() {
                if t > now {
                    break;
                }
                self.timers.pop();
                match id {
                    TimerId::Tick { stage } => {
                        let st = &self.stages[stage];
                        st.stage.tick();
                        if let Some(p) = st.stage.tick_interval() {
                            self.timers.push(Reverse((now + p, id)));
                        }
                    }
                    TimerId::Source {
                        src,
                        idx,
                        generation,
                    } => {
                        let s = &mut self.sources[src];
                        let tm = &s.timers[idx];
                        if tm.generation != generation {
                            continue;
                        }
                        if let Some(p) = tm.period {
                            self.timers.push(Reverse((now + p, id)));
                        }
                        if s.blocked {
                            s.pending_timers.push(idx);
                        } else {
                            ready.push((src, Wake::Timer(idx)));
                        }
                    }
                }
            }
            for &(si, wake) in &ready {
                self.run_source(si, wake);
            }
        }
    }

    fn run_source(&mut self, si: usize, wake: Wake) {
        let s = &mut self.sources[si];
        // A blocked source's timers wait in `pending_timers` until it is resumed.
        if s.finished || s.blocked {
            return;
        }
        s.again = false;
        let mut timers_armed = Vec::new();
        let flow = {
            let mut em = Emitter {
                shared: &s.shared,
                si,
                tx: self.tx.as_ref(),
                seq: &mut s.seq,
                blocked: &mut s.blocked,
                armed: &mut timers_armed,
                batch: &mut s.batch,
            };
            s.inst.source.run(wake, &mut em)
        };
        for (idx, after) in timers_armed {
            if let Some(tm) = s.timers.get_mut(idx) {
                tm.generation += 1;
                self.timers.push(Reverse((
                    Instant::now() + after,
                    TimerId::Source {
                        src: si,
                        idx,
                        generation: tm.generation,
                    },
                )));
            }
        }
        match flow {
            Ok(Flow::Idle) => {}
            Ok(Flow::Again) => s.again = true,
            Ok(Flow::Finished) => {
                log::info!("source '{}' ({}) has finished", s.inst.id, s.inst.plugin);
                s.finished = true;
            }
            Err(e) => log::error!("source '{}' ({}): {e}", s.inst.id, s.inst.plugin),
        }
    }

    /// Returns true when the loop must stop.
    fn handle_pending_signals(&mut self) -> bool {
        let Some(sp) = self.signals.as_mut() else {
            return false;
        };
        let mut buf = [0u8; 64];
        while matches!(sp.rx.read(&mut buf), Ok(n) if n > 0) {}
        let fired: Vec<libc::c_int> = sp
            .flags
            .iter()
            .filter(|(_, f)| f.swap(false, Ordering::SeqCst))
            .map(|(s, _)| *s)
            .collect();
        let mut stop = false;
        for sig in fired {
            match sig {
                libc::SIGTERM | libc::SIGINT => {
                    log::notice_or_info(&format!(
                        "received {}, shutting down",
                        if sig == libc::SIGTERM {
                            "SIGTERM"
                        } else {
                            "SIGINT"
                        }
                    ));
                    stop = true;
                }
                libc::SIGHUP => {
                    log::info!("SIGHUP: reopening log files");
                    crate::logging::reopen();
                    self.deliver(Signal::Hup);
                }
                libc::SIGUSR1 => {
                    for line in self.report().to_string().lines() {
                        log::warn!("counters: {line}");
                    }
                    self.deliver(Signal::Usr1);
                }
                libc::SIGUSR2 => self.deliver(Signal::Usr2),
                _ => {}
            }
        }
        stop
    }

    /// Passes a signal to every source and stage.
    pub fn deliver(&mut self, sig: Signal) {
        for (si, s) in self.sources.iter_mut().enumerate() {
            let mut armed = Vec::new();
            let mut em = Emitter {
                shared: &s.shared,
                si,
                tx: self.tx.as_ref(),
                seq: &mut s.seq,
                blocked: &mut s.blocked,
                armed: &mut armed,
                batch: &mut s.batch,
            };
            s.inst.source.signal(sig, &mut em);
        }
        for st in &self.stages {
            st.stage.signal(sig);
        }
    }

    fn shutdown(&mut self) {
        // Hop sources stop in `hop::drain`, after what feeds them.
        for s in self.sources.iter_mut().filter(|s| !s.inst.hop) {
            s.inst.source.stop();
        }
        // Let every event in flight finish.
        if let Some(tx) = self.tx.take() {
            drop(tx);
            for h in self.workers.drain(..) {
                let _ = h.join();
            }
        }
        // Source stacking: flush each hop and run its stacks, upstream first.
        let mut srcs: Vec<_> = self
            .sources
            .iter_mut()
            .map(|s| (&mut s.inst, &s.shared, &mut s.seq))
            .collect();
        super::hop::drain(&self.hops, &mut srcs, &self.stages);
        for st in &self.stages {
            st.stage.flush();
        }
        for st in &self.stages {
            st.stage.stop();
        }
        for line in self.report().to_string().lines() {
            log::info!("final counters: {line}");
        }
    }
}

mod log {
    pub use ::log::*;
    /// Notice level does not exist in `log`; ulogd's notice maps to info.
    pub fn notice_or_info(msg: &str) {
        ::log::info!("{msg}");
    }
}

struct Setup {
    shared: Arc<SourceShared>,
    fds: Vec<RawFd>,
    timers: Vec<(Duration, Option<Duration>)>,
    completion: Option<Arc<dyn Completion>>,
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
        })
    }
}

/// See [`SourceSetup::thread_emitter`].
struct ThreadEmitter {
    shared: Arc<SourceShared>,
    bundle: Box<Bundle>,
}

impl Emit for ThreadEmitter {
    fn emit(
        &mut self,
        fill: &mut dyn FnMut(&mut crate::event::Event<'_>) -> bool,
    ) -> Result<(), PoolEmpty> {
        let b = &mut self.bundle;
        if self.shared.fill(b, fill) {
            self.shared.emitted.fetch_add(1, Ordering::Relaxed);
            self.shared.process(b, false);
        }
        b.clear();
        Ok(())
    }

    fn arm_timer(&mut self, _timer: usize, _after: Duration) {
        log::debug!(
            "source '{}': timers cannot be armed from a source thread",
            self.shared.id
        );
    }
}

struct Emitter<'a> {
    shared: &'a Arc<SourceShared>,
    si: usize,
    tx: Option<&'a crossbeam_channel::Sender<Job>>,
    seq: &'a mut u64,
    blocked: &'a mut bool,
    armed: &'a mut Vec<(usize, Duration)>,
    batch: &'a mut Job,
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
    fn emit(
        &mut self,
        fill: &mut dyn FnMut(&mut crate::event::Event<'_>) -> bool,
    ) -> Result<(), PoolEmpty> {
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

impl AsRawFd for SignalPipe {
    fn as_raw_fd(&self) -> RawFd {
        self.rx.as_raw_fd()
    }
}
