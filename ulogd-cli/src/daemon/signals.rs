//! Process signals, turned into requests on the running fleet by one thread of the
//! daemon: SIGTERM/SIGINT stop (after flushing), SIGHUP reopens the daemon log and
//! is passed on (outputs reopen their files) — with `reload_on_hup=1` it first
//! reloads the configuration (on a thread of its own, so a SIGTERM meanwhile is
//! not kept waiting) —, SIGUSR1 logs every instance's
//! counters, SIGUSR2 goes to plugins. SIGPIPE is caught and ignored, so a closed
//! socket is an `EPIPE` error for the plugin rather than the end of the daemon.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::thread::JoinHandle;

use signal_hook::consts::{SIGHUP, SIGINT, SIGPIPE, SIGTERM, SIGUSR1, SIGUSR2};
use ulogd_core::Signal;

use super::control::Ctl;

/// True until [`startup_done`]: the engine is still opening sources and outputs.
static STARTING: AtomicBool = AtomicBool::new(true);
/// The pid file to remove when a signal ends the start-up.
static PIDFILE: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Every source and output is open: from now on SIGTERM/SIGINT stop the event loop.
/// Before it they end the process at once (issue 17 §8): an `open()` of a FIFO with
/// no reader (an output, or REPLAY's `file=`) blocks, and is restarted after the
/// handler ran, so a stop request queued for the loop would never be seen and only
/// SIGKILL would end the daemon. Nothing was written yet then, so nothing is lost.
pub fn startup_done() {
    STARTING.store(false, Ordering::SeqCst);
}

/// Start-up is interrupted: says so, removes our pid file, exits with status 1.
fn exit_during_startup(name: &str) -> ! {
    let msg = format!(
        "received {name} during start-up (before every source and output was open; \
         a FIFO with no reader on the other side blocks there); exiting"
    );
    super::log::fatal(&msg);
    if let Some(p) = PIDFILE.lock().unwrap_or_else(|e| e.into_inner()).take() {
        let _ = std::fs::remove_file(p);
    }
    std::process::exit(1)
}

/// The installed handlers and the thread forwarding them.
pub struct Signals {
    handle: signal_hook::iterator::Handle,
    thread: Option<JoinHandle<()>>,
}

impl Signals {
    /// Installs the handlers (before the engine starts, so a signal during start-up
    /// is not lost: it waits in the handle until the loop runs).
    /// Until [`startup_done`], SIGTERM/SIGINT end the process and remove `pidfile`.
    pub fn install(
        ctl: Ctl,
        reload_on_hup: bool,
        pidfile: Option<PathBuf>,
    ) -> std::io::Result<Signals> {
        *PIDFILE.lock().unwrap_or_else(|e| e.into_inner()) = pidfile;
        let mut it = signal_hook::iterator::Signals::new([
            SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2, SIGPIPE,
        ])?;
        let handle = it.handle();
        let thread = std::thread::Builder::new()
            .name("ulogd-signals".into())
            .spawn(move || {
                for sig in it.forever() {
                    match sig {
                        SIGTERM | SIGINT => {
                            let name = if sig == SIGTERM { "SIGTERM" } else { "SIGINT" };
                            if STARTING.load(Ordering::SeqCst) {
                                exit_during_startup(name);
                            }
                            log::info!("received {name}, shutting down");
                            super::notify::stopping();
                            ctl.fleet.stop();
                        }
                        SIGHUP if reload_on_hup => {
                            log::info!("SIGHUP: reloading the configuration");
                            let ctl = ctl.clone();
                            let _ = std::thread::Builder::new()
                                .name("ulogd-reload".into())
                                .spawn(move || {
                                    let _ = ctl.reload();
                                    ctl.reopen();
                                });
                        }
                        SIGHUP => ctl.reopen(),
                        SIGUSR1 => ctl.fleet.signal(Signal::Usr1),
                        SIGUSR2 => ctl.fleet.signal(Signal::Usr2),
                        _ => {}
                    }
                }
            })?;
        Ok(Signals {
            handle,
            thread: Some(thread),
        })
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        self.handle.close();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
