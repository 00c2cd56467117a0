//! What `ulogd` does with its flags: list or describe plugins, check a
//! configuration, or run it as a daemon.

use std::path::Path;
use std::process::ExitCode;

use ulogd_core::config::{escape_control, ConfigFile};
use ulogd_core::global::Global;
use ulogd_core::{Engine, LogTarget, Registry};

use crate::daemon;
use crate::flags::Cli;
use crate::info;
use crate::startup;

const DEFAULT_CONFIG: &str = "/etc/ulogd.conf";
const EMBEDDED: &str = include_str!("default.conf");

fn registry() -> Registry {
    let mut reg = Registry::new();
    ulogd_netfilter::register(&mut reg);
    ulogd_export::register(&mut reg);
    ulogd_python::register(&mut reg);
    reg
}

fn report_errors(errors: &[ulogd_core::ConfigError]) {
    for e in errors {
        eprintln!("ulogd: {}", escape_control(&e.to_string()));
    }
    eprintln!("ulogd: {} problem(s) found; nothing started", errors.len());
}

/// The first option of `cfg` holding a password: a non-empty `pass=` or a
/// `connstring` with a `password` in it. Returns (section, key, line).
fn secret_in(cfg: &ConfigFile) -> Option<(&str, &str, usize)> {
    cfg.sections.iter().find_map(|sec| {
        sec.entries.iter().find_map(|e| {
            let secret = match e.key.as_str() {
                "pass" | "password" => !e.value.is_empty(),
                "connstring" => {
                    // key=value form (`password=...`) or a URI with `user:password@`.
                    let v = e.value.to_ascii_lowercase();
                    let uri_pass = v.split_once("://").is_some_and(|(_, rest)| {
                        rest.split_once('@')
                            .is_some_and(|(user, _)| user.contains(':'))
                    });
                    v.contains("password") || uri_pass
                }
                _ => false,
            };
            secret.then_some((sec.name.as_str(), e.key.as_str(), e.line))
        })
    })
}

/// ulogd2 does not warn; a PostgreSQL password in a 0644 file is readable by every
/// local account, so say so at every start (the value itself is never logged).
fn warn_if_secret_is_world_readable(cfg: &ConfigFile) {
    use std::os::unix::fs::PermissionsExt;
    let Some((section, key, line)) = secret_in(cfg) else {
        return;
    };
    let Ok(meta) = std::fs::metadata(&cfg.origin) else {
        return;
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o004 != 0 {
        log::warn!(
            "{}:{line}: [{section}] {key} holds a password and the file is world-readable              (mode {mode:04o}); every local user can read it: chmod o-r {} (e.g. 0640 root:ulogd)",
            cfg.origin.display(),
            cfg.origin.display()
        );
    }
}

/// Runs the command line; the exit code says whether it worked.
pub fn run(cli: Cli) -> ExitCode {
    if cli.version || cli.man.is_some() || cli.list_plugins || cli.info.is_some() || cli.check {
        daemon::quiet_sigpipe();
    }
    if cli.version {
        println!(
            "ulogd-rs {} (ulogd2 2.0.8 compatible)",
            env!("CARGO_PKG_VERSION")
        );
        return ExitCode::SUCCESS;
    }
    let reg = registry();
    if let Some(dir) = &cli.man {
        return match crate::man::write(dir, &reg) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("ulogd: cannot write the manual pages: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if cli.list_plugins {
        info::list_plugins(&reg);
        return ExitCode::SUCCESS;
    }
    if let Some(name) = &cli.info {
        let n = info::plugin_name(name);
        return match reg.get(&n) {
            Some(spec) => {
                info::print_info(spec);
                ExitCode::SUCCESS
            }
            None => {
                eprintln!("ulogd: no plugin named '{n}'; `ulogd --list-plugins` shows them all");
                ExitCode::FAILURE
            }
        };
    }

    let cfg = match &cli.configfile {
        Some(p) => ConfigFile::load_all(p),
        None if Path::new(DEFAULT_CONFIG).exists() => {
            ConfigFile::load_all(Path::new(DEFAULT_CONFIG))
        }
        None => ConfigFile::parse_all(Path::new("<embedded default>"), EMBEDDED),
    };
    let cfg = match cfg {
        Ok(c) => c,
        Err(errors) => {
            for e in &errors {
                eprintln!("ulogd: {}", escape_control(&e.to_string()));
            }
            if errors.len() > 1 {
                eprintln!("ulogd: {} syntax errors; nothing started", errors.len());
            }
            return ExitCode::FAILURE;
        }
    };
    let mut global = match Global::from_config(&cfg) {
        Ok(g) => g,
        Err(e) => {
            report_errors(&e);
            return ExitCode::FAILURE;
        }
    };
    let s = &mut global.settings;
    if let Some(l) = cli.loglevel {
        s.loglevel = l;
    }
    if let Some(t) = cli.threads {
        s.threads = t;
    }
    if let Some(k) = cli.keyspool {
        s.keyspool = k.max(1);
    }
    if !cli.check {
        // Before the daemon log and every output is opened (outputs open at start).
        daemon::set_umask(s.umask);
    }
    if cli.check {
        let _ = daemon::log::init(LogTarget::Stdout, 7, false);
    } else if let Err(e) =
        daemon::log::init(s.logfile.clone(), s.loglevel, cli.verbose && !cli.daemon)
    {
        eprintln!("ulogd: {e}");
        return ExitCode::FAILURE;
    }
    let config_notice = if cfg.origin == Path::new("<embedded default>") {
        "no configuration file: using the embedded default (NFLOG group 0 to standard output)"
            .to_string()
    } else {
        format!("using configuration file {}", cfg.origin.display())
    };
    warn_if_secret_is_world_readable(&cfg);
    let engine = Engine::from_stacks(&reg, &cfg, &global.stacks, global.settings.clone());
    let mut engine = match engine {
        Ok(e) => e,
        Err(errors) => {
            report_errors(&errors);
            return ExitCode::FAILURE;
        }
    };
    let unused = startup::unused_section_warnings(&cfg, &global.stacks);
    let instances = startup::instance_lines(&reg, &cfg, &global.stacks);
    if cli.check {
        for w in &unused {
            eprintln!("ulogd: warning: {w}");
        }
        println!("{}: configuration OK", cfg.origin.display());
        for line in engine.describe() {
            println!("  {line}");
        }
        for line in &instances {
            println!("  {line}");
        }
        return ExitCode::SUCCESS;
    }
    // At notice level (5, shown by default) and, when not daemonised and not already
    // copied there by -v, on stderr too: the first thing a newcomer needs to know is
    // which file is in use and where the lines go.
    let also_stderr = !cli.daemon && !cli.verbose;
    let notice = |msg: &str| {
        log::warn!("{msg}");
        if also_stderr {
            eprintln!("ulogd: {msg}");
        }
    };
    if let Some(w) = startup::unused_section_summary(&cfg, &global.stacks) {
        notice(&format!("warning: {w}"));
    }
    if cli.daemon {
        if let Err(e) = daemon::detach() {
            eprintln!("ulogd: {e}");
            return ExitCode::FAILURE;
        }
    }
    let fatal = |msg: String| {
        log::error!("{msg}");
        eprintln!("ulogd: {msg}");
        ExitCode::FAILURE
    };
    if cli.uid.is_some() {
        if let Err(e) = daemon::prepare_drop() {
            return fatal(e);
        }
    }
    let _pid = match cli
        .pidfile
        .as_deref()
        .map(daemon::PidFile::create)
        .transpose()
    {
        Ok(p) => p,
        Err(e) => return fatal(e),
    };
    let _signals = match daemon::Signals::install(engine.handle()) {
        Ok(s) => s,
        Err(e) => return fatal(format!("cannot install signal handlers: {e}")),
    };
    if let Some(u) = &cli.uid {
        // Outputs check at start that they can still reopen/reconnect as this user.
        ulogd_export::set_run_as_user(u);
    }
    if let Err(e) = engine.start() {
        return fatal(e.to_string());
    }
    notice(&config_notice);
    for line in &instances {
        notice(line);
    }
    // Bound before privileges are dropped (a port below 1024 stays possible) and
    // before READY=1, so a scrape right after systemd says "started" is answered.
    let _metrics = match global.settings.metrics_listen {
        Some(addr) => match daemon::MetricsServer::start(addr, engine.handle()) {
            Ok(m) => Some(m),
            Err(e) => return fatal(e),
        },
        None => None,
    };
    if let Some(u) = &cli.uid {
        if let Err(e) = daemon::drop_privileges(u) {
            return fatal(e);
        }
        log::info!("dropped privileges to user '{u}'");
    }
    daemon::notify::notify("READY=1");
    let _watchdog = daemon::notify::Watchdog::start(engine.handle());
    let res = engine.run();
    // Also when every source finished on its own (replay), not only on SIGTERM.
    daemon::notify::stopping();
    match res {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => fatal(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> ConfigFile {
        ConfigFile::parse(Path::new("t.conf"), text).unwrap()
    }

    #[test]
    fn secrets_are_found_in_pass_and_connstrings_only() {
        let c = cfg("[global]\nstack=a:NFLOG,b:PGSQL\n[b]\npass=\"x\"\n");
        assert_eq!(secret_in(&c), Some(("b", "pass", 4)));
        let c = cfg("[b]\nconnstring=\"host=db password=x\"\n");
        assert_eq!(secret_in(&c).map(|s| s.1), Some("connstring"));
        let c = cfg("[b]\nconnstring=\"postgresql://u:pw@db/ulogd\"\n");
        assert_eq!(secret_in(&c).map(|s| s.1), Some("connstring"));
        assert_eq!(
            secret_in(&cfg("[b]\nconnstring=\"postgresql://u@db/ulogd\"\n")),
            None
        );
        assert_eq!(secret_in(&cfg("[b]\npass=\"\"\nuser=\"u\"\n")), None);
    }
}
