//! NFLOG: packets logged by `nft ... log group N` / `iptables -j NFLOG`.
//!
//! One netlink socket per instance (shared by every stack naming it). The hot path is
//! a plain `recv()` into one reused buffer of `bufsize` bytes, drained until EAGAIN,
//! walked in place by the zero-copy [`NlmsgIter`] and [`NflogRepr`]: nothing is
//! allocated per packet. Loss is never silent: kernel overruns (ENOBUFS) and, with
//! `seq_local`, gaps in the sequence numbers are counted, logged and shown by SIGUSR1.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use ulogd_core::{
    Built, Emit, Flow, OptionDef, Options, PluginError, PluginSpec, Source, SourceSetup, Wake,
};

use super::nflog_keys::{fill_from_repr, now, NFLOG_KEYS};
use crate::wire::nflog::{
    ConfigMode, ConfigRepr, NFULNL_CFG_CMD_BIND, NFULNL_CFG_CMD_PF_BIND, NFULNL_CFG_CMD_PF_UNBIND,
    NFULNL_CFG_F_CONNTRACK, NFULNL_CFG_F_SEQ, NFULNL_CFG_F_SEQ_GLOBAL, NFULNL_COPY_PACKET,
};
use crate::wire::{NflogRepr, NlmsgErrView, NlmsgIter};

const NETLINK_NETFILTER: i32 = 12;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLMSG_OVERRUN: u16 = 4;
/// Messages handled per wake-up before giving the loop a turn.
const BATCH: usize = 4096;

struct Nflog {
    group: u16,
    bufsize: usize,
    bind: bool,
    unbind: bool,
    flags: u16,
    label: u8,
    rcvbuf: u32,
    rcvbuf_max: u32,
    qthresh: u32,
    qtimeout: u32,
    netns: String,
    fd: Option<OwnedFd>,
    buf: Vec<u8>,
    /// Unprocessed bytes `buf[pos..len]` left when the pool ran empty.
    pos: usize,
    len: usize,
    cur_rcvbuf: u32,
    last_seq: Option<u32>,
    received: u64,
    overruns: u64,
    seq_gaps: u64,
    parse_errors: u64,
}

fn errno() -> std::io::Error {
    std::io::Error::last_os_error()
}

/// Opens the socket, inside another network namespace if `netns` is set: a short-lived
/// thread enters the namespace, creates the socket and returns it; the socket stays in
/// that namespace.
fn open_socket(netns: &str) -> Result<OwnedFd, PluginError> {
    let make = || -> Result<OwnedFd, String> {
        // SAFETY: plain socket(2); the descriptor is owned right away.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                NETLINK_NETFILTER,
            )
        };
        if fd < 0 {
            return Err(format!("cannot open netlink socket: {}", errno()));
        }
        // SAFETY: fd is a fresh descriptor we own.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    };
    if netns.is_empty() {
        return make().map_err(PluginError::new);
    }
    let ns = std::fs::File::open(netns)
        .map_err(|e| PluginError::new(format!("network_namespace_path {netns}: {e}")))?;
    let nsfd = ns.as_raw_fd();
    let r = std::thread::spawn(move || {
        // SAFETY: setns on this thread only, with a namespace fd we keep open.
        if unsafe { libc::setns(nsfd, libc::CLONE_NEWNET) } != 0 {
            return Err(format!("cannot enter network namespace: {}", errno()));
        }
        make()
    })
    .join()
    .map_err(|_| PluginError::new("namespace thread panicked"))?;
    drop(ns);
    r.map_err(|e| PluginError::new(format!("{netns}: {e}")))
}

impl Nflog {
    fn options() -> Vec<OptionDef> {
        vec![
            OptionDef::int("bufsize", "150000", "bytes read per recv()"),
            OptionDef::int(
                "group",
                "0",
                "NFLOG group (nft log group N, iptables --nflog-group N)",
            ),
            OptionDef::int(
                "unbind",
                "1",
                "unbind the protocol family handler first (pre-2.6.29 kernels)",
            ),
            OptionDef::int(
                "bind",
                "0",
                "bind the protocol family handlers (done anyway for group 0)",
            ),
            OptionDef::int(
                "seq_local",
                "0",
                "ask for per-group sequence numbers (oob.seq.local); gaps are counted as loss",
            ),
            OptionDef::int(
                "seq_global",
                "0",
                "ask for global sequence numbers (oob.seq.global)",
            ),
            OptionDef::int("numeric_label", "0", "value copied to raw.label"),
            OptionDef::int(
                "netlink_socket_buffer_size",
                "0",
                "initial socket receive buffer (bytes; 0 = kernel default)",
            ),
            OptionDef::int(
                "netlink_socket_buffer_maxsize",
                "0",
                "on overrun, double the buffer up to this size",
            ),
            OptionDef::int(
                "netlink_qthreshold",
                "0",
                "kernel batch size in packets (0 = kernel default)",
            ),
            OptionDef::int(
                "netlink_qtimeout",
                "0",
                "kernel flush timeout in 1/100 s (0 = kernel default)",
            ),
            OptionDef::int(
                "attach_conntrack",
                "0",
                "ask the kernel to attach conntrack information",
            ),
            OptionDef::string(
                "network_namespace_path",
                "",
                "open the socket in this network namespace (e.g. /var/run/netns/NAME)",
            ),
        ]
    }

    fn build(o: &Options) -> Result<Nflog, PluginError> {
        let to_plugin = |e: ulogd_core::ConfigError| PluginError::new(e.to_string());
        let group = o.u32("group").map_err(to_plugin)?;
        if group > u16::MAX as u32 {
            return Err(PluginError::new(
                o.error("group", "must be 0 to 65535").to_string(),
            ));
        }
        let mut flags = 0;
        if o.bool("seq_local") {
            flags |= NFULNL_CFG_F_SEQ;
        }
        if o.bool("seq_global") {
            flags |= NFULNL_CFG_F_SEQ_GLOBAL;
        }
        if o.bool("attach_conntrack") {
            flags |= NFULNL_CFG_F_CONNTRACK;
        }
        let bufsize = o.u32("bufsize").map_err(to_plugin)?.max(4096) as usize;
        Ok(Nflog {
            group: group as u16,
            bufsize,
            bind: o.bool("bind"),
            unbind: o.bool("unbind"),
            flags,
            label: o.int("numeric_label") as u8,
            rcvbuf: o.u32("netlink_socket_buffer_size").map_err(to_plugin)?,
            rcvbuf_max: o.u32("netlink_socket_buffer_maxsize").map_err(to_plugin)?,
            qthresh: o.u32("netlink_qthreshold").map_err(to_plugin)?,
            qtimeout: o.u32("netlink_qtimeout").map_err(to_plugin)?,
            netns: o.str("network_namespace_path").to_string(),
            fd: None,
            buf: Vec::new(),
            pos: 0,
            len: 0,
            cur_rcvbuf: 0,
            last_seq: None,
            received: 0,
            overruns: 0,
            seq_gaps: 0,
            parse_errors: 0,
        })
    }

    fn raw(&self) -> RawFd {
        self.fd.as_ref().map_or(-1, |f| f.as_raw_fd())
    }

    /// Sends one config message and waits for its ACK. Returns the kernel's errno.
    fn config(&self, family: u8, what: &ConfigRepr, seq: u32) -> Result<(), i32> {
        let mut msg = Vec::with_capacity(64);
        what.emit_nlmsg(family, self.group, seq, &mut msg)
            .map_err(|_| libc::EINVAL)?;
        // SAFETY: sending our own buffer on our socket; the kernel address is zeroed.
        let sent = unsafe {
            let mut sa: libc::sockaddr_nl = std::mem::zeroed();
            sa.nl_family = libc::AF_NETLINK as u16;
            libc::sendto(
                self.raw(),
                msg.as_ptr().cast(),
                msg.len(),
                0,
                (&sa as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            )
        };
        if sent < 0 {
            return Err(errno().raw_os_error().unwrap_or(libc::EIO));
        }
        let mut buf = [0u8; 8192];
        loop {
            // SAFETY: recv into our stack buffer; SO_RCVTIMEO bounds the wait.
            let n = unsafe { libc::recv(self.raw(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                return Err(errno().raw_os_error().unwrap_or(libc::EIO));
            }
            for m in NlmsgIter::new(&buf[..n as usize]) {
                let Ok(m) = m else { return Err(libc::EPROTO) };
                if m.msg_type() == NLMSG_ERROR && m.seq() == seq {
                    let e = NlmsgErrView::new_checked(m.payload()).map_err(|_| libc::EPROTO)?;
                    return if e.error() == 0 {
                        Ok(())
                    } else {
                        Err(-e.error())
                    };
                }
            }
        }
    }

    fn set_rcvbuf(&mut self, size: u32) {
        let v = size as libc::c_int;
        // SAFETY: setsockopt with an int option value we own.
        unsafe {
            let p = (&v as *const libc::c_int).cast();
            let l = std::mem::size_of::<libc::c_int>() as u32;
            if libc::setsockopt(self.raw(), libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, p, l) != 0 {
                libc::setsockopt(self.raw(), libc::SOL_SOCKET, libc::SO_RCVBUF, p, l);
            }
        }
        self.cur_rcvbuf = size;
    }

    fn on_overrun(&mut self) {
        self.overruns += 1;
        if self.rcvbuf_max > self.cur_rcvbuf {
            let base = if self.cur_rcvbuf == 0 {
                212_992
            } else {
                self.cur_rcvbuf
            };
            let new = base.saturating_mul(2).min(self.rcvbuf_max);
            self.set_rcvbuf(new);
            log::warn!(
                "NFLOG group {}: kernel dropped events (socket buffer full, {} overruns so far); buffer raised to {new} bytes",
                self.group,
                self.overruns
            );
        } else if self.overruns.is_power_of_two() {
            log::warn!(
                "NFLOG group {}: kernel dropped events (socket buffer full, {} overruns so far); raise netlink_socket_buffer_size / netlink_socket_buffer_maxsize",
                self.group,
                self.overruns
            );
        }
    }
}

impl Source for Nflog {
    fn start(&mut self, setup: &mut dyn SourceSetup) -> Result<(), PluginError> {
        let fd = open_socket(&self.netns)?;
        // SAFETY: bind our netlink socket to an automatically assigned port id; set a
        // receive timeout for the configuration phase.
        unsafe {
            let mut sa: libc::sockaddr_nl = std::mem::zeroed();
            sa.nl_family = libc::AF_NETLINK as u16;
            if libc::bind(
                fd.as_raw_fd(),
                (&sa as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            ) != 0
            {
                return Err(PluginError::new(format!(
                    "cannot bind netlink socket: {}",
                    errno()
                )));
            }
            let tv = libc::timeval {
                tv_sec: 2,
                tv_usec: 0,
            };
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as u32,
            );
        }
        self.fd = Some(fd);
        let g = self.group;
        let ctx = |what: &str, e: i32| {
            PluginError::new(format!(
                "NFLOG group {g}: {what}: {}{}",
                std::io::Error::from_raw_os_error(e),
                if e == libc::EBUSY {
                    " (another ulogd or NFLOG reader already holds this group?)"
                } else {
                    ""
                }
            ))
        };
        let mut seq = 1;
        if self.bind || self.group == 0 {
            for fam in [
                libc::AF_INET as u8,
                libc::AF_INET6 as u8,
                libc::AF_BRIDGE as u8,
            ] {
                if self.unbind {
                    let _ = self.config(fam, &ConfigRepr::command(NFULNL_CFG_CMD_PF_UNBIND), seq);
                    seq += 1;
                }
                // Obsolete since Linux 3.17; harmless, and needed on older kernels.
                let _ = self.config(fam, &ConfigRepr::command(NFULNL_CFG_CMD_PF_BIND), seq);
                seq += 1;
            }
        }
        self.config(0, &ConfigRepr::command(NFULNL_CFG_CMD_BIND), seq)
            .map_err(|e| ctx("cannot bind", e))?;
        seq += 1;
        let mode = ConfigRepr {
            mode: Some(ConfigMode {
                copy_range: 0xffff,
                copy_mode: NFULNL_COPY_PACKET,
            }),
            ..ConfigRepr::default()
        };
        self.config(0, &mode, seq)
            .map_err(|e| ctx("cannot set copy mode", e))?;
        seq += 1;
        if self.qthresh > 0 {
            let c = ConfigRepr {
                qthresh: Some(self.qthresh),
                ..ConfigRepr::default()
            };
            self.config(0, &c, seq)
                .map_err(|e| ctx("cannot set netlink_qthreshold", e))?;
            seq += 1;
        }
        if self.qtimeout > 0 {
            let c = ConfigRepr {
                timeout: Some(self.qtimeout),
                ..ConfigRepr::default()
            };
            self.config(0, &c, seq)
                .map_err(|e| ctx("cannot set netlink_qtimeout", e))?;
            seq += 1;
        }
        // Each flag on its own, so one the kernel refuses does not silently drop the
        // others (ulogd2 2.0.8 lost seq numbers when conntrack attach failed).
        let mut flags = 0u16;
        for f in [
            NFULNL_CFG_F_SEQ,
            NFULNL_CFG_F_SEQ_GLOBAL,
            NFULNL_CFG_F_CONNTRACK,
        ] {
            if self.flags & f == 0 {
                continue;
            }
            let c = ConfigRepr {
                flags: Some(flags | f),
                ..ConfigRepr::default()
            };
            match self.config(0, &c, seq) {
                Ok(()) => flags |= f,
                Err(e) => log::error!(
                    "NFLOG group {}: the kernel refused flag {} ({}); the other flags stay on",
                    self.group,
                    match f {
                        NFULNL_CFG_F_SEQ => "seq_local",
                        NFULNL_CFG_F_SEQ_GLOBAL => "seq_global",
                        _ => "attach_conntrack",
                    },
                    std::io::Error::from_raw_os_error(e)
                ),
            }
            seq += 1;
        }
        if self.rcvbuf > 0 {
            self.set_rcvbuf(self.rcvbuf);
        }
        // SAFETY: fcntl on our descriptor.
        unsafe {
            let fl = libc::fcntl(self.raw(), libc::F_GETFL);
            libc::fcntl(self.raw(), libc::F_SETFL, fl | libc::O_NONBLOCK);
        }
        self.buf = vec![0; self.bufsize];
        setup.add_fd(self.raw());
        log::info!(
            "NFLOG group {} bound{}",
            self.group,
            if self.netns.is_empty() {
                String::new()
            } else {
                format!(" in {}", self.netns)
            }
        );
        Ok(())
    }

    fn run(&mut self, _wake: Wake, emit: &mut dyn Emit) -> Result<Flow, PluginError> {
        let mut handled = 0;
        loop {
            if self.pos >= self.len {
                // SAFETY: recv into our buffer of self.buf.len() bytes.
                let n = unsafe {
                    libc::recv(self.raw(), self.buf.as_mut_ptr().cast(), self.buf.len(), 0)
                };
                if n < 0 {
                    let e = errno();
                    match e.raw_os_error() {
                        Some(libc::EAGAIN) => return Ok(Flow::Idle),
                        Some(libc::EINTR) => continue,
                        Some(libc::ENOBUFS) => {
                            self.on_overrun();
                            continue;
                        }
                        _ => {
                            return Err(PluginError::new(format!(
                                "NFLOG group {}: recv: {e}",
                                self.group
                            )))
                        }
                    }
                }
                self.pos = 0;
                self.len = n as usize;
            }
            let label = self.label;
            let fallback = now();
            while self.pos < self.len {
                let mut iter = NlmsgIter::new(&self.buf[self.pos..self.len]);
                let Some(m) = iter.next() else {
                    self.pos = self.len;
                    break;
                };
                let m = match m {
                    Ok(m) => m,
                    Err(e) => {
                        self.parse_errors += 1;
                        log::warn!(
                            "NFLOG group {}: malformed netlink data dropped: {e}",
                            self.group
                        );
                        self.pos = self.len;
                        break;
                    }
                };
                let step = ((m.len() as usize + 3) & !3).max(16);
                match m.msg_type() {
                    NLMSG_OVERRUN => self.on_overrun(),
                    NLMSG_ERROR | NLMSG_DONE => {}
                    _ => {
                        match NflogRepr::parse_nlmsg(&m) {
                            Ok(r) => {
                                if emit
                                    .emit(&mut |ev| {
                                        fill_from_repr(ev, &r, fallback, label);
                                        true
                                    })
                                    .is_err()
                                {
                                    // Pool empty: resume at this message.
                                    return Ok(Flow::Idle);
                                }
                                self.received += 1;
                                if let Some(s) = r.seq {
                                    if let Some(last) = self.last_seq {
                                        let gap = s.wrapping_sub(last).wrapping_sub(1);
                                        if gap != 0 && gap < u32::MAX / 2 {
                                            self.seq_gaps += gap as u64;
                                            log::warn!("NFLOG group {}: {gap} event(s) lost (sequence {last} -> {s})", self.group);
                                        }
                                    }
                                    self.last_seq = Some(s);
                                }
                            }
                            Err(e) => {
                                self.parse_errors += 1;
                                if self.parse_errors.is_power_of_two() {
                                    log::warn!("NFLOG group {}: malformed message dropped ({} so far): {e}", self.group, self.parse_errors);
                                }
                            }
                        }
                    }
                }
                self.pos += step;
                handled += 1;
            }
            if handled >= BATCH {
                return Ok(Flow::Again);
            }
        }
    }

    fn stop(&mut self) {
        self.fd = None;
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("received", self.received),
            ("overruns", self.overruns),
            ("seq_gaps", self.seq_gaps),
            ("parse_errors", self.parse_errors),
        ]
    }
}

/// The NFLOG plugin.
pub fn spec() -> PluginSpec {
    PluginSpec {
        name: "NFLOG",
        aliases: &[],
        kind: ulogd_core::Kind::Source,
        summary: "packets from the kernel's NFLOG (nft log group N, iptables -j NFLOG)",
        options: Nflog::options(),
        inputs: vec![],
        outputs: NFLOG_KEYS.to_vec(),
        wildcard: false,
        build: Box::new(|ctx| {
            Ok(Built::Source {
                source: Box::new(Nflog::build(ctx.options)?),
                outputs: NFLOG_KEYS.to_vec(),
            })
        }),
    }
}

#[allow(dead_code)]
const _: Duration = Duration::ZERO;
