//! ulogd-rs netfilter plugins: sources on netlink (NFLOG, NFCT, NFQUEUE, NFACCT), file
//! replay, and the packet decoders and filters (BASE, IFINDEX, IP2STR, ...).
#![warn(missing_docs)]
// Syscalls live in `nl/` (the netlink edge); anywhere else an `unsafe` needs an
// explicit, commented allow.
#![deny(unsafe_code)]

pub mod filters;
pub mod flow;
mod nl;
pub mod packet;
pub mod sinks;
pub mod sources;
pub mod wire;

/// Registers every plugin of this crate.
pub fn register(reg: &mut ulogd_core::Registry) {
    filters::register(reg);
    sources::register(reg);
    flow::register(reg);
    sinks::register(reg);
}
