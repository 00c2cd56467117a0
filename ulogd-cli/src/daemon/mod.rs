//! Everything that makes the engine a daemon and that a library must not do on its
//! own: the process-wide logger (and its reopen), signal handlers, the pid file,
//! detaching, dropping privileges. The engine in `ulogd-core` does none of these;
//! embedding programs decide for themselves.

pub mod control;
mod detach;
pub mod log;
mod metrics;
pub mod notify;
mod pidfile;
mod privs;
mod signals;

pub use detach::detach;
pub use metrics::MetricsServer;
pub use pidfile::PidFile;
pub use privs::{drop_privileges, lookup_user, prepare_drop, set_umask, user_exists};
pub use signals::{startup_done, Signals};

/// Restores the default SIGPIPE action for the commands that only print (`--version`,
/// `--list-plugins`, `-i`, `--check`): Rust ignores SIGPIPE, so `println!` into a
/// closed pipe (`ulogd --list-plugins | head -1`) would panic with a backtrace. The
/// default action ends the process quietly, as `ls | head -1` does. The daemon itself
/// keeps SIGPIPE ignored: a vanished socket peer is an error to report, not a death.
pub fn quiet_sigpipe() {
    // SAFETY: setting a signal disposition to SIG_DFL has no preconditions; called
    // before any thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
