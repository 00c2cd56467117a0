//! OPRINT: debug dump, one `key=value` line per set key after `===>PACKET BOUNDARY`.
//!
//! ulogd2's sources also output a pointer key to their library object (`raw` from
//! NFLOG, `ct` from NFCT, `sum` from NFACCT), which OPRINT prints as `raw=default`,
//! `ct=default`, `sum=default` right after the source's last key. Ours have no such
//! keys (nothing reads library objects), so OPRINT prints the same line at the same
//! place: after `raw.label` (NFLOG), after NFCT's `oob.protocol` (a stack with
//! `ct.event`) and after `sum.bytes` (NFACCT), once each.

use std::io::Write;
use std::sync::Arc;

use ulogd_core::{
    Built, Event, Inputs, KeyDef, KeyType, Kind, OptionDef, PluginError, PluginSpec, Value,
};

use crate::file::{c_str, FileStage, Formatter};

/// Formats one OPRINT record. Addresses are printed in normal order (2.0.8 printed
/// IPv4 byte-reversed and IPv6 as its first 4 bytes); raw data prints `default`.
pub(crate) fn format_record<'a>(
    out: &mut Vec<u8>,
    keys: impl Iterator<Item = (&'a KeyDef, Option<Value<'a>>)>,
    pointers: &[(usize, &str)],
) {
    out.extend_from_slice(b"===>PACKET BOUNDARY\n");
    let mut next = pointers.iter().peekable();
    for (pos, (def, v)) in keys.enumerate() {
        while let Some(&&(p, name)) = next.peek() {
            if p >= pos {
                break;
            }
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"=default\n");
            next.next();
        }
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
    for &(_, name) in next {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"=default\n");
    }
}

/// Where ulogd2's pointer keys stood in a stack with these key names: (position of
/// the key they follow, name), in order.
pub(crate) fn pointer_lines<'n>(
    names: impl Iterator<Item = &'n str>,
) -> Vec<(usize, &'static str)> {
    let names: Vec<&str> = names.collect();
    let first = |k: &str| names.iter().position(|n| *n == k);
    let mut out = Vec::new();
    if let Some(p) = first("raw.label") {
        out.push((p, "raw"));
    }
    if first("ct.event").is_some() {
        if let Some(p) = first("oob.protocol") {
            out.push((p, "ct"));
        }
    }
    if let Some(p) = first("sum.bytes") {
        out.push((p, "sum"));
    }
    out.sort_unstable();
    out
}

/// The pointer lines of one stack, worked out in `bind`.
struct PointerLines(Vec<(usize, &'static str)>);

#[derive(Default)]
struct Oprint;

impl Formatter for Oprint {
    fn bind(&self, keys: &ulogd_core::StackKeys<'_>) -> Result<ulogd_core::BindState, PluginError> {
        let names = keys.wildcard.iter().map(|d| &*d.name);
        Ok(ulogd_core::BindState::new(PointerLines(pointer_lines(
            names,
        ))))
    }

    fn format(&mut self, ev: &Event<'_>, out: &mut Vec<u8>) -> bool {
        let lines = ev
            .bind_state::<PointerLines>()
            .map_or(&[][..], |p| &p.0[..]);
        format_record(out, ev.wildcard(), lines);
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
        format_record(&mut out, keys.into_iter(), &[]);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "===>PACKET BOUNDARY\nraw.pkt=default\nip.saddr=10.77.0.1\nip.saddr=fd77::2\noob.out=\nip.saddr.bin=default\n"
        );
    }

    #[test]
    fn pointer_lines_where_ulogd2_printed_them() {
        // samples/oprint-nflog.log: `raw=default` after raw.label, before BASE's keys.
        let nflog = [
            "raw.pkt",
            "oob.protocol",
            "raw.label",
            "ip.saddr",
            "oob.protocol",
        ];
        assert_eq!(pointer_lines(nflog.into_iter()), [(2, "raw")]);
        // oprint-nfct.log: `ct=default` after NFCT's oob.protocol.
        let nfct = [
            "ct.event",
            "oob.family",
            "oob.protocol",
            "ct.zone",
            "orig.ip.saddr.str",
        ];
        assert_eq!(pointer_lines(nfct.into_iter()), [(2, "ct")]);
        // oprint-nfacct.log: `sum=default` after sum.bytes.
        let nfacct = ["sum.name", "sum.pkts", "sum.bytes", "oob.time.sec"];
        let p = pointer_lines(nfacct.into_iter());
        assert_eq!(p, [(2, "sum")]);
        let n = KeyDef::new("sum.name", KeyType::String);
        let c = KeyDef::new("sum.pkts", KeyType::U64);
        let b = KeyDef::new("sum.bytes", KeyType::U64);
        let t = KeyDef::new("oob.time.sec", KeyType::U32);
        let keys = vec![
            (&n, Some(Value::Bytes(b"udp2000"))),
            (&c, Some(Value::Uint(5))),
            (&b, Some(Value::Uint(150))),
            (&t, Some(Value::Uint(0))),
        ];
        let mut out = Vec::new();
        format_record(&mut out, keys.into_iter(), &p);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "===>PACKET BOUNDARY\nsum.name=udp2000\nsum.pkts=5\nsum.bytes=150\nsum=default\noob.time.sec=0\n"
        );
    }
}
