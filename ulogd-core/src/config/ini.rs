//! `ulogd.conf` ini syntax.
//!
//! Accepted syntax (a superset of what real ulogd2 2.0.8 configs use):
//!
//! * `[section]` headers (whitespace inside the brackets is trimmed, a trailing `#`/`;`
//!   comment after `]` is allowed, anything else is an error);
//! * `key=value` or `key = value`; keys are `[A-Za-z0-9_.-]+`, case-sensitive;
//! * values are either `"double quoted"` (may contain spaces; `\"` and `\\` are escapes,
//!   any other backslash is kept literally) or a single unquoted word (everything up to
//!   the first whitespace; a `#` inside the word is part of the value, as in ulogd2,
//!   but a value cannot *start* with `#` or `;` unless quoted: `key = # note` is an
//!   empty value with a comment);
//! * after the value only whitespace and a trailing comment starting with `#` or `;`
//!   may follow — other text is an error (ulogd2 silently ignores it, which hides typos);
//! * `key=` and `key=""` both give an empty value;
//! * lines whose first non-blank character is `#` or `;` are comments, blank lines are
//!   ignored, CRLF line ends and a leading UTF-8 BOM are tolerated;
//! * repeated keys and repeated sections are kept, in file order;
//! * an entry before the first section header is an error.
//!
//! There are no length limits (ulogd2 rejects lines over ~253 bytes).

use std::path::Path;

use super::{ConfigFile, Entry, Section, SyntaxError};

/// Longest excerpt of offending text quoted in an error message, in characters.
const EXCERPT_CHARS: usize = 40;

/// Parses ulogd.conf ini syntax. `origin` is only used to label the result and errors.
/// Stops at nothing: the first error is returned; [`parse_ini_all`] has them all.
pub fn parse_ini(origin: &Path, text: &str) -> Result<ConfigFile, SyntaxError> {
    parse_ini_all(origin, text).map_err(|mut v| v.swap_remove(0))
}

/// Like [`parse_ini`], but every syntax error of the file, in line order, so that
/// `--check` can list them all in one run. A bad line is skipped and parsing goes on.
pub fn parse_ini_all(origin: &Path, text: &str) -> Result<ConfigFile, Vec<SyntaxError>> {
    let mut errors: Vec<SyntaxError> = Vec::new();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut sections: Vec<Section> = Vec::new();
    let err = |line: usize, message: String| SyntaxError {
        file: origin.to_path_buf(),
        line,
        message,
    };

    for (idx, raw) in text.split('\n').enumerate() {
        let line_no = idx + 1;
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let line = raw.trim_start_matches(is_blank);
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }

        if let Some(rest) = line.strip_prefix('[') {
            let name = match parse_header(rest) {
                Ok(n) => n,
                Err(m) => {
                    errors.push(err(line_no, m));
                    continue;
                }
            };
            sections.push(Section {
                name,
                line: line_no,
                entries: Vec::new(),
            });
            continue;
        }

        let (key, value) = match parse_entry(line) {
            Ok(kv) => kv,
            Err(m) => {
                errors.push(err(line_no, m));
                continue;
            }
        };
        let Some(section) = sections.last_mut() else {
            errors.push(err(
                line_no,
                format!(
                    "option \"{}\" appears before any [section] header; \
                     put it under [global] or a plugin instance section",
                    excerpt(&key)
                ),
            ));
            continue;
        };
        section.entries.push(Entry {
            key,
            value,
            line: line_no,
        });
    }

    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(ConfigFile {
        origin: origin.to_path_buf(),
        sections,
    })
}

fn is_blank(c: char) -> bool {
    c.is_ascii_whitespace() || c == '\u{0b}'
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

/// Shortens `s` for quoting in a message.
fn excerpt(s: &str) -> String {
    let s = s.trim_end_matches(is_blank);
    match s.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}...", &s[..cut]),
        None => s.to_string(),
    }
}

/// `rest` is the header line after its `[`.
fn parse_header(rest: &str) -> Result<String, String> {
    let Some(close) = rest.find(']') else {
        return Err(format!(
            "section header \"[{}\" is missing its closing ']'",
            excerpt(rest)
        ));
    };
    let name = rest[..close].trim_matches(is_blank);
    if name.is_empty() {
        return Err("empty section name \"[]\"".to_string());
    }
    if let Some(bad) = name.chars().find(|&c| !is_key_char(c)) {
        return Err(format!(
            "invalid character {bad:?} in section name \"[{}]\" \
             (allowed: letters, digits, '_', '.', '-')",
            excerpt(name)
        ));
    }
    check_trailing(&rest[close + 1..], "section header")?;
    Ok(name.to_string())
}

/// Accepts only blanks, optionally followed by a `#` or `;` comment.
fn check_trailing(after: &str, what: &str) -> Result<(), String> {
    let after = after.trim_start_matches(is_blank);
    if after.is_empty() || after.starts_with('#') || after.starts_with(';') {
        Ok(())
    } else {
        Err(format!(
            "unexpected text after {what}: \"{}\" (use '#' to start a comment, \
             or quote values that contain spaces)",
            excerpt(after)
        ))
    }
}

/// `line` is a non-blank, non-comment, non-header line with leading blanks removed.
fn parse_entry(line: &str) -> Result<(String, String), String> {
    let key_len = line.find(|c: char| !is_key_char(c)).unwrap_or(line.len());
    let key = &line[..key_len];
    if key.is_empty() {
        return Err(format!(
            "expected \"key=value\", \"[section]\" or a comment, found \"{}\"",
            excerpt(line)
        ));
    }
    let after_key = line[key_len..].trim_start_matches(is_blank);
    let Some(after_eq) = after_key.strip_prefix('=') else {
        return Err(if after_key.is_empty() {
            format!("option \"{}\" has no '=' and no value", excerpt(key))
        } else {
            format!(
                "expected '=' after option name \"{}\", found \"{}\"",
                excerpt(key),
                excerpt(after_key)
            )
        });
    };
    let v = after_eq.trim_start_matches(is_blank);

    let (value, rest) = if v.starts_with('#') || v.starts_with(';') {
        // `key = # comment`: an empty value followed by a comment.
        (String::new(), "")
    } else if let Some(quoted) = v.strip_prefix('"') {
        parse_quoted(quoted).ok_or_else(|| {
            format!(
                "unterminated quoted value for option \"{}\": \"{}",
                excerpt(key),
                excerpt(quoted)
            )
        })?
    } else {
        let end = v.find(is_blank).unwrap_or(v.len());
        (v[..end].to_string(), &v[end..])
    };
    check_trailing(rest, "value").map_err(|e| {
        if let Some(at) = value.find('#') {
            // `sync=1# no space`: the user did start a comment, without the blank
            // ulogd-rs needs before it (ulogd2's atoi ignores what follows the digits).
            format!(
                "\"{}\" is taken as the value: a comment needs a blank before '#' \
                 (write `{} {}`)",
                excerpt(&value),
                excerpt(&format!("{key}={}", &value[..at])),
                excerpt(&format!("{}{}", &value[at..], rest.trim_end()))
            )
        } else {
            e
        }
    })?;
    Ok((key.to_string(), value))
}

/// `s` starts just after the opening quote. Returns the unescaped value and the text
/// after the closing quote, or `None` when the closing quote is missing.
fn parse_quoted(s: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((value, &s[i + 1..])),
            '\\' => match chars.clone().next() {
                Some((_, e @ ('"' | '\\'))) => {
                    chars.next();
                    value.push(e);
                }
                _ => value.push('\\'),
            },
            _ => value.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ConfigFile, SyntaxError> {
        parse_ini(Path::new("test.conf"), text)
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

    fn value(text: &str) -> String {
        let c = ok(text);
        c.sections[0].entries[0].value.clone()
    }

    #[test]
    fn sections_and_entries_with_lines() {
        let c = ok("[global]\nloglevel=3\n\n[log1]\ngroup = 5\n");
        assert_eq!(c.origin, Path::new("test.conf"));
        assert_eq!(c.sections.len(), 2);
        assert_eq!(c.sections[0].name, "global");
        assert_eq!(c.sections[0].line, 1);
        assert_eq!(
            c.sections[0].entries,
            vec![Entry {
                key: "loglevel".into(),
                value: "3".into(),
                line: 2
            }]
        );
        assert_eq!(c.sections[1].name, "log1");
        assert_eq!(c.sections[1].line, 4);
        assert_eq!(c.sections[1].get("group").unwrap().value, "5");
        assert_eq!(c.sections[1].get("group").unwrap().line, 5);
    }

    #[test]
    fn spaces_around_equals_and_tabs() {
        assert_eq!(value("[s]\nk = v\n"), "v");
        assert_eq!(value("[s]\n\tk\t=\tv\t\n"), "v");
        assert_eq!(value("[s]\n   k=   v"), "v");
    }

    #[test]
    fn header_whitespace_and_comment() {
        let c = ok("  [ global ]  # main\n[x] ; other\n");
        assert_eq!(c.sections[0].name, "global");
        assert_eq!(c.sections[1].name, "x");
    }

    #[test]
    fn quoted_values() {
        assert_eq!(
            value("[s]\nfile=\"/var/log/a b.log\"\n"),
            "/var/log/a b.log"
        );
        assert_eq!(value("[s]\nk=\"\"\n"), "");
        assert_eq!(value("[s]\nk = \"x\"   # trailing\n"), "x");
        assert_eq!(value("[s]\nk=\"x\";c\n"), "x");
        assert_eq!(value("[s]\nk=\"a # not a comment\"\n"), "a # not a comment");
        assert_eq!(value("[s]\nk=\"say \\\"hi\\\"\"\n"), "say \"hi\"");
        assert_eq!(value("[s]\nk=\"back\\\\slash\"\n"), "back\\slash");
        assert_eq!(value("[s]\nk=\"ends\\\\\"\n"), "ends\\");
    }

    #[test]
    fn unknown_escape_kept_literally() {
        assert_eq!(value("[s]\nk=\"a\\nb\"\n"), "a\\nb");
        assert_eq!(value("[s]\nk=\"tab\\t\"\n"), "tab\\t");
    }

    #[test]
    fn unquoted_values() {
        assert_eq!(value("[s]\nk=\n"), "");
        assert_eq!(value("[s]\nk=   \n"), "");
        assert_eq!(value("[s]\nk = # only a comment\n"), "");
        assert_eq!(value("[s]\nk=;c\n"), "");
        assert_eq!(value("[s]\nk=\"#x\"\n"), "#x");
        assert_eq!(value("[s]\ngroup=1 # comment\n"), "1");
        assert_eq!(value("[s]\ngroup=1\t; comment\n"), "1");
        assert_eq!(value("[s]\nmark=0x10\n"), "0x10");
        // like ulogd2, a '#' inside an unquoted word is part of the value
        assert_eq!(value("[s]\nk=a#b\n"), "a#b");
        assert_eq!(value("[s]\nk=a\"b\n"), "a\"b");
        assert_eq!(
            value("[global]\nstack=log1:NFLOG,base1:BASE,emu1:LOGEMU\n"),
            "log1:NFLOG,base1:BASE,emu1:LOGEMU"
        );
    }

    #[test]
    fn a_comment_without_a_blank_says_so() {
        let e = err("[s]\nsync=1# no space\n");
        assert_eq!(e.line, 2);
        assert!(
            e.message
                .contains("\"1#\" is taken as the value: a comment needs a blank before '#' (write `sync=1 # no space`)"),
            "{e}"
        );
    }

    #[test]
    fn trailing_text_is_an_error() {
        let e = err("[s]\n\ngroup=1 2\n");
        assert_eq!(e.line, 3);
        assert!(e.message.contains("unexpected text after value"), "{e}");
        assert!(e.message.contains("\"2\""), "{e}");
        let e = err("[s]\nfile=\"a\" b\n");
        assert_eq!(e.line, 2);
        assert!(e.message.contains("unexpected text after value"), "{e}");
        let e = err("[s]\nfile=/var/log/my file.log\n");
        assert!(e.message.contains("\"file.log\""), "{e}");
    }

    #[test]
    fn comments_and_blank_lines() {
        let c = ok("# top\n; also\n\n   # indented\n[s]\n  ;x=1\n\t\nk=v\n");
        assert_eq!(c.sections.len(), 1);
        assert_eq!(c.sections[0].line, 5);
        assert_eq!(c.sections[0].entries.len(), 1);
        assert_eq!(c.sections[0].entries[0].line, 8);
    }

    #[test]
    fn crlf_and_bom() {
        let c = ok("\u{feff}[global]\r\nloglevel=3\r\nfile=\"x y\"\r\n\r\n[a]\r\nk=\r\n");
        assert_eq!(c.sections[0].name, "global");
        assert_eq!(c.sections[0].entries[0].value, "3");
        assert_eq!(c.sections[0].entries[1].value, "x y");
        assert_eq!(c.sections[1].line, 5);
        assert_eq!(c.sections[1].entries[0].value, "");
        assert_eq!(c.sections[1].entries[0].line, 6);
    }

    #[test]
    fn no_trailing_newline_and_empty_input() {
        assert_eq!(ok("").sections.len(), 0);
        assert_eq!(ok("\n\n# x").sections.len(), 0);
        let c = ok("[s]\nk=v");
        assert_eq!(c.sections[0].entries[0].value, "v");
    }

    #[test]
    fn repeated_keys_kept_in_order() {
        let c = ok("[global]\nstack=a:X\nplugin=\"p1\"\nstack=b:Y\nplugin=\"p2\"\n");
        let g = c.section("global").unwrap();
        let stacks: Vec<_> = g.all("stack").map(|e| (e.value.as_str(), e.line)).collect();
        assert_eq!(stacks, vec![("a:X", 2), ("b:Y", 4)]);
        let plugins: Vec<_> = g.all("plugin").map(|e| e.value.as_str()).collect();
        assert_eq!(plugins, vec!["p1", "p2"]);
        assert_eq!(g.get("stack").unwrap().value, "a:X");
    }

    #[test]
    fn repeated_sections_kept_first_wins() {
        let c = ok("[a]\nk=1\n[b]\n[a]\nk=2\n");
        assert_eq!(c.sections.len(), 3);
        assert_eq!(c.section("a").unwrap().get("k").unwrap().value, "1");
        assert_eq!(c.sections[2].get("k").unwrap().value, "2");
        assert_eq!(c.sections[2].line, 4);
        assert!(c.sections[1].entries.is_empty());
    }

    #[test]
    fn key_characters() {
        let c = ok("[a-b.c_1]\nnetlink_socket_buffer_size=1\nx.y-z=2\nA9=3\n");
        assert_eq!(c.sections[0].name, "a-b.c_1");
        let keys: Vec<_> = c.sections[0]
            .entries
            .iter()
            .map(|e| e.key.as_str())
            .collect();
        assert_eq!(keys, vec!["netlink_socket_buffer_size", "x.y-z", "A9"]);
        // keys are case-sensitive
        assert!(c.sections[0].get("a9").is_none());
    }

    #[test]
    fn entry_before_section_is_an_error() {
        let e = err("# comment\n\nloglevel=3\n[global]\n");
        assert_eq!(e.line, 3);
        assert_eq!(e.file, Path::new("test.conf"));
        assert!(e.message.contains("before any [section]"), "{e}");
        assert!(e.message.contains("loglevel"), "{e}");
    }

    #[test]
    fn bad_headers() {
        let e = err("[global]\nk=1\n[foo\n");
        assert_eq!(e.line, 3);
        assert!(e.message.contains("missing its closing ']'"), "{e}");
        let e = err("[]\n");
        assert_eq!(e.line, 1);
        assert!(e.message.contains("empty section name"), "{e}");
        let e = err("[  ]\n");
        assert!(e.message.contains("empty section name"), "{e}");
        let e = err("[a b]\n");
        assert!(e.message.contains("invalid character"), "{e}");
        let e = err("[a] junk\n");
        assert!(
            e.message.contains("unexpected text after section header"),
            "{e}"
        );
        assert!(e.message.contains("\"junk\""), "{e}");
        let e = err("[a]]\n");
        assert!(e.message.contains("\"]\""), "{e}");
    }

    #[test]
    fn bad_entries() {
        let e = err("[s]\nk=1\nno equals here\n");
        assert_eq!(e.line, 3);
        assert!(e.message.contains("expected '='"), "{e}");
        let e = err("[s]\nloglevel\n");
        assert!(e.message.contains("has no '='"), "{e}");
        let e = err("[s]\n=value\n");
        assert_eq!(e.line, 2);
        assert!(e.message.contains("expected \"key=value\""), "{e}");
        let e = err("[s]\nkéy=1\n");
        assert!(e.message.contains("expected '='"), "{e}");
        let e = err("[s]\nk=\"open\n");
        assert_eq!(e.line, 2);
        assert!(e.message.contains("unterminated quoted value"), "{e}");
        let e = err("[s]\nk=\"escaped close\\\"\n");
        assert!(e.message.contains("unterminated"), "{e}");
    }

    #[test]
    fn error_display_names_file_and_line() {
        let e = err("[s]\nk=1 2\n");
        let shown = e.to_string();
        assert!(shown.starts_with("test.conf:2: "), "{shown}");
    }

    #[test]
    fn long_lines_are_fine_and_messages_short() {
        let big = "x".repeat(1 << 20);
        let c = ok(&format!("[s]\nk=\"{big}\"\nj={big}\n"));
        assert_eq!(c.sections[0].entries[0].value.len(), 1 << 20);
        assert_eq!(c.sections[0].entries[1].value.len(), 1 << 20);
        let e = err(&format!("[s]\nk=1 {big}\n"));
        assert!(e.message.len() < 200, "{}", e.message.len());
        assert!(e.message.contains("..."));
        let e = err(&format!("[s]\nk=\"{big}\n"));
        assert!(e.message.len() < 200);
        let e = err(&format!("[{big}\n"));
        assert!(e.message.len() < 200);
        // excerpts cut on char boundaries
        let wide = "é".repeat(1000);
        let e = err(&format!("[s]\nk=1 {wide}\n"));
        assert!(e.message.contains("..."));
    }
}
