//! SYSLOG: PRINTPKT/PRINTFLOW lines to the local syslog daemon.
//!
//! The message goes to the syslog socket (`/dev/log`) formatted as glibc's `syslog(3)`
//! formats it (`<PRI>Mmm dd hh:mm:ss ulogd[PID]: line`), but written by us: glibc
//! treats facility 0 as "the openlog default", so `LOG_KERN` (ulogd2's default, where
//! kernel LOG lines go) silently became `LOG_DAEMON` in ulogd2. Here the facility asked
//! for is the one used. If the syslog daemon restarts, the socket is reconnected on the
//! next line; lines that cannot be delivered are counted as `lost`.
//!
//! A socket that is missing at start (no syslog daemon yet, or a chroot without
//! `/dev/log`) does not stop the daemon: the output starts, says so, counts the
//! lines it cannot deliver and connects as soon as the socket is there (tried again
//! at most once a second), as ulogd2 runs its other stacks.

use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::sync::{Arc, Mutex};

use ulogd_core::{
    Built, Event, Inputs, KeyDef, KeyType, Kind, OptionDef, PluginError, PluginSpec, Ret, Stage,
};

use crate::file::c_str;
use crate::time;

/// Facility by name (`LOG_KERN` is 0).
pub(crate) fn facility(name: &str) -> Option<libc::c_int> {
    Some(match name {
        "LOG_KERN" => libc::LOG_KERN,
        "LOG_DAEMON" => libc::LOG_DAEMON,
        "LOG_USER" => libc::LOG_USER,
        "LOG_LOCAL0" => libc::LOG_LOCAL0,
        "LOG_LOCAL1" => libc::LOG_LOCAL1,
        "LOG_LOCAL2" => libc::LOG_LOCAL2,
        "LOG_LOCAL3" => libc::LOG_LOCAL3,
        "LOG_LOCAL4" => libc::LOG_LOCAL4,
        "LOG_LOCAL5" => libc::LOG_LOCAL5,
        "LOG_LOCAL6" => libc::LOG_LOCAL6,
        "LOG_LOCAL7" => libc::LOG_LOCAL7,
        _ => return None,
    })
}

/// Level by name.
pub(crate) fn level(name: &str) -> Option<libc::c_int> {
    Some(match name {
        "LOG_EMERG" => libc::LOG_EMERG,
        "LOG_ALERT" => libc::LOG_ALERT,
        "LOG_CRIT" => libc::LOG_CRIT,
        "LOG_ERR" => libc::LOG_ERR,
        "LOG_WARNING" => libc::LOG_WARNING,
        "LOG_NOTICE" => libc::LOG_NOTICE,
        "LOG_INFO" => libc::LOG_INFO,
        "LOG_DEBUG" => libc::LOG_DEBUG,
        _ => return None,
    })
}

struct Conn {
    sock: Option<UnixDatagram>,
    /// No new connection attempt before this (after a failed one).
    retry_at: Option<std::time::Instant>,
    buf: Vec<u8>,
    sent: u64,
    lost: u64,
}

struct SyslogStage {
    prio: libc::c_int,
    path: String,
    conn: Mutex<Conn>,
}

impl SyslogStage {
    fn connect(&self) -> std::io::Result<UnixDatagram> {
        let s = UnixDatagram::unbound()?;
        s.connect(&self.path)?;
        Ok(s)
    }
}

const MON: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

impl Stage for SyslogStage {
    fn start(&self) -> Result<(), PluginError> {
        let mut g = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        match self.connect() {
            Ok(s) => g.sock = Some(s),
            Err(e) => {
                log::warn!(
                    "SYSLOG: cannot connect to {}: {e}; starting anyway: lines are counted as lost until the socket is there",
                    self.path
                );
                g.retry_at = Some(std::time::Instant::now() + std::time::Duration::from_secs(1));
            }
        }
        Ok(())
    }

    fn interp(&self, ev: &mut Event<'_>) -> Ret {
        let Some(line) = ev.bytes(0) else {
            return Ret::Ok;
        };
        let line = c_str(line);
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let mut g = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let c = &mut *g;
        c.buf.clear();
        let tm = time::localtime(time::now().0);
        let _ = write!(
            c.buf,
            "<{}>{} {:2} {:02}:{:02}:{:02} ulogd[{}]: ",
            self.prio,
            MON[(tm.mon as usize).saturating_sub(1) % 12],
            tm.mday,
            tm.hour,
            tm.min,
            tm.sec,
            std::process::id()
        );
        c.buf.extend_from_slice(line);
        for attempt in 0..2 {
            if c.sock.is_none() || attempt == 1 {
                let now = std::time::Instant::now();
                if c.retry_at.is_some_and(|t| now < t) {
                    break;
                }
                let was_down = c.sock.is_none() && c.retry_at.is_some();
                c.sock = self.connect().ok();
                if c.sock.is_some() {
                    if was_down {
                        log::info!(
                            "SYSLOG: connected to {} ({} lines lost before)",
                            self.path,
                            c.lost
                        );
                    }
                    c.retry_at = None;
                } else {
                    c.retry_at = Some(now + std::time::Duration::from_secs(1));
                }
            }
            if let Some(s) = &c.sock {
                if s.send(&c.buf).is_ok() {
                    c.sent += 1;
                    return Ret::Ok;
                }
            }
        }
        c.lost += 1;
        if c.lost.is_power_of_two() {
            log::warn!(
                "SYSLOG: cannot send to {} ({} lines lost so far)",
                self.path,
                c.lost
            );
        }
        Ret::Err
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        let c = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        vec![("sent", c.sent), ("lost", c.lost)]
    }
}

/// The SYSLOG plugin.
pub(crate) fn spec() -> PluginSpec {
    let inputs = vec![KeyDef::new("print", KeyType::String)];
    PluginSpec {
        name: "SYSLOG",
        aliases: &[],
        kind: Kind::Sink,
        summary: "print lines to the local syslog daemon (the facility asked for, LOG_KERN too)",
        options: vec![
            OptionDef::string(
                "facility",
                "LOG_KERN",
                "LOG_KERN, LOG_DAEMON, LOG_USER, LOG_LOCAL0-7",
            ),
            OptionDef::string("level", "LOG_NOTICE", "LOG_EMERG ... LOG_DEBUG"),
            OptionDef::string("socket", "/dev/log", "the syslog daemon's datagram socket"),
        ],
        inputs: inputs.clone(),
        outputs: vec![],
        wildcard: false,
        build: Box::new(move |ctx| {
            let o = ctx.options;
            let f = facility(o.str("facility")).ok_or_else(|| {
                PluginError::new(o.error("facility", "unknown syslog facility").to_string())
            })?;
            let l = level(o.str("level")).ok_or_else(|| {
                PluginError::new(o.error("level", "unknown syslog level").to_string())
            })?;
            Ok(Built::Stage {
                stage: Arc::new(SyslogStage {
                    prio: f | l,
                    path: o.str("socket").to_string(),
                    conn: Mutex::new(Conn {
                        sock: None,
                        retry_at: None,
                        buf: Vec::with_capacity(1024),
                        sent: 0,
                        lost: 0,
                    }),
                }),
                inputs: Inputs::Keys(inputs.clone()),
                outputs: vec![],
            })
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            facility("LOG_LOCAL2").unwrap() | level("LOG_INFO").unwrap(),
            150
        );
        assert_eq!(
            facility("LOG_DAEMON").unwrap() | level("LOG_NOTICE").unwrap(),
            29
        );
        assert_eq!(facility("LOG_KERN"), Some(0));
        assert!(facility("LOG_FOO").is_none() && level("NOTICE").is_none());
    }

    #[test]
    fn kern_facility_reaches_the_socket() {
        use ulogd_core::testing::{OwnedValue, TestSource};
        let dir = std::env::temp_dir().join(format!("ulogd-syslog-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("log.sock");
        let _ = std::fs::remove_file(&path);
        let server = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        let mut reg = ulogd_core::Registry::new();
        reg.add(TestSource::spec(
            "T",
            vec![KeyDef::new("print", KeyType::String)],
            vec![vec![(
                0,
                OwnedValue::Bytes(b"IN=lo OUT= MARK=0x0 \n".to_vec()),
            )]],
        ));
        reg.add(spec());
        let sections = format!(
            "[s]\nfacility=LOG_KERN\nlevel=LOG_WARNING\nsocket=\"{}\"\n",
            path.display()
        );
        ulogd_core::testing::run(&reg, "t:T,s:SYSLOG", &sections, 0).unwrap();
        let mut buf = [0u8; 512];
        let n = server.recv(&mut buf).unwrap();
        let msg = String::from_utf8_lossy(&buf[..n]).to_string();
        // kern.warning = 0 * 8 + 4
        assert!(msg.starts_with("<4>"), "{msg}");
        assert!(msg.contains(" ulogd["), "{msg}");
        assert!(msg.ends_with("]: IN=lo OUT= MARK=0x0 "), "{msg}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
