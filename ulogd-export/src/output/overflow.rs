//! `when_full=spool`: the disk [`Spool`] as the overflow of an output's memory queue.
//!
//! While the spool holds nothing, records go to the memory [`RecordQueue`] as with any
//! other policy (no disk I/O in steady state). The first record that does not fit
//! starts an *episode*: every record of the memory queue except a partly written head
//! moves to the spool, then the new record, and from then on every new record is
//! appended to the spool, behind them. As the transport takes records, the queue is
//! refilled from the spool in order and each spooled record is acknowledged in the
//! spool once the transport took it whole. When the spool is empty again (everything
//! acknowledged) the episode ends and records go straight to memory again.
//!
//! So the memory queue holds either records that were never spooled (no episode) or
//! records read back from the spool (an episode): never both. That keeps the order
//! across a restart: at shutdown the never-spooled records are appended to an empty
//! spool; read-back records are still in it, unacknowledged. After a `kill -9` what
//! the spool had committed (every [`Spool::commit`]: each tick, each 256 KiB, each
//! record with `spool_sync=always`) is replayed at the next start; what only the memory
//! queue held (at most `queue_max`, and only outside an episode) is lost.

use std::collections::VecDeque;

use ulogd_core::PluginError;

use super::RecordQueue;
use crate::spool::{Seq, Spool, SpoolConfig, SpoolCounters, SpoolError};

/// The overflow of one output (see the module doc).
pub(crate) struct Overflow {
    sp: Spool,
    /// Next spool sequence number to read back into the memory queue.
    read: Seq,
    /// One entry per record of the memory queue, in order: `Some(seq)` for a record
    /// read back from the spool (acknowledged when written), `None` for one that never
    /// went there.
    tags: VecDeque<Option<Seq>>,
    /// Records read back from the spool into the queue (this run and replays).
    pub(crate) replayed: u64,
    /// Records the spool refused or could not store (full with `spool_full=block`,
    /// an I/O error): dropped and counted by the stage.
    pub(crate) refused: u64,
    /// The last spool I/O error, for the rate-limited report.
    pub(crate) last_error: Option<String>,
}

impl Overflow {
    /// Opens the spool (verifying it, skipping damage); records an earlier run left are
    /// replayed first.
    pub(crate) fn open(cfg: SpoolConfig) -> Result<Overflow, PluginError> {
        let dir = cfg.dir.clone();
        let sp = Spool::open(cfg).map_err(|e| {
            PluginError::new(format!("can't open the spool {}: {e}", dir.display()))
        })?;
        Ok(Overflow {
            read: sp.ack_next(),
            sp,
            tags: VecDeque::with_capacity(1024),
            replayed: 0,
            refused: 0,
            last_error: None,
        })
    }

    /// Records waiting in the spool (unacknowledged, including those read back).
    pub(crate) fn depth(&self) -> u64 {
        self.sp.depth()
    }

    /// Whether an episode is on: new records must go behind the spooled ones.
    pub(crate) fn active(&self) -> bool {
        self.sp.depth() > 0
    }

    /// The spool's counters.
    pub(crate) fn counters(&self) -> SpoolCounters {
        self.sp.counters()
    }

    /// The spool directory, for messages.
    pub(crate) fn dir(&self) -> String {
        self.sp.config().dir.display().to_string()
    }

    /// A record went straight to the memory queue.
    pub(crate) fn pushed_direct(&mut self) {
        self.tags.push_back(None);
    }

    fn note_err(&mut self, e: &SpoolError) {
        self.last_error = Some(e.to_string());
    }

    /// Appends `rec` (the caller counts a refusal).
    pub(crate) fn append(&mut self, rec: &[u8]) -> Result<(), SpoolError> {
        match self.sp.append(rec) {
            Ok(_) => Ok(()),
            Err(e) => {
                if !matches!(e, SpoolError::Full) {
                    self.note_err(&e);
                }
                Err(e)
            }
        }
    }

    /// Starts an episode: the memory queue's records after the first `keep` move to
    /// the spool, in order (they never went there: their tags are `None`). Records
    /// the spool refuses are counted in `refused`.
    pub(crate) fn spill(&mut self, q: &mut RecordQueue) {
        let keep = usize::from(q.head_done() > 0);
        let mut failed = 0u64;
        let sp = &mut self.sp;
        let mut last_err = None;
        let moved = q.split_off(keep, |rec| {
            if let Err(e) = sp.append(rec) {
                failed += 1;
                last_err = Some(e.to_string());
            }
        });
        self.tags.truncate(keep);
        self.refused += failed;
        if last_err.is_some() {
            self.last_error = last_err;
        }
        debug_assert!(moved >= failed as usize);
    }

    /// Moves committed spool records into the memory queue while they fit, and makes
    /// what was appended readable first when the queue would otherwise run dry.
    /// `commit` allows writing out appended records so they can be read back (from
    /// the tick, not per event: it may `fdatasync`). Reading starts only once the
    /// queue is at most half full, so a slow transport does not cost a file read per
    /// record.
    pub(crate) fn refill(&mut self, q: &mut RecordQueue, commit: bool) -> Result<(), SpoolError> {
        if !self.active() || !q.half_empty() {
            return Ok(());
        }
        loop {
            let mut batch = self.sp.peek(self.read, 256)?;
            if batch.is_empty() && commit && q.is_empty() && self.read < self.sp.next_seq() {
                // Appended but not yet committed: the transport is waiting for them.
                self.sp.commit()?;
                batch = self.sp.peek(self.read, 256)?;
            }
            if batch.is_empty() {
                return Ok(());
            }
            for (seq, rec) in batch {
                if q.push(&rec).is_err() {
                    return Ok(());
                }
                self.tags.push_back(Some(seq));
                self.read = seq + 1;
                self.replayed += 1;
            }
        }
    }

    /// `n` records at the front of the queue were written (or dropped): acknowledges
    /// the spooled ones.
    pub(crate) fn done(&mut self, n: usize) -> Result<(), SpoolError> {
        let mut last = None;
        for _ in 0..n {
            match self.tags.pop_front() {
                Some(Some(s)) => last = Some(s),
                Some(None) => {}
                None => break,
            }
        }
        match last {
            Some(s) => self.sp.ack(s),
            None => Ok(()),
        }
    }

    /// Writes what was appended (and the ack pointer) to the files.
    pub(crate) fn commit(&mut self) -> Result<(), SpoolError> {
        self.sp.commit()
    }

    /// Shutdown: records only the memory queue held go to the spool (it is empty:
    /// see the module doc), read-back ones are left there unacknowledged, and
    /// everything is committed. Returns (records the spool keeps, records of the
    /// memory queue that could not be kept: a partly written head during an episode,
    /// or what the spool refused).
    pub(crate) fn keep_at_stop(&mut self, q: &mut RecordQueue) -> Result<(u64, u64), SpoolError> {
        let mut lost = 0u64;
        if !self.active() {
            let sp = &mut self.sp;
            let mut err = None;
            q.split_off(0, |rec| {
                if let Err(e) = sp.append(rec) {
                    lost += 1;
                    err = Some(e);
                }
            });
            if let Some(e) = err {
                self.note_err(&e);
            }
        } else {
            lost = self.tags.iter().filter(|t| t.is_none()).count() as u64;
        }
        q.clear();
        self.tags.clear();
        self.read = self.sp.ack_next();
        self.sp.commit()?;
        Ok((self.sp.depth(), lost))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::QueueMax;

    fn dir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("ovf-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    /// Writes everything the queue holds (a transport that takes all), acking.
    fn drain(o: &mut Overflow, q: &mut RecordQueue, out: &mut Vec<u8>) {
        loop {
            o.refill(q, true).unwrap();
            if q.is_empty() {
                return;
            }
            out.extend_from_slice(q.pending());
            let n = q.pending().len();
            let done = q.consume(n);
            o.done(done).unwrap();
        }
    }

    #[test]
    fn an_episode_keeps_order_and_ends_when_the_spool_is_empty() {
        let d = dir("episode");
        let mut o = Overflow::open(SpoolConfig::new(&d, 1 << 20)).unwrap();
        let mut q = RecordQueue::new(QueueMax::Records(3));
        let mut expect = Vec::new();
        for i in 0..10 {
            let r = format!("r{i}\n");
            expect.extend_from_slice(r.as_bytes());
            if !o.active() && q.push(r.as_bytes()) == Ok(true) {
                o.pushed_direct();
                continue;
            }
            if !o.active() {
                o.spill(&mut q);
            }
            o.append(r.as_bytes()).unwrap();
        }
        assert_eq!(q.depth(), 0, "the whole queue moved to the spool");
        assert_eq!(o.depth(), 10);
        let mut out = Vec::new();
        drain(&mut o, &mut q, &mut out);
        assert_eq!(out, expect);
        assert!(!o.active());
        assert_eq!(o.replayed, 10);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_partly_written_head_stays_in_memory() {
        let d = dir("head");
        let mut o = Overflow::open(SpoolConfig::new(&d, 1 << 20)).unwrap();
        let mut q = RecordQueue::new(QueueMax::Records(2));
        for r in ["aaaa\n", "bbbb\n"] {
            q.push(r.as_bytes()).unwrap();
            o.pushed_direct();
        }
        let mut out = q.pending()[..2].to_vec();
        q.consume(2);
        o.spill(&mut q);
        o.append(b"cccc\n").unwrap();
        assert_eq!(q.depth(), 1);
        out.extend_from_slice(q.pending());
        let n = q.pending().len();
        let done = q.consume(n);
        o.done(done).unwrap();
        drain(&mut o, &mut q, &mut out);
        assert_eq!(out, b"aaaa\nbbbb\ncccc\n");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn stop_keeps_memory_records_and_a_restart_replays_them_in_order() {
        let d = dir("restart");
        {
            let mut o = Overflow::open(SpoolConfig::new(&d, 1 << 20)).unwrap();
            let mut q = RecordQueue::new(QueueMax::Records(100));
            for i in 0..5 {
                q.push(format!("m{i}\n").as_bytes()).unwrap();
                o.pushed_direct();
            }
            assert_eq!(o.keep_at_stop(&mut q).unwrap(), (5, 0));
        }
        {
            // An episode: three read back into memory, two written, then stop.
            let mut o = Overflow::open(SpoolConfig::new(&d, 1 << 20)).unwrap();
            assert!(o.active());
            o.append(b"n0\n").unwrap();
            let mut q = RecordQueue::new(QueueMax::Records(3));
            o.refill(&mut q, true).unwrap();
            assert_eq!(q.depth(), 3);
            let two = q.front().unwrap().len() * 2;
            let done = q.consume(two);
            o.done(done).unwrap();
            assert_eq!(o.keep_at_stop(&mut q).unwrap(), (4, 0));
        }
        let mut o = Overflow::open(SpoolConfig::new(&d, 1 << 20)).unwrap();
        let mut q = RecordQueue::new(QueueMax::Records(2));
        let mut out = Vec::new();
        drain(&mut o, &mut q, &mut out);
        assert_eq!(out, b"m2\nm3\nm4\nn0\n");
        let _ = std::fs::remove_dir_all(&d);
    }
}
