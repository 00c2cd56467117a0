//! The plugin API: sources, filters and sinks as trait objects.
//!
//! A plugin is described by a [`PluginSpec`] (name, kind, options, declared keys and a
//! constructor) and registered in a [`crate::Registry`]. At start-up the engine calls
//! the constructor once per instance id with that instance's validated options; the
//! result is a [`Built`]: a source (owned by the event loop thread) or a stage (a
//! filter or sink, `Send + Sync` because one instance is shared by every stack that
//! names it and may be called from several worker threads at once).

use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::Duration;

use crate::event::{BindState, Event};
use crate::key::KeyDef;
use crate::options::{ConfigError, OptionDef, Options};

/// The kind of a plugin: where it may stand in a stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// First element: produces events.
    Source,
    /// Middle element: reads keys, writes keys, may stop the stack.
    Filter,
    /// Last element: consumes keys.
    Sink,
}

impl Kind {
    /// Lower-case name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Source => "source",
            Kind::Filter => "filter",
            Kind::Sink => "sink",
        }
    }
}

/// What a stage's per-event call decided (ulogd2's `ULOGD_IRET_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ret {
    /// Continue with the next element.
    Ok,
    /// End this stack for this event (a filter that drops it); not an error.
    Stop,
    /// End this stack for this event and count an error.
    Err,
}

/// Signals the engine passes on to plugins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// SIGHUP: reopen files, reconnect (logrotate).
    Hup,
    /// SIGUSR1: the engine logs counters; plugins may log their own state.
    Usr1,
    /// SIGUSR2: plugin specific (NFCT dump-and-zero, NFACCT poll).
    Usr2,
}

/// An error from a plugin's constructor, start or run, in words a sysadmin reads.
///
/// The variant says which phase failed and carries its context once: a
/// [`PluginError::Config`] already names file, line and key, so the engine reports
/// it as it is; the others get the instance's section line and `[id] (PLUGIN):`.
/// Plugins usually write `PluginError::new(msg)`, `?` on an `io::Error` or on a
/// [`ConfigError`] (from [`Options::error`], [`Options::u32`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PluginError {
    /// A bad option value, naming file, line and key.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The instance cannot be built from valid options (a combination that cannot
    /// work, a module that cannot be loaded).
    #[error("{0}")]
    Build(String),
    /// Opening files, sockets or the kernel side failed.
    #[error("{0}")]
    Start(String),
    /// An I/O error while running.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Anything else, in words (what [`PluginError::new`] makes).
    #[error("{0}")]
    Other(String),
}

impl PluginError {
    /// An error from a message.
    pub fn new(msg: impl Into<String>) -> PluginError {
        PluginError::Other(msg.into())
    }
    /// A build error: valid options that cannot work together.
    pub fn build(msg: impl Into<String>) -> PluginError {
        PluginError::Build(msg.into())
    }
    /// A start error: something could not be opened.
    pub fn start(msg: impl Into<String>) -> PluginError {
        PluginError::Start(msg.into())
    }
}

impl From<String> for PluginError {
    fn from(msg: String) -> Self {
        PluginError::Other(msg)
    }
}

impl From<&str> for PluginError {
    fn from(msg: &str) -> Self {
        PluginError::Other(msg.to_string())
    }
}

/// Which keys a stage takes.
#[derive(Clone, Debug)]
pub enum Inputs {
    /// These keys, bound by name to the nearest upstream producer.
    Keys(Vec<KeyDef>),
    /// Every key produced upstream, in stack order (JSON, GPRINT, OPRINT...).
    All,
}

/// What a stage sees of one stack it stands in, for [`Stage::bind`].
#[derive(Debug)]
pub struct StackKeys<'a> {
    /// The stack, as written (`log1:NFLOG,base1:BASE,...`).
    pub stack: &'a str,
    /// For each declared input key: the upstream key it is bound to, or `None`
    /// (optional or inactive inputs nothing produces).
    pub inputs: &'a [Option<&'a KeyDef>],
    /// For a wildcard stage ([`Inputs::All`]): every upstream key, in stack order —
    /// position `i` here is `ev.wildcard_get(i)`.
    pub wildcard: &'a [&'a KeyDef],
    /// The stage's own outputs.
    pub outputs: &'a [KeyDef],
}

/// A filter or sink. One instance may serve several stacks, concurrently.
pub trait Stage: Send + Sync {
    /// Called once per stack the instance stands in, at build time (also by
    /// `--check`), after its keys are bound: derive whatever depends on the stack's
    /// keys (names, types, positions) here, so `interp` compares no names. The
    /// engine keeps the returned state with the stack and hands it back on every
    /// event of that stack ([`Event::bind_state`]). An error refuses the
    /// configuration, naming the stack.
    fn bind(&self, _keys: &StackKeys<'_>) -> Result<BindState, PluginError> {
        Ok(BindState::none())
    }
    /// Opens files and sockets. Not called by `--check`.
    fn start(&self) -> Result<(), PluginError> {
        Ok(())
    }
    /// Handles one event. Called from worker threads (or the loop thread with
    /// `threads=0`); for a sink, events of one source arrive in kernel order.
    fn interp(&self, ev: &mut Event<'_>) -> Ret;
    /// A signal. Never concurrent with a write the plugin guards by its own lock.
    fn signal(&self, _sig: Signal) {}
    /// Periodic work on the loop thread (flush timers, batch commits), every
    /// [`Stage::tick_interval`].
    fn tick(&self) {}
    /// How often [`Stage::tick`] runs; `None` for never.
    fn tick_interval(&self) -> Option<Duration> {
        None
    }
    /// Writes out buffered data (called at shutdown before `stop`).
    fn flush(&self) {}
    /// Tears down. Called once, after the last event.
    fn stop(&self) {}
    /// Extra counters to print on SIGUSR1 (name, value).
    fn counters(&self) -> Vec<(&'static str, u64)> {
        Vec::new()
    }
    /// For a wildcard stage ([`Inputs::All`]) whose options name keys (KAFKA's topic
    /// template): checks at build time, once per stack, that the stack carries them.
    /// `Err((key, message))` is reported as a start-up error naming the key.
    fn check_wildcard(&self, _upstream: &[&KeyDef]) -> Result<(), (String, String)> {
        Ok(())
    }
}

/// Why a source is being run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// A registered file descriptor (by the index [`SourceSetup::add_fd`] returned)
    /// is readable.
    Readable(usize),
    /// A timer (by the index [`SourceSetup::add_timer`] returned) fired.
    Timer(usize),
    /// The source returned [`Flow::Again`], or its pool has bundles again after it
    /// was blocked: carry on from where it stopped.
    Resume,
}

/// What a source wants after a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Wait for the next fd readiness or timer.
    Idle,
    /// Run again soon (after the loop polled everything else once): for sources
    /// that are not fd-driven, like file replay, so signals and timers go on.
    Again,
    /// The source has no more events, ever (end of a replayed file).
    Finished,
}

/// What a source registers with the event loop in [`Source::start`].
pub trait SourceSetup {
    /// Watches `fd` for readability. Returns the index passed in [`Wake::Readable`].
    fn add_fd(&mut self, fd: RawFd) -> usize;
    /// A timer: fires after `first`, then every `period` if given. Returns the index
    /// passed in [`Wake::Timer`].
    fn add_timer(&mut self, first: Duration, period: Option<Duration>) -> usize;
    /// Called on a worker thread after every stack has run on an event of this source,
    /// with the event's final verdict (NFQUEUE issues it here).
    fn on_done(&mut self, done: Arc<dyn Completion>);
    /// An emitter for a thread of the source's own (MTNFQ: one thread per queue). It
    /// owns one bundle and runs every stack of the source on the calling thread, so
    /// latency never waits behind another thread; it never returns [`PoolEmpty`].
    /// Sinks see each thread's events in that thread's order; events of different
    /// threads interleave. The source must join its threads in [`Source::stop`].
    fn thread_emitter(&mut self) -> Box<dyn Emit + Send>;
}

/// Receives each finished event of a source (see [`SourceSetup::on_done`]).
pub trait Completion: Send + Sync {
    /// `ev` reads the source's own output keys: input position `i` is output `i` of
    /// the source (`ev.u32(i)`, `ev.is_set(i)`).
    fn done(&self, ev: &Event<'_>, verdict: Option<crate::event::Verdict>);
}

/// The pool is empty: the source must keep its place and return; it is woken with
/// [`Wake::Resume`] when a bundle comes back. Nothing is lost: the kernel queue holds
/// the rest of the burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("bundle pool exhausted")]
pub struct PoolEmpty;

/// Hands events from a source into its stacks.
pub trait Emit {
    /// Takes a bundle from the pool, lets `fill` write the source's output keys
    /// (addressed by position in the source's output list), and dispatches the event
    /// to every stack. `fill` returning `false` drops the event (a parse error the
    /// source has already counted) and returns the bundle.
    fn emit(&mut self, fill: &mut dyn FnMut(&mut Event<'_>) -> bool) -> Result<(), PoolEmpty>;
    /// Re-arms a timer to fire once after `after` (replay pacing).
    fn arm_timer(&mut self, timer: usize, after: Duration);
}

/// A source: runs on the event loop thread, owned by it.
pub trait Source: Send {
    /// Opens sockets/files and registers them. Not called by `--check`.
    fn start(&mut self, setup: &mut dyn SourceSetup) -> Result<(), PluginError>;
    /// Reads what is ready and emits events.
    fn run(&mut self, wake: Wake, emit: &mut dyn Emit) -> Result<Flow, PluginError>;
    /// A signal (e.g. SIGUSR2: NFCT dump-and-zero).
    fn signal(&mut self, _sig: Signal, _emit: &mut dyn Emit) {}
    /// Shutdown, before [`Source::stop`]: hand over what is still queued for this
    /// source (NFLOG: the batch the kernel holds), so nothing accepted is dropped.
    /// The stacks still run. Default: nothing.
    fn drain(&mut self, _emit: &mut dyn Emit) {}
    /// Closes everything.
    fn stop(&mut self) {}
    /// Extra counters for SIGUSR1 and the shutdown summary (overruns, gaps...).
    fn counters(&self) -> Vec<(&'static str, u64)> {
        Vec::new()
    }
}

/// A constructed plugin instance.
pub enum Built {
    /// A source and its output keys.
    Source {
        /// The instance.
        source: Box<dyn Source>,
        /// Output keys (may depend on options).
        outputs: Vec<KeyDef>,
    },
    /// A filter or sink and its keys.
    Stage {
        /// The instance.
        stage: Arc<dyn Stage>,
        /// Input keys.
        inputs: Inputs,
        /// Output keys (empty for sinks).
        outputs: Vec<KeyDef>,
    },
    /// Source stacking: one instance that ends the stacks feeding it (as a sink) and
    /// heads other stacks under the same id (as a source), e.g. FLOW. The two halves
    /// share the plugin's state; see `engine/hop.rs` for the rules across the hop.
    /// Register the plugin as a sink and, with [`crate::Registry::add_variant`], as a
    /// source, both building this.
    Hop {
        /// The sink half.
        stage: Arc<dyn Stage>,
        /// Its input keys.
        inputs: Inputs,
        /// The source half.
        source: Box<dyn Source>,
        /// Its output keys.
        outputs: Vec<KeyDef>,
    },
}

/// What the constructor gets.
pub struct BuildContext<'a> {
    /// The instance id (section name).
    pub id: &'a str,
    /// Validated options of the instance's section.
    pub options: &'a Options,
}

/// Constructor of a plugin instance.
pub type BuildFn = dyn Fn(&BuildContext<'_>) -> Result<Built, PluginError> + Send + Sync;

/// A plugin's description and constructor.
pub struct PluginSpec {
    /// Registered name (`NFLOG`, `BASE`, `JSON`...), case-sensitive as in ulogd2.
    pub name: &'static str,
    /// Other names accepted in stacks (`MAC2STR` for `HWHDR`).
    pub aliases: &'static [&'static str],
    /// Kind.
    pub kind: Kind,
    /// One line for `--list-plugins`.
    pub summary: &'static str,
    /// Options with defaults.
    pub options: Vec<OptionDef>,
    /// Declared input keys (for `-i`; [`Inputs::All`] plugins leave it empty and set
    /// `wildcard`).
    pub inputs: Vec<KeyDef>,
    /// Declared output keys (for `-i`).
    pub outputs: Vec<KeyDef>,
    /// Takes every upstream key.
    pub wildcard: bool,
    /// Constructor.
    pub build: Box<BuildFn>,
}
