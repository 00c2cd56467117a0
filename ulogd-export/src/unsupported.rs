//! ulogd2 plugins ulogd-rs does not have (MYSQL, DBI, ULOG), registered only so a
//! configuration naming them is refused with the reason and what to use instead,
//! rather than "unknown plugin". They accept ulogd2's options for them, so the one
//! message a sysadmin sees is this one; they never build.

use ulogd_core::{Kind, OptionDef, PluginError, PluginSpec};

/// DB_CES (util/db.c) plus MySQL's and DBI's own options.
fn db_options() -> Vec<OptionDef> {
    vec![
        OptionDef::string("db", "", "database name"),
        OptionDef::string("host", "", "server host"),
        OptionDef::string("user", "", "user name"),
        OptionDef::string("pass", "", "password"),
        OptionDef::int("port", "0", "server port"),
        OptionDef::string("schema", "", "schema"),
        OptionDef::string("dbtype", "", "DBI driver"),
        OptionDef::string("table", "", "table"),
        OptionDef::string("procedure", "", "procedure"),
        OptionDef::int("reconnect", "2", "seconds between reconnection attempts"),
        OptionDef::int("connect_timeout", "0", "connection timeout"),
        OptionDef::int("backlog_memcap", "0", "backlog bytes"),
        OptionDef::int("backlog_oneshot_requests", "10", "backlog rows per go"),
        OptionDef::int("ring_buffer_size", "0", "ring buffer rows"),
    ]
}

fn refused(
    name: &'static str,
    kind: Kind,
    options: Vec<OptionDef>,
    summary: &'static str,
    advice: &'static str,
) -> PluginSpec {
    PluginSpec {
        name,
        aliases: &[],
        kind,
        summary,
        options,
        inputs: vec![],
        outputs: vec![],
        wildcard: kind == Kind::Sink,
        build: Box::new(move |_| {
            Err(PluginError::new(format!(
                "{name} is not supported by ulogd-rs; {advice} (README: Deliberate differences)"
            )))
        }),
    }
}

/// MYSQL, DBI and ULOG.
pub(crate) fn specs() -> Vec<PluginSpec> {
    vec![
        refused(
            "MYSQL",
            Kind::Sink,
            db_options(),
            "not supported by ulogd-rs: use PGSQL or SQLITE3",
            "use PGSQL or SQLITE3 (same column-to-key rules)",
        ),
        refused(
            "DBI",
            Kind::Sink,
            db_options(),
            "not supported by ulogd-rs: use PGSQL or SQLITE3",
            "use PGSQL or SQLITE3 (same column-to-key rules)",
        ),
        refused(
            "ULOG",
            Kind::Source,
            vec![
                OptionDef::int("nlgroup", "32", "netlink group"),
                OptionDef::int("bufsize", "150000", "buffer size"),
                OptionDef::int("rmem", "131071", "socket receive buffer"),
                OptionDef::boolean("numeric_label", "0", "numeric label"),
            ],
            "not supported by ulogd-rs (ipt_ULOG left Linux in 3.17): use NFLOG",
            "the kernel's ipt_ULOG target was removed in Linux 3.17: use NFLOG (`-j NFLOG --nflog-group N`, or nft `log group N`)",
        ),
    ]
}
