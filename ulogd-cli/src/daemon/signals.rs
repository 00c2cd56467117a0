//! Process signals, turned into requests on an [`EngineHandle`] by one thread of the
//! daemon: SIGTERM/SIGINT stop (after flushing), SIGHUP reopens the daemon log and
//! is passed on (outputs reopen their files), SIGUSR1 logs every instance's
//! counters, SIGUSR2 goes to plugins. SIGPIPE is caught and ignored, so a closed
//! socket is an `EPIPE` error for the plugin rather than the end of the daemon.

use std::thread::JoinHandle;

use signal_hook::consts::{SIGHUP, SIGINT, SIGPIPE, SIGTERM, SIGUSR1, SIGUSR2};
use ulogd_core::{EngineHandle, Signal};

/// The installed handlers and the thread forwarding them.
pub struct Signals {
    handle: signal_hook::iterator::Handle,
    thread: Option<JoinHandle<()>>,
}

impl Signals {
    /// Installs the handlers (before the engine starts, so a signal during start-up
    /// is not lost: it waits in the handle until the loop runs).
    pub fn install(engine: EngineHandle) -> std::io::Result<Signals> {
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
                            log::info!(
                                "received {}, shutting down",
                                if sig == SIGTERM { "SIGTERM" } else { "SIGINT" }
                            );
                            super::notify::stopping();
                            engine.stop();
                        }
                        SIGHUP => {
                            super::log::reopen();
                            engine.signal(Signal::Hup);
                        }
                        SIGUSR1 => engine.signal(Signal::Usr1),
                        SIGUSR2 => engine.signal(Signal::Usr2),
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
