//! OPRINT: debug dump, one `key=value` line per set key after `===>PACKET BOUNDARY`.

use std::io::Write;
use std::sync::Arc;

use ulogd_core::{Built, Event, Inputs, KeyDef, KeyType, Kind, OptionDef, PluginSpec, Value};

use crate::file::{c_str, FileStage, Formatter};

/// Formats one OPRINT record. Addresses are printed in normal order (2.0.8 printed
/// IPv4 byte-reversed and IPv6 as its first 4 bytes); raw data prints `default`.
pub(crate) fn format_record<'a>(
    out: &mut Vec<u8>,
    keys: impl Iterator<Item = (&'a KeyDef, Option<Value<'a>>)>,
) {
    out.extend_from_slice(b"===>PACKET BOUNDARY\n");
    for (def, v) in keys {
        let Some(v) = v else { continue };
        out.extend_from_slice(def.name.as_bytes());
        out.push(b'=');
        let _ = match (def.ty, v) {
            (KeyType::String, Value::Bytes(b)) => {
                out.extend_from_slice(c_str(b));
                Ok(())
            }
            (KeyType::Raw | KeyType::RawStr, _) | (_, Value::Bytes(_)) => {
                out.extend_from_slice(b"default");
                Ok(())
            }
            (t, Value::Uint(x)) if t.is_signed() => write!(out, "{}", x as i64),
            (_, Value::Uint(x)) => write!(out, "{x}"),
            (_, Value::Int(x)) => write!(out, "{x}"),
            (_, Value::Bool(b)) => write!(out, "{}", b as u8),
            (_, Value::Addr(a)) => write!(out, "{a}"),
        };
        out.push(b'\n');
    }
}

struct Oprint;

impl Formatter for Oprint {
    fn format(&mut self, ev: &Event<'_>, out: &mut Vec<u8>) -> bool {
        format_record(out, ev.wildcard());
        true
    }
}

/// The OPRINT plugin.
pub(crate) fn spec() -> PluginSpec {
    PluginSpec {
        name: "OPRINT",
        aliases: &[],
        kind: Kind::Sink,
        summary: "debug dump: one key=value line per key, records separated by ===>PACKET BOUNDARY",
        options: vec![
            OptionDef::string(
                "file",
                "/var/log/ulogd_oprint.log",
                "output file (- for stdout)",
            ),
            OptionDef::boolean("sync", "0", "flush after every record"),
        ],
        inputs: vec![],
        outputs: vec![],
        wildcard: true,
        build: Box::new(|ctx| {
            let o = ctx.options;
            Ok(Built::Stage {
                stage: Arc::new(FileStage::new(
                    "OPRINT",
                    Oprint,
                    o.str("file"),
                    o.bool("sync"),
                )),
                inputs: Inputs::All,
                outputs: vec![],
            })
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record() {
        let r = KeyDef::new("raw.pkt", KeyType::Raw);
        let a = KeyDef::new("ip.saddr", KeyType::IpAddr);
        let s = KeyDef::new("oob.out", KeyType::String);
        let b = KeyDef::new("ip.saddr.bin", KeyType::RawStr);
        let keys = vec![
            (&r, Some(Value::Bytes(b"\x45"))),
            (&a, Some(Value::Addr("10.77.0.1".parse().unwrap()))),
            (&a, Some(Value::Addr("fd77::2".parse().unwrap()))),
            (&s, Some(Value::Bytes(b""))),
            (&b, Some(Value::Bytes(b"0x0a4d0001"))),
            (&s, None),
        ];
        let mut out = Vec::new();
        format_record(&mut out, keys.into_iter());
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "===>PACKET BOUNDARY\nraw.pkt=default\nip.saddr=10.77.0.1\nip.saddr=fd77::2\noob.out=\nip.saddr.bin=default\n"
        );
    }
}
