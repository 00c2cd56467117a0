//! PGSQL while the server restarts (`pg_ctlcluster stop` / `start`) in the middle of
//! a paced burst: within `backlog_memcap` nothing is lost; beyond it, exactly the
//! missing rows are counted as lost. Its own test binary, because it stops the
//! server that the other PostgreSQL tests use.

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

/// The local cluster (version, name), if pg_ctlcluster can drive it.
fn cluster() -> Option<(String, String)> {
    let out = Command::new("pg_lsclusters").arg("-h").output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let mut f = text.lines().next()?.split_whitespace();
    Some((f.next()?.to_string(), f.next()?.to_string()))
}

fn pg_ctl(c: &(String, String), what: &str) {
    let ok = Command::new("pg_ctlcluster")
        .args([&c.0, &c.1, what])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "pg_ctlcluster {what} failed");
}

/// Runs 3000 paced rows into a fresh table while the server restarts; returns the
/// rows in the table and the output's counters (rows, lost).
fn burst_with_restart(pg: &PgDb, c: &(String, String), memcap: u64) -> (u64, u64, u64) {
    const TOTAL: u32 = 3000;
    let table = format!("burst_{memcap}");
    pg.q(&format!(
        "create table {table} (_id bigserial primary key, orig_raw_pktlen bigint, orig_l4_sport integer)"
    ));
    let section = pg.section(
        "pg1",
        &table,
        "INSERT",
        &format!("reconnect=1\nbacklog_memcap={memcap}\nring_buffer_size=256\n"),
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
    pg_ctl(c, "stop");
    std::thread::sleep(Duration::from_millis(500));
    pg_ctl(c, "start");
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
    assert_eq!(dup, 0, "no row written twice");
    let rows = report.get("pg1", "rows").unwrap();
    let lost = report.get("pg1", "lost").unwrap();
    eprintln!(
        "memcap {memcap}: {in_db} rows in the table, counters rows={rows} lost={lost} reconnects={:?}",
        report.get("pg1", "reconnects")
    );
    (in_db, rows, lost)
}

#[test]
fn pgsql_restart_during_burst_within_and_beyond_memcap() {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIP: restarting PostgreSQL needs root");
        return;
    }
    let Some(c) = cluster() else {
        eprintln!("SKIP: no PostgreSQL cluster (pg_lsclusters) to restart");
        return;
    };
    let Some(pg) = PgDb::create() else { return };

    // Within the memcap: every row arrives, once.
    let (in_db, rows, lost) = burst_with_restart(&pg, &c, 16 << 20);
    assert_eq!(lost, 0);
    assert_eq!(in_db, 3000);
    assert_eq!(rows, 3000);

    // A memcap of a few hundred rows: what is missing is exactly what was counted.
    let (in_db, rows, lost) = burst_with_restart(&pg, &c, 8_000);
    assert!(lost > 0, "the outage overflowed 8000 bytes of backlog");
    assert_eq!(in_db, rows);
    assert_eq!(in_db + lost, 3000);
}
