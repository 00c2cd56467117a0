//! Sources: NFLOG, NFCT, NFACCT, NFQ, MTNFQ, REPLAY, UNIXSOCK and NFCTST.

mod netns;
mod nfacct;
mod nfct;
pub mod nfct_keys;
mod nfctst;
mod nflog;
pub mod nflog_keys;
mod nfq;
mod replay;
mod unixsock;

pub use nfq::{nfq_keys, K_NFQ_HW_PROTOCOL, K_NFQ_ID, K_NFQ_QUEUE};

/// Registers every source.
pub fn register(reg: &mut ulogd_core::Registry) {
    reg.add(nflog::spec());
    reg.add(replay::spec());
    reg.add(nfct::spec());
    reg.add(nfacct::spec());
    reg.add(nfq::spec());
    reg.add(nfq::mt_spec());
    reg.add(unixsock::spec());
    reg.add(nfctst::spec());
}
