//! Sockets in another network namespace (`network_namespace_path`).

use std::os::fd::AsRawFd;

use ulogd_core::PluginError;

/// Runs `make` in network namespace `netns` (the current one if empty): a short-lived
/// thread enters the namespace (`setns` changes only the calling thread), creates the
/// sockets (or reads the namespace's `/proc/thread-self/net` files) and hands the
/// result back; sockets stay in that namespace.
pub(crate) fn in_netns<T: Send>(
    netns: &str,
    what: &str,
    make: impl FnOnce() -> std::io::Result<T> + Send,
) -> Result<T, PluginError> {
    if netns.is_empty() {
        return make().map_err(|e| PluginError::new(format!("cannot open {what}: {e}")));
    }
    let ns = std::fs::File::open(netns)
        .map_err(|e| PluginError::new(format!("network_namespace_path {netns}: {e}")))?;
    std::thread::scope(|s| {
        s.spawn(|| {
            // SAFETY: setns(2) on this helper thread only, with a namespace fd that
            // outlives the call; the thread ends right after creating the socket.
            if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(PluginError::new(format!(
                    "cannot enter network namespace {netns}: {}",
                    std::io::Error::last_os_error()
                )));
            }
            make().map_err(|e| PluginError::new(format!("cannot open {what} in {netns}: {e}")))
        })
        .join()
        .unwrap_or_else(|_| Err(PluginError::new("network namespace helper thread panicked")))
    })
}
