//! The driver: the mio loop on the caller's thread — source fds, the timer heap,
//! the waker for workers, stop requests and signals delivered through the
//! [`EngineHandle`]. [`Engine::run`] loops [`Engine::step`]; a host with its own
//! event loop calls `step` itself when [`Engine::as_raw_fd`] is readable or
//! [`Engine::timeout`] has passed.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};

use crate::config::ConfigFile;
use crate::global::{Global, Settings, StackSpec};
use crate::options::ConfigError;
use crate::plugin::{Built, Flow, Signal, Stage, Wake};
use crate::registry::Registry;

use super::build::{build, SourceInst, StageInst};
use super::builder::EngineBuilder;
use super::dispatch::{spawn_workers, Counters, Emitter, Job, Setup, SourceShared};
use super::report::{EngineError, Report, Snapshot, SourceStats, StageStats, PUBLISH_EVERY};
use super::timers::{system_clock, Clock, Due, Timers};

const WAKER: Token = Token(0);
const FD_BASE: usize = 16;
const FDS_PER_SOURCE: usize = 1 << 12;

/// What [`Engine::step`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Keep calling `step`.
    Running,
    /// A stop was requested or every source has finished: call [`Engine::finish`].
    Finished,
}

/// Requests from other threads: stop, and signals to pass on.
#[derive(Default)]
struct Control {
    stop: AtomicBool,
    /// When every source has finished, keep the loop (timers, stage ticks: output
    /// retries and flushes) running until stopped, instead of ending.
    linger: AtomicBool,
    /// Every source has finished (set while lingering).
    sources_done: AtomicBool,
    /// Bit per [`Signal`] (see [`sig_bit`]).
    signals: AtomicU8,
}

fn sig_bit(s: Signal) -> u8 {
    match s {
        Signal::Hup => 1,
        Signal::Usr1 => 2,
        Signal::Usr2 => 4,
    }
}

/// What a handle reads counters from: the atomics workers bump, and the sources'
/// own counters as the loop last published them (a `Source` lives on the loop
/// thread and cannot be asked from another).
struct Live {
    sources: Vec<LiveSource>,
    stages: Vec<LiveStage>,
}

struct LiveSource {
    plugin: &'static str,
    shared: Arc<SourceShared>,
    published: Mutex<Vec<(&'static str, u64)>>,
}

struct LiveStage {
    id: String,
    plugin: &'static str,
    counters: Arc<Counters>,
    stage: Arc<dyn Stage>,
}

impl Live {
    fn source_stats(s: &LiveSource, counters: Vec<(&'static str, u64)>) -> SourceStats {
        let sh = &s.shared;
        SourceStats {
            id: sh.id.clone(),
            plugin: s.plugin.to_string(),
            events: sh.emitted.load(Ordering::Relaxed),
            pool_empty: sh.pool_empty.load(Ordering::Relaxed),
            pool_size: sh.pool_size,
            in_flight: sh.in_flight(),
            blocked: sh.blocked.load(Ordering::Relaxed),
            counters,
        }
    }

    fn stages(&self) -> Vec<StageStats> {
        self.stages
            .iter()
            .map(|st| {
                let k = &st.counters;
                StageStats {
                    id: st.id.clone(),
                    plugin: st.plugin.to_string(),
                    events_in: k.events_in.load(Ordering::Relaxed),
                    ok: k.ok.load(Ordering::Relaxed),
                    stopped: k.stopped.load(Ordering::Relaxed),
                    errors: k.errors.load(Ordering::Relaxed),
                    last_error: k.last_error(),
                    counters: st.stage.counters(),
                }
            })
            .collect()
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            sources: self
                .sources
                .iter()
                .map(|s| {
                    let c = s
                        .published
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .clone();
                    Live::source_stats(s, c)
                })
                .collect(),
            stages: self.stages(),
        }
    }
}

/// Controls a running engine from any thread: stop it, pass it signals, read its
/// live counters. Cheap to clone.
#[derive(Clone)]
pub struct EngineHandle {
    ctl: Arc<Control>,
    waker: Arc<Waker>,
    live: Arc<Live>,
}

impl EngineHandle {
    /// Asks the loop to stop: sources stop reading, events in flight finish, sinks
    /// are flushed. [`Engine::run`] then returns.
    pub fn stop(&self) {
        self.ctl.stop.store(true, Ordering::SeqCst);
        let _ = self.waker.wake();
    }

    /// Passes `sig` to the engine as the daemon does for the process signal: on the
    /// loop thread, every source and stage gets it ([`Engine::deliver`]); for
    /// [`Signal::Usr1`] the engine first logs every instance's counters. The same
    /// signal sent twice before the loop wakes is delivered once, as with process
    /// signals.
    pub fn signal(&self, sig: Signal) {
        self.ctl.signals.fetch_or(sig_bit(sig), Ordering::SeqCst);
        let _ = self.waker.wake();
    }

    /// With `on`, an engine whose sources have all finished keeps its loop running
    /// (stage ticks go on: a full disk is still retried, buffered records are still
    /// flushed) until [`EngineHandle::stop`]. A fleet of engines sets this so one
    /// group ending early does not stop its outputs while the others still run;
    /// [`EngineHandle::sources_finished`] tells when to stop it.
    pub fn set_linger(&self, on: bool) {
        self.ctl.linger.store(on, Ordering::SeqCst);
        let _ = self.waker.wake();
    }

    /// Whether every source of a lingering engine has finished.
    pub fn sources_finished(&self) -> bool {
        self.ctl.sources_done.load(Ordering::SeqCst)
    }

    /// Every instance's counters now (the sources' own counters as of the loop's
    /// last publication, at most [`PUBLISH_EVERY`] old while it runs).
    pub fn snapshot(&self) -> Snapshot {
        self.live.snapshot()
    }
}

struct SourceRt {
    inst: SourceInst,
    shared: Arc<SourceShared>,
    fds: Vec<RawFd>,
    seq: u64,
    blocked: bool,
    again: bool,
    finished: bool,
    pending_timers: Vec<usize>,
    batch: Job,
}

impl SourceRt {
    /// Calls `f` with the source and an emitter into its stacks (`run`, `signal`,
    /// `drain` all go through here); returns its result and the timers the source
    /// re-armed meanwhile. The emitter is dropped first, which hands its batch on.
    fn with_emitter<R>(
        &mut self,
        si: usize,
        tx: Option<&crossbeam_channel::Sender<Job>>,
        f: impl FnOnce(&mut dyn crate::plugin::Source, &mut Emitter<'_>) -> R,
    ) -> (R, Vec<(usize, Duration)>) {
        let mut armed = Vec::new();
        let SourceRt {
            inst,
            shared,
            seq,
            blocked,
            batch,
            ..
        } = self;
        let mut em = Emitter {
            shared,
            si,
            tx,
            seq,
            blocked,
            armed: &mut armed,
            batch,
        };
        let r = f(inst.source.as_mut(), &mut em);
        drop(em);
        (r, armed)
    }
}

/// A built engine: every instance constructed and every stack bound. Nothing is
/// opened until [`Engine::start`].
pub struct Engine {
    settings: Settings,
    sources: Vec<SourceRt>,
    stages: Vec<StageInst>,
    poll: Poll,
    events: Events,
    ready: Vec<(usize, Wake)>,
    waker: Arc<Waker>,
    ctl: Arc<Control>,
    clock: Clock,
    timers: Timers,
    workers: Vec<JoinHandle<()>>,
    tx: Option<crossbeam_channel::Sender<Job>>,
    started: bool,
    finished: bool,
    live: Arc<Live>,
    /// Source stacking (`hop.rs`), upstream first.
    hops: Vec<super::hop::HopLink>,
    published_at: Option<Instant>,
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
        Engine::assemble(
            registry,
            cfg,
            stacks,
            settings,
            system_clock(),
            HashMap::new(),
        )
    }

    pub(crate) fn assemble(
        registry: &Registry,
        cfg: &ConfigFile,
        stacks: &[StackSpec],
        settings: Settings,
        clock: Clock,
        objects: HashMap<String, Built>,
    ) -> Result<Engine, Vec<ConfigError>> {
        let topo = build(registry, cfg, stacks, settings.keyspool, objects)?;
        let loop_err = |what: &str, e: std::io::Error| {
            vec![ConfigError {
                file: cfg.origin.clone(),
                line: 0,
                key: None,
                message: format!("cannot create the event loop{what}: {e}"),
            }]
        };
        let poll = Poll::new().map_err(|e| loop_err("", e))?;
        let waker =
            Arc::new(Waker::new(poll.registry(), WAKER).map_err(|e| loop_err(" waker", e))?);
        let live = Arc::new(Live {
            sources: topo
                .sources
                .iter()
                .map(|(inst, shared)| LiveSource {
                    plugin: inst.plugin,
                    shared: shared.clone(),
                    published: Mutex::new(Vec::new()),
                })
                .collect(),
            stages: topo
                .stages
                .iter()
                .map(|st| LiveStage {
                    id: st.id.clone(),
                    plugin: st.plugin,
                    counters: st.counters.clone(),
                    stage: st.stage.clone(),
                })
                .collect(),
        });
        let hops = topo.hops;
        let sources = topo
            .sources
            .into_iter()
            .map(|(inst, shared)| SourceRt {
                inst,
                shared,
                fds: Vec::new(),
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
            events: Events::with_capacity(256),
            ready: Vec::with_capacity(64),
            waker,
            ctl: Arc::new(Control::default()),
            clock,
            timers: Timers::default(),
            workers: Vec::new(),
            tx: None,
            started: false,
            finished: false,
            live,
            hops,
            published_at: None,
        })
    }

    /// Starts building an engine in code.
    pub fn builder(registry: &Registry) -> EngineBuilder<'_> {
        EngineBuilder::new(registry)
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// A handle that stops the loop and passes signals from another thread.
    pub fn handle(&self) -> EngineHandle {
        EngineHandle {
            ctl: self.ctl.clone(),
            waker: self.waker.clone(),
            live: self.live.clone(),
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

    /// Starts sinks and filters, then sources (so nothing is emitted into a sink
    /// that is not open), then the workers.
    pub fn start(&mut self) -> Result<(), EngineError> {
        for st in &self.stages {
            st.stage.start().map_err(|e| EngineError::Start {
                id: st.id.clone(),
                plugin: st.plugin.to_string(),
                error: Box::new(e),
            })?;
        }
        let now = (self.clock)();
        for (i, st) in self.stages.iter().enumerate() {
            if let Some(p) = st.stage.tick_interval() {
                self.timers.tick_at(i, now + p);
            }
        }
        for (si, s) in self.sources.iter_mut().enumerate() {
            s.shared.fill_pool();
            let mut setup = Setup {
                shared: s.shared.clone(),
                fds: Vec::new(),
                timers: Vec::new(),
                completion: None,
                clock: self.clock.clone(),
                waker: self.waker.clone(),
            };
            s.inst
                .source
                .start(&mut setup)
                .map_err(|e| EngineError::Start {
                    id: s.inst.id.clone(),
                    plugin: s.inst.plugin.to_string(),
                    error: Box::new(e),
                })?;
            for (idx, fd) in setup.fds.iter().enumerate() {
                self.poll.registry().register(
                    &mut SourceFd(fd),
                    Token(FD_BASE + si * FDS_PER_SOURCE + idx),
                    Interest::READABLE,
                )?;
            }
            for (first, period) in &setup.timers {
                self.timers.add(si, now + *first, *period);
            }
            s.fds = setup.fds;
            if let Some(c) = setup.completion {
                let _ = s.shared.completion.set(c);
            }
            // A source with nothing to wait on is run straight away (file replay).
            s.again = s.fds.is_empty() && !self.timers.has_any(si);
        }
        if self.settings.threads > 0 {
            let shared = self.sources.iter().map(|s| s.shared.clone()).collect();
            let (tx, workers) = spawn_workers(self.settings.threads, shared, self.waker.clone())?;
            self.workers = workers;
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

    /// Every instance's counters (as [`Report`], the shape SIGUSR1 logs).
    pub fn report(&self) -> Report {
        Report::from(&self.snapshot())
    }

    /// Every instance's counters now, the sources' own included (on the loop
    /// thread; from another thread use [`EngineHandle::snapshot`]).
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            sources: self
                .live
                .sources
                .iter()
                .zip(&self.sources)
                .map(|(l, s)| Live::source_stats(l, s.inst.source.counters()))
                .collect(),
            stages: self.live.stages(),
        }
    }

    /// Publishes the sources' own counters for handles.
    fn publish(&mut self, now: Instant) {
        if self
            .published_at
            .is_some_and(|t| now.saturating_duration_since(t) < PUBLISH_EVERY)
        {
            return;
        }
        self.published_at = Some(now);
        for (l, s) in self.live.sources.iter().zip(&self.sources) {
            *l.published.lock().unwrap_or_else(|e| e.into_inner()) = s.inst.source.counters();
        }
    }

    /// Runs until stopped ([`EngineHandle::stop`]) or until every source has
    /// finished; then drains events in flight, flushes and stops every plugin.
    /// Returns the final counters.
    pub fn run(mut self) -> Result<Report, EngineError> {
        if !self.started {
            self.start()?;
        }
        let result = loop {
            match self.step(None) {
                Ok(Step::Running) => {}
                Ok(Step::Finished) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        self.shutdown();
        let report = self.report();
        result.map(|_| report)
    }

    /// The descriptor of the engine's event loop (an epoll fd): readable when
    /// [`Engine::step`] has work. A host polls it next to its own descriptors.
    pub fn as_raw_fd(&self) -> RawFd {
        self.poll.as_raw_fd()
    }

    /// How long a host may wait before calling [`Engine::step`] even if
    /// [`Engine::as_raw_fd`] stays quiet (the next timer); `None` for no timer,
    /// zero when a source asked to run again.
    pub fn timeout(&self) -> Option<Duration> {
        if self
            .sources
            .iter()
            .any(|s| s.again && !s.blocked && !s.finished)
        {
            return Some(Duration::ZERO);
        }
        let now = (self.clock)();
        self.timers
            .next_deadline()
            .map(|t| t.saturating_duration_since(now))
    }

    /// One turn of the loop: waits up to `timeout` (`None`: until something
    /// happens), then runs every ready source, due timer and pending signal. Starts
    /// the engine on first use. Returns [`Step::Finished`] once stopped or every
    /// source has finished; then call [`Engine::finish`].
    pub fn step(&mut self, timeout: Option<Duration>) -> Result<Step, EngineError> {
        if !self.started {
            self.start()?;
        }
        if self.finished || self.check_finished() {
            return Ok(Step::Finished);
        }
        let wait = match (self.timeout(), timeout) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match self.poll.poll(&mut self.events, wait) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return Ok(Step::Running),
            Err(e) => return Err(e.into()),
        }
        let mut ready = std::mem::take(&mut self.ready);
        ready.clear();
        for ev in self.events.iter() {
            match ev.token() {
                WAKER => {}
                Token(t) if t >= FD_BASE => {
                    let si = (t - FD_BASE) / FDS_PER_SOURCE;
                    let idx = (t - FD_BASE) % FDS_PER_SOURCE;
                    ready.push((si, Wake::Readable(idx)));
                }
                _ => {}
            }
        }
        self.handle_control();
        if self.check_finished() {
            self.ready = ready;
            return Ok(Step::Finished);
        }
        let now = (self.clock)();
        // Timers armed from a source's own threads.
        for (si, s) in self.sources.iter().enumerate() {
            let mut q = s
                .shared
                .remote_timers
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            for (idx, at) in q.drain(..) {
                self.timers.rearm(si, idx, at);
            }
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
        while let Some(due) = self.timers.pop_due(now) {
            match due {
                Due::Tick { stage } => {
                    let st = &self.stages[stage];
                    st.stage.tick();
                    if let Some(p) = st.stage.tick_interval() {
                        self.timers.tick_at(stage, now + p);
                    }
                }
                Due::Source { src, idx } => {
                    let s = &mut self.sources[src];
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
        self.ready = ready;
        self.publish(now);
        Ok(Step::Running)
    }

    /// Whether the loop is done (stop requested, or every source finished); logs why
    /// once.
    fn check_finished(&mut self) -> bool {
        if self.finished {
            return true;
        }
        if self.ctl.stop.load(Ordering::SeqCst) {
            log::info!("stopping on request");
            self.finished = true;
        } else if self.sources.iter().any(|s| !s.inst.hop)
            && self.sources.iter().all(|s| s.finished || s.inst.hop)
        {
            // A hop source (hop.rs) never finishes itself: it is drained at shutdown.
            if self.ctl.linger.load(Ordering::SeqCst) {
                if !self.ctl.sources_done.swap(true, Ordering::SeqCst) {
                    log::info!("every source of this group has finished; its outputs run on");
                }
            } else {
                log::info!("every source has finished");
                self.finished = true;
            }
        }
        self.finished
    }

    /// After [`Step::Finished`]: stops the sources, lets every event in flight
    /// finish, flushes and stops every stage, and returns the final counters.
    pub fn finish(mut self) -> Report {
        self.shutdown();
        self.report()
    }

    fn run_source(&mut self, si: usize, wake: Wake) {
        let s = &mut self.sources[si];
        // A blocked source's timers wait in `pending_timers` until it is resumed.
        if s.finished || s.blocked {
            return;
        }
        s.again = false;
        let (flow, armed) = s.with_emitter(si, self.tx.as_ref(), |src, em| src.run(wake, em));
        match flow {
            Ok(Flow::Idle) => {}
            Ok(Flow::Again) => s.again = true,
            Ok(Flow::Finished) => {
                log::info!("source '{}' ({}) has finished", s.inst.id, s.inst.plugin);
                s.finished = true;
            }
            Err(e) => log::error!("source '{}' ({}): {e}", s.inst.id, s.inst.plugin),
        }
        self.arm(si, armed);
    }

    /// Re-arms the timers a source asked for while it ran.
    fn arm(&mut self, si: usize, armed: Vec<(usize, Duration)>) {
        if armed.is_empty() {
            return;
        }
        let now = (self.clock)();
        for (idx, after) in armed {
            self.timers.rearm(si, idx, now + after);
        }
    }

    /// Signals sent through [`EngineHandle::signal`].
    fn handle_control(&mut self) {
        let bits = self.ctl.signals.swap(0, Ordering::SeqCst);
        for sig in [Signal::Hup, Signal::Usr1, Signal::Usr2] {
            if bits & sig_bit(sig) != 0 {
                self.on_signal(sig);
            }
        }
    }

    fn on_signal(&mut self, sig: Signal) {
        match sig {
            Signal::Hup => log::info!("SIGHUP: reopening files"),
            Signal::Usr1 => {
                for line in self.report().to_string().lines() {
                    // Asked for explicitly: shown whatever the log level.
                    log::warn!(target: crate::ALWAYS, "counters: {line}");
                }
            }
            Signal::Usr2 => {}
        }
        self.deliver(sig);
    }

    /// Passes a signal to every source and stage, on this thread. Timers a source
    /// re-arms while handling it are kept.
    pub fn deliver(&mut self, sig: Signal) {
        for si in 0..self.sources.len() {
            let tx = self.tx.as_ref();
            let ((), armed) = self.sources[si].with_emitter(si, tx, |src, em| src.signal(sig, em));
            self.arm(si, armed);
        }
        for st in &self.stages {
            st.stage.signal(sig);
        }
    }

    fn shutdown(&mut self) {
        // Sources hand over what the kernel still queues for them, while the
        // stacks can still take it; then they close.
        for (si, s) in self.sources.iter_mut().enumerate() {
            s.with_emitter(si, self.tx.as_ref(), |src, em| src.drain(em));
        }
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
        self.published_at = None;
        self.publish((self.clock)());
        for line in self.report().to_string().lines() {
            log::info!("final counters: {line}");
        }
    }
}

impl EngineBuilder<'_> {
    /// Builds the engine (nothing is opened until [`Engine::start`] or [`Engine::run`]).
    pub fn build(self) -> Result<Engine, Vec<ConfigError>> {
        if !self.errors.is_empty() {
            return Err(self.errors);
        }
        let cfg = ConfigFile {
            origin: "<code>".into(),
            sections: self.sections,
        };
        Engine::assemble(
            self.registry,
            &cfg,
            &self.stacks,
            self.settings,
            self.clock,
            self.objects,
        )
    }
}
