//! ulogd-rs outputs: LOGEMU, SYSLOG, JSON, GPRINT, OPRINT, XML, PCAP, NACCT, GRAPHITE, ...
#![warn(missing_docs)]

/// Registers every output plugin.
pub fn register(_reg: &mut ulogd_core::Registry) {}
