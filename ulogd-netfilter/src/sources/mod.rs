//! Sources: NFLOG and REPLAY.

mod nflog;
pub mod nflog_keys;
mod replay;

/// Registers every source.
pub fn register(reg: &mut ulogd_core::Registry) {
    reg.add(nflog::spec());
    reg.add(replay::spec());
}
