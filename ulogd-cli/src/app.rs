//! What `ulogd` does with its flags: list or describe plugins, check a
//! configuration, or run it as a daemon.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use ulogd_core::config::{escape_control, ConfigFile};
use ulogd_core::global::Global;
use ulogd_core::{Engine, Fleet, LogTarget, Registry};

use crate::client;
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
            "{}:{line}: [{section}] {key} holds a password and the file is world-readable (mode {mode:04o}); every local user can read it: chmod o-r {} (e.g. 0640 root:ulogd)",
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
    if cli.stats || cli.reopen || cli.reload {
        return client::run(&cli, Path::new(DEFAULT_CONFIG));
    }
    let reg = Arc::new(registry());
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
    let unused = startup::unused_section_warnings(&cfg, &global.stacks);
    let instances = startup::instance_lines(&reg, &cfg, &global.stacks);
    if cli.check {
        let engine = Engine::from_stacks(&reg, &cfg, &global.stacks, global.settings.clone());
        let engine = match engine {
            Ok(e) => e,
            Err(errors) => {
                report_errors(&errors);
                return ExitCode::FAILURE;
            }
        };
        for w in &unused {
            eprintln!("ulogd: warning: {w}");
        }
        // Warnings, not errors: a configuration is often checked on another machine
        // than the one it is for (a package build, a CI job), where the directories
        // are made at install time. The run itself refuses to start without them.
        for m in startup::missing_directories(&reg, &cfg, &global.stacks, &global.settings.logfile)
        {
            eprintln!(
                "ulogd: warning: {} (a run here would fail to open it)",
                escape_control(&m)
            );
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
    // One engine per independent group of stacks, so a reload can rebuild the
    // groups that changed and leave the others running (ulogd-core `Fleet`).
    let fleet = Fleet::build(
        reg.clone(),
        cfg.clone(),
        &global.stacks,
        global.settings.clone(),
    );
    let mut fleet = match fleet {
        Ok(f) => f,
        Err(errors) => {
            report_errors(&errors);
            return ExitCode::FAILURE;
        }
    };
    // At notice level (5, shown by default) and, when not daemonised and not already
    // copied there by -v, on stderr too: the first thing a newcomer needs to know is
    // which file is in use and where the lines go.
    let also_stderr = !cli.daemon && !cli.verbose;
    // With `logfile="stdout"` the daemon log shares standard output with outputs
    // writing there (the README's replay example, `| head -1`): the notices then go
    // to standard error only, so the data on standard output stays clean.
    let log_on_stdout = matches!(global.settings.logfile, LogTarget::Stdout);
    let notice = |msg: &str| {
        if !(also_stderr && log_on_stdout) {
            log::warn!("{msg}");
        }
        if also_stderr {
            eprintln!("ulogd: {msg}");
        }
    };
    if let Some(w) = startup::unused_section_summary(&cfg, &global.stacks) {
        notice(&format!("warning: {w}"));
    }
    if let Some(u) = &cli.uid {
        // Before anything is opened or forked: an unknown user fails at once.
        if let Err(e) = daemon::user_exists(u) {
            daemon::log::fatal(&e);
            return ExitCode::FAILURE;
        }
    }
    // With -d the parent waits until `ready()` below (every source and output open,
    // privileges dropped) and exits with the child's status if it dies before.
    let detached = if cli.daemon {
        match daemon::detach() {
            Ok(d) => Some(d),
            Err(e) => {
                eprintln!("ulogd: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        None
    };
    let fatal = |msg: String| {
        daemon::log::fatal(&msg);
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
    let ctl = daemon::control::Ctl::new(
        fleet.handle(),
        daemon::control::ReloadSpec {
            // Absolute: `-d` changes the working directory to /.
            path: (cfg.origin != Path::new("<embedded default>"))
                .then(|| std::path::absolute(&cfg.origin).unwrap_or_else(|_| cfg.origin.clone())),
            threads: cli.threads,
            keyspool: cli.keyspool,
            loglevel: cli.loglevel,
            running: global.settings.clone(),
        },
    );
    let _signals = match daemon::Signals::install(
        ctl.clone(),
        global.settings.reload_on_hup,
        cli.pidfile.clone(),
    ) {
        Ok(s) => s,
        Err(e) => return fatal(format!("cannot install signal handlers: {e}")),
    };
    if let Some(u) = &cli.uid {
        // Outputs check at start that they can still reopen/reconnect as this user.
        ulogd_export::set_run_as_user(u);
    }
    if let Err(e) = fleet.start() {
        return fatal(startup::locate(&cfg, &global.stacks, &e));
    }
    daemon::startup_done();
    notice(&config_notice);
    for line in &instances {
        notice(line);
    }
    // Bound before privileges are dropped (a port below 1024 stays possible) and
    // before READY=1, so a scrape right after systemd says "started" is answered.
    let _metrics = match global.settings.metrics_listen {
        Some(addr) => match daemon::MetricsServer::start(addr, fleet.handle()) {
            Ok(m) => Some(m),
            Err(e) => return fatal(e),
        },
        None => None,
    };
    // Created while still root (its directory may be root's), handed to the -u user.
    let _control = match &global.settings.control_socket {
        Some(path) => {
            let owner = match cli.uid.as_deref().map(daemon::lookup_user).transpose() {
                Ok(o) => o,
                Err(e) => return fatal(e),
            };
            match daemon::control::ControlServer::start(path, owner, ctl.clone()) {
                Ok(c) => Some(c),
                Err(e) => return fatal(e),
            }
        }
        None => None,
    };
    if let Some(u) = &cli.uid {
        if let Err(e) = daemon::drop_privileges(u) {
            return fatal(e);
        }
        log::info!("dropped privileges to user '{u}'");
    }
    if let Some(d) = detached {
        d.ready();
    }
    daemon::notify::notify("READY=1");
    let _watchdog = daemon::notify::Watchdog::start(fleet.handle());
    let res = fleet.run();
    // Also when every source finished on its own (replay), not only on SIGTERM.
    daemon::notify::stopping();
    match res {
        Ok(report) => {
            let failed = crate::outcome::replay_failures(&report);
            for why in &failed {
                daemon::log::fatal(why);
            }
            if failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
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
