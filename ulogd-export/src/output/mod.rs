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

use ulogd_core::{Event, OptionDef, Options, PluginError};

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
    /// An on-disk spool (not built yet: refused at start).
    Spool,
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
#[derive(Clone, Copy, Debug)]
pub struct QueueConfig {
    /// The bound.
    pub max: QueueMax,
    /// The policy when it is reached.
    pub when_full: WhenFull,
}

/// Default `queue_max` of a file output: room for a burst while the disk is full.
pub const FILE_QUEUE_MAX: QueueMax = QueueMax::Bytes(1 << 20);
/// Default `queue_max` of a network output: about 5 s of a busy peer's stall.
pub const NET_QUEUE_MAX: QueueMax = QueueMax::Bytes(4 << 20);

/// The `queue_max` and `when_full` option declarations every queued output has.
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
            "when the queue is full: block (default for files), drop_newest (default for sockets, counted) or spool",
        ),
    ]
}

/// Reads `queue_max` / `when_full`, with the defaults of a file or a network output.
pub(crate) fn queue_config(o: &Options, network: bool) -> Result<QueueConfig, PluginError> {
    let max = match o.str("queue_max") {
        "" if network => NET_QUEUE_MAX,
        "" => FILE_QUEUE_MAX,
        s => {
            QueueMax::parse(s).map_err(|e| PluginError::new(o.error("queue_max", e).to_string()))?
        }
    };
    let when_full = match o.str("when_full") {
        "" if network => WhenFull::DropNewest,
        "" => WhenFull::Block,
        s => {
            WhenFull::parse(s).map_err(|e| PluginError::new(o.error("when_full", e).to_string()))?
        }
    };
    Ok(QueueConfig { max, when_full })
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
