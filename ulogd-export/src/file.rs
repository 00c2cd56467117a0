//! The file-output names the formats used before [`crate::output`] existed, kept so
//! their code reads as before: [`Formatter`] + [`FileStage`] (an [`OutputStage`] over a
//! [`FileTransport`] with the file defaults), and [`OutFile`] for outputs that manage
//! their own file life cycle (XML's per-event file names).
//!
//! Files are opened in append mode in `start()` (never by the constructor, so
//! `--check` touches nothing). With `sync=1` every record is written at once; else
//! records are written when 64 KiB are queued, by a 1 s tick, at `flush()` and at
//! `stop()`. SIGHUP reopens the file (logrotate) under the same lock as writes, after
//! writing what is queued, so no record is lost or torn. The paths `-` and `stdout`
//! mean the standard output (ulogd2 2.0.8 has no such pseudo-path; an extension).

use std::marker::PhantomData;

use ulogd_core::{Event, PluginError};

pub(crate) use crate::output::c_str;
use crate::output::{Encoder, OutputStage, QueueConfig, RecordQueue, WhenFull, FILE_QUEUE_MAX};
use crate::transport::{FileTransport, Opened, Transport};

/// What a file sink does with each event (an [`Encoder`] under its older name).
pub(crate) trait Formatter: Send + 'static {
    /// Called by `start` before the file is opened (hostname lookup...).
    fn start(&mut self) -> Result<(), PluginError> {
        Ok(())
    }
    /// What `format` needs from a stack's key names, once per stack (see
    /// [`Encoder::bind`]).
    fn bind(
        &self,
        _keys: &ulogd_core::StackKeys<'_>,
    ) -> Result<ulogd_core::BindState, PluginError> {
        Ok(ulogd_core::BindState::none())
    }
    /// Formats one record into `out` (append only). `false` writes nothing.
    fn format(&mut self, ev: &Event<'_>, out: &mut Vec<u8>) -> bool;
    /// Written when the opened file is empty (PCAP's file header).
    fn header(&self) -> Vec<u8> {
        Vec::new()
    }
}

/// A [`Formatter`] used as an [`Encoder`].
pub(crate) struct Formatted<F>(F);

impl<F: Formatter> Encoder for Formatted<F> {
    fn start(&mut self) -> Result<(), PluginError> {
        self.0.start()
    }
    fn bind(&self, keys: &ulogd_core::StackKeys<'_>) -> Result<ulogd_core::BindState, PluginError> {
        self.0.bind(keys)
    }
    fn encode(&mut self, ev: &Event<'_>, out: &mut Vec<u8>) -> bool {
        self.0.format(ev, out)
    }
    fn header(&self) -> Vec<u8> {
        self.0.header()
    }
}

/// Builds the output stage of a [`Formatter`] writing to a file.
pub(crate) struct FileStage<F>(PhantomData<F>);

impl<F: Formatter> FileStage<F> {
    /// A sink of plugin `name` writing to `path` (`when_full=block`, 1 MiB queue).
    #[allow(clippy::new_ret_no_self)]
    pub fn new(name: &'static str, fmt: F, path: &str, sync: bool) -> OutputStage<Formatted<F>> {
        OutputStage::new(
            name,
            Formatted(fmt),
            Box::new(FileTransport::new(path)),
            QueueConfig::new(FILE_QUEUE_MAX, WhenFull::Block),
            sync,
        )
    }
}

/// One output file with its own life cycle (XML): open/reopen, queued writes, counters.
pub(crate) struct OutFile {
    t: FileTransport,
    q: RecordQueue,
    sync: bool,
    reported: bool,
    /// Records that reached the file.
    pub lines: u64,
    /// Failed writes, and records that could not be written.
    pub errors: u64,
}

const FLUSH_AT: usize = 64 * 1024;

impl OutFile {
    /// A closed writer for `path`.
    pub fn new(path: &str, sync: bool) -> OutFile {
        OutFile {
            t: FileTransport::new(path),
            q: RecordQueue::new(FILE_QUEUE_MAX),
            sync,
            reported: false,
            lines: 0,
            errors: 0,
        }
    }

    /// The configured path.
    pub fn path(&self) -> &str {
        self.t.path()
    }

    /// Changes the path used by the next [`OutFile::open`] (XML's timestamped names).
    pub fn set_path(&mut self, path: String) {
        self.t.set_path(path);
    }

    /// Opens (or reopens) the file, after writing what is queued to the old one. On
    /// failure an already open file is kept. Returns whether the newly opened file is
    /// empty (so a header must be written).
    pub fn open(&mut self) -> std::io::Result<bool> {
        self.flush();
        if self.q.head_done() > 0 && self.t.discard_tail(self.q.head_done() as u64).is_ok() {
            self.q.rewind_front();
        }
        match self.t.open()? {
            Opened::Ready { empty } => Ok(empty),
            Opened::Pending => Ok(false),
        }
    }

    /// Opens and writes `header` if the file is empty or `always`.
    pub fn open_with_header(&mut self, header: &[u8], always: bool) -> std::io::Result<()> {
        let empty = self.open()?;
        if (empty || always) && !header.is_empty() {
            self.write_raw(header);
        }
        Ok(())
    }

    /// Writes bytes that are not a record (headers, footers), after the queued records.
    pub fn write_raw(&mut self, data: &[u8]) {
        self.flush();
        let mut d = data;
        while !d.is_empty() {
            match self.t.write(d) {
                Ok(n) => d = &d[n..],
                Err(e) => {
                    self.errors += 1;
                    log::error!("write to {} failed: {e}", self.t.path());
                    return;
                }
            }
        }
    }

    /// Queues one record, writing it at once when `sync` is set.
    pub fn write_record(&mut self, rec: &[u8]) -> bool {
        if !self.t.is_open() {
            self.errors += 1;
            return false;
        }
        if self.q.bytes() >= FLUSH_AT {
            self.flush();
        }
        if self.q.push(rec).is_err() {
            self.errors += 1;
            return false;
        }
        if self.sync || self.q.bytes() >= FLUSH_AT {
            self.flush();
        }
        true
    }

    /// Writes queued records; `lines` counts those the kernel took whole.
    pub fn flush(&mut self) {
        while !self.q.is_empty() && self.t.is_open() {
            match self.t.write(self.q.pending()) {
                Ok(n) => {
                    self.lines += self.q.consume(n) as u64;
                    self.reported = false;
                }
                Err(e) => {
                    self.errors += 1;
                    if !self.reported {
                        log::error!(
                            "write to {} failed: {e}; {} records waiting",
                            self.t.path(),
                            self.q.depth()
                        );
                        self.reported = true;
                    }
                    return;
                }
            }
        }
    }

    /// Writes `footer` (if any), flushes and closes; reports records it could not write.
    pub fn close(&mut self, footer: &[u8]) {
        if self.t.is_open() && !footer.is_empty() {
            self.write_raw(footer);
        }
        self.flush();
        if !self.q.is_empty() {
            let _ = self.t.discard_tail(self.q.head_done() as u64);
            let (n, bytes) = self.q.clear();
            self.errors += n as u64;
            log::error!(
                "{n} records ({bytes} bytes) could not be written to {}; they are lost",
                self.t.path()
            );
        }
        self.t.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_reopen_and_header() {
        let dir = std::env::temp_dir().join(format!("ulogd-export-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("a.log");
        let _ = std::fs::remove_file(&p);
        let mut f = OutFile::new(p.to_str().unwrap(), false);
        f.open_with_header(b"HDR\n", false).unwrap();
        assert!(f.write_record(b"one\n"));
        f.flush();
        // logrotate: move away, reopen, keep writing.
        let rotated = dir.join("a.log.1");
        std::fs::rename(&p, &rotated).unwrap();
        assert!(f.write_record(b"two\n"));
        f.open_with_header(b"HDR\n", false).unwrap();
        assert!(f.write_record(b"three\n"));
        f.close(b"");
        assert_eq!(std::fs::read(&rotated).unwrap(), b"HDR\none\ntwo\n");
        assert_eq!(std::fs::read(&p).unwrap(), b"HDR\nthree\n");
        // Existing non-empty file: no second header.
        let mut f = OutFile::new(p.to_str().unwrap(), true);
        f.open_with_header(b"HDR\n", false).unwrap();
        f.write_record(b"four\n");
        assert_eq!(std::fs::read(&p).unwrap(), b"HDR\nthree\nfour\n");
        assert_eq!((f.lines, f.errors), (1, 0));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn missing_dir_fails() {
        let mut f = OutFile::new("/nonexistent-dir-ulogd/x.log", false);
        assert!(f.open().is_err());
        assert!(!f.write_record(b"x"));
        assert_eq!(f.errors, 1);
    }
}
