//! Python plugins for ulogd-rs (pyo3), built only with the `python` feature.
//!
//! Not implemented yet: see the Python plugins issue. Without the feature this
//! crate is empty so the workspace builds with no Python at all.
#![warn(missing_docs)]

/// Registers the Python plugins (none yet) into a registry.
pub fn register(_registry: &mut ulogd_core::Registry) {}
