//! Sources: NFLOG and REPLAY.

/// Registers every source.
pub fn register(_reg: &mut ulogd_core::Registry) {}
