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
    /// The field each wildcard position feeds ([`NO_FIELD`] for keys not printed), for
    /// plans of at most [`MAX_LIVE_FIELDS`] fields: an event's set keys
    /// ([`Event::wildcard_set_positions`]) mark the fields that can print, and only
    /// those (and the fixed ones) are visited, in field order.
    by_pos: Option<Vec<u32>>,
    /// The fixed fields (`@version`, `timestamp`, `dvc`) come first.
    n_fixed: usize,
}

const NO_FIELD: u32 = u32::MAX;
/// Fields of the per-event bit set of live fields (on the stack: 64 bytes).
const MAX_LIVE_FIELDS: usize = 512;

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
        let n_fixed = fields.iter().take_while(|f| f.fixed != Fixed::None).count();
        let by_pos = (fields.len() <= MAX_LIVE_FIELDS).then(|| {
            let mut v = vec![NO_FIELD; wildcard.len()];
            for (i, f) in fields.iter().enumerate() {
                for p in &f.positions {
                    v[p.pos] = i as u32;
                }
            }
            v
        });
        Plan {
            time_sec,
            time_usec,
            fields,
            device,
            by_pos,
            n_fixed,
        }
    }

    /// Appends one field: the value of its last set key, else its fixed value, else
    /// nothing (`first` stays as it was).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn write_field(
        &self,
        f: &Field,
        ev: &Event<'_>,
        o: &JsonOpts,
        out: &mut Vec<u8>,
        now: i64,
        offset_of: &mut Option<impl FnOnce(i64) -> i32>,
        first: &mut bool,
    ) {
        let mark = out.len();
        let head: &[u8] = if *first { &f.head[2..] } else { &f.head };
        for &Pos { pos, ty, label } in &f.positions {
            let Some(v) = ev.wildcard_get(pos) else {
                continue;
            };
            out.extend_from_slice(head);
            if Self::push_value(out, ty, label, v) {
                *first = false;
                return;
            }
            out.truncate(mark);
        }
        if f.fixed != Fixed::None {
            out.extend_from_slice(head);
            self.push_fixed(f.fixed, ev, o, out, now, offset_of);
            *first = false;
        }
    }

    /// Appends value `v` of a key of type `ty`; `false` (the caller takes back the
    /// field's head) for a value JSON does not print.
    #[inline(always)]
    fn push_value(out: &mut Vec<u8>, ty: KeyType, label: bool, v: Value<'_>) -> bool {
        match (ty, v) {
            (KeyType::String, Value::Bytes(s)) => push_json_str(out, c_str(s)),
            (_, Value::Bytes(_) | Value::Addr(_)) => false,
            (_, v) if label => {
                let allowed = !matches!(v, Value::Uint(0) | Value::Int(0) | Value::Bool(false));
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
        }
    }

    /// Appends the value of a fixed field (no key of the stack set it).
    fn push_fixed(
        &self,
        fixed: Fixed,
        ev: &Event<'_>,
        o: &JsonOpts,
        out: &mut Vec<u8>,
        now: i64,
        offset_of: &mut Option<impl FnOnce(i64) -> i32>,
    ) {
        match fixed {
            Fixed::None => {}
            Fixed::Version => out.push(b'1'),
            Fixed::Device => out.extend_from_slice(&self.device),
            Fixed::Timestamp => {
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
        if let Some(by_pos) = &self.by_pos {
            let mut live = [0u64; MAX_LIVE_FIELDS / 64];
            for i in 0..self.n_fixed {
                live[i / 64] |= 1 << (i % 64);
            }
            for pos in ev.wildcard_set_positions() {
                if let Some(&i) = by_pos.get(pos).filter(|&&i| i != NO_FIELD) {
                    let i = i as usize;
                    live[i / 64] |= 1 << (i % 64);
                }
            }
            for (w, &word) in live.iter().enumerate() {
                let mut m = word;
                while m != 0 {
                    let i = w * 64 + m.trailing_zeros() as usize;
                    m &= m - 1;
                    if let Some(f) = self.fields.get(i) {
                        self.write_field(f, ev, o, out, now, &mut offset_of, &mut first);
                    }
                }
            }
        } else {
            for f in &self.fields {
                self.write_field(f, ev, o, out, now, &mut offset_of, &mut first);
            }
        }
        out.extend_from_slice(b"}\n");
    }
}
