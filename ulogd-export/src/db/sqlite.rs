//! SQLITE3: rows into an SQLite database (embedded, no server).
//!
//! The table's columns name the keys (`orig_ip_saddr_str` ← `orig.ip.saddr.str`);
//! every column must have an upstream producer, or the stack does not start. With
//! `create_table` (`auto`, the default, or `1`) a missing table is created from the
//! keys the stack carries, with column types that fit them. Rows are inserted in one
//! transaction committed every `commit_interval` seconds, every `batch_size` rows
//! and at shutdown.
//!
//! Instances naming one file (ulogd2's `sqlite3_ct` + `sqlite3_pkt` stanzas) share one
//! connection and one transaction, so they never lock each other out. A database
//! locked by another process is waited for once (`busy_timeout`); then, for a while,
//! rows are kept in memory (up to 100000, counted in `busy`) without waiting, and
//! written in order when the lock is free, so neither the event loop nor shutdown
//! sleeps row after row. At shutdown the lock is waited for once more; rows still
//! kept are counted as `lost` and logged, never dropped silently.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::types::{ToSqlOutput, Value, ValueRef};
use rusqlite::{Connection, ErrorCode, OpenFlags};
use ulogd_core::{
    Built, Event, Inputs, KeyDef, KeyType, Kind, OptionDef, PluginError, PluginSpec, Ret, Stage,
};

use super::{column_to_key, input_value, is_inactive_column, sqlite_type, SqlValue, StackText};

/// Where the values of a row come from.
enum Layout {
    /// An existing table: declared inputs, one per column (inactive ones skipped).
    Columns,
    /// `create_table` and no table yet: every upstream key; the table is made at the
    /// first event from the keys that event's stack carries.
    Create(Option<Created>),
}

/// The table `create_table` made: per wildcard position, the parameter index.
struct Created {
    wildcard_len: usize,
    param_of: Vec<Option<usize>>,
}

struct Sqlite {
    path: String,
    table: String,
    batch_size: u64,
    commit_interval: Duration,
    busy_timeout: Duration,
    /// The layout and insert statement found at build, until `start` hands them to
    /// the shared database.
    initial: Mutex<Option<(Layout, String)>>,
    db: Mutex<Option<(SharedDb, usize)>>,
    /// Counters after `stop` (the shared database may be gone).
    last: Mutex<Vec<(&'static str, u64)>>,
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.code == ErrorCode::DatabaseBusy || f.code == ErrorCode::DatabaseLocked)
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The columns of `table` in the database at `path`, read without creating or
/// changing anything; `None` when the file or the table does not exist.
fn read_columns(path: &str, table: &str) -> Result<Option<Vec<String>>, String> {
    if !Path::new(path).exists() {
        return Ok(None);
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| format!("cannot open SQLite database {path}: {e}"))?;
    read_columns_conn(&conn, table).map_err(|e| format!("{path}: {e}"))
}

fn read_columns_conn(conn: &Connection, table: &str) -> rusqlite::Result<Option<Vec<String>>> {
    let mut stmt = conn.prepare(&format!("PRAGMA table_info({})", quote_ident(table)))?;
    let cols = stmt
        .query_map([], |r| r.get::<_, String>(1))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(if cols.is_empty() { None } else { Some(cols) })
}

fn insert_sql(table: &str, cols: &[&str]) -> String {
    let names: Vec<String> = cols.iter().map(|c| quote_ident(c)).collect();
    let params: Vec<String> = (1..=cols.len()).map(|i| format!("?{i}")).collect();
    format!(
        "INSERT INTO {} ({}) VALUES ({})",
        quote_ident(table),
        names.join(","),
        params.join(",")
    )
}

fn bind(stmt: &mut rusqlite::Statement<'_>, idx: usize, v: SqlValue<'_>) -> rusqlite::Result<()> {
    match v {
        SqlValue::Null => stmt.raw_bind_parameter(idx, ToSqlOutput::Borrowed(ValueRef::Null)),
        SqlValue::Uint(x) => match i64::try_from(x) {
            Ok(i) => stmt.raw_bind_parameter(idx, i),
            // Beyond i64: the exact digits, as text.
            Err(_) => stmt.raw_bind_parameter(
                idx,
                ToSqlOutput::Borrowed(ValueRef::Text(StackText::of(x).as_bytes())),
            ),
        },
        SqlValue::Int(x) => stmt.raw_bind_parameter(idx, x),
        SqlValue::Bool(b) => stmt.raw_bind_parameter(idx, b as i64),
        SqlValue::Addr(a) => stmt.raw_bind_parameter(
            idx,
            ToSqlOutput::Borrowed(ValueRef::Text(StackText::of(a).as_bytes())),
        ),
        SqlValue::Text(b) | SqlValue::RawStr(b) => {
            // Kernel strings carry their NUL terminator; SQLite text does not.
            let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
            stmt.raw_bind_parameter(idx, ToSqlOutput::Borrowed(ValueRef::Text(&b[..end])))
        }
        SqlValue::Blob(b) => stmt.raw_bind_parameter(idx, ToSqlOutput::Borrowed(ValueRef::Blob(b))),
    }
}

/// One open database file, shared by every SQLITE3 instance that names it.
///
/// ulogd2's documented stanzas (`sqlite3_ct` and `sqlite3_pkt`) put two tables in one
/// file. Two connections would each hold a write transaction for `commit_interval`
/// and lock each other out, so instances on one file (same device and inode) share
/// this connection and its one transaction; each keeps its own statement and counters.
struct Db {
    path: String,
    conn: Connection,
    in_tx: bool,
    commits: u64,
    /// After a failed wait for another process's lock: until then, try without
    /// waiting, so neither the event loop nor shutdown sleeps row after row.
    busy_until: Option<Instant>,
    busy_timeout: Duration,
    slots: Vec<Slot>,
    /// Rows that met another process's lock, in arrival order (slot, values): written
    /// before any newer row once the lock is free, at most [`QUEUE_MAX`].
    queued: VecDeque<(usize, Vec<Value>)>,
}

/// Rows kept in memory while another process holds the database's write lock.
const QUEUE_MAX: usize = 100_000;

/// One instance's part of a shared [`Db`].
struct Slot {
    layout: Layout,
    insert: String,
    pending: u64,
    rows: u64,
    busy: u64,
    lost: u64,
    errors: u64,
}

type SharedDb = Arc<Mutex<Db>>;

/// A file's (device, inode).
type FileId = (u64, u64);

/// Open databases by file.
static OPEN: Mutex<Vec<(FileId, std::sync::Weak<Mutex<Db>>)>> = Mutex::new(Vec::new());

fn file_id(path: &str) -> std::io::Result<FileId> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path)?;
    Ok((m.dev(), m.ino()))
}

/// The shared connection to `path`, opened if no instance has it open.
fn open_shared(path: &str, busy_timeout: Duration) -> Result<SharedDb, String> {
    let mut open = OPEN.lock().unwrap_or_else(|e| e.into_inner());
    open.retain(|(_, w)| w.strong_count() > 0);
    if let Ok(id) = file_id(path) {
        if let Some(db) = open
            .iter()
            .find(|(i, _)| *i == id)
            .and_then(|(_, w)| w.upgrade())
        {
            let mut g = db.lock().unwrap_or_else(|e| e.into_inner());
            // The longest wait any instance on the file asked for.
            if busy_timeout > g.busy_timeout {
                g.busy_timeout = busy_timeout;
                let _ = g.conn.busy_timeout(busy_timeout);
            }
            drop(g);
            return Ok(db);
        }
    }
    let conn = Connection::open(path).map_err(|e| format!("cannot open database {path}: {e}"))?;
    conn.busy_timeout(busy_timeout)
        .map_err(|e| format!("{path}: {e}"))?;
    conn.set_prepared_statement_cache_capacity(16);
    let id = file_id(path).map_err(|e| format!("{path}: {e}"))?;
    let db = Arc::new(Mutex::new(Db {
        path: path.to_string(),
        conn,
        in_tx: false,
        commits: 0,
        busy_until: None,
        busy_timeout,
        slots: Vec::new(),
        queued: VecDeque::new(),
    }));
    open.push((id, Arc::downgrade(&db)));
    Ok(db)
}

/// A value kept while the database is locked (the same rules as [`bind`]).
fn owned(v: SqlValue<'_>) -> Value {
    match v {
        SqlValue::Null => Value::Null,
        SqlValue::Uint(x) => match i64::try_from(x) {
            Ok(i) => Value::Integer(i),
            Err(_) => Value::Text(x.to_string()),
        },
        SqlValue::Int(x) => Value::Integer(x),
        SqlValue::Bool(b) => Value::Integer(b as i64),
        SqlValue::Addr(a) => Value::Text(a.to_string()),
        SqlValue::Text(b) | SqlValue::RawStr(b) => {
            let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
            Value::Text(String::from_utf8_lossy(&b[..end]).into_owned())
        }
        SqlValue::Blob(b) => Value::Blob(b.to_vec()),
    }
}

impl Db {
    fn lose(&mut self, slot: usize, why: &str) {
        let s = &mut self.slots[slot];
        s.lost += 1;
        if super::worth_logging(s.lost) {
            log::error!(
                "SQLITE3 {}: row not written ({why}); {} rows lost so far",
                self.path,
                s.lost
            );
        }
    }

    fn pending(&self) -> u64 {
        self.slots.iter().map(|s| s.pending).sum()
    }

    /// Waits for another process's lock at most `busy_timeout`, and not at all again
    /// for a while after such a wait failed.
    fn set_wait(&mut self) {
        let wait = match self.busy_until {
            Some(t) if Instant::now() < t => Duration::ZERO,
            _ => self.busy_timeout,
        };
        let _ = self.conn.busy_timeout(wait);
    }

    fn note_busy(&mut self) {
        if !matches!(self.busy_until, Some(t) if Instant::now() < t) {
            self.busy_until = Some(Instant::now() + self.busy_timeout.max(Duration::from_secs(1)));
        }
    }

    /// Commits the open transaction (every instance's rows on this file).
    fn commit(&mut self) {
        if !self.in_tx {
            return;
        }
        self.set_wait();
        match self.conn.execute_batch("COMMIT") {
            Ok(()) => {
                self.in_tx = false;
                self.commits += 1;
                for s in &mut self.slots {
                    s.pending = 0;
                }
            }
            Err(e) if is_busy(&e) => {
                // The transaction stays open; the next tick tries again.
                self.note_busy();
                for s in &mut self.slots {
                    if s.pending > 0 {
                        s.busy += 1;
                    }
                }
                log::warn!(
                    "SQLITE3 {}: database busy at commit ({} rows waiting); retrying",
                    self.path,
                    self.pending()
                );
            }
            Err(e) => {
                log::error!(
                    "SQLITE3 {}: commit failed: {e}; {} rows lost",
                    self.path,
                    self.pending()
                );
                let _ = self.conn.execute_batch("ROLLBACK");
                for s in &mut self.slots {
                    s.lost += s.pending;
                    s.rows -= s.pending;
                    s.pending = 0;
                }
                self.in_tx = false;
            }
        }
    }

    /// Creates `table` from the keys of `ev`'s stack (first event of that stack).
    fn create(&mut self, slot: usize, table: &str, ev: &Event<'_>) -> Result<Created, String> {
        let mut cols: Vec<(String, KeyType, usize)> = Vec::new();
        for (pos, (def, _)) in ev.wildcard().enumerate() {
            let col = super::key_to_column(&def.name);
            // Several producers of one name: the nearest (last) wins, as for bindings.
            match cols.iter_mut().find(|c| c.0 == col) {
                Some(c) => *c = (col, def.ty, pos),
                None => cols.push((col, def.ty, pos)),
            }
        }
        if cols.is_empty() {
            return Err("no keys upstream to make columns of".into());
        }
        let defs: Vec<String> = cols
            .iter()
            .map(|(c, ty, _)| format!("{} {}", quote_ident(c), sqlite_type(*ty)))
            .collect();
        self.conn
            .execute_batch(&format!(
                "CREATE TABLE IF NOT EXISTS {} ({})",
                quote_ident(table),
                defs.join(", ")
            ))
            .map_err(|e| format!("cannot create table {table}: {e}"))?;
        log::info!(
            "SQLITE3 {}: created table {table} with {} columns",
            self.path,
            cols.len()
        );
        let mut param_of = vec![None; ev.wildcard_len()];
        for (i, (_, _, pos)) in cols.iter().enumerate() {
            param_of[*pos] = Some(i + 1);
        }
        let names: Vec<&str> = cols.iter().map(|c| c.0.as_str()).collect();
        self.slots[slot].insert = insert_sql(table, &names);
        Ok(Created {
            wildcard_len: ev.wildcard_len(),
            param_of,
        })
    }

    /// The values of `ev`'s row, by parameter, owned (to keep while locked).
    fn row_values(&self, slot: usize, ev: &Event<'_>) -> Vec<Value> {
        match &self.slots[slot].layout {
            Layout::Columns => {
                let n = self
                    .conn
                    .prepare_cached(&self.slots[slot].insert)
                    .map_or(0, |s| s.parameter_count());
                (0..n).map(|i| owned(input_value(ev, i))).collect()
            }
            Layout::Create(Some(c)) => {
                let n = c.param_of.iter().flatten().count();
                let mut vals = vec![Value::Null; n];
                for (pos, (def, v)) in ev.wildcard().enumerate() {
                    if let Some(&Some(p)) = c.param_of.get(pos) {
                        vals[p - 1] = owned(super::from_value(v, def.ty));
                    }
                }
                vals
            }
            Layout::Create(None) => Vec::new(),
        }
    }

    /// Opens the transaction if needed; `false` while another process holds the lock.
    fn begin(&mut self) -> Result<bool, rusqlite::Error> {
        if self.in_tx {
            return Ok(true);
        }
        self.set_wait();
        match self.conn.execute_batch("BEGIN IMMEDIATE") {
            Ok(()) => {
                self.in_tx = true;
                Ok(true)
            }
            Err(e) if is_busy(&e) => {
                self.note_busy();
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Writes the rows kept while the database was locked; `false` if some remain.
    fn drain_queue(&mut self) -> bool {
        if self.queued.is_empty() {
            return true;
        }
        match self.begin() {
            Ok(true) => {}
            Ok(false) => return false,
            Err(e) => {
                log::error!("SQLITE3 {}: cannot write kept rows: {e}", self.path);
                return false;
            }
        }
        let n = self.queued.len();
        while let Some((slot, vals)) = self.queued.pop_front() {
            let res = self
                .conn
                .prepare_cached(&self.slots[slot].insert)
                .and_then(|mut stmt| {
                    for (i, v) in vals.iter().enumerate() {
                        stmt.raw_bind_parameter(i + 1, v)?;
                    }
                    stmt.raw_execute()
                });
            let s = &mut self.slots[slot];
            match res {
                Ok(_) => {
                    s.rows += 1;
                    s.pending += 1;
                }
                Err(e) => {
                    s.errors += 1;
                    let msg = e.to_string();
                    self.lose(slot, &msg);
                }
            }
        }
        log::info!(
            "SQLITE3 {}: database free again; {n} kept rows written",
            self.path
        );
        true
    }

    /// Keeps a row that met another process's lock.
    fn keep(&mut self, slot: usize, ev: &Event<'_>) {
        self.slots[slot].busy += 1;
        if self.queued.len() >= QUEUE_MAX {
            self.lose(
                slot,
                "database locked by another process and 100000 rows already kept",
            );
            return;
        }
        if self.queued.is_empty() {
            log::warn!(
                "SQLITE3 {}: database locked by another process for longer than busy_timeout; keeping rows until it is free",
                self.path
            );
        }
        let vals = self.row_values(slot, ev);
        self.queued.push_back((slot, vals));
    }

    fn write_row(&mut self, slot: usize, ev: &Event<'_>) -> Result<(), rusqlite::Error> {
        let Slot { layout, insert, .. } = &self.slots[slot];
        let mut stmt = self.conn.prepare_cached(insert)?;
        match layout {
            Layout::Columns => {
                for i in 0..stmt.parameter_count() {
                    bind(&mut stmt, i + 1, input_value(ev, i))?;
                }
            }
            Layout::Create(Some(c)) => {
                for (pos, (def, v)) in ev.wildcard().enumerate() {
                    if let Some(&Some(p)) = c.param_of.get(pos) {
                        bind(&mut stmt, p, super::from_value(v, def.ty))?;
                    }
                }
            }
            Layout::Create(None) => unreachable!("created before"),
        }
        stmt.raw_execute()?;
        Ok(())
    }
}

impl Sqlite {
    fn db(&self) -> Option<(SharedDb, usize)> {
        self.db.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Stage for Sqlite {
    fn start(&self) -> Result<(), PluginError> {
        let shared = open_shared(&self.path, self.busy_timeout)
            .map_err(|e| PluginError::new(format!("SQLITE3: {e}")))?;
        let mut g = shared.lock().unwrap_or_else(|e| e.into_inner());
        let (layout, insert) = self
            .initial
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .ok_or_else(|| PluginError::new("SQLITE3: started twice"))?;
        if matches!(layout, Layout::Columns) {
            // Fails now, not at the first row, if the table changed since start-up.
            g.conn.prepare_cached(&insert).map_err(|e| {
                PluginError::new(format!(
                    "SQLITE3 {}: cannot prepare insert into {}: {e}",
                    self.path, self.table
                ))
            })?;
        }
        g.slots.push(Slot {
            layout,
            insert,
            pending: 0,
            rows: 0,
            busy: 0,
            lost: 0,
            errors: 0,
        });
        let slot = g.slots.len() - 1;
        drop(g);
        *self.db.lock().unwrap_or_else(|e| e.into_inner()) = Some((shared, slot));
        Ok(())
    }

    fn interp(&self, ev: &mut Event<'_>) -> Ret {
        let Some((shared, slot)) = self.db() else {
            log::error!("SQLITE3 {}: row not written (database not open)", self.path);
            return Ret::Err;
        };
        let mut g = shared.lock().unwrap_or_else(|e| e.into_inner());
        match &g.slots[slot].layout {
            Layout::Create(None) => match g.create(slot, &self.table, ev) {
                Ok(c) => g.slots[slot].layout = Layout::Create(Some(c)),
                Err(e) => {
                    log::error!("SQLITE3 {}: {e}", self.path);
                    g.lose(slot, "no table");
                    return Ret::Err;
                }
            },
            Layout::Create(Some(c)) if c.wildcard_len != ev.wildcard_len() => {
                g.lose(
                    slot,
                    "create_table made the table for another stack's keys; give this stack its own instance",
                );
                return Ret::Err;
            }
            _ => {}
        }
        if !g.drain_queue() {
            g.keep(slot, ev);
            return Ret::Ok;
        }
        match g.begin() {
            Ok(true) => {}
            Ok(false) => {
                g.keep(slot, ev);
                return Ret::Ok;
            }
            Err(e) => {
                let msg = e.to_string();
                g.lose(slot, &msg);
                return Ret::Err;
            }
        }
        match g.write_row(slot, ev) {
            Ok(()) => {
                let s = &mut g.slots[slot];
                s.rows += 1;
                s.pending += 1;
                if s.pending >= self.batch_size {
                    g.commit();
                }
                Ret::Ok
            }
            Err(e) => {
                g.slots[slot].errors += 1;
                let msg = e.to_string();
                g.lose(slot, &msg);
                Ret::Err
            }
        }
    }

    fn tick(&self) {
        if let Some((shared, _)) = self.db() {
            let mut g = shared.lock().unwrap_or_else(|e| e.into_inner());
            g.drain_queue();
            g.commit();
        }
    }

    fn tick_interval(&self) -> Option<Duration> {
        Some(self.commit_interval)
    }

    fn flush(&self) {
        self.tick();
    }

    fn stop(&self) {
        let Some((shared, slot)) = self.db.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return;
        };
        let mut g = shared.lock().unwrap_or_else(|e| e.into_inner());
        // Shutdown waits for another process's lock once, at most busy_timeout.
        g.busy_until = None;
        g.drain_queue();
        g.commit();
        let kept = g.queued.iter().filter(|(s, _)| *s == slot).count() as u64;
        if kept > 0 {
            g.queued.retain(|(s, _)| *s != slot);
            log::error!(
                "SQLITE3 {}: database still locked by another process at shutdown; {kept} kept rows lost",
                self.path
            );
            g.slots[slot].lost += kept;
        }
        if g.in_tx && g.slots[slot].pending > 0 {
            let s = &mut g.slots[slot];
            log::error!(
                "SQLITE3 {}: database still locked at shutdown; {} rows lost",
                self.path,
                s.pending
            );
            s.lost += s.pending;
            s.rows -= s.pending;
            s.pending = 0;
        }
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = counters_of(&g, slot);
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        match self.db() {
            Some((shared, slot)) => {
                counters_of(&shared.lock().unwrap_or_else(|e| e.into_inner()), slot)
            }
            None => self.last.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        }
    }
}

fn counters_of(g: &Db, slot: usize) -> Vec<(&'static str, u64)> {
    let s = &g.slots[slot];
    vec![
        ("rows", s.rows),
        ("commits", g.commits),
        ("busy", s.busy),
        ("lost", s.lost),
        // Not `errors`: the engine already reports the stage's `errors=` (events
        // that failed), and two `errors=` with different values confused (issue 17
        // §12). PGSQL calls the same `rejected`.
        ("rejected", s.errors),
    ]
}

/// The SQLITE3 plugin.
pub(crate) fn spec() -> PluginSpec {
    PluginSpec {
        name: "SQLITE3",
        aliases: &[],
        kind: Kind::Sink,
        summary: "rows into an SQLite database table (columns name the keys)",
        options: vec![
            OptionDef::string("db", "", "path of the database file").required(),
            OptionDef::string("table", "", "table; its columns name the keys").required(),
            OptionDef::string(
                "create_table",
                "auto",
                "create a missing table from the stack's keys: 0, 1 or auto (= 1)",
            ),
            OptionDef::int(
                "commit_interval",
                "1",
                "seconds between commits of the open transaction",
            ),
            OptionDef::int("batch_size", "1000", "commit after this many rows"),
            OptionDef::int(
                "busy_timeout",
                "1000",
                "milliseconds to wait for a database locked by another process",
            ),
        ],
        inputs: vec![],
        outputs: vec![],
        wildcard: false,
        build: Box::new(|ctx| {
            let o = ctx.options;
            let err = |name: &str, msg: &str| PluginError::new(o.error(name, msg).to_string());
            let create = match o.str("create_table").to_ascii_lowercase().as_str() {
                "0" | "no" | "false" | "off" => false,
                "1" | "yes" | "true" | "on" | "auto" => true,
                _ => return Err(err("create_table", "must be 0, 1 or auto")),
            };
            let interval = o.int("commit_interval");
            if !(1..=3600).contains(&interval) {
                return Err(err("commit_interval", "must be 1..3600 seconds"));
            }
            let batch = o.int("batch_size");
            if batch < 1 {
                return Err(err("batch_size", "must be at least 1"));
            }
            let busy = o.int("busy_timeout");
            if !(0..=600_000).contains(&busy) {
                return Err(err("busy_timeout", "must be 0..600000 milliseconds"));
            }
            let path = o.str("db").to_string();
            let table = o.str("table").to_string();
            let (layout, inputs, insert) = match read_columns(&path, &table)
                .map_err(|e| PluginError::new(format!("SQLITE3: {e}")))?
            {
                Some(cols) => {
                    let mut keys = Vec::new();
                    let mut active = Vec::new();
                    for (i, c) in cols.iter().enumerate() {
                        if is_inactive_column(i, c) {
                            continue;
                        }
                        keys.push(KeyDef::dynamic(column_to_key(c), KeyType::Any));
                        active.push(c.as_str());
                    }
                    if active.is_empty() {
                        return Err(PluginError::new(format!(
                            "SQLITE3: table {table} in {path} has no column to fill"
                        )));
                    }
                    let sql = insert_sql(&table, &active);
                    (Layout::Columns, Inputs::Keys(keys), sql)
                }
                None if create => (Layout::Create(None), Inputs::All, String::new()),
                None => {
                    return Err(PluginError::new(format!(
                        "SQLITE3: table {table} does not exist in {path} (create it, or set create_table=auto)"
                    )))
                }
            };
            Ok(Built::Stage {
                stage: Arc::new(Sqlite {
                    path,
                    table,
                    batch_size: batch as u64,
                    commit_interval: Duration::from_secs(interval as u64),
                    busy_timeout: Duration::from_millis(busy as u64),
                    initial: Mutex::new(Some((layout, insert))),
                    db: Mutex::new(None),
                    last: Mutex::new(Vec::new()),
                }),
                inputs,
                outputs: vec![],
            })
        }),
    }
}
