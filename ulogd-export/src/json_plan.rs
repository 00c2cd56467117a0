//! JSON's hot path: a per-stack plan derived once from the wildcard key names.
//!
//! ulogd2's JSON object collapses duplicate names (first position, last value), drops
//! some types, renames keys to their CIM alias and reads the time from the last keys
//! named `oob.time.sec` / `oob.time.usec`. All of that depends only on the key names
//! of the stack, so it is worked out once per stack ([`Plan::new`]) and each event is
//! then written with no name comparison, no hashing and no allocation. The result is
//! byte-identical to [`super::json::format_event`], the straightforward reference
//! implementation (checked by the tests below).

use ulogd_core::{Event, KeyType, Value};

use crate::file::c_str;
use crate::json::{push_json_str, push_timestamp, JsonOpts};
use crate::time;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fixed {
    None,
    Version,
    Timestamp,
    Device,
}

struct Field {
    /// `"name": `, escaped once.
    head: Vec<u8>,
    /// Wildcard positions feeding this name, in stack order, and whether the position
    /// is `raw.label` printed as `action` (boolean_label).
    positions: Vec<(usize, bool)>,
    fixed: Fixed,
}

/// What JSON prints for one stack.
pub(crate) struct Plan {
    pub(crate) id: usize,
    time_sec: Option<usize>,
    time_usec: Option<usize>,
    fields: Vec<Field>,
    device: Vec<u8>,
}

fn head(name: &str) -> Vec<u8> {
    let mut h = Vec::with_capacity(name.len() + 4);
    push_json_str(&mut h, name.as_bytes());
    h.extend_from_slice(b": ");
    h
}

impl Plan {
    /// Derives the plan from the event's wildcard keys (their names and types only).
    pub(crate) fn new(ev: &Event<'_>, o: &JsonOpts) -> Plan {
        let mut fields: Vec<Field> = Vec::new();
        let mut names: Vec<String> = Vec::new();
        let mut add =
            |name: &str, fixed: Fixed, pos: Option<(usize, bool)>, fields: &mut Vec<Field>| {
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
        for pos in 0..ev.wildcard_len() {
            let Some(d) = ev.wildcard_def(pos) else {
                continue;
            };
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
                add("action", Fixed::None, Some((pos, true)), &mut fields);
            } else {
                add(d.json_name(), Fixed::None, Some((pos, false)), &mut fields);
            }
        }
        let mut device = Vec::new();
        push_json_str(&mut device, o.device.as_bytes());
        Plan {
            id: ev.binding_id(),
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
        out.push(b'{');
        let mut first = true;
        let mut offset_of = Some(offset_of);
        for f in &self.fields {
            let mark = out.len();
            let sep = |out: &mut Vec<u8>| {
                if !first {
                    out.extend_from_slice(b", ");
                }
                out.extend_from_slice(&f.head);
            };
            let mut written = false;
            for &(pos, label) in f.positions.iter().rev() {
                let Some(v) = ev.wildcard_get(pos) else {
                    continue;
                };
                let ty = ev.wildcard_def(pos).map_or(KeyType::Any, |d| d.ty);
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

/// Appends the decimal digits of `v`.
pub(crate) fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// Appends the decimal digits of `v`, with a sign when negative.
pub(crate) fn push_i64(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    push_u64(out, v.unsigned_abs());
}

/// Caches the local UTC offset per quarter hour (offsets change on such boundaries),
/// so the hot path calls `localtime_r` about once per 15 minutes, not per event.
#[derive(Default)]
pub(crate) struct OffsetCache {
    bucket: i64,
    offset: i32,
    valid: bool,
}

impl OffsetCache {
    /// The offset of `secs`.
    pub(crate) fn get(&mut self, secs: i64) -> i32 {
        let b = secs.div_euclid(900);
        if !self.valid || b != self.bucket {
            self.bucket = b;
            self.offset = time::local_offset(secs);
            self.valid = true;
        }
        self.offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::{format_event, ObjBuilder, TsFormat};
    use ulogd_core::testing::{OwnedValue, TestSource};
    use ulogd_core::KeyDef;

    /// The sink (which runs the plan) writes exactly what the reference formatter
    /// writes for the same keys: duplicates, CIM names, dropped types, invalid UTF-8
    /// and `boolean_label`, with and without `eventv1`.
    #[test]
    fn plan_writes_what_the_reference_formatter_writes() {
        let defs = vec![
            KeyDef::new("oob.protocol", KeyType::U16),
            KeyDef::new("oob.prefix", KeyType::String),
            KeyDef::new("ip.saddr", KeyType::IpAddr),
            KeyDef::new("raw.label", KeyType::U8),
            KeyDef::new("ip.saddr.str", KeyType::String).cim("src_ip"),
            KeyDef::new("oob.protocol", KeyType::U16),
            KeyDef::new("oob.prefix", KeyType::String),
            KeyDef::new("tcp.window", KeyType::I64),
            KeyDef::new("tcp.syn", KeyType::Bool),
        ];
        let vals = vec![
            OwnedValue::Uint(1),
            OwnedValue::Bytes(b"ok \"q\"\n".to_vec()),
            OwnedValue::Addr("10.0.0.1".parse().unwrap()),
            OwnedValue::Uint(0),
            OwnedValue::Bytes(b"10.0.0.1".to_vec()),
            OwnedValue::Uint(2048),
            OwnedValue::Bytes(b"\xff".to_vec()),
            OwnedValue::Int(-5),
            OwnedValue::Bool(true),
        ];
        let dir = std::env::temp_dir().join(format!("ulogd-json-plan-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (i, (eventv1, boolean_label)) in [(false, false), (true, true)].into_iter().enumerate()
        {
            let mut reg = ulogd_core::Registry::new();
            reg.add(TestSource::spec(
                "T",
                defs.clone(),
                vec![vals.iter().cloned().enumerate().collect()],
            ));
            reg.add(crate::json::spec());
            let file = dir.join(format!("{i}.json"));
            let sections = format!(
                "[j]\nfile=\"{}\"\ntimestamp=0\neventv1={}\nboolean_label={}\n",
                file.display(),
                eventv1 as u8,
                boolean_label as u8
            );
            ulogd_core::testing::run(&reg, "t:T,j:JSON", &sections, 0).unwrap();
            let sink = std::fs::read_to_string(&file).unwrap();

            let o = JsonOpts {
                timestamp: false,
                eventv1,
                device: "Netfilter".into(),
                boolean_label,
                ts_format: TsFormat::Ulogd2,
            };
            let owned: Vec<Value<'_>> = vals
                .iter()
                .map(|v| match v {
                    OwnedValue::Uint(x) => Value::Uint(*x),
                    OwnedValue::Int(x) => Value::Int(*x),
                    OwnedValue::Bool(x) => Value::Bool(*x),
                    OwnedValue::Addr(a) => Value::Addr(*a),
                    OwnedValue::Bytes(b) => Value::Bytes(b),
                })
                .collect();
            let keys: Vec<_> = defs.iter().zip(owned.iter().map(|v| Some(*v))).collect();
            let mut out = Vec::new();
            format_event(
                &mut ObjBuilder::new(),
                &mut out,
                &o,
                || keys.clone().into_iter(),
                0,
                |_| 0,
            );
            assert_eq!(sink, String::from_utf8(out).unwrap(), "eventv1={eventv1}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn integers() {
        let mut v = Vec::new();
        for x in [0u64, 7, 10, 12345, u64::MAX] {
            v.clear();
            push_u64(&mut v, x);
            assert_eq!(v, x.to_string().as_bytes());
        }
        for x in [0i64, -1, i64::MIN, i64::MAX, -9876] {
            v.clear();
            push_i64(&mut v, x);
            assert_eq!(v, x.to_string().as_bytes());
        }
    }
}
