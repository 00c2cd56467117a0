//! The netlink edge: the only module of this crate that touches netlink sockets.
//!
//! Every netlink source (NFLOG, NFCT, NFACCT, NFQ/MTNFQ) and IFINDEX's rtnetlink
//! monitor goes through these few types, so socket set-up, error handling and loss
//! accounting are written once:
//!
//! - [`NlSocket`]: open (optionally inside another network namespace), bind, join
//!   multicast groups, non-blocking `send`/`recv`, socket options, BPF attach, and
//!   [`NlSocket::request_ack`] (send one request, wait for its ACK).
//! - [`RecvBuf`]: the reused receive buffer with a resumable cursor. A source hands
//!   it a closure that turns each message into keys (socket -> walker -> slots);
//!   when the engine's pool runs empty the message is kept and the walk resumes at
//!   the same byte on [`ulogd_core::Wake::Resume`].
//! - [`RcvbufPolicy`]: the socket receive buffer: initial size, growth on overrun
//!   (ENOBUFS) up to a maximum, rate-limited warnings. Pure decisions, unit-tested.
//! - [`errno_text`]: one way to print a kernel errno.
//!
//! `NLMSG_*` constants come from [`crate::wire::nlmsg`] only; messages are framed and
//! parsed by `wire/`, never by hand here.
#![allow(unsafe_code)]

mod netns;
mod rcvbuf;
mod recv;
mod socket;

pub(crate) use netns::in_netns;
pub(crate) use rcvbuf::RcvbufPolicy;
pub(crate) use recv::{Input, RecvBuf, Walk};
pub(crate) use socket::{Insn, NlSocket, Proto, Recv};

/// The text of an errno, without Rust's " (os error N)" suffix.
pub(crate) fn errno_text(e: i32) -> String {
    let s = std::io::Error::from_raw_os_error(e).to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Whether this process has CAP_NET_ADMIN (bit 12 of CapEff): the kernel answers
/// EPERM both to a process without it and to a bind of a resource another socket
/// holds, and only this tells the two apart.
pub(crate) fn has_net_admin() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .is_some_and(|caps| caps & (1 << 12) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_text_has_no_rust_suffix() {
        let t = errno_text(libc::ENOBUFS);
        assert!(!t.contains("os error"), "{t}");
        assert!(t.to_lowercase().contains("buffer"), "{t}");
    }
}
