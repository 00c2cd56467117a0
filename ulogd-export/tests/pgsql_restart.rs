//! PGSQL when the server goes away: a relay between the output and PostgreSQL is cut
//! in the middle of a paced burst (within the backlog nothing is lost; beyond it,
//! exactly the missing rows are counted), the server ends the output's backends
//! (the compat review's scenario: ulogd2 wrote 13/15 rows by default, 15/15 with
//! `ring_buffer_size=1000`), SIGHUP reconnects, and a database that is down when the
//! daemon starts. The relay (tests/common) stands for the server, so the cluster
//! other tests use is never stopped. Its own test binary, because one test sends
//! SIGHUP to the process.

mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use ulogd_core::testing::set_owned;
use ulogd_core::{
    Built, Emit, Flow as SrcFlow, Kind, PluginError, PluginSpec, Registry, Source, SourceSetup,
    Wake,
};

/// Emits `total` flows, `per_tick` every 10 ms.
struct Paced {
    events: Arc<Vec<Vec<(usize, ulogd_core::testing::OwnedValue)>>>,
    next: usize,
    per_tick: usize,
}

impl Source for Paced {
    fn start(&mut self, setup: &mut dyn SourceSetup) -> Result<(), PluginError> {
        setup.add_timer(Duration::from_millis(10), Some(Duration::from_millis(10)));
        Ok(())
    }
    fn run(&mut self, wake: Wake, emit: &mut dyn Emit) -> Result<SrcFlow, PluginError> {
        if let Wake::Timer(_) = wake {
            let end = (self.next + self.per_tick).min(self.events.len());
            while self.next < end {
                let evs = self.events.clone();
                let e = &evs[self.next];
                let r = emit.emit(&mut |ev| {
                    for (i, v) in e {
                        set_owned(ev, *i, v);
                    }
                    true
                });
                if r.is_err() {
                    return Ok(SrcFlow::Idle);
                }
                self.next += 1;
            }
        }
        Ok(if self.next >= self.events.len() {
            SrcFlow::Finished
        } else {
            SrcFlow::Idle
        })
    }
}

fn paced_registry(total: u32, per_tick: usize) -> Registry {
    let events: Arc<Vec<_>> =
        Arc::new((0..total).map(|i| Flow::tcp(i, i as u64).event()).collect());
    let mut reg = Registry::new();
    reg.add(PluginSpec {
        name: "PACED",
        aliases: &[],
        kind: Kind::Source,
        summary: "test source: flows paced by a timer",
        options: vec![],
        inputs: vec![],
        outputs: flow_keys(),
        wildcard: false,
        build: Box::new(move |_| {
            Ok(Built::Source {
                source: Box::new(Paced {
                    events: events.clone(),
                    next: 0,
                    per_tick,
                }),
                outputs: flow_keys(),
            })
        }),
    });
    ulogd_netfilter::register(&mut reg);
    ulogd_export::register(&mut reg);
    reg
}

/// Runs 3000 paced rows into a fresh table while the server restarts; returns the
/// rows in the table and the output's counters (rows, lost).
fn burst_with_restart(pg: &PgDb, memcap: u64) -> (u64, u64, u64) {
    burst_with_restart_opts(pg, memcap, "")
}

/// [`burst_with_restart`] with more PGSQL options.
fn burst_with_restart_opts(pg: &PgDb, memcap: u64, extra: &str) -> (u64, u64, u64) {
    const TOTAL: u32 = 3000;
    let table = format!("burst_{memcap}{}", if extra.is_empty() { "" } else { "_x" });
    pg.q(&format!(
        "create table {table} (_id bigserial primary key, orig_raw_pktlen bigint, orig_l4_sport integer)"
    ));
    let relay = Relay::new();
    relay.up();
    let section = relay.section(
        pg,
        "pg1",
        &table,
        &format!("reconnect=1\nbacklog_memcap={memcap}\nring_buffer_size=256\n{extra}"),
    );
    // 20 rows every 10 ms: 1.5 s of traffic around the outage.
    let engine = std::thread::spawn(move || {
        let reg = paced_registry(TOTAL, 20);
        ulogd_core::testing::run(&reg, "src:PACED,pg1:PGSQL", &section, 2)
    });
    // Stop the server once rows are flowing.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while pg.q(&format!("select count(*) from {table}")).trim() == "0" {
        assert!(std::time::Instant::now() < deadline, "no row arrived");
        std::thread::sleep(Duration::from_millis(10));
    }
    relay.down();
    std::thread::sleep(Duration::from_millis(500));
    relay.up();
    let report = engine.join().unwrap().unwrap();
    let in_db: u64 = pg
        .q(&format!(
            "select count(distinct orig_raw_pktlen) from {table}"
        ))
        .trim()
        .parse()
        .unwrap();
    let dup: u64 = pg
        .q(&format!(
            "select count(*) - count(distinct orig_raw_pktlen) from {table}"
        ))
        .trim()
        .parse()
        .unwrap();
    // At least once: a batch whose COMMIT reply was cut off with the connection is
    // sent again (as ulogd2 would); never more than one batch.
    assert!(dup <= 256, "{dup} rows written twice");
    let rows = report.get("pg1", "rows").unwrap();
    let lost = report.get("pg1", "lost").unwrap();
    eprintln!(
        "memcap {memcap}: {in_db} rows in the table, counters rows={rows} lost={lost} reconnects={:?}",
        report.get("pg1", "reconnects")
    );
    (in_db, rows, lost)
}

/// `when_full=spool`: the outage overflows the 8000-byte backlog into the disk spool;
/// nothing is lost, every row arrives once (at least once across a cut COMMIT).
/// Then the server stays away until the daemon stops: the spool keeps the rows and
/// the next start writes them before anything else.
#[test]
fn pgsql_spool_takes_the_overflow_and_survives_a_restart() {
    let Some(pg) = PgDb::create() else { return };
    let dir = tmpdir();
    let spool = dir.join("spool");
    let opts = format!("when_full=spool\nspool_dir=\"{}\"\n", spool.display());
    let (in_db, rows, lost) = burst_with_restart_opts(&pg, 8_000, &opts);
    assert_eq!(lost, 0, "the spool took what the backlog could not");
    assert_eq!(in_db, 3000);
    assert!(rows >= 3000);

    // The server goes away for good in the middle of the burst.
    let table = "spool_restart";
    pg.q(&format!(
        "create table {table} (_id bigserial primary key, orig_raw_pktlen bigint, orig_l4_sport integer)"
    ));
    let _ = std::fs::remove_dir_all(&spool);
    let relay = Relay::new();
    relay.up();
    let section = relay.section(
        &pg,
        "pg1",
        table,
        &format!("reconnect=1\nbacklog_memcap=8000\nring_buffer_size=256\n{opts}"),
    );
    let s1 = section.clone();
    let engine = std::thread::spawn(move || {
        let reg = paced_registry(3000, 20);
        ulogd_core::testing::run(&reg, "src:PACED,pg1:PGSQL", &s1, 2)
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while pg.q(&format!("select count(*) from {table}")).trim() == "0" {
        assert!(std::time::Instant::now() < deadline, "no row arrived");
        std::thread::sleep(Duration::from_millis(10));
    }
    relay.down();
    let r1 = engine.join().unwrap().unwrap();
    let first = count(&pg, table);
    let kept = r1.get("pg1", "spool_depth").unwrap();
    eprintln!("run 1: {first} rows in the table, spool keeps {kept}: {r1}");
    assert_eq!(r1.get("pg1", "lost"), Some(0), "{r1}");
    assert!(kept > 0 && first < 3000, "{r1}");

    // Next start, server back, no new rows: the spool is written.
    relay.up();
    let reg = paced_registry(0, 20);
    let r2 = ulogd_core::testing::run(&reg, "src:PACED,pg1:PGSQL", &section, 2).unwrap();
    let distinct: u64 = pg
        .q(&format!(
            "select count(distinct orig_raw_pktlen) from {table}"
        ))
        .trim()
        .parse()
        .unwrap();
    eprintln!("run 2: {distinct} distinct rows: {r2}");
    assert_eq!(distinct, 3000, "{r2}");
    assert_eq!(r2.get("pg1", "replayed"), Some(kept), "{r2}");
    assert_eq!(r2.get("pg1", "spool_depth"), Some(0), "{r2}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn pgsql_restart_during_burst_within_and_beyond_memcap() {
    let Some(pg) = PgDb::create() else { return };

    // Within the memcap: every row arrives, once.
    let (in_db, rows, lost) = burst_with_restart(&pg, 16 << 20);
    assert_eq!(lost, 0);
    assert_eq!(in_db, 3000);
    assert_eq!(rows, 3000);

    // A memcap of a few hundred rows: what is missing is exactly what was counted.
    let (in_db, rows, lost) = burst_with_restart(&pg, 8_000);
    assert!(lost > 0, "the outage overflowed 8000 bytes of backlog");
    assert_eq!(in_db, rows);
    assert_eq!(in_db + lost, 3000);
}

/// Emits event `i` at `at[i]` ms after start (checked every 10 ms).
struct Scheduled {
    at: Vec<u64>,
    next: usize,
    t0: Option<std::time::Instant>,
}

impl Source for Scheduled {
    fn start(&mut self, setup: &mut dyn SourceSetup) -> Result<(), PluginError> {
        setup.add_timer(Duration::from_millis(10), Some(Duration::from_millis(10)));
        Ok(())
    }
    fn run(&mut self, _wake: Wake, emit: &mut dyn Emit) -> Result<SrcFlow, PluginError> {
        let t0 = *self.t0.get_or_insert_with(std::time::Instant::now);
        let now = t0.elapsed().as_millis() as u64;
        while self.next < self.at.len() && self.at[self.next] <= now {
            let ev = Flow::tcp(self.next as u32, self.next as u64 + 1).event();
            if emit
                .emit(&mut |e| {
                    for (i, v) in &ev {
                        set_owned(e, *i, v);
                    }
                    true
                })
                .is_err()
            {
                break;
            }
            self.next += 1;
        }
        Ok(if self.next >= self.at.len() {
            SrcFlow::Finished
        } else {
            SrcFlow::Idle
        })
    }
}

fn scheduled_registry(at: Vec<u64>) -> Registry {
    let mut reg = Registry::new();
    let at = Arc::new(at);
    reg.add(PluginSpec {
        name: "SCHED",
        aliases: &[],
        kind: Kind::Source,
        summary: "test source: flows at given times",
        options: vec![],
        inputs: vec![],
        outputs: flow_keys(),
        wildcard: false,
        build: Box::new(move |_| {
            Ok(Built::Source {
                source: Box::new(Scheduled {
                    at: at.to_vec(),
                    next: 0,
                    t0: None,
                }),
                outputs: flow_keys(),
            })
        }),
    });
    ulogd_netfilter::register(&mut reg);
    ulogd_export::register(&mut reg);
    reg
}

fn count(pg: &PgDb, table: &str) -> u64 {
    pg.q(&format!("select count(*) from {table}"))
        .trim()
        .parse()
        .unwrap()
}

fn wait_rows(pg: &PgDb, table: &str, n: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while count(pg, table) < n {
        assert!(
            std::time::Instant::now() < deadline,
            "{n} rows never arrived"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The server ends the output's backends (`pg_terminate_backend`).
fn terminate_backends(pg: &PgDb) -> u64 {
    let out = Command::new("su")
        .args([
            "postgres",
            "-c",
            &format!(
                "psql -qAtc \"select count(pg_terminate_backend(pid)) from pg_stat_activity where datname = '{}' and application_name = 'ulogd'\"",
                pg.name
            ),
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

/// The compat review's scenario: 5 rows, the server ends the connection, 3 rows a
/// second apart, then 7 more 3 s later; 15 in all. ulogd2 2.0.8 by default: 13/15
/// (it waits 2 s and loses what came meanwhile); with `ring_buffer_size=1000`: 15/15.
fn drop_connections_scenario(pg: &PgDb, table: &str, extra: &str) -> (u64, u64, u64) {
    pg.q(&format!(
        "create table {table} (_id bigserial primary key, orig_raw_pktlen bigint)"
    ));
    let mut at: Vec<u64> = (0..5).map(|i| i * 100).collect();
    at.extend([2000, 3000, 4000]);
    at.extend((0..7).map(|i| 7000 + i * 100));
    let section = pg.section("pgdrop", table, "INSERT", extra);
    let reg = scheduled_registry(at);
    let engine = std::thread::spawn(move || {
        ulogd_core::testing::run(&reg, "src:SCHED,pgdrop:PGSQL", &section, 2)
    });
    wait_rows(pg, table, 5);
    assert!(terminate_backends(pg) >= 1, "no backend of ours to end");
    let report = engine.join().unwrap().unwrap();
    let n = count(pg, table);
    let lost = report.get("pgdrop", "lost").unwrap();
    let reconnects = report.get("pgdrop", "reconnects").unwrap();
    eprintln!("drop-connections ({extra:?}): {n}/15 rows, lost {lost}, reconnects {reconnects}");
    (n, lost, reconnects)
}

#[test]
fn pgsql_server_ends_connection_default_options_and_ring_buffer() {
    let Some(pg) = PgDb::create() else { return };
    let (n, lost, reconnects) = drop_connections_scenario(&pg, "drop_default", "");
    assert_eq!(
        (n, lost),
        (15, 0),
        "default options: every row after the loss"
    );
    assert!(reconnects >= 1);
    let (n, lost, _) = drop_connections_scenario(&pg, "drop_ring", "ring_buffer_size=1000\n");
    assert_eq!((n, lost), (15, 0), "ring_buffer_size=1000");
}

/// `reconnect=0` gives up after the loss (ulogd2's meaning); SIGHUP reconnects
/// (ulogd2 closes and reopens the database on SIGHUP), and later rows are written.
#[test]
fn pgsql_sighup_reconnects() {
    let Some(pg) = PgDb::create() else { return };
    let table = "hup";
    pg.q(&format!(
        "create table {table} (_id bigserial primary key, orig_raw_pktlen bigint)"
    ));
    // 5 rows, the loss, 3 rows (the first one meets the loss and is kept; the other
    // two are lost: reconnect=0), SIGHUP at ~4.5 s, 5 rows.
    let mut at: Vec<u64> = (0..5).map(|i| i * 100).collect();
    at.extend([2000, 2500, 3000]);
    at.extend((0..5).map(|i| 6000 + i * 100));
    let reg = scheduled_registry(at);
    let text = format!(
        "[global]\nlogfile=\"stdout\"\nthreads=2\nstack=src:SCHED,pghup:PGSQL\n{}",
        pg.section("pghup", table, "INSERT", "reconnect=0\n")
    );
    let engine = ulogd_core::Engine::from_str(&reg, "hup.conf", &text).unwrap();
    let h = engine.handle();
    let runner = std::thread::spawn(move || engine.run());
    wait_rows(&pg, table, 5);
    assert!(terminate_backends(&pg) >= 1);
    std::thread::sleep(Duration::from_millis(4500));
    assert_eq!(count(&pg, table), 5, "reconnect=0: nothing after the loss");
    // What the daemon's SIGHUP handler does: pass the signal to the engine.
    h.signal(ulogd_core::Signal::Hup);
    let report = runner.join().unwrap().unwrap();
    let n = count(&pg, table);
    eprintln!(
        "SIGHUP: {n} rows, lost {:?}, reconnects {:?}",
        report.get("pghup", "lost"),
        report.get("pghup", "reconnects")
    );
    assert_eq!(
        n, 11,
        "the kept row and the 5 rows after SIGHUP are written"
    );
    assert_eq!(
        report.get("pghup", "lost"),
        Some(2),
        "the rows meanwhile are counted"
    );
}

/// The database is down when the daemon starts (ulogd usually starts before
/// PostgreSQL at boot): the other stack runs from the start, PGSQL keeps its rows,
/// connects when the server is there, and writes every row.
#[test]
fn pgsql_database_down_at_start_other_stacks_run() {
    let Some(pg) = PgDb::create() else { return };
    pg.q("create table late (_id bigserial primary key, orig_raw_pktlen bigint, orig_l4_sport integer)");
    let relay = Relay::new();
    let d = tmpdir();
    let json = d.join("flows.json");
    let at: Vec<u64> = (0..300).map(|i| i * 10).collect();
    let reg = scheduled_registry(at);
    let text = format!(
        "[global]\nlogfile=\"stdout\"\nthreads=2\nstack=src:SCHED,pglate:PGSQL\nstack=src:SCHED,js:JSON\n\
         [js]\nfile=\"{}\"\nsync=1\n{}",
        json.display(),
        relay.section(&pg, "pglate", "late", "")
    );
    let engine = ulogd_core::Engine::from_str(&reg, "late.conf", &text).unwrap();
    let runner = std::thread::spawn(move || engine.run());
    std::thread::sleep(Duration::from_millis(1000));
    let json_lines = std::fs::read_to_string(&json)
        .unwrap_or_default()
        .lines()
        .count();
    assert!(
        json_lines > 0,
        "the JSON stack runs while the database is down"
    );
    relay.up();
    let report = runner.join().unwrap().unwrap();
    let n = count(&pg, "late");
    eprintln!(
        "down at start: {n}/300 rows, JSON lines after 1 s: {json_lines}, connect_failures {:?}",
        report.get("pglate", "connect_failures")
    );
    assert!(report.get("pglate", "connect_failures").unwrap() >= 1);
    assert_eq!(n, 300, "every row, kept while the database was down");
    assert_eq!(report.get("pglate", "lost"), Some(0));
    assert_eq!(std::fs::read_to_string(&json).unwrap().lines().count(), 300);
}
