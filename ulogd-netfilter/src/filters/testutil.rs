//! Test helpers: run `TESTSRC -> filter(s) -> COLLECT` through the real engine.
//!
//! The configuration is built by hand (a `[global]` section with one `stack=` entry
//! and one section per instance), so the tests do not depend on the ini parser.

use std::net::IpAddr;

use ulogd_core::config::{ConfigFile, Entry, Section};
use ulogd_core::testing::{collect_sink, OwnedValue, TestEvent, TestSource};
use ulogd_core::{Engine, KeyDef, Registry, Report};

/// What the sink saw: per event, every set key (name, value) in stack order.
pub(crate) type Rows = Vec<Vec<(String, OwnedValue)>>;

fn section(name: &str, entries: &[(&str, &str)]) -> Section {
    Section {
        name: name.to_string(),
        line: 1,
        entries: entries
            .iter()
            .enumerate()
            .map(|(i, (k, v))| Entry {
                key: k.to_string(),
                value: v.to_string(),
                line: i + 2,
            })
            .collect(),
    }
}

/// One filter of a test stack: (instance id, plugin, options).
pub(crate) type FilterSpec<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);

/// Runs `src:TESTSRC,<filters>,out:COLLECT` where `filters` is `[(id, PLUGIN, options)]`,
/// the source emitting `events` with keys `keys`. Returns the report and the rows.
pub(crate) fn run_filters(
    keys: Vec<KeyDef>,
    events: Vec<TestEvent>,
    filters: &[FilterSpec<'_>],
) -> Result<(Report, Rows), String> {
    let mut reg = Registry::new();
    crate::filters::register(&mut reg);
    reg.add(TestSource::spec("TESTSRC", keys, events));
    let (spec, seen) = collect_sink("COLLECT");
    reg.add(spec);
    let mut stack = String::from("src:TESTSRC");
    for (id, plugin, _) in filters {
        stack.push_str(&format!(",{id}:{plugin}"));
    }
    stack.push_str(",out:COLLECT");
    let mut cfg = ConfigFile {
        origin: "test.conf".into(),
        sections: vec![section(
            "global",
            &[
                ("logfile", "stdout"),
                ("loglevel", "7"),
                ("threads", "0"),
                ("stack", &stack),
            ],
        )],
    };
    for (id, _, opts) in filters {
        cfg.sections.push(section(id, opts));
    }
    let engine = Engine::from_config(&reg, &cfg, |_| {}).map_err(|e| {
        e.iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    })?;
    let report = engine.run().map_err(|e| e.to_string())?;
    let rows = seen.lock().unwrap().clone();
    Ok((report, rows))
}

/// Runs one filter without options and returns the rows (panics on engine errors:
/// tests only).
pub(crate) fn run1(plugin: &str, keys: Vec<KeyDef>, events: Vec<TestEvent>) -> Rows {
    run_filters(keys, events, &[("f", plugin, &[])])
        .expect("engine run")
        .1
}

/// The last value of key `name` in a row (the nearest producer, as a binding sees it).
pub(crate) fn get<'a>(row: &'a [(String, OwnedValue)], name: &str) -> Option<&'a OwnedValue> {
    row.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// The text value of key `name`.
pub(crate) fn get_str(row: &[(String, OwnedValue)], name: &str) -> Option<String> {
    match get(row, name)? {
        OwnedValue::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        other => panic!("{name} is not bytes: {other:?}"),
    }
}

/// Shorthands for building events.
pub(crate) fn u(v: u64) -> OwnedValue {
    OwnedValue::Uint(v)
}
/// A string / raw value.
pub(crate) fn s(v: &str) -> OwnedValue {
    OwnedValue::Bytes(v.as_bytes().to_vec())
}
/// Raw bytes.
pub(crate) fn raw(v: &[u8]) -> OwnedValue {
    OwnedValue::Bytes(v.to_vec())
}
/// An address.
pub(crate) fn ip(v: &str) -> OwnedValue {
    OwnedValue::Addr(v.parse::<IpAddr>().unwrap())
}
