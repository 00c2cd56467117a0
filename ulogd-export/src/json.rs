//! JSON: one object per event, byte-compatible with ulogd2 2.0.8 (jansson
//! `json_dumps(obj, 0)`: `", "` and `": "` separators, insertion order), to a file or
//! over TCP, UDP or a unix stream socket.

use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ulogd_core::{
    Built, Event, Inputs, KeyDef, KeyType, Kind, OptionDef, PluginError, PluginSpec, Ret, Signal,
    Stage, Value,
};

use crate::file::{c_str, OutFile};
use crate::net::{Endpoint, NetConn};
use crate::time;

/// How the timestamp is rendered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TsFormat {
    /// ulogd2 2.0.8: local time, `±HHMM` appended only when the offset is not 0.
    Ulogd2,
    /// RFC 3339: local time with an explicit `±HH:MM` offset (`+00:00` on UTC).
    Rfc3339,
}

/// Appends `s` as a JSON string the way jansson dumps it; `false` (and nothing
/// appended) when `s` is not valid UTF-8, since jansson's `json_string` refuses it.
pub(crate) fn push_json_str(out: &mut Vec<u8>, s: &[u8]) -> bool {
    if std::str::from_utf8(s).is_err() {
        return false;
    }
    out.push(b'"');
    for &b in s {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            c if c < 0x20 => {
                let _ = write!(out, "\\u{:04X}", c);
            }
            c => out.push(c),
        }
    }
    out.push(b'"');
    true
}

/// Appends the timestamp text (without quotes).
pub(crate) fn push_timestamp(out: &mut Vec<u8>, tm: &time::Tm, usec: Option<u32>, fmt: TsFormat) {
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        tm.year, tm.mon, tm.mday, tm.hour, tm.min, tm.sec
    );
    if let Some(u) = usec {
        let _ = write!(out, ".{u:06}");
    }
    match fmt {
        TsFormat::Ulogd2 => {
            if tm.gmtoff != 0 {
                // ulogd2: "%+03d%02d" of (gmtoff % 86400) / 3600 and |gmtoff| / 60 % 60.
                let g = tm.gmtoff % 86400;
                let _ = write!(out, "{:+03}{:02}", g / 3600, g.abs() / 60 % 60);
            }
        }
        TsFormat::Rfc3339 => {
            let g = tm.gmtoff;
            let sign = if g < 0 { '-' } else { '+' };
            let _ = write!(out, "{sign}{:02}:{:02}", g.abs() / 3600, g.abs() / 60 % 60);
        }
    }
}

/// JSON options.
#[derive(Clone, Debug)]
pub(crate) struct JsonOpts {
    pub timestamp: bool,
    pub eventv1: bool,
    pub device: String,
    pub boolean_label: bool,
    pub ts_format: TsFormat,
}

/// Builds objects into reused buffers: keys collapse on the first position, the last
/// value wins (jansson's `json_object_set_new` on an existing key).
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) struct ObjBuilder {
    names: Vec<u8>,
    vals: Vec<u8>,
    /// (name range, value range)
    fields: Vec<((u32, u32), (u32, u32))>,
}

#[cfg_attr(not(test), allow(dead_code))]
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
/// The reference formatter (one pass over the keys, names compared per event); the
/// sink runs the equivalent precomputed [`crate::json_plan::Plan`], and the tests check
/// both against ulogd2's golden output.
#[cfg_attr(not(test), allow(dead_code))]
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

enum Out {
    File(OutFile),
    Net(NetConn),
}

struct Inner {
    out: Out,
    buf: Vec<u8>,
    /// One plan per stack feeding this instance (see [`crate::json_plan`]).
    plans: Vec<crate::json_plan::Plan>,
    tz: crate::json_plan::OffsetCache,
}

/// The JSON sink.
pub(crate) struct JsonStage {
    opts: JsonOpts,
    inner: Mutex<Inner>,
}

impl JsonStage {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Stage for JsonStage {
    fn start(&self) -> Result<(), PluginError> {
        let mut g = self.lock();
        match &mut g.out {
            Out::File(f) => f
                .open()
                .map(|_| ())
                .map_err(|e| PluginError::new(format!("JSON: can't open {}: {e}", f.path()))),
            Out::Net(c) => {
                c.connect_now();
                if !c.is_connected() {
                    log::warn!(
                        "JSON: {} is not reachable; events are dropped until it is",
                        c.ep.describe()
                    );
                }
                Ok(())
            }
        }
    }

    fn interp(&self, ev: &mut Event<'_>) -> Ret {
        let mut g = self.lock();
        let Inner {
            out,
            buf,
            plans,
            tz,
            ..
        } = &mut *g;
        buf.clear();
        let id = ev.binding_id();
        let plan = match plans.iter().position(|p| p.id == id) {
            Some(i) => &plans[i],
            None => {
                plans.push(crate::json_plan::Plan::new(ev, &self.opts));
                plans.last().expect("just pushed")
            }
        };
        plan.write(ev, &self.opts, buf, time::now().0, |s| tz.get(s));
        let ok = match out {
            Out::File(f) => f.write_record(buf),
            Out::Net(c) => c.send(buf),
        };
        if ok {
            Ret::Ok
        } else {
            Ret::Err
        }
    }

    fn signal(&self, sig: Signal) {
        if sig != Signal::Hup {
            return;
        }
        let mut g = self.lock();
        match &mut g.out {
            Out::File(f) => {
                f.flush();
                if let Err(e) = f.open() {
                    log::error!("JSON: can't reopen {}: {e}", f.path());
                }
            }
            Out::Net(c) => c.drop_socket(),
        }
    }

    fn tick(&self) {
        let ep = {
            let mut g = self.lock();
            match &mut g.out {
                Out::File(f) => {
                    f.flush();
                    return;
                }
                Out::Net(c) => {
                    c.check_peer();
                    c.reconnect_due()
                }
            }
        };
        if let Some(ep) = ep {
            // Connect without the lock: workers keep running (and count lost events).
            let r = ep.connect();
            if let Out::Net(c) = &mut self.lock().out {
                c.install(r);
            }
        }
    }

    fn tick_interval(&self) -> Option<Duration> {
        Some(Duration::from_secs(1))
    }

    fn flush(&self) {
        if let Out::File(f) = &mut self.lock().out {
            f.flush();
        }
    }

    fn stop(&self) {
        match &mut self.lock().out {
            Out::File(f) => f.close(&[]),
            Out::Net(c) => c.drop_socket(),
        }
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        match &self.lock().out {
            Out::File(f) => vec![("lines", f.lines), ("write_errors", f.errors)],
            Out::Net(c) => vec![("sent", c.sent), ("lost", c.lost), ("connects", c.connects)],
        }
    }
}

/// The JSON plugin.
pub(crate) fn spec() -> PluginSpec {
    PluginSpec {
        name: "JSON",
        aliases: &[],
        kind: Kind::Sink,
        summary: "one JSON object per event, to a file or a tcp/udp/unix socket",
        options: vec![
            OptionDef::string(
                "file",
                "/var/log/ulogd.json",
                "output file, or socket path in unix mode",
            ),
            OptionDef::boolean("sync", "0", "flush after every line (file mode)"),
            OptionDef::boolean("timestamp", "1", "add a timestamp field"),
            OptionDef::boolean("eventv1", "0", "Logstash event v1 (@version, @timestamp)"),
            OptionDef::string("device", "Netfilter", "value of the dvc field"),
            OptionDef::boolean(
                "boolean_label",
                "0",
                "print raw.label as action: allowed|blocked",
            ),
            OptionDef::string("mode", "file", "file, tcp, udp or unix"),
            OptionDef::string("host", "127.0.0.1", "host name or address (tcp/udp)"),
            OptionDef::string("port", "12345", "port (tcp/udp)"),
            OptionDef::string(
                "timestamp_format",
                "ulogd2",
                "ulogd2 (as 2.0.8: no offset on UTC hosts) or rfc3339 (explicit offset)",
            ),
        ],
        inputs: vec![],
        outputs: vec![],
        wildcard: true,
        build: Box::new(|ctx| {
            let o = ctx.options;
            let ts_format = match o.str("timestamp_format").to_ascii_lowercase().as_str() {
                "ulogd2" => TsFormat::Ulogd2,
                "rfc3339" => TsFormat::Rfc3339,
                other => {
                    return Err(PluginError::new(
                        o.error(
                            "timestamp_format",
                            format!("must be ulogd2 or rfc3339, not \"{other}\""),
                        )
                        .to_string(),
                    ))
                }
            };
            let file = o.str("file");
            let out = match o.str("mode").to_ascii_lowercase().as_str() {
                "file" => Out::File(OutFile::new(file, o.bool("sync"))),
                "tcp" => Out::Net(NetConn::new(Endpoint::Tcp(
                    o.str("host").into(),
                    o.str("port").into(),
                ))),
                "udp" => Out::Net(NetConn::new(Endpoint::Udp(
                    o.str("host").into(),
                    o.str("port").into(),
                ))),
                "unix" => {
                    if file.is_empty() || file.len() >= 108 {
                        return Err(PluginError::new(
                            o.error("file", "unix socket path must be 1 to 107 bytes long")
                                .to_string(),
                        ));
                    }
                    Out::Net(NetConn::new(Endpoint::Unix(file.into())))
                }
                other => {
                    return Err(PluginError::new(
                        o.error(
                            "mode",
                            format!("must be file, tcp, udp or unix, not \"{other}\""),
                        )
                        .to_string(),
                    ))
                }
            };
            if let Out::Net(c) = &out {
                if let Endpoint::Tcp(_, p) | Endpoint::Udp(_, p) = &c.ep {
                    if p.parse::<u16>().is_err() {
                        return Err(PluginError::new(
                            o.error("port", "must be a port number").to_string(),
                        ));
                    }
                }
            }
            Ok(Built::Stage {
                stage: Arc::new(JsonStage {
                    opts: JsonOpts {
                        timestamp: o.bool("timestamp"),
                        eventv1: o.bool("eventv1"),
                        device: o.str("device").to_string(),
                        boolean_label: o.bool("boolean_label"),
                        ts_format,
                    },
                    inner: Mutex::new(Inner {
                        out,
                        buf: Vec::with_capacity(4096),
                        plans: Vec::new(),
                        tz: Default::default(),
                    }),
                }),
                inputs: Inputs::All,
                outputs: vec![],
            })
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn escaping_like_jansson() {
        let mut v = Vec::new();
        assert!(push_json_str(&mut v, b"a\"b\\c/d\n\x01\x7f\xc3\xa9"));
        assert_eq!(v, b"\"a\\\"b\\\\c/d\\n\\u0001\x7f\xc3\xa9\"");
        let mut v = Vec::new();
        assert!(!push_json_str(&mut v, b"bad\xff"));
        assert!(v.is_empty());
    }

    #[test]
    fn timestamps() {
        let t = 1_795_559_069;
        let mut v = Vec::new();
        push_timestamp(
            &mut v,
            &time::broken_down(t, 0),
            Some(981723),
            TsFormat::Ulogd2,
        );
        assert_eq!(v, b"2026-11-24T22:24:29.981723");
        v.clear();
        push_timestamp(&mut v, &time::broken_down(t, 3600), None, TsFormat::Ulogd2);
        assert_eq!(v, b"2026-11-24T23:24:29+0100");
        v.clear();
        push_timestamp(
            &mut v,
            &time::broken_down(t, -12600),
            None,
            TsFormat::Ulogd2,
        );
        assert_eq!(v, b"2026-11-24T18:54:29-0330");
        v.clear();
        push_timestamp(&mut v, &time::broken_down(t, 0), Some(5), TsFormat::Rfc3339);
        assert_eq!(v, b"2026-11-24T22:24:29.000005+00:00");
        v.clear();
        push_timestamp(
            &mut v,
            &time::broken_down(t, 19800),
            None,
            TsFormat::Rfc3339,
        );
        assert_eq!(v, b"2026-11-25T03:54:29+05:30");
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
}
