//! The real ulogd2 2.0.8 configs (see tests/fixtures/configs/SOURCE.md) parse unchanged,
//! and the TOML form of the golden config gives the same model.

use std::path::Path;

use ulogd_core::config::{parse_ini, parse_toml, ConfigFile, Section};

macro_rules! fixture {
    ($name:literal) => {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/configs/",
            $name
        )
    };
}

const ALL_INI: &[&str] = &[
    fixture!("golden-basic.conf"),
    fixture!("run1-nflog-ulogd.conf"),
    fixture!("run2-nfct-ulogd.conf"),
    fixture!("run3-json-sockets-mark-filter.conf"),
    fixture!("run4-nfct-event-and-poll.conf"),
    fixture!("run5-nfacct.conf"),
    fixture!("run6-syslog.conf"),
    fixture!("run7-unixsock.conf"),
    fixture!("run10-enobufs.conf"),
];

fn load(path: &str) -> ConfigFile {
    ConfigFile::load(Path::new(path)).unwrap_or_else(|e| panic!("{e}"))
}

fn section<'a>(c: &'a ConfigFile, name: &str) -> &'a Section {
    c.section(name)
        .unwrap_or_else(|| panic!("no [{name}] in {}", c.origin.display()))
}

fn value<'a>(c: &'a ConfigFile, sect: &str, key: &str) -> &'a str {
    &section(c, sect)
        .get(key)
        .unwrap_or_else(|| panic!("no {key} in [{sect}]"))
        .value
}

fn count(c: &ConfigFile, sect: &str, key: &str) -> usize {
    section(c, sect).all(key).count()
}

/// Every section and entry line number points at the text it came from.
fn check_lines(c: &ConfigFile, text: &str) {
    let lines: Vec<&str> = text.lines().collect();
    for s in &c.sections {
        assert_eq!(lines[s.line - 1].trim(), format!("[{}]", s.name));
        for e in &s.entries {
            let l = lines[e.line - 1];
            assert!(
                l.starts_with(&e.key),
                "line {} is {l:?}, key {}",
                e.line,
                e.key
            );
            assert!(
                l.contains(&e.value),
                "line {} is {l:?}, value {}",
                e.line,
                e.value
            );
        }
    }
}

#[test]
fn every_real_config_parses() {
    for path in ALL_INI {
        let c = load(path);
        assert_eq!(c.origin, Path::new(path));
        let text = std::fs::read_to_string(path).unwrap();
        check_lines(&c, &text);
        // same result through parse_ini directly
        assert_eq!(parse_ini(Path::new(path), &text).unwrap(), c);
        // all of them start with [global] and have several stacks
        assert_eq!(c.sections[0].name, "global", "{path}");
        assert!(count(&c, "global", "stack") >= 2, "{path}");
        assert!(c.sections.iter().all(|s| !s.name.is_empty()));
    }
}

#[test]
fn golden_basic() {
    let c = load(fixture!("golden-basic.conf"));
    assert_eq!(c.sections.len(), 11);
    assert_eq!(value(&c, "global", "logfile"), "ulogd.log");
    assert_eq!(value(&c, "global", "loglevel"), "3");
    assert_eq!(count(&c, "global", "plugin"), 12);
    assert_eq!(count(&c, "global", "stack"), 5);
    let stacks: Vec<_> = section(&c, "global").all("stack").collect();
    assert_eq!(
        stacks[0].value,
        "log5:NFLOG,base1:BASE,ifi1:IFINDEX,ip2str1:IP2STR,print1:PRINTPKT,emu1:LOGEMU"
    );
    assert_eq!(stacks[0].line, 16);
    assert_eq!(stacks[4].value, "log10:NFLOG,base5:BASE,pcap1:PCAP");
    assert_eq!(stacks[4].line, 20);
    assert_eq!(value(&c, "log10", "group"), "10");
    assert_eq!(section(&c, "log10").line, 29);
    assert_eq!(value(&c, "pcap1", "file"), "ulogd2-output.pcap");
    assert_eq!(value(&c, "pcap1", "sync"), "1");
}

#[test]
fn run1_nflog() {
    let c = load(fixture!("run1-nflog-ulogd.conf"));
    assert_eq!(count(&c, "global", "plugin"), 15);
    assert_eq!(count(&c, "global", "stack"), 9);
    assert_eq!(value(&c, "global", "loglevel"), "1");
    assert_eq!(value(&c, "log1", "group"), "5");
    assert_eq!(value(&c, "json2", "device"), "fw1");
    assert_eq!(value(&c, "json2", "eventv1"), "1");
    assert_eq!(value(&c, "xml1", "directory"), "/var/log/ulog/run1");
    assert_eq!(value(&c, "sq1", "table"), "ulog_pkt");
}

#[test]
fn run2_nfct() {
    let c = load(fixture!("run2-nfct-ulogd.conf"));
    assert_eq!(count(&c, "global", "stack"), 10);
    assert!(section(&c, "ct1").entries.is_empty());
    assert_eq!(value(&c, "ct2", "hash_enable"), "0");
    assert_eq!(value(&c, "ct2", "event_mask"), "7");
    assert_eq!(value(&c, "ipfix1", "host"), "127.0.0.1");
    assert_eq!(value(&c, "ipfix1", "mtu"), "150");
}

#[test]
fn run3_sockets_and_mark() {
    let c = load(fixture!("run3-json-sockets-mark-filter.conf"));
    assert_eq!(count(&c, "global", "stack"), 6);
    assert!(section(&c, "ct1").entries.is_empty());
    assert_eq!(value(&c, "ctf", "accept_proto_filter"), "tcp");
    assert_eq!(value(&c, "ctf", "accept_dst_filter"), "127.0.0.0/8");
    assert_eq!(value(&c, "mark1", "mark"), "0x10");
    assert_eq!(value(&c, "mark1", "mask"), "0xff");
    assert_eq!(value(&c, "jsonudp", "port"), "5140");
    assert_eq!(
        value(&c, "jsonunix", "file"),
        "/var/log/ulog/run3/json.sock"
    );
}

#[test]
fn run4_to_run10() {
    let c = load(fixture!("run4-nfct-event-and-poll.conf"));
    assert_eq!(count(&c, "global", "stack"), 2);
    assert_eq!(value(&c, "ctp", "pollinterval"), "2");

    let c = load(fixture!("run5-nfacct.conf"));
    assert_eq!(count(&c, "global", "stack"), 5);
    assert_eq!(value(&c, "acct1", "timestamp"), "1");
    assert_eq!(value(&c, "graphite1", "prefix"), "netfilter.nfacct");

    let c = load(fixture!("run6-syslog.conf"));
    assert_eq!(value(&c, "global", "logfile"), "syslog");
    assert_eq!(value(&c, "global", "loglevel"), "5");
    assert!(section(&c, "sys1").entries.is_empty());
    assert_eq!(value(&c, "sys2", "facility"), "LOG_LOCAL2");
    assert_eq!(value(&c, "sys2", "level"), "LOG_INFO");

    let c = load(fixture!("run7-unixsock.conf"));
    assert_eq!(
        value(&c, "us1", "socket_path"),
        "/var/log/ulog/run7/ulogd2.sock"
    );

    let c = load(fixture!("run10-enobufs.conf"));
    assert_eq!(count(&c, "global", "stack"), 2);
    assert_eq!(value(&c, "log1", "netlink_socket_buffer_size"), "8192");
    assert_eq!(value(&c, "log1", "netlink_socket_buffer_maxsize"), "65536");
    assert_eq!(value(&c, "log2", "group"), "6");
}

/// Sections with (key, value) pairs, without line numbers.
fn shape(c: &ConfigFile) -> Vec<(String, Vec<(String, String)>)> {
    c.sections
        .iter()
        .map(|s| {
            let entries = s
                .entries
                .iter()
                .map(|e| (e.key.clone(), e.value.clone()))
                .collect();
            (s.name.clone(), entries)
        })
        .collect()
}

#[test]
fn toml_equivalent_of_golden_basic() {
    let ini = load(fixture!("golden-basic.conf"));
    let toml = load(fixture!("golden-basic.toml")); // chosen by the .toml extension
                                                    // TOML booleans keep their type in the text (`sync = true` is "true", so an integer
                                                    // option can refuse it); a boolean option reads "true" as ini's "1".
    let mut as_ini = shape(&toml);
    for (_, entries) in &mut as_ini {
        for (_, v) in entries {
            if let b @ ("true" | "false") = v.as_str() {
                let b = ulogd_core::options::parse_bool(b).unwrap();
                *v = if b { "1" } else { "0" }.to_string();
            }
        }
    }
    assert_eq!(as_ini, shape(&ini));
    assert_eq!(value(&toml, "emu1", "sync"), "true");
    assert_eq!(toml.origin, Path::new(fixture!("golden-basic.toml")));

    let text = std::fs::read_to_string(fixture!("golden-basic.toml")).unwrap();
    assert_eq!(
        parse_toml(Path::new("x.toml"), &text).unwrap().sections,
        toml.sections
    );
    let lines: Vec<&str> = text.lines().collect();
    for s in &toml.sections {
        assert_eq!(lines[s.line - 1], format!("[{}]", s.name));
        for e in &s.entries {
            let l = lines[e.line - 1];
            let ok = l.starts_with(&e.key) || l.trim() == format!("\"{}\",", e.value);
            assert!(ok, "line {} is {l:?} for {} = {}", e.line, e.key, e.value);
        }
    }
    // array elements carry their own lines
    let stacks: Vec<_> = toml.section("global").unwrap().all("stack").collect();
    assert_eq!(stacks.len(), 5);
    assert!(stacks.windows(2).all(|w| w[1].line == w[0].line + 1));
}
