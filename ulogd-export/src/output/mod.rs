//! Outputs as encoder × queue × transport.
//!
//! Every line-, record- or datagram-oriented sink is one [`OutputStage`]: an
//! [`Encoder`] (the format: JSON, LOGEMU, GPRINT, NACCT, PCAP, GRAPHITE...) turns an
//! event into the bytes of one record, appended straight into a bounded
//! [`RecordQueue`]; a [`Transport`](crate::transport::Transport) (file, TCP, UDP, unix)
//! takes the bytes. The stage owns what the formats used to redo each: the lock, open
//! at start, reopen on SIGHUP, reconnect with backoff, the queue bound and its
//! `when_full` policy, rate-limited error messages and the counters — `written` counts
//! records the kernel took whole (for a file: what reached the disk, not what was
//! handed to a buffer).
//!
//! ```text
//! interp: event ─Encoder::encode─▶ RecordQueue ─(non-blocking write)─▶ Transport
//! tick:   reconnect / retry / drain ───────────┘
//! ```

use std::path::PathBuf;
use std::time::Duration;

use ulogd_core::{BindState, Event, OptionDef, Options, PluginError, StackKeys};

use crate::spool::{SpoolConfig, SyncMode, WhenFull as SpoolFull};

pub(crate) mod overflow;
pub(crate) mod queue;
pub(crate) mod stage;

pub use queue::{QueueMax, RecordQueue};
pub(crate) use stage::OutputStage;

/// Turns one event into the bytes of one record.
///
/// The stage calls these under its lock, one event at a time, in the source's order.
pub trait Encoder: Send + 'static {
    /// Called by `start` before the transport opens (hostname look-up...).
    fn start(&mut self) -> Result<(), PluginError> {
        Ok(())
    }
    /// Works out, once per stack feeding this output, what `encode` needs from the
    /// key names (the stage's [`ulogd_core::Stage::bind`]); `encode` reads it back
    /// with `ev.bind_state::<T>()`.
    fn bind(&self, _keys: &StackKeys<'_>) -> Result<BindState, PluginError> {
        Ok(BindState::none())
    }
    /// Appends one record for `ev` to `out` (which holds earlier queued records: only
    /// append). `false` means this event has no record.
    fn encode(&mut self, ev: &Event<'_>, out: &mut Vec<u8>) -> bool;
    /// Bytes written when a file is opened empty (PCAP's file header).
    fn header(&self) -> Vec<u8> {
        Vec::new()
    }
}

/// What to do with a record when the queue is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WhenFull {
    /// Wait for the transport while it accepts data (a slow disk, a peer that reads
    /// slowly; at most 1 s per record for a peer). A transport in error (disk full,
    /// peer gone) cannot be waited for: the record is dropped and counted.
    Block,
    /// Drop the new record and count it (`dropped`); the loop never waits.
    DropNewest,
    /// Records that do not fit go to the output's disk spool ([`overflow`]), and
    /// come back from it in order as the transport takes them.
    Spool,
}

/// As the option is written (`block`, `drop_newest`, `spool`).
impl std::fmt::Display for WhenFull {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WhenFull::Block => "block",
            WhenFull::DropNewest => "drop_newest",
            WhenFull::Spool => "spool",
        })
    }
}

impl WhenFull {
    /// Parses `block`, `drop_newest` or `spool`.
    pub fn parse(s: &str) -> Result<WhenFull, String> {
        match s.to_ascii_lowercase().as_str() {
            "block" => Ok(WhenFull::Block),
            "drop_newest" => Ok(WhenFull::DropNewest),
            "spool" => Ok(WhenFull::Spool),
            other => Err(format!(
                "must be block, drop_newest or spool, not \"{other}\""
            )),
        }
    }
}

/// The queue settings of one output.
#[derive(Clone, Debug)]
pub struct QueueConfig {
    /// The bound.
    pub max: QueueMax,
    /// The policy when it is reached.
    pub when_full: WhenFull,
    /// The spool of `when_full=spool`.
    pub spool: Option<SpoolConfig>,
    /// Longest time a record is held (in the queue, not yet handed to the file or
    /// the peer) after the event that made it, when the output is buffered.
    pub flush_interval: Duration,
}

impl QueueConfig {
    /// A bound and a policy, no spool, the default flush interval.
    pub fn new(max: QueueMax, when_full: WhenFull) -> QueueConfig {
        QueueConfig {
            max,
            when_full,
            spool: None,
            flush_interval: FLUSH_INTERVAL,
        }
    }
}

/// Default `queue_max` of a file output: room for a burst while the disk is full.
pub const FILE_QUEUE_MAX: QueueMax = QueueMax::Bytes(1 << 20);
/// Default `queue_max` of a network output: about 5 s of a busy peer's stall.
pub const NET_QUEUE_MAX: QueueMax = QueueMax::Bytes(4 << 20);
/// Default `flush_interval`.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// The `queue_max`, `when_full`, spool and `flush_interval` option declarations every
/// queued output has.
pub(crate) fn queue_options() -> Vec<OptionDef> {
    vec![
        OptionDef::string(
            "queue_max",
            "",
            "bound of the output's queue: records (10000) or bytes (4MiB); default 1MiB for files, 4MiB for sockets",
        ),
        OptionDef::string(
            "when_full",
            "",
            "when the queue is full: block (default for files), drop_newest (default for sockets, counted) or spool (to spool_dir, replayed in order)",
        ),
    ]
    .into_iter()
    .chain(spool_options())
    .chain([
        OptionDef::string(
            "flush_interval",
            "1s",
            "longest time a buffered record is held before it is written (1s, 250ms)",
        ),
    ])
    .collect()
}

/// The options of `when_full=spool` (shared with PGSQL).
pub(crate) fn spool_options() -> Vec<OptionDef> {
    vec![
        OptionDef::string(
            "spool_dir",
            "",
            "when_full=spool: the spool directory (default /var/spool/ulogd/<instance>)",
        ).exclusive(),
        OptionDef::string(
            "spool_max_bytes",
            "1GiB",
            "when_full=spool: bound of the spool's files (bytes: 1GiB, 512MiB)",
        ),
        OptionDef::string(
            "spool_sync",
            "batch",
            "when_full=spool: none, batch (fdatasync per commit: every tick or 256KiB) or always (per record)",
        ),
        OptionDef::string(
            "spool_full",
            "drop_oldest",
            "when_full=spool, spool full: drop_oldest (counted) or block (wait like when_full=block, then drop the newest, counted)",
        ),
    ]
}

/// Parses `1`, `1s`, `0.5s`, `250ms`.
pub(crate) fn parse_interval(s: &str) -> Result<Duration, String> {
    let t = s.trim().to_ascii_lowercase();
    let (num, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else {
        (t.as_str(), 1.0)
    };
    match num.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v * scale >= 0.001 && v * scale <= 3600.0 => {
            Ok(Duration::from_secs_f64(v * scale))
        }
        Ok(_) => Err(format!("\"{s}\" must be between 1ms and 3600s")),
        Err(_) => Err(format!("\"{s}\" is not a duration (1s, 250ms)")),
    }
}

/// Reads `queue_max` / `when_full` / the spool / `flush_interval`, with the defaults
/// of a file or a network output.
pub(crate) fn queue_config(o: &Options, network: bool) -> Result<QueueConfig, PluginError> {
    let err = |key: &str, e: String| PluginError::new(o.error(key, e).to_string());
    let max = match o.str("queue_max") {
        "" if network => NET_QUEUE_MAX,
        "" => FILE_QUEUE_MAX,
        s => QueueMax::parse(s).map_err(|e| err("queue_max", e))?,
    };
    let when_full = match o.str("when_full") {
        "" if network => WhenFull::DropNewest,
        "" => WhenFull::Block,
        s => WhenFull::parse(s).map_err(|e| err("when_full", e))?,
    };
    let flush_interval =
        parse_interval(o.str("flush_interval")).map_err(|e| err("flush_interval", e))?;
    let spool = spool_config(o, when_full == WhenFull::Spool)?;
    Ok(QueueConfig {
        max,
        when_full,
        spool,
        flush_interval,
    })
}

/// Reads the spool options: `Some` when `on` (`when_full=spool`); when not, naming
/// one of them is an error.
pub(crate) fn spool_config(o: &Options, on: bool) -> Result<Option<SpoolConfig>, PluginError> {
    let err = |key: &str, e: String| PluginError::new(o.error(key, e).to_string());
    if !on {
        for key in ["spool_dir", "spool_max_bytes", "spool_sync", "spool_full"] {
            if o.given(key) {
                return Err(err(key, "is only used with when_full=spool".into()));
            }
        }
        return Ok(None);
    }
    let dir = match o.str("spool_dir") {
        "" => PathBuf::from("/var/spool/ulogd").join(o.instance()),
        d => PathBuf::from(d),
    };
    let max_bytes = match QueueMax::parse(o.str("spool_max_bytes")) {
        Ok(QueueMax::Bytes(b)) if b >= 4096 => b as u64,
        Ok(_) => {
            return Err(err(
                "spool_max_bytes",
                "must be a size in bytes of at least 4KiB (e.g. 1GiB)".into(),
            ))
        }
        Err(e) => return Err(err("spool_max_bytes", e)),
    };
    let mut c = SpoolConfig::new(dir, max_bytes);
    c.segment_bytes = c.segment_bytes.min(max_bytes / 4).max(1024);
    c.sync = SyncMode::parse(o.str("spool_sync")).ok_or_else(|| {
        err(
            "spool_sync",
            format!(
                "must be none, batch or always, not \"{}\"",
                o.str("spool_sync")
            ),
        )
    })?;
    c.when_full = SpoolFull::parse(o.str("spool_full")).ok_or_else(|| {
        err(
            "spool_full",
            format!(
                "must be drop_oldest or block, not \"{}\"",
                o.str("spool_full")
            ),
        )
    })?;
    Ok(Some(c))
}

/// `s` up to its first NUL (C string semantics of ulogd2's `%s`).
pub(crate) fn c_str(s: &[u8]) -> &[u8] {
    match s.iter().position(|&b| b == 0) {
        Some(n) => &s[..n],
        None => s,
    }
}

/// The user the daemon will run as after `-u` (uid, groups), so outputs can say at
/// start that a reopen or reconnect will be refused once privileges are dropped.
static RUN_AS: std::sync::Mutex<Option<(u32, Vec<u32>)>> = std::sync::Mutex::new(None);

/// Tells the outputs, before they start, which user the daemon drops to (`-u`).
pub fn set_run_as(uid: u32, gids: Vec<u32>) {
    *RUN_AS.lock().unwrap_or_else(|e| e.into_inner()) = Some((uid, gids));
}

/// [`set_run_as`] for a user name (`-u`): looks up its uid and groups. Unknown users
/// are left to the privilege drop to report.
pub fn set_run_as_user(user: &str) {
    let Ok(name) = std::ffi::CString::new(user) else {
        return;
    };
    // SAFETY: getpwnam returns NULL or a pointer to static storage, read at once,
    // before any other passwd call; this runs at start-up, before worker threads.
    #[allow(unsafe_code)]
    let (uid, gid) = unsafe {
        let pw = libc::getpwnam(name.as_ptr());
        if pw.is_null() {
            return;
        }
        ((*pw).pw_uid, (*pw).pw_gid)
    };
    let mut n: libc::c_int = 64;
    let mut groups: Vec<libc::gid_t> = vec![0; n as usize];
    // SAFETY: `groups` has room for `n` entries; getgrouplist writes at most `n` and
    // sets `n` to the number found (retried once with a large enough buffer).
    #[allow(unsafe_code)]
    unsafe {
        if libc::getgrouplist(name.as_ptr(), gid, groups.as_mut_ptr(), &mut n) < 0 {
            groups.resize(n.max(0) as usize, 0);
            libc::getgrouplist(name.as_ptr(), gid, groups.as_mut_ptr(), &mut n);
        }
    }
    groups.truncate(n.max(0) as usize);
    if !groups.contains(&gid) {
        groups.push(gid);
    }
    set_run_as(uid, groups);
}

pub(crate) fn run_as() -> Option<(u32, Vec<u32>)> {
    RUN_AS.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// The output stage of a file format: `file`, `sync`, `queue_max`, `when_full`.
pub(crate) fn file_output<E: Encoder>(
    name: &'static str,
    enc: E,
    o: &Options,
) -> Result<OutputStage<E>, PluginError> {
    Ok(OutputStage::new(
        name,
        enc,
        Box::new(crate::transport::FileTransport::new(o.str("file"))),
        queue_config(o, false)?,
        o.bool("sync"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flush_interval_values() {
        assert_eq!(parse_interval("1"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_interval("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_interval("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_interval("0.5s"), Ok(Duration::from_millis(500)));
        assert!(parse_interval("0").unwrap_err().contains("between"));
        assert!(parse_interval("soon")
            .unwrap_err()
            .contains("not a duration"));
    }

    fn opts(pairs: &[(&str, &str)]) -> Options {
        Options::from_pairs("JSON", "j", &queue_options(), pairs).unwrap()
    }

    #[test]
    fn spool_options_need_when_full_spool() {
        let e = queue_config(&opts(&[("spool_dir", "/tmp/x")]), true).unwrap_err();
        assert!(
            e.to_string().contains("only used with when_full=spool"),
            "{e}"
        );
        let c = queue_config(
            &opts(&[
                ("when_full", "spool"),
                ("spool_max_bytes", "8MiB"),
                ("spool_sync", "always"),
            ]),
            true,
        )
        .unwrap();
        let sp = c.spool.unwrap();
        assert_eq!(sp.dir, PathBuf::from("/var/spool/ulogd/j"));
        assert_eq!((sp.max_bytes, sp.sync), (8 << 20, SyncMode::Always));
        let e = queue_config(
            &opts(&[("when_full", "spool"), ("spool_max_bytes", "100")]),
            true,
        )
        .unwrap_err();
        assert!(e.to_string().contains("spool_max_bytes"), "{e}");
        let c = queue_config(&opts(&[("flush_interval", "200ms")]), false).unwrap();
        assert_eq!(c.flush_interval, Duration::from_millis(200));
    }
}
