//! The reference JSON formatter, for tests only: one straightforward pass over the
//! keys per event, names compared every time, exactly as ulogd2 builds its jansson
//! object. The sink runs the precomputed [`super::plan::Plan`] instead; the tests here
//! check that both write the same bytes (and the golden tests check the sink against
//! ulogd2's own output).

use std::io::Write;

use ulogd_core::{KeyDef, KeyType, Value};

use super::encode::{push_json_str, push_timestamp, JsonOpts, TsFormat};
use crate::output::c_str;
use crate::time;

/// Builds objects into reused buffers: keys collapse on the first position, the last
/// value wins (jansson's `json_object_set_new` on an existing key).
pub(crate) struct ObjBuilder {
    names: Vec<u8>,
    vals: Vec<u8>,
    /// (name range, value range)
    fields: Vec<((u32, u32), (u32, u32))>,
}

impl ObjBuilder {
    pub fn new() -> ObjBuilder {
        ObjBuilder {
            names: Vec::with_capacity(1024),
            vals: Vec::with_capacity(2048),
            fields: Vec::with_capacity(64),
        }
    }

    fn clear(&mut self) {
        self.names.clear();
        self.vals.clear();
        self.fields.clear();
    }

    /// Sets `name` to the value `write` appends to the value buffer; if `write`
    /// returns false (a refused string), nothing changes.
    fn set(&mut self, name: &str, write: impl FnOnce(&mut Vec<u8>) -> bool) {
        let vs = self.vals.len();
        if !write(&mut self.vals) {
            self.vals.truncate(vs);
            return;
        }
        let vr = (vs as u32, self.vals.len() as u32);
        let nb = name.as_bytes();
        for f in self.fields.iter_mut() {
            if &self.names[f.0 .0 as usize..f.0 .1 as usize] == nb {
                f.1 = vr;
                return;
            }
        }
        let ns = self.names.len() as u32;
        self.names.extend_from_slice(nb);
        self.fields.push(((ns, self.names.len() as u32), vr));
    }

    fn dump(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        for (i, (n, v)) in self.fields.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(b", ");
            }
            // Names are UTF-8 (&str); escape like jansson.
            push_json_str(out, &self.names[n.0 as usize..n.1 as usize]);
            out.extend_from_slice(b": ");
            out.extend_from_slice(&self.vals[v.0 as usize..v.1 as usize]);
        }
        out.push(b'}');
    }
}

/// Formats one event as a JSON line (with the trailing `\n`). `now` is used when no
/// `oob.time.sec` is set; `offset_of` gives the UTC offset of a time.
pub(crate) fn format_event<'a, I>(
    b: &mut ObjBuilder,
    out: &mut Vec<u8>,
    o: &JsonOpts,
    keys: impl Fn() -> I,
    now: i64,
    offset_of: impl Fn(i64) -> i32,
) where
    I: Iterator<Item = (&'a KeyDef, Option<Value<'a>>)>,
{
    b.clear();
    if o.eventv1 {
        b.set("@version", |v| {
            v.push(b'1');
            true
        });
    }
    if o.timestamp {
        // ulogd2 takes the last input named oob.time.sec / oob.time.usec.
        let (mut sec, mut usec) = (None, None);
        for (d, v) in keys() {
            if d.name == "oob.time.sec" {
                sec = Some(v);
            } else if d.name == "oob.time.usec" {
                usec = Some(v);
            }
        }
        let num = |v: Option<Option<Value<'_>>>| match v.flatten() {
            Some(Value::Uint(x)) => Some(x),
            Some(Value::Int(x)) => Some(x as u64),
            Some(Value::Bool(x)) => Some(x as u64),
            _ => None,
        };
        let secs = num(sec).map(|s| s as i64).unwrap_or(now);
        let usec = num(usec).map(|u| u as u32);
        let tm = time::broken_down(secs, offset_of(secs));
        let name = if o.eventv1 { "@timestamp" } else { "timestamp" };
        b.set(name, |v| {
            v.push(b'"');
            push_timestamp(v, &tm, usec, o.ts_format);
            v.push(b'"');
            true
        });
    }
    b.set("dvc", |v| push_json_str(v, o.device.as_bytes()));
    for (d, v) in keys() {
        let Some(v) = v else { continue };
        let name = d.json_name();
        match (d.ty, v) {
            (KeyType::String, Value::Bytes(s)) => b.set(name, |out| push_json_str(out, c_str(s))),
            (KeyType::I64 | KeyType::IpAddr | KeyType::Raw | KeyType::RawStr | KeyType::Any, _) => {
            }
            (_, Value::Bytes(_) | Value::Addr(_)) => {}
            (ty, v) => {
                if o.boolean_label && d.name == "raw.label" && ty == KeyType::U8 {
                    let allowed = !matches!(v, Value::Uint(0) | Value::Int(0) | Value::Bool(false));
                    let label: &[u8] = if allowed { b"allowed" } else { b"blocked" };
                    b.set("action", |out| push_json_str(out, label));
                    continue;
                }
                b.set(name, |out| {
                    let _ = match v {
                        Value::Uint(x) if ty.is_signed() => write!(out, "{}", x as i64),
                        Value::Uint(x) => write!(out, "{x}"),
                        Value::Int(x) => write!(out, "{x}"),
                        Value::Bool(x) => write!(out, "{}", x as u8),
                        _ => Ok(()),
                    };
                    true
                });
            }
        }
    }
    b.dump(out);
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use ulogd_core::testing::{OwnedValue, TestSource};

    fn opts() -> JsonOpts {
        JsonOpts {
            timestamp: true,
            eventv1: false,
            device: "Netfilter".into(),
            boolean_label: false,
            ts_format: TsFormat::Ulogd2,
        }
    }

    #[test]
    fn duplicates_first_position_last_value() {
        let p = KeyDef::new("oob.protocol", KeyType::U16);
        let s = KeyDef::new("ip.saddr.str", KeyType::String).cim("src_ip");
        let a = KeyDef::new("ip.saddr", KeyType::IpAddr);
        let l = KeyDef::new("raw.label", KeyType::U8);
        let bad = KeyDef::new("oob.prefix", KeyType::String);
        let keys = vec![
            (&p, Some(Value::Uint(1))),
            (&bad, Some(Value::Bytes(b"ok"))),
            (&a, Some(Value::Addr("10.0.0.1".parse().unwrap()))),
            (&l, Some(Value::Uint(1))),
            (&s, Some(Value::Bytes(b"10.0.0.1"))),
            (&p, Some(Value::Uint(2048))),
            (&bad, Some(Value::Bytes(b"\xff"))),
        ];
        let mut b = ObjBuilder::new();
        let mut out = Vec::new();
        let mut o = opts();
        o.timestamp = false;
        format_event(&mut b, &mut out, &o, || keys.clone().into_iter(), 0, |_| 0);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"dvc\": \"Netfilter\", \"oob.protocol\": 2048, \"oob.prefix\": \"ok\", \"raw.label\": 1, \"src_ip\": \"10.0.0.1\"}\n"
        );
        o.boolean_label = true;
        o.eventv1 = true;
        o.timestamp = true;
        let mut out = Vec::new();
        format_event(&mut b, &mut out, &o, || keys.clone().into_iter(), 0, |_| 0);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"@version\": 1, \"@timestamp\": \"1970-01-01T00:00:00\", \"dvc\": \"Netfilter\", \"oob.protocol\": 2048, \"oob.prefix\": \"ok\", \"action\": \"allowed\", \"src_ip\": \"10.0.0.1\"}\n"
        );
    }

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
            reg.add(super::super::spec());
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
}
