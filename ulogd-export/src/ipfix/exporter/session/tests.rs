//! The session on a fake clock: no socket, no sleep. A test "collector" (`Peer`)
//! reads every message back with the wire codec and keeps the templates it learnt,
//! so each assertion is about what a real collector would see.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use super::super::super::template::{FVal, Fields};
use super::super::super::wire::{
    FieldSpec, HeaderRepr, MessageView, Protocol, RecordIter, TemplateIter, TemplateRepr,
};
use super::*;

const UNIX: u32 = 1_700_000_000;

fn cfg(protocol: Protocol, transport: Transport) -> SessionConfig {
    SessionConfig {
        protocol,
        transport,
        domain: 7,
        nth_template: 0,
        template_refresh: Duration::ZERO,
        corksets_max: 0,
        mtu: 1400,
        flush: Duration::from_millis(500),
        queue_max: 1024,
        exporter_id: 4242,
    }
}

/// An IPv4 (or IPv6) flow record: addresses, ports, protocol, octets.
fn rec<'a>(i: u64, v6: bool) -> Fields<'a> {
    let mut f = Fields::new();
    if v6 {
        f.push(
            FieldSpec::iana(27, 16),
            FVal::Addr(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1))),
        );
        f.push(
            FieldSpec::iana(28, 16),
            FVal::Addr(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2))),
        );
    } else {
        f.push(
            FieldSpec::iana(8, 4),
            FVal::Addr(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))),
        );
        f.push(
            FieldSpec::iana(12, 4),
            FVal::Addr(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2))),
        );
    }
    f.push(FieldSpec::iana(7, 2), FVal::Uint(1000 + i));
    f.push(FieldSpec::iana(11, 2), FVal::Uint(80));
    f.push(FieldSpec::iana(4, 1), FVal::Uint(6));
    f.push(FieldSpec::iana(1, 8), FVal::Uint(i));
    f
}

/// What one message held, as a collector decodes it.
#[derive(Debug, Default)]
struct Seen {
    header: Option<HeaderRepr>,
    /// Ids of the data templates it defined.
    templates: Vec<u16>,
    /// Ids of the options templates it defined.
    options_templates: Vec<u16>,
    /// Flow records (of data templates).
    records: u32,
    /// Records of options templates.
    options_records: u32,
    /// Set ids in order (2/3 or 0/1 for templates, the template id for data).
    sets: Vec<u16>,
    /// The source ports of the flow records, in order (to follow records).
    ports: Vec<u64>,
}

/// A collector that learns templates across messages.
#[derive(Default)]
struct Peer {
    templates: HashMap<u16, TemplateRepr>,
}

impl Peer {
    fn read(&mut self, msg: &[u8]) -> Seen {
        let m = MessageView::new_checked(msg).expect("valid message");
        let p = m.header.protocol;
        let mut s = Seen {
            header: Some(m.header),
            ..Seen::default()
        };
        for set in m.sets() {
            let set = set.expect("valid set");
            s.sets.push(set.id);
            if set.id == p.template_set_id() || set.id == p.options_set_id() {
                let opt = set.id == p.options_set_id();
                for t in TemplateIter::new(&set, p, opt) {
                    let t = t.expect("valid template");
                    if opt {
                        s.options_templates.push(t.id);
                    } else {
                        s.templates.push(t.id);
                    }
                    self.templates.insert(t.id, t);
                }
                continue;
            }
            let t = self
                .templates
                .get(&set.id)
                .unwrap_or_else(|| panic!("data set {} before its template", set.id));
            for r in RecordIter::new(&set, t) {
                let r = r.expect("valid record");
                if t.is_options() {
                    s.options_records += 1;
                } else {
                    s.records += 1;
                    for (f, v) in r.fields() {
                        if f.id == 7 {
                            s.ports
                                .push(super::super::super::wire::read_uint(v).unwrap());
                        }
                    }
                }
            }
        }
        s
    }
}

/// Sends everything the session lets go at `now`.
fn drain(s: &mut IpfixSession, now: Instant) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(m) = s.poll_transmit(now, UNIX) {
        out.push(m.to_vec());
        s.handle_sent();
    }
    out
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn first_message_carries_the_options_template_and_statistics() {
    let t0 = Instant::now();
    let mut s = IpfixSession::new(cfg(Protocol::Ipfix, Transport::Udp), t0);
    assert!(s.poll_connect(t0));
    s.handle_connected(t0);
    let out = drain(&mut s, t0);
    assert_eq!(out.len(), 1);
    let seen = Peer::default().read(&out[0]);
    assert_eq!(seen.options_templates, vec![256]);
    assert_eq!(seen.options_records, 1);
    assert_eq!(seen.records, 0);
    let h = seen.header.unwrap();
    assert_eq!((h.sequence, h.domain, h.export_time), (0, 7, UNIX));
}

#[test]
fn udp_templates_every_nth_message() {
    let t0 = Instant::now();
    let mut c = cfg(Protocol::Ipfix, Transport::Udp);
    c.nth_template = 4;
    c.corksets_max = 1;
    let mut s = IpfixSession::new(c, t0);
    s.handle_connected(t0);
    let mut peer = Peer::default();
    let mut seen = Vec::new();
    for i in 0..13 {
        s.handle_record(&rec(i, false), t0);
        for m in drain(&mut s, t0) {
            seen.push(peer.read(&m));
        }
    }
    // 13 records, one per message: 12 finished so far, templates after every 4th.
    let kinds: String = seen
        .iter()
        .map(|m| match (m.options_templates.is_empty(), m.records) {
            (false, 0) => 'T',
            (true, 1) => 'D',
            other => panic!("unexpected message {other:?}"),
        })
        .collect();
    assert_eq!(kinds, "TDDDDTDDDDTDDDDT");
    // The refresh carries every data template, not only the options template.
    assert_eq!(seen[5].templates, vec![257]);
    assert_eq!(seen[10].templates, vec![257]);
    // A new template goes inline before its first record.
    assert_eq!(seen[1].templates, vec![257]);
    assert!(seen[2].templates.is_empty());
}

#[test]
fn udp_templates_every_template_refresh() {
    let t0 = Instant::now();
    let mut c = cfg(Protocol::Ipfix, Transport::Udp);
    c.template_refresh = Duration::from_secs(60);
    let mut s = IpfixSession::new(c, t0);
    s.handle_connected(t0);
    let mut peer = Peer::default();
    assert_eq!(drain(&mut s, t0).len(), 1);
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(60)));
    // A record at 1 s leaves with the flush timer; no refresh yet.
    s.handle_record(&rec(1, false), t0 + ms(1000));
    s.handle_timeout(t0 + ms(1500));
    let out = drain(&mut s, t0 + ms(1500));
    assert_eq!(out.len(), 1);
    assert_eq!(peer.read(&out[0]).options_templates, Vec::<u16>::new());
    let just_before = t0 + Duration::from_secs(60) - ms(1);
    s.handle_timeout(just_before);
    assert!(drain(&mut s, just_before).is_empty());
    let at = t0 + Duration::from_secs(60);
    assert_eq!(s.poll_timeout(), Some(at));
    s.handle_timeout(at);
    let out = drain(&mut s, at);
    assert_eq!(out.len(), 1);
    let seen = peer.read(&out[0]);
    assert_eq!(seen.templates, vec![257]);
    assert_eq!(seen.options_templates, vec![256]);
    assert_eq!(s.poll_timeout(), Some(at + Duration::from_secs(60)));
}

#[test]
fn tcp_sends_templates_once_per_connection() {
    let t0 = Instant::now();
    let mut c = cfg(Protocol::Ipfix, Transport::Tcp);
    // Both would trigger over UDP; over TCP templates never repeat.
    c.nth_template = 1;
    c.template_refresh = Duration::from_secs(1);
    c.corksets_max = 1;
    let mut s = IpfixSession::new(c, t0);
    s.handle_connected(t0);
    let mut peer = Peer::default();
    let mut options = 0;
    for i in 0..20 {
        let now = t0 + Duration::from_secs(i);
        s.handle_record(&rec(i, false), now);
        s.handle_timeout(now);
        for m in drain(&mut s, now) {
            options += peer.read(&m).options_templates.len();
        }
    }
    assert_eq!(options, 1);
    // No refresh timer over TCP; nothing else pending but the open message.
    assert_eq!(
        s.poll_timeout(),
        Some(t0 + Duration::from_secs(19) + ms(500))
    );
}

#[test]
fn partly_filled_message_leaves_after_flush() {
    let t0 = Instant::now();
    let mut s = IpfixSession::new(cfg(Protocol::Ipfix, Transport::Udp), t0);
    s.handle_connected(t0);
    drain(&mut s, t0);
    assert_eq!(s.poll_timeout(), None, "nothing pending");
    s.handle_record(&rec(1, false), t0 + ms(10));
    s.handle_record(&rec(2, false), t0 + ms(200));
    // The deadline counts from the first record of the message.
    assert_eq!(s.poll_timeout(), Some(t0 + ms(510)));
    s.handle_timeout(t0 + ms(509));
    assert!(!s.has_transmit());
    s.handle_timeout(t0 + ms(510));
    let out = drain(&mut s, t0 + ms(510));
    assert_eq!(out.len(), 1);
    let mut peer = Peer::default();
    assert_eq!(peer.read(&out[0]).ports, vec![1001, 1002]);
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn mtu_and_corksets_max_end_a_message() {
    let t0 = Instant::now();
    let mut c = cfg(Protocol::Ipfix, Transport::Udp);
    c.mtu = 200;
    let mut s = IpfixSession::new(c, t0);
    s.handle_connected(t0);
    drain(&mut s, t0);
    let mut peer = Peer::default();
    let mut sizes = Vec::new();
    for i in 0..30 {
        s.handle_record(&rec(i, false), t0);
        for m in drain(&mut s, t0) {
            assert!(m.len() <= 200, "{} bytes", m.len());
            sizes.push(peer.read(&m).records);
        }
    }
    assert!(sizes.len() >= 3, "{sizes:?}");
    // Full messages: the record that did not fit starts the next one.
    assert!(sizes[1..].iter().all(|&n| n == sizes[1]), "{sizes:?}");

    let mut c = cfg(Protocol::Ipfix, Transport::Udp);
    c.corksets_max = 3;
    let mut s = IpfixSession::new(c, t0);
    s.handle_connected(t0);
    drain(&mut s, t0);
    let mut n = Vec::new();
    for i in 0..10 {
        s.handle_record(&rec(i, false), t0);
        for m in drain(&mut s, t0) {
            n.push(peer.read(&m).records);
        }
    }
    assert_eq!(n, vec![3, 3, 3]);
}

/// RFC 7011 §3.1: the sequence number of a message is the number of data records
/// (options records included) sent before it on this transport session.
fn check_ipfix_sequence(seen: &[Seen]) {
    let mut total = 0u32;
    for (i, m) in seen.iter().enumerate() {
        assert_eq!(m.header.unwrap().sequence, total, "message {i}");
        total += m.records + m.options_records;
    }
}

#[test]
fn ipfix_sequence_counts_data_and_options_records() {
    let t0 = Instant::now();
    let mut c = cfg(Protocol::Ipfix, Transport::Udp);
    c.nth_template = 3;
    c.mtu = 300;
    let mut s = IpfixSession::new(c, t0);
    s.handle_connected(t0);
    let mut peer = Peer::default();
    let mut seen = Vec::new();
    for i in 0..60 {
        s.handle_record(&rec(i, i % 3 == 0), t0);
        seen.extend(drain(&mut s, t0).iter().map(|m| peer.read(m)));
    }
    s.finish();
    seen.extend(drain(&mut s, t0).iter().map(|m| peer.read(m)));
    check_ipfix_sequence(&seen);
    let options: u32 = seen.iter().map(|m| m.options_records).sum();
    let records: u32 = seen.iter().map(|m| m.records).sum();
    assert!(options >= 3, "{options} options records");
    assert_eq!(records, 60);
    assert_eq!(s.counters().records, 60);
    // Both templates were learnt; every port arrived once, in order.
    let ports: Vec<u64> = seen.iter().flat_map(|m| m.ports.clone()).collect();
    assert_eq!(ports, (1000..1060).collect::<Vec<_>>());
}

#[test]
fn tcp_reconnect_restarts_the_sequence_and_sends_all_templates_first() {
    let t0 = Instant::now();
    let mut c = cfg(Protocol::Ipfix, Transport::Tcp);
    c.corksets_max = 2;
    let mut s = IpfixSession::new(c, t0);
    s.handle_connected(t0);
    let mut peer = Peer::default();
    let mut first = Vec::new();
    for i in 0..8 {
        // IPv4 and IPv6 records: two data templates.
        s.handle_record(&rec(i, i % 2 == 1), t0);
        first.extend(drain(&mut s, t0).iter().map(|m| peer.read(m)));
    }
    check_ipfix_sequence(&first);
    assert!(first.last().unwrap().header.unwrap().sequence > 0);
    // The collector goes away; records keep coming and wait in the queue.
    let t1 = t0 + Duration::from_secs(5);
    s.handle_link_lost(t1);
    for i in 8..14 {
        s.handle_record(&rec(i, false), t1);
        assert!(drain(&mut s, t1).is_empty());
    }
    assert!(s.queued() > 0);
    assert!(s.poll_connect(t1));
    s.handle_connected(t1);
    // A new collector knows nothing: every template first, then the data.
    let mut fresh = Peer::default();
    let second: Vec<Seen> = drain(&mut s, t1).iter().map(|m| fresh.read(m)).collect();
    let mut defined: Vec<u16> = Vec::new();
    let mut first_data = None;
    for (i, m) in second.iter().enumerate() {
        defined.extend(&m.templates);
        defined.extend(&m.options_templates);
        if m.records > 0 && first_data.is_none() {
            first_data = Some(i);
        }
    }
    let fd = first_data.expect("data after reconnect");
    let before: Vec<u16> = second[..fd]
        .iter()
        .flat_map(|m| m.templates.iter().chain(&m.options_templates).copied())
        .collect();
    let mut before_sorted = before.clone();
    before_sorted.sort();
    assert_eq!(before_sorted, vec![256, 257, 258], "{before:?}");
    check_ipfix_sequence(&second);
    assert_eq!(second[0].header.unwrap().sequence, 0);
    // Nothing lost, nothing twice: the records queued while away follow, in order.
    let ports: Vec<u64> = second.iter().flat_map(|m| m.ports.clone()).collect();
    assert_eq!(ports, (1006..1012).collect::<Vec<_>>());
    assert_eq!(s.counters().lost, 0);
    assert_eq!(s.counters().connects, 2);
}

#[test]
fn tcp_failed_send_keeps_the_message_for_the_next_connection() {
    let t0 = Instant::now();
    let mut s = IpfixSession::new(cfg(Protocol::Ipfix, Transport::Tcp), t0);
    s.handle_connected(t0);
    drain(&mut s, t0);
    s.handle_record(&rec(5, false), t0);
    s.finish();
    assert!(s.poll_transmit(t0, UNIX).is_some());
    s.handle_send_failed(t0);
    assert_eq!(s.counters().lost, 0);
    assert!(s.poll_transmit(t0, UNIX).is_none(), "not connected");
    assert!(s.poll_connect(t0), "reconnect at once");
    s.handle_connected(t0);
    let mut peer = Peer::default();
    let seen: Vec<Seen> = drain(&mut s, t0).iter().map(|m| peer.read(m)).collect();
    assert_eq!(seen.iter().map(|m| m.records).sum::<u32>(), 1);
    assert_eq!(seen.last().unwrap().ports, vec![1005]);
}

#[test]
fn queue_max_drops_are_counted() {
    let t0 = Instant::now();
    let mut c = cfg(Protocol::Ipfix, Transport::Tcp);
    c.queue_max = 3;
    c.corksets_max = 1;
    let mut s = IpfixSession::new(c, t0);
    // Never connected: 10 records make 9 finished messages and one open.
    for i in 0..10 {
        s.handle_record(&rec(i, false), t0);
        assert!(s.poll_transmit(t0, UNIX).is_none());
    }
    assert_eq!(s.queued(), 3);
    let c0 = s.counters();
    assert_eq!((c0.queue_drops, c0.lost), (6, 6));
    // The oldest three are kept and sent after the templates.
    s.handle_connected(t0);
    let mut peer = Peer::default();
    let ports: Vec<u64> = drain(&mut s, t0)
        .iter()
        .flat_map(|m| peer.read(m).ports)
        .collect();
    assert_eq!(ports, vec![1000, 1001, 1002]);
    // Shutdown with the collector gone again: what is left is counted lost.
    s.handle_link_lost(t0);
    s.finish();
    assert_eq!(s.abandon_queue(), 1);
    let c1 = s.counters();
    assert_eq!((c1.records, c1.lost, c1.queue_drops), (3, 7, 6));
    assert_eq!(s.queued(), 0);
}

#[test]
fn udp_without_a_socket_loses_and_counts() {
    let t0 = Instant::now();
    let mut s = IpfixSession::new(cfg(Protocol::Ipfix, Transport::Udp), t0);
    s.handle_record(&rec(1, false), t0);
    s.finish();
    assert!(s.poll_transmit(t0, UNIX).is_none());
    assert_eq!(s.counters().lost, 1);
    // A failed UDP send loses that message too.
    s.handle_connected(t0);
    drain(&mut s, t0);
    s.handle_record(&rec(2, false), t0);
    s.finish();
    assert!(s.poll_transmit(t0, UNIX).is_some());
    s.handle_send_failed(t0);
    assert_eq!(s.counters().lost, 2);
    assert!(!s.has_transmit());
}

#[test]
fn reconnect_backoff_doubles_to_thirty_seconds() {
    let t0 = Instant::now();
    let mut s = IpfixSession::new(cfg(Protocol::Ipfix, Transport::Tcp), t0);
    let mut now = t0;
    let mut delays = Vec::new();
    for _ in 0..8 {
        assert!(s.poll_connect(now));
        let d = s.handle_connect_failed(now);
        delays.push(d.as_secs());
        assert_eq!(s.poll_timeout(), Some(now + d));
        assert!(!s.poll_connect(now + d - ms(1)));
        now += d;
    }
    assert_eq!(delays, vec![1, 2, 4, 8, 16, 30, 30, 30]);
    assert!(s.poll_connect(now));
    s.handle_connected(now);
    assert!(!s.poll_connect(now + Duration::from_secs(100)));
    s.handle_link_lost(now);
    assert!(s.poll_connect(now));
    assert_eq!(s.handle_connect_failed(now), Duration::from_secs(1));
}

#[test]
fn netflow_v9_sequence_counts_packets_and_count_counts_records() {
    let t0 = Instant::now();
    let mut c = cfg(Protocol::V9, Transport::Udp);
    c.nth_template = 2;
    c.mtu = 256;
    let mut s = IpfixSession::new(c, t0);
    s.handle_connected(t0);
    let mut peer = Peer::default();
    let mut seen = Vec::new();
    for i in 0..40 {
        let now = t0 + ms(i * 10);
        s.handle_record(&rec(i, i % 4 == 0), now);
        seen.extend(drain(&mut s, now).iter().map(|m| (now, peer.read(m))));
    }
    assert!(seen.len() > 6);
    for (i, (now, m)) in seen.iter().enumerate() {
        let h = m.header.unwrap();
        assert_eq!(h.protocol, Protocol::V9);
        // sysUptime: milliseconds since the session started, on the fake clock.
        assert_eq!(h.sys_uptime_ms as u128, (*now - t0).as_millis());
        // RFC 3954 §5.1: packets sent before this one.
        assert_eq!(h.sequence, i as u32, "packet {i}");
        // The count field: every record, template and options records included.
        let n = m.templates.len()
            + m.options_templates.len()
            + (m.records + m.options_records) as usize;
        assert_eq!(h.length_or_count as usize, n, "packet {i}");
        assert_eq!(h.domain, 7);
    }
}
