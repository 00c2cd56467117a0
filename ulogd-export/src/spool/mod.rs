//! A bounded on-disk queue ("spool") for sinks whose peer may be away: records are
//! appended in order, read back in order, and deleted once the peer acknowledged
//! them. It survives a daemon restart and `kill -9`: whatever [`Spool::commit`]
//! returned for is in the files (and, with [`SyncMode::Batch`] or
//! [`SyncMode::Always`], on the disk), and the acknowledgement pointer is persisted
//! the same way, so a restart replays exactly what was not acknowledged.
//!
//! Layout of `spool_dir`: segment files `seg-<first seq, 20 digits>.log` (the record
//! format is in [`segment`]), `ack` (the first sequence number not acknowledged, with
//! a checksum; replaced atomically by rename) and `id` (a random id made when the
//! spool is created, so message ids derived from sequence numbers stay unique when a
//! spool directory is wiped and starts again at 0).
//!
//! Damage is never fatal: at open every segment is verified; a torn tail (the last
//! write was cut short) is truncated, a damaged record in the middle is skipped, and
//! both are counted in `corrupt`. When the spool is full the oldest segment is
//! dropped (counted in `dropped`) or, with [`WhenFull::Block`], `append` refuses with
//! [`SpoolError::Full`] so the caller can hold back (counted in `full`).

pub mod segment;

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use segment::{Item, SegmentIter};

/// A spool sequence number: consecutive, starting at 0 when the spool is created.
pub type Seq = u64;

/// When appended records are forced to the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncMode {
    /// Never `fdatasync`: records survive a daemon crash (they are in the page
    /// cache), not a power loss.
    None,
    /// `fdatasync` once per [`Spool::commit`] (one batch of records).
    Batch,
    /// Every `append` is written and synced before it returns.
    Always,
}

impl SyncMode {
    /// Parses `none`, `batch`, `always`.
    pub fn parse(s: &str) -> Option<SyncMode> {
        match s.to_ascii_lowercase().as_str() {
            "none" => Some(SyncMode::None),
            "batch" => Some(SyncMode::Batch),
            "always" => Some(SyncMode::Always),
            _ => None,
        }
    }
}

/// What a full spool does with one more record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WhenFull {
    /// Delete the oldest segment (its unacknowledged records count as `dropped`).
    DropOldest,
    /// Refuse the record ([`SpoolError::Full`]); the caller waits for acks.
    Block,
}

impl WhenFull {
    /// Parses `drop_oldest`, `block`.
    pub fn parse(s: &str) -> Option<WhenFull> {
        match s.to_ascii_lowercase().as_str() {
            "drop_oldest" => Some(WhenFull::DropOldest),
            "block" => Some(WhenFull::Block),
            _ => None,
        }
    }
}

/// How a spool is set up.
#[derive(Clone, Debug)]
pub struct SpoolConfig {
    /// The directory (created if missing). One spool per directory.
    pub dir: PathBuf,
    /// Upper bound of the segment files' total size.
    pub max_bytes: u64,
    /// A segment is closed and a new one started at this size.
    pub segment_bytes: u64,
    /// Durability.
    pub sync: SyncMode,
    /// Full behaviour.
    pub when_full: WhenFull,
}

impl SpoolConfig {
    /// `max_bytes` bound with segments of a sixteenth of it (1 MiB to 64 MiB), sync
    /// per batch, oldest dropped when full.
    pub fn new(dir: impl Into<PathBuf>, max_bytes: u64) -> SpoolConfig {
        SpoolConfig {
            dir: dir.into(),
            max_bytes,
            segment_bytes: (max_bytes / 16).clamp(1 << 20, 64 << 20),
            sync: SyncMode::Batch,
            when_full: WhenFull::DropOldest,
        }
    }
}

/// A spool error, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// I/O on a spool file.
    #[error("spool {path}: {err}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What failed.
        err: std::io::Error,
    },
    /// The spool holds `max_bytes` and is set to block.
    #[error("spool is full")]
    Full,
    /// A record larger than [`segment::MAX_PAYLOAD`] or than the spool itself.
    #[error("record of {0} bytes is larger than the spool accepts")]
    TooLarge(usize),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SpoolError + '_ {
    move |err| SpoolError::Io {
        path: path.to_path_buf(),
        err,
    }
}

/// The spool's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpoolCounters {
    /// Records appended and not yet acknowledged.
    pub depth: u64,
    /// Bytes in segment files (and the write buffer).
    pub bytes: u64,
    /// Records appended since open.
    pub spooled: u64,
    /// Records handed out by `peek` that an earlier run had written (replay after a
    /// restart).
    pub replayed: u64,
    /// Records deleted unacknowledged because the spool was full.
    pub dropped: u64,
    /// Damaged records and torn tails found (a record lost to damage counts once).
    pub corrupt: u64,
    /// `append` calls refused because the spool was full ([`WhenFull::Block`]).
    pub full: u64,
}

#[derive(Debug)]
struct SegMeta {
    /// Sequence number in the file name: no record in it is older.
    first: Seq,
    /// One past the newest record in it (`first` when empty).
    next: Seq,
    path: PathBuf,
    bytes: u64,
}

/// The read cursor: where the next `peek` continues without re-reading.
#[derive(Debug, Default)]
struct Cursor {
    seg_first: Seq,
    offset: u64,
    next: Seq,
}

/// A bounded on-disk FIFO of byte records (see the module doc).
pub struct Spool {
    cfg: SpoolConfig,
    id: String,
    segs: VecDeque<SegMeta>,
    writer: Option<File>,
    wbuf: Vec<u8>,
    /// Sequence numbers of the buffered (uncommitted) records: `wfirst..next_seq`.
    wfirst: Seq,
    next_seq: Seq,
    /// First sequence number not acknowledged.
    ack_next: Seq,
    ack_dirty: bool,
    /// Records below this were written by an earlier run.
    run_first: Seq,
    cursor: Cursor,
    counters: SpoolCounters,
}

fn seg_name(first: Seq) -> String {
    format!("seg-{first:020}.log")
}

fn parse_seg_name(name: &str) -> Option<Seq> {
    name.strip_prefix("seg-")?
        .strip_suffix(".log")?
        .parse()
        .ok()
}

impl Spool {
    /// Opens (or creates) the spool in `cfg.dir`: verifies every segment, truncates a
    /// torn tail, counts damage, and positions reading after the acknowledged records.
    pub fn open(cfg: SpoolConfig) -> Result<Spool, SpoolError> {
        fs::create_dir_all(&cfg.dir).map_err(io(&cfg.dir))?;
        let id = read_or_make_id(&cfg.dir)?;
        let ack_next = read_ack(&cfg.dir);
        let mut firsts: Vec<Seq> = fs::read_dir(&cfg.dir)
            .map_err(io(&cfg.dir))?
            .filter_map(|e| e.ok())
            .filter_map(|e| parse_seg_name(&e.file_name().to_string_lossy()))
            .collect();
        firsts.sort_unstable();
        let mut segs = VecDeque::new();
        let mut corrupt = 0u64;
        let mut next_seq = 0;
        let nsegs = firsts.len();
        for (i, first) in firsts.into_iter().enumerate() {
            let path = cfg.dir.join(seg_name(first));
            let buf = fs::read(&path).map_err(io(&path))?;
            let (mut next, mut valid_end) = (first, 0usize);
            for it in SegmentIter::new(&buf) {
                match it {
                    Item::Record { seq, payload, .. } => {
                        next = next.max(seq + 1);
                        valid_end = it_end(seq, payload, &buf);
                    }
                    Item::Corrupt { .. } => corrupt += 1,
                    Item::Torn { offset } => {
                        corrupt += 1;
                        valid_end = offset;
                    }
                }
            }
            if valid_end < buf.len() {
                // Cut off the torn tail, so appends follow valid records.
                if i + 1 == nsegs {
                    let f = OpenOptions::new()
                        .write(true)
                        .open(&path)
                        .map_err(io(&path))?;
                    f.set_len(valid_end as u64).map_err(io(&path))?;
                }
                log::warn!(
                    "spool {}: {} damaged bytes at the end skipped",
                    path.display(),
                    buf.len() - valid_end
                );
            }
            let bytes = if i + 1 == nsegs {
                valid_end as u64
            } else {
                buf.len() as u64
            };
            next_seq = next_seq.max(next);
            segs.push_back(SegMeta {
                first,
                next,
                path,
                bytes,
            });
        }
        // Numbering goes on after the acknowledged records even when every segment
        // is gone (message ids derived from it must never repeat).
        let next_seq = next_seq.max(ack_next);
        let mut sp = Spool {
            id,
            segs,
            writer: None,
            wbuf: Vec::with_capacity(64 << 10),
            wfirst: next_seq,
            next_seq,
            ack_next,
            ack_dirty: false,
            run_first: next_seq,
            cursor: Cursor::default(),
            counters: SpoolCounters {
                corrupt,
                ..Default::default()
            },
            cfg,
        };
        sp.drop_acked_segments()?;
        sp.update_gauges();
        Ok(sp)
    }

    /// The spool's random id (stable for the life of the directory).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The configuration.
    pub fn config(&self) -> &SpoolConfig {
        &self.cfg
    }

    /// Appends a record; it is acknowledged to the spool (survives `kill -9`) once
    /// [`Spool::commit`] returned (at once with [`SyncMode::Always`]).
    pub fn append(&mut self, payload: &[u8]) -> Result<Seq, SpoolError> {
        let rl = segment::record_len(payload.len()) as u64;
        if payload.len() > segment::MAX_PAYLOAD || rl > self.cfg.max_bytes {
            return Err(SpoolError::TooLarge(payload.len()));
        }
        while self.total_bytes() + rl > self.cfg.max_bytes {
            match self.cfg.when_full {
                WhenFull::Block => {
                    self.counters.full += 1;
                    return Err(SpoolError::Full);
                }
                WhenFull::DropOldest => {
                    if !self.drop_oldest()? {
                        self.counters.full += 1;
                        return Err(SpoolError::Full);
                    }
                }
            }
        }
        let active = self.segs.back().map_or(u64::MAX, |s| s.bytes) + self.wbuf.len() as u64;
        if self.segs.is_empty() || (active > 0 && active + rl > self.cfg.segment_bytes) {
            self.roll()?;
        }
        let seq = self.next_seq;
        segment::emit(&mut self.wbuf, seq, payload);
        self.next_seq += 1;
        self.counters.spooled += 1;
        if self.cfg.sync == SyncMode::Always || self.wbuf.len() >= 256 << 10 {
            self.commit()?;
        }
        self.update_gauges();
        Ok(seq)
    }

    /// Writes buffered records and the acknowledgement pointer to the files, and
    /// syncs them unless [`SyncMode::None`].
    pub fn commit(&mut self) -> Result<(), SpoolError> {
        if !self.wbuf.is_empty() {
            let seg = self.segs.back_mut().expect("roll() made a segment");
            if self.writer.is_none() {
                let f = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&seg.path)
                    .map_err(io(&seg.path))?;
                self.writer = Some(f);
            }
            let w = self.writer.as_mut().expect("just opened");
            w.write_all(&self.wbuf).map_err(io(&seg.path))?;
            if self.cfg.sync != SyncMode::None {
                w.sync_data().map_err(io(&seg.path))?;
            }
            seg.bytes += self.wbuf.len() as u64;
            seg.next = self.next_seq;
            self.wbuf.clear();
            self.wfirst = self.next_seq;
        }
        if self.ack_dirty {
            write_ack(
                &self.cfg.dir,
                self.ack_next,
                self.cfg.sync != SyncMode::None,
            )?;
            self.ack_dirty = false;
        }
        Ok(())
    }

    /// Up to `max` committed records with sequence number `from` or later, oldest
    /// first (records acknowledged are never returned: `from` is raised to the ack
    /// pointer). Sequence numbers may jump where damaged records were skipped.
    pub fn peek(&mut self, from: Seq, max: usize) -> Result<Vec<(Seq, Vec<u8>)>, SpoolError> {
        let from = from.max(self.ack_next);
        let mut out = Vec::new();
        if max == 0 || from >= self.wfirst || self.segs.is_empty() {
            return Ok(out);
        }
        // The segment holding `from` (the oldest one if `from` was dropped).
        let mut si = self.segs.iter().rposition(|s| s.first <= from).unwrap_or(0);
        // Continue at the cursor when it stands at or before `from` in that segment.
        let mut offset = if self.cursor.seg_first == self.segs[si].first
            && self.cursor.next <= from
            && self.cursor.offset <= self.segs[si].bytes
        {
            self.cursor.offset
        } else {
            0
        };
        let mut window = 256usize << 10;
        while out.len() < max && si < self.segs.len() {
            let seg = &self.segs[si];
            let end = seg.bytes;
            if offset >= end {
                si += 1;
                offset = 0;
                continue;
            }
            let remaining = end - offset;
            let want = remaining.min(window as u64) as usize;
            let mut buf = vec![0u8; want];
            let mut f = File::open(&seg.path).map_err(io(&seg.path))?;
            f.seek(SeekFrom::Start(offset)).map_err(io(&seg.path))?;
            f.read_exact(&mut buf).map_err(io(&seg.path))?;
            let (mut consumed, mut next) = (
                0usize,
                if offset == 0 {
                    seg.first
                } else {
                    self.cursor.next
                },
            );
            for item in SegmentIter::new(&buf) {
                match item {
                    Item::Record { seq, payload, .. } => {
                        consumed = it_end(seq, payload, &buf);
                        next = seq + 1;
                        if seq >= from {
                            if seq < self.run_first {
                                self.counters.replayed += 1;
                            }
                            out.push((seq, payload.to_vec()));
                            if out.len() == max {
                                break;
                            }
                        }
                    }
                    Item::Corrupt { offset: o, len } => consumed = o + len,
                    // A record cut by the read window, or damage at the end.
                    Item::Torn { .. } => break,
                }
            }
            if consumed == 0 {
                if (want as u64) < remaining {
                    // One record larger than the window: read more at once.
                    window = window.saturating_mul(4);
                    continue;
                }
                // Nothing whole up to the segment's end: damage, skip it.
                offset = end;
            } else {
                offset += consumed as u64;
            }
            self.cursor = Cursor {
                seg_first: seg.first,
                offset,
                next,
            };
        }
        Ok(out)
    }

    /// Acknowledges every record up to and including `seq`: they are deleted (whole
    /// segments at a time) and not replayed after a restart once the pointer is
    /// committed.
    pub fn ack(&mut self, seq: Seq) -> Result<(), SpoolError> {
        let n = (seq + 1).min(self.next_seq);
        if n > self.ack_next {
            self.ack_next = n;
            self.ack_dirty = true;
            self.drop_acked_segments()?;
            if self.cfg.sync == SyncMode::Always {
                self.commit()?;
            }
        }
        self.update_gauges();
        Ok(())
    }

    /// The first sequence number not acknowledged.
    pub fn ack_next(&self) -> Seq {
        self.ack_next
    }

    /// The sequence number the next `append` gets.
    pub fn next_seq(&self) -> Seq {
        self.next_seq
    }

    /// Records not acknowledged.
    pub fn depth(&self) -> u64 {
        self.next_seq - self.ack_next
    }

    /// Counters.
    pub fn counters(&self) -> SpoolCounters {
        self.counters
    }

    fn total_bytes(&self) -> u64 {
        self.segs.iter().map(|s| s.bytes).sum::<u64>() + self.wbuf.len() as u64
    }

    fn update_gauges(&mut self) {
        self.counters.depth = self.depth();
        self.counters.bytes = self.total_bytes();
    }

    /// Starts a new segment at `next_seq` (after writing out the buffer).
    fn roll(&mut self) -> Result<(), SpoolError> {
        self.commit()?;
        self.writer = None;
        let first = self.next_seq;
        if self.segs.back().is_some_and(|s| s.first == first) {
            return Ok(()); // an empty segment already starts here
        }
        let path = self.cfg.dir.join(seg_name(first));
        File::create(&path).map_err(io(&path))?;
        if self.cfg.sync != SyncMode::None {
            if let Ok(d) = File::open(&self.cfg.dir) {
                let _ = d.sync_all();
            }
        }
        self.segs.push_back(SegMeta {
            first,
            next: first,
            path,
            bytes: 0,
        });
        Ok(())
    }

    /// Deletes the oldest segment to make room; `false` if only the one being
    /// written is left.
    fn drop_oldest(&mut self) -> Result<bool, SpoolError> {
        if self.segs.len() <= 1 {
            if self.segs.back().is_some_and(|s| s.bytes > 0) || !self.wbuf.is_empty() {
                // Close the active segment so it can go.
                self.roll()?;
            }
            if self.segs.len() <= 1 {
                return Ok(false);
            }
        }
        let seg = self.segs.pop_front().expect("len > 1");
        let lost = seg.next.saturating_sub(self.ack_next.max(seg.first));
        self.counters.dropped += lost;
        if self.ack_next < seg.next {
            self.ack_next = seg.next;
            self.ack_dirty = true;
        }
        fs::remove_file(&seg.path).map_err(io(&seg.path))?;
        log::warn!(
            "spool {}: full ({} bytes), dropped {} unacknowledged records",
            self.cfg.dir.display(),
            self.cfg.max_bytes,
            lost
        );
        Ok(true)
    }

    fn drop_acked_segments(&mut self) -> Result<(), SpoolError> {
        while self.segs.len() > 1 && self.segs[0].next <= self.ack_next {
            let seg = self.segs.pop_front().expect("len > 1");
            fs::remove_file(&seg.path).map_err(io(&seg.path))?;
        }
        // The segment being written, once wholly acknowledged and a quarter full,
        // goes too (the next append starts a new one), so an idle spool is small.
        if let [seg] = self.segs.make_contiguous() {
            if seg.next <= self.ack_next
                && self.wbuf.is_empty()
                && seg.bytes >= self.cfg.segment_bytes / 4
            {
                // The ack pointer must be on disk first: it carries the numbering.
                write_ack(
                    &self.cfg.dir,
                    self.ack_next,
                    self.cfg.sync != SyncMode::None,
                )?;
                self.ack_dirty = false;
                let seg = self.segs.pop_front().expect("one segment");
                self.writer = None;
                fs::remove_file(&seg.path).map_err(io(&seg.path))?;
            }
        }
        Ok(())
    }
}

/// End offset of a record whose payload slice lies in `buf`.
fn it_end(_seq: Seq, payload: &[u8], buf: &[u8]) -> usize {
    payload.as_ptr() as usize - buf.as_ptr() as usize + payload.len()
}

fn read_or_make_id(dir: &Path) -> Result<String, SpoolError> {
    let p = dir.join("id");
    if let Ok(s) = fs::read_to_string(&p) {
        let s = s.trim();
        if !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Ok(s.to_string());
        }
    }
    let mut raw = [0u8; 8];
    if File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut raw))
        .is_err()
    {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        raw = (t ^ (std::process::id() as u64) << 40).to_le_bytes();
    }
    let id: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    let tmp = dir.join("id.tmp");
    fs::write(&tmp, &id).map_err(io(&tmp))?;
    fs::rename(&tmp, &p).map_err(io(&p))?;
    Ok(id)
}

/// The ack file: seq (u64 LE) and its CRC-32C. A damaged or missing file reads as 0,
/// which replays everything still in the segments (duplicates, never loss).
fn read_ack(dir: &Path) -> Seq {
    let Ok(b) = fs::read(dir.join("ack")) else {
        return 0;
    };
    if b.len() != 12 {
        return 0;
    }
    let seq = u64::from_le_bytes(b[0..8].try_into().expect("8 bytes"));
    let crc = u32::from_le_bytes(b[8..12].try_into().expect("4 bytes"));
    if crc32c::crc32c(&b[0..8]) == crc {
        seq
    } else {
        log::warn!(
            "spool {}: damaged ack file, replaying every record kept",
            dir.display()
        );
        0
    }
}

fn write_ack(dir: &Path, seq: Seq, sync: bool) -> Result<(), SpoolError> {
    let tmp = dir.join("ack.tmp");
    let mut b = seq.to_le_bytes().to_vec();
    b.extend_from_slice(&crc32c::crc32c(&b).to_le_bytes());
    let mut f = File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(&b).map_err(io(&tmp))?;
    if sync {
        f.sync_data().map_err(io(&tmp))?;
    }
    let p = dir.join("ack");
    fs::rename(&tmp, &p).map_err(io(&p))
}

#[cfg(test)]
mod tests;
