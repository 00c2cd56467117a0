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

pub use ini::parse_ini;
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

    /// Parses `text`, choosing the syntax from `origin`'s extension: `.toml` is TOML,
    /// anything else is ulogd.conf ini syntax.
    pub fn parse(origin: &Path, text: &str) -> Result<ConfigFile, SyntaxError> {
        if origin.extension().is_some_and(|e| e == "toml") {
            parse_toml(origin, text)
        } else {
            parse_ini(origin, text)
        }
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
