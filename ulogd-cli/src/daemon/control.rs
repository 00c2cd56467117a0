//! The control socket (`[global] control_socket`) and what it and SIGHUP ask of
//! the daemon: live counters, reopening files, reloading the configuration.
//!
//! Protocol: the client connects, writes one command line (`stats`, `reopen`,
//! `reload`, `ping`), and reads the answer until the daemon closes: a first line
//! `ok` or `error`, then the body (for `stats` one line of JSON, otherwise text
//! lines). Commands run one at a time on the socket's thread.
//!
//! Access: the socket is created mode 0600 inside a private directory and renamed
//! into place, so nobody can connect before its mode is right; after `-u` it is
//! owned by that user (when the daemon may chown). Every connection's peer
//! credentials are checked as well: root and the daemon's own user only.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, UNIX_EPOCH};

use ulogd_core::config::{escape_control, ConfigFile};
use ulogd_core::global::Global;
use ulogd_core::{FleetHandle, ReloadError, Settings, Signal};

/// What a reload needs beyond the running fleet: where the configuration came
/// from, the command-line overrides to apply again, the daemon settings in force.
pub struct ReloadSpec {
    /// The configuration file (`None`: the embedded default, nothing to reload).
    pub path: Option<PathBuf>,
    /// `-t`, `-k`, `-l` as given.
    pub threads: Option<usize>,
    pub keyspool: Option<usize>,
    pub loglevel: Option<u8>,
    /// The settings the daemon started with (after the overrides).
    pub running: Settings,
}

/// The daemon's answers to `--stats`, `--reopen`, `--reload` and SIGHUP; shared by
/// the signal thread and the control socket. Cheap to clone.
#[derive(Clone)]
pub struct Ctl {
    pub fleet: FleetHandle,
    spec: Arc<ReloadSpec>,
    started: Instant,
}

/// `[global]` settings the daemon reads once at start: a reload cannot change them.
fn restart_only(old: &Settings, new: &Settings) -> Vec<&'static str> {
    let mut v = Vec::new();
    let mut check = |name, changed: bool| {
        if changed {
            v.push(name);
        }
    };
    check("logfile", old.logfile != new.logfile);
    check("loglevel", old.loglevel != new.loglevel);
    check("metrics_listen", old.metrics_listen != new.metrics_listen);
    check(
        "metrics_allow_remote",
        old.metrics_allow_remote != new.metrics_allow_remote,
    );
    check("umask", old.umask != new.umask);
    check("control_socket", old.control_socket != new.control_socket);
    check("reload_on_hup", old.reload_on_hup != new.reload_on_hup);
    v
}

impl Ctl {
    pub fn new(fleet: FleetHandle, spec: ReloadSpec) -> Ctl {
        Ctl {
            fleet,
            spec: Arc::new(spec),
            started: Instant::now(),
        }
    }

    /// SIGHUP's default meaning: reopen the daemon log and every output file.
    pub fn reopen(&self) {
        super::log::reopen();
        self.fleet.signal(Signal::Hup);
    }

    /// Reads the configuration file again and hands it to the fleet. `Ok` lines
    /// say what changed; `Err` lines are every problem (the old configuration
    /// keeps running). Both are logged too.
    pub fn reload(&self) -> Result<Vec<String>, Vec<String>> {
        let r = self.try_reload();
        match &r {
            Ok(lines) => lines.iter().for_each(|l| log::warn!("{l}")),
            Err(lines) => lines.iter().for_each(|l| log::error!("{l}")),
        }
        r
    }

    fn try_reload(&self) -> Result<Vec<String>, Vec<String>> {
        let spec = &self.spec;
        let Some(path) = &spec.path else {
            return Err(vec![
                "reload refused: the daemon runs the embedded default configuration; \
                 there is no file to read again (start it with -c FILE)"
                    .into(),
            ]);
        };
        let refused = |errors: Vec<String>| {
            let n = errors.len();
            let mut v: Vec<String> = errors.iter().map(|e| escape_control(e)).collect();
            v.push(format!(
                "reload refused: {n} problem(s) in {}; the running configuration stays",
                path.display()
            ));
            v
        };
        let cfg = ConfigFile::load_all(path)
            .map_err(|e| refused(e.iter().map(ToString::to_string).collect()))?;
        let mut global = Global::from_config(&cfg)
            .map_err(|e| refused(e.iter().map(ToString::to_string).collect()))?;
        let s = &mut global.settings;
        if let Some(l) = spec.loglevel {
            s.loglevel = l;
        }
        if let Some(t) = spec.threads {
            s.threads = t;
        }
        if let Some(k) = spec.keyspool {
            s.keyspool = k.max(1);
        }
        let mut lines: Vec<String> = restart_only(&spec.running, s)
            .into_iter()
            .map(|k| {
                format!(
                    "reload: [global] {k} changed in {}; it takes effect at the next restart",
                    path.display()
                )
            })
            .collect();
        lines.extend(
            crate::startup::unused_section_warnings(&cfg, &global.stacks)
                .into_iter()
                .map(|w| format!("reload: warning: {}", escape_control(&w))),
        );
        match self
            .fleet
            .reload(cfg, &global.stacks, global.settings.clone())
        {
            Ok(outcome) => {
                lines.extend(outcome.to_string().lines().map(str::to_string));
                Ok(lines)
            }
            Err(ReloadError::Config(e)) => {
                Err(refused(e.iter().map(ToString::to_string).collect()))
            }
            Err(e) => Err(vec![format!("reload failed: {e}")]),
        }
    }

    /// Every group's counters as one line of JSON (what `stats` answers).
    pub fn stats_json(&self) -> String {
        let secs = |t: std::time::SystemTime| {
            t.duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64())
        };
        let counters = |c: &[(&'static str, u64)]| {
            serde_json::Value::Object(
                c.iter()
                    .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
                    .collect(),
            )
        };
        let groups: Vec<serde_json::Value> = self
            .fleet
            .groups()
            .iter()
            .map(|g| {
                let sources: Vec<_> = g
                    .snapshot
                    .sources
                    .iter()
                    .map(|s| {
                        serde_json::json!({
                            "id": s.id, "plugin": s.plugin, "events": s.events,
                            "pool_size": s.pool_size, "in_flight": s.in_flight,
                            "pool_empty": s.pool_empty, "blocked": s.blocked,
                            "counters": counters(&s.counters),
                        })
                    })
                    .collect();
                let stages: Vec<_> = g
                    .snapshot
                    .stages
                    .iter()
                    .map(|s| {
                        serde_json::json!({
                            "id": s.id, "plugin": s.plugin, "in": s.events_in,
                            "ok": s.ok, "stopped": s.stopped, "errors": s.errors,
                            "last_error": s.last_error.map(secs),
                            "counters": counters(&s.counters),
                        })
                    })
                    .collect();
                serde_json::json!({
                    "stacks": g.stacks, "finished": g.finished,
                    "sources": sources, "stages": stages,
                })
            })
            .collect();
        serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "pid": std::process::id(),
            "uptime": self.started.elapsed().as_secs_f64(),
            "groups": groups,
        })
        .to_string()
    }

    /// The answer to one command line: (ok, body lines).
    fn answer(&self, cmd: &str) -> (bool, Vec<String>) {
        match cmd {
            "ping" => (
                true,
                vec![format!(
                    "ulogd-rs {} pid {}",
                    env!("CARGO_PKG_VERSION"),
                    std::process::id()
                )],
            ),
            "stats" => (true, vec![self.stats_json()]),
            "reopen" => {
                log::info!("control socket: reopening files");
                self.reopen();
                (
                    true,
                    vec!["reopened the daemon log and every output file".into()],
                )
            }
            "reload" => {
                log::info!("control socket: reloading the configuration");
                match self.reload() {
                    Ok(lines) => (true, lines),
                    Err(lines) => (false, lines),
                }
            }
            other => (
                false,
                vec![format!(
                    "unknown command \"{}\"; this daemon knows: ping, stats, reopen, reload",
                    escape_control(other)
                )],
            ),
        }
    }
}

/// The uid of the process at the other end of `s`.
fn peer_uid(s: &UnixStream) -> Option<u32> {
    // SAFETY: `ucred` is plain integers (all-zero valid); getsockopt writes at most
    // `len` bytes into it.
    unsafe {
        let mut cred: libc::ucred = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
        let r = libc::getsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        );
        (r == 0).then_some(cred.uid)
    }
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Serves one connection: one command line in, the answer out.
fn serve(stream: UnixStream, ctl: &Ctl) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let mut out = match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    };
    let (ok, body) = match peer_uid(&stream) {
        Some(uid) if uid == 0 || uid == euid() => {
            let mut line = String::new();
            // At most one short line: a client cannot make the daemon buffer more.
            let mut r = BufReader::new(std::io::Read::take(&stream, 256));
            match r.read_line(&mut line) {
                Ok(_) => ctl.answer(line.trim()),
                Err(e) => (false, vec![format!("cannot read the command: {e}")]),
            }
        }
        Some(uid) => {
            log::warn!("control socket: refused a client running as uid {uid}");
            (
                false,
                vec![
                    "permission denied: only root and the daemon's user may use this socket".into(),
                ],
            )
        }
        None => (false, vec!["cannot read the peer's credentials".into()]),
    };
    let mut text = String::from(if ok { "ok\n" } else { "error\n" });
    for l in body {
        text.push_str(&l);
        text.push('\n');
    }
    let _ = out.write_all(text.as_bytes());
}

/// The listening control socket; dropping it stops the thread and removes the
/// socket file (if it is still the one this daemon created).
pub struct ControlServer {
    path: PathBuf,
    ours: (u64, u64),
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Makes room for a new socket at `path`: a socket nobody listens on (left by a
/// daemon that was killed) is removed; a live one or any other file is an error.
fn clear_stale(path: &Path) -> Result<(), String> {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    if !meta.file_type().is_socket() {
        return Err(format!(
            "control_socket={}: the path exists and is not a socket; remove it or choose another path",
            path.display()
        ));
    }
    if UnixStream::connect(path).is_ok() {
        return Err(format!(
            "control_socket={}: another daemon is listening on it (a second ulogd?)",
            path.display()
        ));
    }
    log::info!(
        "control socket: removing the stale {} (nobody listens on it)",
        path.display()
    );
    std::fs::remove_file(path).map_err(|e| {
        format!(
            "control_socket={}: cannot remove the stale socket: {e}",
            path.display()
        )
    })
}

/// Binds in a private directory beside `path`, sets mode 0600 and the owner, then
/// renames the socket into place: nobody can connect before its mode is right.
fn bind(path: &Path, owner: Option<(u32, u32)>) -> Result<UnixListener, String> {
    let err =
        |what: &str, e: std::io::Error| format!("control_socket={}: {what}: {e}", path.display());
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("/"));
    if !dir.exists() {
        std::fs::create_dir_all(dir).map_err(|e| err("cannot create its directory", e))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o750))
            .map_err(|e| err("cannot set the mode of its directory", e))?;
        if let Some((uid, gid)) = owner {
            // So the daemon's user can remove the socket at exit.
            let _ = std::os::unix::fs::chown(dir, Some(uid), Some(gid));
        }
    }
    clear_stale(path)?;
    let private = dir.join(format!(".ulogd-ctl.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&private);
    std::fs::create_dir(&private)
        .map_err(|e| err("cannot create a private directory beside it", e))?;
    let result = (|| {
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| err("cannot restrict the private directory", e))?;
        let tmp = private.join("s");
        let listener = UnixListener::bind(&tmp).map_err(|e| err("cannot bind", e))?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| err("cannot set its mode", e))?;
        if let Some((uid, gid)) = owner {
            if let Err(e) = std::os::unix::fs::chown(&tmp, Some(uid), Some(gid)) {
                log::warn!(
                    "control_socket={}: cannot hand it to the -u user ({e}); it stays root's \
                     (add CAP_CHOWN to let the daemon's user use it)",
                    path.display()
                );
            }
        }
        std::fs::rename(&tmp, path).map_err(|e| err("cannot move the socket into place", e))?;
        Ok(listener)
    })();
    let _ = std::fs::remove_dir_all(&private);
    result
}

/// Waits up to `ms` for `l` to have a connection.
fn readable(l: &UnixListener, ms: i32) -> bool {
    let mut p = libc::pollfd {
        fd: l.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, count 1.
    unsafe { libc::poll(&mut p, 1, ms) > 0 }
}

impl ControlServer {
    /// Creates the socket at `path` (owned by `owner` if given) and serves `ctl`
    /// on a thread of its own.
    pub fn start(
        path: &Path,
        owner: Option<(u32, u32)>,
        ctl: Ctl,
    ) -> Result<ControlServer, String> {
        let listener = bind(path, owner)?;
        let meta = std::fs::symlink_metadata(path)
            .map_err(|e| format!("control_socket={}: {e}", path.display()))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("ulogd-control".into())
            .spawn(move || {
                while !flag.load(Ordering::SeqCst) {
                    if !readable(&listener, 250) {
                        continue;
                    }
                    if let Ok((s, _)) = listener.accept() {
                        serve(s, &ctl);
                    }
                }
            })
            .map_err(|e| format!("control socket: cannot start its thread: {e}"))?;
        log::info!("control socket listening on {}", path.display());
        Ok(ControlServer {
            path: path.to_path_buf(),
            ours: (meta.dev(), meta.ino()),
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let ours =
            std::fs::symlink_metadata(&self.path).is_ok_and(|m| (m.dev(), m.ino()) == self.ours);
        if ours {
            if let Err(e) = std::fs::remove_file(&self.path) {
                log::info!(
                    "control socket: cannot remove {} at exit ({e}); the next start replaces it",
                    self.path.display()
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_only_settings_are_named() {
        let a = Settings::default();
        let mut b = a.clone();
        assert!(restart_only(&a, &b).is_empty());
        b.threads = 4;
        assert!(restart_only(&a, &b).is_empty(), "threads is the engine's");
        b.loglevel = 1;
        b.control_socket = Some("/x".into());
        assert_eq!(restart_only(&a, &b), vec!["loglevel", "control_socket"]);
    }

    #[test]
    fn a_stale_socket_is_replaced_and_a_plain_file_is_not() {
        let dir = std::env::temp_dir().join(format!("ulogd-ctl-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("c.ctl");
        drop(UnixListener::bind(&p).unwrap());
        assert!(p.exists());
        let l = bind(&p, None).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(UnixStream::connect(&p).is_ok(), "the new socket listens");
        let e = bind(&p, None).unwrap_err();
        assert!(e.contains("another daemon is listening"), "{e}");
        drop(l);
        std::fs::remove_file(&p).unwrap();
        std::fs::write(&p, "x").unwrap();
        let e = bind(&p, None).unwrap_err();
        assert!(e.contains("not a socket"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
