//! `ulogd --man DIR`: writes the manual pages `ulogd.8` (from the clap definitions:
//! every flag with the help `--help` prints) and `ulogd.conf.5` (the `[global]`
//! keys and, from the plugin registry, every plugin with every option, default and
//! key). Generated, so the pages cannot drift from the binary; the Debian package
//! ships what this writes.

use std::path::Path;

use clap::CommandFactory;
use roff::{bold, italic, roman, Roff};
use ulogd_core::{KeyDef, Kind, OptKind, Registry};

use crate::flags::Cli;

/// `[global]` keys: name, value, meaning. Kept beside the parser's list by a test.
pub const GLOBAL: &[(&str, &str, &str)] = &[
    (
        "stack",
        "id:PLUGIN,id:PLUGIN,...",
        "One stack: a source, filters, a sink. May occur many times; a source id used in several stacks is one instance feeding all of them.",
    ),
    (
        "logfile",
        "PATH | stdout | syslog",
        "Where the daemon writes its own log (default /var/log/ulogd.log); reopened on SIGHUP.",
    ),
    (
        "loglevel",
        "1..8",
        "1 debug, 3 info, 5 notice (default), 7 error, 8 fatal.",
    ),
    (
        "threads",
        "N",
        "Worker threads running the stacks; 0 (default) runs them on the event loop thread.",
    ),
    (
        "keyspool",
        "N",
        "Events each source may have in flight (default 64); when all are taken the source pauses (back-pressure) instead of dropping.",
    ),
    (
        "metrics_listen",
        "ADDRESS:PORT",
        "Serve Prometheus metrics at http://ADDRESS:PORT/metrics (off by default), e.g. 127.0.0.1:9613.",
    ),
    (
        "metrics_allow_remote",
        "0 | 1",
        "Allow a metrics_listen address that is not loopback (default 0: refused).",
    ),
    (
        "umask",
        "OCTAL",
        "File-creation mask set before the daemon log and outputs are opened (default 027: files 0640).",
    ),
    (
        "control_socket",
        "PATH",
        "Unix socket (created mode 0600, owned by the daemon's user) that ulogd --stats, --reopen and --reload talk to; off by default, the packaged configuration uses /run/ulogd/ulogd.ctl.",
    ),
    (
        "reload_on_hup",
        "0 | 1",
        "1: SIGHUP reloads the configuration (unchanged stacks keep running, a bad file is refused) and then reopens files; 0 (default): SIGHUP only reopens files.",
    ),
    (
        "plugin",
        "PATH",
        "Accepted for ulogd2 compatibility and ignored: every plugin is built in.",
    ),
];

fn page_ulogd() -> Vec<u8> {
    let cmd = Cli::command();
    let man = clap_mangen::Man::new(cmd)
        .section("8")
        .manual("System Manager's Manual")
        .source(format!("ulogd-rs {}", env!("CARGO_PKG_VERSION")));
    let mut out = Vec::new();
    man.render(&mut out).expect("rendering to memory");
    let mut extra = Roff::new();
    extra
        .control("SH", ["FILES"])
        .control("TP", [])
        .text([bold("/etc/ulogd.conf")])
        .text([
            roman("The configuration, see "),
            bold("ulogd.conf"),
            roman("(5)."),
        ])
        .control("SH", ["SEE ALSO"])
        .text([
            bold("ulogd.conf"),
            roman("(5), "),
            bold("nft"),
            roman("(8), "),
            bold("systemd.service"),
            roman("(5)"),
        ]);
    out.extend_from_slice(extra.to_roff().as_bytes());
    out
}

fn keys(r: &mut Roff, title: &str, keys: &[KeyDef]) {
    if keys.is_empty() {
        return;
    }
    let names: Vec<String> = keys
        .iter()
        .map(|k| format!("{} ({})", k.name, k.ty.name()))
        .collect();
    r.control("TP", [])
        .text([italic(title)])
        .text([roman(names.join(", "))]);
}

fn page_conf(reg: &Registry) -> Vec<u8> {
    let mut r = Roff::new();
    let version = format!("ulogd-rs {}", env!("CARGO_PKG_VERSION"));
    r.control(
        "TH",
        ["ulogd.conf", "5", "", &version, "File Formats Manual"],
    )
    .control("SH", ["NAME"])
    .text([roman("ulogd.conf - configuration of the ulogd-rs daemon")])
    .control("SH", ["SYNOPSIS"])
    .text([bold("/etc/ulogd.conf")])
    .control("SH", ["DESCRIPTION"])
    .text([roman(
        "An ini file (ulogd2's syntax; a file ending in .toml is read as TOML with the same \
             sections and keys). Section [global] holds the daemon settings and the stack= \
             lines; every instance named in a stack has a section of its own, [id], with the \
             options of its plugin. Values may be quoted. Lines starting with # are comments. \
             Every problem is reported with file, line and key; ulogd --check lists them all.",
    )])
    .control("SH", ["GLOBAL OPTIONS"]);
    for (k, v, what) in GLOBAL {
        r.control("TP", [])
            .text([bold(*k), roman("="), italic(*v)])
            .text([roman(*what)]);
    }
    r.control("SH", ["PLUGINS"]).text([roman(
        "Every built-in plugin, its options (with defaults) and the keys it takes and makes. \
         ulogd -i PLUGIN prints the same.",
    )]);
    for p in reg.plugins() {
        let title = format!("{} ({})", p.name, p.kind.name());
        r.control("SS", [title.as_str()]).text([roman(p.summary)]);
        if !p.aliases.is_empty() {
            r.control("br", [])
                .text([roman(format!("Also known as {}.", p.aliases.join(", ")))]);
        }
        for o in &p.options {
            let kind = match o.kind {
                OptKind::Int => "integer",
                OptKind::Str => "string",
                OptKind::Bool => "boolean",
            };
            let def = if o.required {
                "required".to_string()
            } else {
                format!("default \"{}\"", o.default)
            };
            r.control("TP", [])
                .text([bold(o.name), roman(format!(" ({kind}, {def})"))])
                .text([roman(o.help)]);
        }
        if p.wildcard {
            r.control("TP", [])
                .text([italic("Input keys")])
                .text([roman("every key produced upstream in the stack")]);
        } else if p.kind != Kind::Source {
            keys(&mut r, "Input keys", &p.inputs);
        }
        if p.kind != Kind::Sink {
            keys(&mut r, "Output keys", &p.outputs);
        }
    }
    r.control("SH", ["EXAMPLE"])
        .control("nf", [])
        .text([roman("[global]")])
        .text([roman("logfile=\"/var/log/ulogd/ulogd.log\"")])
        .text([roman(
            "stack=log1:NFLOG,base1:BASE,ifi1:IFINDEX,ip2str1:IP2STR,print1:PRINTPKT,emu1:LOGEMU",
        )])
        .text([roman("[log1]")])
        .text([roman("group=0")])
        .text([roman("[emu1]")])
        .text([roman("file=\"/var/log/ulogd/syslogemu.log\"")])
        .control("fi", [])
        .control("SH", ["SEE ALSO"])
        .text([bold("ulogd"), roman("(8)")]);
    r.to_roff().into_bytes()
}

/// Writes `ulogd.8` and `ulogd.conf.5` into `dir`.
pub fn write(dir: &Path, reg: &Registry) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for (name, body) in [("ulogd.8", page_ulogd()), ("ulogd.conf.5", page_conf(reg))] {
        let p = dir.join(name);
        std::fs::write(&p, body).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The page documents exactly the keys `[global]` accepts: the parser's
    /// "it accepts: ..." list for an unknown key is the same set.
    #[test]
    fn global_keys_match_the_parser() {
        let cfg = ulogd_core::config::ConfigFile::parse(
            Path::new("t.conf"),
            "[global]\nnot_a_key=1\nstack=a:NFLOG,b:LOGEMU\n",
        )
        .unwrap();
        let e = ulogd_core::global::Global::from_config(&cfg).unwrap_err();
        let list = e[0].message.split("it accepts: ").nth(1).unwrap();
        let mut parser: Vec<&str> = list.split(", ").collect();
        let mut ours: Vec<&str> = GLOBAL.iter().map(|g| g.0).collect();
        parser.sort_unstable();
        ours.sort_unstable();
        assert_eq!(parser, ours);
    }
}
