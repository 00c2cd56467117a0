//! Shared parts of the SQL outputs (SQLITE3, PGSQL): ulogd2's column-to-key mapping
//! and the rendering of key values as SQL values.
//!
//! Mapping (ulogd2's rule): a column `orig_ip_saddr_str` takes the key
//! `orig.ip.saddr.str` (lower case, `_` → `.`). Values: integers whole (64-bit),
//! addresses as text (`192.0.2.1`, `2001:db8::1`; ulogd2 stored IPv4 as a
//! network-order integer and IPv6 as 0), booleans as 0/1, strings as text, raw bytes
//! as a blob, IP2BIN's raw strings (`0x...`) verbatim, unset keys as NULL.

pub(crate) mod pgconn;
pub(crate) mod pgsql;
pub(crate) mod sqlite;

use std::fmt::{self, Write as _};
use std::net::IpAddr;

use ulogd_core::{Event, KeyType, Value};

/// The key a column stands for: lower case, `_` → `.`.
pub(crate) fn column_to_key(col: &str) -> String {
    col.to_ascii_lowercase().replace('_', ".")
}

/// The column a key is stored in: `.` → `_`.
pub(crate) fn key_to_column(key: &str) -> String {
    key.replace('.', "_")
}

/// Whether a column is ulogd2's inactive id column: the first one, starting with `_`.
pub(crate) fn is_inactive_column(pos: usize, col: &str) -> bool {
    pos == 0 && col.starts_with('_')
}

/// One key's value, ready for SQL.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum SqlValue<'a> {
    /// Unset or unbound.
    Null,
    /// Unsigned integer (any width).
    Uint(u64),
    /// Signed integer.
    Int(i64),
    /// Boolean.
    Bool(bool),
    /// Address.
    Addr(IpAddr),
    /// Text (may be invalid UTF-8: kernel prefixes).
    Text(&'a [u8]),
    /// Raw bytes.
    Blob(&'a [u8]),
    /// IP2BIN's raw SQL text (`0x...`).
    RawStr(&'a [u8]),
}

/// Converts a key value of type `ty`.
pub(crate) fn from_value(v: Option<Value<'_>>, ty: KeyType) -> SqlValue<'_> {
    match v {
        None => SqlValue::Null,
        Some(Value::Uint(x)) if ty == KeyType::Bool => SqlValue::Bool(x != 0),
        Some(Value::Uint(x)) => SqlValue::Uint(x),
        Some(Value::Int(x)) => SqlValue::Int(x),
        Some(Value::Bool(b)) => SqlValue::Bool(b),
        Some(Value::Addr(a)) => SqlValue::Addr(a),
        Some(Value::Bytes(b)) => match ty {
            KeyType::Raw => SqlValue::Blob(b),
            KeyType::RawStr => SqlValue::RawStr(b),
            _ => SqlValue::Text(b),
        },
    }
}

/// Input `i` of `ev` as an SQL value (the type comes from the bound producer).
pub(crate) fn input_value<'e>(ev: &'e Event<'_>, i: usize) -> SqlValue<'e> {
    let ty = ev.input_def(i).map_or(KeyType::Any, |d| d.ty);
    from_value(ev.get(i), ty)
}

/// A fixed buffer for formatting an address or a number without allocating.
pub(crate) struct StackText {
    buf: [u8; 48],
    len: usize,
}

impl StackText {
    /// Empty.
    pub(crate) fn new() -> StackText {
        StackText {
            buf: [0; 48],
            len: 0,
        }
    }
    /// Formats `v` (anything that fits in 48 bytes: addresses, integers).
    pub(crate) fn of(v: impl fmt::Display) -> StackText {
        let mut s = StackText::new();
        let _ = write!(s, "{v}");
        s
    }
    /// The text.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl fmt::Write for StackText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            return Err(fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Whether IP2BIN-style raw SQL text is safe to paste unquoted (`0x` and hex digits).
pub(crate) fn is_safe_rawstr(b: &[u8]) -> bool {
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_hexdigit() || *c == b'x' || *c == b'X')
}

/// Appends `v` as a PostgreSQL literal: numbers bare, everything else quoted
/// (`E'...'`, so the result does not depend on `standard_conforming_strings`).
/// Quoted literals are of type `unknown`, so they fit `inet`, `boolean`, integer and
/// text parameters of the shipped functions alike.
pub(crate) fn push_pg_literal(out: &mut String, v: &SqlValue<'_>) {
    match *v {
        SqlValue::Null => out.push_str("NULL"),
        SqlValue::Uint(x) => {
            let _ = write!(out, "{x}");
        }
        SqlValue::Int(x) => {
            let _ = write!(out, "{x}");
        }
        SqlValue::Bool(b) => out.push_str(if b { "'1'" } else { "'0'" }),
        SqlValue::Addr(a) => {
            let _ = write!(out, "'{a}'");
        }
        SqlValue::Text(b) => {
            out.push_str("E'");
            for chunk in b.utf8_chunks() {
                for c in chunk.valid().chars() {
                    match c {
                        '\'' => out.push_str("''"),
                        '\\' => out.push_str("\\\\"),
                        '\0' => {}
                        c => out.push(c),
                    }
                }
                if !chunk.invalid().is_empty() {
                    out.push(char::REPLACEMENT_CHARACTER);
                }
            }
            out.push('\'');
        }
        SqlValue::Blob(b) => {
            out.push_str("E'\\\\x");
            for byte in b {
                let _ = write!(out, "{byte:02x}");
            }
            out.push('\'');
        }
        SqlValue::RawStr(b) => {
            if is_safe_rawstr(b) {
                // Checked: ASCII hex digits and 'x' only.
                out.extend(b.iter().map(|&c| c as char));
            } else {
                out.push_str("NULL");
            }
        }
    }
}

/// The SQLite column type for a key type (tables made by `create_table`).
pub(crate) fn sqlite_type(ty: KeyType) -> &'static str {
    match ty {
        KeyType::Raw => "BLOB",
        KeyType::IpAddr | KeyType::String | KeyType::RawStr | KeyType::Any => "TEXT",
        _ => "INTEGER",
    }
}

/// Logs a loss at the first occurrence and then at every power of two and every
/// 10000th, so a long outage is visible without flooding the log.
pub(crate) fn worth_logging(count: u64) -> bool {
    count.is_power_of_two() || count.is_multiple_of(10_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping() {
        assert_eq!(column_to_key("orig_ip_saddr_str"), "orig.ip.saddr.str");
        assert_eq!(column_to_key("Oob_Prefix"), "oob.prefix");
        assert_eq!(key_to_column("orig.ip.saddr.str"), "orig_ip_saddr_str");
        assert!(is_inactive_column(0, "_id"));
        assert!(!is_inactive_column(1, "_id"));
        assert!(!is_inactive_column(0, "id"));
    }

    #[test]
    fn pg_literals() {
        let mut s = String::new();
        for v in [
            SqlValue::Null,
            SqlValue::Uint(u64::MAX),
            SqlValue::Int(-5),
            SqlValue::Bool(true),
            SqlValue::Addr("2001:db8::1".parse().unwrap()),
            SqlValue::Text(b"it's a \\ \0x\xff"),
            SqlValue::Blob(&[0xde, 0xad]),
            SqlValue::RawStr(b"0x0a"),
            SqlValue::RawStr(b"1); drop table x; --"),
        ] {
            push_pg_literal(&mut s, &v);
            s.push(',');
        }
        assert_eq!(
            s,
            "NULL,18446744073709551615,-5,'1','2001:db8::1',E'it''s a \\\\ x\u{fffd}',E'\\\\xdead',0x0a,NULL,"
        );
    }

    #[test]
    fn stack_text() {
        let t = StackText::of(
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"
                .parse::<IpAddr>()
                .unwrap(),
        );
        assert_eq!(t.as_bytes(), b"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe");
        assert_eq!(StackText::of(u64::MAX).as_bytes(), b"18446744073709551615");
    }
}
