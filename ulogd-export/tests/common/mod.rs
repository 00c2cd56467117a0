//! Shared helpers of the SQL output tests: flow and packet keys as NFCT and BASE
//! produce them, scratch directories, the `sqlite3` and `psql` clients, and a
//! scratch PostgreSQL database per test.
#![allow(dead_code)]

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use ulogd_core::testing::{OwnedValue, TestSource};
use ulogd_core::{KeyDef, KeyType, Registry};

static N: AtomicUsize = AtomicUsize::new(0);

/// A unique name for this process and call.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// A scratch directory.
pub fn tmpdir() -> PathBuf {
    let d = std::env::temp_dir().join(unique("ulogd-sql"));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Flow keys as NFCT produces them.
pub fn flow_keys() -> Vec<KeyDef> {
    vec![
        KeyDef::new("oob.family", KeyType::U8),
        KeyDef::new("oob.protocol", KeyType::U16),
        KeyDef::new("orig.ip.saddr", KeyType::IpAddr),
        KeyDef::new("orig.ip.daddr", KeyType::IpAddr),
        KeyDef::new("orig.ip.protocol", KeyType::U8),
        KeyDef::new("orig.l4.sport", KeyType::U16),
        KeyDef::new("orig.l4.dport", KeyType::U16),
        KeyDef::new("orig.raw.pktlen", KeyType::U64),
        KeyDef::new("orig.raw.pktcount", KeyType::U64),
        KeyDef::new("reply.ip.saddr", KeyType::IpAddr),
        KeyDef::new("reply.ip.daddr", KeyType::IpAddr),
        KeyDef::new("reply.ip.protocol", KeyType::U8),
        KeyDef::new("reply.l4.sport", KeyType::U16),
        KeyDef::new("reply.l4.dport", KeyType::U16),
        KeyDef::new("reply.raw.pktlen", KeyType::U64),
        KeyDef::new("reply.raw.pktcount", KeyType::U64),
        KeyDef::new("icmp.code", KeyType::U8),
        KeyDef::new("icmp.type", KeyType::U8),
        KeyDef::new("ct.mark", KeyType::U32),
        KeyDef::new("ct.event", KeyType::U32),
        KeyDef::new("flow.start.sec", KeyType::U32),
        KeyDef::new("flow.start.usec", KeyType::U32),
        KeyDef::new("flow.end.sec", KeyType::U32),
        KeyDef::new("flow.end.usec", KeyType::U32),
    ]
}

/// One flow: (family, src, dst, proto, sport, dport, bytes, pkts, event).
#[derive(Clone, Debug)]
pub struct Flow {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: u8,
    pub sport: u16,
    pub dport: u16,
    pub bytes: u64,
    pub pkts: u64,
    pub event: u32,
    pub start: u32,
    pub end: u32,
}

impl Flow {
    pub fn tcp(i: u32, bytes: u64) -> Flow {
        Flow {
            src: format!("10.0.{}.{}", i / 250, i % 250 + 1).parse().unwrap(),
            dst: "192.0.2.1".parse().unwrap(),
            proto: 6,
            sport: 40000 + (i % 20000) as u16,
            dport: 443,
            bytes,
            pkts: 3 + i as u64,
            event: 4,
            start: 1_795_559_000 + i,
            end: 1_795_559_100 + i,
        }
    }

    /// The event as TestSource values for [`flow_keys`].
    pub fn event(&self) -> Vec<(usize, OwnedValue)> {
        let fam = if self.src.is_ipv4() { 2 } else { 10 };
        let proto = if self.src.is_ipv4() { 0x0800 } else { 0x86dd };
        let mut v = vec![
            (0, OwnedValue::Uint(fam)),
            (1, OwnedValue::Uint(proto)),
            (2, OwnedValue::Addr(self.src)),
            (3, OwnedValue::Addr(self.dst)),
            (4, OwnedValue::Uint(self.proto as u64)),
            (7, OwnedValue::Uint(self.bytes)),
            (8, OwnedValue::Uint(self.pkts)),
            (9, OwnedValue::Addr(self.dst)),
            (10, OwnedValue::Addr(self.src)),
            (11, OwnedValue::Uint(self.proto as u64)),
            (14, OwnedValue::Uint(self.bytes / 2)),
            (15, OwnedValue::Uint(self.pkts)),
            (18, OwnedValue::Uint(0x2a)),
            (19, OwnedValue::Uint(self.event as u64)),
            (20, OwnedValue::Uint(self.start as u64)),
            (21, OwnedValue::Uint(1)),
            (22, OwnedValue::Uint(self.end as u64)),
            (23, OwnedValue::Uint(2)),
        ];
        if self.proto == 1 || self.proto == 58 {
            v.push((16, OwnedValue::Uint(0)));
            v.push((17, OwnedValue::Uint(8)));
        } else {
            v.extend([
                (5, OwnedValue::Uint(self.sport as u64)),
                (6, OwnedValue::Uint(self.dport as u64)),
                (12, OwnedValue::Uint(self.dport as u64)),
                (13, OwnedValue::Uint(self.sport as u64)),
            ]);
        }
        v
    }
}

/// A registry with a flow source `SRC`, the netfilter plugins and the outputs.
pub fn registry(flows: &[Flow]) -> Registry {
    let mut reg = Registry::new();
    reg.add(TestSource::spec(
        "SRC",
        flow_keys(),
        flows.iter().map(Flow::event).collect(),
    ));
    ulogd_netfilter::register(&mut reg);
    ulogd_export::register(&mut reg);
    reg
}

/// Runs `sqlite3 db sql` (list mode, `|` separated) and returns its output.
pub fn sqlite3(db: &std::path::Path, sql: &str) -> Option<String> {
    let out = Command::new("sqlite3").arg(db).arg(sql).output().ok()?;
    assert!(
        out.status.success(),
        "sqlite3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap())
}

/// Whether the `sqlite3` client is installed (prints why not).
pub fn have_sqlite3() -> bool {
    let ok = Command::new("sqlite3").arg("-version").output().is_ok();
    if !ok {
        eprintln!("SKIP: the sqlite3 client is not installed (apt-get install sqlite3)");
    }
    ok
}

pub const PG_HOST: &str = "127.0.0.1";
pub const PG_USER: &str = "ulogd";
pub const PG_PASS: &str = "ulogd";

/// Runs `psql` against `db` as the test role; returns unaligned, tuples-only output.
pub fn psql(db: &str, sql: &str) -> Result<String, String> {
    let out = Command::new("psql")
        .env("PGPASSWORD", PG_PASS)
        .args([
            "-h",
            PG_HOST,
            "-U",
            PG_USER,
            "-d",
            db,
            "-X",
            "-q",
            "-At",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ])
        .output()
        .map_err(|e| format!("psql: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8(out.stdout).unwrap())
}

/// Runs `psql -f file` against `db`.
pub fn psql_file(db: &str, file: &std::path::Path) -> Result<(), String> {
    let out = Command::new("psql")
        .env("PGPASSWORD", PG_PASS)
        .args([
            "-h",
            PG_HOST,
            "-U",
            PG_USER,
            "-d",
            db,
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-f",
        ])
        .arg(file)
        .output()
        .map_err(|e| format!("psql: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(())
}

/// A scratch database owned by the test role, dropped on drop.
pub struct PgDb {
    pub name: String,
}

impl PgDb {
    /// Creates one, or prints why the PostgreSQL tests are skipped and returns `None`.
    pub fn create() -> Option<PgDb> {
        if let Err(e) = psql("ulogd", "select 1") {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "PostgreSQL not reachable on {PG_HOST}:5432 as {PG_USER} under CI=true (run .ci/start-postgres): {e}"
            );
            eprintln!(
                "SKIP: PostgreSQL not reachable on {PG_HOST}:5432 as {PG_USER} (run .ci/start-postgres): {e}"
            );
            return None;
        }
        let name = unique("ulogd_t");
        let ok = Command::new("su")
            .args(["postgres", "-c", &format!("createdb -O {PG_USER} {name}")])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!(
                "SKIP: cannot create a scratch database (needs root and the postgres account)"
            );
            return None;
        }
        Some(PgDb { name })
    }

    /// The instance section of a PGSQL output for this database.
    pub fn section(&self, id: &str, table: &str, procedure: &str, extra: &str) -> String {
        format!(
            "[{id}]\ndb=\"{}\"\nhost=\"{PG_HOST}\"\nuser=\"{PG_USER}\"\npass=\"{PG_PASS}\"\nport=5432\ntable=\"{table}\"\nprocedure=\"{procedure}\"\n{extra}\n",
            self.name
        )
    }

    pub fn q(&self, sql: &str) -> String {
        psql(&self.name, sql).unwrap_or_else(|e| panic!("psql {sql}: {e}"))
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let _ = Command::new("su")
            .args([
                "postgres",
                "-c",
                &format!("dropdb --if-exists --force {}", self.name),
            ])
            .status();
    }
}

/// Emits its events `per_tick` every 10 ms (100 events/s with `per_tick = 1`), then
/// finishes; with `forever`, it never finishes (for stop tests).
pub struct Paced {
    pub events: std::sync::Arc<Vec<Vec<(usize, OwnedValue)>>>,
    pub next: usize,
    pub per_tick: usize,
    pub forever: bool,
}

impl ulogd_core::Source for Paced {
    fn start(
        &mut self,
        setup: &mut dyn ulogd_core::SourceSetup,
    ) -> Result<(), ulogd_core::PluginError> {
        setup.add_timer(
            std::time::Duration::from_millis(10),
            Some(std::time::Duration::from_millis(10)),
        );
        Ok(())
    }
    fn run(
        &mut self,
        wake: ulogd_core::Wake,
        emit: &mut dyn ulogd_core::Emit,
    ) -> Result<ulogd_core::Flow, ulogd_core::PluginError> {
        if let ulogd_core::Wake::Timer(_) = wake {
            let mut n = 0;
            while n < self.per_tick && (self.forever || self.next < self.events.len()) {
                let evs = self.events.clone();
                let e = &evs[self.next % evs.len()];
                let r = emit.emit(&mut |ev| {
                    for (i, v) in e {
                        ulogd_core::testing::set_owned(ev, *i, v);
                    }
                    true
                });
                if r.is_err() {
                    return Ok(ulogd_core::Flow::Idle);
                }
                self.next += 1;
                n += 1;
            }
        }
        Ok(if !self.forever && self.next >= self.events.len() {
            ulogd_core::Flow::Finished
        } else {
            ulogd_core::Flow::Idle
        })
    }
}

/// A paced source plugin `name` with `outputs`, emitting `events`.
pub fn paced_spec(
    name: &'static str,
    outputs: Vec<KeyDef>,
    events: Vec<Vec<(usize, OwnedValue)>>,
    per_tick: usize,
    forever: bool,
) -> ulogd_core::PluginSpec {
    let events = std::sync::Arc::new(events);
    ulogd_core::PluginSpec {
        name,
        aliases: &[],
        kind: ulogd_core::Kind::Source,
        summary: "test source: events paced by a timer",
        options: vec![],
        inputs: vec![],
        outputs: outputs.clone(),
        wildcard: false,
        build: Box::new(move |_| {
            Ok(ulogd_core::Built::Source {
                source: Box::new(Paced {
                    events: events.clone(),
                    next: 0,
                    per_tick,
                    forever,
                }),
                outputs: outputs.clone(),
            })
        }),
    }
}

/// Packet keys as NFLOG produces them (the columns of ulogd2's `ulog_pkt`).
pub fn pkt_keys() -> Vec<KeyDef> {
    vec![
        KeyDef::new("raw.pktlen", KeyType::U32),
        KeyDef::new("raw.pktcount", KeyType::U32),
        KeyDef::new("oob.prefix", KeyType::String),
        KeyDef::new("oob.time.sec", KeyType::U32),
        KeyDef::new("oob.time.usec", KeyType::U32),
        KeyDef::new("oob.mark", KeyType::U32),
        KeyDef::new("oob.hook", KeyType::U8),
        KeyDef::new("oob.uid", KeyType::U32),
        KeyDef::new("oob.gid", KeyType::U32),
    ]
}

/// Packet `i` for [`pkt_keys`].
pub fn pkt_event(i: u32) -> Vec<(usize, OwnedValue)> {
    vec![
        (0, OwnedValue::Uint(60 + i as u64)),
        (1, OwnedValue::Uint(1)),
        (2, OwnedValue::Bytes(format!("pkt{i} ").into_bytes())),
        (3, OwnedValue::Uint(1_795_559_000 + i as u64)),
        (4, OwnedValue::Uint(i as u64)),
        (5, OwnedValue::Uint(0)),
        (6, OwnedValue::Uint(1)),
    ]
}

/// The daemon log of this test binary (every level), installed at the first call.
pub fn log_path() -> &'static std::path::Path {
    static P: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    P.get_or_init(|| {
        let p = tmpdir().join("ulogd.log");
        let f = std::fs::File::create(&p).unwrap();
        let logger: &'static FileLog = Box::leak(Box::new(FileLog(std::sync::Mutex::new(f))));
        log::set_logger(logger).unwrap();
        log::set_max_level(log::LevelFilter::Trace);
        p
    })
}

/// Every log record of the test binary, one line each (the daemon's logger lives in
/// ulogd-cli; the library only uses the `log` facade).
struct FileLog(std::sync::Mutex<std::fs::File>);

impl log::Log for FileLog {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, r: &log::Record<'_>) {
        use std::io::Write;
        let mut f = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(f, "<{}> {}", r.level(), r.args());
    }
    fn flush(&self) {
        use std::io::Write;
        let _ = self.0.lock().unwrap_or_else(|e| e.into_inner()).flush();
    }
}

/// What the daemon log holds so far.
pub fn log_text() -> String {
    let p = log_path();
    log::logger().flush();
    std::fs::read_to_string(p).unwrap_or_default()
}

/// A TCP relay from a port of its own to PostgreSQL, that can be switched off (port
/// closed, connections cut) and on again: a database server that goes away and
/// comes back, without stopping the server other tests use.
pub struct Relay {
    pub port: u16,
    on: std::sync::Arc<std::sync::atomic::AtomicBool>,
    conns: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl Relay {
    /// A relay that is off (nothing listens on `port` yet).
    pub fn new() -> Relay {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        Relay {
            port,
            on: Default::default(),
            conns: Default::default(),
        }
    }

    /// Starts listening and relaying.
    pub fn up(&self) {
        use std::sync::atomic::Ordering;
        self.on.store(true, Ordering::SeqCst);
        let l = std::net::TcpListener::bind(("127.0.0.1", self.port)).unwrap();
        l.set_nonblocking(true).unwrap();
        let on = self.on.clone();
        let conns = self.conns.clone();
        std::thread::spawn(move || {
            while on.load(Ordering::SeqCst) {
                match l.accept() {
                    Ok((c, _)) => {
                        c.set_nonblocking(false).unwrap();
                        let Ok(s) = std::net::TcpStream::connect((PG_HOST, 5432)) else {
                            continue;
                        };
                        conns.lock().unwrap().push(c.try_clone().unwrap());
                        conns.lock().unwrap().push(s.try_clone().unwrap());
                        for (mut a, mut b) in
                            [(c.try_clone().unwrap(), s.try_clone().unwrap()), (s, c)]
                        {
                            std::thread::spawn(move || {
                                let _ = std::io::copy(&mut a, &mut b);
                                let _ = b.shutdown(std::net::Shutdown::Both);
                            });
                        }
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
                }
            }
        });
    }

    /// Stops listening and cuts every relayed connection.
    pub fn down(&self) {
        self.on.store(false, std::sync::atomic::Ordering::SeqCst);
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
        // Let the accept loop see the flag and close the port.
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    /// A PGSQL section for `db` through this relay.
    pub fn section(&self, db: &PgDb, id: &str, table: &str, extra: &str) -> String {
        format!(
            "[{id}]\ndb=\"{}\"\nhost=\"{PG_HOST}\"\nuser=\"{PG_USER}\"\npass=\"{PG_PASS}\"\nport={}\ntable=\"{table}\"\nprocedure=\"INSERT\"\n{extra}\n",
            db.name, self.port
        )
    }
}
