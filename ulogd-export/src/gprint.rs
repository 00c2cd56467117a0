//! GPRINT: every upstream key as `key=value` joined by `,`, one line per event.

use std::io::Write;
use std::sync::Arc;

use ulogd_core::{Built, Event, Inputs, KeyDef, KeyType, Kind, OptionDef, PluginSpec, Value};

use crate::output::{c_str, file_output, queue_options, Encoder};
use crate::time;

/// Appends `name=value,` for one key, as GPRINT prints it (nothing for raw data).
/// IPv6 addresses are printed in full (2.0.8 printed the first 4 bytes as IPv4).
pub(crate) fn push_pair(out: &mut Vec<u8>, def: &KeyDef, v: &Value<'_>) {
    let start = out.len();
    out.extend_from_slice(def.name.as_bytes());
    out.push(b'=');
    let ok = match (def.ty, v) {
        (KeyType::String, Value::Bytes(b)) => {
            out.extend_from_slice(c_str(b));
            true
        }
        (KeyType::Raw | KeyType::RawStr, _) => false,
        (_, Value::Uint(x)) if def.ty.is_signed() => write!(out, "{}", *x as i64).is_ok(),
        (_, Value::Uint(x)) => write!(out, "{x}").is_ok(),
        (_, Value::Int(x)) => write!(out, "{x}").is_ok(),
        (_, Value::Bool(b)) => write!(out, "{}", *b as u8).is_ok(),
        (_, Value::Addr(a)) => write!(out, "{a}").is_ok(),
        (_, Value::Bytes(_)) => false,
    };
    if ok {
        out.push(b',');
    } else {
        out.truncate(start);
    }
}

/// Formats a whole GPRINT line from (key, value) pairs; `ts` adds ulogd2's leading
/// `timestamp=YYYY/MM/DD-HH:MM:SS,` (local time of logging).
pub(crate) fn format_line<'a>(
    out: &mut Vec<u8>,
    ts: Option<&time::Tm>,
    keys: impl Iterator<Item = (&'a KeyDef, Option<Value<'a>>)>,
) {
    if let Some(t) = ts {
        let _ = write!(
            out,
            "timestamp={:04}/{:02}/{:02}-{:02}:{:02}:{:02},",
            t.year, t.mon, t.mday, t.hour, t.min, t.sec
        );
    }
    for (def, v) in keys {
        if let Some(v) = v {
            push_pair(out, def, &v);
        }
    }
    if out.last() == Some(&b',') {
        out.pop();
    }
    out.push(b'\n');
}

struct Gprint {
    timestamp: bool,
}

impl Encoder for Gprint {
    fn encode(&mut self, ev: &Event<'_>, out: &mut Vec<u8>) -> bool {
        let tm = self.timestamp.then(|| time::localtime(time::now().0));
        format_line(out, tm.as_ref(), ev.wildcard());
        true
    }
}

/// The GPRINT plugin.
pub(crate) fn spec() -> PluginSpec {
    PluginSpec {
        name: "GPRINT",
        aliases: &[],
        kind: Kind::Sink,
        summary: "every key as key=value, comma separated, one line per event",
        options: [
            OptionDef::string(
                "file",
                "/var/log/ulogd_gprint.log",
                "output file (- for stdout)",
            ),
            OptionDef::boolean("sync", "0", "flush after every line"),
            OptionDef::boolean("timestamp", "0", "prefix lines with timestamp=<local time>"),
        ]
        .into_iter()
        .chain(queue_options())
        .collect(),
        inputs: vec![],
        outputs: vec![],
        wildcard: true,
        build: Box::new(|ctx| {
            let o = ctx.options;
            Ok(Built::Stage {
                stage: Arc::new(file_output(
                    "GPRINT",
                    Gprint {
                        timestamp: o.bool("timestamp"),
                    },
                    o,
                )?),
                inputs: Inputs::All,
                outputs: vec![],
            })
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    #[test]
    fn pairs() {
        let s = KeyDef::new("oob.prefix", KeyType::String);
        let u = KeyDef::new("ip.id", KeyType::U16);
        let a = KeyDef::new("ip.saddr", KeyType::IpAddr);
        let r = KeyDef::new("raw.pkt", KeyType::Raw);
        let i = KeyDef::new("x.signed", KeyType::I32);
        let v4: IpAddr = "10.77.0.1".parse().unwrap();
        let v6: IpAddr = "fd77::1".parse().unwrap();
        let keys = vec![
            (&s, Some(Value::Bytes(b"IN-ICMP "))),
            (&r, Some(Value::Bytes(b"\x45\x00"))),
            (&u, Some(Value::Uint(29110))),
            (&u, None),
            (&a, Some(Value::Addr(v4))),
            (&a, Some(Value::Addr(v6))),
            (&i, Some(Value::Int(-5))),
        ];
        let mut out = Vec::new();
        format_line(&mut out, None, keys.into_iter());
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "oob.prefix=IN-ICMP ,ip.id=29110,ip.saddr=10.77.0.1,ip.saddr=fd77::1,x.signed=-5\n"
        );
        let mut out = Vec::new();
        let tm = time::broken_down(1_795_559_069, 0);
        format_line(&mut out, Some(&tm), std::iter::empty());
        assert_eq!(out, b"timestamp=2026/11/24-22:24:29\n");
    }
}
