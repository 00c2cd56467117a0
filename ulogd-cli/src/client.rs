//! The client side of the control socket: `ulogd --stats`, `--reopen`, `--reload`
//! talk to a running daemon (protocol in `daemon/control.rs`).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde_json::Value;
use ulogd_core::config::{escape_control, ConfigFile};

use crate::flags::Cli;

/// How long `--stats` samples to compute rates.
const RATE_WINDOW: Duration = Duration::from_secs(1);

/// Finds the socket: `--control-socket`, else `control_socket=` in `[global]` of
/// the configuration file (`-c`, else `default_config`).
fn socket_path(cli: &Cli, default_config: &Path) -> Result<PathBuf, String> {
    if let Some(p) = &cli.control_socket {
        return Ok(p.clone());
    }
    let file = cli
        .configfile
        .clone()
        .unwrap_or_else(|| default_config.to_path_buf());
    if cli.configfile.is_none() && !file.exists() {
        return Err(format!(
            "no configuration file {} to read control_socket= from; pass -c FILE or \
             --control-socket PATH",
            file.display()
        ));
    }
    // Only [global] control_socket is needed: a file with other problems still
    // names its socket, so `--reload` can report those problems from the daemon.
    let cfg = ConfigFile::load_all(&file).map_err(|e| {
        format!(
            "cannot read control_socket= from {}: {}; pass --control-socket PATH",
            file.display(),
            e.first().map(ToString::to_string).unwrap_or_default()
        )
    })?;
    let entry = cfg
        .section("global")
        .and_then(|g| g.entries.iter().find(|e| e.key == "control_socket"))
        .filter(|e| !e.value.trim().is_empty());
    match entry {
        Some(e) => Ok(PathBuf::from(e.value.trim())),
        None => Err(format!(
            "{} sets no control socket: add control_socket=/run/ulogd/ulogd.ctl to [global] \
             and restart ulogd, or pass --control-socket PATH",
            file.display()
        )),
    }
}

/// Sends one command; returns (ok, body lines) or why the daemon could not be asked.
fn request(path: &Path, cmd: &str, timeout: Duration) -> Result<(bool, Vec<String>), String> {
    let p = path.display();
    let mut s = UnixStream::connect(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!(
            "{p}: no such socket; is ulogd running, with control_socket={p} in [global]?"
        ),
        std::io::ErrorKind::ConnectionRefused => format!(
            "{p}: nobody listens on it; ulogd is not running (the socket is left from an earlier run)"
        ),
        std::io::ErrorKind::PermissionDenied => format!(
            "{p}: permission denied; the control socket is for root and the daemon's user (try sudo)"
        ),
        _ => format!("{p}: cannot connect: {e}"),
    })?;
    let _ = s.set_read_timeout(Some(timeout));
    let _ = s.set_write_timeout(Some(timeout));
    s.write_all(format!("{cmd}\n").as_bytes())
        .map_err(|e| format!("{p}: cannot send the command: {e}"))?;
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut text = String::new();
    s.read_to_string(&mut text)
        .map_err(|e| format!("{p}: no answer from the daemon: {e}"))?;
    let mut lines = text.lines();
    let ok = match lines.next() {
        Some("ok") => true,
        Some("error") => false,
        _ => return Err(format!("{p}: the daemon answered something unexpected")),
    };
    Ok((ok, lines.map(str::to_string).collect()))
}

fn stats_sample(path: &Path) -> Result<Value, String> {
    let (ok, body) = request(path, "stats", Duration::from_secs(10))?;
    let text = body.join("\n");
    if !ok {
        return Err(text);
    }
    serde_json::from_str(&text).map_err(|e| format!("{}: bad stats answer: {e}", path.display()))
}

/// Runs `--stats`, `--reopen` or `--reload`.
pub fn run(cli: &Cli, default_config: &Path) -> ExitCode {
    let fail = |msg: &str| {
        eprintln!("ulogd: {}", escape_control(msg));
        ExitCode::FAILURE
    };
    let path = match socket_path(cli, default_config) {
        Ok(p) => p,
        Err(e) => return fail(&e),
    };
    if cli.stats {
        let a = match stats_sample(&path) {
            Ok(v) => v,
            Err(e) => return fail(&e),
        };
        let t = Instant::now();
        std::thread::sleep(RATE_WINDOW);
        let b = match stats_sample(&path) {
            Ok(v) => v,
            Err(e) => return fail(&e),
        };
        print!("{}", render(&a, &b, t.elapsed().as_secs_f64()));
        return ExitCode::SUCCESS;
    }
    let cmd = if cli.reopen { "reopen" } else { "reload" };
    // A reload drains the stacks that changed: give it time.
    match request(&path, cmd, Duration::from_secs(120)) {
        Ok((true, body)) => {
            for l in body {
                println!("{l}");
            }
            ExitCode::SUCCESS
        }
        Ok((false, body)) => {
            for l in body {
                eprintln!("ulogd: {l}");
            }
            ExitCode::FAILURE
        }
        Err(e) => fail(&e),
    }
}

fn num(v: &Value, k: &str) -> u64 {
    v.get(k).and_then(Value::as_u64).unwrap_or(0)
}

/// Counters that count events lost (not occurrences of trouble).
const LOSS: &[&str] = &[
    "lost",
    "lost_packets",
    "dropped",
    "queue_dropped",
    "user_dropped",
];
/// Counters that say how many records wait in a sink's queue.
const QUEUE: &[&str] = &["queued", "backlog", "depth"];

fn pick(counters: &Value, names: &[&str]) -> Option<u64> {
    let c = counters.as_object()?;
    let found: Vec<u64> = names
        .iter()
        .filter_map(|n| c.get(*n).and_then(Value::as_u64))
        .collect();
    (!found.is_empty()).then(|| found.iter().sum())
}

fn counters_line(counters: &Value) -> Option<String> {
    let c = counters.as_object()?;
    (!c.is_empty()).then(|| {
        c.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    })
}

/// The table `--stats` prints: per stack group, one row per instance, with rates
/// from the difference between `prev` and `now` taken `dt` seconds apart.
pub fn render(prev: &Value, now: &Value, dt: f64) -> String {
    let dt = dt.max(1e-3);
    let empty = Vec::new();
    let groups = |v: &Value| {
        v.get("groups")
            .and_then(Value::as_array)
            .unwrap_or(&empty)
            .clone()
    };
    let (pg, ng) = (groups(prev), groups(now));
    let mut out = format!(
        "ulogd-rs {} pid {}, up {:.0} s; rates over the last {:.1} s\n",
        now.get("version").and_then(Value::as_str).unwrap_or("?"),
        num(now, "pid"),
        now.get("uptime").and_then(Value::as_f64).unwrap_or(0.0),
        dt
    );
    for (gi, g) in ng.iter().enumerate() {
        let before = pg.iter().find(|p| p.get("stacks") == g.get("stacks"));
        let finished = g.get("finished").and_then(Value::as_bool) == Some(true);
        out.push_str(&format!(
            "\nstack group {}{}:\n",
            gi + 1,
            if finished { " (finished)" } else { "" }
        ));
        for s in g.get("stacks").and_then(Value::as_array).unwrap_or(&empty) {
            out.push_str(&format!("  stack={}\n", s.as_str().unwrap_or("")));
        }
        let old = |kind: &str, id: &Value, k: &str| -> u64 {
            before
                .and_then(|b| b.get(kind))
                .and_then(Value::as_array)
                .and_then(|a| a.iter().find(|x| x.get("id") == Some(id)))
                .map_or(0, |x| num(x, k))
        };
        let rate = |n: u64, o: u64| format!("{:.1}", n.saturating_sub(o) as f64 / dt);
        let dash = || "-".to_string();
        let mut rows: Vec<[String; 9]> = vec![[
            "INSTANCE", "PLUGIN", "IN", "OUT", "STOPPED", "ERRORS", "RATE/s", "LOSS", "QUEUE",
        ]
        .map(String::from)];
        let mut extra: Vec<(usize, String)> = Vec::new();
        let str_of =
            |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        for s in g.get("sources").and_then(Value::as_array).unwrap_or(&empty) {
            let id = s.get("id").cloned().unwrap_or_default();
            let c = s.get("counters").cloned().unwrap_or_default();
            let ev = num(s, "events");
            rows.push([
                str_of(s, "id"),
                str_of(s, "plugin"),
                dash(),
                ev.to_string(),
                dash(),
                dash(),
                rate(ev, old("sources", &id, "events")),
                pick(&c, LOSS).map_or_else(dash, |v| v.to_string()),
                format!("{}/{}", num(s, "in_flight"), num(s, "pool_size")),
            ]);
            if let Some(l) = counters_line(&c) {
                extra.push((rows.len() - 1, l));
            }
        }
        for s in g.get("stages").and_then(Value::as_array).unwrap_or(&empty) {
            let id = s.get("id").cloned().unwrap_or_default();
            let c = s.get("counters").cloned().unwrap_or_default();
            let n_in = num(s, "in");
            rows.push([
                str_of(s, "id"),
                str_of(s, "plugin"),
                n_in.to_string(),
                num(s, "ok").to_string(),
                num(s, "stopped").to_string(),
                num(s, "errors").to_string(),
                rate(n_in, old("stages", &id, "in")),
                pick(&c, LOSS).map_or_else(dash, |v| v.to_string()),
                pick(&c, QUEUE).map_or_else(dash, |v| v.to_string()),
            ]);
            if let Some(l) = counters_line(&c) {
                extra.push((rows.len() - 1, l));
            }
        }
        let mut w = [0usize; 9];
        for r in &rows {
            for (i, cell) in r.iter().enumerate() {
                w[i] = w[i].max(cell.len());
            }
        }
        for (ri, r) in rows.iter().enumerate() {
            let mut line = String::from("  ");
            for (i, cell) in r.iter().enumerate() {
                if i < 2 {
                    line.push_str(&format!("{cell:<width$}  ", width = w[i]));
                } else {
                    line.push_str(&format!("{cell:>width$}  ", width = w[i]));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
            for (_, l) in extra.iter().filter(|(at, _)| *at == ri) {
                out.push_str(&format!("      {l}\n"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(events: u64, sink_in: u64) -> Value {
        serde_json::json!({
            "version": "0.1.0", "pid": 7, "uptime": 12.0,
            "groups": [{
                "stacks": ["log1:NFLOG,emu1:LOGEMU"], "finished": false,
                "sources": [{"id": "log1", "plugin": "NFLOG", "events": events,
                    "pool_size": 64, "in_flight": 2, "pool_empty": 0, "blocked": false,
                    "counters": {"lost_packets": 3, "overruns": 1}}],
                "stages": [{"id": "emu1", "plugin": "LOGEMU", "in": sink_in, "ok": sink_in - 1,
                    "stopped": 0, "errors": 1, "last_error": null,
                    "counters": {"written": sink_in - 1}}],
            }]
        })
    }

    #[test]
    fn the_table_has_rates_loss_and_queue_per_instance() {
        let t = render(&sample(100, 100), &sample(300, 298), 2.0);
        let row = |id: &str| -> Vec<String> {
            t.lines()
                .find(|l| l.trim_start().starts_with(&format!("{id} ")))
                .unwrap_or_else(|| panic!("no row {id} in\n{t}"))
                .split_whitespace()
                .map(str::to_string)
                .collect()
        };
        assert!(
            t.contains("stack group 1:\n  stack=log1:NFLOG,emu1:LOGEMU\n"),
            "{t}"
        );
        assert_eq!(
            row("log1"),
            ["log1", "NFLOG", "-", "300", "-", "-", "100.0", "3", "2/64"]
        );
        assert_eq!(
            row("emu1"),
            ["emu1", "LOGEMU", "298", "297", "0", "1", "99.0", "-", "-"]
        );
        assert!(t.contains("      lost_packets=3 overruns=1\n"), "{t}");
    }

    #[test]
    fn a_group_new_since_the_first_sample_rates_from_zero() {
        let mut prev = sample(0, 1);
        prev["groups"][0]["stacks"] = serde_json::json!(["other"]);
        let t = render(&prev, &sample(50, 50), 1.0);
        assert!(t.contains(" 50.0 "), "{t}");
    }
}
