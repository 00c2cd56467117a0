//! NFQ and MTNFQ: packets queued by `iptables -j NFQUEUE` wait in the kernel until a
//! stack decides their fate.
//!
//! The source emits NFLOG's keys (so BASE and every output work unchanged) plus
//! `nfq.id`, `nfq.queue` and `nfq.hw_protocol`, and registers a [`Completion`] that
//! issues the verdict once every stack has run: the one a stage set with
//! `Event::set_verdict` (VERDICT, or a plugin), else `default_verdict`. The completion
//! also runs after a stack error or a caught panic, so no packet is left without a
//! verdict.
//!
//! Batching: when the stacks run on the thread that reads the socket (`threads=0`, or
//! MTNFQ's per-queue threads), packets complete in id order, so consecutive equal
//! verdicts (same action and mark, no connmark) are sent as one
//! `NFQNL_MSG_VERDICT_BATCH` at the end of each read burst (at most 128 per batch).
//! With worker threads, events complete out of order and each gets its own verdict
//! message (a batch would also cover older packets still in flight).
//!
//! Shutdown: NFQ (in `Source::drain`) and MTNFQ's threads run what is left in their
//! socket through the stacks before they stop. Then (for NFQ, when the engine drops the source after its workers
//! finished) each queue sends a last batch verdict with `default_verdict` that covers
//! every packet still queued in the kernel, then unbinds, and only then is the socket
//! closed: closing first would make the kernel drop them.

mod batch;
mod config;
mod mt;
mod proc;
mod queue;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ulogd_core::{
    Built, Emit, Flow, KeyDef, KeyType, PluginError, PluginSpec, Source, SourceSetup, Wake,
};

use super::nflog_keys::NFLOG_KEYS;
use crate::nl::RecvBuf;
use config::{options, NfqConfig};
use mt::Mtnfq;
use queue::{bind_queue, sum_counters, Done, Queue};

/// Messages handled per wake-up before giving the loop a turn.
const BATCH: usize = 1024;
/// Queued packets read per system call (one per datagram; each slot holds the
/// largest, `bufsize` bytes).
const QUEUE_BATCH: usize = 8;
/// How long shutdown keeps reading the socket when the pool runs empty.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// Position of `nfq.id` in the NFQ output keys (after NFLOG's).
pub const K_NFQ_ID: usize = NFLOG_KEYS.len();
/// Position of `nfq.queue`.
pub const K_NFQ_QUEUE: usize = NFLOG_KEYS.len() + 1;
/// Position of `nfq.hw_protocol`.
pub const K_NFQ_HW_PROTOCOL: usize = NFLOG_KEYS.len() + 2;

static NFQ_EXTRA: &[KeyDef] = &[
    KeyDef::new("nfq.id", KeyType::U32),
    KeyDef::new("nfq.queue", KeyType::U16),
    KeyDef::new("nfq.hw_protocol", KeyType::U16),
];

/// The keys NFQ adds after NFLOG's.
pub fn nfq_keys() -> &'static [KeyDef] {
    NFQ_EXTRA
}

fn output_keys() -> Vec<KeyDef> {
    let mut v = NFLOG_KEYS.to_vec();
    v.extend_from_slice(NFQ_EXTRA);
    v
}

/// NFQ: one queue on the event loop.
struct Nfq {
    cfg: NfqConfig,
    queue: Option<Arc<Queue>>,
    rx: RecvBuf,
}

impl Source for Nfq {
    fn start(&mut self, setup: &mut dyn SourceSetup) -> Result<(), PluginError> {
        let q = bind_queue(&self.cfg, self.cfg.queue)?;
        self.rx = RecvBuf::batched(self.cfg.bufsize, QUEUE_BATCH);
        setup.add_fd(q.sock.fd());
        setup.on_done(Arc::new(Done {
            base: self.cfg.queue,
            queues: vec![q.clone()],
        }));
        self.queue = Some(q);
        Ok(())
    }

    fn run(&mut self, _wake: Wake, emit: &mut dyn Emit) -> Result<Flow, PluginError> {
        let Some(q) = self.queue.clone() else {
            return Ok(Flow::Finished);
        };
        q.set_reader();
        let mut budget = BATCH;
        let res = q.pump(&mut self.rx, &self.cfg, &mut budget, emit);
        q.flush();
        res
    }

    /// Shutdown: what is already in the socket goes through the stacks (their
    /// verdicts apply, the packets are logged) instead of getting `default_verdict`
    /// unseen; only what is still queued after that does (`queued_in_kernel`).
    fn drain(&mut self, emit: &mut dyn Emit) {
        let Some(q) = self.queue.clone() else {
            return;
        };
        q.set_reader();
        let deadline = Instant::now() + DRAIN_TIMEOUT;
        loop {
            let mut budget = usize::MAX;
            match q.pump(&mut self.rx, &self.cfg, &mut budget, emit) {
                Ok(Flow::Idle) if !self.rx.pending() => break,
                // The pool ran empty: give the workers a moment.
                Ok(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Ok(_) => break,
                Err(e) => {
                    log::warn!("{e}");
                    break;
                }
            }
        }
        q.flush();
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        sum_counters(self.queue.as_slice())
    }
}

/// The NFQ plugin.
pub fn spec() -> PluginSpec {
    PluginSpec {
        name: "NFQ",
        aliases: &[],
        kind: ulogd_core::Kind::Source,
        summary: "packets queued by iptables -j NFQUEUE; a stack decides their verdict",
        options: options(false),
        inputs: vec![],
        outputs: output_keys(),
        wildcard: false,
        build: Box::new(|ctx| {
            let cfg = NfqConfig::from_options(ctx.options, false)?;
            Ok(Built::Source {
                source: Box::new(Nfq {
                    cfg,
                    queue: None,
                    rx: RecvBuf::new(0),
                }),
                outputs: output_keys(),
            })
        }),
    }
}

/// The MTNFQ plugin.
pub fn mt_spec() -> PluginSpec {
    PluginSpec {
        name: "MTNFQ",
        aliases: &[],
        kind: ulogd_core::Kind::Source,
        summary:
            "a range of NFQUEUEs, one socket and thread each running the stacks (--queue-balance)",
        options: options(true),
        inputs: vec![],
        outputs: output_keys(),
        wildcard: false,
        build: Box::new(|ctx| {
            let cfg = NfqConfig::from_options(ctx.options, true)?;
            Ok(Built::Source {
                source: Box::new(Mtnfq {
                    cfg,
                    queues: Vec::new(),
                    threads: Vec::new(),
                    stop: Arc::new(AtomicBool::new(false)),
                }),
                outputs: output_keys(),
            })
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_extend_nflogs() {
        let k = output_keys();
        assert_eq!(k[K_NFQ_ID].name, "nfq.id");
        assert_eq!(k[K_NFQ_HW_PROTOCOL].name, "nfq.hw_protocol");
        assert_eq!(&k[..NFLOG_KEYS.len()], NFLOG_KEYS);
    }
}
