//! ulogd-core: the engine of ulogd-rs.
//!
//! Typed [keys](KeyDef), stacks of plugins, a plugin [`Registry`], configuration in
//! ulogd.conf and TOML syntax, and the pool-backed propagation [`Engine`]. The
//! netfilter sources live in `ulogd-netfilter`, the outputs in `ulogd-export`; a
//! program can embed the engine and add plugins of its own (see `examples/embed.rs`).
//!
//! The library has no global side effects: it installs no signal handler, sets no
//! logger (it logs through the `log` facade; the host picks the logger), forks
//! nothing and contains no `unsafe` code. The `ulogd` daemon adds those things on
//! the binary side (`ulogd-cli/src/daemon/`).
//!
//! # Stability
//!
//! Stable (changes only with a major version): what is re-exported at the crate
//! root below — the plugin traits ([`Source`], [`Stage`], [`Emit`], [`SourceSetup`],
//! [`Completion`]), [`Event`] and its value types, [`KeyDef`], [`PluginSpec`] and
//! [`Registry`], [`Options`]/[`OptionDef`], [`Engine`] (its constructors, `start`,
//! `run`, `step`, `as_raw_fd`, `timeout`, `finish`, `deliver`, `snapshot`),
//! [`EngineBuilder`], [`EngineHandle`], [`Snapshot`], [`Report`] and the error types.
//!
//! May change before 1.0: the names of counters and log messages; the modules
//! [`config`] (the syntax tree of a configuration file) and [`global`] (`[global]`
//! settings, which mix daemon and engine concerns); [`EngineBuilder::clock`];
//! anything reachable only through a module path (`ulogd_core::event::...`) rather
//! than the root; [`testing`], which exists for tests.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod catalogue;
pub mod config;
mod engine;
pub mod event;
pub mod global;
pub mod key;
pub mod options;
pub mod plugin;
mod registry;
pub mod testing;

pub use engine::Doorbell;
pub use engine::{
    Counters, Engine, EngineBuilder, EngineError, EngineHandle, Fleet, FleetHandle, GroupStats,
    InstanceReport, ReloadError, ReloadOutcome, Report, Snapshot, SourceStats, StageStats, Step,
    PUBLISH_EVERY,
};
pub use event::{BindState, Event, Value, Verdict, VerdictAction};
pub use global::{LogTarget, Settings, StackSpec};
pub use key::{Ipfix, KeyDef, KeyFlags, KeyType, PEN_NETFILTER, PEN_REVERSE};
pub use options::{ConfigError, OptKind, OptionDef, Options};
pub use plugin::{
    BuildContext, Built, Completion, Emit, Flow, Inputs, Kind, PluginError, PluginSpec, PoolEmpty,
    Ret, Signal, Source, SourceSetup, StackKeys, Stage, Wake,
};
pub use registry::Registry;

/// The `log` target of messages a host must show whatever its log level: loss
/// (the kernel dropped events, packets missing from a sequence, rows or records
/// an output could not keep) and the counters an operator asked for with SIGUSR1.
/// A common production setting is "errors only" (ulogd2's `loglevel=7`); loss must
/// not be silent there. Use it as `log::warn!(target: ulogd_core::ALWAYS, ...)`;
/// the `ulogd` daemon's logger shows these at every level (they keep their own
/// level in the line). Other hosts decide for themselves.
pub const ALWAYS: &str = "ulogd::always";
