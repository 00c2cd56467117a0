//! Source stacking: an instance that ends one stack and heads others.
//!
//! A plugin that is both a sink and a source (FLOW: it absorbs packets and emits flow
//! records on its own schedule; a PYTHON aggregator or the IPFIXCOL collector could do
//! the same) returns [`crate::Built::Hop`] from its constructor. The engine then keeps
//! one instance under one id with two halves: the [`crate::Stage`] that ends the
//! stacks feeding it and the [`crate::Source`] that heads the stacks it feeds:
//!
//! ```text
//! stack=log1:NFLOG,base1:BASE,meter1:FLOW      # meter1 ends this stack
//! stack=meter1:FLOW,ipfix1:IPFIX               # and heads these two
//! stack=meter1:FLOW,ip2str1:IP2STR,json1:JSON
//! ```
//!
//! Nothing here knows about flows. The rules across the hop are the engine's usual
//! ones, because the source half *is* an ordinary source: it has its own bundle pool,
//! sequence numbers (so the sinks behind it see its events in its order) and
//! back-pressure (an empty pool pauses it, not its upstream; what it has not emitted
//! stays inside the plugin, which bounds and counts it). The two halves talk through
//! the plugin's own shared state; the stage half wakes the source half with a
//! [`Doorbell`] (an eventfd the source registers with `add_fd`).
//!
//! What the engine adds, all in this module:
//! - [`plan`]: at build time, the graph of hops; a cycle (records fed back into
//!   themselves) is a start-up error naming the stacks;
//! - the order at shutdown ([`drain`]): after the upstream sources stopped and every
//!   event in flight finished, each hop, upstream first, is flushed (its stage half's
//!   `flush`) and its source half run until it has emitted everything, with the stacks
//!   inline; only then are the downstream sinks flushed and stopped;
//! - a hop source never "finishes" by itself: the loop ends when every other source
//!   has finished (end of a replayed file), then shutdown drains the hops;
//! - [`describe`]: the graph for `--check` and the start-up log.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::global::StackSpec;
use crate::plugin::{Emit, Flow, PoolEmpty, Wake};

use super::build::{SourceInst, StageInst};
use super::dispatch::SourceShared;

/// One hop: the same instance as a source (index into the engine's sources) and as a
/// stage (index into its stages), with the stacks on either side for messages.
#[derive(Clone, Debug)]
pub(crate) struct HopLink {
    pub id: String,
    pub plugin: &'static str,
    pub source: usize,
    pub stage: usize,
    /// Labels of the stacks this instance ends.
    pub fed_by: Vec<String>,
    /// Labels of the stacks it heads.
    pub heads: Vec<String>,
}

/// What [`plan`] needs to know about one stack: its label, line, and the ids of its
/// first and last elements.
pub(crate) struct StackEnds<'a> {
    pub label: String,
    pub line: usize,
    pub head: &'a str,
    pub tail: &'a str,
}

fn label(s: &StackSpec) -> String {
    s.elems
        .iter()
        .map(|e| format!("{}:{}", e.id, e.plugin))
        .collect::<Vec<_>>()
        .join(",")
}

/// The ends of every stack, for [`plan`].
pub(crate) fn ends(stacks: &[StackSpec]) -> Vec<StackEnds<'_>> {
    stacks
        .iter()
        .filter(|s| !s.elems.is_empty())
        .map(|s| StackEnds {
            label: label(s),
            line: s.line,
            head: &s.elems[0].id,
            tail: &s.elems[s.elems.len() - 1].id,
        })
        .collect()
}

/// One [`HopLink`] per hop instance: (id, source index, stage index).
pub(crate) fn links(
    hops: &[(String, usize, usize)],
    stacks: &[StackSpec],
    sources: &[SourceInst],
    stages: &[StageInst],
) -> Vec<HopLink> {
    let mut out: Vec<HopLink> = hops
        .iter()
        .map(|(id, src, stg)| {
            let of = |pick: fn(&StackSpec) -> Option<&str>| {
                stacks
                    .iter()
                    .filter(|s| pick(s) == Some(id.as_str()))
                    .map(label)
                    .collect::<Vec<_>>()
            };
            HopLink {
                id: id.clone(),
                plugin: stages[*stg].plugin,
                source: *src,
                stage: *stg,
                fed_by: of(|s| s.elems.last().map(|e| e.id.as_str())),
                heads: of(|s| s.elems.first().map(|e| e.id.as_str())),
            }
        })
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    for h in &out {
        if h.heads.is_empty() {
            log::warn!(
                "'{}' ({}) heads no stack: what it emits goes nowhere (add e.g. stack={}:{},out:JSON)",
                h.id,
                sources[h.source].plugin,
                h.id,
                h.plugin
            );
        }
    }
    out
}

/// Orders `hops` upstream first (a hop fed by another hop comes after it) and
/// reports cycles: Err(message naming every stack on a cycle).
pub(crate) fn plan(hops: &mut Vec<HopLink>, stacks: &[StackEnds<'_>]) -> Result<(), String> {
    let pos: HashMap<&str, usize> = hops
        .iter()
        .enumerate()
        .map(|(i, h)| (h.id.as_str(), i))
        .collect();
    // Edge a -> b: hop a heads a stack that ends in hop b.
    let mut indeg = vec![0usize; hops.len()];
    let mut edges: Vec<(usize, usize, usize)> = Vec::new();
    for (si, st) in stacks.iter().enumerate() {
        if let (Some(&a), Some(&b)) = (pos.get(st.head), pos.get(st.tail)) {
            edges.push((a, b, si));
            indeg[b] += 1;
        }
    }
    let mut order = Vec::with_capacity(hops.len());
    let mut ready: Vec<usize> = (0..hops.len()).filter(|&i| indeg[i] == 0).collect();
    while let Some(i) = ready.pop() {
        order.push(i);
        for &(a, b, _) in &edges {
            if a == i {
                indeg[b] -= 1;
                if indeg[b] == 0 {
                    ready.push(b);
                }
            }
        }
    }
    if order.len() < hops.len() {
        // Every stack between two hops left unordered lies on (or behind) a cycle.
        let names: Vec<String> = edges
            .iter()
            .filter(|&&(a, b, _)| indeg[a] > 0 && indeg[b] > 0)
            .map(|&(_, _, si)| format!("'{}' (line {})", stacks[si].label, stacks[si].line))
            .collect();
        return Err(format!(
            "stacks form a cycle, records would go round forever: {}; a stack may not feed, directly or through others, the instance that heads it",
            names.join(", ")
        ));
    }
    let mut sorted: Vec<HopLink> = order.iter().map(|&i| hops[i].clone()).collect();
    std::mem::swap(hops, &mut sorted);
    Ok(())
}

/// Lines for `--check`: which stacks feed each hop and which it heads.
pub(crate) fn describe(hops: &[HopLink]) -> Vec<String> {
    let mut out = Vec::new();
    for h in hops {
        out.push(format!(
            "hop {}:{} ends {} stack(s) and heads {} stack(s):",
            h.id,
            h.plugin,
            h.fed_by.len(),
            h.heads.len()
        ));
        for f in &h.fed_by {
            out.push(format!("  {f}  ->  {}", h.id));
        }
        for t in &h.heads {
            out.push(format!("  {}  ->  {t}", h.id));
        }
    }
    out
}

/// Runs the hops' shutdown, upstream first (see the module documentation). Workers
/// have exited, so the stacks run inline on this thread. `sources` are the engine's
/// sources by index: instance, shared state and sequence counter.
pub(crate) fn drain(
    hops: &[HopLink],
    sources: &mut [(&mut SourceInst, &Arc<SourceShared>, &mut u64)],
    stages: &[StageInst],
) {
    for h in hops {
        stages[h.stage].stage.flush();
        let (inst, shared, seq) = &mut sources[h.source];
        let mut em = InlineEmit { shared, seq };
        // A source that asks to run again is given the chance (bounded, so a plugin
        // that never settles cannot hang the shutdown).
        for _ in 0..1_000_000 {
            match inst.source.run(Wake::Resume, &mut em) {
                Ok(Flow::Again) => continue,
                Ok(_) => break,
                Err(e) => {
                    log::error!("source '{}' ({}) at shutdown: {e}", inst.id, inst.plugin);
                    break;
                }
            }
        }
        inst.source.stop();
    }
}

/// Runs every stack of a source on the calling thread, bundle by bundle.
struct InlineEmit<'a> {
    shared: &'a Arc<SourceShared>,
    seq: &'a mut u64,
}

impl Emit for InlineEmit<'_> {
    fn emit(
        &mut self,
        fill: &mut dyn FnMut(&mut crate::event::Event<'_>) -> bool,
    ) -> Result<(), PoolEmpty> {
        let mut b = self.shared.take()?;
        b.seq = *self.seq;
        if self.shared.fill(&mut b, fill) {
            *self.seq += 1;
            self.shared
                .emitted
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.shared.process(&mut b, false);
        }
        self.shared.give_back(b);
        Ok(())
    }

    fn arm_timer(&mut self, _timer: usize, _after: Duration) {}
}

/// Wakes a hop's source half from its stage half (any thread): one end of a socket
/// pair the source registers with [`crate::SourceSetup::add_fd`] (safe code: the
/// engine has no `unsafe`). Ringing an already rung bell costs one atomic load, no
/// system call, until the source [`Doorbell::answer`]s it.
pub struct Doorbell {
    rx: std::os::unix::net::UnixStream,
    tx: std::os::unix::net::UnixStream,
    rung: AtomicBool,
}

impl Doorbell {
    /// A new, silent bell.
    pub fn new() -> std::io::Result<Doorbell> {
        let (rx, tx) = std::os::unix::net::UnixStream::pair()?;
        rx.set_nonblocking(true)?;
        tx.set_nonblocking(true)?;
        Ok(Doorbell {
            rx,
            tx,
            rung: AtomicBool::new(false),
        })
    }

    /// The descriptor to register with `add_fd`.
    pub fn fd(&self) -> RawFd {
        self.rx.as_raw_fd()
    }

    /// Wakes the source (once until it answers).
    pub fn ring(&self) {
        if self.rung.load(Ordering::Relaxed) || self.rung.swap(true, Ordering::AcqRel) {
            return;
        }
        // A full socket buffer means the bell already rings: nothing to do.
        let _ = (&self.tx).write(&[1]);
    }

    /// Called by the source on every run (also `Wake::Resume` and timers, not only
    /// when the bell's fd was readable): resets the bell, so the next ring wakes it
    /// again. Answer *before* looking at the shared state, so no ring is missed.
    pub fn answer(&self) {
        let mut buf = [0u8; 64];
        while matches!((&self.rx).read(&mut buf), Ok(n) if n > 0) {}
        self.rung.store(false, Ordering::Release);
    }

    /// Whether the bell's fd is readable now (a fresh epoll set reports the level).
    #[cfg(test)]
    fn readable(&self) -> bool {
        let mut poll = mio::Poll::new().unwrap();
        let fd = self.fd();
        poll.registry()
            .register(
                &mut mio::unix::SourceFd(&fd),
                mio::Token(0),
                mio::Interest::READABLE,
            )
            .unwrap();
        let mut ev = mio::Events::with_capacity(1);
        poll.poll(&mut ev, Some(Duration::ZERO)).unwrap();
        !ev.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(id: &str) -> HopLink {
        HopLink {
            id: id.into(),
            plugin: "HOP",
            source: 0,
            stage: 0,
            fed_by: vec![],
            heads: vec![],
        }
    }

    fn st<'a>(label: &str, head: &'a str, tail: &'a str) -> StackEnds<'a> {
        StackEnds {
            label: label.into(),
            line: 3,
            head,
            tail,
        }
    }

    #[test]
    fn hops_are_ordered_upstream_first() {
        let mut hops = vec![link("b"), link("a")];
        let stacks = [
            st("src,a", "src", "a"),
            st("a,b", "a", "b"),
            st("b,out", "b", "out"),
        ];
        plan(&mut hops, &stacks).unwrap();
        let ids: Vec<&str> = hops.iter().map(|h| h.id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
    }

    #[test]
    fn a_cycle_names_its_stacks() {
        let mut hops = vec![link("a"), link("b")];
        let stacks = [
            st("src:X,a:H", "src", "a"),
            st("a:H,b:H", "a", "b"),
            st("b:H,a:H", "b", "a"),
            st("b:H,out:Y", "b", "out"),
        ];
        let e = plan(&mut hops, &stacks).unwrap_err();
        assert!(e.contains("'a:H,b:H'") && e.contains("'b:H,a:H'"), "{e}");
        assert!(!e.contains("src:X") && !e.contains("out:Y"), "{e}");
        let mut one = vec![link("a")];
        let e = plan(&mut one, &[st("a:H,f:F,a:H", "a", "a")]).unwrap_err();
        assert!(e.contains("'a:H,f:F,a:H'"), "{e}");
    }

    #[test]
    fn doorbell_rings_once_until_answered() {
        let b = Doorbell::new().unwrap();
        let readable = |b: &Doorbell| b.readable();
        assert!(!readable(&b));
        b.ring();
        b.ring();
        assert!(readable(&b));
        b.answer();
        assert!(!readable(&b));
        b.ring();
        assert!(readable(&b));
    }
}
