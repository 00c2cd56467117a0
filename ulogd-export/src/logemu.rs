//! LOGEMU: PRINTPKT/PRINTFLOW lines in a file, syslog style
//! (`Mon DD HH:MM:SS host print`).

use std::sync::Arc;

use ulogd_core::{Built, Event, Inputs, KeyDef, KeyType, Kind, OptionDef, PluginSpec};

use crate::output::{c_str, file_output, queue_options, Encoder};
use crate::time;

const IN_PRINT: usize = 0;
const IN_SEC: usize = 1;

/// Formats one LOGEMU line: `time` (syslog style) + ' ' + `host` + ' ' + `print`,
/// adding the final newline only if `print` lacks one (PRINTPKT's ends with it).
pub(crate) fn format_line(out: &mut Vec<u8>, tm: &time::Tm, host: &str, print: &[u8]) {
    time::write_syslog_time(out, tm);
    out.push(b' ');
    out.extend_from_slice(host.as_bytes());
    out.push(b' ');
    let p = c_str(print);
    out.extend_from_slice(p);
    if p.last() != Some(&b'\n') {
        out.push(b'\n');
    }
}

struct Logemu {
    host: String,
    tz: time::OffsetCache,
}

impl Encoder for Logemu {
    fn start(&mut self) -> Result<(), ulogd_core::PluginError> {
        self.host = time::short_hostname();
        Ok(())
    }
    fn encode(&mut self, ev: &Event<'_>, out: &mut Vec<u8>) -> bool {
        let Some(print) = ev.bytes(IN_PRINT) else {
            return false;
        };
        let secs = match ev.u64(IN_SEC) {
            Some(s) => s as u32 as i64,
            None => time::now().0,
        };
        format_line(out, &self.tz.localtime(secs), &self.host, print);
        true
    }
}

/// The LOGEMU plugin.
pub(crate) fn spec() -> PluginSpec {
    let inputs = vec![
        KeyDef::new("print", KeyType::String),
        KeyDef::new("oob.time.sec", KeyType::U32).optional(),
    ];
    PluginSpec {
        name: "LOGEMU",
        aliases: &[],
        kind: Kind::Sink,
        summary: "syslog-style text lines (PRINTPKT/PRINTFLOW) in a file",
        options: [
            OptionDef::string(
                "file",
                "/var/log/ulogd_syslogemu.log",
                "output file (- for stdout)",
            ),
            OptionDef::boolean("sync", "0", "flush after every line"),
        ]
        .into_iter()
        .chain(queue_options())
        .collect(),
        inputs: inputs.clone(),
        outputs: vec![],
        wildcard: false,
        build: Box::new(move |ctx| {
            let o = ctx.options;
            Ok(Built::Stage {
                stage: Arc::new(file_output(
                    "LOGEMU",
                    Logemu {
                        host: String::new(),
                        tz: time::OffsetCache::default(),
                    },
                    o,
                )?),
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
    fn line_format() {
        let mut v = Vec::new();
        let tm = time::broken_down(1_795_559_069, 0);
        format_line(&mut v, &tm, "vm", b"IN-ICMP  IN=vB MARK=0x0 \n");
        assert_eq!(v, b"Nov 24 22:24:29 vm IN-ICMP  IN=vB MARK=0x0 \n");
        v.clear();
        format_line(&mut v, &tm, "vm", b"no newline");
        assert_eq!(v, b"Nov 24 22:24:29 vm no newline\n");
    }
}
