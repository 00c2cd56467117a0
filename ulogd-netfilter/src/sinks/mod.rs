//! Sinks that act on the kernel: NFTSET (addresses into an nftables set).

mod nftset;

/// Registers every sink of this crate.
pub fn register(reg: &mut ulogd_core::Registry) {
    reg.add(nftset::spec());
}
