//! Sources: NFLOG and REPLAY.

pub mod nflog_keys;
mod replay;

/// Registers every source.
pub fn register(reg: &mut ulogd_core::Registry) {
    reg.add(replay::spec());
}
