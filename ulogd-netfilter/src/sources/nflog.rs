//! NFLOG: packets logged by `nft ... log group N` / `iptables -j NFLOG`.
//!
//! One netlink socket per instance (shared by every stack naming it), opened with
//! neli's low-level [`NlSocket`], optionally inside another network namespace. The
//! configuration requests are built by [`ConfigRepr`] and each one's ACK is checked.
//! The hot path is one `recv()` into a reused buffer of `bufsize` bytes, drained until
//! EAGAIN, walked in place by the zero-copy [`NlmsgIter`] and [`NflogRepr`]: nothing
//! is allocated per packet. Loss is never silent: kernel overruns (ENOBUFS) and, with
//! `seq_local`, gaps in the sequence numbers are counted, logged and reported.

use std::os::fd::{AsRawFd, RawFd};

use neli::consts::socket::{Msg, NlFamily};
use neli::socket::NlSocket;
use neli::utils::Groups;
use ulogd_core::{
    Built, Emit, Flow, OptionDef, Options, PluginError, PluginSpec, Source, SourceSetup, Wake,
};

use super::nflog_keys::{fill_ct, fill_from_repr, now, NFLOG_KEYS};
use crate::wire::nflog::{
    ConfigMode, ConfigRepr, NFULNL_CFG_CMD_BIND, NFULNL_CFG_CMD_PF_BIND, NFULNL_CFG_CMD_PF_UNBIND,
    NFULNL_CFG_CMD_UNBIND, NFULNL_CFG_F_CONNTRACK, NFULNL_CFG_F_SEQ, NFULNL_CFG_F_SEQ_GLOBAL,
    NFULNL_COPY_PACKET,
};
use crate::wire::ByteOrder;
use crate::wire::{NflogRepr, NlmsgErrView, NlmsgIter};

const NLMSG_NOOP: u16 = 1;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLMSG_OVERRUN: u16 = 4;
/// Messages handled per wake-up before giving the loop a turn (signals, timers and
/// other sources stay responsive under a flood).
const BATCH: usize = 1024;
/// Smallest accepted `bufsize`: one full-size NFLOG message must fit.
const MIN_BUFSIZE: usize = 8192;
/// The kernel's cap on `NFULA_CFG_NLBUFSIZ`.
const MAX_NLBUFSIZ: u32 = 131_072;

/// Validated NFLOG options.
#[derive(Clone, Debug, PartialEq, Eq)]
struct NflogConfig {
    group: u16,
    bufsize: usize,
    bind: bool,
    unbind: bool,
    /// `NFULNL_CFG_F_*` asked for.
    flags: u16,
    label: u8,
    rcvbuf: u32,
    rcvbuf_max: u32,
    qthresh: u32,
    qtimeout: u32,
    netns: String,
}

fn cfg_err(e: ulogd_core::ConfigError) -> PluginError {
    PluginError::from(e)
}

impl NflogConfig {
    fn options() -> Vec<OptionDef> {
        vec![
            OptionDef::int("bufsize", "150000", "bytes read per recv() (at least 8192)"),
            OptionDef::int(
                "group",
                "0",
                "NFLOG group (nft log group N, iptables --nflog-group N), 0 to 65535",
            ),
            OptionDef::int(
                "unbind",
                "1",
                "unbind the protocol family handler before binding it (pre-2.6.29 kernels)",
            ),
            OptionDef::int(
                "bind",
                "0",
                "bind the protocol family handlers for AF_INET/INET6/BRIDGE (done anyway for group 0)",
            ),
            OptionDef::int(
                "seq_local",
                "0",
                "ask for per-group sequence numbers (oob.seq.local); gaps are counted as lost events",
            ),
            OptionDef::int(
                "seq_global",
                "0",
                "ask for global sequence numbers (oob.seq.global)",
            ),
            OptionDef::int("numeric_label", "0", "value of raw.label (0 to 255)"),
            OptionDef::int(
                "netlink_socket_buffer_size",
                "0",
                "socket receive buffer in bytes (SO_RCVBUFFORCE; 0 = kernel default)",
            ),
            OptionDef::int(
                "netlink_socket_buffer_maxsize",
                "0",
                "on overrun, double the socket buffer up to this size (0 = never grow)",
            ),
            OptionDef::int(
                "netlink_qthreshold",
                "0",
                "packets the kernel batches per message (0 = kernel default, 1)",
            ),
            OptionDef::int(
                "netlink_qtimeout",
                "0",
                "kernel flush timeout in 1/100 s (0 = kernel default, 100)",
            ),
            OptionDef::int(
                "attach_conntrack",
                "0",
                "ask the kernel to attach the packet's conntrack entry (NFULA_CT)",
            ),
            OptionDef::string(
                "network_namespace_path",
                "",
                "open the socket in this network namespace (e.g. /var/run/netns/NAME)",
            ),
        ]
    }

    fn from_options(o: &Options) -> Result<NflogConfig, PluginError> {
        let group = o.u32("group").map_err(cfg_err)?;
        let group = u16::try_from(group)
            .map_err(|_| cfg_err(o.error("group", "must be between 0 and 65535")))?;
        let label = u8::try_from(o.int("numeric_label"))
            .map_err(|_| cfg_err(o.error("numeric_label", "must be between 0 and 255")))?;
        let bufsize = o.u32("bufsize").map_err(cfg_err)? as usize;
        if bufsize < MIN_BUFSIZE {
            return Err(cfg_err(o.error(
                "bufsize",
                format_args!("must be at least {MIN_BUFSIZE} (one NFLOG message must fit)"),
            )));
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
        let rcvbuf = o.u32("netlink_socket_buffer_size").map_err(cfg_err)?;
        let rcvbuf_max = o.u32("netlink_socket_buffer_maxsize").map_err(cfg_err)?;
        if rcvbuf_max != 0 && rcvbuf_max < rcvbuf {
            return Err(cfg_err(o.error(
                "netlink_socket_buffer_maxsize",
                "must not be smaller than netlink_socket_buffer_size",
            )));
        }
        Ok(NflogConfig {
            group,
            bufsize,
            bind: o.bool("bind"),
            unbind: o.bool("unbind"),
            flags,
            label,
            rcvbuf,
            rcvbuf_max,
            qthresh: o.u32("netlink_qthreshold").map_err(cfg_err)?,
            qtimeout: o.u32("netlink_qtimeout").map_err(cfg_err)?,
            netns: o.str("network_namespace_path").to_string(),
        })
    }
}

struct Nflog {
    cfg: NflogConfig,
    sock: Option<NlSocket>,
    buf: Vec<u8>,
    /// Unprocessed bytes `buf[pos..len]`, left when the pool ran empty or the batch
    /// limit was reached.
    pos: usize,
    len: usize,
    /// When `buf` was read: the time of packets without a kernel timestamp.
    read_time: (u32, u32),
    /// Socket buffer size as asked (the kernel reports twice this).
    cur_rcvbuf: u32,
    max_reached_warned: bool,
    last_seq: Option<u32>,
    next_cfg_seq: u32,
    received: u64,
    overruns: u64,
    seq_gaps: u64,
    parse_errors: u64,
    /// NFULA_CT attributes that did not parse (the packet was still logged).
    ct_errors: u64,
}

/// Opens and binds the netlink socket, inside another network namespace if `netns` is
/// set: a short-lived thread enters the namespace (`setns` changes only the calling
/// thread), creates the socket and hands it back; the socket stays in that namespace.
fn open_socket(netns: &str) -> Result<NlSocket, PluginError> {
    super::netns::in_netns(netns, "netlink socket", || {
        NlSocket::connect(NlFamily::Netfilter, None, Groups::empty())
    })
}

/// The text of an errno, without Rust's " (os error N)" suffix.
fn errno_text(e: i32) -> String {
    let s = std::io::Error::from_raw_os_error(e).to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Whether this process has CAP_NET_ADMIN (bit 12 of CapEff).
fn has_net_admin() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .is_some_and(|caps| caps & (1 << 12) != 0)
}

fn flag_name(f: u16) -> &'static str {
    match f {
        NFULNL_CFG_F_SEQ => "seq_local",
        NFULNL_CFG_F_SEQ_GLOBAL => "seq_global",
        _ => "attach_conntrack",
    }
}

impl Nflog {
    fn new(cfg: NflogConfig) -> Nflog {
        Nflog {
            cfg,
            sock: None,
            buf: Vec::new(),
            pos: 0,
            len: 0,
            read_time: (0, 0),
            cur_rcvbuf: 0,
            max_reached_warned: false,
            last_seq: None,
            next_cfg_seq: 1,
            received: 0,
            overruns: 0,
            seq_gaps: 0,
            parse_errors: 0,
            ct_errors: 0,
        }
    }

    fn raw(&self) -> RawFd {
        self.sock.as_ref().map_or(-1, |s| s.as_raw_fd())
    }

    /// Sends one config request (`NLM_F_ACK`) and waits for its answer; returns the
    /// kernel's errno on refusal. Packets that arrive meanwhile are skipped.
    fn config(&mut self, family: u8, what: &ConfigRepr) -> Result<(), i32> {
        let seq = self.next_cfg_seq;
        self.next_cfg_seq += 1;
        let mut msg = Vec::with_capacity(what.buffer_len());
        what.emit_nlmsg(family, self.cfg.group, seq, &mut msg)
            .map_err(|_| libc::EINVAL)?;
        let Some(sock) = self.sock.as_ref() else {
            return Err(libc::EBADF);
        };
        sock.send(&msg, Msg::empty())
            .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
        loop {
            let n = match sock.recv(&mut self.buf[..], Msg::empty()) {
                Ok((n, _)) => n,
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                // A burst overran the socket while we configure: carry on waiting.
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => continue,
                Err(e) => return Err(e.raw_os_error().unwrap_or(libc::EIO)),
            };
            for m in NlmsgIter::new(&self.buf[..n]) {
                let Ok(m) = m else { break };
                if m.msg_type() == NLMSG_ERROR && m.seq() == seq {
                    let e = NlmsgErrView::new_checked(m.payload()).map_err(|_| libc::EPROTO)?;
                    return match e.error() {
                        0 => Ok(()),
                        e => Err(e.saturating_neg()),
                    };
                }
            }
        }
    }

    fn sockopt_int(&self, opt: libc::c_int, v: u32) -> bool {
        let v = v.min(i32::MAX as u32) as libc::c_int;
        // SAFETY: setsockopt with an int value we own, on our socket.
        unsafe {
            libc::setsockopt(
                self.raw(),
                libc::SOL_SOCKET,
                opt,
                (&v as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            ) == 0
        }
    }

    /// The kernel's receive buffer size (twice what was asked).
    fn kernel_rcvbuf(&self) -> u32 {
        let mut v: libc::c_int = 0;
        let mut l = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: getsockopt into an int we own.
        let r = unsafe {
            libc::getsockopt(
                self.raw(),
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
    fn set_rcvbuf(&mut self, size: u32) -> u32 {
        if !self.sockopt_int(libc::SO_RCVBUFFORCE, size) {
            self.sockopt_int(libc::SO_RCVBUF, size);
        }
        self.cur_rcvbuf = size;
        self.kernel_rcvbuf()
    }

    fn on_overrun(&mut self) {
        self.overruns += 1;
        let g = self.cfg.group;
        if self.cfg.rcvbuf_max > self.cur_rcvbuf {
            let new = self.cur_rcvbuf.saturating_mul(2).min(self.cfg.rcvbuf_max);
            let got = self.set_rcvbuf(new);
            log::warn!(
                "NFLOG group {g}: kernel dropped events (socket buffer full, {} overrun(s) so far); \
                 socket buffer raised to {new} bytes (kernel reports {got}), \
                 netlink_socket_buffer_maxsize={}",
                self.overruns,
                self.cfg.rcvbuf_max
            );
        } else if self.cfg.rcvbuf_max > 0 && !self.max_reached_warned {
            self.max_reached_warned = true;
            log::warn!(
                "NFLOG group {g}: kernel dropped events (socket buffer full) and the socket \
                 buffer is at netlink_socket_buffer_maxsize ({} bytes); raise \
                 netlink_socket_buffer_maxsize (overruns are still counted)",
                self.cfg.rcvbuf_max
            );
        } else if self.cfg.rcvbuf_max == 0 && self.overruns.is_power_of_two() {
            log::warn!(
                "NFLOG group {g}: kernel dropped events (socket buffer full, {} overrun(s) so far); \
                 raise netlink_socket_buffer_size (now {}) or set netlink_socket_buffer_maxsize",
                self.overruns,
                self.cur_rcvbuf
            );
        }
    }

    fn check_seq(&mut self, s: u32) {
        if let Some(last) = self.last_seq {
            let gap = s.wrapping_sub(last).wrapping_sub(1);
            // A huge "gap" is a step backwards (kernel restarted the count): no loss.
            if gap != 0 && gap < u32::MAX / 2 {
                self.seq_gaps += u64::from(gap);
                log::warn!(
                    "NFLOG group {}: {gap} event(s) lost (oob.seq.local {last} -> {s})",
                    self.cfg.group
                );
            }
        }
        self.last_seq = Some(s);
    }

    /// Walks `buf[pos..len]`. `Some(flow)` when the run must end here.
    fn drain_buffer(&mut self, emit: &mut dyn Emit, handled: &mut usize) -> Option<Flow> {
        let (label, fallback) = (self.cfg.label, self.read_time);
        while self.pos < self.len {
            let mut iter = NlmsgIter::new(&self.buf[self.pos..self.len]);
            let m = match iter.next() {
                Some(Ok(m)) => m,
                Some(Err(e)) => {
                    self.parse_errors += 1;
                    log::warn!(
                        "NFLOG group {}: malformed netlink data, rest of the read dropped: {e}",
                        self.cfg.group
                    );
                    self.pos = self.len;
                    break;
                }
                None => {
                    self.pos = self.len;
                    break;
                }
            };
            let step = (m.len() as usize + 3) & !3;
            match m.msg_type() {
                NLMSG_OVERRUN => self.on_overrun(),
                NLMSG_NOOP | NLMSG_ERROR | NLMSG_DONE => {}
                _ => match NflogRepr::parse_nlmsg(&m) {
                    Ok(r) => {
                        // With attach_conntrack, NFULA_CT becomes the ct.* keys.
                        let mut ct_ok = true;
                        let res = emit.emit(&mut |ev| {
                            fill_from_repr(ev, &r, fallback, label);
                            ct_ok = fill_ct(ev, &r, ByteOrder::NATIVE);
                            true
                        });
                        if !ct_ok {
                            self.ct_errors += 1;
                        }
                        if res.is_err() {
                            // Pool empty: keep this message for Wake::Resume.
                            return Some(Flow::Idle);
                        }
                        self.received += 1;
                        if let Some(s) = r.seq {
                            self.check_seq(s);
                        }
                    }
                    Err(e) => {
                        self.parse_errors += 1;
                        if self.parse_errors.is_power_of_two() {
                            log::warn!(
                                "NFLOG group {}: malformed message dropped ({} so far): {e}",
                                self.cfg.group,
                                self.parse_errors
                            );
                        }
                    }
                },
            }
            self.pos = (self.pos + step.max(1)).min(self.len);
            *handled += 1;
            if *handled >= BATCH {
                return Some(Flow::Again);
            }
        }
        None
    }
}

impl Source for Nflog {
    fn start(&mut self, setup: &mut dyn SourceSetup) -> Result<(), PluginError> {
        let sock = open_socket(&self.cfg.netns)?;
        // Bound the wait for ACKs during configuration.
        let tv = libc::timeval {
            tv_sec: 2,
            tv_usec: 0,
        };
        // SAFETY: setsockopt with a timeval we own, on our socket.
        unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            );
        }
        self.sock = Some(sock);
        self.buf = vec![0; self.cfg.bufsize];
        let g = self.cfg.group;

        if self.cfg.bind || g == 0 {
            for fam in [
                libc::AF_INET as u8,
                libc::AF_INET6 as u8,
                libc::AF_BRIDGE as u8,
            ] {
                // No-ops since Linux 3.17, needed before; a refusal is not fatal there.
                if self.cfg.unbind {
                    if let Err(e) = self.config(fam, &ConfigRepr::command(NFULNL_CFG_CMD_PF_UNBIND))
                    {
                        log::warn!(
                            "NFLOG: cannot unbind the log handler of protocol family {fam}: {}",
                            errno_text(e)
                        );
                    }
                }
                if let Err(e) = self.config(fam, &ConfigRepr::command(NFULNL_CFG_CMD_PF_BIND)) {
                    log::warn!(
                        "NFLOG: cannot bind the log handler of protocol family {fam}: {}",
                        errno_text(e)
                    );
                }
            }
        }
        self.config(0, &ConfigRepr::command(NFULNL_CFG_CMD_BIND))
            .map_err(|e| {
                // The kernel answers EPERM both to a process without CAP_NET_ADMIN
                // and, since Linux 2.6.x, to a bind of a group another socket holds.
                let busy = e == libc::EBUSY || (e == libc::EPERM && has_net_admin());
                let (text, hint) = if busy {
                    (errno_text(libc::EBUSY), " (another ulogd running?)")
                } else if e == libc::EPERM {
                    (errno_text(e), " (needs CAP_NET_ADMIN)")
                } else {
                    (errno_text(e), "")
                };
                PluginError::new(format!("cannot bind NFLOG group {g}: {text}{hint}"))
            })?;
        let mode = ConfigRepr {
            mode: Some(ConfigMode {
                copy_range: 0xffff,
                copy_mode: NFULNL_COPY_PACKET,
            }),
            ..ConfigRepr::default()
        };
        self.config(0, &mode).map_err(|e| {
            PluginError::new(format!(
                "NFLOG group {g}: cannot set copy mode: {}",
                errno_text(e)
            ))
        })?;
        if self.cfg.rcvbuf > 0 {
            let got = self.set_rcvbuf(self.cfg.rcvbuf);
            log::info!("NFLOG group {g}: netlink socket buffer size set to {got}");
        } else {
            self.cur_rcvbuf = self.kernel_rcvbuf() / 2;
        }
        if self.cfg.qthresh > 0 {
            let c = ConfigRepr {
                qthresh: Some(self.cfg.qthresh),
                // Let a whole batch fit in one kernel message (capped by the kernel
                // and by our read buffer).
                nlbufsiz: (self.cfg.qthresh > 1)
                    .then(|| (self.cfg.bufsize as u32).min(MAX_NLBUFSIZ)),
                ..ConfigRepr::default()
            };
            match self.config(0, &c) {
                Ok(()) => log::info!(
                    "NFLOG group {g}: netlink queue threshold set to {}",
                    self.cfg.qthresh
                ),
                Err(e) => log::error!(
                    "NFLOG group {g}: cannot set netlink_qthreshold: {}",
                    errno_text(e)
                ),
            }
        }
        if self.cfg.qtimeout > 0 {
            let c = ConfigRepr {
                timeout: Some(self.cfg.qtimeout),
                ..ConfigRepr::default()
            };
            match self.config(0, &c) {
                Ok(()) => log::info!(
                    "NFLOG group {g}: netlink queue timeout set to {}",
                    self.cfg.qtimeout
                ),
                Err(e) => log::error!(
                    "NFLOG group {g}: cannot set netlink_qtimeout: {}",
                    errno_text(e)
                ),
            }
        }
        // One flag at a time, cumulatively: a flag the kernel refuses (conntrack
        // attach without nf_conntrack) does not silently drop the others, as ulogd2
        // 2.0.8 did ("unable to set flags 0x7" and no sequence numbers).
        let mut flags = 0u16;
        for f in [
            NFULNL_CFG_F_SEQ,
            NFULNL_CFG_F_SEQ_GLOBAL,
            NFULNL_CFG_F_CONNTRACK,
        ] {
            if self.cfg.flags & f == 0 {
                continue;
            }
            let c = ConfigRepr {
                flags: Some(flags | f),
                ..ConfigRepr::default()
            };
            match self.config(0, &c) {
                Ok(()) => flags |= f,
                Err(e) => log::error!(
                    "NFLOG group {g}: the kernel refused {}=1: {}; the other flags stay on",
                    flag_name(f),
                    errno_text(e)
                ),
            }
        }
        if let Some(s) = self.sock.as_ref() {
            s.nonblock().map_err(|e| {
                PluginError::new(format!("NFLOG group {g}: cannot set O_NONBLOCK: {e}"))
            })?;
        }
        setup.add_fd(self.raw());
        log::info!(
            "NFLOG group {g} bound{}{}",
            if self.cfg.netns.is_empty() {
                ""
            } else {
                " in "
            },
            self.cfg.netns
        );
        Ok(())
    }

    fn run(&mut self, _wake: Wake, emit: &mut dyn Emit) -> Result<Flow, PluginError> {
        let mut handled = 0;
        loop {
            if let Some(flow) = self.drain_buffer(emit, &mut handled) {
                return Ok(flow);
            }
            let Some(sock) = self.sock.as_ref() else {
                return Ok(Flow::Finished);
            };
            match sock.recv(&mut self.buf[..], Msg::empty()) {
                Ok((n, _)) => {
                    self.pos = 0;
                    self.len = n;
                    self.read_time = now();
                }
                Err(e) => match e.raw_os_error() {
                    Some(libc::EAGAIN) => return Ok(Flow::Idle),
                    Some(libc::EINTR) => continue,
                    Some(libc::ENOBUFS) => self.on_overrun(),
                    _ => {
                        return Err(PluginError::new(format!(
                            "NFLOG group {}: recv: {e}",
                            self.cfg.group
                        )))
                    }
                },
            }
        }
    }

    fn stop(&mut self) {
        if self.sock.is_some() {
            // Closing the socket releases the group anyway; say it politely first.
            if let Some(s) = self.sock.as_ref() {
                let mut msg = Vec::new();
                if ConfigRepr::command(NFULNL_CFG_CMD_UNBIND)
                    .emit_nlmsg(0, self.cfg.group, 0, &mut msg)
                    .is_ok()
                {
                    let _ = s.send(&msg, Msg::DONTWAIT);
                }
            }
            self.sock = None;
        }
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("received", self.received),
            ("overruns", self.overruns),
            ("seq_gaps", self.seq_gaps),
            ("parse_errors", self.parse_errors),
            ("ct_errors", self.ct_errors),
            ("socket_buffer", u64::from(self.cur_rcvbuf)),
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
        options: NflogConfig::options(),
        inputs: vec![],
        outputs: NFLOG_KEYS.to_vec(),
        wildcard: false,
        build: Box::new(|ctx| {
            Ok(Built::Source {
                source: Box::new(Nflog::new(NflogConfig::from_options(ctx.options)?)),
                outputs: NFLOG_KEYS.to_vec(),
            })
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<NflogConfig, String> {
        let o = Options::from_pairs("NFLOG", "log1", &NflogConfig::options(), pairs)
            .map_err(|e| format!("{e:?}"))?;
        NflogConfig::from_options(&o).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_are_ulogd2s() {
        let c = parse(&[]).unwrap();
        assert_eq!(
            c,
            NflogConfig {
                group: 0,
                bufsize: 150_000,
                bind: false,
                unbind: true,
                flags: 0,
                label: 0,
                rcvbuf: 0,
                rcvbuf_max: 0,
                qthresh: 0,
                qtimeout: 0,
                netns: String::new(),
            }
        );
    }

    #[test]
    fn every_option_is_read() {
        let c = parse(&[
            ("group", "5"),
            ("bufsize", "0x10000"),
            ("bind", "1"),
            ("unbind", "0"),
            ("seq_local", "1"),
            ("seq_global", "1"),
            ("attach_conntrack", "1"),
            ("numeric_label", "7"),
            ("netlink_socket_buffer_size", "8192"),
            ("netlink_socket_buffer_maxsize", "1048576"),
            ("netlink_qthreshold", "20"),
            ("netlink_qtimeout", "50"),
            ("network_namespace_path", "/var/run/netns/x"),
        ])
        .unwrap();
        assert_eq!(c.group, 5);
        assert_eq!(c.bufsize, 65536);
        assert!(c.bind && !c.unbind);
        assert_eq!(
            c.flags,
            NFULNL_CFG_F_SEQ | NFULNL_CFG_F_SEQ_GLOBAL | NFULNL_CFG_F_CONNTRACK
        );
        assert_eq!(c.label, 7);
        assert_eq!((c.rcvbuf, c.rcvbuf_max), (8192, 1_048_576));
        assert_eq!((c.qthresh, c.qtimeout), (20, 50));
        assert_eq!(c.netns, "/var/run/netns/x");
    }

    #[test]
    fn out_of_range_values_are_refused_by_name() {
        for (k, v) in [
            ("group", "65536"),
            ("group", "-1"),
            ("numeric_label", "256"),
            ("bufsize", "100"),
        ] {
            let e = parse(&[(k, v)]).unwrap_err();
            assert!(e.contains(k), "{k}={v}: {e}");
        }
        let e = parse(&[
            ("netlink_socket_buffer_size", "1000000"),
            ("netlink_socket_buffer_maxsize", "1000"),
        ])
        .unwrap_err();
        assert!(e.contains("netlink_socket_buffer_maxsize"), "{e}");
    }

    #[test]
    fn sequence_gaps_are_counted() {
        let mut n = Nflog::new(parse(&[("seq_local", "1")]).unwrap());
        for s in [1, 2, 3, 6, 7] {
            n.check_seq(s);
        }
        assert_eq!(n.seq_gaps, 2);
        n.check_seq(u32::MAX);
        n.check_seq(0); // wraps: no loss
        assert_eq!(n.seq_gaps, 2);
    }

    #[test]
    fn missing_namespace_is_a_clear_start_error() {
        let e = open_socket("/nonexistent/netns/x").err().unwrap();
        assert!(e.to_string().contains("/nonexistent/netns/x"), "{e}");
    }
}
