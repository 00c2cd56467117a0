//! A file opened for appending (or the standard output for `-` / `stdout`).
//!
//! No buffering here: the stage's queue is the buffer, and every [`Transport::write`]
//! is one `write(2)`, so the count it returns is what the kernel took — on a full disk
//! a short count or `ENOSPC`, never bytes silently kept in a user-space buffer.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;

use super::{Framing, Opened, Transport};

/// Whether a configured path means standard output. `/dev/stdout` is the inherited
/// descriptor 1 too, not a reopen by path: reopening it fails with EACCES when the
/// daemon runs as another user than the one owning its output (`runuser -u nobody
/// ulogd ... > file`), while writing to the descriptor it was given works.
pub(crate) fn is_stdout(path: &str) -> bool {
    path == "-" || path == "stdout" || path == "/dev/stdout"
}

enum Dest {
    File(File),
    Stdout,
}

/// An append-mode file.
pub(crate) struct FileTransport {
    path: String,
    dest: Option<Dest>,
}

impl FileTransport {
    /// A closed file at `path`.
    pub(crate) fn new(path: &str) -> FileTransport {
        FileTransport {
            path: path.to_string(),
            dest: None,
        }
    }

    /// The configured path.
    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// Changes the path used by the next open (XML's timestamped names).
    pub(crate) fn set_path(&mut self, path: String) {
        self.path = path;
    }
}

impl Transport for FileTransport {
    fn describe(&self) -> String {
        self.path.clone()
    }

    fn framing(&self) -> Framing {
        Framing::Stream
    }

    fn is_file(&self) -> bool {
        true
    }

    fn open(&mut self) -> io::Result<Opened> {
        if is_stdout(&self.path) {
            self.dest = Some(Dest::Stdout);
            return Ok(Opened::Ready { empty: false });
        }
        if std::fs::metadata(&self.path).is_ok_and(|m| {
            use std::os::unix::fs::FileTypeExt;
            m.file_type().is_fifo()
        }) {
            // open(2) of a FIFO blocks until a reader opens it; say why nothing
            // happens (SIGTERM still ends a start-up that waits here).
            log::warn!("{}: is a FIFO; waiting for a reader to open it", self.path);
        }
        let f = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&self.path)?;
        let empty = f.metadata().map(|m| m.len() == 0).unwrap_or(false);
        self.dest = Some(Dest::File(f));
        Ok(Opened::Ready { empty })
    }

    fn is_open(&self) -> bool {
        self.dest.is_some()
    }

    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        loop {
            let r = match self.dest.as_mut() {
                Some(Dest::File(f)) => f.write(data),
                Some(Dest::Stdout) => {
                    let mut o = io::stdout().lock();
                    o.write(data).and_then(|n| o.flush().map(|_| n))
                }
                None => return Err(io::Error::new(io::ErrorKind::NotConnected, "not open")),
            };
            match r {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Ok(0) if !data.is_empty() => {
                    return Err(io::Error::new(io::ErrorKind::WriteZero, "wrote 0 bytes"))
                }
                r => return r,
            }
        }
    }

    fn close(&mut self) {
        self.dest = None;
    }

    fn raw_fd(&self) -> Option<RawFd> {
        match self.dest.as_ref()? {
            Dest::File(f) => Some(f.as_raw_fd()),
            Dest::Stdout => Some(1),
        }
    }

    fn discard_tail(&mut self, n: u64) -> io::Result<()> {
        if let Some(Dest::File(f)) = self.dest.as_ref() {
            let len = f.metadata()?.len();
            f.set_len(len.saturating_sub(n))?;
        }
        Ok(())
    }

    fn check_access(&self, uid: u32, gids: &[u32]) -> Option<String> {
        if is_stdout(&self.path) {
            return None;
        }
        super::may_write(Path::new(&self.path), uid, gids)
            .err()
            .map(|why| format!("a reopen on SIGHUP will fail: {why}"))
    }
}
