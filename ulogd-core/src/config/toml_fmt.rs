//! The configuration model in TOML syntax.
//!
//! * Every top-level item must be a table; each table is one section (`[global]`,
//!   `[log1]`, ...). Sections appear in file order.
//! * Values may be strings, integers (stored as decimal text, so `0x10` becomes `"16"`),
//!   booleans (stored as `"true"` / `"false"`: boolean options read them, and an
//!   integer option refuses them, so `group = true` is an error, not group 1), floats (stored as text; no
//!   ulogd option takes one, so option validation will reject them with the line), and
//!   arrays of those: every element becomes a repeated entry with the same key, which is
//!   how `stack` and `plugin` repeat. An empty array gives no entry.
//! * Nested tables, arrays of tables, nested arrays and date-times are errors naming
//!   the key.
//! * Entry lines are the line of the key (for array elements: of the element); section
//!   lines are the line of the `[header]` key.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use toml::{Spanned, Value};

use super::{ConfigFile, Entry, Section, SyntaxError};

type Top = BTreeMap<Spanned<String>, Spanned<Value>>;
type Tables = BTreeMap<Spanned<String>, BTreeMap<Spanned<String>, Spanned<Value>>>;

/// Parses the TOML form of the configuration. `origin` labels the result and errors.
pub fn parse_toml(origin: &Path, text: &str) -> Result<ConfigFile, SyntaxError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let index = Lines::new(text);
    let err = |offset: usize, message: String| SyntaxError {
        file: origin.to_path_buf(),
        line: index.line_of(offset),
        message,
    };
    let de_err = |e: toml::de::Error| SyntaxError {
        file: origin.to_path_buf(),
        line: e.span().map_or(0, |s| index.line_of(s.start)),
        message: format!("invalid TOML: {}", e.message().trim_end()),
    };

    // A plain parse reports genuine TOML syntax errors with the toml crate's own span.
    let _: toml::Table = toml::from_str(text).map_err(de_err)?;
    // The spanned parses below fail on dotted keys (`a.b = 1`, `[a.b]`), which always
    // mean a nested table; the error span points at the dotted key.
    let dotted_err = |e: toml::de::Error| {
        let line = e.span().map_or(0, |s| index.line_of(s.start));
        let shown = text
            .split('\n')
            .nth(line.saturating_sub(1))
            .unwrap_or("")
            .trim();
        SyntaxError {
            file: origin.to_path_buf(),
            line,
            message: format!(
                "dotted keys and nested tables are not supported (\"{}\"); every option \
                 must be a plain key = value inside a [section], and sections cannot nest",
                excerpt(shown)
            ),
        }
    };

    // First pass: every top-level item must be a table.
    let top: Top = toml::from_str(text).map_err(dotted_err)?;
    let first_bad = top
        .iter()
        .filter(|(_, value)| !value.get_ref().is_table())
        .min_by_key(|(key, _)| key.span().start);
    if let Some((key, value)) = first_bad {
        let message = match value.get_ref() {
            Value::Array(a) if a.iter().all(Value::is_table) && !a.is_empty() => format!(
                "[[{}]] (an array of tables) is not supported; use one [section] per plugin instance",
                key.get_ref()
            ),
            _ => format!(
                "\"{}\" is a top-level value; every option must be inside a [section] \
                 such as [global]",
                key.get_ref()
            ),
        };
        return Err(err(key.span().start, message));
    }

    // Second pass: same document, now with the span of every key inside each table.
    let tables: Tables = toml::from_str(text).map_err(dotted_err)?;
    // File order (the maps are sorted by name), so the first error reported is the
    // first one in the file.
    let mut tables: Vec<_> = tables.into_iter().collect();
    tables.sort_by_key(|(name, _)| name.span().start);
    let mut sections = Vec::with_capacity(tables.len());
    for (name, body) in tables {
        let mut entries = Vec::new();
        let mut body: Vec<_> = body.into_iter().collect();
        body.sort_by_key(|(k, _)| k.span().start);
        for (key, value) in body {
            let key_line = index.line_of(key.span().start);
            let qualified = || format!("{}.{}", name.get_ref(), key.get_ref());
            let value_span = value.span();
            match value.into_inner() {
                Value::Array(items) => {
                    let lines = element_lines(text, &index, value_span, items.len());
                    for (i, item) in items.into_iter().enumerate() {
                        let line = lines.as_ref().map_or(key_line, |l| l[i]);
                        let value =
                            scalar(item, &qualified).map_err(|m| err_at(origin, line, m))?;
                        entries.push(Entry {
                            key: key.get_ref().clone(),
                            value,
                            line,
                        });
                    }
                }
                item => {
                    let value =
                        scalar(item, &qualified).map_err(|m| err_at(origin, key_line, m))?;
                    entries.push(Entry {
                        key: key.get_ref().clone(),
                        value,
                        line: key_line,
                    });
                }
            }
        }
        sections.push(Section {
            line: index.line_of(name.span().start),
            name: name.into_inner(),
            entries,
        });
    }

    Ok(ConfigFile {
        origin: origin.to_path_buf(),
        sections,
    })
}

/// Like [`parse_toml`], but with an error for every section that has one, not only
/// the first in the file: the toml crate stops at its first error, so when the whole
/// document fails, each `[section]` is parsed again on its own (padded with blank
/// lines so its line numbers stay those of the file) and its first error kept. An
/// error only the whole document has (a section defined twice) is kept as well.
pub fn parse_toml_all(origin: &Path, text: &str) -> Result<ConfigFile, Vec<SyntaxError>> {
    let first = match parse_toml(origin, text) {
        Ok(c) => return Ok(c),
        Err(e) => e,
    };
    let mut errors = vec![first];
    for (start_line, chunk) in section_chunks(text) {
        let padded = format!("{}{chunk}", "\n".repeat(start_line - 1));
        if let Err(e) = parse_toml(origin, &padded) {
            if !errors
                .iter()
                .any(|f| f.line == e.line && f.message == e.message)
            {
                errors.push(e);
            }
        }
    }
    errors.sort_by_key(|e| e.line);
    Err(errors)
}

/// The text split before every line that is a section header (`[name]` or
/// `[[name]]`, alone on its line but for a comment): (1-based first line, text).
fn section_chunks(text: &str) -> Vec<(usize, &str)> {
    let is_header = |line: &str| {
        let l = line.split('#').next().unwrap_or("").trim();
        let inner = l
            .strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .map(|r| r.trim_start_matches('[').trim_end_matches(']'));
        inner.is_some_and(|n| {
            !n.is_empty()
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.\"' ".contains(c))
        })
    };
    let mut chunks = Vec::new();
    let (mut start, mut start_line) = (0, 1);
    let mut off = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if is_header(line) && off > start {
            chunks.push((start_line, &text[start..off]));
            start = off;
            start_line = i + 1;
        }
        off += line.len();
    }
    if start < text.len() {
        chunks.push((start_line, &text[start..]));
    }
    chunks
}

fn err_at(origin: &Path, line: usize, message: String) -> SyntaxError {
    SyntaxError {
        file: origin.to_path_buf(),
        line,
        message,
    }
}

/// Shortens `s` for quoting in a message.
fn excerpt(s: &str) -> String {
    match s.char_indices().nth(40) {
        Some((cut, _)) => format!("{}...", &s[..cut]),
        None => s.to_string(),
    }
}

/// Maps byte offsets to 1-based line numbers.
struct Lines {
    /// Byte offset just after each `\n`.
    starts: Vec<usize>,
}

impl Lines {
    fn new(text: &str) -> Self {
        let starts = text
            .bytes()
            .enumerate()
            .filter(|&(_, b)| b == b'\n')
            .map(|(i, _)| i + 1)
            .collect();
        Lines { starts }
    }

    /// 1-based line of byte `offset`.
    fn line_of(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset) + 1
    }
}

/// Converts one scalar value to the model's text form.
fn scalar(value: Value, key: &dyn Fn() -> String) -> Result<String, String> {
    Ok(match value {
        Value::String(s) => s,
        Value::Integer(i) => i.to_string(),
        Value::Boolean(b) => b.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Datetime(_) => {
            return Err(format!(
                "\"{}\": date/time values are not supported; quote it as a string",
                key()
            ))
        }
        Value::Array(_) => {
            return Err(format!(
                "\"{}\": nested arrays are not supported; use a flat list of strings",
                key()
            ))
        }
        Value::Table(_) => {
            return Err(format!(
                "\"{}\": nested tables are not supported; options must be plain \
                 key = value pairs inside their [section]",
                key()
            ))
        }
    })
}

/// Lines of the elements of the array whose text is `text[span]`, found by parsing that
/// array text again on its own with spanned elements. `None` if that fails (the caller
/// then uses the key's line).
fn element_lines(
    text: &str,
    index: &Lines,
    span: Range<usize>,
    count: usize,
) -> Option<Vec<usize>> {
    const PREFIX: &str = "v = ";
    let array_text = text.get(span.clone())?;
    if !array_text.starts_with('[') {
        return None;
    }
    let doc = format!("{PREFIX}{array_text}");
    let mut parsed: BTreeMap<String, Vec<Spanned<Value>>> = toml::from_str(&doc).ok()?;
    let items = parsed.remove("v")?;
    if items.len() != count {
        return None;
    }
    items
        .iter()
        .map(|item| {
            let start = (span.start + item.span().start).checked_sub(PREFIX.len())?;
            Some(index.line_of(start))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ConfigFile, SyntaxError> {
        parse_toml(Path::new("test.toml"), text)
    }

    fn ok(text: &str) -> ConfigFile {
        parse(text).unwrap_or_else(|e| panic!("unexpected error: {e}"))
    }

    fn err(text: &str) -> SyntaxError {
        match parse(text) {
            Ok(c) => panic!("expected an error, got {c:?}"),
            Err(e) => e,
        }
    }

    fn entries(s: &Section) -> Vec<(&str, &str, usize)> {
        s.entries
            .iter()
            .map(|e| (e.key.as_str(), e.value.as_str(), e.line))
            .collect()
    }

    #[test]
    fn example_from_docs() {
        let c = ok(r#"
[global]
logfile = "/var/log/ulogd.log"
loglevel = 3
stack = ["log1:NFLOG,base1:BASE,ifi1:IFINDEX,ip2str1:IP2STR,print1:PRINTPKT,emu1:LOGEMU"]

[log1]
group = 0

[emu1]
file = "/var/log/ulogd_syslogemu.log"
sync = true
"#);
        let names: Vec<_> = c
            .sections
            .iter()
            .map(|s| (s.name.as_str(), s.line))
            .collect();
        assert_eq!(names, vec![("global", 2), ("log1", 7), ("emu1", 10)]);
        assert_eq!(
            entries(&c.sections[0]),
            vec![
                ("logfile", "/var/log/ulogd.log", 3),
                ("loglevel", "3", 4),
                (
                    "stack",
                    "log1:NFLOG,base1:BASE,ifi1:IFINDEX,ip2str1:IP2STR,print1:PRINTPKT,emu1:LOGEMU",
                    5
                ),
            ]
        );
        assert_eq!(entries(&c.sections[1]), vec![("group", "0", 8)]);
        assert_eq!(
            entries(&c.sections[2]),
            vec![
                ("file", "/var/log/ulogd_syslogemu.log", 11),
                ("sync", "true", 12)
            ]
        );
    }

    #[test]
    fn sections_and_keys_keep_file_order() {
        let c = ok("[zeta]\nz = 1\na = 2\n[alpha]\nm = 1\n");
        let names: Vec<_> = c.sections.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, vec!["zeta", "alpha"]);
        let keys: Vec<_> = c.sections[0]
            .entries
            .iter()
            .map(|e| e.key.as_str())
            .collect();
        assert_eq!(keys, vec!["z", "a"]);
    }

    #[test]
    fn scalar_conversions() {
        let c = ok("[s]\ni = 42\nneg = -7\nhex = 0x10\nt = true\nf = false\nfl = 1.5\ns = \"a b\"\ne = \"\"\n");
        assert_eq!(
            entries(&c.sections[0]),
            vec![
                ("i", "42", 2),
                ("neg", "-7", 3),
                ("hex", "16", 4),
                ("t", "true", 5),
                ("f", "false", 6),
                ("fl", "1.5", 7),
                ("s", "a b", 8),
                ("e", "", 9),
            ]
        );
    }

    #[test]
    fn arrays_repeat_the_key_with_element_lines() {
        let c = ok("[global]\nplugin = [\n  \"a.so\",  # first\n  \"b.so\",\n]\nstack = [\"x:NFLOG\", \"y:NFCT\"]\nmixed = [1, true]\nnone = []\n");
        assert_eq!(
            entries(&c.sections[0]),
            vec![
                ("plugin", "a.so", 3),
                ("plugin", "b.so", 4),
                ("stack", "x:NFLOG", 6),
                ("stack", "y:NFCT", 6),
                ("mixed", "1", 7),
                ("mixed", "true", 7),
            ]
        );
    }

    #[test]
    fn empty_and_inline_sections() {
        let c = ok("[ct1]\n\n[ct2]\nhash_enable = 0\n");
        assert!(c.sections[0].entries.is_empty());
        assert_eq!(c.sections[0].line, 1);
        assert_eq!(c.sections[1].line, 3);
        let c = ok("log1 = { group = 5 }\n");
        assert_eq!(c.sections[0].name, "log1");
        assert_eq!(entries(&c.sections[0]), vec![("group", "5", 1)]);
    }

    #[test]
    fn quoted_keys_and_crlf_bom() {
        let c = ok("\u{feff}[\"my-sect\"]\r\n\"odd key\" = 'lit\\eral'\r\n");
        assert_eq!(c.sections[0].name, "my-sect");
        assert_eq!(entries(&c.sections[0]), vec![("odd key", "lit\\eral", 2)]);
    }

    #[test]
    fn top_level_scalar_error() {
        let e = err("# comment\nloglevel = 3\n[global]\n");
        assert_eq!(e.line, 2);
        assert_eq!(e.file, Path::new("test.toml"));
        assert!(
            e.message.contains("\"loglevel\" is a top-level value"),
            "{e}"
        );
    }

    #[test]
    fn array_of_tables_is_an_error() {
        let e = err("[global]\nloglevel = 3\n\n[[stack]]\nx = 1\n");
        assert_eq!(e.line, 4);
        assert!(e.message.contains("[[stack]]"), "{e}");
        let e = err("[global]\n[[global.inner]]\nx = 1\n");
        assert_eq!(e.line, 2);
        assert!(e.message.contains("\"global.inner\""), "{e}");
        let e = err("[global]\nstack = [{ a = 1 }]\n");
        assert_eq!(e.line, 2);
        assert!(e.message.contains("\"global.stack\""), "{e}");
        assert!(e.message.contains("nested tables"), "{e}");
    }

    #[test]
    fn nested_tables_are_errors_naming_the_key() {
        let e = err("[global]\nloglevel = 3\nsub = { a = 1 }\n");
        assert_eq!(e.line, 3);
        assert!(e.message.contains("\"global.sub\""), "{e}");
        let e = err("[log1]\ngroup = 1\n\n[log1.extra]\nx = 1\n");
        assert_eq!(e.line, 4);
        assert!(e.message.contains("log1.extra"), "{e}");
        let e = err("[log1]\na.b = 1\n");
        assert_eq!(e.line, 2);
        assert!(e.message.contains("\"a.b = 1\""), "{e}");
        assert!(e.message.contains("not supported"), "{e}");
        let e = err("global.loglevel = 3\n");
        assert_eq!(e.line, 1);
        assert!(e.message.contains("dotted keys"), "{e}");
        let e = err("[g]\nok = 1\nk = { a.b = 1 }\n");
        assert_eq!(e.line, 3);
    }

    #[test]
    fn nested_arrays_and_datetimes_are_errors() {
        let e = err("[s]\nk = [[1, 2]]\n");
        assert_eq!(e.line, 2);
        assert!(e.message.contains("nested arrays"), "{e}");
        let e = err("[s]\nok = 1\nwhen = 1979-05-27T07:32:00Z\n");
        assert_eq!(e.line, 3);
        assert!(e.message.contains("\"s.when\""), "{e}");
    }

    #[test]
    fn toml_syntax_errors_carry_the_line() {
        let e = err("[global]\nloglevel = 3\nlogfile = \"unterminated\n");
        assert_eq!(e.line, 3);
        assert!(e.message.starts_with("invalid TOML"), "{e}");
        let e = err("[global]\nk = 1\nk = 2\n");
        assert_eq!(e.line, 3);
        let e = err("[a]\n[a]\n");
        assert_eq!(e.line, 2);
        let e = err("[global]\n\n\n= 1\n");
        assert_eq!(e.line, 4);
    }

    #[test]
    fn first_error_in_file_order() {
        let e = err("[zz]\na = { x = 1 }\n[aa]\nb = { y = 1 }\n");
        assert_eq!(e.line, 2);
        assert!(e.message.contains("\"zz.a\""), "{e}");
    }

    #[test]
    fn every_section_with_an_error_is_reported() {
        let text = "[global]\nloglevel = 3\nbad = \n[log1]\ngroup = 1\n\
                    [emu1]\nfile = \"unterminated\n[j1]\nsub = { a = 1 }\n[ok]\nx = 1\n";
        let errs = parse_toml_all(Path::new("t.toml"), text).unwrap_err();
        let lines: Vec<usize> = errs.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![3, 7, 9], "{errs:?}");
        assert!(errs[0].message.starts_with("invalid TOML"), "{errs:?}");
        assert!(errs[2].message.contains("\"j1.sub\""), "{errs:?}");
        // A good file parses; a duplicate section (only the whole has it) stays one.
        assert!(parse_toml_all(Path::new("t.toml"), "[a]\nx = 1\n").is_ok());
        let errs = parse_toml_all(Path::new("t.toml"), "[a]\n[a]\n").unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].line, 2);
    }

    #[test]
    fn large_inputs() {
        let big = "x".repeat(1 << 20);
        let c = ok(&format!("[s]\nk = \"{big}\"\n"));
        assert_eq!(c.sections[0].entries[0].value.len(), 1 << 20);
        let mut text = String::from("[global]\n");
        for i in 0..20_000 {
            text.push_str(&format!("key{i} = {i}\n"));
        }
        let c = ok(&text);
        assert_eq!(c.sections[0].entries.len(), 20_000);
        assert_eq!(c.sections[0].entries[19_999].line, 20_001);
    }

    #[test]
    fn empty_document() {
        assert!(ok("").sections.is_empty());
        assert!(ok("# just a comment\n").sections.is_empty());
    }
}
