//! JSON's hot path: a per-stack plan derived once from the wildcard key names.
//!
//! ulogd2's JSON object collapses duplicate names (first position, last value), drops
//! some types, renames keys to their CIM alias and reads the time from the last keys
//! named `oob.time.sec` / `oob.time.usec`. All of that depends only on the key names
//! of the stack, so it is worked out once per stack ([`Plan::new`], from the stage's
//! `bind`) and each event is then written with no name comparison, no hashing, no
//! look-up of key declarations and no allocation. The result is
//! byte-identical to the straightforward reference formatter of the tests
//! (`json/reference.rs`, checked there).

use ulogd_core::{Event, KeyDef, KeyType, Value};

use super::encode::{push_i64, push_json_str, push_timestamp, push_u64, JsonOpts};
use crate::output::c_str;
use crate::time;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fixed {
    None,
    Version,
    Timestamp,
    Device,
}

struct Field {
    /// `, "name": `, escaped once: the separator and the name are one copy (the
    /// first field printed skips the first two bytes).
    head: Vec<u8>,
    /// Wildcard positions feeding this name, last in stack order first (the last set
    /// one wins, as in ulogd2), with the key's type.
    positions: Vec<Pos>,
    fixed: Fixed,
}

/// One wildcard position feeding a field.
#[derive(Clone, Copy)]
struct Pos {
    pos: usize,
    ty: KeyType,
    /// `raw.label` printed as `action` (boolean_label).
    label: bool,
}

/// What JSON prints for one stack.
pub(crate) struct Plan {
    time_sec: Option<usize>,
    time_usec: Option<usize>,
    fields: Vec<Field>,
    device: Vec<u8>,
}

fn head(name: &str) -> Vec<u8> {
    let mut h = Vec::with_capacity(name.len() + 6);
    h.extend_from_slice(b", ");
    push_json_str(&mut h, name.as_bytes());
    h.extend_from_slice(b": ");
    h
}

impl Plan {
    /// Derives the plan from the stack's wildcard keys (their names and types only;
    /// position `i` of `wildcard` is `ev.wildcard_get(i)`).
    pub(crate) fn new(wildcard: &[&KeyDef], o: &JsonOpts) -> Plan {
        let mut fields: Vec<Field> = Vec::new();
        let mut names: Vec<String> = Vec::new();
        let mut add = |name: &str, fixed: Fixed, pos: Option<Pos>, fields: &mut Vec<Field>| {
            let i = match names.iter().position(|n| n == name) {
                Some(i) => i,
                None => {
                    names.push(name.to_string());
                    fields.push(Field {
                        head: head(name),
                        positions: Vec::new(),
                        fixed,
                    });
                    fields.len() - 1
                }
            };
            if let Some(p) = pos {
                fields[i].positions.push(p);
            }
        };
        if o.eventv1 {
            add("@version", Fixed::Version, None, &mut fields);
        }
        if o.timestamp {
            let n = if o.eventv1 { "@timestamp" } else { "timestamp" };
            add(n, Fixed::Timestamp, None, &mut fields);
        }
        add("dvc", Fixed::Device, None, &mut fields);
        let (mut time_sec, mut time_usec) = (None, None);
        for (pos, d) in wildcard.iter().enumerate() {
            if d.name == "oob.time.sec" {
                time_sec = Some(pos);
            } else if d.name == "oob.time.usec" {
                time_usec = Some(pos);
            }
            if matches!(
                d.ty,
                KeyType::I64 | KeyType::IpAddr | KeyType::Raw | KeyType::RawStr | KeyType::Any
            ) {
                continue;
            }
            if o.boolean_label && d.name == "raw.label" && d.ty == KeyType::U8 {
                let p = Pos {
                    pos,
                    ty: d.ty,
                    label: true,
                };
                add("action", Fixed::None, Some(p), &mut fields);
            } else {
                let p = Pos {
                    pos,
                    ty: d.ty,
                    label: false,
                };
                add(d.json_name(), Fixed::None, Some(p), &mut fields);
            }
        }
        for f in &mut fields {
            f.positions.reverse();
        }
        let mut device = Vec::new();
        push_json_str(&mut device, o.device.as_bytes());
        Plan {
            time_sec,
            time_usec,
            fields,
            device,
        }
    }

    /// Writes one event as a JSON line into `out`. `offset_of` gives the local UTC
    /// offset of a time (cached by the caller).
    pub(crate) fn write(
        &self,
        ev: &Event<'_>,
        o: &JsonOpts,
        out: &mut Vec<u8>,
        now: i64,
        offset_of: impl FnOnce(i64) -> i32,
    ) {
        // One capacity check for the whole line instead of one per field.
        out.reserve(1024);
        out.push(b'{');
        let mut first = true;
        let mut offset_of = Some(offset_of);
        for f in &self.fields {
            let mark = out.len();
            let sep = |out: &mut Vec<u8>| {
                out.extend_from_slice(if first { &f.head[2..] } else { &f.head });
            };
            let mut written = false;
            for &Pos { pos, ty, label } in &f.positions {
                let Some(v) = ev.wildcard_get(pos) else {
                    continue;
                };
                sep(out);
                let ok = match (ty, v) {
                    (KeyType::String, Value::Bytes(s)) => push_json_str(out, c_str(s)),
                    (_, Value::Bytes(_) | Value::Addr(_)) => false,
                    (_, v) if label => {
                        let allowed =
                            !matches!(v, Value::Uint(0) | Value::Int(0) | Value::Bool(false));
                        out.extend_from_slice(if allowed {
                            b"\"allowed\""
                        } else {
                            b"\"blocked\""
                        });
                        true
                    }
                    (ty, Value::Uint(x)) if ty.is_signed() => {
                        push_i64(out, x as i64);
                        true
                    }
                    (_, Value::Uint(x)) => {
                        push_u64(out, x);
                        true
                    }
                    (_, Value::Int(x)) => {
                        push_i64(out, x);
                        true
                    }
                    (_, Value::Bool(x)) => {
                        out.push(b'0' + x as u8);
                        true
                    }
                };
                if ok {
                    written = true;
                    break;
                }
                out.truncate(mark);
            }
            if !written {
                match f.fixed {
                    Fixed::None => continue,
                    Fixed::Version => {
                        sep(out);
                        out.push(b'1');
                    }
                    Fixed::Device => {
                        sep(out);
                        out.extend_from_slice(&self.device);
                    }
                    Fixed::Timestamp => {
                        sep(out);
                        let num = |p: Option<usize>| match p.and_then(|p| ev.wildcard_get(p)) {
                            Some(Value::Uint(x)) => Some(x),
                            Some(Value::Int(x)) => Some(x as u64),
                            Some(Value::Bool(x)) => Some(x as u64),
                            _ => None,
                        };
                        let secs = num(self.time_sec).map(|s| s as i64).unwrap_or(now);
                        let usec = num(self.time_usec).map(|u| u as u32);
                        let off = offset_of.take().map_or(0, |f| f(secs));
                        let tm = time::broken_down(secs, off);
                        out.push(b'"');
                        push_timestamp(out, &tm, usec, o.ts_format);
                        out.push(b'"');
                    }
                }
            }
            first = false;
        }
        out.extend_from_slice(b"}\n");
    }
}
