//! NFLOG: packets logged by `nft ... log group N` / `iptables -j NFLOG`.
//!
//! One netlink socket per instance (shared by every stack naming it), opened by the
//! netlink edge ([`crate::nl`]), optionally inside another network namespace. The
//! configuration requests are built by [`ConfigRepr`] and each one's ACK is checked.
//! The hot path is one `recv()` into a reused [`RecvBuf`], drained until EAGAIN,
//! walked in place by the zero-copy [`NflogRepr`]: nothing is allocated per packet.
//!
//! Loss is never silent: kernel overruns (ENOBUFS) are counted (`overruns`), and the
//! packets they cost are counted from the kernel's sequence numbers (`lost_packets`),
//! which are requested internally even with `seq_local=0` (the `oob.seq.local` key
//! stays unset then, as asked).
//!
//! Shutdown: [`Source::drain`] unbinds the group first, which makes the kernel flush
//! the batch it still holds (`netlink_qthreshold` / `netlink_qtimeout`) into our
//! socket, and reads until the kernel's ACK, so no packet logged before SIGTERM is
//! dropped.

mod config;
mod seq;

use std::time::{Duration, Instant};

use ulogd_core::{Built, Emit, Flow, PluginError, PluginSpec, Source, SourceSetup, Wake};

use super::nflog_keys::{fill_ct, fill_from_repr, NFLOG_KEYS};
use crate::nl::{errno_text, has_net_admin, Input, NlSocket, Proto, RcvbufPolicy, RecvBuf, Walk};
use crate::wire::nflog::{
    ConfigMode, ConfigRepr, NFULNL_CFG_CMD_BIND, NFULNL_CFG_CMD_PF_BIND, NFULNL_CFG_CMD_PF_UNBIND,
    NFULNL_CFG_CMD_UNBIND, NFULNL_CFG_F_CONNTRACK, NFULNL_CFG_F_SEQ, NFULNL_CFG_F_SEQ_GLOBAL,
    NFULNL_COPY_PACKET,
};
use crate::wire::nlmsg::{NLMSG_DONE, NLMSG_ERROR, NLMSG_NOOP, NLMSG_OVERRUN};
use crate::wire::{ByteOrder, NflogRepr};
use config::NflogConfig;
pub(crate) use seq::SeqTracker;

/// Messages handled per wake-up before giving the loop a turn (signals, timers and
/// other sources stay responsive under a flood).
const BATCH: usize = 1024;
/// The kernel's cap on `NFULA_CFG_NLBUFSIZ`.
const MAX_NLBUFSIZ: u32 = 131_072;
/// How long a configuration request waits for its ACK.
const ACK_TIMEOUT: Duration = Duration::from_secs(2);
/// How long shutdown waits for the kernel's last batch.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// Everything the walker needs besides the socket and the buffer.
struct State {
    group: u16,
    label: u8,
    /// Whether `oob.seq.local` is wanted (`seq_local=1`); sequence numbers are asked
    /// for anyway, to count losses.
    seq_key: bool,
    rcvbuf: RcvbufPolicy,
    seq: SeqTracker,
    received: u64,
    parse_errors: u64,
    /// NFULA_CT attributes that did not parse (the packet was still logged).
    ct_errors: u64,
    /// Packets read at shutdown, after the unbind.
    drained: u64,
}

struct Nflog {
    cfg: NflogConfig,
    sock: Option<NlSocket>,
    rx: RecvBuf,
    st: State,
    next_cfg_seq: u32,
    unbound: bool,
}

fn flag_name(f: u16) -> &'static str {
    match f {
        NFULNL_CFG_F_SEQ => "seq_local",
        NFULNL_CFG_F_SEQ_GLOBAL => "seq_global",
        _ => "attach_conntrack",
    }
}

impl State {
    fn who(&self) -> String {
        format!("NFLOG group {}", self.group)
    }

    /// One input of the walker: a message becomes an event (its keys in the slots).
    fn input(
        &mut self,
        i: Input<'_>,
        time: (u32, u32),
        sock: &NlSocket,
        emit: &mut dyn Emit,
    ) -> Walk {
        let m = match i {
            Input::Msg(m) => m,
            Input::Overrun => {
                self.rcvbuf.on_overrun(Some(sock), &self.who(), "events");
                return Walk::Next;
            }
            Input::Malformed(e) => {
                self.parse_errors += 1;
                log::warn!(
                    "{}: malformed netlink data, rest of the read dropped: {e}",
                    self.who()
                );
                return Walk::Next;
            }
        };
        match m.msg_type() {
            NLMSG_OVERRUN => self.rcvbuf.on_overrun(Some(sock), &self.who(), "events"),
            NLMSG_NOOP | NLMSG_ERROR | NLMSG_DONE => {}
            _ => match NflogRepr::parse_nlmsg(&m) {
                Ok(r) => {
                    let label = self.label;
                    let keyed = if self.seq_key {
                        r
                    } else {
                        NflogRepr { seq: None, ..r }
                    };
                    // With attach_conntrack, NFULA_CT becomes the ct.* keys.
                    let mut ct_ok = true;
                    let res = emit.emit(&mut |ev| {
                        fill_from_repr(ev, &keyed, time, label);
                        ct_ok = fill_ct(ev, &keyed, ByteOrder::NATIVE);
                        true
                    });
                    if !ct_ok {
                        self.ct_errors += 1;
                    }
                    if res.is_err() {
                        // Pool empty: keep this message for Wake::Resume.
                        return Walk::Keep(Flow::Idle);
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
                            "{}: malformed message dropped ({} so far): {e}",
                            self.who(),
                            self.parse_errors
                        );
                    }
                }
            },
        }
        Walk::Next
    }

    fn check_seq(&mut self, s: u32) {
        if let Some(g) = self.seq.observe(s) {
            if self.seq.gaps().is_power_of_two() {
                log::warn!(
                    target: ulogd_core::ALWAYS,
                    "{}: {} packet(s) lost (kernel sequence {} -> {}); {} lost so far",
                    self.who(),
                    g.lost,
                    g.from,
                    g.to,
                    self.seq.lost()
                );
            }
        }
    }
}

impl Nflog {
    fn new(cfg: NflogConfig) -> Nflog {
        let st = State {
            group: cfg.group,
            label: cfg.label,
            seq_key: cfg.flags & NFULNL_CFG_F_SEQ != 0,
            rcvbuf: RcvbufPolicy::new(cfg.rcvbuf_max),
            seq: SeqTracker::default(),
            received: 0,
            parse_errors: 0,
            ct_errors: 0,
            drained: 0,
        };
        Nflog {
            cfg,
            sock: None,
            rx: RecvBuf::new(0),
            st,
            next_cfg_seq: 1,
            unbound: false,
        }
    }

    fn seq(&mut self) -> u32 {
        let s = self.next_cfg_seq;
        self.next_cfg_seq = self.next_cfg_seq.wrapping_add(1).max(1);
        s
    }

    /// Sends one config request and waits for its ACK; the kernel's errno on refusal.
    /// Packets that arrive meanwhile (before the source runs) are skipped.
    fn config(&mut self, family: u8, what: &ConfigRepr) -> Result<(), i32> {
        let seq = self.seq();
        let mut msg = Vec::with_capacity(what.buffer_len());
        what.emit_nlmsg(family, self.cfg.group, seq, &mut msg)
            .map_err(|_| libc::EINVAL)?;
        let Some(sock) = self.sock.as_ref() else {
            return Err(libc::EBADF);
        };
        let mut scratch = vec![0u8; self.cfg.bufsize];
        sock.request_ack(&msg, seq, &mut scratch, ACK_TIMEOUT)
    }
}

impl Source for Nflog {
    fn start(&mut self, setup: &mut dyn SourceSetup) -> Result<(), PluginError> {
        let g = self.cfg.group;
        self.sock = Some(NlSocket::open(
            Proto::Netfilter,
            &[],
            &self.cfg.netns,
            "netlink socket",
        )?);
        self.rx = RecvBuf::new(self.cfg.bufsize);

        if self.cfg.bind || g == 0 {
            for fam in [
                libc::AF_INET as u8,
                libc::AF_INET6 as u8,
                libc::AF_BRIDGE as u8,
            ] {
                // No-ops since Linux 3.17, needed before; a refusal is not fatal there.
                // EPERM (no CAP_NET_ADMIN) is only a debug line: the group bind
                // below fails for the same reason and says so with the fix.
                let level = |e: i32| {
                    if e == libc::EPERM {
                        log::Level::Debug
                    } else {
                        log::Level::Warn
                    }
                };
                if self.cfg.unbind {
                    if let Err(e) = self.config(fam, &ConfigRepr::command(NFULNL_CFG_CMD_PF_UNBIND))
                    {
                        log::log!(
                            level(e),
                            "NFLOG: cannot unbind the log handler of protocol family {fam}: {}",
                            errno_text(e)
                        );
                    }
                }
                if let Err(e) = self.config(fam, &ConfigRepr::command(NFULNL_CFG_CMD_PF_BIND)) {
                    log::log!(
                        level(e),
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
        if let Some(sock) = self.sock.as_ref() {
            let got = self.st.rcvbuf.init(sock, self.cfg.rcvbuf);
            if self.cfg.rcvbuf > 0 {
                log::info!("NFLOG group {g}: netlink socket buffer size set to {got}");
            }
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
        // 2.0.8 did ("unable to set flags 0x7" and no sequence numbers). Sequence
        // numbers are always asked for: they are how lost packets are counted.
        let mut flags = 0u16;
        for f in [
            NFULNL_CFG_F_SEQ,
            NFULNL_CFG_F_SEQ_GLOBAL,
            NFULNL_CFG_F_CONNTRACK,
        ] {
            if (self.cfg.flags | NFULNL_CFG_F_SEQ) & f == 0 {
                continue;
            }
            let c = ConfigRepr {
                flags: Some(flags | f),
                ..ConfigRepr::default()
            };
            match self.config(0, &c) {
                Ok(()) => flags |= f,
                Err(e) if self.cfg.flags & f == 0 => log::warn!(
                    "NFLOG group {g}: the kernel refused sequence numbers ({}); lost packets \
                     are counted as overruns only",
                    errno_text(e)
                ),
                Err(e) => log::error!(
                    "NFLOG group {g}: the kernel refused {}=1: {}; the other flags stay on",
                    flag_name(f),
                    errno_text(e)
                ),
            }
        }
        if let Some(s) = self.sock.as_ref() {
            setup.add_fd(s.fd());
        }
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
        let Nflog { sock, rx, st, .. } = self;
        let Some(sock) = sock.as_ref() else {
            return Ok(Flow::Finished);
        };
        let mut budget = BATCH;
        rx.pump(sock, &mut budget, |i, t| st.input(i, t, sock, emit))
            .map_err(|e| PluginError::new(format!("NFLOG group {}: recv: {e}", st.group)))
    }

    fn drain(&mut self, emit: &mut dyn Emit) {
        if self.sock.is_none() || self.unbound {
            return;
        }
        // Unbinding makes the kernel flush the batch it holds for this group into
        // our socket (`__nfulnl_flush` before the instance goes), then it ACKs.
        let seq = self.seq();
        let mut msg = Vec::new();
        if ConfigRepr::command(NFULNL_CFG_CMD_UNBIND)
            .emit_nlmsg(0, self.cfg.group, seq, &mut msg)
            .is_err()
        {
            return;
        }
        let Nflog {
            sock,
            rx,
            st,
            unbound,
            ..
        } = self;
        let Some(sock) = sock.as_ref() else { return };
        if let Err(e) = sock.send(&msg) {
            log::warn!("{}: cannot unbind at shutdown: {e}", st.who());
            return;
        }
        *unbound = true;
        let before = st.received;
        let deadline = Instant::now() + DRAIN_TIMEOUT;
        let mut acked = false;
        while !acked && Instant::now() < deadline {
            let mut budget = usize::MAX;
            let r = rx.pump(sock, &mut budget, |i, t| {
                if let Input::Msg(m) = &i {
                    if m.msg_type() == NLMSG_ERROR && m.seq() == seq {
                        acked = true;
                        return Walk::Stop(Flow::Idle);
                    }
                }
                st.input(i, t, sock, emit)
            });
            match r {
                // The ACK, or the pool ran empty: give the workers a moment.
                Ok(_) if !acked => {
                    if !rx.pending() {
                        sock.wait_readable(Duration::from_millis(20));
                    } else {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    log::warn!("{}: recv at shutdown: {e}", st.who());
                    break;
                }
            }
        }
        // What the ACK's datagram still carried after it.
        let mut budget = usize::MAX;
        let _ = rx.walk(&mut budget, |i, t| st.input(i, t, sock, emit));
        st.drained = st.received - before;
        if st.drained > 0 {
            log::info!(
                "{}: {} packet(s) still queued in the kernel were read at shutdown",
                st.who(),
                st.drained
            );
        }
        if rx.pending() {
            log::warn!(
                "{}: shutdown could not hand over {} byte(s) of logged packets (pool full)",
                st.who(),
                rx.remaining()
            );
        }
    }

    fn stop(&mut self) {
        if let Some(s) = self.sock.as_ref() {
            if !self.unbound {
                // Closing the socket releases the group anyway; say it politely first.
                let mut msg = Vec::new();
                if ConfigRepr::command(NFULNL_CFG_CMD_UNBIND)
                    .emit_nlmsg(0, self.cfg.group, 0, &mut msg)
                    .is_ok()
                {
                    let _ = s.send(&msg);
                }
            }
        }
        self.sock = None;
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        let st = &self.st;
        let seq_gaps = if st.seq_key { st.seq.lost() } else { 0 };
        vec![
            ("received", st.received),
            ("overruns", st.rcvbuf.overruns()),
            ("lost_packets", st.seq.lost()),
            ("seq_gaps", seq_gaps),
            ("parse_errors", st.parse_errors),
            ("ct_errors", st.ct_errors),
            ("drained_at_stop", st.drained),
            ("socket_buffer", u64::from(st.rcvbuf.current())),
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

    fn nflog(pairs: &[(&str, &str)]) -> Nflog {
        let defs = NflogConfig::options();
        let cfg = crate::sources::parse_config("NFLOG", "log1", &defs, pairs, |o| {
            NflogConfig::from_options(o)
        })
        .unwrap();
        Nflog::new(cfg)
    }

    #[test]
    fn sequence_gaps_are_counted() {
        let mut n = nflog(&[("seq_local", "1")]);
        for s in [1, 2, 3, 6, 7] {
            n.st.check_seq(s);
        }
        assert_eq!(n.st.seq.lost(), 2);
        n.st.check_seq(u32::MAX);
        n.st.check_seq(0); // wraps: no loss
        assert_eq!(n.st.seq.lost(), 2);
        let c = |n: &Nflog, k: &str| n.counters().into_iter().find(|(name, _)| *name == k);
        assert_eq!(c(&n, "seq_gaps"), Some(("seq_gaps", 2)));
        assert_eq!(c(&n, "lost_packets"), Some(("lost_packets", 2)));
        // Without seq_local the loss is still counted, but not as the key's gaps.
        let mut quiet = nflog(&[]);
        quiet.st.check_seq(1);
        quiet.st.check_seq(5);
        assert_eq!(c(&quiet, "lost_packets"), Some(("lost_packets", 3)));
        assert_eq!(c(&quiet, "seq_gaps"), Some(("seq_gaps", 0)));
    }

    #[test]
    fn missing_namespace_is_a_clear_start_error() {
        let e = NlSocket::open(
            Proto::Netfilter,
            &[],
            "/nonexistent/netns/x",
            "netlink socket",
        )
        .err()
        .unwrap();
        assert!(e.to_string().contains("/nonexistent/netns/x"), "{e}");
    }
}
