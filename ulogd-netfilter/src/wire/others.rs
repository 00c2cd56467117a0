//! Attributes a codec does not know, kept (rust-netlink's `DefaultNla` catch-all).
//!
//! Why: a newer kernel adds attributes; dropping them silently makes parse→emit
//! lossy (a replayed or forwarded message loses them) and hides the change from the
//! operator. Each Repr keeps the first [`OTHERS_KEPT`] unknown attributes (type with
//! its flag bits, and the value borrowed from the buffer: no copy, no allocation)
//! and re-emits them after the known ones; every unknown one is counted in the
//! Repr's `unknown`. Sources read the kinds with [`OtherAttrs::iter`] and report a
//! new kind once with [`UnknownAttrs`] (a counter `unknown_attrs` plus one log line
//! per kind).

/// How many unknown attributes a Repr keeps for re-emission (more are counted only).
pub const OTHERS_KEPT: usize = 4;

/// Unknown attributes of one message level, in arrival order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct OtherAttrs<'a> {
    kept: [(u16, &'a [u8]); OTHERS_KEPT],
    len: u8,
}

impl<'a> OtherAttrs<'a> {
    /// Keeps an attribute (raw type with flags, value) if there is room; returns
    /// whether it was kept.
    pub fn push(&mut self, raw_kind: u16, value: &'a [u8]) -> bool {
        let Some(slot) = self.kept.get_mut(usize::from(self.len)) else {
            return false;
        };
        *slot = (raw_kind, value);
        self.len += 1;
        true
    }

    /// The kept attributes as (raw type with flags, value).
    pub fn iter(&self) -> impl Iterator<Item = (u16, &'a [u8])> + '_ {
        self.kept[..usize::from(self.len)].iter().copied()
    }

    /// Number kept.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// What a source keeps about unknown attributes: how many it met and which kinds
/// it has already reported (each kind is logged once, at info level).
#[derive(Clone)]
pub struct UnknownAttrs {
    /// Unknown attributes seen (the `unknown_attrs` counter).
    pub count: u64,
    seen: [u64; 256],
}

impl Default for UnknownAttrs {
    fn default() -> Self {
        UnknownAttrs {
            count: 0,
            seen: [0; 256],
        }
    }
}

impl std::fmt::Debug for UnknownAttrs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnknownAttrs")
            .field("count", &self.count)
            .finish_non_exhaustive()
    }
}

impl UnknownAttrs {
    /// Accounts a parsed message: `unknown` is the Repr's count, `others` what it
    /// kept. Returns the kinds seen for the first time (at most [`OTHERS_KEPT`]),
    /// after logging each once as `"<what>: new kernel attribute type N"`.
    pub fn record(&mut self, what: &str, unknown: u16, others: &OtherAttrs<'_>) -> usize {
        self.count += u64::from(unknown);
        let mut new = 0;
        for (raw, value) in others.iter() {
            let kind = raw & super::nla::NLA_TYPE_MASK;
            let (w, b) = (usize::from(kind >> 6), kind & 63);
            if self.seen[w] & (1 << b) == 0 {
                self.seen[w] |= 1 << b;
                new += 1;
                log::info!(
                    "{what}: new kernel attribute type {kind} ({} bytes), kept and counted in unknown_attrs",
                    value.len()
                );
            }
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_first_few_and_reports_each_kind_once() {
        let mut o = OtherAttrs::default();
        for k in 0..6u16 {
            let kept = o.push(100 + k, b"x");
            assert_eq!(kept, usize::from(k) < OTHERS_KEPT);
        }
        assert_eq!(o.len(), OTHERS_KEPT);
        assert_eq!(o.iter().next(), Some((100, &b"x"[..])));
        let mut u = UnknownAttrs::default();
        assert_eq!(u.record("NFLOG", 6, &o), 4);
        assert_eq!(u.record("NFLOG", 6, &o), 0);
        assert_eq!(u.count, 12);
    }
}
