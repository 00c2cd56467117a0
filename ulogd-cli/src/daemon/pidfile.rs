//! The pid file: written with our pid and locked, so a second daemon refuses to start;
//! removed on exit.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// A locked pid file, removed when dropped.
pub struct PidFile {
    path: PathBuf,
    _file: std::fs::File,
}

impl PidFile {
    pub fn create(path: &Path) -> Result<PidFile, String> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        // Opened as root, before `-u`: a symbolic link planted in the pid file's
        // directory (often owned by the service user) must not make root truncate
        // whatever it points to, so links are refused and only a regular file is
        // written.
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| {
                if e.raw_os_error() == Some(libc::ELOOP) {
                    format!(
                        "pid file {} is a symbolic link; refusing to follow it (remove it, or \
                         point -p at the real file)",
                        path.display()
                    )
                } else {
                    format!("cannot open pid file {}: {e}", path.display())
                }
            })?;
        let meta = f.metadata().map_err(|e| e.to_string())?;
        if !meta.file_type().is_file() {
            return Err(format!(
                "pid file {} is not a regular file; refusing to write to it",
                path.display()
            ));
        }
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
        if let Err(e) = std::fs::remove_file(&self.path) {
            // After -u the pid file's directory (often root-owned /run) may not be
            // writable any more. The descriptor opened as root still is: empty the
            // file so no stale pid is left in it, and say so (issue 17 §16).
            let emptied = self._file.set_len(0).is_ok();
            log::error!(
                "cannot remove pid file {}: {e}{}; the next start takes it over (its lock \
                 is gone); with -u, make its directory writable by that user",
                self.path.display(),
                if emptied { " (emptied it)" } else { "" }
            );
        }
    }
}
