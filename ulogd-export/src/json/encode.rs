//! JSON's leaf writers: strings escaped like jansson, numbers, timestamps, and the
//! options they depend on. Nothing here knows about events or plans.

use std::io::Write;

use crate::time;

/// How the timestamp is rendered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TsFormat {
    /// ulogd2 2.0.8: local time, `±HHMM` appended only when the offset is not 0.
    Ulogd2,
    /// RFC 3339: local time with an explicit `±HH:MM` offset (`+00:00` on UTC).
    Rfc3339,
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
