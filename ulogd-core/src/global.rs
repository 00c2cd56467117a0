//! The `[global]` section: daemon settings and the `stack=` lines.

use std::path::PathBuf;

use crate::config::ConfigFile;
use crate::options::{parse_int, ConfigError};

/// Where the daemon writes its own log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogTarget {
    /// A file (reopened on SIGHUP).
    File(PathBuf),
    /// Standard output.
    Stdout,
    /// syslog, as `ulogd` with LOG_DAEMON.
    Syslog,
}

/// Engine and daemon settings from `[global]` (the command line may override them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// `logfile`: daemon log target (default `/var/log/ulogd.log`).
    pub logfile: LogTarget,
    /// `loglevel`: 1 debug, 3 info, 5 notice (default), 7 error, 8 fatal.
    pub loglevel: u8,
    /// `threads`: worker threads; 0 runs every stack inline on the loop thread.
    pub threads: usize,
    /// `keyspool`: pooled bundles per source (events in flight).
    pub keyspool: usize,
    /// `metrics_listen`: where the daemon serves Prometheus metrics (`None`, the
    /// default, serves nothing). Read by the daemon, never by the engine: the library
    /// opens no port of its own.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// `metrics_allow_remote`: allow a `metrics_listen` address that is not loopback.
    pub metrics_allow_remote: bool,
    /// `umask` (octal, default 027): the file-creation mask the daemon sets before
    /// opening its log and outputs, so packet contents (and PWSNIFF passwords) land in
    /// files 0640 rather than the 0644 or 0666 an inherited mask would give.
    pub umask: u32,
    /// `control_socket`: the unix socket `ulogd --stats/--reopen/--reload` talk to
    /// (`None`, the default, opens none). Read by the daemon, never by the engine.
    pub control_socket: Option<PathBuf>,
    /// `reload_on_hup`: SIGHUP reloads the configuration (and still reopens files)
    /// instead of only reopening files. Read by the daemon.
    pub reload_on_hup: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            logfile: LogTarget::File(PathBuf::from("/var/log/ulogd.log")),
            loglevel: 5,
            threads: 0,
            keyspool: 64,
            metrics_listen: None,
            metrics_allow_remote: false,
            umask: 0o027,
            control_socket: None,
            reload_on_hup: false,
        }
    }
}

/// One element of a `stack=` line: `id:PLUGIN`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElemSpec {
    /// Instance id (and name of its section).
    pub id: String,
    /// Plugin name.
    pub plugin: String,
}

/// One `stack=` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackSpec {
    /// Elements, source first.
    pub elems: Vec<ElemSpec>,
    /// Line of the `stack=` entry.
    pub line: usize,
    /// The line's text, for messages.
    pub text: String,
}

/// What `[global]` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Global {
    /// Settings.
    pub settings: Settings,
    /// Stacks in file order.
    pub stacks: Vec<StackSpec>,
}

const GLOBAL_KEYS: &[&str] = &[
    "logfile",
    "loglevel",
    "plugin",
    "stack",
    "threads",
    "keyspool",
    "metrics_listen",
    "metrics_allow_remote",
    "umask",
    "control_socket",
    "reload_on_hup",
];

impl Global {
    /// Reads `[global]` of `cfg`; every problem is reported, each with file and line.
    pub fn from_config(cfg: &ConfigFile) -> Result<Global, Vec<ConfigError>> {
        let file = &cfg.origin;
        let mut errors = Vec::new();
        let mut settings = Settings::default();
        let mut stacks = Vec::new();
        let err = |line, key: &str, message: String| ConfigError {
            file: file.clone(),
            line,
            key: Some(key.to_string()),
            message,
        };
        let Some(g) = cfg.section("global") else {
            return Err(vec![ConfigError {
                file: file.clone(),
                line: 0,
                key: None,
                message: "no [global] section: a configuration needs [global] with at least one stack= line".into(),
            }]);
        };
        let mut seen: Vec<(&str, usize)> = Vec::new();
        let mut metrics_line = 0;
        for e in &g.entries {
            if !matches!(e.key.as_str(), "plugin" | "stack") {
                if let Some((_, first)) = seen.iter().find(|(k, _)| *k == e.key) {
                    errors.push(err(
                        e.line,
                        &e.key,
                        format!(
                            "option '{}' occurs more than once in [global] (first on line {first})",
                            e.key
                        ),
                    ));
                    continue;
                }
                seen.push((&e.key, e.line));
            }
            match e.key.as_str() {
                "logfile" => {
                    settings.logfile = match e.value.as_str() {
                        "stdout" => LogTarget::Stdout,
                        "syslog" => LogTarget::Syslog,
                        "" => {
                            errors.push(err(
                                e.line,
                                "logfile",
                                "logfile is empty; use a path, stdout or syslog".into(),
                            ));
                            continue;
                        }
                        p => LogTarget::File(PathBuf::from(p)),
                    }
                }
                "loglevel" => match parse_int(&e.value) {
                    Some(v @ 1..=8) => settings.loglevel = v as u8,
                    _ => errors.push(err(
                        e.line,
                        "loglevel",
                        format!(
                            "loglevel must be 1 (debug) to 8 (fatal), not \"{}\"",
                            e.value
                        ),
                    )),
                },
                "threads" => match parse_int(&e.value) {
                    Some(v @ 0..=1024) => settings.threads = v as usize,
                    _ => errors.push(err(
                        e.line,
                        "threads",
                        format!("threads must be 0 to 1024, not \"{}\"", e.value),
                    )),
                },
                "keyspool" => match parse_int(&e.value) {
                    Some(v @ 1..=1_000_000) => settings.keyspool = v as usize,
                    _ => errors.push(err(
                        e.line,
                        "keyspool",
                        format!("keyspool must be 1 or more, not \"{}\"", e.value),
                    )),
                },
                "metrics_listen" => match e.value.trim().parse::<std::net::SocketAddr>() {
                    Ok(a) => {
                        settings.metrics_listen = Some(a);
                        metrics_line = e.line;
                    }
                    Err(_) => errors.push(err(
                        e.line,
                        "metrics_listen",
                        format!(
                            "metrics_listen must be an address and port such as 127.0.0.1:9613 or [::1]:9613, not \"{}\"",
                            e.value
                        ),
                    )),
                },
                // TOML's `true`/`false` too.
                "metrics_allow_remote" => match parse_int(&e.value)
                    .or_else(|| crate::options::parse_bool(&e.value).map(i64::from))
                {
                    Some(v @ 0..=1) => settings.metrics_allow_remote = v == 1,
                    _ => errors.push(err(
                        e.line,
                        "metrics_allow_remote",
                        format!("metrics_allow_remote must be 0 or 1, not \"{}\"", e.value),
                    )),
                },
                "umask" => match u32::from_str_radix(e.value.trim(), 8) {
                    Ok(v @ 0..=0o777) => settings.umask = v,
                    _ => errors.push(err(
                        e.line,
                        "umask",
                        format!(
                            "umask must be an octal mask from 000 to 777 such as 027, not \"{}\"",
                            e.value
                        ),
                    )),
                },
                "control_socket" => match e.value.trim() {
                    "" => settings.control_socket = None,
                    p if p.starts_with('/') => settings.control_socket = Some(PathBuf::from(p)),
                    p => errors.push(err(
                        e.line,
                        "control_socket",
                        format!(
                            "control_socket must be an absolute path such as /run/ulogd/ulogd.ctl, not \"{p}\""
                        ),
                    )),
                },
                "reload_on_hup" => match parse_int(&e.value) {
                    Some(v @ 0..=1) => settings.reload_on_hup = v == 1,
                    _ => errors.push(err(
                        e.line,
                        "reload_on_hup",
                        format!("reload_on_hup must be 0 or 1, not \"{}\"", e.value),
                    )),
                },
                "plugin" => log::debug!(
                    "{}:{}: plugin=\"{}\" ignored: every plugin is built in",
                    file.display(),
                    e.line,
                    e.value
                ),
                "stack" => match parse_stack(&e.value) {
                    Ok(elems) => stacks.push(StackSpec {
                        elems,
                        line: e.line,
                        text: e.value.clone(),
                    }),
                    Err(m) => errors.push(err(e.line, "stack", m)),
                },
                other => {
                    let hint = crate::options::suggest(other, GLOBAL_KEYS)
                        .map(|s| format!(" (did you mean '{s}'?)"))
                        .unwrap_or_default();
                    errors.push(err(
                        e.line,
                        other,
                        format!(
                            "unknown option '{other}' in [global]{hint}; it accepts: {}",
                            GLOBAL_KEYS.join(", ")
                        ),
                    ))
                }
            }
        }
        if let Some(a) = settings.metrics_listen {
            if !a.ip().is_loopback() && !settings.metrics_allow_remote {
                errors.push(err(
                    metrics_line,
                    "metrics_listen",
                    format!(
                        "metrics_listen={a} is not a loopback address: the counters would be \
                         readable from the network; set metrics_allow_remote=1 in [global] \
                         if that is intended"
                    ),
                ));
            }
        }
        if stacks.is_empty() && errors.is_empty() {
            errors.push(ConfigError {
                file: file.clone(),
                line: g.line,
                key: Some("stack".into()),
                message: "[global] has no stack= line: nothing to run".into(),
            });
        }
        if errors.is_empty() {
            Ok(Global { settings, stacks })
        } else {
            Err(errors)
        }
    }
}

/// Parses `id1:PLUGIN,id2:PLUGIN,...`.
pub fn parse_stack(text: &str) -> Result<Vec<ElemSpec>, String> {
    let mut out = Vec::new();
    for (i, tok) in text.split(',').enumerate() {
        let tok = tok.trim();
        let Some((id, plugin)) = tok.split_once(':') else {
            return Err(format!(
                "stack element {} \"{tok}\" must be id:PLUGIN (e.g. log1:NFLOG)",
                i + 1
            ));
        };
        let (id, plugin) = (id.trim(), plugin.trim());
        let ok = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        };
        if !ok(id) || !ok(plugin) {
            return Err(format!(
                "stack element {} \"{tok}\": id and plugin name must be non-empty letters, digits, '_', '-' or '.'",
                i + 1
            ));
        }
        out.push(ElemSpec {
            id: id.to_string(),
            plugin: plugin.to_string(),
        });
    }
    if out.len() < 2 {
        return Err(format!(
            "stack \"{text}\" needs at least a source and a sink (e.g. log1:NFLOG,emu1:LOGEMU)"
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_lines() {
        let s = parse_stack("log1:NFLOG, base1:BASE,emu1:LOGEMU").unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(
            s[1],
            ElemSpec {
                id: "base1".into(),
                plugin: "BASE".into()
            }
        );
        assert!(parse_stack("log1:NFLOG").is_err());
        assert!(parse_stack("log1NFLOG,x:Y")
            .unwrap_err()
            .contains("id:PLUGIN"));
        assert!(parse_stack("log1:,x:Y").is_err());
    }

    fn global(text: &str) -> Result<Global, Vec<ConfigError>> {
        let cfg = ConfigFile::parse(std::path::Path::new("t.conf"), text).unwrap();
        Global::from_config(&cfg)
    }

    #[test]
    fn umask_defaults_to_027_and_is_octal() {
        let g = global("[global]\nstack=a:NFLOG,b:LOGEMU\n").unwrap();
        assert_eq!(g.settings.umask, 0o027);
        let g = global("[global]\numask=077\nstack=a:NFLOG,b:LOGEMU\n").unwrap();
        assert_eq!(g.settings.umask, 0o077);
        let e = global("[global]\numask=\"0999\"\nstack=a:NFLOG,b:LOGEMU\n").unwrap_err();
        assert_eq!(e[0].key.as_deref(), Some("umask"));
        assert!(e[0].message.contains("octal"), "{}", e[0].message);
    }

    #[test]
    fn metrics_listen_is_off_by_default_and_loopback_only_unless_allowed() {
        let g = global("[global]\nstack=a:NFLOG,b:LOGEMU\n").unwrap();
        assert_eq!(g.settings.metrics_listen, None);
        let g = global("[global]\nmetrics_listen=\"127.0.0.1:9613\"\nstack=a:NFLOG,b:LOGEMU\n")
            .unwrap();
        assert_eq!(
            g.settings.metrics_listen,
            Some("127.0.0.1:9613".parse().unwrap())
        );
        let e = global("[global]\nstack=a:NFLOG,b:LOGEMU\nmetrics_listen=\"0.0.0.0:9613\"\n")
            .unwrap_err();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].line, 3);
        assert_eq!(e[0].key.as_deref(), Some("metrics_listen"));
        assert!(e[0].message.contains("metrics_allow_remote=1"), "{}", e[0]);
        let g = global(
            "[global]\nmetrics_listen=\"[::]:9613\"\nmetrics_allow_remote=1\nstack=a:NFLOG,b:LOGEMU\n",
        )
        .unwrap();
        assert!(g.settings.metrics_allow_remote);
        let e =
            global("[global]\nmetrics_listen=\"localhost\"\nstack=a:NFLOG,b:LOGEMU\n").unwrap_err();
        assert!(e[0].message.contains("127.0.0.1:9613"), "{}", e[0]);
    }
}
