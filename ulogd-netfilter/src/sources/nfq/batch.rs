//! [`VerdictBatcher`]: runs of equal verdicts become one `NFQNL_MSG_VERDICT_BATCH`.
//!
//! Pure: it decides what to send, the queue sends it. A batch verdict covers every
//! packet up to its id, so it may only be used when packets complete in id order
//! (on the thread that reads the queue); the queue sends anything else on its own.

/// Most packets one batch verdict covers (bounds the latency of the first one).
pub(crate) const MAX_BATCH: u32 = 128;

/// A run of consecutive packets waiting for one verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Run {
    /// Verdict code (`NF_ACCEPT`, `NF_DROP`, `NF_QUEUE | n << 16`...).
    pub(crate) code: u32,
    /// Packet mark to set, if any.
    pub(crate) mark: Option<u32>,
    /// Id of the last packet of the run: the batch verdict's id.
    pub(crate) last: u32,
    /// Packets in the run (1: send a plain verdict).
    pub(crate) count: u32,
}

/// The run being collected.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct VerdictBatcher {
    pending: Option<Run>,
}

impl VerdictBatcher {
    /// Packet `id` completed in order with this verdict. Returns the run to send
    /// first when `id` cannot extend the current one (other verdict or mark, not the
    /// next id, or the run is full).
    pub(crate) fn push(&mut self, id: u32, code: u32, mark: Option<u32>) -> Option<Run> {
        if let Some(cur) = self.pending.as_mut() {
            if cur.code == code
                && cur.mark == mark
                && cur.last.wrapping_add(1) == id
                && cur.count < MAX_BATCH
            {
                cur.last = id;
                cur.count += 1;
                return None;
            }
        }
        self.pending.replace(Run {
            code,
            mark,
            last: id,
            count: 1,
        })
    }

    /// The run collected so far, to send now (end of a read burst, an out-of-order
    /// verdict, shutdown).
    pub(crate) fn take(&mut self) -> Option<Run> {
        self.pending.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCEPT: u32 = 1;
    const DROP: u32 = 0;

    #[test]
    fn equal_consecutive_verdicts_become_one_run() {
        let mut b = VerdictBatcher::default();
        assert_eq!(b.push(10, ACCEPT, None), None);
        assert_eq!(b.push(11, ACCEPT, None), None);
        assert_eq!(b.push(12, ACCEPT, None), None);
        assert_eq!(
            b.take(),
            Some(Run {
                code: ACCEPT,
                mark: None,
                last: 12,
                count: 3
            })
        );
        assert_eq!(b.take(), None);
    }

    #[test]
    fn a_different_verdict_mark_or_hole_ends_the_run() {
        let mut b = VerdictBatcher::default();
        b.push(1, ACCEPT, None);
        let r = b.push(2, DROP, None).unwrap();
        assert_eq!((r.last, r.count, r.code), (1, 1, ACCEPT));
        let r = b.push(3, DROP, Some(7)).unwrap();
        assert_eq!((r.last, r.code, r.mark), (2, DROP, None));
        let r = b.push(5, DROP, Some(7)).unwrap(); // id 4 missing
        assert_eq!((r.last, r.mark), (3, Some(7)));
        assert_eq!(b.take().map(|r| r.last), Some(5));
    }

    #[test]
    fn runs_are_capped_and_ids_wrap() {
        let mut b = VerdictBatcher::default();
        let start = u32::MAX - 5;
        let mut sent = Vec::new();
        for i in 0..(MAX_BATCH + 3) {
            if let Some(r) = b.push(start.wrapping_add(i), ACCEPT, None) {
                sent.push(r);
            }
        }
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].count, MAX_BATCH);
        assert_eq!(sent[0].last, start.wrapping_add(MAX_BATCH - 1));
        assert_eq!(b.take().map(|r| r.count), Some(3));
    }
}
