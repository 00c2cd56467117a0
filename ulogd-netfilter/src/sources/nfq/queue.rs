//! [`Queue`]: one bound NFQUEUE, its socket shared by the reader and the completion
//! that answers the kernel; verdicts batched by [`super::batch::VerdictBatcher`].

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::Duration;

use ulogd_core::{Completion, Emit, Event, Flow, PluginError, Verdict, VerdictAction};

use super::batch::{Run, VerdictBatcher};
use super::config::{NfqConfig, QUEUE_FLAGS};
use super::proc;
use super::{K_NFQ_HW_PROTOCOL, K_NFQ_ID, K_NFQ_QUEUE};
use crate::nl::{errno_text, Input, NlSocket, Proto, RcvbufPolicy, RecvBuf, Walk};
use crate::sources::nflog_keys::{fill_ct, fill_from_repr};
use crate::wire::nfqueue::{
    NfqPacket, QueueConfig, VerdictRepr, NFQA_CFG_F_CONNTRACK, NFQNL_CFG_CMD_BIND,
    NFQNL_CFG_CMD_UNBIND, NF_ACCEPT, NF_DROP, NF_QUEUE, NF_REPEAT, VERDICT_MAX_LEN,
};
use crate::wire::nlmsg::{NLMSG_ERROR, NLMSG_MIN_TYPE, NLMSG_OVERRUN};
use crate::wire::{ByteOrder, NlmsgErrView};

/// How long a configuration request waits for its ACK.
const ACK_TIMEOUT: Duration = Duration::from_secs(2);

pub(crate) fn verdict_code(v: &Verdict) -> u32 {
    match v.action {
        VerdictAction::Accept => NF_ACCEPT,
        VerdictAction::Drop => NF_DROP,
        VerdictAction::Repeat => NF_REPEAT,
        VerdictAction::Queue(n) => NF_QUEUE | (u32::from(n) << 16),
    }
}

/// The verdicts being batched and the thread that may batch them.
#[derive(Default)]
struct Batching {
    /// The thread that reads this queue's socket. A completion running on it runs
    /// inline, right after its packet was read, so completions come in packet-id
    /// order and may be batched; on any other thread (engine workers) they come out
    /// of order and each is sent on its own. (The engine's `Completion` API does not
    /// say whether it runs in order; this is the local stand-in.)
    reader: Option<ThreadId>,
    batcher: VerdictBatcher,
}

/// One bound queue: its socket, shared by the reader and the completion.
pub(crate) struct Queue {
    pub(crate) sock: NlSocket,
    pub(crate) queue: u16,
    default: u32,
    netns: String,
    batching: Mutex<Batching>,
    rcvbuf: Mutex<RcvbufPolicy>,
    last_id: AtomicU32,
    seen_any: AtomicBool,
    finished: AtomicBool,
    received: AtomicU64,
    verdicts: AtomicU64,
    batches: AtomicU64,
    defaults: AtomicU64,
    send_errors: AtomicU64,
    kernel_errors: AtomicU64,
    overruns: AtomicU64,
    parse_errors: AtomicU64,
    ct_errors: AtomicU64,
    /// The kernel's counters, kept from the last read (the line goes away at unbind).
    queue_dropped: AtomicU64,
    user_dropped: AtomicU64,
    /// Packets waiting in the kernel for a verdict: live while bound; after
    /// [`Queue::finish`], those that got `default_verdict` at shutdown without
    /// passing the stacks.
    waiting: AtomicU64,
}

impl Queue {
    fn new(sock: NlSocket, cfg: &NfqConfig, queue: u16) -> Queue {
        Queue {
            sock,
            queue,
            default: cfg.default,
            netns: cfg.netns.clone(),
            batching: Mutex::new(Batching::default()),
            rcvbuf: Mutex::new(RcvbufPolicy::new(cfg.rcvbuf_max)),
            last_id: AtomicU32::new(0),
            seen_any: AtomicBool::new(false),
            finished: AtomicBool::new(false),
            received: AtomicU64::new(0),
            verdicts: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            defaults: AtomicU64::new(0),
            send_errors: AtomicU64::new(0),
            kernel_errors: AtomicU64::new(0),
            overruns: AtomicU64::new(0),
            parse_errors: AtomicU64::new(0),
            ct_errors: AtomicU64::new(0),
            queue_dropped: AtomicU64::new(0),
            user_dropped: AtomicU64::new(0),
            waiting: AtomicU64::new(0),
        }
    }

    fn who(&self) -> String {
        format!("NFQUEUE {}", self.queue)
    }

    /// Marks the calling thread as this queue's reader.
    pub(crate) fn set_reader(&self) {
        let me = std::thread::current().id();
        let mut b = self.batching.lock().unwrap_or_else(|e| e.into_inner());
        if b.reader != Some(me) {
            b.reader = Some(me);
        }
    }

    fn send(&self, v: &VerdictRepr<'_>) {
        let mut small = [0u8; VERDICT_MAX_LEN];
        // A replaced payload (rare) needs a buffer of its size; verdicts alone do not.
        let mut big = Vec::new();
        let buf: &mut [u8] = if v.payload.is_some() {
            big.resize(v.buffer_len(), 0);
            &mut big
        } else {
            &mut small
        };
        let Ok(n) = v.emit(buf, 0) else {
            self.send_errors.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if let Err(e) = self.sock.send(&buf[..n]) {
            let c = self.send_errors.fetch_add(1, Ordering::Relaxed) + 1;
            if c.is_power_of_two() {
                log::error!("{}: cannot send verdict ({c} so far): {e}", self.who());
            }
        }
    }

    fn send_run(&self, r: Option<Run>) {
        if let Some(r) = r {
            self.send(&VerdictRepr {
                queue: self.queue,
                id: r.last,
                verdict: r.code,
                mark: r.mark,
                batch: r.count > 1,
                ..VerdictRepr::default()
            });
            if r.count > 1 {
                self.batches.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Sends whatever batch is pending.
    pub(crate) fn flush(&self) {
        let mut b = self.batching.lock().unwrap_or_else(|e| e.into_inner());
        let r = b.batcher.take();
        self.send_run(r);
    }

    /// Issues the verdict of packet `id`.
    fn decide(&self, id: u32, v: Option<Verdict>, payload: Option<&[u8]>) {
        self.verdicts.fetch_add(1, Ordering::Relaxed);
        let (code, mark, connmark) = match v {
            Some(v) => (verdict_code(&v), v.mark, v.connmark),
            None => {
                self.defaults.fetch_add(1, Ordering::Relaxed);
                (self.default, None, None)
            }
        };
        let mut b = self.batching.lock().unwrap_or_else(|e| e.into_inner());
        let in_order = b.reader == Some(std::thread::current().id());
        if !in_order || connmark.is_some() || payload.is_some() {
            // Out-of-order completion (worker threads), a connmark or a new payload:
            // on its own, after what was batched before it.
            let r = b.batcher.take();
            self.send_run(r);
            drop(b);
            self.send(&VerdictRepr {
                queue: self.queue,
                id,
                verdict: code,
                mark,
                connmark,
                payload: if v.is_some() { payload } else { None },
                ..VerdictRepr::default()
            });
            return;
        }
        let r = b.batcher.push(id, code, mark);
        self.send_run(r);
    }

    /// Sends a config request and waits for its ACK (2 s at most).
    fn config(&self, c: &QueueConfig, seq: u32) -> Result<(), i32> {
        let mut msg = Vec::with_capacity(64);
        c.emit_nlmsg(seq, &mut msg).map_err(|_| libc::EINVAL)?;
        let mut scratch = vec![0u8; 8192];
        self.sock.request_ack(&msg, seq, &mut scratch, ACK_TIMEOUT)
    }

    /// Reads the kernel's counters of this queue (while bound).
    fn read_stats(&self) {
        if let Some(s) = proc::read(&self.netns, self.queue) {
            self.queue_dropped.store(s.queue_dropped, Ordering::Relaxed);
            self.user_dropped.store(s.user_dropped, Ordering::Relaxed);
            self.waiting.store(s.waiting, Ordering::Relaxed);
        }
    }

    /// Last words: the pending batch, then `default_verdict` for every packet still
    /// queued in the kernel (a batch verdict up to half the id space ahead of the last
    /// packet seen), then unbind. Runs once.
    pub(crate) fn finish(&self) {
        if self.finished.swap(true, Ordering::AcqRel) {
            return;
        }
        self.flush();
        // What is still waiting now never passed the stacks.
        self.read_stats();
        let left = self.waiting.load(Ordering::Relaxed);
        let last = if self.seen_any.load(Ordering::Acquire) {
            self.last_id.load(Ordering::Acquire)
        } else {
            0
        };
        self.send(&VerdictRepr {
            queue: self.queue,
            id: last.wrapping_add(0x7fff_ffff),
            verdict: self.default,
            batch: true,
            ..VerdictRepr::default()
        });
        let (qd, ud) = (
            self.queue_dropped.load(Ordering::Relaxed),
            self.user_dropped.load(Ordering::Relaxed),
        );
        if left > 0 || qd > 0 || ud > 0 {
            log::warn!(
                target: ulogd_core::ALWAYS,
                "{}: at shutdown {left} packet(s) still queued got default_verdict={} without                  passing the stacks; the kernel dropped {qd} (queue full) and {ud} (socket                  buffer full) over the run",
                self.who(),
                if self.default == NF_ACCEPT { "accept" } else { "drop" }
            );
        }
        let mut msg = Vec::new();
        let unbind = QueueConfig {
            queue: self.queue,
            cmd: Some((NFQNL_CFG_CMD_UNBIND, 0)),
            ..QueueConfig::default()
        };
        if unbind.emit_nlmsg(0, &mut msg).is_ok() {
            // The ACK is not awaited.
            let _ = self.sock.send(&msg);
        }
    }

    fn on_overrun(&self) {
        self.overruns.fetch_add(1, Ordering::Relaxed);
        self.rcvbuf
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .on_overrun(
                Some(&self.sock),
                &self.who(),
                "packets (dropped, or accepted with fail_open)",
            );
    }

    /// One input of the walker: a queued packet becomes an event.
    fn input(
        &self,
        i: Input<'_>,
        fallback: (u32, u32),
        conntrack: bool,
        emit: &mut dyn Emit,
    ) -> Walk {
        let m = match i {
            Input::Msg(m) => m,
            Input::Overrun => {
                self.on_overrun();
                return Walk::Next;
            }
            Input::Malformed(e) => {
                self.parse_errors.fetch_add(1, Ordering::Relaxed);
                log::warn!("{}: malformed netlink data dropped: {e}", self.who());
                return Walk::Next;
            }
        };
        match m.msg_type() {
            NLMSG_OVERRUN => self.on_overrun(),
            NLMSG_ERROR => {
                if let Ok(e) = NlmsgErrView::new_checked(m.payload()) {
                    if e.error() != 0 {
                        let c = self.kernel_errors.fetch_add(1, Ordering::Relaxed) + 1;
                        if c.is_power_of_two() {
                            log::warn!(
                                "{}: kernel refused a verdict ({c} so far): {}",
                                self.who(),
                                errno_text(e.error().saturating_neg())
                            );
                        }
                    }
                }
            }
            t if t < NLMSG_MIN_TYPE => {}
            _ => match NfqPacket::parse_nlmsg(&m) {
                Ok(p) => {
                    let mut ct_ok = true;
                    let r = emit.emit(&mut |ev: &mut Event<'_>| {
                        fill_from_repr(ev, &p.as_nflog(), fallback, 0);
                        if conntrack {
                            ct_ok = fill_ct(ev, &p.as_nflog(), ByteOrder::NATIVE);
                        }
                        ev.set_u32(K_NFQ_ID, p.id);
                        ev.set_u16(K_NFQ_QUEUE, p.queue);
                        ev.set_u16(K_NFQ_HW_PROTOCOL, p.hw_protocol);
                        true
                    });
                    if r.is_err() {
                        return Walk::Keep(Flow::Idle);
                    }
                    if !ct_ok {
                        self.ct_errors.fetch_add(1, Ordering::Relaxed);
                    }
                    self.received.fetch_add(1, Ordering::Relaxed);
                    self.last_id.store(p.id, Ordering::Release);
                    self.seen_any.store(true, Ordering::Release);
                }
                Err(e) => {
                    let c = self.parse_errors.fetch_add(1, Ordering::Relaxed) + 1;
                    if c.is_power_of_two() {
                        log::warn!("{}: malformed packet message ({c} so far): {e}", self.who());
                    }
                    if let Some((_, id)) = NfqPacket::peek_id(&m) {
                        self.decide(id, None, None);
                    }
                }
            },
        }
        Walk::Next
    }

    /// Reads and walks until EAGAIN or the budget is spent.
    pub(crate) fn pump(
        &self,
        rx: &mut RecvBuf,
        cfg: &NfqConfig,
        budget: &mut usize,
        emit: &mut dyn Emit,
    ) -> Result<Flow, PluginError> {
        let conntrack = cfg.flags & NFQA_CFG_F_CONNTRACK != 0;
        rx.pump(&self.sock, budget, |i, t| self.input(i, t, conntrack, emit))
            .map_err(|e| PluginError::new(format!("{}: recv: {e}", self.who())))
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Binds and configures queue `q`.
pub(crate) fn bind_queue(cfg: &NfqConfig, q: u16) -> Result<Arc<Queue>, PluginError> {
    let sock = NlSocket::open(Proto::Netfilter, &[], &cfg.netns, "netlink socket")?;
    let queue = Queue::new(sock, cfg, q);
    // Not yet bound: make sure Drop does not send anything on failure.
    queue.finished.store(true, Ordering::Release);
    let bind = QueueConfig {
        queue: q,
        cmd: Some((NFQNL_CFG_CMD_BIND, 0)),
        ..QueueConfig::default()
    };
    queue.config(&bind, 1).map_err(|e| {
        let hint = match e {
            libc::EPERM => " (needs CAP_NET_ADMIN, or another program holds this queue)",
            libc::EBUSY => " (another program holds this queue)",
            _ => "",
        };
        PluginError::new(format!("cannot bind NFQUEUE {q}: {}{hint}", errno_text(e)))
    })?;
    queue.finished.store(false, Ordering::Release);
    let params = QueueConfig {
        queue: q,
        params: Some((cfg.copy_mode, cfg.copy_range)),
        maxlen: (cfg.maxlen > 0).then_some(cfg.maxlen),
        ..QueueConfig::default()
    };
    queue.config(&params, 2).map_err(|e| {
        PluginError::new(format!(
            "NFQUEUE {q}: cannot set copy mode / queue length: {}",
            errno_text(e)
        ))
    })?;
    let mut seq = 3;
    for &(name, f) in QUEUE_FLAGS {
        if cfg.flags & f == 0 {
            continue;
        }
        let c = QueueConfig {
            queue: q,
            flags: Some((f, f)),
            ..QueueConfig::default()
        };
        if let Err(e) = queue.config(&c, seq) {
            log::error!(
                "NFQUEUE {q}: the kernel refused {name}=1: {}; the other flags stay on",
                errno_text(e)
            );
        }
        seq += 1;
    }
    queue
        .rcvbuf
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .init(&queue.sock, cfg.rcvbuf);
    log::info!(
        "NFQUEUE {q} bound{}{}",
        if cfg.netns.is_empty() { "" } else { " in " },
        cfg.netns
    );
    Ok(Arc::new(queue))
}

/// Issues verdicts when every stack has run (see [`Completion`]).
pub(crate) struct Done {
    pub(crate) base: u16,
    pub(crate) queues: Vec<Arc<Queue>>,
}

impl Completion for Done {
    fn done(&self, ev: &Event<'_>, verdict: Option<Verdict>) {
        let (Some(id), Some(q)) = (ev.u32(K_NFQ_ID), ev.u16(K_NFQ_QUEUE)) else {
            return;
        };
        if let Some(queue) = self.queues.get(usize::from(q.wrapping_sub(self.base))) {
            queue.decide(id, verdict, ev.verdict_payload());
        }
    }
}

pub(crate) fn sum_counters(queues: &[Arc<Queue>]) -> Vec<(&'static str, u64)> {
    // The kernel's own counters, read now while the queues are bound.
    for q in queues {
        if !q.finished.load(Ordering::Acquire) {
            q.read_stats();
        }
    }
    let s = |f: fn(&Queue) -> &AtomicU64| queues.iter().map(|q| f(q).load(Ordering::Relaxed)).sum();
    vec![
        ("received", s(|q| &q.received)),
        ("verdicts", s(|q| &q.verdicts)),
        ("batch_verdicts", s(|q| &q.batches)),
        ("default_verdicts", s(|q| &q.defaults)),
        ("send_errors", s(|q| &q.send_errors)),
        ("kernel_errors", s(|q| &q.kernel_errors)),
        ("overruns", s(|q| &q.overruns)),
        ("parse_errors", s(|q| &q.parse_errors)),
        ("ct_errors", s(|q| &q.ct_errors)),
        ("queue_dropped", s(|q| &q.queue_dropped)),
        ("user_dropped", s(|q| &q.user_dropped)),
        // In the shutdown summary: what is still queued gets default_verdict
        // without passing the stacks.
        ("queued_in_kernel", s(|q| &q.waiting)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_codes() {
        let v = |action| Verdict {
            action,
            mark: None,
            connmark: None,
        };
        assert_eq!(verdict_code(&v(VerdictAction::Queue(5))), 3 | (5 << 16));
        assert_eq!(verdict_code(&v(VerdictAction::Drop)), 0);
        assert_eq!(verdict_code(&v(VerdictAction::Repeat)), 4);
    }
}
