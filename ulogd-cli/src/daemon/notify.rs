//! systemd's readiness protocol (`Type=notify`), without libsystemd: one datagram
//! per state to the unix socket named by `$NOTIFY_SOCKET` (a path, or `@name` for
//! the abstract namespace). Without the variable every call is a no-op, so the
//! daemon behaves the same outside systemd.
//!
//! READY=1 goes out once every source is open (sockets bound, privileges dropped),
//! STOPPING=1 when a stop is requested, and WATCHDOG=1 at half of
//! `$WATCHDOG_USEC` if the unit sets `WatchdogSec=`.

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use ulogd_core::FleetHandle;

fn socket_addr() -> Option<std::os::unix::net::SocketAddr> {
    let name = std::env::var_os("NOTIFY_SOCKET")?;
    let bytes = std::os::unix::ffi::OsStrExt::as_bytes(name.as_os_str());
    if let Some(abs) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        std::os::unix::net::SocketAddr::from_abstract_name(abs).ok()
    } else if bytes.first() == Some(&b'/') {
        std::os::unix::net::SocketAddr::from_pathname(PathBuf::from(name)).ok()
    } else {
        None
    }
}

/// Sends `state` (e.g. `READY=1`) if systemd asked for notifications. Failures are
/// logged, never fatal: a missing notification is systemd's timeout to report.
pub fn notify(state: &str) {
    let Some(addr) = socket_addr() else {
        return;
    };
    let res = UnixDatagram::unbound().and_then(|s| s.send_to_addr(state.as_bytes(), &addr));
    if let Err(e) = res {
        log::warn!("sd_notify {state}: {e}");
    }
}

/// Tells systemd the daemon is stopping (sent at most once).
pub fn stopping() {
    static SENT: AtomicBool = AtomicBool::new(false);
    if !SENT.swap(true, Ordering::SeqCst) {
        notify("STOPPING=1");
    }
}

/// The watchdog interval systemd asked for, if any and meant for this process.
fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.parse::<u32>().ok()? != std::process::id() {
            return None;
        }
    }
    (usec > 0).then(|| Duration::from_micros(usec))
}

/// Pings systemd's watchdog at half the configured interval while the engine can
/// still be asked for its counters (a snapshot never waits on the loop, so this
/// proves the process is alive, not that packets flow: loss shows in the metrics).
pub struct Watchdog {
    stop: std::sync::Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    /// Starts the pinger if `$WATCHDOG_USEC` is set; `None` otherwise.
    pub fn start(handle: FleetHandle) -> Option<Watchdog> {
        let every = watchdog_interval()? / 2;
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let flag = std::sync::Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("ulogd-watchdog".into())
            .spawn(move || {
                let tick = Duration::from_millis(50).min(every);
                let mut waited = Duration::ZERO;
                while !flag.load(Ordering::SeqCst) {
                    if waited >= every {
                        let _ = handle.snapshot();
                        notify("WATCHDOG=1");
                        waited = Duration::ZERO;
                    }
                    std::thread::sleep(tick);
                    waited += tick;
                }
            })
            .ok()?;
        log::info!("systemd watchdog: pinging every {every:?}");
        Some(Watchdog {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
