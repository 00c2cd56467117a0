//! VERDICT: decides the fate of queued packets (NFQ / MTNFQ) from keys, with a small
//! rule language parsed at start-up.
//!
//! One rule per line (or separated by `;`), `#` starts a comment:
//!
//! ```text
//! ip.daddr == 10.0.0.0/8 && tcp.dport == 22 -> drop
//! oob.mark == 0x2a -> accept, mark 0x1
//! !(ip.protocol == 6 || ip.protocol == 17) -> queue 3
//! oob.prefix == "bad" -> drop, connmark 7
//! ```
//!
//! Conditions: `KEY OP LITERAL` with `==`, `!=`, `<`, `<=`, `>`, `>=` (integers),
//! `==`/`!=` for addresses (a `/prefix` matches a network) and strings; a bare `KEY` is
//! true when the key is set and non-zero; `&&`, `||`, `!` and parentheses. A comparison
//! on a key the event does not carry is false. Actions: `accept`, `drop`, `repeat`,
//! `queue N`, each optionally followed by `, mark N` and/or `, connmark N`. The first
//! rule that matches decides; with none, the stack leaves the verdict to later stacks
//! or to the source's `default_verdict`. The event always continues down the stack
//! (so it is still logged).
//!
//! Every key named by a rule becomes an input of the instance, so the stack must carry
//! it (an unknown key is a start-up error naming the key); a literal of the wrong kind
//! for a key whose type is known (an address compared with a port) is a start-up error
//! naming the rule's line and column. Evaluation walks a tree built at start-up:
//! inputs by position, no allocation, no key-name lookup per packet.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use ulogd_core::{
    Built, Event, Inputs, KeyDef, KeyType, Kind, OptionDef, Options, PluginError, PluginSpec, Ret,
    Stage, Verdict, VerdictAction,
};

/// A rule that does not parse or does not type-check: where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {col}: {msg}")]
pub struct RuleError {
    /// 1-based line in the rule text.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// What is wrong.
    pub msg: String,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// A literal on the right of a comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lit {
    /// An integer (decimal or `0x` hex).
    Int(u64),
    /// An address and prefix length (full length without `/`).
    Net(IpAddr, u8),
    /// A quoted string.
    Str(Vec<u8>),
}

/// A condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// `KEY OP LITERAL`; the key is input number `.0`.
    Cmp(usize, Op, Lit),
    /// Bare `KEY`: set and non-zero / non-empty.
    Truthy(usize),
    /// `!e`
    Not(Box<Expr>),
    /// `a && b`
    And(Box<Expr>, Box<Expr>),
    /// `a || b`
    Or(Box<Expr>, Box<Expr>),
}

/// One parsed rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Line of the rule.
    pub line: usize,
    /// Condition.
    pub expr: Expr,
    /// Verdict set when it matches.
    pub verdict: Verdict,
}

/// A parsed rule set: the rules and the keys they read (input `i` is `keys[i]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleSet {
    /// Rules in order.
    pub rules: Vec<Rule>,
    /// Key names, in the order of first use.
    pub keys: Vec<String>,
}

/// Types of keys known from the built-in plugins, for start-up type checks.
fn known_type(name: &str) -> Option<KeyType> {
    use std::sync::OnceLock;
    static TABLE: OnceLock<Vec<KeyDef>> = OnceLock::new();
    let t = TABLE.get_or_init(|| {
        let mut v: Vec<KeyDef> = crate::sources::nflog_keys::NFLOG_KEYS.to_vec();
        v.extend(crate::sources::nfq_keys().iter().cloned());
        v.extend(super::base::spec().outputs);
        v
    });
    t.iter().find(|k| k.name == name).map(|k| k.ty)
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
    line: usize,
    line_start: usize,
    keys: &'a mut Vec<String>,
    check_types: bool,
    depth: usize,
}

/// Deepest nesting of `(` and `!` accepted (bounds recursion on hostile input).
const MAX_DEPTH: usize = 64;

fn is_key_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'.' || c == b'_' || c == b'-'
}

impl Parser<'_> {
    fn err<T>(&self, at: usize, msg: impl Into<String>) -> Result<T, RuleError> {
        Err(RuleError {
            line: self.line,
            col: at.saturating_sub(self.line_start) + 1,
            msg: msg.into(),
        })
    }
    fn ws(&mut self) {
        while self.pos < self.s.len() && matches!(self.s[self.pos], b' ' | b'\t' | b'\r') {
            self.pos += 1;
        }
    }
    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.pos).copied()
    }
    fn eat(&mut self, t: &str) -> bool {
        self.ws();
        if self.s[self.pos..].starts_with(t.as_bytes()) {
            self.pos += t.len();
            true
        } else {
            false
        }
    }
    fn word(&mut self) -> &[u8] {
        self.ws();
        let start = self.pos;
        while self.pos < self.s.len() && is_key_char(self.s[self.pos]) {
            self.pos += 1;
        }
        &self.s[start..self.pos]
    }

    fn or(&mut self) -> Result<Expr, RuleError> {
        let mut l = self.and()?;
        while self.eat("||") {
            let r = self.and()?;
            l = Expr::Or(Box::new(l), Box::new(r));
        }
        Ok(l)
    }
    fn and(&mut self) -> Result<Expr, RuleError> {
        let mut l = self.not()?;
        while self.eat("&&") {
            let r = self.not()?;
            l = Expr::And(Box::new(l), Box::new(r));
        }
        Ok(l)
    }
    fn not(&mut self) -> Result<Expr, RuleError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let p = self.pos;
            return self.err(p, format!("rule nested deeper than {MAX_DEPTH} levels"));
        }
        let r = self.not_inner();
        self.depth -= 1;
        r
    }
    fn not_inner(&mut self) -> Result<Expr, RuleError> {
        if self.peek() == Some(b'!') && self.s.get(self.pos + 1) != Some(&b'=') {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.primary()
    }
    fn primary(&mut self) -> Result<Expr, RuleError> {
        if self.eat("(") {
            let e = self.or()?;
            if !self.eat(")") {
                let p = self.pos;
                return self.err(p, "expected ')'");
            }
            return Ok(e);
        }
        let kstart = {
            self.ws();
            self.pos
        };
        let key = self.word().to_vec();
        if key.is_empty() || !key[0].is_ascii_alphabetic() {
            return self.err(kstart, "expected a key name (like ip.daddr), '(' or '!'");
        }
        let key = String::from_utf8_lossy(&key).into_owned();
        let ty = known_type(&key);
        let idx = match self.keys.iter().position(|k| *k == key) {
            Some(i) => i,
            None => {
                self.keys.push(key.clone());
                self.keys.len() - 1
            }
        };
        let op = if self.eat("==") {
            Op::Eq
        } else if self.eat("!=") {
            Op::Ne
        } else if self.eat("<=") {
            Op::Le
        } else if self.eat(">=") {
            Op::Ge
        } else if self.eat("<") {
            Op::Lt
        } else if self.eat(">") {
            Op::Gt
        } else {
            return Ok(Expr::Truthy(idx));
        };
        self.ws();
        let lstart = self.pos;
        let lit = self.literal()?;
        if self.check_types {
            if let Some(ty) = ty {
                let ok = match &lit {
                    Lit::Int(_) => ty.is_numeric(),
                    Lit::Net(..) => ty == KeyType::IpAddr,
                    Lit::Str(_) => ty.is_bytes(),
                };
                if !ok {
                    return self.err(
                        lstart,
                        format!(
                            "key '{key}' is of type {ty}; this literal cannot be compared with it"
                        ),
                    );
                }
            }
        }
        if !matches!(lit, Lit::Int(_)) && !matches!(op, Op::Eq | Op::Ne) {
            return self.err(lstart, "only == and != compare addresses and strings");
        }
        Ok(Expr::Cmp(idx, op, lit))
    }
    fn literal(&mut self) -> Result<Lit, RuleError> {
        let start = self.pos;
        if self.peek() == Some(b'"') {
            self.pos += 1;
            let b = self.pos;
            while self.pos < self.s.len() && self.s[self.pos] != b'"' && self.s[self.pos] != b'\n' {
                self.pos += 1;
            }
            if self.s.get(self.pos) != Some(&b'"') {
                return self.err(start, "unterminated string");
            }
            let v = self.s[b..self.pos].to_vec();
            self.pos += 1;
            return Ok(Lit::Str(v));
        }
        while self.pos < self.s.len()
            && (self.s[self.pos].is_ascii_alphanumeric() || b".:/_x".contains(&self.s[self.pos]))
        {
            self.pos += 1;
        }
        let text = std::str::from_utf8(&self.s[start..self.pos]).unwrap_or("");
        if text.is_empty() {
            return self.err(start, "expected a number, an address or a \"string\"");
        }
        if let Some(v) = parse_u64(text) {
            return Ok(Lit::Int(v));
        }
        let (a, p) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let Ok(addr) = a.parse::<IpAddr>() else {
            return self.err(
                start,
                format!("'{text}' is not a number, an address or a network"),
            );
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let plen = match p {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => return self.err(start, format!("bad prefix length in '{text}' (0 to {max})")),
            },
        };
        Ok(Lit::Net(addr, plen))
    }
    fn number(&mut self, what: &str) -> Result<u64, RuleError> {
        let start = {
            self.ws();
            self.pos
        };
        let w = self.word();
        let text = String::from_utf8_lossy(w).into_owned();
        match parse_u64(&text) {
            Some(v) => Ok(v),
            None => self.err(start, format!("expected {what}, found '{text}'")),
        }
    }
    fn action(&mut self) -> Result<Verdict, RuleError> {
        let start = {
            self.ws();
            self.pos
        };
        let w = self.word().to_ascii_lowercase();
        let action = match w.as_slice() {
            b"accept" => VerdictAction::Accept,
            b"drop" => VerdictAction::Drop,
            b"repeat" => VerdictAction::Repeat,
            b"queue" => {
                let n = self.number("a queue number")?;
                match u16::try_from(n) {
                    Ok(n) => VerdictAction::Queue(n),
                    Err(_) => return self.err(start, "queue number must be 0 to 65535"),
                }
            }
            _ => return self.err(start, "expected an action: accept, drop, repeat or queue N"),
        };
        let mut v = Verdict {
            action,
            mark: None,
            connmark: None,
        };
        while self.eat(",") {
            let mstart = {
                self.ws();
                self.pos
            };
            let w = self.word().to_ascii_lowercase();
            let n = self.number("a 32-bit value")?;
            let n = match u32::try_from(n) {
                Ok(n) => n,
                Err(_) => return self.err(mstart, "marks are 32-bit values"),
            };
            match w.as_slice() {
                b"mark" => v.mark = Some(n),
                b"connmark" => v.connmark = Some(n),
                _ => return self.err(mstart, "expected 'mark N' or 'connmark N'"),
            }
        }
        Ok(v)
    }
}

fn parse_u64(t: &str) -> Option<u64> {
    if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else if t.bytes().all(|c| c.is_ascii_digit()) {
        t.parse().ok()
    } else {
        None
    }
}

/// Parses rule text. With `check_types`, literals are checked against the types of the
/// keys the built-in plugins produce.
pub fn parse_rules(text: &str, check_types: bool) -> Result<RuleSet, RuleError> {
    let mut set = RuleSet::default();
    let s = text.as_bytes();
    let mut p = Parser {
        s,
        pos: 0,
        line: 1,
        line_start: 0,
        keys: &mut set.keys,
        check_types,
        depth: 0,
    };
    let mut rules = Vec::new();
    loop {
        // Skip blank lines, comments and separators.
        loop {
            p.ws();
            match s.get(p.pos) {
                Some(b'\n') => {
                    p.pos += 1;
                    p.line += 1;
                    p.line_start = p.pos;
                }
                Some(b';') => p.pos += 1,
                Some(b'#') => {
                    while p.pos < s.len() && s[p.pos] != b'\n' {
                        p.pos += 1;
                    }
                }
                _ => break,
            }
        }
        if p.pos >= s.len() {
            break;
        }
        let line = p.line;
        let expr = p.or()?;
        if !p.eat("->") {
            let at = p.pos;
            return p.err(at, "expected '->' and an action after the condition");
        }
        let verdict = p.action()?;
        p.ws();
        match s.get(p.pos) {
            None | Some(b'\n') | Some(b';') | Some(b'#') => {}
            Some(_) => {
                let at = p.pos;
                return p.err(at, "unexpected text after the rule");
            }
        }
        rules.push(Rule {
            line,
            expr,
            verdict,
        });
    }
    set.rules = rules;
    Ok(set)
}

fn in_net(a: IpAddr, net: IpAddr, plen: u8) -> bool {
    match (a, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let m = if plen == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(plen))
            };
            u32::from(a) & m == u32::from(n) & m
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let m = if plen == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(plen))
            };
            u128::from(a) & m == u128::from(n) & m
        }
        _ => false,
    }
}

fn eval(e: &Expr, ev: &Event<'_>) -> bool {
    match e {
        Expr::And(a, b) => eval(a, ev) && eval(b, ev),
        Expr::Or(a, b) => eval(a, ev) || eval(b, ev),
        Expr::Not(a) => !eval(a, ev),
        Expr::Truthy(i) => {
            if let Some(v) = ev.u64(*i) {
                v != 0
            } else if let Some(b) = ev.bytes(*i) {
                !b.is_empty()
            } else {
                ev.addr(*i).is_some()
            }
        }
        Expr::Cmp(i, op, lit) => match lit {
            Lit::Int(n) => match ev.u64(*i) {
                Some(v) => match op {
                    Op::Eq => v == *n,
                    Op::Ne => v != *n,
                    Op::Lt => v < *n,
                    Op::Le => v <= *n,
                    Op::Gt => v > *n,
                    Op::Ge => v >= *n,
                },
                None => false,
            },
            Lit::Net(net, plen) => match ev.addr(*i) {
                Some(a) => in_net(a, *net, *plen) == (*op == Op::Eq),
                None => false,
            },
            Lit::Str(s) => match ev.bytes(*i) {
                Some(b) => (b == s.as_slice()) == (*op == Op::Eq),
                None => false,
            },
        },
    }
}

impl fmt::Display for RuleSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} rule(s) over {}",
            self.rules.len(),
            self.keys.join(", ")
        )
    }
}

struct VerdictStage {
    rules: Vec<Rule>,
    overrides: bool,
}

impl Stage for VerdictStage {
    fn interp(&self, ev: &mut Event<'_>) -> Ret {
        for r in &self.rules {
            if eval(&r.expr, ev) {
                ev.set_verdict(r.verdict, self.overrides);
                break;
            }
        }
        Ret::Ok
    }
}

fn options() -> Vec<OptionDef> {
    vec![
        OptionDef::string(
            "rules",
            "",
            "rules, one per line or separated by ';': COND -> accept|drop|repeat|queue N[, mark N][, connmark N]",
        ),
        OptionDef::string("rules_file", "", "file with more rules, one per line"),
        OptionDef::boolean(
            "override",
            "0",
            "replace a verdict an earlier element of the same stack already set",
        ),
    ]
}

fn build(o: &Options) -> Result<(RuleSet, bool), PluginError> {
    let mut text = o.str("rules").to_string();
    let inline_lines = text.lines().count().max(1);
    let file = o.str("rules_file");
    if !file.is_empty() {
        let t = std::fs::read_to_string(file).map_err(|e| {
            PluginError::new(
                o.error("rules_file", format_args!("{file}: {e}"))
                    .to_string(),
            )
        })?;
        text.push('\n');
        text.push_str(&t);
    }
    let set = parse_rules(&text, true).map_err(|e| {
        let msg = if !file.is_empty() && e.line > inline_lines {
            format!(
                "{file}:{}:{}: bad VERDICT rule: {}",
                e.line - inline_lines,
                e.col,
                e.msg
            )
        } else {
            o.error("rules", format_args!("bad rule at {e}"))
                .to_string()
        };
        PluginError::new(msg)
    })?;
    if set.rules.is_empty() {
        return Err(PluginError::new(
            o.error(
                "rules",
                "VERDICT needs at least one rule (rules or rules_file)",
            )
            .to_string(),
        ));
    }
    Ok((set, o.bool("override")))
}

/// The VERDICT plugin.
pub(crate) fn spec() -> PluginSpec {
    PluginSpec {
        name: "VERDICT",
        aliases: &[],
        kind: Kind::Filter,
        summary: "sets the NFQUEUE verdict of packets from rules over keys (ip.daddr == 10.0.0.0/8 -> drop)",
        options: options(),
        inputs: vec![],
        outputs: vec![],
        wildcard: false,
        build: Box::new(|ctx| {
            let (set, overrides) = build(ctx.options)?;
            let inputs = set
                .keys
                .iter()
                .map(|k| KeyDef::dynamic(k.clone(), KeyType::Any))
                .collect();
            Ok(Built::Stage {
                stage: Arc::new(VerdictStage {
                    rules: set.rules,
                    overrides,
                }),
                inputs: Inputs::Keys(inputs),
                outputs: vec![],
            })
        }),
    }
}

struct Null;

impl Stage for Null {
    fn interp(&self, _ev: &mut Event<'_>) -> Ret {
        Ret::Ok
    }
}

/// The NULL sink: discards events. Ends a stack whose only job is to decide verdicts
/// (`q:NFQ,base:BASE,v:VERDICT,n:NULL`), and the accept-all stack of the benchmarks.
pub(crate) fn null_spec() -> PluginSpec {
    PluginSpec {
        name: "NULL",
        aliases: &[],
        kind: Kind::Sink,
        summary: "discards events (ends a stack that only sets verdicts)",
        options: vec![],
        inputs: vec![],
        outputs: vec![],
        wildcard: false,
        build: Box::new(|_| {
            Ok(Built::Stage {
                stage: Arc::new(Null),
                inputs: Inputs::Keys(vec![]),
                outputs: vec![],
            })
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_examples() {
        let s = parse_rules(
            "ip.daddr == 10.0.0.0/8 && tcp.dport == 22 -> drop\n\
             # comment\n\
             oob.mark == 0x2a -> accept, mark 0x1 ; !(ip.protocol == 6 || ip.protocol == 17) -> queue 3\n\
             oob.prefix == \"bad\" -> drop, connmark 7, mark 2",
            true,
        )
        .unwrap();
        assert_eq!(s.rules.len(), 4);
        assert_eq!(
            s.keys,
            [
                "ip.daddr",
                "tcp.dport",
                "oob.mark",
                "ip.protocol",
                "oob.prefix"
            ]
        );
        assert_eq!(s.rules[1].verdict.mark, Some(1));
        assert_eq!(s.rules[1].line, 3);
        assert_eq!(s.rules[2].verdict.action, VerdictAction::Queue(3));
        assert_eq!(s.rules[3].verdict.connmark, Some(7));
    }

    #[test]
    fn errors_name_line_and_column() {
        let e = parse_rules("oob.mark == 1 -> accept\nip.daddr == 22 -> drop", true).unwrap_err();
        assert_eq!((e.line, e.col), (2, 13), "{e}");
        assert!(e.msg.contains("IP address"), "{e}");
        let e = parse_rules("tcp.dport == 22 -> explode", true).unwrap_err();
        assert_eq!((e.line, e.col), (1, 20));
        let e = parse_rules("tcp.dport == 22", true).unwrap_err();
        assert!(e.msg.contains("->"));
        let e = parse_rules("(tcp.dport == 22 -> drop", true).unwrap_err();
        assert!(e.msg.contains("')'"));
        let deep = format!("{}a{} -> drop", "(".repeat(10_000), ")".repeat(10_000));
        assert!(parse_rules(&deep, false)
            .unwrap_err()
            .msg
            .contains("nested"));
        let e = parse_rules("ip.saddr == 1.2.3.4/40 -> drop", true).unwrap_err();
        assert!(e.msg.contains("prefix"));
        assert!(parse_rules("x == \"a -> drop", false).is_err());
        assert!(parse_rules("x < \"a\" -> drop", false).is_err());
    }

    #[test]
    fn rules_file_errors_name_the_file_line_and_column() {
        let path = std::env::temp_dir().join(format!("verdict-rules-{}.txt", std::process::id()));
        std::fs::write(
            &path,
            "# rules\noob.mark == 1 -> accept\n\nip.saddr == 7 -> drop\n",
        )
        .unwrap();
        let file = path.display().to_string();
        let o = Options::from_pairs("VERDICT", "v", &options(), &[("rules_file", &file)]).unwrap();
        let e = build(&o).err().unwrap().to_string();
        assert!(e.contains(&format!("{file}:4:13:")), "{e}");
        std::fs::write(&path, "oob.mark == 1 -> accept\n").unwrap();
        let o = Options::from_pairs(
            "VERDICT",
            "v",
            &options(),
            &[
                ("rules_file", &file),
                ("rules", "ip.daddr == 10.0.0.1 -> drop"),
            ],
        )
        .unwrap();
        let (set, _) = build(&o).unwrap();
        assert_eq!(set.rules.len(), 2);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn networks_match_by_prefix() {
        let n: IpAddr = "10.0.0.0".parse().unwrap();
        assert!(in_net("10.2.3.4".parse().unwrap(), n, 8));
        assert!(!in_net("11.2.3.4".parse().unwrap(), n, 8));
        assert!(in_net("1.1.1.1".parse().unwrap(), n, 0));
        let n6: IpAddr = "fd00::".parse().unwrap();
        assert!(in_net("fd00::1".parse().unwrap(), n6, 64));
        assert!(!in_net("10.0.0.1".parse().unwrap(), n6, 0));
    }

    #[test]
    fn first_matching_rule_sets_the_verdict_through_the_engine() {
        use crate::filters::testutil::*;
        use ulogd_core::testing::{collect_sink, TestSource};
        let keys = vec![
            KeyDef::new("ip.daddr", KeyType::IpAddr),
            KeyDef::new("tcp.dport", KeyType::U16),
        ];
        let events = vec![
            vec![(0, ip("10.1.1.1")), (1, u(22))],
            vec![(0, ip("10.1.1.1")), (1, u(80))],
            vec![(0, ip("192.168.1.1")), (1, u(22))],
        ];
        let mut reg = ulogd_core::Registry::new();
        crate::register(&mut reg);
        reg.add(TestSource::spec("TSRC", keys, events));
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let s2 = seen.clone();
        reg.add(PluginSpec {
            name: "VSINK",
            aliases: &[],
            kind: Kind::Sink,
            summary: "test",
            options: vec![],
            inputs: vec![],
            outputs: vec![],
            wildcard: false,
            build: Box::new(move |_| {
                struct S(Arc<std::sync::Mutex<Vec<Option<Verdict>>>>);
                impl Stage for S {
                    fn interp(&self, ev: &mut Event<'_>) -> Ret {
                        self.0.lock().unwrap().push(ev.verdict());
                        Ret::Ok
                    }
                }
                Ok(Built::Stage {
                    stage: Arc::new(S(s2.clone())),
                    inputs: Inputs::Keys(vec![]),
                    outputs: vec![],
                })
            }),
        });
        let _ = collect_sink;
        let conf = "[v]\nrules=\"ip.daddr == 10.0.0.0/8 && tcp.dport == 22 -> drop; tcp.dport >= 80 -> accept, mark 5\"\n";
        ulogd_core::testing::run(&reg, "src:TSRC,v:VERDICT,out:VSINK", conf, 0).unwrap();
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[0].unwrap().action, VerdictAction::Drop);
        assert_eq!(seen[1].unwrap().mark, Some(5));
        assert_eq!(seen[2], None);
        // A key no upstream plugin produces is a start-up error naming it.
        let conf = "[v]\nrules=\"tcp.sport == 1 -> drop\"\n";
        let e = ulogd_core::testing::run(&reg, "src:TSRC,v:VERDICT,out:VSINK", conf, 0)
            .err()
            .unwrap();
        assert!(e.to_string().contains("tcp.sport"), "{e}");
        // A bad rule is a start-up error naming the line and column.
        let conf = "[v]\nrules=\"tcp.dport == 1.2.3.4 -> drop\"\n";
        let e = ulogd_core::testing::run(&reg, "src:TSRC,v:VERDICT,out:VSINK", conf, 0)
            .err()
            .unwrap();
        assert!(e.to_string().contains("line 1, column 14"), "{e}");
    }
}
