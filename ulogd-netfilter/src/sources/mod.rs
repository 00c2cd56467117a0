//! Sources: NFLOG, NFCT, NFACCT, NFQ, MTNFQ and REPLAY.

mod netns;
mod nfacct;
mod nfct;
pub mod nfct_keys;
mod nflog;
pub mod nflog_keys;
mod nfq;
mod replay;

pub use nfq::{nfq_keys, K_NFQ_HW_PROTOCOL, K_NFQ_ID, K_NFQ_QUEUE};
pub use replay::{bare_packet, BarePacket};

/// Registers every source.
pub fn register(reg: &mut ulogd_core::Registry) {
    reg.add(nflog::spec());
    reg.add(replay::spec());
    reg.add(nfct::spec());
    reg.add(nfacct::spec());
    reg.add(nfq::spec());
    reg.add(nfq::mt_spec());
}
