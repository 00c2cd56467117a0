//! Delivery off the machine: the KAFKA and NATS sinks and what they share.
//!
//! A sink is split in two. The *front* ([`Front`], the [`Stage`]) runs on the
//! engine's threads: it writes the event as exactly the JSON sink's bytes (same plan,
//! same options), renders the destination (topic / subject) and the message key
//! from their templates, packs the three into one [`envelope`] record and hands it
//! to a bounded channel (`queue_max`). The *pump* ([`pump`]) runs on the sink's own
//! thread: it moves records from the channel into a [`Backlog`] — the disk
//! [`crate::spool::Spool`] when `spool=1`, else a bounded queue in memory — sends them
//! through a [`pump::Transport`] (librdkafka's producer, or JetStream), and
//! acknowledges them in the backlog as the peer confirms. With the spool every record
//! is written ahead, so a peer outage or a `kill -9` loses nothing that reached it.
//!
//! The pump's only contract with the front is the channel of encoded records, so a
//! generic per-sink queue can feed it instead.

// Without either sink feature only the pump, backlog and envelope are used (the
// fuzz target and embedders); the front is kept compiled so it cannot rot.
#![cfg_attr(not(any(feature = "kafka", feature = "nats")), allow(dead_code))]

pub mod backlog;
pub mod envelope;
#[cfg(feature = "kafka")]
pub(crate) mod kafka;
#[cfg(feature = "nats")]
pub(crate) mod nats;
pub mod pump;
pub(crate) mod template;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use ulogd_core::{
    BindState, Event, KeyDef, OptionDef, Options, PluginError, Ret, Signal, StackKeys, Stage,
};

use crate::json::{JsonOpts, OffsetCache, Plan, TsFormat};
use crate::spool::{SpoolConfig, SyncMode, WhenFull};
use crate::time;
use template::{Charset, Template, TemplatePlan};

/// Counters shared by the front and the pump.
#[derive(Default, Debug)]
pub struct Stats {
    /// Records handed to the pump.
    pub queued: AtomicU64,
    /// Records the peer confirmed.
    pub delivered: AtomicU64,
    /// Records the peer refused for good (unknown topic, too large...).
    pub failed: AtomicU64,
    /// Sends repeated after a retriable failure.
    pub retried: AtomicU64,
    /// Records refused because the queue (or a blocking spool) was full.
    pub dropped: AtomicU64,
    /// Events not sent because of a local error (empty topic, pump gone).
    pub errors: AtomicU64,
    /// Backlog gauges and counters, copied by the pump.
    pub spool: Mutex<crate::spool::SpoolCounters>,
}

impl Stats {
    fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
    fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// What a full channel does (`when_full`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FrontFull {
    Block,
    DropNewest,
}

/// The options every delivery sink shares (JSON's, the queue's and the spool's).
pub(crate) fn common_options(
    dest_name: &'static str,
    dest_default: &'static str,
) -> Vec<OptionDef> {
    vec![
        OptionDef::string(
            dest_name,
            dest_default,
            "template over keys, e.g. ulogd.{oob.prefix}",
        ),
        OptionDef::string(
            "key",
            "",
            "message key template (Kafka partitioning), e.g. {ip.saddr.str}",
        ),
        OptionDef::string(
            "format",
            "json",
            "payload format: json (the JSON sink's bytes)",
        ),
        OptionDef::boolean("timestamp", "1", "JSON: add a timestamp field"),
        OptionDef::boolean(
            "eventv1",
            "0",
            "JSON: Logstash event v1 (@version, @timestamp)",
        ),
        OptionDef::string("device", "Netfilter", "JSON: value of the dvc field"),
        OptionDef::boolean(
            "boolean_label",
            "0",
            "JSON: print raw.label as action: allowed|blocked",
        ),
        OptionDef::string("timestamp_format", "ulogd2", "JSON: ulogd2 or rfc3339"),
        OptionDef::int(
            "queue_max",
            "10000",
            "records waiting in memory for the sink's thread",
        ),
        OptionDef::string(
            "when_full",
            "block",
            "queue full: block (back-pressure), drop_newest (counted) or spool",
        ),
        OptionDef::boolean(
            "spool",
            "0",
            "write every record ahead to a disk spool until the peer confirms it",
        ),
        OptionDef::string(
            "spool_dir",
            "",
            "spool directory (default /var/spool/ulogd/<instance>)",
        )
        .exclusive(),
        OptionDef::int("spool_max_bytes", "1073741824", "spool size bound in bytes"),
        OptionDef::string(
            "spool_sync",
            "batch",
            "none, batch (fdatasync per batch) or always",
        ),
        OptionDef::string(
            "spool_full",
            "drop_oldest",
            "spool full: drop_oldest (counted) or block",
        ),
        OptionDef::int("batch", "500", "records sent per round (and per fdatasync)"),
        OptionDef::int(
            "log_interval",
            "10",
            "seconds between two reports of an unreachable peer",
        ),
        OptionDef::int(
            "stop_timeout",
            "5",
            "seconds to wait at shutdown for the peer's confirmations",
        ),
    ]
}

/// The parsed common options.
pub(crate) struct Common {
    pub dest: Template,
    pub key: Option<Template>,
    pub json: JsonOpts,
    pub queue_max: usize,
    pub when_full: FrontFull,
    pub spool: Option<SpoolConfig>,
    pub batch: usize,
    pub log_interval: std::time::Duration,
    pub stop_timeout: std::time::Duration,
}

fn oerr(o: &Options, key: &str, msg: impl std::fmt::Display) -> PluginError {
    PluginError::new(o.error(key, msg).to_string())
}

impl Common {
    pub(crate) fn from_options(o: &Options, dest_name: &str) -> Result<Common, PluginError> {
        let dest = Template::parse(o.str(dest_name)).map_err(|e| oerr(o, dest_name, e))?;
        if o.str(dest_name).is_empty() {
            return Err(oerr(o, dest_name, "must not be empty"));
        }
        let key = match o.str("key") {
            "" => None,
            k => Some(Template::parse(k).map_err(|e| oerr(o, "key", e))?),
        };
        if !o.str("format").eq_ignore_ascii_case("json") {
            return Err(oerr(
                o,
                "format",
                format!("must be json, not \"{}\"", o.str("format")),
            ));
        }
        let ts_format = match o.str("timestamp_format").to_ascii_lowercase().as_str() {
            "ulogd2" => TsFormat::Ulogd2,
            "rfc3339" => TsFormat::Rfc3339,
            other => {
                return Err(oerr(
                    o,
                    "timestamp_format",
                    format!("must be ulogd2 or rfc3339, not \"{other}\""),
                ))
            }
        };
        let pos = |name: &str, min: i64| -> Result<i64, PluginError> {
            let v = o.int(name);
            if v < min {
                Err(oerr(o, name, format!("must be at least {min}")))
            } else {
                Ok(v)
            }
        };
        let queue_max = pos("queue_max", 1)? as usize;
        let batch = pos("batch", 1)? as usize;
        let log_interval = std::time::Duration::from_secs(pos("log_interval", 1)? as u64);
        let stop_timeout = std::time::Duration::from_secs(pos("stop_timeout", 0)? as u64);
        let (when_full, mut spool) = match o.str("when_full").to_ascii_lowercase().as_str() {
            "block" => (FrontFull::Block, o.bool("spool")),
            "drop_newest" => (FrontFull::DropNewest, o.bool("spool")),
            "spool" => (FrontFull::Block, true),
            other => {
                return Err(oerr(
                    o,
                    "when_full",
                    format!("must be block, drop_newest or spool, not \"{other}\""),
                ))
            }
        };
        if o.given("spool_dir") && !spool {
            // Naming a directory asks for the spool.
            spool = true;
        }
        let sync = SyncMode::parse(o.str("spool_sync")).ok_or_else(|| {
            oerr(
                o,
                "spool_sync",
                format!(
                    "must be none, batch or always, not \"{}\"",
                    o.str("spool_sync")
                ),
            )
        })?;
        let full = WhenFull::parse(o.str("spool_full")).ok_or_else(|| {
            oerr(
                o,
                "spool_full",
                format!(
                    "must be drop_oldest or block, not \"{}\"",
                    o.str("spool_full")
                ),
            )
        })?;
        let spool = if spool {
            let dir = match o.str("spool_dir") {
                "" => PathBuf::from("/var/spool/ulogd").join(o.instance()),
                d => PathBuf::from(d),
            };
            let max = pos("spool_max_bytes", 4096)? as u64;
            let mut c = SpoolConfig::new(dir, max);
            c.segment_bytes = c.segment_bytes.min(max / 4).max(1024);
            c.sync = sync;
            c.when_full = full;
            Some(c)
        } else {
            None
        };
        Ok(Common {
            dest,
            key,
            json: JsonOpts {
                timestamp: o.bool("timestamp"),
                eventv1: o.bool("eventv1"),
                device: o.str("device").to_string(),
                boolean_label: o.bool("boolean_label"),
                ts_format,
            },
            queue_max,
            when_full,
            spool,
            batch,
            log_interval,
            stop_timeout,
        })
    }
}

/// What one stack's events need here, worked out once in `bind`.
struct StackPlan {
    json: Plan,
    dest: TemplatePlan,
    key: Option<TemplatePlan>,
}

struct FrontInner {
    tz: OffsetCache,
    payload: Vec<u8>,
    dest: Vec<u8>,
    key: Vec<u8>,
    tx: Option<Sender<Vec<u8>>>,
}

/// Starts a pump thread: gets the receiving end of the channel and the stats.
pub(crate) type PumpStarter =
    dyn Fn(Receiver<Vec<u8>>, Arc<Stats>) -> Result<JoinHandle<()>, PluginError> + Send + Sync;

/// The stage part of a delivery sink (see the module doc).
pub(crate) struct Front {
    plugin: &'static str,
    id: String,
    common: Common,
    charset: Charset,
    stats: Arc<Stats>,
    inner: Mutex<FrontInner>,
    starter: Box<PumpStarter>,
    thread: Mutex<Option<JoinHandle<()>>>,
    rx: Mutex<Option<Receiver<Vec<u8>>>>,
}

impl Front {
    pub(crate) fn new(
        plugin: &'static str,
        id: &str,
        common: Common,
        charset: Charset,
        starter: Box<PumpStarter>,
    ) -> Front {
        let (tx, rx) = crossbeam_channel::bounded(common.queue_max);
        Front {
            plugin,
            id: id.to_string(),
            common,
            charset,
            stats: Arc::new(Stats::default()),
            inner: Mutex::new(FrontInner {
                tz: OffsetCache::default(),
                payload: Vec::with_capacity(2048),
                dest: Vec::with_capacity(128),
                key: Vec::with_capacity(128),
                tx: Some(tx),
            }),
            starter,
            thread: Mutex::new(None),
            rx: Mutex::new(Some(rx)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, FrontInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Stage for Front {
    fn bind(&self, keys: &StackKeys<'_>) -> Result<BindState, PluginError> {
        let w = keys.wildcard;
        Ok(BindState::new(StackPlan {
            json: Plan::new(w, &self.common.json),
            dest: self.common.dest.plan(w),
            key: self.common.key.as_ref().map(|k| k.plan(w)),
        }))
    }

    fn start(&self) -> Result<(), PluginError> {
        let Some(rx) = self.rx.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return Ok(());
        };
        let h = (self.starter)(rx, self.stats.clone())?;
        *self.thread.lock().unwrap_or_else(|e| e.into_inner()) = Some(h);
        Ok(())
    }

    fn check_wildcard(&self, upstream: &[&KeyDef]) -> Result<(), (String, String)> {
        for t in std::iter::once(&self.common.dest).chain(self.common.key.iter()) {
            if let Some(k) = t.missing(upstream) {
                return Err((
                    k.to_string(),
                    format!("the template names key '{k}', which no plugin before it produces"),
                ));
            }
        }
        Ok(())
    }

    fn interp(&self, ev: &mut Event<'_>) -> Ret {
        let mut g = self.lock();
        let Some(p) = ev.bind_state::<StackPlan>() else {
            debug_assert!(false, "{}: no plan bound for this stack", self.plugin);
            Stats::add(&self.stats.errors, 1);
            return Ret::Err;
        };
        let FrontInner {
            tz,
            payload,
            dest,
            key,
            tx,
        } = &mut *g;
        payload.clear();
        dest.clear();
        key.clear();
        p.json
            .write(ev, &self.common.json, payload, time::now().0, |s| tz.get(s));
        // The JSON sink's line ends in '\n'; a message is the object alone.
        if payload.last() == Some(&b'\n') {
            payload.pop();
        }
        p.dest.render(ev, self.charset, dest);
        if dest.is_empty() {
            Stats::add(&self.stats.errors, 1);
            return Ret::Err;
        }
        let k = p.key.as_ref().map(|t| {
            t.render(ev, Charset::Any, key);
            &key[..]
        });
        let rec = envelope::encode(dest, k, payload);
        let Some(tx) = tx.as_ref() else {
            Stats::add(&self.stats.errors, 1);
            return Ret::Err;
        };
        let sent = match self.common.when_full {
            FrontFull::Block => {
                // Wait without holding the lock? The lock orders events of one
                // source; holding it keeps them in order while the pump drains.
                tx.send(rec).map_err(|_| false)
            }
            FrontFull::DropNewest => tx
                .try_send(rec)
                .map_err(|e| matches!(e, TrySendError::Full(_))),
        };
        match sent {
            Ok(()) => {
                Stats::add(&self.stats.queued, 1);
                Ret::Ok
            }
            Err(true) => {
                Stats::add(&self.stats.dropped, 1);
                Ret::Err
            }
            Err(false) => {
                Stats::add(&self.stats.errors, 1);
                Ret::Err
            }
        }
    }

    fn signal(&self, sig: Signal) {
        if sig == Signal::Usr1 {
            log::info!("{} {}: {:?}", self.plugin, self.id, self.counters());
        }
    }

    fn stop(&self) {
        // Closing the channel tells the pump to finish (flush, commit) and exit.
        self.lock().tx = None;
        if let Some(h) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = h.join();
        }
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        let s = &self.stats;
        let sp = *s.spool.lock().unwrap_or_else(|e| e.into_inner());
        vec![
            ("queued", Stats::get(&s.queued)),
            ("delivered", Stats::get(&s.delivered)),
            ("failed", Stats::get(&s.failed)),
            ("retried", Stats::get(&s.retried)),
            ("dropped", Stats::get(&s.dropped) + sp.dropped),
            ("local_errors", Stats::get(&s.errors)),
            ("depth", sp.depth),
            ("bytes", sp.bytes),
            ("spooled", sp.spooled),
            ("replayed", sp.replayed),
            ("corrupt", sp.corrupt),
        ]
    }
}
