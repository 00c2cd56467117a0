//! Python plugins for ulogd-rs (pyo3), built only with the `python` feature.
//!
//! Plugin `PYTHON` runs a Python module as a source, a filter or a sink (the stack
//! position decides), with the callbacks and the `ulogd` module of the "Could?" fork
//! (`configure`, `start`, `interp`, `stop`, `signal`; `Keyinfo`, `Keylist`, keysets,
//! `Timer`, `Fd`, the `ULOGD_*` constants), without its bugs: the script runs in
//! this process (no fork, no socket round trip per event), values keep their full
//! width and their natural Python types, and a failing script never takes the daemon
//! down. See `examples/python/README.md` for the script API.
//!
//! # Threading model
//!
//! One CPython interpreter serves every PYTHON instance of the process (started on
//! first use, never finalised). Each instance loads its own copy of its module (a
//! fresh module object through the normal import machinery, not shared through
//! `sys.modules`), so two instances of one script keep separate globals, as the
//! fork's per-instance processes did. The GIL is taken only around each call into
//! Python (`configure` at build time, `start`, `interp`, `signal`, `stop`, timer and
//! fd callbacks) and released in between, so the engine's worker threads run every
//! other plugin in parallel; Python calls themselves are serialised by the GIL.
//! With `threads > 0` a filter's `interp` may run for several events at once from
//! different worker threads (interleaved by the GIL): scripts that keep state between
//! events should guard it (a `threading.Lock`) or run with `threads = 0`. Sinks see
//! events in order, as every sink does. Keysets passed to `interp` are valid only
//! during that call and only on its thread.
//!
//! Without the `python` feature this crate is empty and needs no Python at all.
#![warn(missing_docs)]
// `unsafe` only where explicitly allowed: the interpreter's thread state (host),
// the keysets' view of the running event (pyapi::keyset), one poll(2) (plugin::source).
#![deny(unsafe_code)]

// Layers, lowest first; each module uses only those above it in this list:
// host (interpreter, GIL, errors) → value (conversions) → bridge (state shared
// with the script's objects) → pyapi (the `ulogd` module: keyset, then module) →
// plugin (source, stage) → register.
#[cfg(feature = "python")]
mod bridge;
#[cfg(feature = "python")]
#[allow(unsafe_code)]
mod host;
#[cfg(feature = "python")]
mod plugin;
#[cfg(feature = "python")]
mod pyapi;
#[cfg(feature = "python")]
mod register;
#[cfg(feature = "python")]
mod value;

/// Registers the Python plugins into a registry (nothing without the `python`
/// feature).
pub fn register(_registry: &mut ulogd_core::Registry) {
    #[cfg(feature = "python")]
    register::register(_registry);
}
