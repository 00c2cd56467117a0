//! ulogd-rs outputs: LOGEMU, SYSLOG, JSON, GPRINT, OPRINT, XML, PCAP, NACCT, GRAPHITE, SQLITE3, PGSQL.
//!
//! Every output is a [`ulogd_core::Stage`] shared by the stacks that name it: the
//! writer sits behind a mutex (SIGHUP reopen takes the same lock), files and sockets
//! are opened in `start()` (never by the constructor, so `--check` has no side
//! effects), and records are formatted into a buffer reused from event to event.
#![warn(missing_docs)]

mod db;
mod file;
mod gprint;
mod graphite;
pub mod ipfix;
mod json;
mod json_plan;
mod logemu;
mod nacct;
mod net;
mod oprint;
mod pcap;
mod syslog;
mod time;
mod xml;
// delivery: KAFKA and NATS sinks (features kafka, nats).
pub mod delivery;
// delivery: the on-disk spool and the KAFKA / NATS sinks.
pub mod spool;

pub use time::set_utc_offset_override;

/// Registers every output plugin.
pub fn register(reg: &mut ulogd_core::Registry) {
    reg.add(logemu::spec());
    reg.add(syslog::spec());
    reg.add(json::spec());
    reg.add(gprint::spec());
    reg.add(oprint::spec());
    reg.add(pcap::spec());
    reg.add(xml::spec());
    reg.add(nacct::spec());
    reg.add(graphite::spec());
    reg.add(ipfix::exporter::ipfix_spec());
    reg.add(ipfix::exporter::nflow9_spec());
    reg.add(ipfix::collector::spec());
    reg.add(db::sqlite::spec());
    reg.add(db::pgsql::spec());
    #[cfg(feature = "kafka")]
    reg.add(delivery::kafka::spec());
    #[cfg(feature = "nats")]
    reg.add(delivery::nats::spec());
}
