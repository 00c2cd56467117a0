//! The daemon's own log, in ulogd2's format: `Wed Nov 25 22:29:24 2026 <5> message`.
//!
//! Levels follow ulogd2's numbers: 1 debug, 3 info, 5 notice, 7 error, 8 fatal.
//! The `log` crate's levels map onto them as debug/trace → 1, info → 3, warn → 5
//! (notice: things a sysadmin should see by default, such as SIGUSR1 counters and
//! lost events), error → 7.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use ulogd_core::LogTarget;

struct Logger {
    target: LogTarget,
    level: u8,
    also_stderr: bool,
    file: Mutex<Option<File>>,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

fn ulogd_level(l: log::Level) -> u8 {
    match l {
        log::Level::Error => 7,
        log::Level::Warn => 5,
        log::Level::Info => 3,
        log::Level::Debug | log::Level::Trace => 1,
    }
}

/// `ctime`-style local time, without the newline.
pub fn ctime_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as libc::time_t)
        .unwrap_or(0);
    // SAFETY: `tm` is plain old data (integers and a pointer), for which all-zero is
    // a valid value; localtime_r overwrites it.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let mut buf = [0u8; 64];
    // SAFETY: localtime_r and strftime write into the buffers we own; the format is
    // NUL-terminated and the buffer length is passed.
    let n = unsafe {
        libc::localtime_r(&now, &mut tm);
        libc::strftime(
            buf.as_mut_ptr().cast(),
            buf.len(),
            c"%a %b %e %H:%M:%S %Y".as_ptr(),
            &tm,
        )
    };
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn open(path: &PathBuf) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

impl log::Log for Logger {
    fn enabled(&self, m: &log::Metadata) -> bool {
        // Loss and SIGUSR1 counters are never hidden by the level (issue 17 §7).
        ulogd_level(m.level()) >= self.level || m.target() == ulogd_core::ALWAYS
    }

    fn log(&self, r: &log::Record) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let lvl = ulogd_level(r.level());
        let line = format!("{} <{}> {}\n", ctime_now(), lvl, r.args());
        match &self.target {
            LogTarget::Stdout => {
                let _ = std::io::stdout().lock().write_all(line.as_bytes());
            }
            LogTarget::File(_) => {
                let mut f = self.file.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(f) = f.as_mut() {
                    let _ = f.write_all(line.as_bytes());
                }
            }
            LogTarget::Syslog => {
                let prio = match lvl {
                    7.. => libc::LOG_ERR,
                    5..=6 => libc::LOG_NOTICE,
                    3..=4 => libc::LOG_INFO,
                    _ => libc::LOG_DEBUG,
                };
                let msg = std::ffi::CString::new(format!("{}", r.args()).replace('\0', " "))
                    .unwrap_or_default();
                // SAFETY: "%s" with one NUL-terminated C string argument.
                unsafe { libc::syslog(prio, c"%s".as_ptr(), msg.as_ptr()) };
            }
        }
        if self.also_stderr && !matches!(self.target, LogTarget::Stdout) {
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
        }
    }

    fn flush(&self) {
        if let Some(f) = self.file.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            let _ = f.flush();
        }
    }
}

/// Installs the daemon logger. `also_stderr` copies every line to stderr (`-v`).
/// Returns an error naming the log file if it cannot be opened.
pub fn init(target: LogTarget, level: u8, also_stderr: bool) -> Result<(), String> {
    let file = match &target {
        LogTarget::File(p) => {
            Some(open(p).map_err(|e| format!("cannot open log file {}: {e}", p.display()))?)
        }
        LogTarget::Syslog => {
            // SAFETY: a static NUL-terminated identity string, valid for the program's life.
            unsafe { libc::openlog(c"ulogd".as_ptr(), libc::LOG_PID, libc::LOG_DAEMON) };
            None
        }
        LogTarget::Stdout => None,
    };
    let logger = Logger {
        target,
        level,
        also_stderr,
        file: Mutex::new(file),
    };
    if LOGGER.set(logger).is_err() {
        return Ok(());
    }
    let l = LOGGER.get().expect("just set");
    log::set_logger(l).map_err(|e| e.to_string())?;
    log::set_max_level(log::LevelFilter::Trace);
    Ok(())
}

/// Reopens the log file (SIGHUP, after logrotate moved it).
pub fn reopen() {
    if let Some(l) = LOGGER.get() {
        if let LogTarget::File(p) = &l.target {
            let mut f = l.file.lock().unwrap_or_else(|e| e.into_inner());
            match open(p) {
                Ok(new) => *f = Some(new),
                Err(e) => {
                    // Said in the old file (still open, and where an operator looks),
                    // at error level: the daemon keeps writing to a file logrotate may
                    // compress or delete (issue 17 §16).
                    let line = format!(
                        "{} <7> SIGHUP: can't reopen the daemon log {}: {e}; still writing \
                         to the old file (after -u the directory must be writable by that \
                         user, or rotate with copytruncate)\n",
                        ctime_now(),
                        p.display()
                    );
                    if let Some(old) = f.as_mut() {
                        let _ = old.write_all(line.as_bytes());
                    }
                    if l.also_stderr {
                        let _ = std::io::stderr().lock().write_all(line.as_bytes());
                    }
                }
            }
        }
    }
}

/// Whether descriptors 1 and 2 are the same open file (both the terminal, say).
fn stdout_is_stderr() -> bool {
    use std::os::fd::AsFd;
    let id = |fd: std::os::fd::BorrowedFd<'_>| {
        let f = File::from(fd.try_clone_to_owned().ok()?);
        let m = f.metadata().ok()?;
        use std::os::unix::fs::MetadataExt;
        Some((m.dev(), m.ino(), m.rdev()))
    };
    let (o, e) = (id(std::io::stdout().as_fd()), id(std::io::stderr().as_fd()));
    o.is_some() && o == e
}

/// An error that ends the daemon or its start-up: to the daemon log and to standard
/// error, but once only when the daemon log is standard output and that is the same
/// file as standard error (`logfile="stdout"` on a terminal printed it twice).
pub fn fatal(msg: &str) {
    let log_is_stderr = LOGGER
        .get()
        .is_some_and(|l| matches!(l.target, LogTarget::Stdout) && stdout_is_stderr());
    if !log_is_stderr {
        log::error!("{msg}");
    }
    eprintln!("ulogd: {msg}");
}
