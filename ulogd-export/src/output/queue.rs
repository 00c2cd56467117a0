//! A bounded queue of encoded records, in the order they were encoded.
//!
//! Records are stored back to back in one byte buffer (encoders append to it
//! directly, so a record is copied once, by the kernel), with their lengths beside
//! them. The head record may be partly written: [`RecordQueue::consume`] advances by
//! the bytes a stream transport took and returns how many records are now complete,
//! so a resumed write starts exactly where the last one stopped and the counters say
//! how many whole records reached the destination. Buffers are kept between records:
//! no allocation in steady state.

use std::collections::VecDeque;

/// A record or byte bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueMax {
    /// At most this many records.
    Records(usize),
    /// At most this many bytes of records.
    Bytes(usize),
}

impl QueueMax {
    /// Parses `10000` (records) or `4MiB`, `512k`, `1M`, `65536B` (bytes).
    pub fn parse(s: &str) -> Result<QueueMax, String> {
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: usize = num.parse().map_err(|_| {
            format!("\"{s}\" is not a number of records or bytes (e.g. 10000, 4MiB)")
        })?;
        let mult = match unit.trim().to_ascii_lowercase().as_str() {
            "" => return if n == 0 { Err("must be at least 1".into()) } else { Ok(QueueMax::Records(n)) },
            "b" => 1,
            "k" | "kb" | "kib" => 1 << 10,
            "m" | "mb" | "mib" => 1 << 20,
            "g" | "gb" | "gib" => 1 << 30,
            other => {
                return Err(format!(
                    "unknown unit \"{other}\" in \"{s}\" (records: a plain number; bytes: B, KiB, MiB, GiB)"
                ))
            }
        };
        match n.checked_mul(mult) {
            Some(0) => Err("must be at least 1".into()),
            Some(b) => Ok(QueueMax::Bytes(b)),
            None => Err(format!("\"{s}\" is too large")),
        }
    }
}

/// As the option is written: `queue_max=10000 records`, `queue_max=4194304 bytes`.
impl std::fmt::Display for QueueMax {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueueMax::Records(n) => write!(f, "queue_max={n} records"),
            QueueMax::Bytes(n) => write!(f, "queue_max={n} bytes"),
        }
    }
}

/// A record did not fit the queue's bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full;

/// The queue.
pub struct RecordQueue {
    buf: Vec<u8>,
    /// Offset in `buf` of the first byte not yet written.
    head: usize,
    /// Lengths of the queued records; the first is counted from its start even when
    /// partly written (`head_done` bytes of it).
    lens: VecDeque<u32>,
    head_done: usize,
    /// Bytes of queued records not yet written.
    pending: usize,
    max: QueueMax,
}

impl RecordQueue {
    /// An empty queue bounded by `max`.
    pub fn new(max: QueueMax) -> RecordQueue {
        let cap = match max {
            QueueMax::Bytes(b) => b.min(1 << 20),
            QueueMax::Records(_) => 64 * 1024,
        };
        RecordQueue {
            buf: Vec::with_capacity(cap),
            head: 0,
            lens: VecDeque::with_capacity(1024),
            head_done: 0,
            pending: 0,
            max,
        }
    }

    /// The bound.
    pub fn max(&self) -> QueueMax {
        self.max
    }

    /// Records queued (the head counts even when partly written).
    pub fn depth(&self) -> usize {
        self.lens.len()
    }

    /// Bytes not yet written.
    pub fn bytes(&self) -> usize {
        self.pending
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.lens.is_empty()
    }

    /// Whether one more record of `len` bytes fits.
    pub fn fits(&self, len: usize) -> bool {
        match self.max {
            QueueMax::Records(n) => self.lens.len() < n,
            QueueMax::Bytes(b) => self.pending + len <= b || self.lens.is_empty(),
        }
    }

    /// Whether at most half of the bound is used (a refill is worth it).
    pub fn half_empty(&self) -> bool {
        match self.max {
            QueueMax::Records(n) => self.lens.len() * 2 <= n,
            QueueMax::Bytes(b) => self.pending * 2 <= b,
        }
    }

    /// Appends one record written by `encode` into the queue's buffer. `encode`
    /// returns false for "nothing to write"; if the record does not fit the bound, it
    /// is taken back and `Err(Full)` returned. Ok(true) when a record was queued.
    pub fn push_with(&mut self, encode: impl FnOnce(&mut Vec<u8>) -> bool) -> Result<bool, Full> {
        self.compact();
        let start = self.buf.len();
        if !encode(&mut self.buf) || self.buf.len() == start {
            self.buf.truncate(start);
            return Ok(false);
        }
        let len = self.buf.len() - start;
        if !self.fits(len) || len > u32::MAX as usize {
            self.buf.truncate(start);
            return Err(Full);
        }
        self.lens.push_back(len as u32);
        self.pending += len;
        Ok(true)
    }

    /// Appends a record given as bytes.
    pub fn push(&mut self, rec: &[u8]) -> Result<bool, Full> {
        self.push_with(|b| {
            b.extend_from_slice(rec);
            true
        })
    }

    /// Everything not yet written (for a stream transport).
    pub fn pending(&self) -> &[u8] {
        &self.buf[self.head..]
    }

    /// The unwritten part of the head record (for a message transport: the whole
    /// record, since it is never partly written).
    pub fn front(&self) -> Option<&[u8]> {
        let len = *self.lens.front()? as usize;
        Some(&self.buf[self.head..self.head + len - self.head_done])
    }

    /// Bytes of the head record already written (a torn record if the writing stops
    /// here).
    pub fn head_done(&self) -> usize {
        self.head_done
    }

    /// Marks `n` bytes as written; returns how many records that completed.
    pub fn consume(&mut self, mut n: usize) -> usize {
        n = n.min(self.pending);
        self.head += n;
        self.pending -= n;
        let mut done = 0;
        let mut acc = self.head_done + n;
        while let Some(&len) = self.lens.front() {
            if acc < len as usize {
                break;
            }
            acc -= len as usize;
            self.lens.pop_front();
            done += 1;
        }
        self.head_done = acc;
        if self.lens.is_empty() {
            self.clear_buf();
        }
        done
    }

    /// Drops the head record (written partly or not at all); returns whether there
    /// was one.
    pub fn drop_front(&mut self) -> bool {
        let Some(len) = self.lens.pop_front() else {
            return false;
        };
        let rest = len as usize - self.head_done;
        self.head += rest;
        self.pending -= rest;
        self.head_done = 0;
        if self.lens.is_empty() {
            self.clear_buf();
        }
        true
    }

    /// Forgets that the head record was partly written, so it is written again from its
    /// start (after its torn beginning was taken back from a file).
    pub fn rewind_front(&mut self) {
        self.head -= self.head_done;
        self.pending += self.head_done;
        self.head_done = 0;
    }

    /// Removes every record after the first `keep`, handing each (whole: only the
    /// head can be partly written) to `f` in order; returns how many.
    pub fn split_off(&mut self, keep: usize, mut f: impl FnMut(&[u8])) -> usize {
        if self.lens.len() <= keep {
            return 0;
        }
        let mut off = self.head;
        for (i, &len) in self.lens.iter().take(keep).enumerate() {
            off += len as usize - if i == 0 { self.head_done } else { 0 };
        }
        let cut = off;
        for &len in self.lens.iter().skip(keep) {
            f(&self.buf[off..off + len as usize]);
            off += len as usize;
        }
        let n = self.lens.len() - keep;
        self.lens.truncate(keep);
        self.buf.truncate(cut);
        self.pending = cut - self.head;
        if keep == 0 {
            self.head_done = 0;
            self.clear_buf();
        }
        n
    }

    /// Drops everything; returns (records, bytes) dropped.
    pub fn clear(&mut self) -> (usize, usize) {
        let r = (self.lens.len(), self.pending);
        self.lens.clear();
        self.pending = 0;
        self.head_done = 0;
        self.clear_buf();
        r
    }

    fn clear_buf(&mut self) {
        self.buf.clear();
        self.head = 0;
    }

    /// Moves the unwritten bytes to the front once the written part dominates
    /// (a memmove, no allocation).
    fn compact(&mut self) {
        if self.head >= 64 * 1024 && self.head * 2 >= self.buf.len() {
            self.buf.drain(..self.head);
            self.head = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_bounds() {
        assert_eq!(QueueMax::parse("10000"), Ok(QueueMax::Records(10000)));
        assert_eq!(QueueMax::parse("4MiB"), Ok(QueueMax::Bytes(4 << 20)));
        assert_eq!(QueueMax::parse("512k"), Ok(QueueMax::Bytes(512 << 10)));
        assert_eq!(QueueMax::parse("100B"), Ok(QueueMax::Bytes(100)));
        assert!(QueueMax::parse("0").is_err());
        assert!(QueueMax::parse("4 parsecs")
            .unwrap_err()
            .contains("unknown unit"));
        assert!(QueueMax::parse("lots").is_err());
    }

    #[test]
    fn partial_writes_resume_and_count_whole_records() {
        let mut q = RecordQueue::new(QueueMax::Records(3));
        assert_eq!(q.push(b"aaaa\n"), Ok(true));
        assert_eq!(q.push(b"bb\n"), Ok(true));
        assert_eq!(q.push(b""), Ok(false));
        assert_eq!(q.push(b"c\n"), Ok(true));
        assert_eq!(q.push(b"d\n"), Err(Full), "bound of 3 records");
        assert_eq!((q.depth(), q.bytes()), (3, 10));
        assert_eq!(q.consume(3), 0);
        assert_eq!(q.head_done(), 3);
        assert_eq!(q.pending(), b"a\nbb\nc\n");
        assert_eq!(q.front(), Some(&b"a\n"[..]));
        assert_eq!(q.consume(4), 1, "aaaa done, bb torn");
        assert_eq!(q.head_done(), 2);
        q.rewind_front();
        assert_eq!(q.pending(), b"bb\nc\n");
        assert!(q.drop_front());
        assert_eq!(q.pending(), b"c\n");
        assert_eq!(q.consume(100), 1);
        assert!(q.is_empty());
        assert_eq!(q.bytes(), 0);
    }

    #[test]
    fn byte_bound_and_a_refused_encoding() {
        let mut q = RecordQueue::new(QueueMax::Bytes(8));
        assert_eq!(q.push(b"12345"), Ok(true));
        assert_eq!(q.push(b"6789"), Err(Full));
        assert_eq!(q.push(b"678"), Ok(true));
        assert_eq!(
            q.push_with(|b| {
                b.extend_from_slice(b"half");
                false
            }),
            Ok(false)
        );
        assert_eq!(q.pending(), b"12345678");
        // A single record larger than the bound still goes through an empty queue.
        assert_eq!(q.clear(), (2, 8));
        assert_eq!(q.push(b"0123456789"), Ok(true));
    }

    #[test]
    fn compaction_keeps_order_and_counts() {
        let mut q = RecordQueue::new(QueueMax::Records(100_000));
        let (mut expect, mut out, mut done) = (Vec::new(), Vec::new(), 0);
        for i in 0..50_000u32 {
            let r = format!("{i}\n");
            q.push(r.as_bytes()).unwrap();
            expect.extend_from_slice(r.as_bytes());
            if i % 3 == 0 {
                // A stream transport taking half of what waits, cutting records anywhere.
                let n = q.pending().len() / 2;
                out.extend_from_slice(&q.pending()[..n]);
                done += q.consume(n);
            }
        }
        let n = q.pending().len();
        out.extend_from_slice(q.pending());
        done += q.consume(n);
        assert_eq!(out, expect);
        assert_eq!(done, 50_000);
        assert!(q.is_empty());
    }

    #[test]
    fn split_off_keeps_a_partly_written_head() {
        let mut q = RecordQueue::new(QueueMax::Records(10));
        for r in ["aaaa\n", "bb\n", "c\n"] {
            q.push(r.as_bytes()).unwrap();
        }
        q.consume(2);
        let mut moved = Vec::new();
        assert_eq!(q.split_off(1, |r| moved.push(r.to_vec())), 2);
        assert_eq!(moved, [b"bb\n".to_vec(), b"c\n".to_vec()]);
        assert_eq!((q.depth(), q.bytes(), q.pending()), (1, 3, &b"aa\n"[..]));
        assert_eq!(q.consume(3), 1);
        assert!(q.is_empty());
        q.push(b"d\n").unwrap();
        assert_eq!(q.split_off(0, |_| {}), 1);
        assert_eq!((q.depth(), q.bytes()), (0, 0));
    }
}
