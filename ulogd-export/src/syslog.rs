//! SYSLOG: `print` lines sent with syslog(3) as `ulogd[pid]`.
//!
//! The facility is passed with every message, so several instances may use
//! different facilities. `LOG_KERN` (the default, as in ulogd2) cannot be used by a
//! user process: glibc's syslog() treats facility 0 as "use the openlog default".
//! ulogd2 therefore logged to `daemon` silently; we log to `daemon` too but say so
//! with a warning at start.

use std::sync::{Arc, Mutex};

use ulogd_core::{
    Built, Event, Inputs, KeyDef, KeyType, Kind, OptionDef, PluginError, PluginSpec, Ret,
};

use crate::file::c_str;

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

struct SyslogStage {
    prio: libc::c_int,
    kern: bool,
    buf: Mutex<Vec<u8>>,
}

impl ulogd_core::Stage for SyslogStage {
    fn start(&self) -> Result<(), PluginError> {
        if self.kern {
            log::warn!(
                "SYSLOG: facility LOG_KERN cannot be used by a user process (glibc maps it to \
                 the openlog default); logging to LOG_DAEMON as ulogd2 did"
            );
        }
        // SAFETY: a static C string; LOG_NDELAY|LOG_PID as ulogd2.
        unsafe {
            libc::openlog(
                c"ulogd".as_ptr(),
                libc::LOG_NDELAY | libc::LOG_PID,
                libc::LOG_DAEMON,
            )
        };
        Ok(())
    }

    fn interp(&self, ev: &mut Event<'_>) -> Ret {
        let Some(p) = ev.bytes(0) else {
            return Ret::Ok;
        };
        let mut buf = self.buf.lock().unwrap_or_else(|e| e.into_inner());
        buf.clear();
        buf.extend_from_slice(c_str(p));
        buf.push(0);
        // SAFETY: buf is NUL-terminated with no interior NUL (c_str cut it).
        unsafe {
            libc::syslog(
                self.prio,
                c"%s".as_ptr(),
                buf.as_ptr() as *const libc::c_char,
            )
        };
        Ret::Ok
    }
}

/// The SYSLOG plugin.
pub(crate) fn spec() -> PluginSpec {
    let inputs = vec![KeyDef::new("print", KeyType::String)];
    PluginSpec {
        name: "SYSLOG",
        aliases: &[],
        kind: Kind::Sink,
        summary: "print lines to syslog(3)",
        options: vec![
            OptionDef::string(
                "facility",
                "LOG_KERN",
                "LOG_KERN (logged as LOG_DAEMON), LOG_DAEMON, LOG_USER, LOG_LOCAL0-7",
            ),
            OptionDef::string("level", "LOG_NOTICE", "LOG_EMERG ... LOG_DEBUG"),
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
            let kern = f == libc::LOG_KERN;
            let f = if kern { libc::LOG_DAEMON } else { f };
            Ok(Built::Stage {
                stage: Arc::new(SyslogStage {
                    prio: f | l,
                    kern,
                    buf: Mutex::new(Vec::with_capacity(1024)),
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
}
