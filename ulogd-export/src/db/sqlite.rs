//! SQLITE3: rows into an SQLite database (embedded, no server).
//!
//! The table's columns name the keys (`orig_ip_saddr_str` ← `orig.ip.saddr.str`);
//! every column must have an upstream producer, or the stack does not start. With
//! `create_table` (`auto`, the default, or `1`) a missing table is created from the
//! keys the stack carries, with column types that fit them. Rows are inserted in one
//! transaction committed every `commit_interval` seconds, every `batch_size` rows
//! and at shutdown. A locked database is waited for (`busy_timeout`); a row that
//! still cannot be written is counted (`busy`, `lost`) and logged, never dropped
//! silently.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, ValueRef};
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

struct Inner {
    conn: Option<Connection>,
    layout: Layout,
    insert: String,
    in_tx: bool,
    pending: u64,
    rows: u64,
    commits: u64,
    busy: u64,
    lost: u64,
    errors: u64,
}

struct Sqlite {
    path: String,
    table: String,
    batch_size: u64,
    commit_interval: Duration,
    busy_timeout: Duration,
    inner: Mutex<Inner>,
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

impl Sqlite {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lose(&self, g: &mut Inner, why: &str) {
        g.lost += 1;
        if super::worth_logging(g.lost) {
            log::error!(
                "SQLITE3 {}: row not written ({why}); {} rows lost so far",
                self.path,
                g.lost
            );
        }
    }

    fn commit(&self, g: &mut Inner) {
        if !g.in_tx {
            return;
        }
        let Some(conn) = g.conn.as_ref() else { return };
        match conn.execute_batch("COMMIT") {
            Ok(()) => {
                g.in_tx = false;
                g.pending = 0;
                g.commits += 1;
            }
            Err(e) if is_busy(&e) => {
                // The transaction stays open; the next tick tries again.
                g.busy += 1;
                log::warn!(
                    "SQLITE3 {}: database busy at commit ({} rows waiting); retrying",
                    self.path,
                    g.pending
                );
            }
            Err(e) => {
                log::error!(
                    "SQLITE3 {}: commit failed: {e}; {} rows lost",
                    self.path,
                    g.pending
                );
                let _ = conn.execute_batch("ROLLBACK");
                g.lost += g.pending;
                g.rows -= g.pending;
                g.in_tx = false;
                g.pending = 0;
            }
        }
    }

    /// Creates the table from the keys of `ev`'s stack (first event of that stack).
    fn create(&self, g: &mut Inner, ev: &Event<'_>) -> Result<Created, String> {
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
        let conn = g.conn.as_ref().ok_or("database not open")?;
        let defs: Vec<String> = cols
            .iter()
            .map(|(c, ty, _)| format!("{} {}", quote_ident(c), sqlite_type(*ty)))
            .collect();
        conn.execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS {} ({})",
            quote_ident(&self.table),
            defs.join(", ")
        ))
        .map_err(|e| format!("cannot create table {}: {e}", self.table))?;
        log::info!(
            "SQLITE3 {}: created table {} with {} columns",
            self.path,
            self.table,
            cols.len()
        );
        let mut param_of = vec![None; ev.wildcard_len()];
        for (i, (_, _, pos)) in cols.iter().enumerate() {
            param_of[*pos] = Some(i + 1);
        }
        let names: Vec<&str> = cols.iter().map(|c| c.0.as_str()).collect();
        g.insert = insert_sql(&self.table, &names);
        Ok(Created {
            wildcard_len: ev.wildcard_len(),
            param_of,
        })
    }

    fn write_row(&self, g: &mut Inner, ev: &Event<'_>) -> Result<(), rusqlite::Error> {
        let Inner {
            conn,
            layout,
            insert,
            ..
        } = g;
        let conn = conn.as_ref().expect("checked by caller");
        let mut stmt = conn.prepare_cached(insert)?;
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

impl Stage for Sqlite {
    fn start(&self) -> Result<(), PluginError> {
        let conn = Connection::open(&self.path).map_err(|e| {
            PluginError::new(format!("SQLITE3: cannot open database {}: {e}", self.path))
        })?;
        conn.busy_timeout(self.busy_timeout)
            .map_err(|e| PluginError::new(format!("SQLITE3 {}: {e}", self.path)))?;
        conn.set_prepared_statement_cache_capacity(4);
        let mut g = self.lock();
        if matches!(g.layout, Layout::Columns) {
            // Fails now, not at the first row, if the table changed since start-up.
            conn.prepare_cached(&g.insert).map_err(|e| {
                PluginError::new(format!(
                    "SQLITE3 {}: cannot prepare insert into {}: {e}",
                    self.path, self.table
                ))
            })?;
        }
        g.conn = Some(conn);
        Ok(())
    }

    fn interp(&self, ev: &mut Event<'_>) -> Ret {
        let mut g = self.lock();
        if g.conn.is_none() {
            self.lose(&mut g, "database not open");
            return Ret::Err;
        }
        match &g.layout {
            Layout::Create(None) => match self.create(&mut g, ev) {
                Ok(c) => g.layout = Layout::Create(Some(c)),
                Err(e) => {
                    log::error!("SQLITE3 {}: {e}", self.path);
                    self.lose(&mut g, "no table");
                    return Ret::Err;
                }
            },
            Layout::Create(Some(c)) if c.wildcard_len != ev.wildcard_len() => {
                self.lose(
                    &mut g,
                    "create_table made the table for another stack's keys; give this stack its own instance",
                );
                return Ret::Err;
            }
            _ => {}
        }
        if !g.in_tx {
            let conn = g.conn.as_ref().expect("checked above");
            match conn.execute_batch("BEGIN IMMEDIATE") {
                Ok(()) => g.in_tx = true,
                Err(e) if is_busy(&e) => {
                    g.busy += 1;
                    self.lose(
                        &mut g,
                        "database locked by another process for longer than busy_timeout",
                    );
                    return Ret::Err;
                }
                Err(e) => {
                    let msg = e.to_string();
                    self.lose(&mut g, &msg);
                    return Ret::Err;
                }
            }
        }
        match self.write_row(&mut g, ev) {
            Ok(()) => {
                g.rows += 1;
                g.pending += 1;
                if g.pending >= self.batch_size {
                    self.commit(&mut g);
                }
                Ret::Ok
            }
            Err(e) => {
                g.errors += 1;
                let msg = e.to_string();
                self.lose(&mut g, &msg);
                Ret::Err
            }
        }
    }

    fn tick(&self) {
        let mut g = self.lock();
        self.commit(&mut g);
    }

    fn tick_interval(&self) -> Option<Duration> {
        Some(self.commit_interval)
    }

    fn flush(&self) {
        let mut g = self.lock();
        self.commit(&mut g);
    }

    fn stop(&self) {
        let mut g = self.lock();
        self.commit(&mut g);
        if g.in_tx {
            // Still busy after the last try: wait for it once more, then give up loudly.
            std::thread::sleep(self.busy_timeout);
            self.commit(&mut g);
            if g.in_tx {
                log::error!(
                    "SQLITE3 {}: database still locked at shutdown; {} rows lost",
                    self.path,
                    g.pending
                );
                g.lost += g.pending;
                g.rows -= g.pending;
            }
        }
        g.conn = None;
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        let g = self.lock();
        vec![
            ("rows", g.rows),
            ("commits", g.commits),
            ("busy", g.busy),
            ("lost", g.lost),
            ("errors", g.errors),
        ]
    }
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
                    inner: Mutex::new(Inner {
                        conn: None,
                        layout,
                        insert,
                        in_tx: false,
                        pending: 0,
                        rows: 0,
                        commits: 0,
                        busy: 0,
                        lost: 0,
                        errors: 0,
                    }),
                }),
                inputs,
                outputs: vec![],
            })
        }),
    }
}
