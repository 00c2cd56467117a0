//! PGSQL: rows into PostgreSQL, through a writer thread that reconnects and keeps
//! rows while the server is away.
//!
//! The table's (or view's) columns name the keys, as in ulogd2
//! (`orig_ip_saddr_str` ← `orig.ip.saddr.str`; a first column starting with `_` is
//! the id and is left out). They are read when the output starts, not when the
//! configuration is checked, so `ulogd --check` opens no connection. The output takes
//! every upstream key and, at the first row of each stack, maps the columns onto
//! that stack's keys: a column no key of the stack fills is an error naming the
//! column, the key and the table, and that stack's rows are refused and counted
//! (ulogd2 refuses the stack at start-up; ours can only know the stack's keys at its
//! first row).
//!
//! Each event becomes one statement (`procedure`): `INSERT` → `insert into
//! schema.table (cols) values (...)`, a value starting with `INSERT ` is used as the
//! head verbatim, `CALL ...` → `CALL proc(...)`, anything else → `SELECT proc(...)`
//! (ulogd2's `INSERT_PACKET_FULL`, `INSERT_CT`, `INSERT_OR_REPLACE_CT`).
//!
//! A database that is down when the daemon starts does not stop the daemon: the
//! output starts, logs the server's reason, keeps rows (with every key, since the
//! columns are not known yet) and connects in the background. Connections lost later
//! are retried the same way: first at once, then after `reconnect` seconds (ulogd2's
//! default, 2), doubling up to [`MAX_BACKOFF`]; SIGHUP reconnects at once (ulogd2
//! drops and reopens the connection). Meanwhile rows are kept, at least
//! `ring_buffer_size` of them and up to `backlog_memcap` bytes, and written in order
//! when the server is back; beyond that each row is counted as `lost` and logged,
//! never dropped silently. A row the server rejects (or a stack's row refused for a column it
//! cannot fill) is counted in `rejected`, with the server's message. `reconnect=0` gives up after the first failure, as ulogd2.
//!
//! `when_full=spool`: rows that do not fit the memory backlog go to a disk
//! [`Spool`] (`spool_dir`...) instead of being lost; once a spool episode starts,
//! every row goes there, behind the ones before, and the writer reads them back in
//! order, acknowledging each transaction the server committed. At shutdown what the
//! memory backlog still holds goes to the spool too, so a restart replays it first.
//! Rows made before the columns were ever known (the server was never reached) are
//! kept in memory only: they are not statements yet.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender, TrySendError};
use postgres::Client;
use ulogd_core::{
    Built, Event, Inputs, Kind, OptionDef, PluginError, PluginSpec, Ret, Signal, Stage,
};

use super::pgconn::{self, reason, Target};
use super::{column_to_key, from_value, is_inactive_column, push_pg_literal, worth_logging};
use crate::spool::{Seq, Spool, SpoolConfig};

/// Rows per transaction.
pub(crate) const BATCH: usize = 256;
/// The longest wait between two connection attempts.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long an event waits for room in a full queue before it is counted as lost.
const RING_WAIT: Duration = Duration::from_secs(1);

/// A row on its way to the server.
enum Row {
    /// A complete statement.
    Stmt(String),
    /// A row made before the columns were known: every key of its stack.
    Deferred(Deferred),
}

/// Every upstream key of one event as SQL literals, by position in `names`.
struct Deferred {
    names: Arc<Vec<String>>,
    text: String,
    ends: Vec<u32>,
}

impl Row {
    fn len(&self) -> u64 {
        match self {
            Row::Stmt(s) => s.len() as u64,
            Row::Deferred(d) => (d.text.len() + 4 * d.ends.len()) as u64,
        }
    }
}

enum Msg {
    Row(Row),
    Flush(Sender<()>),
    Hup,
}

#[derive(Default)]
struct Counters {
    rows: AtomicU64,
    lost: AtomicU64,
    errors: AtomicU64,
    backlog: AtomicU64,
    backlog_bytes: AtomicU64,
    reconnects: AtomicU64,
    connect_failures: AtomicU64,
    ring_full: AtomicU64,
    spool_depth: AtomicU64,
    spooled: AtomicU64,
    replayed: AtomicU64,
    spool_corrupt: AtomicU64,
}

/// The columns, once read from the server.
struct Table {
    cols: Vec<String>,
    head: String,
}

/// What the stage and its writer thread share.
struct Shared {
    id: String,
    target: Target,
    schema: String,
    table: String,
    procedure: String,
    reconnect: Duration,
    memcap: u64,
    keep_rows: usize,
    columns: OnceLock<Arc<Table>>,
    counters: Counters,
}

impl Shared {
    /// How many rows are kept while the server is away, as the log says it:
    /// `ring_buffer_size` rows, or more up to `backlog_memcap` bytes when that is set.
    fn backlog_bound(&self) -> String {
        if self.memcap == 0 {
            format!("up to {} rows, ring_buffer_size", self.keep_rows)
        } else {
            format!(
                "at least {} rows, up to {} bytes of backlog_memcap",
                self.keep_rows, self.memcap
            )
        }
    }

    fn lose(&self, n: u64, why: &str) {
        let before = self.counters.lost.fetch_add(n, Ordering::Relaxed);
        let now = before + n;
        if (before + 1..=now).any(worth_logging) {
            log::error!(
                "PGSQL [{}]: {n} row(s) not written ({why}); {now} rows lost so far",
                self.id
            );
        }
    }

    fn refuse(&self) {
        let n = self.counters.errors.fetch_add(1, Ordering::Relaxed) + 1;
        if worth_logging(n) {
            log::error!(
                "PGSQL [{}]: row refused: a column of {}.{} has no key in its stack (see above); {n} rows refused so far",
                self.id,
                self.schema,
                self.table
            );
        }
    }

    /// Reads the columns and makes the statement head (first connection).
    fn learn_columns(&self, client: &mut Client) -> Result<(), String> {
        if self.columns.get().is_some() {
            return Ok(());
        }
        let all = read_columns(client, &self.schema, &self.table).map_err(|e| {
            format!(
                "cannot read the columns of {}.{}: {}",
                self.schema,
                self.table,
                reason(&e)
            )
        })?;
        if all.is_empty() {
            return Err(format!(
                "no table or view {}.{} in {}",
                self.schema, self.table, self.target.describe
            ));
        }
        let cols: Vec<String> = all
            .into_iter()
            .enumerate()
            .filter(|(i, c)| !is_inactive_column(*i, c))
            .map(|(_, c)| c)
            .collect();
        let refs: Vec<&str> = cols.iter().map(String::as_str).collect();
        let head = statement_head(&self.procedure, &self.schema, &self.table, &refs)?;
        let _ = self.columns.set(Arc::new(Table { cols, head }));
        Ok(())
    }

    /// Which key (position in `names`) fills each column; `None` (and an error in
    /// the log) when a column has no key.
    /// The columns of `t` no key of `names` fills, as "column c (key k)".
    fn missing(t: &Table, names: &[String]) -> Vec<String> {
        t.cols
            .iter()
            .filter(|c| !names.iter().any(|n| *n == column_to_key(c)))
            .map(|c| format!("column {c} (key {})", column_to_key(c)))
            .collect()
    }

    fn plan(&self, t: &Table, names: &[String]) -> Option<Vec<u32>> {
        let mut plan = Vec::with_capacity(t.cols.len());
        for c in &t.cols {
            let key = column_to_key(c);
            if let Some(p) = names.iter().rposition(|n| *n == key) {
                plan.push(p as u32);
            }
        }
        let missing = Self::missing(t, names);
        if missing.is_empty() {
            return Some(plan);
        }
        log::error!(
            "PGSQL [{}]: {} of {}.{}: no plugin in the stack produces it, so this stack's rows are refused (fix the column name, add the plugin that makes the key, or drop the column); the stack has: {}",
            self.id,
            missing.join(", "),
            self.schema,
            self.table,
            names.join(" ")
        );
        None
    }

    /// A deferred row as a statement, now that the columns are known.
    fn resolve(&self, d: &Deferred) -> Option<String> {
        let t = self.columns.get()?;
        let plan = self.plan(t, &d.names)?;
        let mut s = String::with_capacity(t.head.len() + d.text.len());
        s.push_str(&t.head);
        for (i, &p) in plan.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let p = p as usize;
            let start = if p == 0 { 0 } else { d.ends[p - 1] as usize };
            s.push_str(&d.text[start..d.ends[p] as usize]);
        }
        s.push(')');
        Some(s)
    }
}

/// Builds the statement head (everything before the values) from ulogd2's rules.
pub(crate) fn statement_head(
    procedure: &str,
    schema: &str,
    table: &str,
    cols: &[&str],
) -> Result<String, String> {
    let p = procedure.trim();
    let upper = p.to_ascii_uppercase();
    let list = cols.join(",");
    if upper == "INSERT" {
        let target = if schema.is_empty() {
            table.to_string()
        } else {
            format!("{schema}.{table}")
        };
        Ok(format!("insert into {target} ({list}) values ("))
    } else if upper.starts_with("INSERT ") {
        Ok(format!("{p} ({list}) values ("))
    } else if upper.starts_with("CALL ") {
        Ok(format!("{p}("))
    } else if upper == "CALL" || p.is_empty() {
        Err("procedure must name a function, `CALL proc`, `INSERT` or `INSERT INTO ...`".into())
    } else {
        Ok(format!("SELECT {p}("))
    }
}

/// Whether an error means the connection is gone (as opposed to a rejected row).
fn is_down(client: &Client, e: &postgres::Error) -> bool {
    if client.is_closed() || e.is_closed() {
        return true;
    }
    match e.code() {
        // Class 08 (connection exception), 57P01..57P03 (admin/crash shutdown,
        // cannot connect now).
        Some(code) => {
            let c = code.code();
            c.starts_with("08") || c.starts_with("57P")
        }
        // No SQLSTATE: an I/O error.
        None => true,
    }
}

struct Writer {
    rx: Receiver<Msg>,
    sh: Arc<Shared>,
    client: Option<Client>,
    next_attempt: Instant,
    delay: Duration,
    gave_up: bool,
    backlog: VecDeque<Row>,
    backlog_bytes: u64,
    batch: Vec<Row>,
    sql: String,
    /// `when_full=spool`: the overflow and the next sequence number to read back.
    spool: Option<(Spool, Seq)>,
}

enum Outcome {
    Written,
    /// The connection went away; the first `n` rows were written.
    Down(usize),
}

impl Writer {
    fn try_connect(&mut self) -> Result<Client, String> {
        let mut c = self.sh.target.connect().map_err(|e| reason(&e))?;
        self.sh.learn_columns(&mut c)?;
        Ok(c)
    }

    fn ensure_connected(&mut self) -> bool {
        if self.client.is_some() {
            return true;
        }
        if self.gave_up || Instant::now() < self.next_attempt {
            return false;
        }
        match self.try_connect() {
            Ok(c) => {
                log::info!(
                    "PGSQL [{}]: connected to {} ({} rows waiting)",
                    self.sh.id,
                    self.sh.target.describe,
                    self.backlog.len()
                );
                self.sh.counters.reconnects.fetch_add(1, Ordering::Relaxed);
                self.client = Some(c);
                self.delay = self.sh.reconnect;
                true
            }
            Err(e) => {
                self.sh
                    .counters
                    .connect_failures
                    .fetch_add(1, Ordering::Relaxed);
                if self.sh.reconnect.is_zero() {
                    log::error!(
                        "PGSQL [{}]: cannot connect to {}: {e}; reconnect=0, giving up: further rows are lost",
                        self.sh.id,
                        self.sh.target.describe
                    );
                    self.gave_up = true;
                } else {
                    log::warn!(
                        "PGSQL [{}]: cannot connect to {}: {e}; next attempt in {} s ({} rows kept)",
                        self.sh.id,
                        self.sh.target.describe,
                        self.delay.as_secs(),
                        self.backlog.len() + self.batch.len()
                    );
                    self.next_attempt = Instant::now() + self.delay;
                    self.delay = (self.delay * 2).min(MAX_BACKOFF.max(self.sh.reconnect));
                }
                false
            }
        }
    }

    fn lost_connection(&mut self, e: &postgres::Error) {
        log::warn!(
            "PGSQL [{}]: connection to {} lost: {}; keeping rows ({}) and reconnecting",
            self.sh.id,
            self.sh.target.describe,
            reason(e),
            self.sh.backlog_bound()
        );
        self.client = None;
        if self.sh.reconnect.is_zero() {
            self.gave_up = true;
            log::error!(
                "PGSQL [{}]: reconnect=0: not reconnecting; further rows are lost",
                self.sh.id
            );
        }
        // Try once right away: a restarted server is often back already.
        self.next_attempt = Instant::now();
        self.delay = self.sh.reconnect;
    }

    /// Writes `rows` in one transaction; on a rejected row, one by one.
    fn write(&mut self, rows: &[String]) -> Outcome {
        let client = self.client.as_mut().expect("connected");
        self.sql.clear();
        self.sql.push_str("BEGIN;");
        for r in rows {
            self.sql.push_str(r);
            self.sql.push(';');
        }
        self.sql.push_str("COMMIT");
        match client.batch_execute(&self.sql) {
            Ok(()) => {
                self.sh
                    .counters
                    .rows
                    .fetch_add(rows.len() as u64, Ordering::Relaxed);
                Outcome::Written
            }
            Err(e) if is_down(client, &e) => {
                self.lost_connection(&e);
                Outcome::Down(0)
            }
            Err(_) => {
                let _ = client.batch_execute("ROLLBACK");
                for (i, r) in rows.iter().enumerate() {
                    let client = self.client.as_mut().expect("connected");
                    match client.batch_execute(r) {
                        Ok(()) => {
                            self.sh.counters.rows.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) if is_down(client, &e) => {
                            // Rows before this one are in: only the rest is kept.
                            self.lost_connection(&e);
                            return Outcome::Down(i);
                        }
                        Err(e) => {
                            let n = self.sh.counters.errors.fetch_add(1, Ordering::Relaxed) + 1;
                            if worth_logging(n) {
                                log::error!(
                                    "PGSQL [{}]: the server rejected a row ({}); {n} rows rejected so far; statement: {r}",
                                    self.sh.id,
                                    reason(&e)
                                );
                            }
                        }
                    }
                }
                Outcome::Written
            }
        }
    }

    /// `when_full=spool`: appends a statement; false if the spool refused it (lost).
    fn spool_append(&mut self, stmt: &str) -> bool {
        let Some((sp, _)) = self.spool.as_mut() else {
            return false;
        };
        match sp.append(stmt.as_bytes()) {
            Ok(_) => true,
            Err(e) => {
                self.sh.lose(1, &format!("spool: {e}"));
                false
            }
        }
    }

    /// Whether rows must go to the spool (an episode is on: some wait there).
    fn spooling(&self) -> bool {
        self.spool.as_ref().is_some_and(|(sp, _)| sp.depth() > 0)
    }

    /// Starts an episode: the statements of the memory backlog move to the spool, in
    /// order (rows not yet statements stay: they are older and written first).
    fn spill(&mut self) {
        let mut keep = VecDeque::new();
        for row in std::mem::take(&mut self.backlog) {
            match row {
                Row::Stmt(s) => {
                    self.backlog_bytes -= s.len() as u64;
                    self.spool_append(&s);
                }
                d => keep.push_back(d),
            }
        }
        self.backlog = keep;
    }

    fn push_backlog(&mut self, row: Row) {
        if self.spool.is_some() && !self.gave_up {
            let stmt = match row {
                Row::Stmt(s) => s,
                Row::Deferred(d) => match self.sh.columns.get().is_some() {
                    true => match self.sh.resolve(&d) {
                        Some(s) => s,
                        None => return self.sh.refuse(),
                    },
                    false => return self.push_memory(Row::Deferred(d)),
                },
            };
            if self.spooling() {
                self.spool_append(&stmt);
                return;
            }
            let len = stmt.len() as u64;
            if self.backlog.len() < self.sh.keep_rows || self.backlog_bytes + len <= self.sh.memcap
            {
                self.backlog_bytes += len;
                self.backlog.push_back(Row::Stmt(stmt));
            } else {
                self.spill();
                self.spool_append(&stmt);
            }
            return;
        }
        self.push_memory(row);
    }

    fn push_memory(&mut self, row: Row) {
        let len = row.len();
        let room =
            self.backlog.len() < self.sh.keep_rows || self.backlog_bytes + len <= self.sh.memcap;
        if self.gave_up || !room {
            let why = if self.gave_up {
                "database unreachable and reconnect=0"
            } else {
                "database unreachable and ring_buffer_size rows / backlog_memcap bytes already kept"
            };
            self.sh.lose(1, why);
            return;
        }
        self.backlog_bytes += len;
        self.backlog.push_back(row);
    }

    fn sync_gauges(&self) {
        let c = &self.sh.counters;
        c.backlog
            .store(self.backlog.len() as u64, Ordering::Relaxed);
        c.backlog_bytes.store(self.backlog_bytes, Ordering::Relaxed);
        if let Some((sp, _)) = &self.spool {
            let sc = sp.counters();
            c.spool_depth.store(sc.depth, Ordering::Relaxed);
            c.spooled.store(sc.spooled, Ordering::Relaxed);
            c.spool_corrupt.store(sc.corrupt, Ordering::Relaxed);
        }
    }

    /// Writes the spool's rows while connected, a transaction at a time, each
    /// acknowledged once committed; returns whether nothing is left there.
    fn drain_spool(&mut self) -> bool {
        while self.spooling() && self.ensure_connected() {
            let (sp, read) = self.spool.as_mut().expect("spooling");
            let batch = match sp.commit().and_then(|()| sp.peek(*read, BATCH)) {
                Ok(b) => b,
                Err(e) => {
                    self.sh.counters.errors.fetch_add(1, Ordering::Relaxed);
                    log::error!("PGSQL [{}]: spool: {e}", self.sh.id);
                    return false;
                }
            };
            let Some(&(last, _)) = batch.last() else {
                // Everything acknowledged up to what was appended: nothing readable
                // (an ack or damage skipped the rest).
                let n = sp.next_seq();
                if n > 0 {
                    let _ = sp.ack(n - 1);
                }
                *read = n;
                return !self.spooling();
            };
            let seqs: Vec<Seq> = batch.iter().map(|r| r.0).collect();
            let rows: Vec<String> = batch
                .into_iter()
                .map(|(_, b)| String::from_utf8_lossy(&b).into_owned())
                .collect();
            self.sh
                .counters
                .replayed
                .fetch_add(rows.len() as u64, Ordering::Relaxed);
            let (done, up) = match self.write(&rows) {
                Outcome::Written => (rows.len(), true),
                Outcome::Down(n) => (n, false),
            };
            let (sp, read) = self.spool.as_mut().expect("spooling");
            if done > 0 {
                let _ = sp.ack(seqs[done - 1]);
            }
            *read = if up { last + 1 } else { sp.ack_next() };
            if !up {
                break;
            }
        }
        self.sync_gauges();
        !self.spooling()
    }

    /// Shutdown with a spool: what the memory backlog holds goes to the spool (it is
    /// empty then: rows go to memory only outside an episode), and is committed.
    fn keep_in_spool(&mut self) {
        if self.spool.is_none() {
            return;
        }
        if !self.spooling() {
            self.spill();
        }
        let (sp, _) = self.spool.as_mut().expect("spool");
        if let Err(e) = sp.commit() {
            log::error!("PGSQL [{}]: spool: {e}", self.sh.id);
        }
        let kept = sp.depth();
        if kept > 0 {
            log::info!(
                "PGSQL [{}]: {kept} rows kept in the spool {} for the next start",
                self.sh.id,
                sp.config().dir.display()
            );
        }
        self.sync_gauges();
    }

    /// Writes the backlog while connected; returns whether it is empty.
    fn drain_backlog(&mut self) -> bool {
        while !self.backlog.is_empty() && self.ensure_connected() {
            let n = self.backlog.len().min(BATCH);
            let mut chunk = Vec::with_capacity(n);
            for row in self.backlog.drain(..n) {
                self.backlog_bytes -= row.len();
                match row {
                    Row::Stmt(s) => chunk.push(s),
                    Row::Deferred(d) => match self.sh.resolve(&d) {
                        Some(s) => chunk.push(s),
                        None => self.sh.refuse(),
                    },
                }
            }
            if chunk.is_empty() {
                continue;
            }
            if let Outcome::Down(done) = self.write(&chunk) {
                for s in chunk.drain(done..).rev() {
                    self.backlog_bytes += s.len() as u64;
                    self.backlog.push_front(Row::Stmt(s));
                }
                break;
            }
        }
        if self.backlog.is_empty() {
            self.drain_spool();
        }
        self.sync_gauges();
        self.backlog.is_empty() && !self.spooling()
    }

    /// Queues the collected batch behind the backlog and writes what it can.
    fn handle_batch(&mut self) {
        for r in std::mem::take(&mut self.batch) {
            self.push_backlog(r);
        }
        if let Some((sp, _)) = self.spool.as_mut() {
            if let Err(e) = sp.commit() {
                log::error!("PGSQL [{}]: spool: {e}", self.sh.id);
            }
        }
        self.drain_backlog();
    }

    /// At shutdown: write what is left, with one connection attempt if needed.
    fn final_flush(&mut self) {
        self.handle_batch();
        if (!self.backlog.is_empty() || self.spooling()) && self.client.is_none() && !self.gave_up {
            self.next_attempt = Instant::now();
            self.drain_backlog();
        }
        self.keep_in_spool();
    }

    fn hup(&mut self) {
        log::info!(
            "PGSQL [{}]: SIGHUP: reconnecting to {}",
            self.sh.id,
            self.sh.target.describe
        );
        self.client = None;
        self.gave_up = false;
        self.next_attempt = Instant::now();
        self.delay = self.sh.reconnect.max(Duration::from_secs(1));
        self.drain_backlog();
        if self.client.is_none() {
            self.ensure_connected();
        }
    }

    fn run(mut self) {
        loop {
            let wait = if self.backlog.is_empty() && !self.spooling() {
                Duration::from_secs(1)
            } else {
                Duration::from_millis(200)
            };
            match self.rx.recv_timeout(wait) {
                Ok(Msg::Row(r)) => self.batch.push(r),
                Ok(Msg::Flush(ack)) => {
                    self.handle_batch();
                    let _ = ack.send(());
                    continue;
                }
                Ok(Msg::Hup) => {
                    self.hup();
                    continue;
                }
                Err(RecvTimeoutError::Timeout) => {
                    self.drain_backlog();
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
            // Take what else is queued, up to a batch.
            let mut after = None;
            while self.batch.len() < BATCH {
                match self.rx.try_recv() {
                    Ok(Msg::Row(r)) => self.batch.push(r),
                    Ok(m) => {
                        after = Some(m);
                        break;
                    }
                    Err(_) => break,
                }
            }
            self.handle_batch();
            match after {
                Some(Msg::Flush(ack)) => {
                    let _ = ack.send(());
                }
                Some(Msg::Hup) => self.hup(),
                _ => {}
            }
        }
        // Shutdown: one last try, then count what is left.
        self.final_flush();
        let left = self.backlog.len() as u64;
        if left > 0 {
            self.sh.lose(left, "database unreachable at shutdown");
            self.backlog.clear();
            self.backlog_bytes = 0;
        }
        self.sync_gauges();
    }
}

/// What one stack of the output needs, made in `bind`: its key names, and the column
/// plan once the columns are known (`None` inside: a column has no key, rows refused).
struct StackPlan {
    names: Arc<Vec<String>>,
    plan: OnceLock<Option<Vec<u32>>>,
}

struct Pgsql {
    sh: Arc<Shared>,
    /// Every stack's upstream key names, from the bind step: checked against the
    /// columns at start, so a column no key fills is a start-up error.
    bound: Mutex<Vec<(String, Vec<String>)>>,
    ring: usize,
    /// `when_full=spool`.
    spool: Option<SpoolConfig>,
    tx: Mutex<Option<Sender<Msg>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Pgsql {
    fn literal(ev: &Event<'_>, pos: usize, out: &mut String) {
        let ty = ev
            .wildcard_def(pos)
            .map_or(ulogd_core::KeyType::Any, |d| d.ty);
        push_pg_literal(out, &from_value(ev.wildcard_get(pos), ty));
    }

    fn send(&self, row: Row) -> Ret {
        let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let Some(tx) = tx else {
            self.sh.lose(1, "output not started");
            return Ret::Err;
        };
        match tx.try_send(Msg::Row(row)) {
            Ok(()) => Ret::Ok,
            Err(TrySendError::Full(m)) => {
                self.sh.counters.ring_full.fetch_add(1, Ordering::Relaxed);
                if tx.send_timeout(m, RING_WAIT).is_ok() {
                    Ret::Ok
                } else {
                    self.sh
                        .lose(1, "writer queue full (ring_buffer_size) for over a second");
                    Ret::Err
                }
            }
            Err(TrySendError::Disconnected(_)) => {
                self.sh.lose(1, "writer thread gone");
                Ret::Err
            }
        }
    }
}

impl Stage for Pgsql {
    fn bind(&self, keys: &ulogd_core::StackKeys<'_>) -> Result<ulogd_core::BindState, PluginError> {
        let names: Vec<String> = keys.wildcard.iter().map(|d| d.name.to_string()).collect();
        self.bound
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((keys.stack.to_string(), names.clone()));
        Ok(ulogd_core::BindState::new(StackPlan {
            names: Arc::new(names),
            plan: OnceLock::new(),
        }))
    }

    fn start(&self) -> Result<(), PluginError> {
        let sh = &self.sh;
        let client = match sh.target.connect() {
            Ok(mut c) => {
                // The server answers: a missing table is a configuration error.
                sh.learn_columns(&mut c).map_err(|e| {
                    PluginError::new(format!("PGSQL: {e} ({})", sh.target.describe))
                })?;
                // So is a column no plugin of a stack fills (ulogd2 wrote NULL).
                if let Some(t) = sh.columns.get() {
                    for (stack, names) in
                        self.bound.lock().unwrap_or_else(|e| e.into_inner()).iter()
                    {
                        let missing = Shared::missing(t, names);
                        if !missing.is_empty() {
                            return Err(PluginError::new(format!(
                                "PGSQL [{}]: {} of {}.{}: no plugin of stack '{stack}' produces it (fix the column name, add the plugin that makes the key, or drop the column)",
                                sh.id,
                                missing.join(", "),
                                sh.schema,
                                sh.table
                            )));
                        }
                    }
                }
                Some(c)
            }
            Err(e) => {
                if sh.reconnect.is_zero() {
                    log::error!(
                        "PGSQL [{}]: cannot connect to {}: {}; reconnect=0, so this output writes nothing (the other stacks run)",
                        sh.id,
                        sh.target.describe,
                        reason(&e)
                    );
                } else {
                    log::warn!(
                        "PGSQL [{}]: cannot connect to {}: {}; starting anyway: rows are kept ({}) and the connection is retried every {} s or more",
                        sh.id,
                        sh.target.describe,
                        reason(&e),
                        sh.backlog_bound(),
                        sh.reconnect.as_secs()
                    );
                }
                sh.counters.connect_failures.fetch_add(1, Ordering::Relaxed);
                None
            }
        };
        let spool = match &self.spool {
            Some(c) => {
                let sp = Spool::open(c.clone()).map_err(|e| {
                    PluginError::new(format!(
                        "PGSQL [{}]: can't open the spool {}: {e}",
                        sh.id,
                        c.dir.display()
                    ))
                })?;
                if sp.depth() > 0 {
                    log::info!(
                        "PGSQL [{}]: spool {}: replaying {} rows kept from an earlier run",
                        sh.id,
                        c.dir.display(),
                        sp.depth()
                    );
                }
                let read = sp.ack_next();
                Some((sp, read))
            }
            None => None,
        };
        let (tx, rx) = bounded(self.ring);
        let connected = client.is_some();
        let w = Writer {
            rx,
            sh: sh.clone(),
            client,
            next_attempt: Instant::now() + sh.reconnect,
            delay: (sh.reconnect * 2).min(MAX_BACKOFF.max(sh.reconnect)),
            gave_up: !connected && sh.reconnect.is_zero(),
            backlog: VecDeque::new(),
            backlog_bytes: 0,
            batch: Vec::with_capacity(BATCH),
            sql: String::new(),
            spool,
        };
        let h = std::thread::Builder::new()
            .name("ulogd-pgsql".into())
            .spawn(move || w.run())?;
        *self.tx.lock().unwrap_or_else(|e| e.into_inner()) = Some(tx);
        *self.thread.lock().unwrap_or_else(|e| e.into_inner()) = Some(h);
        Ok(())
    }

    fn interp(&self, ev: &mut Event<'_>) -> Ret {
        let Some(sp) = ev.bind_state::<StackPlan>() else {
            // Only an engine that skipped `bind` gets here.
            debug_assert!(false, "PGSQL: no plan bound for this stack");
            self.sh.lose(1, "no plan bound for this stack");
            return Ret::Err;
        };
        let row = match self.sh.columns.get() {
            Some(t) => {
                let Some(plan) = sp.plan.get_or_init(|| self.sh.plan(t, &sp.names)) else {
                    self.sh.refuse();
                    return Ret::Err;
                };
                let mut buf = String::with_capacity(t.head.len() + 16 * plan.len());
                buf.push_str(&t.head);
                for (i, &p) in plan.iter().enumerate() {
                    if i > 0 {
                        buf.push(',');
                    }
                    Self::literal(ev, p as usize, &mut buf);
                }
                buf.push(')');
                Row::Stmt(buf)
            }
            None => {
                let n = ev.wildcard_len();
                let mut d = Deferred {
                    names: sp.names.clone(),
                    text: String::with_capacity(12 * n),
                    ends: Vec::with_capacity(n),
                };
                for p in 0..n {
                    Self::literal(ev, p, &mut d.text);
                    d.ends.push(d.text.len() as u32);
                }
                Row::Deferred(d)
            }
        };
        self.send(row)
    }

    fn signal(&self, sig: Signal) {
        if sig == Signal::Hup {
            if let Some(tx) = self.tx.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                let _ = tx.try_send(Msg::Hup);
            }
        }
    }

    fn flush(&self) {
        let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(tx) = tx {
            let (ack_tx, ack_rx) = bounded(1);
            if tx.send(Msg::Flush(ack_tx)).is_ok() {
                let _ = ack_rx.recv_timeout(Duration::from_secs(60));
            }
        }
    }

    fn stop(&self) {
        // Closing the queue ends the writer after it has written (or counted) the rest.
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(h) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = h.join();
        }
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        let c = &self.sh.counters;
        let mut v = vec![
            ("rows", c.rows.load(Ordering::Relaxed)),
            ("lost", c.lost.load(Ordering::Relaxed)),
            ("rejected", c.errors.load(Ordering::Relaxed)),
            ("backlog", c.backlog.load(Ordering::Relaxed)),
            ("backlog_bytes", c.backlog_bytes.load(Ordering::Relaxed)),
            ("reconnects", c.reconnects.load(Ordering::Relaxed)),
            (
                "connect_failures",
                c.connect_failures.load(Ordering::Relaxed),
            ),
            ("ring_full", c.ring_full.load(Ordering::Relaxed)),
        ];
        if self.spool.is_some() {
            v.extend([
                ("spool_depth", c.spool_depth.load(Ordering::Relaxed)),
                ("spooled", c.spooled.load(Ordering::Relaxed)),
                ("replayed", c.replayed.load(Ordering::Relaxed)),
                ("spool_corrupt", c.spool_corrupt.load(Ordering::Relaxed)),
            ]);
        }
        v
    }
}

/// The columns of `schema.table` (a table or a view), in order.
fn read_columns(
    client: &mut Client,
    schema: &str,
    table: &str,
) -> Result<Vec<String>, postgres::Error> {
    let rows = client.query(
        "SELECT a.attname::text FROM pg_attribute a \
         JOIN pg_class c ON a.attrelid = c.oid \
         JOIN pg_namespace n ON c.relnamespace = n.oid \
         WHERE c.relname = $1 AND n.nspname = $2 AND a.attnum > 0 AND NOT a.attisdropped \
         ORDER BY a.attnum",
        &[&table, &schema],
    )?;
    Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect())
}

/// The PGSQL plugin.
pub(crate) fn spec() -> PluginSpec {
    PluginSpec {
        name: "PGSQL",
        aliases: &[],
        kind: Kind::Sink,
        summary: "rows into PostgreSQL (columns of a table or view name the keys)",
        options: vec![
            OptionDef::string("db", "", "database name").required(),
            OptionDef::string("host", "", "server host or socket directory (default: /var/run/postgresql)"),
            OptionDef::string("user", "", "user name (default: PGUSER, else the user ulogd runs as)"),
            OptionDef::string(
                "pass",
                "",
                "password (default: PGPASSWORD, else ~/.pgpass or PGPASSFILE, as libpq)",
            ),
            OptionDef::int("port", "0", "server port (0: 5432)"),
            OptionDef::string("schema", "public", "schema of the table"),
            OptionDef::string(
                "connstring",
                "",
                "libpq connection string (key=value or postgresql:// URL; sslmode, sslrootcert, passfile...); overrides host, port, user and pass",
            ),
            OptionDef::string("table", "", "table or view whose columns name the keys").required(),
            OptionDef::string(
                "procedure",
                "INSERT",
                "INSERT, `INSERT INTO ...`, `CALL proc` or a function name",
            ),
            OptionDef::int(
                "reconnect",
                "2",
                "seconds before reconnecting after a failure (doubling up to 30 s); 0 gives up at the first failure",
            ),
            OptionDef::int(
                "connect_timeout",
                "5",
                "seconds a connection attempt may take",
            ),
            OptionDef::int(
                "backlog_memcap",
                "0",
                "bytes of rows kept while the database is unreachable, beyond ring_buffer_size rows",
            ),
            OptionDef::int(
                "backlog_oneshot_requests",
                "10",
                "accepted for ulogd2 configurations; ours writes its backlog in transactions of 256 rows",
            ),
            OptionDef::int(
                "ring_buffer_size",
                "1024",
                "rows queued to the writer thread, and at least as many kept while the database is unreachable (0: 1024)",
            ),
            OptionDef::string(
                "when_full",
                "drop_newest",
                "backlog full (ring_buffer_size rows and backlog_memcap bytes): drop_newest (counted as lost) or spool (to spool_dir, written in order when the server is back, kept across restarts)",
            ),
        ]
        .into_iter()
        .chain(crate::output::spool_options())
        .collect(),
        inputs: vec![],
        outputs: vec![],
        wildcard: true,
        build: Box::new(|ctx| {
            let o = ctx.options;
            let err = |name: &str, msg: &str| PluginError::new(o.error(name, msg).to_string());
            for n in [
                "reconnect",
                "backlog_memcap",
                "backlog_oneshot_requests",
                "ring_buffer_size",
                "connect_timeout",
            ] {
                if o.int(n) < 0 {
                    return Err(err(n, "must not be negative"));
                }
            }
            let ring = match o.int("ring_buffer_size") {
                0 => 1024,
                n if n > 1 << 24 => return Err(err("ring_buffer_size", "too large")),
                n => n as usize,
            };
            let port = u16::try_from(o.int("port"))
                .map_err(|_| err("port", "must be a port number"))?;
            let target = pgconn::target(&pgconn::Params {
                connstring: o.str("connstring"),
                host: o.str("host"),
                port,
                user: o.str("user"),
                pass: o.str("pass"),
                db: o.str("db"),
                connect_timeout: Duration::from_secs(o.int("connect_timeout") as u64),
                schema: o.str("schema"),
            })
            .map_err(|m| {
                let opt = if o.str("connstring").is_empty() { "host" } else { "connstring" };
                err(opt, &m)
            })?;
            let spool = match o.str("when_full").to_ascii_lowercase().as_str() {
                "drop_newest" => crate::output::spool_config(o, false)?,
                "spool" => crate::output::spool_config(o, true)?,
                other => {
                    return Err(err(
                        "when_full",
                        &format!("must be drop_newest or spool, not \"{other}\""),
                    ))
                }
            };
            // The procedure is checked now; the columns when the output starts.
            statement_head(o.str("procedure"), o.str("schema"), o.str("table"), &[])
                .map_err(|m| err("procedure", &m))?;
            Ok(Built::Stage {
                stage: Arc::new(Pgsql {
                    bound: Mutex::new(Vec::new()),
                    sh: Arc::new(Shared {
                        id: ctx.id.to_string(),
                        target,
                        schema: o.str("schema").to_string(),
                        table: o.str("table").to_string(),
                        procedure: o.str("procedure").to_string(),
                        reconnect: Duration::from_secs(o.int("reconnect") as u64),
                        memcap: o.int("backlog_memcap") as u64,
                        keep_rows: ring,
                        columns: OnceLock::new(),
                        counters: Counters::default(),
                    }),
                    ring,
                    spool,
                    tx: Mutex::new(None),
                    thread: Mutex::new(None),
                }),
                inputs: Inputs::All,
                outputs: vec![],
            })
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::statement_head;

    #[test]
    fn procedure_rules() {
        let cols = ["a", "b"];
        assert_eq!(
            statement_head("INSERT", "public", "t", &cols).unwrap(),
            "insert into public.t (a,b) values ("
        );
        assert_eq!(
            statement_head("insert", "", "t", &cols).unwrap(),
            "insert into t (a,b) values ("
        );
        assert_eq!(
            statement_head("INSERT INTO other", "public", "t", &cols).unwrap(),
            "INSERT INTO other (a,b) values ("
        );
        assert_eq!(
            statement_head("CALL add_row", "public", "t", &cols).unwrap(),
            "CALL add_row("
        );
        assert_eq!(
            statement_head("INSERT_CT", "public", "t", &cols).unwrap(),
            "SELECT INSERT_CT("
        );
        assert!(statement_head("CALL", "public", "t", &cols).is_err());
    }
}
