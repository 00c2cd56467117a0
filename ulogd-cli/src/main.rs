//! `ulogd`: the ulogd-rs daemon. It reads a configuration, composes the built-in
//! plugins into stacks and runs the engine; all logic lives in the library crates.

use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use ulogd_core::config::ConfigFile;
use ulogd_core::global::Global;
use ulogd_core::{Engine, KeyDef, LogTarget, PluginSpec, Registry};

const DEFAULT_CONFIG: &str = "/etc/ulogd.conf";
const EMBEDDED: &str = include_str!("default.conf");

/// ulogd-rs: the netfilter userspace logging daemon (a drop-in for ulogd2).
///
/// It turns the kernel's NFLOG packets (and, as plugins land, conntrack events and
/// NFQUEUE traffic) into log lines, JSON, pcap files and more. What it does is
/// written in a configuration file of stacks, `source,filter...,sink`, e.g.
///
///   stack=log1:NFLOG,base1:BASE,ifi1:IFINDEX,ip2str1:IP2STR,print1:PRINTPKT,emu1:LOGEMU
///
/// with one [id] section of options per instance. Existing ulogd.conf files work
/// unchanged; TOML works too (a file ending in .toml).
///
/// Without -c, /etc/ulogd.conf is read if it exists; otherwise an embedded default
/// logs NFLOG group 0 to standard output (feed it with
/// `nft add rule inet filter input log group 0`).
///
/// Signals: SIGTERM/SIGINT stop after flushing every output; SIGHUP reopens log
/// files (logrotate); SIGUSR1 writes every instance's counters to the daemon log;
/// SIGUSR2 is passed to plugins (NFCT: dump and zero counters).
#[derive(Parser, Debug)]
#[command(
    name = "ulogd",
    version,
    verbatim_doc_comment,
    disable_version_flag = true
)]
struct Cli {
    /// Configuration file (ulogd.conf ini syntax, or TOML if it ends in .toml).
    #[arg(short = 'c', long = "configfile", value_name = "FILE")]
    configfile: Option<PathBuf>,

    /// Detach and run in the background (after every socket is open).
    #[arg(short = 'd', long)]
    daemon: bool,

    /// Also copy daemon log lines to standard error.
    #[arg(short = 'v', long)]
    verbose: bool,

    /// Daemon log level: 1 debug, 3 info, 5 notice, 7 error, 8 fatal (overrides loglevel=).
    #[arg(short = 'l', long = "loglevel", value_name = "N", value_parser = clap::value_parser!(u8).range(1..=8))]
    loglevel: Option<u8>,

    /// Write the process id to FILE, locked; refuse to start if another live ulogd holds it.
    #[arg(short = 'p', long = "pidfile", value_name = "FILE")]
    pidfile: Option<PathBuf>,

    /// Drop to this user (and its groups) once every source is open.
    #[arg(short = 'u', long = "uid", value_name = "USER")]
    uid: Option<String>,

    /// Show a plugin's options (with defaults) and its input/output keys, then exit.
    #[arg(short = 'i', long = "info", value_name = "PLUGIN")]
    info: Option<String>,

    /// Worker threads running the stacks (0 = on the event loop thread; overrides threads=).
    #[arg(short = 't', long = "threads", value_name = "N")]
    threads: Option<usize>,

    /// Pooled events in flight per source (overrides keyspool=).
    #[arg(short = 'k', long = "keyspool", value_name = "N")]
    keyspool: Option<usize>,

    /// Load the configuration and build every stack, open nothing; print every problem.
    #[arg(long)]
    check: bool,

    /// List every built-in plugin with a one-line summary, then exit.
    #[arg(long = "list-plugins")]
    list_plugins: bool,

    /// Print the version.
    #[arg(short = 'V', long = "version")]
    version: bool,
}

fn registry() -> Registry {
    let mut reg = Registry::new();
    ulogd_netfilter::register(&mut reg);
    ulogd_export::register(&mut reg);
    ulogd_python::register(&mut reg);
    reg
}

fn plugin_name(arg: &str) -> String {
    // Accept ulogd2's `-i /usr/lib/.../ulogd_output_JSON.so` form too.
    let base = Path::new(arg)
        .file_name()
        .and_then(|s| s.to_str())
        .unwrap_or(arg);
    let base = base.strip_suffix(".so").unwrap_or(base);
    if let Some(rest) = base.strip_prefix("ulogd_") {
        if let Some((_, name)) = rest.split_once('_') {
            return name.to_string();
        }
    }
    base.to_string()
}

fn print_keys(title: &str, keys: &[KeyDef]) {
    println!("{title}:");
    for k in keys {
        let mut flags = Vec::new();
        if k.is_optional() {
            flags.push("optional");
        }
        if k.is_inactive() {
            flags.push("inactive");
        }
        let mut extra = String::new();
        if let Some(i) = k.ipfix {
            extra.push_str(&format!(" ipfix={}:{}", i.enterprise, i.id));
        }
        if let Some(c) = k.cim {
            extra.push_str(&format!(" json={c}"));
        }
        println!(
            "\t{:<24} {:<12}{}{}",
            k.name,
            k.ty.name(),
            if flags.is_empty() {
                String::new()
            } else {
                format!(" ({})", flags.join(", "))
            },
            extra
        );
    }
}

fn print_info(spec: &PluginSpec) {
    println!("Name: {}", spec.name);
    if !spec.aliases.is_empty() {
        println!("Also known as: {}", spec.aliases.join(", "));
    }
    println!("Kind: {}", spec.kind.name());
    println!("Summary: {}", spec.summary);
    if spec.options.is_empty() {
        println!("Options: none");
    } else {
        println!("Options:");
        for o in &spec.options {
            let kind = match o.kind {
                ulogd_core::OptKind::Int => "integer",
                ulogd_core::OptKind::Str => "string",
                ulogd_core::OptKind::Bool => "boolean",
            };
            let def = if o.required {
                "required".to_string()
            } else {
                format!("default \"{}\"", o.default)
            };
            println!("\t{:<30} {:<8} {:<22} {}", o.name, kind, def, o.help);
        }
    }
    if spec.wildcard {
        println!("Input keys: every key produced upstream in the stack");
    } else if spec.kind != ulogd_core::Kind::Source {
        print_keys("Input keys", &spec.inputs);
    }
    if spec.kind != ulogd_core::Kind::Sink {
        print_keys("Output keys", &spec.outputs);
    }
}

fn report_errors(errors: &[ulogd_core::ConfigError]) {
    for e in errors {
        eprintln!("ulogd: {e}");
    }
    eprintln!("ulogd: {} problem(s) found; nothing started", errors.len());
}

struct PidFile {
    path: PathBuf,
    _file: std::fs::File,
}

impl PidFile {
    fn create(path: &Path) -> Result<PidFile, String> {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| format!("cannot open pid file {}: {e}", path.display()))?;
        let mut lock = libc::flock {
            l_type: libc::F_WRLCK as libc::c_short,
            l_whence: libc::SEEK_SET as libc::c_short,
            l_start: 0,
            l_len: 0,
            l_pid: 0,
        };
        // SAFETY: fcntl on a descriptor we own with a properly initialised flock.
        if unsafe { libc::fcntl(f.as_raw_fd(), libc::F_SETLK, &mut lock) } != 0 {
            let other = std::fs::read_to_string(path).unwrap_or_default();
            return Err(format!(
                "pid file {} is locked by a running ulogd (pid {}); refusing to start a second one",
                path.display(),
                other.trim()
            ));
        }
        f.set_len(0).map_err(|e| e.to_string())?;
        writeln!(f, "{}", std::process::id()).map_err(|e| e.to_string())?;
        Ok(PidFile {
            path: path.to_path_buf(),
            _file: f,
        })
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn drop_privileges(user: &str) -> Result<(), String> {
    let name = CString::new(user).map_err(|_| format!("bad user name {user:?}"))?;
    // SAFETY: getpwnam returns a pointer to static storage or NULL; we copy the fields
    // we need before any other call that may overwrite it.
    let (uid, gid) = unsafe {
        let pw = libc::getpwnam(name.as_ptr());
        if pw.is_null() {
            return Err(format!("unknown user '{user}' (-u)"));
        }
        ((*pw).pw_uid, (*pw).pw_gid)
    };
    // SAFETY: plain syscalls with values from the password database.
    unsafe {
        if libc::setgid(gid) != 0 {
            return Err(format!(
                "setgid({gid}): {}",
                std::io::Error::last_os_error()
            ));
        }
        if libc::initgroups(name.as_ptr(), gid) != 0 {
            return Err(format!(
                "initgroups({user}): {}",
                std::io::Error::last_os_error()
            ));
        }
        if libc::setuid(uid) != 0 {
            return Err(format!(
                "setuid({uid}): {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.version {
        println!(
            "ulogd-rs {} (ulogd2 2.0.8 compatible)",
            env!("CARGO_PKG_VERSION")
        );
        return ExitCode::SUCCESS;
    }
    let reg = registry();
    if cli.list_plugins {
        for p in reg.plugins() {
            let alias = if p.aliases.is_empty() {
                String::new()
            } else {
                format!(" (alias {})", p.aliases.join(", "))
            };
            println!("{:<10} {:<7} {}{}", p.name, p.kind.name(), p.summary, alias);
        }
        return ExitCode::SUCCESS;
    }
    if let Some(name) = &cli.info {
        let n = plugin_name(name);
        return match reg.get(&n) {
            Some(spec) => {
                print_info(spec);
                ExitCode::SUCCESS
            }
            None => {
                eprintln!("ulogd: no plugin named '{n}'; `ulogd --list-plugins` shows them all");
                ExitCode::FAILURE
            }
        };
    }

    let cfg = match &cli.configfile {
        Some(p) => ConfigFile::load(p),
        None if Path::new(DEFAULT_CONFIG).exists() => ConfigFile::load(Path::new(DEFAULT_CONFIG)),
        None => ConfigFile::parse(Path::new("<embedded default>"), EMBEDDED),
    };
    let cfg = match cfg {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ulogd: {e}");
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
    if cli.check {
        let _ = ulogd_core::logging::init(LogTarget::Stdout, 7, false);
    } else if let Err(e) =
        ulogd_core::logging::init(s.logfile.clone(), s.loglevel, cli.verbose && !cli.daemon)
    {
        eprintln!("ulogd: {e}");
        return ExitCode::FAILURE;
    }
    if cfg.origin == Path::new("<embedded default>") {
        log::info!(
            "no configuration file: using the embedded default (NFLOG group 0 to standard output)"
        );
    }
    let engine = Engine::from_stacks(&reg, &cfg, &global.stacks, global.settings.clone());
    let mut engine = match engine {
        Ok(e) => e,
        Err(errors) => {
            report_errors(&errors);
            return ExitCode::FAILURE;
        }
    };
    if cli.check {
        println!("{}: configuration OK", cfg.origin.display());
        for line in engine.describe() {
            println!("  {line}");
        }
        return ExitCode::SUCCESS;
    }
    if cli.daemon {
        // SAFETY: no threads exist yet (workers start in Engine::start).
        if unsafe { libc::daemon(0, 0) } != 0 {
            eprintln!(
                "ulogd: cannot daemonize: {}",
                std::io::Error::last_os_error()
            );
            return ExitCode::FAILURE;
        }
    }
    let _pid = match cli.pidfile.as_deref().map(PidFile::create).transpose() {
        Ok(p) => p,
        Err(e) => {
            log::error!("{e}");
            eprintln!("ulogd: {e}");
            return ExitCode::FAILURE;
        }
    };
    let fatal = |msg: String| {
        log::error!("{msg}");
        eprintln!("ulogd: {msg}");
        ExitCode::FAILURE
    };
    if let Err(e) = engine.handle_signals() {
        return fatal(format!("cannot install signal handlers: {e}"));
    }
    if let Some(u) = &cli.uid {
        // Outputs check at start that they can still reopen/reconnect as this user.
        ulogd_export::set_run_as_user(u);
    }
    if let Err(e) = engine.start() {
        return fatal(e.to_string());
    }
    if let Some(u) = &cli.uid {
        if let Err(e) = drop_privileges(u) {
            return fatal(e);
        }
        log::info!("dropped privileges to user '{u}'");
    }
    match engine.run() {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => fatal(e.to_string()),
    }
}
