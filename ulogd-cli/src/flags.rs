//! The command line: every flag with the help text `ulogd --help` prints.

use std::path::PathBuf;

use clap::Parser;

/// ulogd-rs: the netfilter userspace logging daemon (a drop-in for ulogd2).
///
/// It turns the kernel's NFLOG packets, conntrack events, nfacct counters and
/// NFQUEUE traffic into log lines, JSON, XML, pcap files, databases and IPFIX. What it does is
/// written in a configuration file of stacks, `source,filter...,sink`, e.g.
///
///   stack=log1:NFLOG,base1:BASE,ifi1:IFINDEX,ip2str1:IP2STR,print1:PRINTPKT,emu1:LOGEMU
///
/// with one [id] section of options per instance. Existing ulogd.conf files work
/// unchanged; TOML works too (a file ending in .toml).
///
/// Without -c, /etc/ulogd.conf is read if it exists; otherwise an embedded default
/// logs NFLOG group 0 to standard output. Feed it with, e.g.:
///
///   nft add table inet demo
///   nft add chain inet demo in '{ type filter hook input priority 0; }'
///   nft add rule inet demo in log group 0
///
/// Signals: SIGTERM/SIGINT stop after flushing every output; SIGHUP reopens log
/// files (logrotate); SIGUSR1 writes every instance's counters to the daemon log;
/// SIGUSR2 is passed to plugins (NFCT: dump and zero counters). With
/// reload_on_hup=1 in [global], SIGHUP reloads the configuration first.
///
/// Control: with control_socket=/run/ulogd/ulogd.ctl in [global], a running daemon
/// answers `ulogd --stats` (a table of every stack's counters and rates),
/// `ulogd --reopen` (as SIGHUP) and `ulogd --reload` (read the file again; stacks
/// whose sections did not change keep running, a bad file is refused with every
/// problem and the old configuration stays).
#[derive(Parser, Debug)]
#[command(
    name = "ulogd",
    version,
    verbatim_doc_comment,
    disable_version_flag = true
)]
pub struct Cli {
    /// Configuration file (ulogd.conf ini syntax, or TOML if it ends in .toml).
    #[arg(short = 'c', long = "configfile", value_name = "FILE")]
    pub configfile: Option<PathBuf>,

    /// Detach and run in the background once every source and output is open and
    /// privileges are dropped; if start-up fails, print why and exit non-zero.
    /// Relative paths stay relative to the directory ulogd was started in.
    #[arg(short = 'd', long)]
    pub daemon: bool,

    /// Also copy daemon log lines to standard error.
    #[arg(short = 'v', long)]
    pub verbose: bool,

    /// Daemon log level: 1 debug, 3 info, 5 notice, 7 error, 8 fatal (overrides loglevel=).
    #[arg(short = 'l', long = "loglevel", value_name = "N", value_parser = clap::value_parser!(u8).range(1..=8))]
    pub loglevel: Option<u8>,

    /// Write the process id to FILE, locked; refuse to start if another live ulogd holds it.
    #[arg(short = 'p', long = "pidfile", value_name = "FILE")]
    pub pidfile: Option<PathBuf>,

    /// Drop to this user (and its groups) once every source is open.
    #[arg(short = 'u', long = "uid", value_name = "USER")]
    pub uid: Option<String>,

    /// Show a plugin's options (with defaults) and its input/output keys, then exit.
    #[arg(short = 'i', long = "info", value_name = "PLUGIN")]
    pub info: Option<String>,

    /// Worker threads running the stacks (0 = on the event loop thread; overrides threads=).
    #[arg(short = 't', long = "threads", value_name = "N")]
    pub threads: Option<usize>,

    /// Pooled events in flight per source (overrides keyspool=).
    #[arg(short = 'k', long = "keyspool", value_name = "N")]
    pub keyspool: Option<usize>,

    /// Load the configuration and build every stack, open nothing; print every problem.
    #[arg(long)]
    pub check: bool,

    /// List every built-in plugin with a one-line summary, then exit.
    #[arg(long = "list-plugins")]
    pub list_plugins: bool,

    /// Write the manual pages ulogd.8 and ulogd.conf.5 (generated from these flags
    /// and the plugin registry) into DIR, then exit.
    #[arg(long = "man", value_name = "DIR", hide = true)]
    pub man: Option<PathBuf>,

    /// Ask the running daemon for its counters and print them as a table: per
    /// stack group and instance events in/out, stopped, errors, rate per second
    /// (over one second), loss and queue depth. Uses the control socket.
    #[arg(long, group = "control")]
    pub stats: bool,

    /// Ask the running daemon to reopen its log and every output file (what
    /// SIGHUP does; for logrotate). Uses the control socket.
    #[arg(long, group = "control")]
    pub reopen: bool,

    /// Ask the running daemon to read its configuration file again: unchanged
    /// stacks keep running, changed ones are rebuilt; a bad file is refused with
    /// every problem and the old configuration keeps running. Uses the control socket.
    #[arg(long, group = "control")]
    pub reload: bool,

    /// The control socket for --stats, --reopen and --reload (default: control_socket=
    /// in [global] of the configuration file, -c or /etc/ulogd.conf).
    #[arg(long = "control-socket", value_name = "PATH")]
    pub control_socket: Option<PathBuf>,

    /// Print the version.
    #[arg(short = 'V', long = "version")]
    pub version: bool,
}

/// Parses the process's arguments (exits with clap's message on a bad one).
pub fn parse() -> Cli {
    Cli::parse()
}
