//! NFCT: connection tracking flows from ctnetlink (`NETLINK_NETFILTER`).
//!
//! Two sockets per instance, optionally inside another network namespace: an *event*
//! socket subscribed to the conntrack multicast groups of `event_mask` (event mode),
//! and a *dump* socket for table dumps (initial fill of the flow cache, polling,
//! resync after an overrun, SIGUSR2 dump-and-zero), so dump replies never interleave
//! with events. Both are read into reused buffers and walked in place with the
//! zero-copy [`CtRepr`]; a record is a `Copy` [`CtFlow`], so nothing is allocated per
//! event.
//!
//! Modes, as ulogd2 2.0.8 (see `ulogd2-2.0.8.md`), minus its bugs:
//! - event mode with `hash_enable=1` (default): NEW/UPDATE events and the initial dump
//!   fill the [`FlowTable`]; only DESTROY reaches the outputs, with `flow.start.*`
//!   (kernel timestamp if `nf_conntrack_timestamp=1`, else when we saw NEW) and
//!   `flow.end.*` (kernel stop time, else when we saw DESTROY).
//! - event mode with `hash_enable=0`: every event of `event_mask` is emitted (ulogd2
//!   dropped UPDATEs as "unsupported message type").
//! - polling mode (`pollinterval=N`, needs the hash): the table is dumped every N s;
//!   flows gone since the last dump are emitted as DESTROY with their last counters.
//! - after a receive-buffer overrun (ENOBUFS) in hash mode, the table is dumped again
//!   after `netlink_resync_timeout` s and flows that vanished meanwhile are emitted as
//!   DESTROY, so no flow end is missed; `reliable=1` asks the kernel for reliable
//!   delivery instead (`NETLINK_BROADCAST_ERROR` + `NETLINK_NO_ENOBUFS`).
//! - `accept_src_filter`, `accept_dst_filter`, `accept_proto_filter` compile to a
//!   classic BPF program attached to the event socket (the kernel drops what does not
//!   match) and are applied to every dump too (ulogd2 forgot dumps, so SIGUSR2 leaked
//!   filtered flows). An address list accepts only the networks it names, of
//!   either family: with only IPv4 networks in `accept_src_filter`, IPv6 flows are
//!   dropped (as ulogd2, which adds a negative filter for the other family).
//! - SIGUSR2 dumps and zeroes the kernel counters (`IPCTNL_MSG_CT_GET_CTRZERO`); every
//!   flow is emitted with `ct.event=2`, filtered like events, in every mode (ulogd2
//!   crashed without the hash or with a shared instance).
//!
//! Counters (SIGUSR1 and the final report): `kernel_events` (conntrack events
//! accepted), `records` (emitted), `overruns` (ENOBUFS), `resyncs`, `vanished` (flow
//! ends found by a dump: polling, or events lost to an overrun), `parse_errors`,
//! `filtered` (events the userspace filter dropped: 0 while the kernel filter works),
//! `dumps`, `dump_errors`, `cache_size`, `cache_full` (flows the full cache could not
//! take).

mod bpf;
mod config;
mod filter;
pub(crate) use filter::Cidr;
mod scheduler;
mod table;

use std::collections::VecDeque;
use std::time::Duration;

use ulogd_core::{Built, Emit, Flow, PluginError, PluginSpec, Signal, Source, SourceSetup, Wake};

use super::nfct_keys::{
    fill, ns_to_ts, CtFlow, Ts, CT_EVENT_DESTROY, CT_EVENT_NEW, CT_EVENT_UPDATE, NFCT_KEYS,
};
use super::nflog_keys::now;
use crate::nl::{errno_text, Input, NlSocket, Proto, RcvbufPolicy, Recv, RecvBuf, Walk};
use crate::wire::ctnetlink::{
    emit_dump_ctrzero_request, emit_dump_request, AF_UNSPEC, NFNLGRP_CONNTRACK_DESTROY,
    NFNLGRP_CONNTRACK_NEW, NFNLGRP_CONNTRACK_UPDATE,
};
use crate::wire::nlmsg::{NLMSG_DONE, NLMSG_ERROR, NLMSG_NOOP, NLMSG_OVERRUN, NLM_F_DUMP_INTR};
use crate::wire::{CtEvent, CtRepr, NlmsgErrView, NlmsgView};
use bpf::{compile_filter, BPF_MAXINSNS};
use config::NfctConfig;
use scheduler::{Dump, DumpKind, DumpScheduler};
use table::{FlowTable, Record};

/// Messages handled per wake-up before giving the loop a turn.
const BATCH: usize = 1024;
/// Receive buffer of the event socket: one event per datagram, so up to
/// `EVENT_BATCH` datagrams of at most `EVENT_BUF` bytes are read per system call.
const EVENT_BUF: usize = 16 * 1024;
/// Datagrams per read on the event socket.
const EVENT_BATCH: usize = 32;
/// Receive buffer of the dump socket (the kernel fills dump skbs up to 32 KiB).
const DUMP_BUF: usize = 64 * 1024;
/// Records queued at most between two drains without allocating.
const OUT_RESERVE: usize = 1024;
/// "Never" for a one-shot timer that is armed later.
const FAR: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

#[derive(Default)]
struct Stats {
    events: u64,
    records: u64,
    overruns: u64,
    resyncs: u64,
    parse_errors: u64,
    filtered: u64,
    dumps: u64,
    dump_errors: u64,
    vanished: u64,
}

struct Nfct {
    cfg: NfctConfig,
    ev_sock: Option<NlSocket>,
    dump_sock: Option<NlSocket>,
    ev_rx: RecvBuf,
    dump_rx: RecvBuf,
    table: Option<FlowTable>,
    out: VecDeque<Record>,
    dumps: DumpScheduler,
    poll_timer: Option<usize>,
    resync_timer: Option<usize>,
    resync_armed: bool,
    rcvbuf: RcvbufPolicy,
    kernel_filter: bool,
    /// `dropped_full` when the cache-full warning was last logged.
    full_logged: u64,
    stats: Stats,
}

impl Nfct {
    fn new(cfg: NfctConfig) -> Nfct {
        let rcvbuf_max = cfg.rcvbuf_max;
        let table = cfg
            .hash
            .then(|| FlowTable::new(cfg.hash_buckets, cfg.hash_max));
        Nfct {
            cfg,
            ev_sock: None,
            dump_sock: None,
            ev_rx: RecvBuf::new(0),
            dump_rx: RecvBuf::new(0),
            table,
            out: VecDeque::with_capacity(OUT_RESERVE),
            dumps: DumpScheduler::default(),
            poll_timer: None,
            resync_timer: None,
            resync_armed: false,
            rcvbuf: RcvbufPolicy::new(rcvbuf_max),
            kernel_filter: false,
            full_logged: 0,
            stats: Stats::default(),
        }
    }

    fn name(&self) -> String {
        if self.cfg.netns.is_empty() {
            "NFCT".to_string()
        } else {
            format!("NFCT in {}", self.cfg.netns)
        }
    }

    fn event_mode(&self) -> bool {
        self.cfg.pollinterval == 0
    }

    /// Queues a dump, or sends it if none is in flight.
    fn request_dump(&mut self, kind: DumpKind) {
        let Some(seq) = self.dumps.request(kind) else {
            return;
        };
        let mut msg = Vec::with_capacity(32);
        let built = match kind {
            DumpKind::CtrZero => emit_dump_ctrzero_request(AF_UNSPEC, seq, &mut msg),
            _ => emit_dump_request(AF_UNSPEC, seq, &mut msg),
        };
        let Some(sock) = self.dump_sock.as_ref() else {
            return;
        };
        if built.is_err() {
            return;
        }
        match sock.send(&msg) {
            Ok(()) => {
                if kind != DumpKind::CtrZero {
                    if let Some(t) = self.table.as_mut() {
                        t.begin_dump();
                    }
                }
                self.stats.dumps += 1;
                self.dumps.started(kind, seq);
            }
            Err(e) => {
                self.stats.dump_errors += 1;
                log::error!(
                    "{}: cannot request a table dump ({kind:?}): {e}",
                    self.name()
                );
            }
        }
    }

    fn finish_dump(&mut self, ok: bool) {
        let Some(Dump {
            kind,
            interrupted: intr,
            ..
        }) = self.dumps.finish()
        else {
            return;
        };
        if kind != DumpKind::CtrZero {
            if ok && !intr {
                let now = now();
                if let Some(t) = self.table.as_mut() {
                    let n = t.end_dump(now, &mut self.out);
                    self.stats.vanished += n as u64;
                    if n > 0 && kind == DumpKind::Resync {
                        log::warn!(
                            "{}: resync found {n} flow(s) whose end event was lost; emitted as DESTROY",
                            self.name()
                        );
                    }
                }
            } else if intr {
                log::warn!(
                    "{}: the table changed during the dump (NLM_F_DUMP_INTR); vanished flows \
                     are looked for at the next one",
                    self.name()
                );
            }
        }
        if let Some(next) = self.dumps.next_queued() {
            self.request_dump(next);
        }
    }

    fn on_overrun(&mut self, emit: &mut dyn Emit) {
        self.stats.overruns += 1;
        let name = self.name();
        self.rcvbuf
            .on_overrun(self.ev_sock.as_ref(), &name, "conntrack events");
        if self.table.is_some() && !self.resync_armed {
            if let Some(t) = self.resync_timer {
                self.resync_armed = true;
                emit.arm_timer(t, Duration::from_secs(u64::from(self.cfg.resync_timeout)));
                log::warn!(
                    "{name}: the flow table will be dumped again in {} s so that no flow end is missed",
                    self.cfg.resync_timeout
                );
            }
        } else if self.table.is_none() && self.stats.overruns == 1 {
            log::warn!("{name}: without hash_enable=1 lost events cannot be recovered");
        }
    }

    /// Logs (rate-limited) flows the full cache could not take.
    fn check_full(&mut self) {
        let d = self.table.as_ref().map_or(0, |t| t.dropped_full);
        if d > self.full_logged && d.is_power_of_two() {
            self.full_logged = d;
            log::warn!(
                "{}: flow cache full (hash_max_entries={}); {d} flow(s) not cached so far: \
                 their records lack a start time, and in polling mode their end is missed",
                self.name(),
                self.cfg.hash_max
            );
        }
    }

    fn parse_error(&mut self, e: impl std::fmt::Display) {
        self.stats.parse_errors += 1;
        if self.stats.parse_errors.is_power_of_two() {
            log::warn!(
                "{}: malformed conntrack message dropped ({} so far): {e}",
                self.name(),
                self.stats.parse_errors
            );
        }
    }

    /// One message of the event socket.
    fn handle_event(&mut self, m: &NlmsgView<&[u8]>, now: Ts, emit: &mut dyn Emit) {
        match m.msg_type() {
            NLMSG_OVERRUN => return self.on_overrun(emit),
            NLMSG_NOOP | NLMSG_ERROR | NLMSG_DONE => return,
            _ => {}
        }
        let r = match CtRepr::parse_nlmsg(m) {
            Ok(r) => r,
            Err(e) => return self.parse_error(e),
        };
        let Some(orig) = r.orig else {
            return self.parse_error("conntrack event without an original tuple");
        };
        if !self.cfg.filter.accepts(&orig) {
            self.stats.filtered += 1;
            return;
        }
        self.stats.events += 1;
        let flow = CtFlow::from_repr(&r);
        if let Some(t) = self.table.as_mut() {
            match r.event {
                CtEvent::New => t.on_new(&flow, now),
                CtEvent::Update => t.on_update(&flow),
                CtEvent::Destroy => {
                    let rec = t.on_destroy(&flow, now);
                    self.out.push_back(rec);
                }
                CtEvent::Get => {}
            }
            self.check_full();
            return;
        }
        let kstart = flow.kstart.map(ns_to_ts);
        let rec = match r.event {
            CtEvent::New if self.cfg.event_mask & 1 != 0 => Record {
                flow,
                event: CT_EVENT_NEW,
                start: Some(kstart.unwrap_or(now)),
                end: None,
            },
            CtEvent::Update if self.cfg.event_mask & 2 != 0 => Record {
                flow,
                event: CT_EVENT_UPDATE,
                start: kstart,
                end: None,
            },
            CtEvent::Destroy if self.cfg.event_mask & 4 != 0 => Record {
                flow,
                event: CT_EVENT_DESTROY,
                start: kstart,
                end: Some(flow.kstop.map(ns_to_ts).unwrap_or(now)),
            },
            _ => return,
        };
        self.out.push_back(rec);
    }

    /// One message of the dump socket.
    fn handle_dump(&mut self, m: &NlmsgView<&[u8]>, now: Ts) {
        let Some(Dump { kind, seq, .. }) = self.dumps.current() else {
            return;
        };
        if m.seq() != seq {
            return;
        }
        if m.flags() & NLM_F_DUMP_INTR != 0 {
            self.dumps.interrupt();
        }
        match m.msg_type() {
            NLMSG_DONE => return self.finish_dump(true),
            NLMSG_ERROR => {
                let err = NlmsgErrView::new_checked(m.payload())
                    .map_or(libc::EPROTO, |e| e.error().saturating_neg());
                if err != 0 {
                    self.stats.dump_errors += 1;
                    log::error!(
                        "{}: the kernel refused the table dump ({kind:?}): {}",
                        self.name(),
                        errno_text(err)
                    );
                }
                return self.finish_dump(err == 0);
            }
            NLMSG_NOOP | NLMSG_OVERRUN => return,
            _ => {}
        }
        let r = match CtRepr::parse_nlmsg(m) {
            Ok(r) => r,
            Err(e) => return self.parse_error(e),
        };
        let Some(orig) = r.orig else {
            return self.parse_error("conntrack dump entry without an original tuple");
        };
        if !self.cfg.filter.accepts(&orig) {
            return;
        }
        let flow = CtFlow::from_repr(&r);
        match kind {
            DumpKind::Initial | DumpKind::Resync => {
                if let Some(t) = self.table.as_mut() {
                    t.on_dump_entry(&flow, None);
                }
                self.check_full();
            }
            DumpKind::Poll => {
                if let Some(t) = self.table.as_mut() {
                    t.on_dump_entry(&flow, Some(now));
                }
                self.check_full();
            }
            DumpKind::CtrZero => {
                let start = flow
                    .kstart
                    .map(ns_to_ts)
                    .or_else(|| self.table.as_ref().and_then(|t| t.start_of(&flow)));
                if let Some(t) = self.table.as_mut() {
                    t.on_update(&flow);
                }
                self.out.push_back(Record {
                    flow,
                    event: CT_EVENT_UPDATE,
                    start,
                    end: None,
                });
            }
        }
    }

    /// Emits queued records. `false` when the pool ran empty.
    fn drain_out(&mut self, emit: &mut dyn Emit) -> bool {
        while let Some(rec) = self.out.front().copied() {
            let res = emit.emit(&mut |ev| {
                fill(ev, &rec.flow, rec.event, rec.start, rec.end);
                true
            });
            if res.is_err() {
                return false;
            }
            self.out.pop_front();
            self.stats.records += 1;
        }
        true
    }

    /// Handles the next message read from the event (`dump = false`) or dump socket.
    fn step(&mut self, dump: bool, emit: &mut dyn Emit) {
        let slot = if dump {
            &mut self.dump_rx
        } else {
            &mut self.ev_rx
        };
        let mut rx = std::mem::replace(slot, RecvBuf::new(0));
        let mut budget = 1;
        rx.walk(&mut budget, |i, time| {
            match i {
                Input::Msg(m) if dump => self.handle_dump(&m, time),
                Input::Msg(m) => self.handle_event(&m, time, emit),
                Input::Malformed(e) => {
                    self.parse_error(format_args!(
                        "malformed netlink data, rest of the read dropped: {e}"
                    ));
                    if dump && self.dumps.current().is_some() {
                        // The dump cannot be trusted to be complete.
                        self.stats.dump_errors += 1;
                        self.finish_dump(false);
                    }
                }
                Input::Overrun => {}
            }
            Walk::Next
        });
        if dump {
            self.dump_rx = rx;
        } else {
            self.ev_rx = rx;
        }
    }

    /// Reads one datagram; `Ok(false)` on EAGAIN.
    fn recv(&mut self, dump: bool, emit: &mut dyn Emit) -> Result<bool, PluginError> {
        let (sock, rx) = if dump {
            (self.dump_sock.as_ref(), &mut self.dump_rx)
        } else {
            (self.ev_sock.as_ref(), &mut self.ev_rx)
        };
        let Some(sock) = sock else { return Ok(false) };
        match rx.fill(sock) {
            Ok(Recv::Data(_)) => Ok(true),
            Ok(Recv::Again) => Ok(false),
            Ok(Recv::Overrun) if !dump => {
                self.on_overrun(emit);
                Ok(true)
            }
            Ok(Recv::Overrun) => {
                // A dump reply was lost: the dump is incomplete.
                self.stats.dump_errors += 1;
                log::warn!("{}: dump reply lost (ENOBUFS); dump abandoned", self.name());
                self.dumps.interrupt();
                Ok(true)
            }
            Err(e) => Err(PluginError::new(format!(
                "{}: recv on the {} socket: {e}",
                self.name(),
                if dump { "dump" } else { "event" }
            ))),
        }
    }
}

impl Source for Nfct {
    fn start(&mut self, setup: &mut dyn SourceSetup) -> Result<(), PluginError> {
        let event_mode = self.event_mode();
        let mask = self.cfg.event_mask;
        let groups: Vec<u32> = [
            (1, NFNLGRP_CONNTRACK_NEW),
            (2, NFNLGRP_CONNTRACK_UPDATE),
            (4, NFNLGRP_CONNTRACK_DESTROY),
        ]
        .iter()
        .filter(|(bit, _)| mask & bit != 0)
        .map(|(_, g)| *g)
        .collect();
        let ev = if event_mode {
            Some(NlSocket::open(
                Proto::Netfilter,
                &groups,
                &self.cfg.netns,
                "ctnetlink event socket",
            )?)
        } else {
            None
        };
        let dump = NlSocket::open(
            Proto::Netfilter,
            &[],
            &self.cfg.netns,
            "ctnetlink dump socket",
        )?;
        let name = self.name();
        if let Some(ev) = ev.as_ref() {
            let got = self.rcvbuf.init(ev, self.cfg.rcvbuf);
            if self.cfg.rcvbuf > 0 {
                log::info!("{name}: netlink socket buffer size set to {got}");
            }
            if self.cfg.reliable {
                let r = ev
                    .set_int(libc::SOL_NETLINK, libc::NETLINK_BROADCAST_ERROR, 1)
                    .and_then(|()| ev.set_int(libc::SOL_NETLINK, libc::NETLINK_NO_ENOBUFS, 1));
                if let Err(e) = r {
                    return Err(PluginError::new(format!(
                        "{name}: cannot enable reliable event delivery: {e}"
                    )));
                }
                log::info!("{name}: reliable event delivery enabled");
            }
            if let Some(prog) = compile_filter(&self.cfg.filter) {
                if prog.len() > BPF_MAXINSNS {
                    log::warn!(
                        "{name}: accept filters too long for a kernel socket filter \
                         ({} instructions); filtering in userspace only",
                        prog.len()
                    );
                } else {
                    match ev.attach_filter(&prog) {
                        Ok(()) => self.kernel_filter = true,
                        Err(e) => log::warn!(
                            "{name}: cannot attach the kernel socket filter ({e}); \
                             filtering in userspace only"
                        ),
                    }
                }
            }
        }
        // Dumps of big tables need room; the kernel retries a dump when the reader
        // catches up, but a generous buffer keeps it fast.
        dump.set_rcvbuf((4 * DUMP_BUF) as u32);
        if let Some(ev) = ev.as_ref() {
            setup.add_fd(ev.fd());
            self.ev_rx = RecvBuf::batched(EVENT_BUF, EVENT_BATCH);
        }
        setup.add_fd(dump.fd());
        self.dump_rx = RecvBuf::new(DUMP_BUF);
        self.ev_sock = ev;
        self.dump_sock = Some(dump);
        if event_mode {
            if self.table.is_some() {
                self.resync_timer = Some(setup.add_timer(FAR, None));
                self.request_dump(DumpKind::Initial);
            }
        } else {
            let p = Duration::from_secs(u64::from(self.cfg.pollinterval));
            self.poll_timer = Some(setup.add_timer(p, Some(p)));
            self.request_dump(DumpKind::Poll);
        }
        log::info!(
            "{name}: {} mode{}{}",
            if event_mode { "event" } else { "polling" },
            if self.table.is_some() {
                ", flow cache on"
            } else {
                ""
            },
            if self.kernel_filter {
                ", kernel filter attached"
            } else {
                ""
            }
        );
        Ok(())
    }

    fn run(&mut self, wake: Wake, emit: &mut dyn Emit) -> Result<Flow, PluginError> {
        if let Wake::Timer(t) = wake {
            if Some(t) == self.poll_timer {
                self.request_dump(DumpKind::Poll);
            } else if Some(t) == self.resync_timer {
                self.resync_armed = false;
                self.stats.resyncs += 1;
                self.request_dump(DumpKind::Resync);
            }
        }
        let mut handled = 0;
        let (mut ev_idle, mut dump_idle) = (false, false);
        loop {
            if !self.drain_out(emit) {
                return Ok(Flow::Idle);
            }
            if handled >= BATCH {
                return Ok(Flow::Again);
            }
            if self.ev_rx.pending() {
                self.step(false, emit);
                handled += 1;
                continue;
            }
            if self.dump_rx.pending() {
                self.step(true, emit);
                handled += 1;
                continue;
            }
            if !ev_idle {
                ev_idle = !self.recv(false, emit)?;
                if !ev_idle {
                    continue;
                }
            }
            if !dump_idle {
                dump_idle = !self.recv(true, emit)?;
                if !dump_idle {
                    continue;
                }
            }
            return Ok(Flow::Idle);
        }
    }

    fn signal(&mut self, sig: Signal, _emit: &mut dyn Emit) {
        if sig == Signal::Usr2 && self.dump_sock.is_some() {
            log::info!("{}: SIGUSR2: dumping and zeroing counters", self.name());
            self.request_dump(DumpKind::CtrZero);
        }
    }

    fn stop(&mut self) {
        self.ev_sock = None;
        self.dump_sock = None;
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        let s = &self.stats;
        vec![
            ("kernel_events", s.events),
            ("records", s.records),
            ("overruns", s.overruns),
            ("resyncs", s.resyncs),
            ("parse_errors", s.parse_errors),
            ("filtered", s.filtered),
            ("dumps", s.dumps),
            ("dump_errors", s.dump_errors),
            ("vanished", s.vanished),
            (
                "cache_size",
                self.table.as_ref().map_or(0, |t| t.len() as u64),
            ),
            (
                "cache_full",
                self.table.as_ref().map_or(0, |t| t.dropped_full),
            ),
        ]
    }
}

/// The NFCT plugin.
pub fn spec() -> PluginSpec {
    PluginSpec {
        name: "NFCT",
        aliases: &[],
        kind: ulogd_core::Kind::Source,
        summary: "connection tracking flows from ctnetlink (events, polling, flow cache)",
        options: NfctConfig::options(),
        inputs: vec![],
        outputs: NFCT_KEYS.to_vec(),
        wildcard: false,
        build: Box::new(|ctx| {
            Ok(Built::Source {
                source: Box::new(Nfct::new(NfctConfig::from_options(ctx.options)?)),
                outputs: NFCT_KEYS.to_vec(),
            })
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::NlmsgIter;

    use super::config::tests::parse;

    struct NoEmit;
    impl Emit for NoEmit {
        fn emit(
            &mut self,
            _fill: &mut dyn FnMut(&mut ulogd_core::Event<'_>) -> bool,
        ) -> Result<(), ulogd_core::PoolEmpty> {
            Err(ulogd_core::PoolEmpty)
        }
        fn arm_timer(&mut self, _timer: usize, _after: Duration) {}
    }

    /// Real kernel events (`tests/fixtures/ctnetlink/events.bin`, see capture.py there)
    /// through the event path, with and without the cache.
    #[test]
    fn captured_events_become_records() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/ctnetlink/events.bin"
        );
        let buf = std::fs::read(path).unwrap();
        let msgs: Vec<NlmsgView<&[u8]>> = NlmsgIter::new(&buf).map(|m| m.unwrap()).collect();
        let kinds: Vec<CtEvent> = msgs
            .iter()
            .map(|m| CtRepr::parse_nlmsg(m).unwrap().event)
            .collect();
        let count = |e: CtEvent| kinds.iter().filter(|&&k| k == e).count();
        assert!(count(CtEvent::New) >= 5, "{kinds:?}");

        let mut all = Nfct::new(parse(&[("hash_enable", "0"), ("event_mask", "7")]).unwrap());
        let mut hashed = Nfct::new(parse(&[]).unwrap());
        for m in &msgs {
            all.handle_event(m, (1, 0), &mut NoEmit);
            hashed.handle_event(m, (1, 0), &mut NoEmit);
        }
        assert_eq!(all.stats.parse_errors, 0);
        assert_eq!(all.out.len(), msgs.len());
        assert!(all
            .out
            .iter()
            .all(|r| r.flow.orig.src.is_some() && r.start.is_some() || r.event == CT_EVENT_UPDATE));
        // With the cache only flow ends come out, each with its start time.
        assert_eq!(hashed.out.len(), count(CtEvent::Destroy));
        assert!(hashed
            .out
            .iter()
            .all(|r| r.event == CT_EVENT_DESTROY && r.end.is_some()));
        assert_eq!(
            hashed.table.as_ref().unwrap().len(),
            count(CtEvent::New) - count(CtEvent::Destroy)
        );
    }
}
