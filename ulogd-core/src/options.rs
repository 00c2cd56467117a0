//! Plugin options: declarations with defaults, and validated values.
//!
//! Each plugin declares its options ([`OptionDef`]); a section of the configuration
//! is checked against them once, at start-up: unknown keys, repeated keys, values
//! that do not parse and missing required options are [`ConfigError`]s naming the
//! file, the line and the key. Plugins then read typed values ([`Options`]) without
//! any parsing of their own.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::config::Section;

/// The type of an option value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptKind {
    /// Integer: decimal, `0x` hex or leading-`0` octal, like ulogd2's `strtoul(v, 0)`;
    /// a leading `-` is accepted.
    Int,
    /// Text.
    Str,
    /// Boolean: `0`/`1`, `yes`/`no`, `true`/`false`, `on`/`off`.
    Bool,
}

/// One option a plugin accepts.
#[derive(Clone, Debug)]
pub struct OptionDef {
    /// Key in the section.
    pub name: &'static str,
    /// Value type.
    pub kind: OptKind,
    /// Default, as text (parsed with the same rules); `""` for none.
    pub default: &'static str,
    /// Whether the option must be given.
    pub required: bool,
    /// One line of help for `-i`.
    pub help: &'static str,
    /// No two instances may give the same value: it names something only one of
    /// them may own (a spool directory). Checked across the whole configuration.
    pub exclusive: bool,
}

impl OptionDef {
    /// An integer option.
    pub const fn int(name: &'static str, default: &'static str, help: &'static str) -> Self {
        OptionDef {
            name,
            kind: OptKind::Int,
            default,
            required: false,
            help,
            exclusive: false,
        }
    }
    /// A string option.
    pub const fn string(name: &'static str, default: &'static str, help: &'static str) -> Self {
        OptionDef {
            name,
            kind: OptKind::Str,
            default,
            required: false,
            help,
            exclusive: false,
        }
    }
    /// A boolean option.
    pub const fn boolean(name: &'static str, default: &'static str, help: &'static str) -> Self {
        OptionDef {
            name,
            kind: OptKind::Bool,
            default,
            required: false,
            help,
            exclusive: false,
        }
    }
    /// Name of the catch-all declaration made by [`OptionDef::any_other`].
    pub const ANY_OTHER: &'static str = "*";

    /// A catch-all: every key of the section that no other declaration names is
    /// accepted as text and kept in [`Options::extra`] (PYTHON hands them to the
    /// script). Without it unknown keys are errors.
    pub const fn any_other(help: &'static str) -> Self {
        OptionDef {
            name: Self::ANY_OTHER,
            kind: OptKind::Str,
            default: "",
            required: false,
            help,
            exclusive: false,
        }
    }
    /// Makes it required.
    pub const fn required(mut self) -> Self {
        self.required = true;
        self
    }
    /// Makes it exclusive: a value given to one instance may not be given to another
    /// ([`OptionDef::exclusive`]).
    pub const fn exclusive(mut self) -> Self {
        self.exclusive = true;
        self
    }
}

/// A configuration error: file, line, key and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}: {message}", file.display())]
pub struct ConfigError {
    /// The configuration file.
    pub file: PathBuf,
    /// 1-based line (0 if not tied to a line).
    pub line: usize,
    /// The key at fault, if any.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

#[derive(Clone, Debug)]
struct OptValue {
    text: String,
    int: Option<i64>,
    line: usize,
    given: bool,
}

/// Validated option values of one instance.
#[derive(Clone, Debug, Default)]
pub struct Options {
    file: PathBuf,
    instance: String,
    values: BTreeMap<&'static str, OptValue>,
    /// Keys accepted by an [`OptionDef::any_other`] declaration: (key, value, line).
    extra: Vec<(String, String, usize)>,
}

/// Parses an integer like `strtoul(v, NULL, 0)`: decimal, `0x` hex, `0` octal.
pub fn parse_int(text: &str) -> Option<i64> {
    let t = text.trim();
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let v = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()?
    } else if t.len() > 1 && t.starts_with('0') {
        u64::from_str_radix(&t[1..], 8).ok()?
    } else {
        t.parse::<u64>().ok()?
    };
    if neg {
        i64::try_from(v).ok().map(|v| -v)
    } else {
        // Values up to u64::MAX are kept by wrapping (0xffffffffffffffff masks).
        Some(v as i64)
    }
}

/// Parses a boolean option value.
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "yes" | "true" | "on" => Some(true),
        "0" | "no" | "false" | "off" | "" => Some(false),
        other => parse_int(other).map(|v| v != 0),
    }
}

impl Options {
    /// Checks `section` (which may be absent) against `defs`.
    ///
    /// `plugin` and `instance` name the plugin and the instance id in messages.
    pub fn from_section(
        file: &std::path::Path,
        plugin: &str,
        instance: &str,
        defs: &[OptionDef],
        section: Option<&Section>,
    ) -> Result<Options, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let mut values = BTreeMap::new();
        let mut extra: Vec<(String, String, usize)> = Vec::new();
        let any_other = defs.iter().any(|d| d.name == OptionDef::ANY_OTHER);
        let defs: Vec<OptionDef> = defs
            .iter()
            .filter(|d| d.name != OptionDef::ANY_OTHER)
            .cloned()
            .collect();
        let err = |line: usize, key: Option<&str>, message: String| ConfigError {
            file: file.to_path_buf(),
            line,
            key: key.map(str::to_string),
            message,
        };
        for d in &defs {
            values.insert(
                d.name,
                OptValue {
                    text: d.default.to_string(),
                    int: parse_int(d.default),
                    line: 0,
                    given: false,
                },
            );
        }
        if let Some(sec) = section {
            for e in &sec.entries {
                let Some(def) = defs.iter().find(|d| d.name == e.key) else {
                    if any_other {
                        if let Some(first) = extra.iter().find(|x| x.0 == e.key) {
                            errors.push(err(
                                e.line,
                                Some(&e.key),
                                format!(
                                    "option '{}' occurs more than once in [{}] (first on line {})",
                                    e.key, instance, first.2
                                ),
                            ));
                        } else {
                            extra.push((e.key.clone(), e.value.clone(), e.line));
                        }
                        continue;
                    }
                    let known: Vec<&str> = defs.iter().map(|d| d.name).collect();
                    let hint = suggest(&e.key, &known)
                        .map(|s| format!(" (did you mean '{s}'?)"))
                        .unwrap_or_default();
                    errors.push(err(
                        e.line,
                        Some(&e.key),
                        format!(
                            "unknown option '{}' in [{}] for plugin {}{}; it accepts: {}",
                            e.key,
                            instance,
                            plugin,
                            hint,
                            if known.is_empty() {
                                "no options".to_string()
                            } else {
                                known.join(", ")
                            }
                        ),
                    ));
                    continue;
                };
                let slot = values.get_mut(def.name).expect("inserted above");
                if slot.given {
                    errors.push(err(
                        e.line,
                        Some(&e.key),
                        format!(
                            "option '{}' occurs more than once in [{}] (first on line {})",
                            e.key, instance, slot.line
                        ),
                    ));
                    continue;
                }
                let int = match def.kind {
                    OptKind::Int => match parse_int(&e.value) {
                        Some(v) => Some(v),
                        None => {
                            errors.push(err(
                                e.line,
                                Some(&e.key),
                                format!(
                                    "option '{}' of [{}] must be an integer (decimal or 0x hex), not \"{}\"{}",
                                    e.key, instance, e.value, comment_hint(&e.value)
                                ),
                            ));
                            continue;
                        }
                    },
                    OptKind::Bool => {
                        match parse_bool(&e.value) {
                            Some(b) => Some(b as i64),
                            None => {
                                errors.push(err(
                                    e.line,
                                    Some(&e.key),
                                    format!(
                                    "option '{}' of [{}] must be 0 or 1 (or yes/no), not \"{}\"{}",
                                    e.key, instance, e.value, comment_hint(&e.value)
                                ),
                                ));
                                continue;
                            }
                        }
                    }
                    OptKind::Str => None,
                };
                *slot = OptValue {
                    text: e.value.clone(),
                    int,
                    line: e.line,
                    given: true,
                };
            }
        }
        for d in defs.iter().filter(|d| d.required) {
            if !values[d.name].given {
                let line = section.map(|s| s.line).unwrap_or(0);
                let message = match section {
                    Some(_) => format!(
                        "[{instance}] needs option '{}' for plugin {plugin}: {}",
                        d.name, d.help
                    ),
                    None => format!(
                        "section [{instance}] is missing; plugin {plugin} needs option '{}': {}",
                        d.name, d.help
                    ),
                };
                errors.push(err(line, Some(d.name), message));
            }
        }
        if errors.is_empty() {
            Ok(Options {
                file: file.to_path_buf(),
                instance: instance.to_string(),
                values,
                extra,
            })
        } else {
            Err(errors)
        }
    }

    /// Options from `(key, value)` pairs, for programs that build stacks in code.
    pub fn from_pairs(
        plugin: &str,
        instance: &str,
        defs: &[OptionDef],
        pairs: &[(&str, &str)],
    ) -> Result<Options, Vec<ConfigError>> {
        let section = Section {
            name: instance.to_string(),
            line: 0,
            entries: pairs
                .iter()
                .map(|(k, v)| crate::config::Entry {
                    key: k.to_string(),
                    value: v.to_string(),
                    line: 0,
                })
                .collect(),
        };
        Options::from_section(
            std::path::Path::new("<code>"),
            plugin,
            instance,
            defs,
            Some(&section),
        )
    }

    /// The line of the file that gave option `name`, if it was given.
    pub fn line(&self, name: &str) -> Option<usize> {
        self.values.get(name).filter(|v| v.given).map(|v| v.line)
    }

    fn get(&self, name: &str) -> &OptValue {
        self.values
            .get(name)
            .unwrap_or_else(|| panic!("plugin bug: option '{name}' read but not declared"))
    }

    /// An integer option (declared `Int` or `Bool`). Panics if the plugin reads an
    /// option it did not declare: a programming error, not an input error.
    pub fn int(&self, name: &str) -> i64 {
        self.get(name).int.unwrap_or(0)
    }
    /// An integer option as `u32`, or a [`ConfigError`] naming the line if out of range.
    pub fn u32(&self, name: &str) -> Result<u32, ConfigError> {
        let v = self.int(name);
        u32::try_from(v)
            .map_err(|_| self.error(name, format!("must be between 0 and {}", u32::MAX)))
    }
    /// A boolean option.
    pub fn bool(&self, name: &str) -> bool {
        self.int(name) != 0
    }
    /// A string option.
    pub fn str(&self, name: &str) -> &str {
        &self.get(name).text
    }
    /// Whether the option was given in the file (not defaulted).
    pub fn given(&self, name: &str) -> bool {
        self.values.get(name).is_some_and(|v| v.given)
    }
    /// Keys taken by an [`OptionDef::any_other`] declaration, in file order, as
    /// (key, value).
    pub fn extra(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.extra.iter().map(|(k, v, _)| (k.as_str(), v.as_str()))
    }
    /// The instance id.
    pub fn instance(&self) -> &str {
        &self.instance
    }
    /// An error about option `name`, naming its file and line, for plugins that check
    /// meaning (a path that must exist, a value out of range).
    pub fn error(&self, name: &str, message: impl std::fmt::Display) -> ConfigError {
        let line = self.values.get(name).map(|v| v.line).unwrap_or(0);
        ConfigError {
            file: self.file.clone(),
            line,
            key: Some(name.to_string()),
            message: format!("option '{name}' of [{}]: {message}", self.instance),
        }
    }
}

/// `group=7#comment`: ulogd2 reads 7 (atoi stops at the '#'); ulogd-rs takes an
/// unquoted word whole, so say what to write instead.
fn comment_hint(value: &str) -> String {
    match value.find('#') {
        Some(at) if at > 0 => format!(
            " (a comment needs a blank before '#': `{} {}`)",
            &value[..at],
            &value[at..]
        ),
        _ => String::new(),
    }
}

/// The closest known name by edit distance, for "did you mean" hints.
pub(crate) fn suggest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    fn dist(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut prev: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut cur = vec![i + 1];
            for (j, cb) in b.iter().enumerate() {
                let c = if ca == *cb { prev[j] } else { prev[j] + 1 };
                cur.push(c.min(prev[j + 1] + 1).min(cur[j] + 1));
            }
            prev = cur;
        }
        prev[b.len()]
    }
    known
        .iter()
        .map(|k| {
            (
                dist(&word.to_ascii_lowercase(), &k.to_ascii_lowercase()),
                *k,
            )
        })
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Entry;

    fn defs() -> Vec<OptionDef> {
        vec![
            OptionDef::int("group", "0", "NFLOG group"),
            OptionDef::string("file", "/var/log/x", "file"),
            OptionDef::boolean("sync", "0", "flush"),
            OptionDef::string("db", "", "database").required(),
        ]
    }

    fn sec(entries: &[(&str, &str, usize)]) -> Section {
        Section {
            name: "x1".into(),
            line: 3,
            entries: entries
                .iter()
                .map(|(k, v, l)| Entry {
                    key: k.to_string(),
                    value: v.to_string(),
                    line: *l,
                })
                .collect(),
        }
    }

    #[test]
    fn any_other_keeps_unknown_keys() {
        let mut d = defs();
        d.push(OptionDef::any_other("handed to the plugin"));
        let s = sec(&[
            ("db", "x.db", 4),
            ("inventory", "/etc/hosts.csv", 5),
            ("Tag", "a b", 6),
        ]);
        let o =
            Options::from_section(std::path::Path::new("u.conf"), "T", "x1", &d, Some(&s)).unwrap();
        assert_eq!(o.str("db"), "x.db");
        let extra: Vec<_> = o.extra().collect();
        assert_eq!(extra, vec![("inventory", "/etc/hosts.csv"), ("Tag", "a b")]);
        // Typed options keep their checks; repeats of extra keys are errors.
        let s = sec(&[
            ("db", "x", 4),
            ("sync", "maybe", 5),
            ("t", "1", 6),
            ("t", "2", 7),
        ]);
        let e = Options::from_section(std::path::Path::new("u.conf"), "T", "x1", &d, Some(&s))
            .unwrap_err();
        assert_eq!(e.len(), 2, "{e:?}");
        assert_eq!((e[1].line, e[1].key.as_deref()), (7, Some("t")));
        // Without the catch-all the same key is an error.
        let s = sec(&[("db", "x", 4), ("inventory", "y", 5)]);
        assert!(Options::from_section(
            std::path::Path::new("u.conf"),
            "T",
            "x1",
            &defs(),
            Some(&s)
        )
        .is_err());
    }

    #[test]
    fn ints_like_strtoul() {
        assert_eq!(parse_int("0x10"), Some(16));
        assert_eq!(parse_int("010"), Some(8));
        assert_eq!(parse_int("42"), Some(42));
        assert_eq!(parse_int("-1"), Some(-1));
        assert_eq!(parse_int("0xffffffff"), Some(0xffff_ffff));
        assert_eq!(parse_int("abc"), None);
        assert_eq!(parse_int(""), None);
    }

    #[test]
    fn values_and_defaults() {
        let s = sec(&[("group", "0x5", 4), ("sync", "1", 5), ("db", "x.db", 6)]);
        let o = Options::from_section(std::path::Path::new("u.conf"), "T", "x1", &defs(), Some(&s))
            .unwrap();
        assert_eq!(o.int("group"), 5);
        assert!(o.bool("sync"));
        assert_eq!(o.str("file"), "/var/log/x");
        assert!(o.given("db") && !o.given("file"));
    }

    #[test]
    fn errors_name_file_line_key() {
        let s = sec(&[
            ("grup", "1", 4),
            ("sync", "maybe", 7),
            ("group", "1", 8),
            ("group", "2", 9),
        ]);
        let e = Options::from_section(
            std::path::Path::new("u.conf"),
            "NFLOG",
            "x1",
            &defs(),
            Some(&s),
        )
        .unwrap_err();
        assert_eq!(e.len(), 4, "{e:?}");
        assert_eq!((e[0].line, e[0].key.as_deref()), (4, Some("grup")));
        assert!(e[0].message.contains("did you mean 'group'"), "{}", e[0]);
        assert!(e[0].to_string().starts_with("u.conf:4: "));
        assert_eq!((e[1].line, e[1].key.as_deref()), (7, Some("sync")));
        assert_eq!(e[2].line, 9);
        assert_eq!(e[3].key.as_deref(), Some("db"));
        let missing = Options::from_section(
            std::path::Path::new("u.conf"),
            "SQLITE3",
            "db1",
            &defs(),
            None,
        )
        .unwrap_err();
        assert!(missing[0].message.contains("section [db1] is missing"));
    }
}
