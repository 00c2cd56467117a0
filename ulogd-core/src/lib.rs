//! ulogd-core: the engine of ulogd-rs.
//!
//! Typed [keys](key), [stacks](global::StackSpec) of plugins, a plugin
//! [`Registry`], configuration in ulogd.conf and TOML syntax, and the pool-backed
//! propagation [`Engine`]. The netfilter sources live in `ulogd-netfilter`, the
//! outputs in `ulogd-export`; a program can embed the engine and add plugins of
//! its own (see `examples/embed.rs`).
//!
//! Stability: the plugin traits ([`Source`], [`Stage`], [`Emit`]), [`Event`],
//! [`KeyDef`] and [`Engine`]'s constructors and `run` are the public API. Names of
//! counters and log messages may still change before 1.0.
#![warn(missing_docs)]

pub mod catalogue;
pub mod config;
mod engine;
pub mod event;
pub mod global;
pub mod key;
pub mod logging;
pub mod options;
pub mod plugin;
mod registry;
pub mod testing;

pub use engine::{
    Counters, Engine, EngineBuilder, EngineError, EngineHandle, InstanceReport, Report,
};
pub use event::{Event, Value, Verdict, VerdictAction};
pub use global::{LogTarget, Settings, StackSpec};
pub use key::{Ipfix, KeyDef, KeyFlags, KeyType, PEN_NETFILTER, PEN_REVERSE};
pub use options::{ConfigError, OptKind, OptionDef, Options};
pub use plugin::{
    BuildContext, Built, Completion, Emit, Flow, Inputs, Kind, PluginError, PluginSpec, PoolEmpty,
    Ret, Signal, Source, SourceSetup, Stage, Wake,
};
pub use registry::Registry;
