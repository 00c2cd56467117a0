//! ulogd-rs outputs: LOGEMU, SYSLOG, JSON, GPRINT, OPRINT, XML, PCAP, NACCT, GRAPHITE, SQLITE3, PGSQL.
//!
//! Every output is a [`ulogd_core::Stage`] shared by the stacks that name it; files and
//! sockets are opened in `start()` (never by the constructor, so `--check` has no side
//! effects). Line- and record-oriented outputs are an [`output::Encoder`] (the format)
//! on the one [`output`] stage, which queues encoded records and hands them to a
//! [`transport::Transport`] (file, TCP, UDP, unix) without ever waiting for a peer.
#![warn(missing_docs)]

mod db;
mod file;
mod gprint;
mod graphite;
pub mod ipfix;

/// PGSQL's libpq-style parsers (connection strings, password files), public for the
/// fuzz target `pg_conninfo`.
pub mod pgconn {
    pub use crate::db::pgconn::{parse_conninfo, pgpass_lookup};
}
mod json;
mod logemu;
mod nacct;
mod net;
mod oprint;
pub mod output;
mod pcap;
mod syslog;
mod time;
pub mod transport;
mod unsupported;
mod xml;
// delivery: KAFKA and NATS sinks (features kafka, nats).
pub mod delivery;
// delivery: the on-disk spool and the KAFKA / NATS sinks.
pub mod spool;

pub use output::{set_run_as, set_run_as_user};
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
    for s in unsupported::specs() {
        reg.add(s);
    }
    #[cfg(feature = "kafka")]
    reg.add(delivery::kafka::spec());
    #[cfg(feature = "nats")]
    reg.add(delivery::nats::spec());
}
