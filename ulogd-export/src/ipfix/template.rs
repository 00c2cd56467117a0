//! Templates built from what a stack carries.
//!
//! A [`Plan`] is computed once per stack binding (the first event of a stack; names
//! are compared only then): each upstream key gets a *role* when it has a fixed flow
//! meaning (addresses, ports, protocol, counters, times, the reply tuple, the
//! conntrack event), otherwise it is exported under its own IPFIX annotation
//! ([`ulogd_core::KeyDef::ipfix`]) with a length from its type. Keys without an IANA
//! element carry the netfilter enterprise number 21373 in their annotation; `ct.mark`
//! and `ct.id` fall back to 21373/4 and 21373/6 when their producer did not annotate
//! them. Per event, [`Plan::collect`] lists the fields that are set (an IPv4 and an
//! IPv6 flow therefore get different templates) into a fixed array on the stack, and
//! [`Templates::lookup`] finds or creates the template with exactly those fields.
//!
//! Flow semantics (ours, fixing the fork's, see `could-fork.md` §4):
//! - counters are `octetDeltaCount`/`packetDeltaCount` (1/2, 8 bytes): a conntrack
//!   DESTROY reports its flow once; reverse counters are PEN 29305 ids 1/2 (RFC 5103).
//! - times are `flowStartMilliseconds`/`flowEndMilliseconds` (152/153) from
//!   `flow.start.*`/`flow.end.*`, or both from `oob.time.*` for a packet.
//! - NAT: when the reply tuple differs from the swapped original tuple, the record
//!   carries `postNATSourceIPv4Address` (225, = `reply.ip.daddr`),
//!   `postNATDestinationIPv4Address` (226, = `reply.ip.saddr`), `postNAPTSource
//!   TransportPort` (227, = `reply.l4.dport`), `postNAPTDestinationTransportPort` (228,
//!   = `reply.l4.sport`), or the IPv6 twins 281/282.

use std::net::IpAddr;

use ulogd_core::{Event, KeyDef, KeyType, Value, PEN_NETFILTER, PEN_REVERSE};

use super::wire::{FieldSpec, Protocol, TemplateRepr, MIN_DATA_SET_ID, VARLEN};

/// Most fields one record carries; keys beyond are left out (and logged once).
pub(crate) const MAX_FIELDS: usize = 48;

/// IANA element ids used by name.
pub(crate) mod ie {
    pub const OCTET_DELTA: u16 = 1;
    pub const PACKET_DELTA: u16 = 2;
    pub const PROTOCOL: u16 = 4;
    pub const SRC_PORT: u16 = 7;
    pub const SRC_V4: u16 = 8;
    pub const DST_PORT: u16 = 11;
    pub const DST_V4: u16 = 12;
    pub const SRC_V6: u16 = 27;
    pub const DST_V6: u16 = 28;
    pub const EXPORTED_MESSAGES: u16 = 41;
    pub const EXPORTED_FLOWS: u16 = 42;
    pub const EXPORTING_PROCESS_ID: u16 = 144;
    pub const FLOW_START_MS: u16 = 152;
    pub const FLOW_END_MS: u16 = 153;
    pub const NOT_SENT_FLOWS: u16 = 166;
    pub const POST_NAT_SRC_V4: u16 = 225;
    pub const POST_NAT_DST_V4: u16 = 226;
    pub const POST_NAPT_SRC_PORT: u16 = 227;
    pub const POST_NAPT_DST_PORT: u16 = 228;
    pub const NAT_EVENT: u16 = 230;
    pub const POST_NAT_SRC_V6: u16 = 281;
    pub const POST_NAT_DST_V6: u16 = 282;
    /// NetFlow v9 scope type "System".
    pub const V9_SCOPE_SYSTEM: u16 = 1;
}

/// Elements a role already fills: an annotation naming one of these is skipped.
const ROLE_IES: &[u16] = &[
    1, 2, 4, 7, 8, 11, 12, 27, 28, 85, 86, 150, 151, 152, 153, 154, 155,
];

/// A key's fixed flow meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    SrcAddr,
    DstAddr,
    SrcPort,
    DstPort,
    Proto,
    Octets,
    Packets,
    RSrcAddr,
    RDstAddr,
    RSrcPort,
    RDstPort,
    ROctets,
    RPackets,
    StartSec,
    StartUsec,
    EndSec,
    EndUsec,
    PktSec,
    PktUsec,
    CtEvent,
}
const NROLES: usize = 20;

fn role_of(name: &str) -> Option<Role> {
    use Role::*;
    Some(match name {
        "orig.ip.saddr" | "ip.saddr" => SrcAddr,
        "orig.ip.daddr" | "ip.daddr" => DstAddr,
        "orig.l4.sport" | "tcp.sport" | "udp.sport" | "sctp.sport" => SrcPort,
        "orig.l4.dport" | "tcp.dport" | "udp.dport" | "sctp.dport" => DstPort,
        "orig.ip.protocol" | "ip.protocol" => Proto,
        "orig.raw.pktlen" | "raw.pktlen" => Octets,
        "orig.raw.pktcount" | "raw.pktcount" => Packets,
        "reply.ip.saddr" => RSrcAddr,
        "reply.ip.daddr" => RDstAddr,
        "reply.l4.sport" => RSrcPort,
        "reply.l4.dport" => RDstPort,
        "reply.raw.pktlen" => ROctets,
        "reply.raw.pktcount" => RPackets,
        "flow.start.sec" => StartSec,
        "flow.start.usec" => StartUsec,
        "flow.end.sec" => EndSec,
        "flow.end.usec" => EndUsec,
        "oob.time.sec" => PktSec,
        "oob.time.usec" => PktUsec,
        "ct.event" => CtEvent,
        _ => return None,
    })
}

/// A key exported under its own annotation.
#[derive(Clone, Copy, Debug)]
struct Other {
    pos: usize,
    pen: u32,
    id: u16,
    ty: KeyType,
}

/// How records are shaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Shape {
    /// The protocol (NFv9 has no enterprise or variable-length fields).
    pub protocol: Protocol,
    /// RFC 5103 biflows (one record, reverse counters) instead of two uni-flows.
    pub biflow: bool,
    /// NAT event logging: `natEvent` on NATed NEW / DESTROY.
    pub nat_events: bool,
    /// Export raw (packet) keys of enterprise elements as variable-length fields.
    pub export_raw: bool,
    /// `natEvent` codes: RFC 8158 (4 create, 5 delete) or the historic 1 / 2 that
    /// nfdump 1.7 and older collectors name.
    pub nat_historic: bool,
}

/// Which record of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dir {
    /// The original direction (or the only record: packet, biflow).
    Orig,
    /// The reply direction (uni-flow mode).
    Reply,
}

/// The per-stack plan, derived once in the stage's `bind` from the stack's keys.
#[derive(Debug)]
pub(crate) struct Plan {
    /// Per role, the positions of its producers, nearest first (`tcp.sport`,
    /// `udp.sport` and `sctp.sport` all give the source port).
    roles: [Vec<usize>; NROLES],
    others: Vec<Other>,
    /// Whether the stack carries a reply tuple (conntrack).
    pub has_reply: bool,
}

/// One value of a record.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) enum FVal<'a> {
    /// Unsigned integer written big-endian in the spec's length.
    #[default]
    None,
    Uint(u64),
    Addr(IpAddr),
    Bytes(&'a [u8]),
}

/// The fields of one record, on the stack.
pub(crate) struct Fields<'a> {
    pub specs: [FieldSpec; MAX_FIELDS],
    pub vals: [FVal<'a>; MAX_FIELDS],
    pub n: usize,
    /// Keys left out because the record was full.
    pub overflow: bool,
}

impl<'a> Fields<'a> {
    pub fn new() -> Fields<'a> {
        Fields {
            specs: [FieldSpec::default(); MAX_FIELDS],
            vals: [FVal::None; MAX_FIELDS],
            n: 0,
            overflow: false,
        }
    }
    pub(crate) fn push(&mut self, s: FieldSpec, v: FVal<'a>) {
        if self.specs[..self.n]
            .iter()
            .any(|x| x.id == s.id && x.pen == s.pen)
        {
            return;
        }
        if self.n == MAX_FIELDS {
            self.overflow = true;
            return;
        }
        self.specs[self.n] = s;
        self.vals[self.n] = v;
        self.n += 1;
    }
    /// The field specifiers.
    pub fn specs(&self) -> &[FieldSpec] {
        &self.specs[..self.n]
    }
    /// Bytes of the encoded record.
    pub fn encoded_len(&self) -> usize {
        (0..self.n)
            .map(|i| match (self.specs[i].len, self.vals[i]) {
                (VARLEN, FVal::Bytes(b)) => {
                    let l = b.len().min(65535);
                    l + if l < 255 { 1 } else { 3 }
                }
                (l, _) => l as usize,
            })
            .sum()
    }
    /// Appends the record.
    pub fn encode(&self, out: &mut Vec<u8>) {
        for i in 0..self.n {
            let s = self.specs[i];
            match self.vals[i] {
                FVal::Uint(v) => {
                    let l = s.len as usize;
                    out.extend_from_slice(&v.to_be_bytes()[8 - l..]);
                }
                FVal::Addr(IpAddr::V4(a)) => out.extend_from_slice(&a.octets()),
                FVal::Addr(IpAddr::V6(a)) => out.extend_from_slice(&a.octets()),
                FVal::Bytes(b) if s.len == VARLEN => super::wire::emit_varlen(out, b),
                FVal::Bytes(b) => {
                    let l = s.len as usize;
                    let n = b.len().min(l);
                    out.extend_from_slice(&b[..n]);
                    out.resize(out.len() + (l - n), 0);
                }
                FVal::None => out.resize(out.len() + s.len as usize, 0),
            }
        }
    }
}

fn int_len(ty: KeyType) -> Option<u16> {
    Some(match ty {
        KeyType::U8 | KeyType::I8 | KeyType::Bool => 1,
        KeyType::U16 | KeyType::I16 => 2,
        KeyType::U32 | KeyType::I32 => 4,
        KeyType::U64 | KeyType::I64 => 8,
        _ => return None,
    })
}

/// The IPv6 twin of an IPv4 address element.
fn v6_twin(id: u16) -> Option<u16> {
    Some(match id {
        ie::SRC_V4 => ie::SRC_V6,
        ie::DST_V4 => ie::DST_V6,
        15 => 62,
        18 => 63,
        ie::POST_NAT_SRC_V4 => ie::POST_NAT_SRC_V6,
        ie::POST_NAT_DST_V4 => ie::POST_NAT_DST_V6,
        _ => return None,
    })
}

impl Plan {
    /// Classifies every wildcard key of a stack (position `i` of `wildcard` is
    /// `ev.wildcard_get(i)`).
    pub fn new(wildcard: &[&KeyDef]) -> Plan {
        let mut roles: [Vec<usize>; NROLES] = Default::default();
        let mut others = Vec::new();
        let mut has_reply = false;
        for (pos, d) in wildcard.iter().enumerate() {
            if let Some(r) = role_of(&d.name) {
                // The nearest (last) producer of a role is tried first, as key
                // binding does.
                roles[r as usize].insert(0, pos);
                has_reply |= matches!(r, Role::RSrcAddr | Role::RDstAddr);
                continue;
            }
            if d.name.starts_with("reply.") {
                continue;
            }
            let ann = d.ipfix.map(|i| (i.enterprise, i.id)).or(match &*d.name {
                "ct.mark" => Some((PEN_NETFILTER, 4)),
                "ct.id" => Some((PEN_NETFILTER, 6)),
                _ => None,
            });
            let Some((pen, id)) = ann else { continue };
            if id == 0 || (pen == 0 && ROLE_IES.contains(&id)) {
                continue;
            }
            others.push(Other {
                pos,
                pen,
                id,
                ty: d.ty,
            });
        }
        Plan {
            roles,
            others,
            has_reply,
        }
    }

    /// The value of the nearest producer of role `r` that is set.
    fn value<'e>(&self, ev: &'e Event<'_>, r: Role) -> Option<Value<'e>> {
        self.roles[r as usize]
            .iter()
            .find_map(|&p| ev.wildcard_get(p))
    }
    fn uint(&self, ev: &Event<'_>, r: Role) -> Option<u64> {
        self.value(ev, r).and_then(|v| match v {
            Value::Uint(x) => Some(x),
            Value::Int(x) => Some(x as u64),
            Value::Bool(b) => Some(b as u64),
            _ => None,
        })
    }
    fn addr(&self, ev: &Event<'_>, r: Role) -> Option<IpAddr> {
        match self.value(ev, r) {
            Some(Value::Addr(a)) => Some(a),
            _ => None,
        }
    }
    fn ms(&self, ev: &Event<'_>, sec: Role, usec: Role) -> Option<u64> {
        let s = self.uint(ev, sec)?;
        Some(s * 1000 + self.uint(ev, usec).unwrap_or(0) / 1000)
    }

    /// The conntrack event type (`ct.event`: 1 NEW, 2 UPDATE, 4 DESTROY), if any.
    pub fn ct_event(&self, ev: &Event<'_>) -> Option<u64> {
        self.uint(ev, Role::CtEvent)
    }

    /// Whether the reply tuple differs from the swapped original (NAT).
    pub fn natted(&self, ev: &Event<'_>) -> bool {
        let eq = |a: Option<IpAddr>, b: Option<IpAddr>| a.is_none() || b.is_none() || a == b;
        let equ = |a: Option<u64>, b: Option<u64>| a.is_none() || b.is_none() || a == b;
        self.has_reply
            && !(eq(self.addr(ev, Role::RDstAddr), self.addr(ev, Role::SrcAddr))
                && eq(self.addr(ev, Role::RSrcAddr), self.addr(ev, Role::DstAddr))
                && equ(self.uint(ev, Role::RDstPort), self.uint(ev, Role::SrcPort))
                && equ(self.uint(ev, Role::RSrcPort), self.uint(ev, Role::DstPort)))
    }

    /// Collects the fields of record `dir` of `ev`; `nat_event` is the `natEvent`
    /// value to add (RFC 8158: 4 NAT44 session create, 5 delete), if any.
    pub fn collect<'e>(
        &self,
        ev: &'e Event<'_>,
        shape: &Shape,
        dir: Dir,
        nat_event: Option<u8>,
        f: &mut Fields<'e>,
    ) {
        use Role::*;
        f.n = 0;
        f.overflow = false;
        let v9 = shape.protocol == Protocol::V9;
        let (src, dst, sp, dp, oc, pk) = match dir {
            Dir::Orig => (SrcAddr, DstAddr, SrcPort, DstPort, Octets, Packets),
            Dir::Reply => (RSrcAddr, RDstAddr, RSrcPort, RDstPort, ROctets, RPackets),
        };
        let addr_field = |f: &mut Fields<'e>, v4: u16, a: Option<IpAddr>| match a {
            Some(a @ IpAddr::V4(_)) => f.push(FieldSpec::iana(v4, 4), FVal::Addr(a)),
            Some(a @ IpAddr::V6(_)) => {
                if let Some(id) = v6_twin(v4) {
                    f.push(FieldSpec::iana(id, 16), FVal::Addr(a))
                }
            }
            None => {}
        };
        addr_field(f, ie::SRC_V4, self.addr(ev, src));
        addr_field(f, ie::DST_V4, self.addr(ev, dst));
        if let Some(p) = self.uint(ev, sp) {
            f.push(FieldSpec::iana(ie::SRC_PORT, 2), FVal::Uint(p));
        }
        if let Some(p) = self.uint(ev, dp) {
            f.push(FieldSpec::iana(ie::DST_PORT, 2), FVal::Uint(p));
        }
        if let Some(p) = self.uint(ev, Proto) {
            f.push(FieldSpec::iana(ie::PROTOCOL, 1), FVal::Uint(p));
        }
        if let Some(v) = self.uint(ev, oc) {
            f.push(FieldSpec::iana(ie::OCTET_DELTA, 8), FVal::Uint(v));
        }
        if let Some(v) = self.uint(ev, pk) {
            f.push(FieldSpec::iana(ie::PACKET_DELTA, 8), FVal::Uint(v));
        }
        let (start, end) = match (
            self.ms(ev, StartSec, StartUsec),
            self.ms(ev, EndSec, EndUsec),
        ) {
            (None, None) => {
                let t = self.ms(ev, PktSec, PktUsec);
                (t, t)
            }
            (s, e) => (s, e.or(s)),
        };
        if let Some(s) = start {
            f.push(FieldSpec::iana(ie::FLOW_START_MS, 8), FVal::Uint(s));
        }
        if let Some(e) = end {
            f.push(FieldSpec::iana(ie::FLOW_END_MS, 8), FVal::Uint(e));
        }
        if dir == Dir::Orig && self.has_reply {
            if shape.biflow && !v9 {
                if let Some(v) = self.uint(ev, ROctets) {
                    let s = FieldSpec {
                        id: ie::OCTET_DELTA,
                        len: 8,
                        pen: PEN_REVERSE,
                    };
                    f.push(s, FVal::Uint(v));
                }
                if let Some(v) = self.uint(ev, RPackets) {
                    let s = FieldSpec {
                        id: ie::PACKET_DELTA,
                        len: 8,
                        pen: PEN_REVERSE,
                    };
                    f.push(s, FVal::Uint(v));
                }
            }
            if self.natted(ev) {
                addr_field(f, ie::POST_NAT_SRC_V4, self.addr(ev, RDstAddr));
                addr_field(f, ie::POST_NAT_DST_V4, self.addr(ev, RSrcAddr));
                if let Some(p) = self.uint(ev, RDstPort) {
                    f.push(FieldSpec::iana(ie::POST_NAPT_SRC_PORT, 2), FVal::Uint(p));
                }
                if let Some(p) = self.uint(ev, RSrcPort) {
                    f.push(FieldSpec::iana(ie::POST_NAPT_DST_PORT, 2), FVal::Uint(p));
                }
            }
        }
        if let Some(e) = nat_event {
            f.push(FieldSpec::iana(ie::NAT_EVENT, 1), FVal::Uint(e as u64));
        }
        for o in &self.others {
            if v9 && o.pen != 0 {
                continue;
            }
            let Some(v) = ev.wildcard_get(o.pos) else {
                continue;
            };
            let spec = |len| FieldSpec {
                id: o.id,
                len,
                pen: o.pen,
            };
            match v {
                Value::Uint(x) => {
                    if let Some(l) = int_len(o.ty) {
                        f.push(spec(l), FVal::Uint(x))
                    }
                }
                Value::Int(x) => {
                    if let Some(l) = int_len(o.ty) {
                        f.push(spec(l), FVal::Uint(x as u64))
                    }
                }
                Value::Bool(b) => f.push(spec(1), FVal::Uint(b as u64)),
                Value::Addr(a @ IpAddr::V4(_)) => f.push(spec(4), FVal::Addr(a)),
                Value::Addr(a @ IpAddr::V6(_)) => {
                    if o.pen != 0 {
                        f.push(spec(16), FVal::Addr(a))
                    } else if let Some(id) = v6_twin(o.id) {
                        f.push(FieldSpec::iana(id, 16), FVal::Addr(a))
                    }
                }
                Value::Bytes(b) => {
                    let b = if o.ty == KeyType::String {
                        // Up to the first NUL, as ulogd2's strings.
                        &b[..b.iter().position(|&c| c == 0).unwrap_or(b.len())]
                    } else {
                        b
                    };
                    if o.ty != KeyType::String && o.pen == 0 && !b.is_empty() && b.len() <= 64 {
                        // IANA octetArray / MAC address elements: fixed length.
                        f.push(spec(b.len() as u16), FVal::Bytes(b));
                    } else if !v9 && (o.ty == KeyType::String || shape.export_raw) {
                        f.push(spec(VARLEN), FVal::Bytes(b));
                    }
                }
            }
        }
    }
}

/// The templates an exporter has defined, by field list.
#[derive(Default, Debug)]
pub(crate) struct Templates {
    /// Every data template, in id order.
    pub list: Vec<TemplateRepr>,
    /// Per template: whether it was announced on the current stream.
    pub announced: Vec<bool>,
}

/// Data template ids start here (256 is the options template).
pub(crate) const FIRST_DATA_ID: u16 = MIN_DATA_SET_ID + 1;
/// The exporter-statistics options template id.
pub(crate) const STATS_TEMPLATE_ID: u16 = MIN_DATA_SET_ID;

impl Templates {
    /// The index of the template with exactly `specs`, created if new; `None` when
    /// the id space is exhausted.
    pub fn lookup(&mut self, specs: &[FieldSpec]) -> Option<usize> {
        if let Some(i) = self.list.iter().position(|t| t.fields == specs) {
            return Some(i);
        }
        let id = FIRST_DATA_ID.checked_add(u16::try_from(self.list.len()).ok()?)?;
        self.list.push(TemplateRepr {
            id,
            scope_count: 0,
            fields: specs.to_vec(),
        });
        self.announced.push(false);
        Some(self.list.len() - 1)
    }
}

/// The exporter-statistics options template (RFC 7011 §4.3 style): scope
/// exportingProcessId (NFv9: scope "System"), then messages sent, records sent and
/// records not sent.
pub(crate) fn stats_template(p: Protocol) -> TemplateRepr {
    let scope = match p {
        Protocol::Ipfix => FieldSpec::iana(ie::EXPORTING_PROCESS_ID, 4),
        Protocol::V9 => FieldSpec::iana(ie::V9_SCOPE_SYSTEM, 4),
    };
    TemplateRepr {
        id: STATS_TEMPLATE_ID,
        scope_count: 1,
        fields: vec![
            scope,
            FieldSpec::iana(ie::EXPORTED_MESSAGES, 8),
            FieldSpec::iana(ie::EXPORTED_FLOWS, 8),
            FieldSpec::iana(ie::NOT_SENT_FLOWS, 8),
        ],
    }
}
