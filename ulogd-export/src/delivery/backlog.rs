//! What a delivery thread sends from: the disk [`Spool`] or a bounded queue in
//! memory, behind one small trait so the sinks do not care which.

use std::collections::VecDeque;

use crate::spool::{Seq, Spool, SpoolCounters, SpoolError};

/// An ordered store of records awaiting acknowledgement by the peer.
pub trait Backlog: Send {
    /// Appends one record.
    fn append(&mut self, rec: &[u8]) -> Result<Seq, SpoolError>;
    /// Makes appended records durable (spool) — a no-op in memory.
    fn commit(&mut self) -> Result<(), SpoolError>;
    /// Up to `max` records from `from` on, oldest first.
    fn peek(&mut self, from: Seq, max: usize) -> Result<Vec<(Seq, Vec<u8>)>, SpoolError>;
    /// Everything up to `seq` was delivered.
    fn ack(&mut self, seq: Seq) -> Result<(), SpoolError>;
    /// First sequence number not acknowledged.
    fn ack_next(&self) -> Seq;
    /// Counters.
    fn counters(&self) -> SpoolCounters;
    /// A stable id (the spool's; random per run in memory) for message ids.
    fn id(&self) -> &str;
    /// True when the records outlive the process (the disk spool).
    fn durable(&self) -> bool;
}

impl Backlog for Spool {
    fn append(&mut self, rec: &[u8]) -> Result<Seq, SpoolError> {
        Spool::append(self, rec)
    }
    fn commit(&mut self) -> Result<(), SpoolError> {
        Spool::commit(self)
    }
    fn peek(&mut self, from: Seq, max: usize) -> Result<Vec<(Seq, Vec<u8>)>, SpoolError> {
        Spool::peek(self, from, max)
    }
    fn ack(&mut self, seq: Seq) -> Result<(), SpoolError> {
        Spool::ack(self, seq)
    }
    fn ack_next(&self) -> Seq {
        Spool::ack_next(self)
    }
    fn counters(&self) -> SpoolCounters {
        Spool::counters(self)
    }
    fn id(&self) -> &str {
        Spool::id(self)
    }
    fn durable(&self) -> bool {
        true
    }
}

/// A bounded queue in memory: when `max` records wait, the newest is refused
/// ([`SpoolError::Full`], counted as `dropped` by the caller's policy).
pub struct MemBacklog {
    q: VecDeque<(Seq, Vec<u8>)>,
    next: Seq,
    max: usize,
    id: String,
    counters: SpoolCounters,
}

impl MemBacklog {
    /// At most `max` records.
    pub fn new(max: usize) -> MemBacklog {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        MemBacklog {
            q: VecDeque::new(),
            next: 0,
            max: max.max(1),
            id: format!("{:x}{:x}", t, std::process::id()),
            counters: SpoolCounters::default(),
        }
    }
}

impl Backlog for MemBacklog {
    fn append(&mut self, rec: &[u8]) -> Result<Seq, SpoolError> {
        if self.q.len() >= self.max {
            self.counters.full += 1;
            return Err(SpoolError::Full);
        }
        let s = self.next;
        self.next += 1;
        self.counters.bytes += rec.len() as u64;
        self.counters.spooled += 1;
        self.counters.depth += 1;
        self.q.push_back((s, rec.to_vec()));
        Ok(s)
    }
    fn commit(&mut self) -> Result<(), SpoolError> {
        Ok(())
    }
    fn peek(&mut self, from: Seq, max: usize) -> Result<Vec<(Seq, Vec<u8>)>, SpoolError> {
        let first = self.q.front().map_or(self.next, |r| r.0);
        let skip = from.saturating_sub(first) as usize;
        Ok(self.q.iter().skip(skip).take(max).cloned().collect())
    }
    fn ack(&mut self, seq: Seq) -> Result<(), SpoolError> {
        while self.q.front().is_some_and(|r| r.0 <= seq) {
            let (_, r) = self.q.pop_front().expect("front exists");
            self.counters.bytes -= r.len() as u64;
            self.counters.depth -= 1;
        }
        Ok(())
    }
    fn ack_next(&self) -> Seq {
        self.q.front().map_or(self.next, |r| r.0)
    }
    fn counters(&self) -> SpoolCounters {
        self.counters
    }
    fn id(&self) -> &str {
        &self.id
    }
    fn durable(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_backlog_is_a_bounded_fifo() {
        let mut m = MemBacklog::new(3);
        for i in 0..3u8 {
            assert_eq!(m.append(&[i]).unwrap(), i as u64);
        }
        assert!(matches!(m.append(&[9]), Err(SpoolError::Full)));
        assert_eq!(m.peek(1, 10).unwrap(), vec![(1, vec![1]), (2, vec![2])]);
        m.ack(0).unwrap();
        assert_eq!(m.ack_next(), 1);
        assert_eq!(m.append(&[3]).unwrap(), 3);
        assert_eq!(m.counters().depth, 3);
    }
}
