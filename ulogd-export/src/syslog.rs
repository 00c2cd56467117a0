//! SYSLOG: PRINTPKT/PRINTFLOW lines to the local syslog daemon.
//!
//! The message goes to the syslog socket (`/dev/log`) formatted as glibc's `syslog(3)`
//! formats it (`<PRI>Mmm dd hh:mm:ss ulogd[PID]: line`), but written by us: glibc
//! treats facility 0 as "the openlog default", so `LOG_KERN` (ulogd2's default, where
//! kernel LOG lines go) silently became `LOG_DAEMON` in ulogd2. Here the facility asked
//! for is the one used. The format is an [`Encoder`] on the queued unix-datagram
//! transport: if the syslog daemon is down or restarts, lines wait in the queue
//! (`queue_max`, `when_full`) and the socket is reconnected with backoff; what cannot be
//! delivered is counted (`dropped`, `lost`), never silent.

use std::io::Write;
use std::sync::Arc;

use ulogd_core::{Built, Event, Inputs, KeyDef, KeyType, Kind, OptionDef, PluginError, PluginSpec};

use crate::output::{c_str, queue_config, queue_options, Encoder, OutputStage};
use crate::time;
use crate::transport::{Endpoint, NetTransport};

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

/// SYSLOG's encoder: one `syslog(3)`-style message per line.
struct Syslog {
    prio: libc::c_int,
}

const MON: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

impl Encoder for Syslog {
    fn encode(&mut self, ev: &Event<'_>, out: &mut Vec<u8>) -> bool {
        let Some(line) = ev.bytes(0) else {
            return false;
        };
        let line = c_str(line);
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let tm = time::localtime(time::now().0);
        let _ = write!(
            out,
            "<{}>{} {:2} {:02}:{:02}:{:02} ulogd[{}]: ",
            self.prio,
            MON[(tm.mon as usize).saturating_sub(1) % 12],
            tm.mday,
            tm.hour,
            tm.min,
            tm.sec,
            std::process::id()
        );
        out.extend_from_slice(line);
        true
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
        options: [
            OptionDef::string(
                "facility",
                "LOG_KERN",
                "LOG_KERN, LOG_DAEMON, LOG_USER, LOG_LOCAL0-7",
            ),
            OptionDef::string("level", "LOG_NOTICE", "LOG_EMERG ... LOG_DEBUG"),
            OptionDef::string("socket", "/dev/log", "the syslog daemon's datagram socket"),
        ]
        .into_iter()
        .chain(queue_options())
        .collect(),
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
                stage: Arc::new(OutputStage::new(
                    "SYSLOG",
                    Syslog { prio: f | l },
                    Box::new(NetTransport::new(Endpoint::UnixDgram(
                        o.str("socket").to_string(),
                    ))),
                    queue_config(o, true)?,
                    false,
                )),
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
