//! Configuration: real `ulogd.conf` files (ini syntax) and the same model in TOML.
//!
//! Both syntaxes parse into one [`ConfigFile`]: a list of sections, each a list of
//! `key = value` entries that remember the line they came from, so that every later
//! error (unknown key, bad value, missing section) can name file, line and key.
//! Validation against what a plugin accepts happens in [`crate::options`]; this module
//! only knows syntax.

mod ini;
mod toml_fmt;

use std::path::{Path, PathBuf};

pub use ini::{parse_ini, parse_ini_all};
pub use toml_fmt::parse_toml;

/// One `key=value` line of a section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key as written (ulogd2 keys are case-sensitive).
    pub key: String,
    /// The value with quotes removed and escapes resolved; trailing comments dropped.
    pub value: String,
    /// 1-based line number in the source file.
    pub line: usize,
}

/// One `[id]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// Section name (`global` or a plugin instance id).
    pub name: String,
    /// 1-based line of the `[name]` header.
    pub line: usize,
    /// Entries in file order; repeated keys (e.g. `stack=`) appear several times.
    pub entries: Vec<Entry>,
}

impl Section {
    /// Every entry with this key, in file order.
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a Entry> + 'a {
        self.entries.iter().filter(move |e| e.key == key)
    }
    /// The first entry with this key.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }
}

/// A parsed configuration file: sections in file order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigFile {
    /// Where it came from (a path, or a label like `<embedded default>`), used in errors.
    pub origin: PathBuf,
    /// Sections in file order. Entries before any header are an error, not a section.
    pub sections: Vec<Section>,
}

impl ConfigFile {
    /// The first section with this name (ulogd2: the first match wins).
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// Sections that no stack element names (`global` is always used), in file order.
    /// ulogd2 ignores them silently; they are almost always a typo of an instance id,
    /// so the daemon warns about them.
    pub fn unused_sections(&self, used_ids: &[&str]) -> Vec<&Section> {
        self.sections
            .iter()
            .filter(|s| s.name != "global" && !used_ids.contains(&s.name.as_str()))
            .collect()
    }

    /// Sections whose name already appeared above: `(first, repeat)`. ulogd2 silently
    /// uses the first; a second `[log1]` is never what the author meant.
    pub fn duplicate_sections(&self) -> Vec<(&Section, &Section)> {
        let mut out = Vec::new();
        for (i, s) in self.sections.iter().enumerate() {
            if let Some(first) = self.sections[..i].iter().find(|f| f.name == s.name) {
                out.push((first, s));
            }
        }
        out
    }

    /// Parses `text`, choosing the syntax from `origin`'s extension: `.toml` is TOML,
    /// anything else is ulogd.conf ini syntax.
    pub fn parse(origin: &Path, text: &str) -> Result<ConfigFile, SyntaxError> {
        if origin.extension().is_some_and(|e| e == "toml") {
            parse_toml(origin, text)
        } else {
            parse_ini(origin, text)
        }
    }

    /// Like [`ConfigFile::parse`], but every syntax error, not only the first (for
    /// TOML, whose parser stops at its first error: the first of each section).
    pub fn parse_all(origin: &Path, text: &str) -> Result<ConfigFile, Vec<SyntaxError>> {
        if origin.extension().is_some_and(|e| e == "toml") {
            toml_fmt::parse_toml_all(origin, text)
        } else {
            parse_ini_all(origin, text)
        }
    }

    /// Like [`ConfigFile::load`], but every syntax error of the file.
    pub fn load_all(path: &Path) -> Result<ConfigFile, Vec<SyntaxError>> {
        let bytes = std::fs::read(path).map_err(|e| {
            vec![SyntaxError {
                file: path.to_path_buf(),
                line: 0,
                message: format!("cannot read: {e}"),
            }]
        })?;
        let text = String::from_utf8_lossy(&bytes);
        Self::parse_all(path, &text)
    }

    /// Reads and parses a file.
    pub fn load(path: &Path) -> Result<ConfigFile, SyntaxError> {
        let bytes = std::fs::read(path).map_err(|e| SyntaxError {
            file: path.to_path_buf(),
            line: 0,
            message: format!("cannot read: {e}"),
        })?;
        let text = String::from_utf8_lossy(&bytes);
        Self::parse(path, &text)
    }
}

/// `text` with control characters shown as escapes (`\x1b`, `\t`), so that an error
/// echoing a line of a hostile or garbage file cannot clear or recolour the terminal.
pub fn escape_control(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// A syntax error in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}: {message}", file.display())]
pub struct SyntaxError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line (0 when the whole file is at fault, e.g. unreadable).
    pub line: usize,
    /// What is wrong, in words a sysadmin understands.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_control_shows_escapes_and_keeps_text() {
        assert_eq!(escape_control("\x1b[2Jok\tä\u{7f}"), "\\x1b[2Jok\\tä\\x7f");
        assert_eq!(escape_control("a\u{85}b"), "a\\u{85}b");
    }

    #[test]
    fn parse_all_collects_every_syntax_error() {
        let e =
            ConfigFile::parse_all(Path::new("m.conf"), "[global]\na=1 x\n[bad\n= v\n").unwrap_err();
        let lines: Vec<usize> = e.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![2, 3, 4]);
        // The single-error API still gives the first.
        let one = ConfigFile::parse(Path::new("m.conf"), "[global]\na=1 x\n[bad\n").unwrap_err();
        assert_eq!(one.line, 2);
    }

    #[test]
    fn duplicate_and_unused_sections() {
        let c = ConfigFile::parse(Path::new("d.conf"), "[global]\n[a]\n[b]\n[a]\n[c]\n").unwrap();
        let d = c.duplicate_sections();
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].0.line, d[0].1.line), (2, 4));
        let unused: Vec<&str> = c
            .unused_sections(&["a"])
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(unused, vec!["b", "c"]);
    }
}
