//! Templates over keys for topics, subjects and message keys: `ulogd.{oob.prefix}`
//! is the literal `ulogd.` followed by the value of the key `oob.prefix`. `{{` and
//! `}}` stand for literal braces. Parsed once at start-up; per stack the key names
//! are resolved once to wildcard positions (the nearest upstream producer, as for
//! any input), so rendering compares no names.

use std::fmt::Write as _;
use std::io::Write as _;

use ulogd_core::{Event, KeyDef, KeyType, Value};

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Lit(String),
    Key(String),
}

/// A parsed template.
#[derive(Clone, Debug)]
pub(crate) struct Template {
    parts: Vec<Part>,
}

/// Which bytes of a key's value may appear in the rendered text; others become `_`.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Charset {
    /// Anything (message keys are bytes).
    Any,
    /// Kafka topic names: `[A-Za-z0-9._-]`.
    Topic,
    /// NATS subject tokens: no space, `*`, `>` or control characters (dots in a value
    /// make more tokens, which is what `ulogd.{ip.saddr.str}` wants).
    Subject,
}

impl Charset {
    fn allows(self, b: u8) -> bool {
        match self {
            Charset::Any => true,
            Charset::Topic => b.is_ascii_alphanumeric() || b"._-".contains(&b),
            Charset::Subject => b.is_ascii_graphic() && !b"*>".contains(&b),
        }
    }
}

impl Template {
    /// Parses `text`; the error says what is wrong in words.
    pub(crate) fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut it = text.chars().peekable();
        while let Some(c) = it.next() {
            match c {
                '{' if it.peek() == Some(&'{') => {
                    it.next();
                    lit.push('{');
                }
                '}' if it.peek() == Some(&'}') => {
                    it.next();
                    lit.push('}');
                }
                '{' => {
                    let mut key = String::new();
                    loop {
                        match it.next() {
                            Some('}') => break,
                            Some('{') => {
                                return Err(format!("'{{' inside a key name in \"{text}\""))
                            }
                            Some(c) => key.push(c),
                            None => return Err(format!("unclosed '{{' in \"{text}\"")),
                        }
                    }
                    let key = key.trim().to_string();
                    if key.is_empty() {
                        return Err(format!("empty key name '{{}}' in \"{text}\""));
                    }
                    if !lit.is_empty() {
                        parts.push(Part::Lit(std::mem::take(&mut lit)));
                    }
                    parts.push(Part::Key(key));
                }
                '}' => return Err(format!("'}}' without '{{' in \"{text}\" (write '}}}}')")),
                c => lit.push(c),
            }
        }
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Ok(Template { parts })
    }

    /// The key names the template reads.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Key(k) => Some(k.as_str()),
            Part::Lit(_) => None,
        })
    }

    /// The first key `upstream` lacks.
    pub(crate) fn missing<'a>(&'a self, upstream: &[&KeyDef]) -> Option<&'a str> {
        self.keys()
            .find(|k| !upstream.iter().any(|d| d.name.as_ref() as &str == *k))
    }

    /// Resolves the key names against a stack's wildcard keys (the last of a name).
    pub(crate) fn plan(&self, wildcard: &[&KeyDef]) -> TemplatePlan {
        let parts = self
            .parts
            .iter()
            .map(|p| match p {
                Part::Lit(l) => PlanPart::Lit(l.clone().into_bytes()),
                Part::Key(k) => PlanPart::Pos(wildcard.iter().rposition(|d| &*d.name == k)),
            })
            .collect();
        TemplatePlan { parts }
    }
}

#[derive(Debug)]
enum PlanPart {
    Lit(Vec<u8>),
    /// Wildcard position (None: not carried; `check_wildcard` refuses that at start).
    Pos(Option<usize>),
}

/// A template resolved for one stack.
#[derive(Debug)]
pub(crate) struct TemplatePlan {
    parts: Vec<PlanPart>,
}

impl TemplatePlan {
    /// Appends the rendered text; a key without a value renders as nothing.
    pub(crate) fn render(&self, ev: &Event<'_>, cs: Charset, out: &mut Vec<u8>) {
        for p in &self.parts {
            match p {
                PlanPart::Lit(l) => out.extend_from_slice(l),
                PlanPart::Pos(None) => {}
                PlanPart::Pos(Some(pos)) => {
                    let start = out.len();
                    match ev.wildcard_get(*pos) {
                        None => {}
                        Some(Value::Uint(x)) => {
                            let signed = ev.wildcard_def(*pos).is_some_and(|d| d.ty.is_signed());
                            if signed {
                                let _ = write!(out, "{}", x as i64);
                            } else {
                                let _ = write!(out, "{x}");
                            }
                        }
                        Some(Value::Int(x)) => {
                            let _ = write!(out, "{x}");
                        }
                        Some(Value::Bool(x)) => out.push(b'0' + x as u8),
                        Some(Value::Addr(a)) => {
                            let mut s = String::new();
                            let _ = write!(s, "{a}");
                            out.extend_from_slice(s.as_bytes());
                        }
                        Some(Value::Bytes(b)) => {
                            let ty = ev.wildcard_def(*pos).map_or(KeyType::Raw, |d| d.ty);
                            let b = if ty == KeyType::String {
                                crate::file::c_str(b)
                            } else {
                                b
                            };
                            out.extend_from_slice(b);
                        }
                    }
                    for b in &mut out[start..] {
                        if !cs.allows(*b) {
                            *b = b'_';
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_errors() {
        let t = Template::parse("ulogd.{oob.prefix}.{{x}}").unwrap();
        assert_eq!(
            t.parts,
            vec![
                Part::Lit("ulogd.".into()),
                Part::Key("oob.prefix".into()),
                Part::Lit(".{x}".into())
            ]
        );
        assert_eq!(Template::parse("plain").unwrap().keys().count(), 0);
        for bad in ["a{b", "a{}", "a}b", "{a{b}}"] {
            assert!(Template::parse(bad).is_err(), "{bad}");
        }
        let d = [KeyDef::new("oob.prefix", KeyType::String)];
        let up: Vec<&KeyDef> = d.iter().collect();
        assert_eq!(t.missing(&up), None);
        let t = Template::parse("{ip.saddr.str}-{oob.prefix}").unwrap();
        assert_eq!(t.missing(&up), Some("ip.saddr.str"));
    }

    #[test]
    fn charsets() {
        assert!(Charset::Topic.allows(b'a') && !Charset::Topic.allows(b' '));
        assert!(Charset::Subject.allows(b'.') && !Charset::Subject.allows(b'*'));
        assert!(Charset::Any.allows(0));
    }
}
