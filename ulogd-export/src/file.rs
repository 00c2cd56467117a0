//! The buffered file writer every file output shares, and a generic file sink.
//!
//! Files are opened in append mode in [`Stage::start`] (never by the constructor, so
//! `--check` touches nothing). With `sync=1` every record is flushed at once; else
//! records are buffered and flushed by a 1 s tick, at `flush()` and at `stop()`.
//! SIGHUP reopens the file (logrotate) under the same lock as writes, after flushing
//! the old file, so no record is lost or torn. The paths `-` and `stdout` mean the
//! standard output (ulogd2 2.0.8 has no such pseudo-path; an extension).

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use ulogd_core::{Event, PluginError, Ret, Signal, Stage};

/// Buffer size of a file output.
const BUF_SIZE: usize = 64 * 1024;

enum Dest {
    File(BufWriter<File>),
    Stdout(BufWriter<io::Stdout>),
}

impl Dest {
    fn w(&mut self) -> &mut dyn Write {
        match self {
            Dest::File(f) => f,
            Dest::Stdout(s) => s,
        }
    }
}

/// Whether a configured path means standard output.
pub(crate) fn is_stdout(path: &str) -> bool {
    path == "-" || path == "stdout"
}

/// One output file: open/reopen, buffered writes, counters.
pub(crate) struct OutFile {
    path: String,
    sync: bool,
    dest: Option<Dest>,
    dirty: bool,
    /// Records written.
    pub lines: u64,
    /// Failed writes or flushes.
    pub errors: u64,
}

impl OutFile {
    /// A closed writer for `path`.
    pub fn new(path: &str, sync: bool) -> OutFile {
        OutFile {
            path: path.to_string(),
            sync,
            dest: None,
            dirty: false,
            lines: 0,
            errors: 0,
        }
    }

    /// The configured path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Changes the path used by the next [`OutFile::open`] (XML's timestamped names).
    pub fn set_path(&mut self, path: String) {
        self.path = path;
    }

    fn open_dest(&self) -> io::Result<(Dest, bool)> {
        if is_stdout(&self.path) {
            return Ok((
                Dest::Stdout(BufWriter::with_capacity(BUF_SIZE, io::stdout())),
                false,
            ));
        }
        let f = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&self.path)?;
        let empty = f.metadata().map(|m| m.len() == 0).unwrap_or(false);
        Ok((Dest::File(BufWriter::with_capacity(BUF_SIZE, f)), empty))
    }

    /// Opens (or reopens) the file. On failure an already open file is kept. Returns
    /// whether the newly opened file is empty (so a header must be written).
    pub fn open(&mut self) -> io::Result<bool> {
        let (dest, empty) = self.open_dest()?;
        self.close_quiet();
        self.dest = Some(dest);
        Ok(empty)
    }

    /// Opens and writes `header` if the file is empty (PCAP) or `always`.
    pub fn open_with_header(&mut self, header: &[u8], always: bool) -> io::Result<()> {
        let empty = self.open()?;
        if (empty || always) && !header.is_empty() {
            self.write_raw(header);
            self.flush();
        }
        Ok(())
    }

    fn close_quiet(&mut self) {
        if let Some(mut d) = self.dest.take() {
            if d.w().flush().is_err() {
                self.errors += 1;
            }
        }
        self.dirty = false;
    }

    /// Writes bytes that are not a record (headers, footers).
    pub fn write_raw(&mut self, data: &[u8]) {
        match self.dest.as_mut() {
            Some(d) => {
                if d.w().write_all(data).is_err() {
                    self.errors += 1;
                } else {
                    self.dirty = true;
                }
            }
            None => self.errors += 1,
        }
    }

    /// Writes one record, flushing it when `sync` is set.
    pub fn write_record(&mut self, rec: &[u8]) -> bool {
        let Some(d) = self.dest.as_mut() else {
            self.errors += 1;
            return false;
        };
        if let Err(e) = d.w().write_all(rec) {
            self.errors += 1;
            log::error!("write to {} failed: {e}", self.path);
            return false;
        }
        self.lines += 1;
        self.dirty = true;
        if self.sync {
            self.flush();
        }
        true
    }

    /// Flushes buffered records.
    pub fn flush(&mut self) {
        if !self.dirty {
            return;
        }
        if let Some(d) = self.dest.as_mut() {
            if let Err(e) = d.w().flush() {
                self.errors += 1;
                log::error!("flush of {} failed: {e}", self.path);
            }
        }
        self.dirty = false;
    }

    /// Writes `footer` (if any), flushes and closes.
    pub fn close(&mut self, footer: &[u8]) {
        if self.dest.is_some() && !footer.is_empty() {
            self.write_raw(footer);
        }
        self.close_quiet();
    }
}

/// What a file sink does with each event.
pub(crate) trait Formatter: Send + 'static {
    /// Called by [`Stage::start`] before the file is opened (hostname lookup...).
    fn start(&mut self) -> Result<(), PluginError> {
        Ok(())
    }
    /// Formats one record into `out` (cleared by the caller). `false` writes nothing.
    fn format(&mut self, ev: &Event<'_>, out: &mut Vec<u8>) -> bool;
    /// Written when the opened file is empty (PCAP's file header).
    fn header(&self) -> Vec<u8> {
        Vec::new()
    }
}

struct Inner<F> {
    fmt: F,
    file: OutFile,
    buf: Vec<u8>,
}

/// A sink that formats each event into a reused buffer and appends it to a file.
pub(crate) struct FileStage<F: Formatter> {
    name: &'static str,
    inner: Mutex<Inner<F>>,
}

impl<F: Formatter> FileStage<F> {
    /// A sink of plugin `name` writing to `path`.
    pub fn new(name: &'static str, fmt: F, path: &str, sync: bool) -> FileStage<F> {
        FileStage {
            name,
            inner: Mutex::new(Inner {
                fmt,
                file: OutFile::new(path, sync),
                buf: Vec::with_capacity(4096),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<F>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<F: Formatter> Stage for FileStage<F> {
    fn start(&self) -> Result<(), PluginError> {
        let mut g = self.lock();
        g.fmt.start()?;
        let header = g.fmt.header();
        let path = g.file.path().to_string();
        g.file
            .open_with_header(&header, false)
            .map_err(|e| PluginError::new(format!("{}: can't open {path}: {e}", self.name)))
    }

    fn interp(&self, ev: &mut Event<'_>) -> Ret {
        let mut g = self.lock();
        let Inner { fmt, file, buf } = &mut *g;
        buf.clear();
        if !fmt.format(ev, buf) {
            return Ret::Ok;
        }
        if file.write_record(buf) {
            Ret::Ok
        } else {
            Ret::Err
        }
    }

    fn signal(&self, sig: Signal) {
        if sig != Signal::Hup {
            return;
        }
        let mut g = self.lock();
        let header = g.fmt.header();
        g.file.flush();
        log::info!("{}: reopening {}", self.name, g.file.path());
        if let Err(e) = g.file.open_with_header(&header, false) {
            log::error!("{}: can't reopen {}: {e}", self.name, g.file.path());
        }
    }

    fn tick(&self) {
        self.lock().file.flush();
    }

    fn tick_interval(&self) -> Option<Duration> {
        Some(Duration::from_secs(1))
    }

    fn flush(&self) {
        self.lock().file.flush();
    }

    fn stop(&self) {
        self.lock().file.close(&[]);
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        let g = self.lock();
        vec![("lines", g.file.lines), ("write_errors", g.file.errors)]
    }
}

/// Appends `s` up to its first NUL (C string semantics of ulogd2's `%s`).
pub(crate) fn c_str(s: &[u8]) -> &[u8] {
    match s.iter().position(|&b| b == 0) {
        Some(n) => &s[..n],
        None => s,
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
