//! PGSQL: rows into PostgreSQL, through a writer thread, with a backlog while the
//! server is away.
//!
//! At start-up the table's (or view's) columns are read, as ulogd2 does, and name the
//! keys (`orig_ip_saddr_str` ← `orig.ip.saddr.str`; a first column starting with `_`
//! is the id and is left out; columns no upstream plugin produces are written as
//! NULL, so ulogd2's `ulog` view works with any packet stack). Each event becomes one
//! statement (`procedure`): `INSERT` → `insert into schema.table (cols) values (...)`,
//! a value starting with `INSERT ` is used as the head verbatim, `CALL ...` →
//! `CALL proc(...)`, anything else → `SELECT proc(...)` (ulogd2's
//! `INSERT_PACKET_FULL`, `INSERT_CT`, `INSERT_OR_REPLACE_CT`).
//!
//! Statements go through a queue of `ring_buffer_size` rows to a writer thread,
//! which sends them in transactions of up to [`BATCH`] rows. While the server is
//! unreachable rows are kept, up to `backlog_memcap` bytes of statement text, and
//! written in order when it is back (a connection attempt every `reconnect` seconds;
//! 0 gives up after the first loss); beyond the memcap each row is counted as `lost`
//! and logged, never dropped silently. A row the server rejects (bad value,
//! constraint) is counted in `errors` with the server's message.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender, TrySendError};
use postgres::{Client, Config, NoTls};
use ulogd_core::{
    Built, Event, Inputs, KeyDef, KeyType, Kind, OptionDef, PluginError, PluginSpec, Ret, Stage,
};

use super::{column_to_key, input_value, is_inactive_column, push_pg_literal, worth_logging};

/// Rows per transaction.
pub(crate) const BATCH: usize = 256;
/// How long `flush` at shutdown waits for an unreachable server.
const FLUSH_WAIT: Duration = Duration::from_secs(15);
/// How long an event waits for room in a full queue before it is counted as lost.
const RING_WAIT: Duration = Duration::from_secs(1);

enum Msg {
    Row(String),
    Flush(Sender<()>),
}

#[derive(Default)]
struct Counters {
    rows: AtomicU64,
    lost: AtomicU64,
    errors: AtomicU64,
    backlog: AtomicU64,
    backlog_bytes: AtomicU64,
    reconnects: AtomicU64,
    ring_full: AtomicU64,
}

impl Counters {
    fn lose(&self, n: u64, why: &str) {
        let before = self.lost.fetch_add(n, Ordering::Relaxed);
        let now = before + n;
        if (before + 1..=now).any(worth_logging) {
            log::error!("PGSQL: {n} row(s) not written ({why}); {now} rows lost so far");
        }
    }
}

struct Settings {
    config: Config,
    describe: String,
    reconnect: Duration,
    memcap: u64,
}

struct Pgsql {
    head: String,
    ncols: usize,
    ring: usize,
    settings: Arc<Settings>,
    counters: Arc<Counters>,
    tx: Mutex<Option<Sender<Msg>>>,
    free: Mutex<Option<Receiver<String>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
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

fn connect(s: &Settings) -> Result<Client, postgres::Error> {
    s.config.connect(NoTls)
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
    free: Sender<String>,
    settings: Arc<Settings>,
    counters: Arc<Counters>,
    client: Option<Client>,
    next_attempt: Instant,
    gave_up: bool,
    backlog: VecDeque<String>,
    backlog_bytes: u64,
    batch: Vec<String>,
    sql: String,
}

enum Outcome {
    Written,
    /// The connection went away; the first `n` rows were written.
    Down(usize),
}

impl Writer {
    fn recycle(&self, mut s: String) {
        s.clear();
        // The pool is bounded by its channel: a full pool simply drops the buffer.
        let _ = self.free.try_send(s);
    }

    fn ensure_connected(&mut self) -> bool {
        if self.client.is_some() {
            return true;
        }
        if self.gave_up || Instant::now() < self.next_attempt {
            return false;
        }
        match connect(&self.settings) {
            Ok(c) => {
                log::info!(
                    "PGSQL: connected to {} ({} rows waiting)",
                    self.settings.describe,
                    self.backlog.len()
                );
                self.counters.reconnects.fetch_add(1, Ordering::Relaxed);
                self.client = Some(c);
                true
            }
            Err(e) => {
                if self.settings.reconnect.is_zero() {
                    log::error!(
                        "PGSQL: {} unreachable ({e}); reconnect=0, giving up: further rows are lost",
                        self.settings.describe
                    );
                    self.gave_up = true;
                } else {
                    log::debug!("PGSQL: reconnect to {} failed: {e}", self.settings.describe);
                    self.next_attempt = Instant::now() + self.settings.reconnect;
                }
                false
            }
        }
    }

    fn lost_connection(&mut self, e: &postgres::Error) {
        log::warn!(
            "PGSQL: connection to {} lost: {e}; keeping up to {} bytes of rows",
            self.settings.describe,
            self.settings.memcap
        );
        self.client = None;
        if self.settings.reconnect.is_zero() {
            self.gave_up = true;
            log::error!("PGSQL: reconnect=0: not reconnecting; further rows are lost");
        }
        // Try once right away: a restarted server is often back already.
        self.next_attempt = Instant::now();
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
                self.counters
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
                            self.counters.rows.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) if is_down(client, &e) => {
                            // Rows before this one are in: only the rest is kept.
                            self.lost_connection(&e);
                            return Outcome::Down(i);
                        }
                        Err(e) => {
                            let n = self.counters.errors.fetch_add(1, Ordering::Relaxed) + 1;
                            if worth_logging(n) {
                                log::error!(
                                    "PGSQL: the server rejected a row ({e}); {n} rows rejected so far; statement: {r}"
                                );
                            }
                        }
                    }
                }
                Outcome::Written
            }
        }
    }

    fn push_backlog(&mut self, row: String) {
        let len = row.len() as u64;
        if self.gave_up || self.backlog_bytes + len > self.settings.memcap {
            let why = if self.gave_up {
                "database unreachable and reconnect=0"
            } else {
                "database unreachable and backlog_memcap full"
            };
            self.counters.lose(1, why);
            self.recycle(row);
            return;
        }
        self.backlog_bytes += len;
        self.backlog.push_back(row);
    }

    fn sync_gauges(&self) {
        self.counters
            .backlog
            .store(self.backlog.len() as u64, Ordering::Relaxed);
        self.counters
            .backlog_bytes
            .store(self.backlog_bytes, Ordering::Relaxed);
    }

    /// Writes the backlog while connected; returns whether it is empty.
    fn drain_backlog(&mut self) -> bool {
        while !self.backlog.is_empty() && self.ensure_connected() {
            let n = self.backlog.len().min(BATCH);
            let chunk: Vec<String> = self.backlog.drain(..n).collect();
            match self.write(&chunk) {
                Outcome::Written => {
                    for r in chunk {
                        self.backlog_bytes -= r.len() as u64;
                        self.recycle(r);
                    }
                }
                Outcome::Down(done) => {
                    let mut chunk = chunk;
                    for r in chunk.drain(..done) {
                        self.backlog_bytes -= r.len() as u64;
                        self.recycle(r);
                    }
                    for r in chunk.into_iter().rev() {
                        self.backlog.push_front(r);
                    }
                    break;
                }
            }
        }
        self.sync_gauges();
        self.backlog.is_empty()
    }

    /// Sends the collected batch (after the backlog, so order is kept).
    fn handle_batch(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let mut batch = std::mem::take(&mut self.batch);
        if self.drain_backlog() && self.ensure_connected() {
            match self.write(&batch) {
                Outcome::Written => {
                    for r in batch.drain(..) {
                        self.recycle(r);
                    }
                    self.batch = batch;
                    self.sync_gauges();
                    return;
                }
                Outcome::Down(done) => {
                    for r in batch.drain(..done) {
                        self.recycle(r);
                    }
                }
            }
        }
        for r in batch.drain(..) {
            self.push_backlog(r);
        }
        self.batch = batch;
        self.sync_gauges();
    }

    fn flush(&mut self) {
        self.handle_batch();
        let deadline = Instant::now() + FLUSH_WAIT;
        while !self.drain_backlog() && !self.gave_up && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn run(mut self) {
        loop {
            let wait = if self.backlog.is_empty() {
                Duration::from_secs(1)
            } else {
                Duration::from_millis(200)
            };
            match self.rx.recv_timeout(wait) {
                Ok(Msg::Row(r)) => self.batch.push(r),
                Ok(Msg::Flush(ack)) => {
                    self.flush();
                    let _ = ack.send(());
                    continue;
                }
                Err(RecvTimeoutError::Timeout) => {
                    self.drain_backlog();
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
            // Take what else is queued, up to a batch.
            let mut flush_ack = None;
            while self.batch.len() < BATCH {
                match self.rx.try_recv() {
                    Ok(Msg::Row(r)) => self.batch.push(r),
                    Ok(Msg::Flush(ack)) => {
                        flush_ack = Some(ack);
                        break;
                    }
                    Err(_) => break,
                }
            }
            self.handle_batch();
            if let Some(ack) = flush_ack {
                self.flush();
                let _ = ack.send(());
            }
        }
        // Shutdown: one last try, then count what is left.
        self.flush();
        let left = self.backlog.len() as u64;
        if left > 0 {
            self.counters.lose(left, "database unreachable at shutdown");
            self.backlog.clear();
            self.backlog_bytes = 0;
        }
        self.sync_gauges();
    }
}

impl Stage for Pgsql {
    fn start(&self) -> Result<(), PluginError> {
        let client = connect(&self.settings).map_err(|e| {
            PluginError::new(format!(
                "PGSQL: cannot connect to {}: {e}",
                self.settings.describe
            ))
        })?;
        let (tx, rx) = bounded(self.ring);
        let (free_tx, free_rx) = bounded(self.ring);
        let w = Writer {
            rx,
            free: free_tx,
            settings: self.settings.clone(),
            counters: self.counters.clone(),
            client: Some(client),
            next_attempt: Instant::now(),
            gave_up: false,
            backlog: VecDeque::new(),
            backlog_bytes: 0,
            batch: Vec::with_capacity(BATCH),
            sql: String::new(),
        };
        let h = std::thread::Builder::new()
            .name("ulogd-pgsql".into())
            .spawn(move || w.run())?;
        *self.tx.lock().unwrap_or_else(|e| e.into_inner()) = Some(tx);
        *self.free.lock().unwrap_or_else(|e| e.into_inner()) = Some(free_rx);
        *self.thread.lock().unwrap_or_else(|e| e.into_inner()) = Some(h);
        Ok(())
    }

    fn interp(&self, ev: &mut Event<'_>) -> Ret {
        let mut buf = self
            .free
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .and_then(|f| f.try_recv().ok())
            .unwrap_or_else(|| String::with_capacity(self.head.len() + 16 * self.ncols));
        buf.push_str(&self.head);
        for i in 0..self.ncols {
            if i > 0 {
                buf.push(',');
            }
            push_pg_literal(&mut buf, &input_value(ev, i));
        }
        buf.push(')');
        let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let Some(tx) = tx else {
            self.counters.lose(1, "output not started");
            return Ret::Err;
        };
        match tx.try_send(Msg::Row(buf)) {
            Ok(()) => Ret::Ok,
            Err(TrySendError::Full(m)) => {
                self.counters.ring_full.fetch_add(1, Ordering::Relaxed);
                if tx.send_timeout(m, RING_WAIT).is_ok() {
                    Ret::Ok
                } else {
                    self.counters
                        .lose(1, "writer queue full (ring_buffer_size) for over a second");
                    Ret::Err
                }
            }
            Err(TrySendError::Disconnected(_)) => {
                self.counters.lose(1, "writer thread gone");
                Ret::Err
            }
        }
    }

    fn flush(&self) {
        let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(tx) = tx {
            let (ack_tx, ack_rx) = bounded(1);
            if tx.send(Msg::Flush(ack_tx)).is_ok() {
                let _ = ack_rx.recv_timeout(FLUSH_WAIT + Duration::from_secs(30));
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
        let c = &self.counters;
        vec![
            ("rows", c.rows.load(Ordering::Relaxed)),
            ("lost", c.lost.load(Ordering::Relaxed)),
            ("errors", c.errors.load(Ordering::Relaxed)),
            ("backlog", c.backlog.load(Ordering::Relaxed)),
            ("backlog_bytes", c.backlog_bytes.load(Ordering::Relaxed)),
            ("reconnects", c.reconnects.load(Ordering::Relaxed)),
            ("ring_full", c.ring_full.load(Ordering::Relaxed)),
        ]
    }
}

fn config_from(o: &ulogd_core::Options) -> Result<(Config, String), PluginError> {
    let err = |name: &str, msg: String| PluginError::new(o.error(name, msg).to_string());
    let mut cfg = if o.str("connstring").is_empty() {
        let mut c = Config::new();
        let host = o.str("host");
        c.host(if host.is_empty() {
            "/var/run/postgresql"
        } else {
            host
        });
        let port = o.int("port");
        if port != 0 {
            let p = u16::try_from(port)
                .map_err(|_| err("port", "must be a port number".to_string()))?;
            c.port(p);
        }
        if !o.str("user").is_empty() {
            c.user(o.str("user"));
        }
        if !o.str("pass").is_empty() {
            c.password(o.str("pass"));
        }
        c.dbname(o.str("db"));
        c
    } else {
        o.str("connstring").parse::<Config>().map_err(|e| {
            err(
                "connstring",
                format!("not a PostgreSQL connection string: {e}"),
            )
        })?
    };
    let ct = o.int("connect_timeout");
    if ct > 0 {
        cfg.connect_timeout(Duration::from_secs(ct as u64));
    }
    cfg.application_name("ulogd");
    // Functions named by `procedure` are found in `schema` first, as the table is.
    let schema = o.str("schema");
    if !schema.is_empty()
        && schema != "public"
        && cfg.get_options().is_none()
        && schema
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        cfg.options(&format!("-c search_path={schema},public"));
    }
    let describe = format!(
        "database {} on {}",
        cfg.get_dbname().unwrap_or("?"),
        cfg.get_hosts()
            .iter()
            .map(|h| match h {
                postgres::config::Host::Tcp(s) => s.clone(),
                postgres::config::Host::Unix(p) => p.display().to_string(),
            })
            .collect::<Vec<_>>()
            .join(",")
    );
    Ok((cfg, describe))
}

/// The columns of `schema.table` (a table or a view), in order.
fn read_columns(cfg: &Config, schema: &str, table: &str) -> Result<Vec<String>, String> {
    let mut client = cfg.connect(NoTls).map_err(|e| e.to_string())?;
    let rows = client
        .query(
            "SELECT a.attname::text FROM pg_attribute a \
             JOIN pg_class c ON a.attrelid = c.oid \
             JOIN pg_namespace n ON c.relnamespace = n.oid \
             WHERE c.relname = $1 AND n.nspname = $2 AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attnum",
            &[&table, &schema],
        )
        .map_err(|e| e.to_string())?;
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
            OptionDef::string("host", "", "server host (default: the local socket)"),
            OptionDef::string("user", "", "user name"),
            OptionDef::string("pass", "", "password"),
            OptionDef::int("port", "0", "server port (0: 5432)"),
            OptionDef::string("schema", "public", "schema of the table"),
            OptionDef::string(
                "connstring",
                "",
                "libpq connection string; overrides db, host, user, pass and port",
            ),
            OptionDef::string("table", "", "table or view whose columns name the keys").required(),
            OptionDef::string(
                "procedure",
                "INSERT",
                "INSERT, `INSERT INTO ...`, `CALL proc` or a function name",
            ),
            OptionDef::int(
                "reconnect",
                "0",
                "seconds between reconnection attempts; 0 gives up when the connection is lost",
            ),
            OptionDef::int(
                "connect_timeout",
                "5",
                "seconds a connection attempt may take",
            ),
            OptionDef::int(
                "backlog_memcap",
                "0",
                "bytes of rows kept while the database is unreachable (0: none)",
            ),
            OptionDef::int(
                "ring_buffer_size",
                "1024",
                "rows queued to the writer thread (0: 1024)",
            ),
        ],
        inputs: vec![],
        outputs: vec![],
        wildcard: false,
        build: Box::new(|ctx| {
            let o = ctx.options;
            let err = |name: &str, msg: &str| PluginError::new(o.error(name, msg).to_string());
            let (config, describe) = config_from(o)?;
            for n in [
                "reconnect",
                "backlog_memcap",
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
            let schema = o.str("schema");
            let table = o.str("table");
            let cols = read_columns(&config, schema, table).map_err(|e| {
                PluginError::new(format!(
                    "PGSQL: cannot read the columns of {schema}.{table} from {describe}: {e}"
                ))
            })?;
            if cols.is_empty() {
                return Err(PluginError::new(format!(
                    "PGSQL: no table or view {schema}.{table} in {describe}"
                )));
            }
            let mut keys = Vec::new();
            let mut active = Vec::new();
            for (i, c) in cols.iter().enumerate() {
                if is_inactive_column(i, c) {
                    continue;
                }
                keys.push(KeyDef::dynamic(column_to_key(c), KeyType::Any).optional());
                active.push(c.as_str());
            }
            let head = statement_head(o.str("procedure"), schema, table, &active)
                .map_err(|m| err("procedure", &m))?;
            Ok(Built::Stage {
                stage: Arc::new(Pgsql {
                    head,
                    ncols: keys.len(),
                    ring,
                    settings: Arc::new(Settings {
                        config,
                        describe,
                        reconnect: Duration::from_secs(o.int("reconnect") as u64),
                        memcap: o.int("backlog_memcap") as u64,
                    }),
                    counters: Arc::default(),
                    tx: Mutex::new(None),
                    free: Mutex::new(None),
                    thread: Mutex::new(None),
                }),
                inputs: Inputs::Keys(keys),
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
