//! Everything that makes the engine a daemon and that a library must not do on its
//! own: the process-wide logger (and its reopen), signal handlers, the pid file,
//! detaching, dropping privileges. The engine in `ulogd-core` does none of these;
//! embedding programs decide for themselves.

pub mod log;
mod metrics;
pub mod notify;
mod pidfile;
mod privs;
mod signals;

pub use metrics::MetricsServer;
pub use pidfile::PidFile;
pub use privs::{drop_privileges, prepare_drop, set_umask};
pub use signals::Signals;

/// Detaches from the terminal (`-d`). Must run before any thread is started: the
/// engine's workers and the signal thread start later.
pub fn detach() -> Result<(), String> {
    // SAFETY: called before any thread exists (see above); daemon(3) only forks,
    // calls setsid and redirects the standard descriptors.
    if unsafe { libc::daemon(0, 0) } != 0 {
        return Err(format!(
            "cannot daemonize: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}
