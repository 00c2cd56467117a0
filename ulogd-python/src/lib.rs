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
//! Without the `python` feature this crate needs no Python at all; it registers a
//! PYTHON that refuses to build and says which feature to enable.
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

/// Registers the Python plugins into a registry. Without the `python` feature it
/// registers a PYTHON that only refuses to build, saying how to get the real one: the
/// README documents PYTHON at length, and "no plugin named 'PYTHON'" left a user
/// wondering whether it exists at all.
pub fn register(registry: &mut ulogd_core::Registry) {
    #[cfg(feature = "python")]
    register::register(registry);
    #[cfg(not(feature = "python"))]
    {
        use ulogd_core::Kind;
        registry.add(not_built(Kind::Filter));
        registry.add_variant(not_built(Kind::Source));
        registry.add_variant(not_built(Kind::Sink));
    }
}

/// What `PYTHON` is in a binary built without the `python` feature.
#[cfg(not(feature = "python"))]
const NOT_BUILT: &str = "PYTHON is not built into this binary: build ulogd with the cargo \
     feature `python` (`cargo build --release -p ulogd-cli --features python`, needs \
     python3-dev)";

#[cfg(not(feature = "python"))]
fn not_built(kind: ulogd_core::Kind) -> ulogd_core::PluginSpec {
    ulogd_core::PluginSpec {
        name: "PYTHON",
        aliases: &[],
        kind,
        summary: "not built into this binary (cargo feature `python`): a source, filter \
                  or sink written in Python",
        options: vec![ulogd_core::OptionDef::any_other(
            "the real PYTHON takes module= and path_append=",
        )],
        inputs: vec![],
        outputs: vec![],
        wildcard: false,
        build: Box::new(|_| Err(ulogd_core::PluginError::new(NOT_BUILT))),
    }
}

#[cfg(all(test, not(feature = "python")))]
mod tests {
    #[test]
    fn python_without_the_feature_says_how_to_get_it() {
        let mut reg = ulogd_core::Registry::new();
        super::register(&mut reg);
        let spec = reg.get("PYTHON").expect("registered");
        assert!(spec.summary.contains("cargo feature `python`"));
    }
}
