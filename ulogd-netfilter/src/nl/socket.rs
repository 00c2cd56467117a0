//! [`NlSocket`]: one `AF_NETLINK` socket, raw libc, non-blocking.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use ulogd_core::PluginError;

use crate::wire::nlmsg::NLMSG_ERROR;
use crate::wire::{NlmsgErrView, NlmsgIter};

/// The most datagrams one [`NlSocket::recv_many`] reads.
pub(crate) const MAX_BATCH: usize = 32;

/// The netlink families this crate speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Proto {
    /// `NETLINK_NETFILTER`: NFLOG, ctnetlink, NFQUEUE, nfacct.
    Netfilter,
    /// `NETLINK_ROUTE`: link events for IFINDEX.
    Route,
}

impl Proto {
    fn raw(self) -> libc::c_int {
        match self {
            Proto::Netfilter => libc::NETLINK_NETFILTER,
            Proto::Route => libc::NETLINK_ROUTE,
        }
    }
}

/// What one `recv()` gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Recv {
    /// A datagram of this many bytes.
    Data(usize),
    /// Nothing to read now (EAGAIN).
    Again,
    /// The kernel dropped messages because the receive buffer was full (ENOBUFS).
    Overrun,
}

/// One classic BPF instruction (`struct sock_filter`), built by pure code (the NFCT
/// filter compiler) and attached with [`NlSocket::attach_filter`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Insn {
    pub(crate) code: u16,
    pub(crate) jt: u8,
    pub(crate) jf: u8,
    pub(crate) k: u32,
}

/// A bound, non-blocking netlink socket. Closing it (drop) releases every group,
/// queue and subscription the kernel tied to its port id.
#[derive(Debug)]
pub(crate) struct NlSocket {
    fd: OwnedFd,
}

impl NlSocket {
    /// Opens a socket of `proto` joined to the multicast `groups` (group numbers, not
    /// bit masks), in network namespace `netns` if not empty. `what` names it in
    /// errors ("NFLOG socket").
    pub(crate) fn open(
        proto: Proto,
        groups: &[u32],
        netns: &str,
        what: &str,
    ) -> Result<NlSocket, PluginError> {
        super::in_netns(netns, what, || Self::open_here(proto, groups)).map_err(|e| {
            let s = e.to_string();
            if s.contains("ermission") || s.contains("not permitted") {
                PluginError::new(format!("{s} (needs CAP_NET_ADMIN)"))
            } else {
                e
            }
        })
    }

    fn open_here(proto: Proto, groups: &[u32]) -> io::Result<NlSocket> {
        // SAFETY: plain socket(2); the descriptor is owned right below.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                proto.raw(),
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        let sock = NlSocket {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        };
        // SAFETY: sockaddr_nl is plain data; all-zero is valid (port id chosen by
        // the kernel, no groups: they are joined below, which also works above 32).
        let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: bind(2) with a sockaddr_nl we own and its exact size.
        let r = unsafe {
            libc::bind(
                sock.fd(),
                (&sa as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        for &g in groups {
            sock.set_int(libc::SOL_NETLINK, libc::NETLINK_ADD_MEMBERSHIP, g)?;
        }
        Ok(sock)
    }

    /// The descriptor, to register with the event loop.
    pub(crate) fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Sends one buffer of messages to the kernel (retried on EINTR).
    pub(crate) fn send(&self, msg: &[u8]) -> io::Result<()> {
        loop {
            // SAFETY: send(2) of a buffer we borrow, with its length.
            let r = unsafe { libc::send(self.fd(), msg.as_ptr().cast(), msg.len(), 0) };
            if r >= 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINTR) {
                return Err(e);
            }
        }
    }

    /// Reads one datagram without blocking (retried on EINTR).
    pub(crate) fn recv(&self, buf: &mut [u8]) -> io::Result<Recv> {
        loop {
            // SAFETY: recv(2) into a buffer we borrow mutably, with its length.
            let n = unsafe {
                libc::recv(
                    self.fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if n >= 0 {
                return Ok(Recv::Data(n as usize));
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EAGAIN) => return Ok(Recv::Again),
                Some(libc::ENOBUFS) => return Ok(Recv::Overrun),
                _ => return Err(e),
            }
        }
    }

    /// Reads up to [`MAX_BATCH`] datagrams (and at most `buf.len() / slot`) in one
    /// system call, without blocking: datagram `i` lands in `buf[i * slot..]`, and
    /// `lens` receives `(length, truncated)` per datagram read. `Recv::Data(n)` is the
    /// number of datagrams; fewer than asked means the socket had no more then.
    ///
    /// One `recvmmsg(2)` instead of a `recv(2)` per datagram: conntrack events and
    /// queued packets come one per datagram, so a burst costs a system call per event
    /// without it.
    pub(crate) fn recv_many(
        &self,
        buf: &mut [u8],
        slot: usize,
        lens: &mut Vec<(usize, bool)>,
    ) -> io::Result<Recv> {
        lens.clear();
        let count = (buf.len() / slot.max(1)).clamp(1, MAX_BATCH);
        // SAFETY: all-zero iovec and mmsghdr values are valid (null pointers, zero
        // lengths); every one used is filled in below.
        let mut iov: [libc::iovec; MAX_BATCH] = unsafe { std::mem::zeroed() };
        let mut hdrs: [libc::mmsghdr; MAX_BATCH] = unsafe { std::mem::zeroed() };
        let base = buf.as_mut_ptr();
        let slot = if count == 1 { buf.len() } else { slot };
        for i in 0..count {
            // SAFETY: i * slot + slot <= buf.len(), so the pointer stays inside buf.
            iov[i].iov_base = unsafe { base.add(i * slot) }.cast();
            iov[i].iov_len = slot;
            hdrs[i].msg_hdr.msg_iov = &mut iov[i];
            hdrs[i].msg_hdr.msg_iovlen = 1;
        }
        loop {
            // SAFETY: recvmmsg(2) with `count` headers, each pointing at one iovec
            // into `buf`, all of which outlive the call; no address or control data.
            let n = unsafe {
                libc::recvmmsg(
                    self.fd(),
                    hdrs.as_mut_ptr(),
                    count as libc::c_uint,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            if n >= 0 {
                for h in &hdrs[..n as usize] {
                    let truncated = h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
                    lens.push(((h.msg_len as usize).min(slot), truncated));
                }
                return Ok(Recv::Data(n as usize));
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EAGAIN) => return Ok(Recv::Again),
                Some(libc::ENOBUFS) => return Ok(Recv::Overrun),
                _ => return Err(e),
            }
        }
    }

    /// Waits until the socket is readable or `timeout` passed; `true` if readable.
    pub(crate) fn wait_readable(&self, timeout: Duration) -> bool {
        let mut pfd = libc::pollfd {
            fd: self.fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
        // SAFETY: poll(2) on one pollfd we own.
        unsafe { libc::poll(&mut pfd, 1, ms) > 0 }
    }

    /// Sets an integer socket option.
    pub(crate) fn set_int(&self, level: libc::c_int, opt: libc::c_int, v: u32) -> io::Result<()> {
        let v = v.min(i32::MAX as u32) as libc::c_int;
        // SAFETY: setsockopt(2) with an int we own and its size.
        let r = unsafe {
            libc::setsockopt(
                self.fd(),
                level,
                opt,
                (&v as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// The receive buffer size the kernel reports (twice what was asked).
    pub(crate) fn rcvbuf(&self) -> u32 {
        let mut v: libc::c_int = 0;
        let mut l = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: getsockopt(2) into an int we own, with its size.
        let r = unsafe {
            libc::getsockopt(
                self.fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&mut v as *mut libc::c_int).cast(),
                &mut l,
            )
        };
        if r == 0 {
            v.max(0) as u32
        } else {
            0
        }
    }

    /// SO_RCVBUFFORCE (root may exceed `net.core.rmem_max`), SO_RCVBUF as fallback.
    /// Returns the size the kernel now reports.
    pub(crate) fn set_rcvbuf(&self, size: u32) -> u32 {
        if self
            .set_int(libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, size)
            .is_err()
        {
            let _ = self.set_int(libc::SOL_SOCKET, libc::SO_RCVBUF, size);
        }
        self.rcvbuf()
    }

    /// Attaches a classic BPF program: the kernel drops what it rejects before it
    /// reaches the receive buffer.
    pub(crate) fn attach_filter(&self, prog: &[Insn]) -> io::Result<()> {
        let mut raw: Vec<libc::sock_filter> = prog
            .iter()
            .map(|i| libc::sock_filter {
                code: i.code,
                jt: i.jt,
                jf: i.jf,
                k: i.k,
            })
            .collect();
        let fprog = libc::sock_fprog {
            len: raw.len() as libc::c_ushort,
            filter: raw.as_mut_ptr(),
        };
        // SAFETY: `fprog` points at `raw`, alive for the call; the kernel copies it.
        let r = unsafe {
            libc::setsockopt(
                self.fd(),
                libc::SOL_SOCKET,
                libc::SO_ATTACH_FILTER,
                (&fprog as *const libc::sock_fprog).cast(),
                std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
            )
        };
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Sends one request carrying `NLM_F_ACK` and sequence number `seq`, and waits (at
    /// most `timeout`) for the kernel's answer. Returns the kernel's errno on refusal.
    /// Other messages read meanwhile (packets arriving during configuration) are
    /// skipped; `scratch` is the buffer they are read into.
    pub(crate) fn request_ack(
        &self,
        msg: &[u8],
        seq: u32,
        scratch: &mut [u8],
        timeout: Duration,
    ) -> Result<(), i32> {
        self.send(msg)
            .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
        let deadline = Instant::now() + timeout;
        loop {
            let n = match self.recv(scratch) {
                Ok(Recv::Data(n)) => n,
                // A burst overran the socket while we configure: carry on waiting.
                Ok(Recv::Overrun) => continue,
                Ok(Recv::Again) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(libc::ETIMEDOUT);
                    }
                    self.wait_readable(left.min(Duration::from_millis(200)));
                    continue;
                }
                Err(e) => return Err(e.raw_os_error().unwrap_or(libc::EIO)),
            };
            if let Some(r) = ack_of(&scratch[..n], seq) {
                return r;
            }
        }
    }
}

/// The answer to request `seq` in one datagram, if it is there: `Ok` for an ACK,
/// the errno otherwise.
pub(crate) fn ack_of(buf: &[u8], seq: u32) -> Option<Result<(), i32>> {
    for m in NlmsgIter::new(buf) {
        let Ok(m) = m else { break };
        if m.msg_type() == NLMSG_ERROR && m.seq() == seq {
            return Some(match NlmsgErrView::new_checked(m.payload()) {
                Ok(e) if e.error() == 0 => Ok(()),
                Ok(e) => Err(e.error().saturating_neg()),
                Err(_) => Err(libc::EPROTO),
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::nlmsg::{NlmsgHeader, NLMSG_HDRLEN};

    fn err_msg(seq: u32, errno: i32) -> Vec<u8> {
        let mut v = vec![0u8; NLMSG_HDRLEN + 20];
        NlmsgHeader {
            len: v.len() as u32,
            msg_type: NLMSG_ERROR,
            seq,
            ..NlmsgHeader::default()
        }
        .emit(&mut v)
        .unwrap();
        v[16..20].copy_from_slice(&(-errno).to_ne_bytes());
        v
    }

    #[test]
    fn ack_is_matched_by_sequence_number() {
        let mut buf = err_msg(7, libc::EPERM);
        buf.extend(err_msg(8, 0));
        assert_eq!(ack_of(&buf, 8), Some(Ok(())));
        assert_eq!(ack_of(&buf, 7), Some(Err(libc::EPERM)));
        assert_eq!(ack_of(&buf, 9), None);
        // A truncated nlmsgerr is a protocol error, not a panic or an ACK.
        let mut short = err_msg(3, 0);
        short.truncate(NLMSG_HDRLEN + 2);
        short[0..4].copy_from_slice(&((NLMSG_HDRLEN + 2) as u32).to_ne_bytes());
        assert_eq!(ack_of(&short, 3), Some(Err(libc::EPROTO)));
    }

    #[test]
    fn route_socket_opens_without_privilege_and_reads_nothing() {
        // NETLINK_ROUTE without groups needs no capability.
        let s = NlSocket::open(Proto::Route, &[], "", "test socket").unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(s.recv(&mut buf).unwrap(), Recv::Again);
        assert!(s.rcvbuf() > 0);
    }

    #[test]
    fn missing_namespace_is_a_clear_error() {
        let e = NlSocket::open(
            Proto::Netfilter,
            &[],
            "/nonexistent/netns/x",
            "NFLOG socket",
        )
        .unwrap_err();
        assert!(e.to_string().contains("/nonexistent/netns/x"), "{e}");
    }
}
