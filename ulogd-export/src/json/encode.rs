//! JSON's leaf writers: strings escaped like jansson, numbers, timestamps, and the
//! options they depend on. Nothing here knows about events or plans.

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

/// Whether byte `b` must be escaped in a JSON string (jansson's set).
#[inline]
fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// Appends `s` as a JSON string the way jansson dumps it; `false` (and nothing
/// appended) when `s` is not valid UTF-8, since jansson's `json_string` refuses it.
///
/// Runs of plain bytes are copied in one go; only the bytes that need an escape are
/// looked at one by one (most strings of a packet log have none).
pub(crate) fn push_json_str(out: &mut Vec<u8>, s: &[u8]) -> bool {
    // The common case in one pass: plain ASCII with nothing to escape is valid
    // UTF-8 and is copied as it is.
    if !s.iter().any(|&b| needs_escape(b) || b >= 0x80) {
        out.push(b'"');
        out.extend_from_slice(s);
        out.push(b'"');
        return true;
    }
    if std::str::from_utf8(s).is_err() {
        return false;
    }
    out.push(b'"');
    let mut rest = s;
    while let Some(i) = rest.iter().position(|&b| needs_escape(b)) {
        out.extend_from_slice(&rest[..i]);
        match rest[i] {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            c => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(c >> 4) as usize]);
                out.push(HEX[(c & 0xf) as usize]);
            }
        }
        rest = &rest[i + 1..];
    }
    out.extend_from_slice(rest);
    out.push(b'"');
    true
}

/// Appends `v` as at least two digits (`%02u`, values below 100 here).
#[inline]
fn push_2(out: &mut Vec<u8>, v: u32) {
    if v >= 100 {
        push_u64(out, v as u64);
    } else {
        out.extend_from_slice(&[b'0' + (v / 10) as u8, b'0' + (v % 10) as u8]);
    }
}

/// Appends `v` zero-padded to `width` digits (`%0<width>u`).
#[inline]
fn push_padded(out: &mut Vec<u8>, v: u64, width: usize) {
    let mut digits = 1;
    let mut x = v;
    while x >= 10 {
        x /= 10;
        digits += 1;
    }
    for _ in digits..width {
        out.push(b'0');
    }
    push_u64(out, v);
}

/// Appends the timestamp text (without quotes).
///
/// By hand rather than `write!`: this runs once per event, and `core::fmt`'s padding
/// machinery cost more than the rest of the line's numbers together.
pub(crate) fn push_timestamp(out: &mut Vec<u8>, tm: &time::Tm, usec: Option<u32>, fmt: TsFormat) {
    if tm.year < 0 {
        out.push(b'-');
        push_padded(out, tm.year.unsigned_abs(), 3);
    } else {
        push_padded(out, tm.year as u64, 4);
    }
    out.push(b'-');
    push_2(out, tm.mon);
    out.push(b'-');
    push_2(out, tm.mday);
    out.push(b'T');
    push_2(out, tm.hour);
    out.push(b':');
    push_2(out, tm.min);
    out.push(b':');
    push_2(out, tm.sec);
    if let Some(u) = usec {
        out.push(b'.');
        push_padded(out, u as u64, 6);
    }
    match fmt {
        TsFormat::Ulogd2 => {
            if tm.gmtoff != 0 {
                // ulogd2: "%+03d%02d" of (gmtoff % 86400) / 3600 and |gmtoff| / 60 % 60.
                // The sign is that of the hours (so -00:30 prints as "+0030", as in
                // ulogd2).
                let g = tm.gmtoff % 86400;
                out.push(if g / 3600 < 0 { b'-' } else { b'+' });
                push_2(out, (g / 3600).unsigned_abs());
                push_2(out, (g.abs() / 60 % 60) as u32);
            }
        }
        TsFormat::Rfc3339 => {
            let g = tm.gmtoff;
            out.push(if g < 0 { b'-' } else { b'+' });
            push_2(out, (g.abs() / 3600) as u32);
            out.push(b':');
            push_2(out, (g.abs() / 60 % 60) as u32);
        }
    }
}

/// Appends the decimal digits of `v` (itoa's two-digits-at-a-time table).
#[inline]
pub(crate) fn push_u64(out: &mut Vec<u8>, v: u64) {
    if v < 10 {
        out.push(b'0' + v as u8);
        return;
    }
    let mut buf = itoa::Buffer::new();
    out.extend_from_slice(buf.format(v).as_bytes());
}

/// Appends the decimal digits of `v`, with a sign when negative.
pub(crate) fn push_i64(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    push_u64(out, v.unsigned_abs());
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
        // Every byte below 0x80 alone and in a run, against serde-free expectations.
        for c in 0u8..0x80 {
            let mut v = Vec::new();
            assert!(push_json_str(&mut v, &[b'a', c, b'b']));
            let mid = match c {
                b'"' => "\\\"".to_string(),
                b'\\' => "\\\\".to_string(),
                b'\n' => "\\n".to_string(),
                b'\r' => "\\r".to_string(),
                b'\t' => "\\t".to_string(),
                0x08 => "\\b".to_string(),
                0x0c => "\\f".to_string(),
                c if c < 0x20 => format!("\\u{:04X}", c),
                c => (c as char).to_string(),
            };
            assert_eq!(String::from_utf8(v).unwrap(), format!("\"a{mid}b\""));
        }
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
        // ulogd2 takes the sign from the hours: half an hour west prints "+0030".
        v.clear();
        push_timestamp(&mut v, &time::broken_down(t, -1800), None, TsFormat::Ulogd2);
        assert_eq!(v, b"2026-11-24T21:54:29+0030");
        v.clear();
        push_timestamp(
            &mut v,
            &time::broken_down(t, -1800),
            None,
            TsFormat::Rfc3339,
        );
        assert_eq!(v, b"2026-11-24T21:54:29-00:30");
        // Against core::fmt over a spread of dates, offsets and microseconds.
        for k in 0..2000i64 {
            let secs = -62_135_596_800 + k * 1_234_567_891;
            let off = ((k * 977) % 100_000 - 50_000) as i32;
            let tm = time::broken_down(secs, off);
            let usec = (k % 3 != 0).then_some((k * 7919 % 1_000_000) as u32);
            let mut want = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                tm.year, tm.mon, tm.mday, tm.hour, tm.min, tm.sec
            );
            if let Some(u) = usec {
                want.push_str(&format!(".{u:06}"));
            }
            let g = tm.gmtoff % 86400;
            if g != 0 {
                want.push_str(&format!("{:+03}{:02}", g / 3600, g.abs() / 60 % 60));
            }
            v.clear();
            push_timestamp(&mut v, &tm, usec, TsFormat::Ulogd2);
            assert_eq!(String::from_utf8(v.clone()).unwrap(), want);
        }
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
