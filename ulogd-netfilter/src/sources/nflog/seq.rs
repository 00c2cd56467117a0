//! [`SeqTracker`]: packets lost between two NFLOG messages, from the kernel's
//! per-instance sequence numbers (`NFULA_SEQ`).
//!
//! The kernel numbers every packet it logs to an instance when it builds the
//! message, before it tries to deliver it, so a message dropped on the way (socket
//! buffer full) leaves a hole in the numbering: the hole's size is exactly the number
//! of packets lost, batches included. Pure: no socket, no clock.

/// One hole in the numbering.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Gap {
    /// Last number seen before the hole.
    pub(crate) from: u32,
    /// First number seen after it.
    pub(crate) to: u32,
    /// Packets missing in between.
    pub(crate) lost: u32,
}

/// Follows the sequence numbers of one NFLOG instance.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SeqTracker {
    last: Option<u32>,
    lost: u64,
    gaps: u64,
}

impl SeqTracker {
    /// Records number `s`; returns the hole before it, if any. A step backwards
    /// (a "gap" of more than half the number space: the instance was re-created and
    /// counts from 0 again) is no loss; wrapping past `u32::MAX` is no loss either.
    pub(crate) fn observe(&mut self, s: u32) -> Option<Gap> {
        let prev = self.last.replace(s)?;
        let lost = s.wrapping_sub(prev).wrapping_sub(1);
        if lost == 0 || lost >= u32::MAX / 2 {
            return None;
        }
        self.lost += u64::from(lost);
        self.gaps += 1;
        Some(Gap {
            from: prev,
            to: s,
            lost,
        })
    }

    /// Packets lost so far.
    pub(crate) fn lost(&self) -> u64 {
        self.lost
    }

    /// Holes seen so far (each may cover many packets).
    pub(crate) fn gaps(&self) -> u64 {
        self.gaps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holes_are_counted_by_size() {
        let mut t = SeqTracker::default();
        assert_eq!(t.observe(1), None);
        assert_eq!(t.observe(2), None);
        assert_eq!(
            t.observe(6),
            Some(Gap {
                from: 2,
                to: 6,
                lost: 3
            })
        );
        assert_eq!(t.observe(7), None);
        assert_eq!((t.lost(), t.gaps()), (3, 1));
    }

    #[test]
    fn wrap_and_restart_are_no_loss() {
        let mut t = SeqTracker::default();
        t.observe(u32::MAX - 1);
        assert_eq!(t.observe(u32::MAX), None);
        assert_eq!(t.observe(0), None); // wraps
        assert_eq!(t.observe(2).map(|g| g.lost), Some(1)); // 1 lost across nothing
        assert_eq!(t.observe(0), None); // restarted from 0: backwards
        assert_eq!(t.lost(), 1);
    }

    #[test]
    fn the_first_number_is_not_judged() {
        let mut t = SeqTracker::default();
        // Whatever came before we started is not ours to count.
        assert_eq!(t.observe(1000), None);
        assert_eq!(t.lost(), 0);
    }
}
