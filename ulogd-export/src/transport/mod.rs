//! Where an output's encoded records go: a file, a TCP or unix stream, UDP datagrams.
//!
//! A [`Transport`] only moves bytes; it never blocks the caller on a peer (stream and
//! datagram sockets are non-blocking, connects are started and finished later) and it
//! reports exactly how many bytes the kernel accepted, so the output stage
//! ([`crate::output`]) can count what reached the file or the peer and resume a partial
//! write where it stopped (a record is never torn at the peer). Reconnect policy,
//! backoff, counters and the queue live in the stage, once for every transport.

use std::io;
use std::os::fd::{AsRawFd, RawFd};

pub(crate) mod file;
pub(crate) mod net;

pub(crate) use file::FileTransport;
pub(crate) use net::{Endpoint, NetTransport};

/// How a transport takes records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// A byte stream (file, TCP, unix): records are concatenated; a write may take
    /// part of a record and the rest follows in the next write.
    Stream,
    /// One message per record (UDP, a message broker): a write takes a whole record
    /// or nothing.
    Message,
}

/// The result of [`Transport::open`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opened {
    /// Ready to write; `empty` says the file is new or empty (a header is due).
    Ready {
        /// Whether the opened file has no bytes yet.
        empty: bool,
    },
    /// A connect is under way; [`Transport::write`] returns 0 until it completes.
    Pending,
}

/// Moves encoded bytes to one destination.
///
/// The stage calls these under its own lock; none of them may wait for a peer.
pub trait Transport: Send + 'static {
    /// For messages and counters: `tcp:host:port`, a file path...
    fn describe(&self) -> String;
    /// Stream or message framing.
    fn framing(&self) -> Framing;
    /// Whether the transport is a local file (SIGHUP reopens it; `when_full=block`
    /// is its default), as opposed to a peer (reconnect with backoff).
    fn is_file(&self) -> bool {
        false
    }
    /// Opens or (re)connects, closing what was open. Must not wait for a peer: a
    /// connect in progress returns [`Opened::Pending`].
    fn open(&mut self) -> io::Result<Opened>;
    /// Whether something is open (connected or connecting).
    fn is_open(&self) -> bool;
    /// Writes from `data`; returns the bytes taken, 0 when the destination cannot take
    /// any now (full socket buffer, connect in progress). With [`Framing::Message`]
    /// `data` is exactly one record, taken whole or not at all. An error means the
    /// destination failed (the stage closes a peer and reconnects; a file is retried).
    fn write(&mut self, data: &[u8]) -> io::Result<usize>;
    /// Closes (the stage has written what it could).
    fn close(&mut self);
    /// Whether a stream peer has gone away (checked from the stage's tick).
    fn peer_closed(&self) -> bool {
        false
    }
    /// The descriptor to wait on for writability (`when_full=block`).
    fn raw_fd(&self) -> Option<RawFd> {
        None
    }
    /// Removes the last `n` bytes written (a file's torn last record, before a reopen
    /// or at shutdown); a no-op where bytes cannot be taken back.
    fn discard_tail(&mut self, _n: u64) -> io::Result<()> {
        Ok(())
    }
    /// A check at start-up that the daemon's run-time user (after `-u`) can still
    /// reopen or reconnect this destination: `Some(reason)` if not.
    fn check_access(&self, _uid: u32, _gids: &[u32]) -> Option<String> {
        None
    }
}

/// Whether a stream socket's peer has closed: a non-blocking peek sees EOF or an
/// error. The only `unsafe` of the output layer (the socket API has no safe peek that
/// leaves the socket's blocking mode alone).
pub(crate) fn stream_peer_closed(s: &impl AsRawFd) -> bool {
    let fd = s.as_raw_fd();
    let mut b = [0u8; 1];
    // SAFETY: `fd` is a live socket borrowed for the duration of the call, and recv
    // writes at most 1 byte into `b`, a buffer we own and that outlives the call.
    #[allow(unsafe_code)]
    let r = unsafe {
        libc::recv(
            fd,
            b.as_mut_ptr().cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    if r == 0 {
        return true;
    }
    if r < 0 {
        let e = io::Error::last_os_error();
        return e.kind() != io::ErrorKind::WouldBlock && e.kind() != io::ErrorKind::Interrupted;
    }
    false
}

/// Waits up to `ms` milliseconds for `fd` to become writable (`when_full=block`).
pub(crate) fn wait_writable(fd: RawFd, ms: i32) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one pollfd we own, count 1.
    #[allow(unsafe_code)]
    let r = unsafe { libc::poll(&mut p, 1, ms) };
    r > 0 && p.revents & libc::POLLOUT != 0
}

/// Whether a process with `uid` and groups `gids` may open `path` for writing (the
/// file itself if it exists, else its directory) — what `-u` will need on a reopen
/// or reconnect.
pub(crate) fn may_write(path: &std::path::Path, uid: u32, gids: &[u32]) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    if uid == 0 {
        return Ok(());
    }
    let allowed = |m: &std::fs::Metadata, bit_u: u32, bit_g: u32, bit_o: u32| {
        let mode = m.mode();
        if m.uid() == uid {
            mode & bit_u != 0
        } else if gids.contains(&m.gid()) {
            mode & bit_g != 0
        } else {
            mode & bit_o != 0
        }
    };
    // Every directory on the way must be searchable.
    let mut dir = path.parent();
    while let Some(d) = dir {
        if d.as_os_str().is_empty() {
            break;
        }
        if let Ok(m) = std::fs::metadata(d) {
            if !allowed(&m, 0o100, 0o010, 0o001) {
                return Err(format!("directory {} is not searchable", d.display()));
            }
        }
        dir = d.parent();
    }
    match std::fs::metadata(path) {
        Ok(m) if allowed(&m, 0o200, 0o020, 0o002) => Ok(()),
        Ok(m) => Err(format!(
            "{} (owner uid {}, gid {}, mode {:o}) is not writable",
            path.display(),
            m.uid(),
            m.gid(),
            m.mode() & 0o7777
        )),
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn write_permission_by_uid_and_group() {
        let d = std::env::temp_dir().join(format!("ex-perm-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        let p = d.join("s");
        std::fs::write(&p, b"").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        let me = std::fs::metadata(&p).map(|m| {
            use std::os::unix::fs::MetadataExt;
            (m.uid(), m.gid())
        });
        let (owner, group) = me.unwrap();
        let other = owner.wrapping_add(12345);
        assert!(may_write(&p, owner.max(1), &[]).is_ok() || owner == 0);
        assert!(may_write(&p, 0, &[]).is_ok());
        let err = may_write(&p, other, &[group.wrapping_add(7)]).unwrap_err();
        assert!(err.contains("is not writable"), "{err}");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o775)).unwrap();
        assert!(may_write(&p, other, &[group]).is_ok());
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(may_write(&p, other, &[]).is_ok());
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert!(may_write(&p, other, &[])
            .unwrap_err()
            .contains("not searchable"));
        let _ = std::fs::remove_dir_all(&d);
    }
}
