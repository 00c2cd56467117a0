//! Property tests: the config parsers never panic, and rendered models parse back.

use std::path::Path;

use proptest::prelude::*;
use ulogd_core::config::{parse_ini, parse_toml};

/// Lines that are valid on their own, to mix with garbage.
const VALID_LINES: &[&str] = &[
    "[global]",
    "[log1]",
    "  [ emu1 ] # comment",
    "loglevel=3",
    "group = 5 # trailing",
    "file=\"/var/log/a b.log\"",
    "k=\"esc \\\" \\\\ \"",
    "stack=log1:NFLOG,base1:BASE,emu1:LOGEMU",
    "# comment",
    "; comment",
    "",
    "key=",
    "plugin = [\"a\", \"b\"]",
    "x = { a = 1 }",
    "[[t]]",
    "sync = true",
];

fn mixed_lines() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        proptest::sample::select(VALID_LINES).prop_map(str::to_string),
        any::<String>(),
        "[\\[\\]=\"#;\\\\a-z0-9 \t.{},]{0,20}",
    ];
    (
        proptest::collection::vec(line, 0..20),
        prop_oneof![Just("\n"), Just("\r\n")],
    )
        .prop_map(|(lines, sep)| lines.join(sep))
}

fn name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_.-]{1,12}"
}

/// Values representable on one ini line: anything without CR/LF.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[^\r\n]{0,30}",
        "[a-z0-9:,/._]{1,20}",
        Just(String::new()),
        "[ #;\"\\\\a]{0,10}",
    ]
}

type Model = Vec<(String, Vec<(String, String)>)>;

fn model() -> impl Strategy<Value = Model> {
    proptest::collection::vec(
        (name(), proptest::collection::vec((name(), value()), 0..6)),
        0..6,
    )
}

fn is_plain_word(v: &str) -> bool {
    !v.is_empty()
        && !v.starts_with(['#', ';', '"'])
        && !v.chars().any(|c| c.is_ascii_whitespace() || c == '\u{0b}')
}

/// Renders a model as ulogd.conf text; returns it and each (section, entry) line.
fn render_ini(m: &Model, style: u8) -> (String, Vec<(usize, Vec<usize>)>) {
    let mut out = String::new();
    let mut line = 1;
    let mut lines = Vec::new();
    if style & 1 != 0 {
        out.push_str("# generated\n\n");
        line += 2;
    }
    for (sect, entries) in m {
        out.push_str(&format!("[{sect}]\n"));
        let header = line;
        line += 1;
        let mut entry_lines = Vec::new();
        for (k, v) in entries {
            let eq = if style & 2 != 0 { " = " } else { "=" };
            if style & 4 != 0 && is_plain_word(v) {
                out.push_str(&format!("{k}{eq}{v}"));
            } else {
                let escaped = v.replace('\\', "\\\\").replace('"', "\\\"");
                out.push_str(&format!("{k}{eq}\"{escaped}\""));
            }
            if style & 8 != 0 {
                out.push_str("  # note");
            }
            out.push_str(if style & 16 != 0 { "\r\n" } else { "\n" });
            entry_lines.push(line);
            line += 1;
        }
        lines.push((header, entry_lines));
    }
    (out, lines)
}

fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04X}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

proptest! {
    #[test]
    fn ini_never_panics(s in any::<String>()) {
        let _ = parse_ini(Path::new("fuzz.conf"), &s);
    }

    #[test]
    fn toml_never_panics(s in any::<String>()) {
        let _ = parse_toml(Path::new("fuzz.toml"), &s);
    }

    #[test]
    fn mixed_lines_never_panic(s in mixed_lines()) {
        let n = s.split('\n').count();
        if let Err(e) = parse_ini(Path::new("fuzz.conf"), &s) {
            prop_assert!(e.line >= 1 && e.line <= n, "{e}");
        }
        if let Err(e) = parse_toml(Path::new("fuzz.toml"), &s) {
            prop_assert!(e.line <= n, "{e}");
        }
        let _ = parse_toml(Path::new("fuzz.toml"), &s.replace('=', " = "));
    }

    #[test]
    fn rendered_ini_parses_back(m in model(), style in 0u8..32) {
        let (text, lines) = render_ini(&m, style);
        let c = parse_ini(Path::new("gen.conf"), &text)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(c.sections.len(), m.len());
        for ((s, (name, entries)), (header, entry_lines)) in c.sections.iter().zip(&m).zip(&lines) {
            prop_assert_eq!(&s.name, name);
            prop_assert_eq!(s.line, *header);
            let got: Vec<_> = s.entries.iter().map(|e| (e.key.clone(), e.value.clone())).collect();
            prop_assert_eq!(&got, entries);
            let got_lines: Vec<_> = s.entries.iter().map(|e| e.line).collect();
            prop_assert_eq!(&got_lines, entry_lines);
        }
    }

    #[test]
    fn rendered_toml_parses_back(m in model()) {
        // TOML cannot repeat tables or keys: keep the first section of each name and
        // write repeated keys as arrays, which parse back as repeated entries.
        let mut seen = std::collections::HashSet::new();
        let mut expected: Vec<(String, Vec<(String, String)>)> = Vec::new();
        let mut text = String::new();
        for (sect, entries) in &m {
            if !seen.insert(sect.clone()) {
                continue;
            }
            let mut grouped: Vec<(String, Vec<String>)> = Vec::new();
            for (k, v) in entries {
                match grouped.iter_mut().find(|(g, _)| g == k) {
                    Some((_, vs)) => vs.push(v.clone()),
                    None => grouped.push((k.clone(), vec![v.clone()])),
                }
            }
            text.push_str(&format!("[{}]\n", toml_string(sect)));
            let mut exp = Vec::new();
            for (k, vs) in &grouped {
                let items: Vec<_> = vs.iter().map(|v| toml_string(v)).collect();
                if vs.len() == 1 {
                    text.push_str(&format!("{} = {}\n", toml_string(k), items[0]));
                } else {
                    text.push_str(&format!("{} = [{}]\n", toml_string(k), items.join(",\n  ")));
                }
                exp.extend(vs.iter().map(|v| (k.clone(), v.clone())));
            }
            expected.push((sect.clone(), exp));
        }
        let c = parse_toml(Path::new("gen.toml"), &text)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        let got: Vec<_> = c.sections.iter().map(|s| {
            (s.name.clone(), s.entries.iter().map(|e| (e.key.clone(), e.value.clone())).collect::<Vec<_>>())
        }).collect();
        prop_assert_eq!(got, expected);
        let text_lines: Vec<&str> = text.lines().collect();
        for s in &c.sections {
            prop_assert!(text_lines[s.line - 1].starts_with('['));
            for e in &s.entries {
                let l = text_lines[e.line - 1];
                prop_assert!(l.contains(&toml_string(&e.value)), "{:?} for {:?}", l, e);
            }
        }
    }
}
