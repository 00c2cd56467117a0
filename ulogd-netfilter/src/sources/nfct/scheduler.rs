//! [`DumpScheduler`]: one table dump at a time on the dump socket, the others queued.
//!
//! Dumps are asked for by the initial fill, the poll timer, a resync after an
//! overrun and SIGUSR2. The kernel answers one dump request with many messages
//! tagged with its sequence number, ending with `NLMSG_DONE` (or an error), so a
//! second request before the first ends would interleave the two. Pure: the source
//! sends the requests and feeds the answers back.

use std::collections::VecDeque;

/// Why a dump is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DumpKind {
    /// Fill the cache at start (event mode with the hash).
    Initial,
    /// Polling mode.
    Poll,
    /// After an overrun: find flows whose DESTROY was lost.
    Resync,
    /// SIGUSR2: emit every flow and zero the kernel counters.
    CtrZero,
}

/// The dump in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Dump {
    pub(crate) kind: DumpKind,
    pub(crate) seq: u32,
    /// The kernel flagged `NLM_F_DUMP_INTR`, or a reply was lost: the dump is not a
    /// complete picture of the table.
    pub(crate) interrupted: bool,
}

/// Dump in flight, dumps waiting, sequence numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DumpScheduler {
    current: Option<Dump>,
    queued: VecDeque<DumpKind>,
    next_seq: u32,
}

impl Default for DumpScheduler {
    fn default() -> Self {
        DumpScheduler {
            current: None,
            queued: VecDeque::new(),
            next_seq: 1,
        }
    }
}

impl DumpScheduler {
    /// A dump of `kind` is wanted. `Some(seq)`: send the request now with this
    /// sequence number (then call [`DumpScheduler::started`]). `None`: one is in
    /// flight; `kind` waits (once: the same kind queued twice is one dump).
    pub(crate) fn request(&mut self, kind: DumpKind) -> Option<u32> {
        if self.current.is_some() {
            if !self.queued.contains(&kind) {
                self.queued.push_back(kind);
            }
            return None;
        }
        let seq = self.next_seq;
        // 0 is what unsolicited messages carry: never ours.
        self.next_seq = self.next_seq.wrapping_add(1).max(1);
        Some(seq)
    }

    /// The request for `kind` with `seq` went out.
    pub(crate) fn started(&mut self, kind: DumpKind, seq: u32) {
        self.current = Some(Dump {
            kind,
            seq,
            interrupted: false,
        });
    }

    /// The dump in flight, if any.
    pub(crate) fn current(&self) -> Option<Dump> {
        self.current
    }

    /// Marks the dump in flight as incomplete.
    pub(crate) fn interrupt(&mut self) {
        if let Some(d) = self.current.as_mut() {
            d.interrupted = true;
        }
    }

    /// The dump in flight ended (`NLMSG_DONE`, an error, or given up). Returns it.
    pub(crate) fn finish(&mut self) -> Option<Dump> {
        self.current.take()
    }

    /// The next waiting dump, to request now that none is in flight.
    pub(crate) fn next_queued(&mut self) -> Option<DumpKind> {
        if self.current.is_some() {
            return None;
        }
        self.queued.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_dump_at_a_time_the_rest_wait_once_each() {
        let mut s = DumpScheduler::default();
        let seq = s.request(DumpKind::Initial).unwrap();
        s.started(DumpKind::Initial, seq);
        assert_eq!(s.request(DumpKind::Poll), None);
        assert_eq!(s.request(DumpKind::CtrZero), None);
        assert_eq!(s.request(DumpKind::Poll), None); // already waiting
        assert_eq!(s.next_queued(), None); // Initial still in flight
        let d = s.finish().unwrap();
        assert_eq!(
            (d.kind, d.seq, d.interrupted),
            (DumpKind::Initial, seq, false)
        );
        assert_eq!(s.next_queued(), Some(DumpKind::Poll));
        let seq2 = s.request(DumpKind::Poll).unwrap();
        assert_ne!(seq2, seq);
        s.started(DumpKind::Poll, seq2);
        s.interrupt();
        assert!(s.finish().unwrap().interrupted);
        assert_eq!(s.next_queued(), Some(DumpKind::CtrZero));
        assert_eq!(s.next_queued(), None);
    }

    #[test]
    fn sequence_numbers_skip_zero_when_they_wrap() {
        let mut s = DumpScheduler {
            next_seq: u32::MAX,
            ..DumpScheduler::default()
        };
        assert_eq!(s.request(DumpKind::Poll), Some(u32::MAX));
        assert_eq!(s.request(DumpKind::Poll), Some(1));
    }

    #[test]
    fn a_request_that_was_not_sent_leaves_nothing_in_flight() {
        let mut s = DumpScheduler::default();
        assert!(s.request(DumpKind::Resync).is_some());
        // (send failed: started() not called)
        assert_eq!(s.current(), None);
        assert!(s.request(DumpKind::Resync).is_some());
    }
}
