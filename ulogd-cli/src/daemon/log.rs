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

fn open(path: &PathBuf) -> Option<File> {
    OpenOptions::new().create(true).append(true).open(path).ok()
}

impl log::Log for Logger {
    fn enabled(&self, m: &log::Metadata) -> bool {
        ulogd_level(m.level()) >= self.level
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
            Some(open(p).ok_or_else(|| format!("cannot open log file {}", p.display()))?)
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
            if let Some(new) = open(p) {
                *f = Some(new);
            }
        }
    }
}
