//! XML: one element per event in `<directory>/ulogd-{pkt|flow|sum}-DDMMYYYY-HHMMSS.xml`,
//! in the shape libnetfilter_log / libnetfilter_conntrack / libnetfilter_acct print
//! (what ulogd2 wrote), rebuilt from keys. The file is named after the kind of the
//! first event (flow keys bound → flow, `sum.name` bound → sum, else packet), so it is
//! created at the first event; SIGHUP starts a new file; the closing tag is written
//! at stop.

use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ulogd_core::{
    Built, Event, Inputs, KeyDef, KeyType, Kind, OptionDef, PluginError, PluginSpec, Ret, Signal,
    Stage,
};

use crate::file::{c_str, OutFile};
use crate::time::{self, Tm};

const KEYS: &[(&str, KeyType)] = &[
    ("oob.prefix", KeyType::String),      // 0
    ("oob.hook", KeyType::Any),           // 1
    ("oob.protocol", KeyType::Any),       // 2
    ("raw.mac.saddr", KeyType::Any),      // 3
    ("oob.mark", KeyType::Any),           // 4
    ("oob.ifindex_in", KeyType::Any),     // 5
    ("oob.ifindex_out", KeyType::Any),    // 6
    ("raw.pkt", KeyType::Any),            // 7
    ("raw.pktlen", KeyType::Any),         // 8
    ("oob.time.sec", KeyType::Any),       // 9
    ("oob.family", KeyType::Any),         // 10
    ("orig.ip.saddr.str", KeyType::Any),  // 11
    ("orig.ip.daddr.str", KeyType::Any),  // 12
    ("orig.ip.protocol", KeyType::Any),   // 13
    ("orig.l4.sport", KeyType::Any),      // 14
    ("orig.l4.dport", KeyType::Any),      // 15
    ("orig.raw.pktcount", KeyType::Any),  // 16
    ("orig.raw.pktlen", KeyType::Any),    // 17
    ("reply.ip.saddr.str", KeyType::Any), // 18
    ("reply.ip.daddr.str", KeyType::Any), // 19
    ("reply.ip.protocol", KeyType::Any),  // 20
    ("reply.l4.sport", KeyType::Any),     // 21
    ("reply.l4.dport", KeyType::Any),     // 22
    ("reply.raw.pktcount", KeyType::Any), // 23
    ("reply.raw.pktlen", KeyType::Any),   // 24
    ("ct.id", KeyType::Any),              // 25
    ("flow.start.sec", KeyType::Any),     // 26
    ("flow.end.sec", KeyType::Any),       // 27
    ("sum.name", KeyType::Any),           // 28
    ("sum.pkts", KeyType::Any),           // 29
    ("sum.bytes", KeyType::Any),          // 30
    ("orig.ip.saddr", KeyType::Any),      // 31
    ("orig.ip.daddr", KeyType::Any),      // 32
    ("reply.ip.saddr", KeyType::Any),     // 33
    ("reply.ip.daddr", KeyType::Any),     // 34
    ("ct.mark", KeyType::Any),            // 35
    ("ct.zone", KeyType::Any),            // 36
    // libnetfilter_conntrack prints these from the conntrack object; XML prints
    // them when a plugin upstream produces them (NFCT does not yet).
    ("ct.tcp.state", KeyType::Any), // 37
    ("ct.timeout", KeyType::Any),   // 38
    ("ct.status", KeyType::Any),    // 39
];

/// `IPS_ASSURED` and `IPS_SEEN_REPLY` of `ct.status`.
const IPS_SEEN_REPLY: u32 = 1 << 1;
const IPS_ASSURED: u32 = 1 << 2;

/// libnetfilter_conntrack's TCP state names (`states[]`).
fn tcp_state_name(s: u8) -> &'static str {
    const N: [&str; 12] = [
        "NONE",
        "SYN_SENT",
        "SYN_RECV",
        "ESTABLISHED",
        "FIN_WAIT",
        "CLOSE_WAIT",
        "LAST_ACK",
        "TIME_WAIT",
        "CLOSE",
        "LISTEN",
        "MAX",
        "IGNORE",
    ];
    N.get(s as usize).copied().unwrap_or("UNKNOWN")
}

/// The kind of records a file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum XmlKind {
    /// NFLOG packets: `<packet>` of `<log>`.
    Pkt,
    /// Conntrack flows: `<conntrack>` of `<flow>`.
    Flow,
    /// NFACCT sums: `<sum>` of `<obj>`.
    Sum,
}

impl XmlKind {
    fn tag(self) -> &'static str {
        match self {
            XmlKind::Pkt => "packet",
            XmlKind::Flow => "conntrack",
            XmlKind::Sum => "sum",
        }
    }
    fn file_word(self) -> &'static str {
        match self {
            XmlKind::Pkt => "pkt",
            XmlKind::Flow => "flow",
            XmlKind::Sum => "sum",
        }
    }
}

/// `ulogd-KIND-DDMMYYYY-HHMMSS.xml` in `dir`.
pub(crate) fn file_name(dir: &str, kind: XmlKind, tm: &Tm) -> String {
    let sep = if dir.ends_with('/') || dir.is_empty() {
        ""
    } else {
        "/"
    };
    format!(
        "{dir}{sep}ulogd-{}-{:02}{:02}{:04}-{:02}{:02}{:02}.xml",
        kind.file_word(),
        tm.mday,
        tm.mon,
        tm.year,
        tm.hour,
        tm.min,
        tm.sec
    )
}

/// `<hour>` is not padded (libnetfilter_* print it with `%d`); minutes and seconds are.
fn when_fields(out: &mut Vec<u8>, tm: &Tm) {
    let _ = write!(
        out,
        "<hour>{}</hour><min>{:02}</min><sec>{:02}</sec><wday>{}</wday><day>{}</day><month>{}</month><year>{}</year>",
        tm.hour,
        tm.min,
        tm.sec,
        tm.wday + 1,
        tm.mday,
        tm.mon,
        tm.year
    );
}

fn push_escaped(out: &mut Vec<u8>, s: &[u8]) {
    for &b in c_str(s) {
        match b {
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            b'&' => out.extend_from_slice(b"&amp;"),
            c => out.push(c),
        }
    }
}

fn push_hex(out: &mut Vec<u8>, b: &[u8]) {
    const H: &[u8; 16] = b"0123456789abcdef";
    for &x in b {
        out.push(H[(x >> 4) as usize]);
        out.push(H[(x & 15) as usize]);
    }
}

/// Packet fields for [`format_pkt`].
#[derive(Default)]
pub(crate) struct PktFields<'a> {
    pub prefix: Option<&'a [u8]>,
    pub hook: Option<u8>,
    pub hw_proto: Option<u16>,
    pub hw_src: Option<&'a [u8]>,
    pub mark: Option<u32>,
    pub indev: Option<u32>,
    pub outdev: Option<u32>,
    pub payload: Option<&'a [u8]>,
}

/// One `<log>` element like `nflog_snprintf_xml(NFLOG_XML_ALL)`.
pub(crate) fn format_pkt(out: &mut Vec<u8>, tm: &Tm, f: &PktFields<'_>) {
    out.extend_from_slice(b"<log><when>");
    when_fields(out, tm);
    out.extend_from_slice(b"</when>");
    if let Some(p) = f.prefix {
        out.extend_from_slice(b"<prefix>");
        push_escaped(out, p);
        out.extend_from_slice(b"</prefix>");
    }
    if let Some(h) = f.hook {
        let _ = write!(out, "<hook>{h}</hook>");
    }
    if f.hw_proto.is_some() || f.hw_src.is_some() {
        out.extend_from_slice(b"<hw>");
        if let Some(p) = f.hw_proto {
            let _ = write!(out, "<proto>{p:04x}</proto>");
        }
        if let Some(s) = f.hw_src.filter(|s| !s.is_empty()) {
            out.extend_from_slice(b"<src>");
            push_hex(out, s);
            out.extend_from_slice(b"</src>");
        }
        out.extend_from_slice(b"</hw>");
    }
    if let Some(m) = f.mark.filter(|&m| m != 0) {
        let _ = write!(out, "<mark>{m}</mark>");
    }
    if let Some(i) = f.indev.filter(|&i| i != 0) {
        let _ = write!(out, "<indev>{i}</indev>");
    }
    if let Some(i) = f.outdev.filter(|&i| i != 0) {
        let _ = write!(out, "<outdev>{i}</outdev>");
    }
    if let Some(p) = f.payload {
        out.extend_from_slice(b"<payload>");
        push_hex(out, p);
        out.extend_from_slice(b"</payload>");
    }
    out.extend_from_slice(b"</log>\n");
}

/// One `<obj>` element like `nfacct_snprintf(XML, TIME)`.
pub(crate) fn format_sum(out: &mut Vec<u8>, tm: &Tm, name: &[u8], pkts: u64, bytes: u64) {
    out.extend_from_slice(b"<obj><name>");
    push_escaped(out, name);
    let _ = write!(
        out,
        "</name><pkts>{pkts:020}</pkts><bytes>{bytes:020}</bytes>"
    );
    when_fields(out, tm);
    out.extend_from_slice(b"</obj>\n");
}

fn proto_name(p: u8) -> &'static str {
    match p {
        1 => "icmp",
        6 => "tcp",
        17 => "udp",
        58 => "icmpv6",
        132 => "sctp",
        136 => "udplite",
        33 => "dccp",
        47 => "gre",
        _ => "unknown",
    }
}

/// An address: NFCT's own key, or IP2STR's text of it.
#[derive(Clone, Copy)]
enum AddrText<'a> {
    Addr(std::net::IpAddr),
    Text(&'a [u8]),
}

impl AddrText<'_> {
    fn push(self, out: &mut Vec<u8>) {
        match self {
            AddrText::Addr(a) => {
                let _ = write!(out, "{a}");
            }
            AddrText::Text(t) => push_escaped(out, t),
        }
    }
}

fn addr_of<'e>(ev: &'e Event<'_>, key: usize, text: usize) -> Option<AddrText<'e>> {
    ev.addr(key)
        .map(AddrText::Addr)
        .or_else(|| ev.bytes(text).map(AddrText::Text))
}

#[allow(clippy::too_many_arguments)]
fn flow_dir(
    out: &mut Vec<u8>,
    dir: &str,
    family: u8,
    src: Option<AddrText<'_>>,
    dst: Option<AddrText<'_>>,
    proto: Option<u8>,
    ports: (Option<u16>, Option<u16>),
    counters: (Option<u64>, Option<u64>),
) {
    let (l3n, l3) = if family == 10 {
        (10, "ipv6")
    } else {
        (2, "ipv4")
    };
    let _ = write!(
        out,
        "<meta direction=\"{dir}\"><layer3 protonum=\"{l3n}\" protoname=\"{l3}\">"
    );
    if let Some(s) = src {
        out.extend_from_slice(b"<src>");
        s.push(out);
        out.extend_from_slice(b"</src>");
    }
    if let Some(d) = dst {
        out.extend_from_slice(b"<dst>");
        d.push(out);
        out.extend_from_slice(b"</dst>");
    }
    out.extend_from_slice(b"</layer3>");
    if let Some(p) = proto {
        let _ = write!(
            out,
            "<layer4 protonum=\"{p}\" protoname=\"{}\">",
            proto_name(p)
        );
        if let (Some(s), Some(d)) = ports {
            let _ = write!(out, "<sport>{s}</sport><dport>{d}</dport>");
        }
        out.extend_from_slice(b"</layer4>");
    }
    if let (Some(p), Some(b)) = counters {
        let _ = write!(
            out,
            "<counters><packets>{p}</packets><bytes>{b}</bytes></counters>"
        );
    }
    out.extend_from_slice(b"</meta>");
}

fn format_flow(out: &mut Vec<u8>, ev: &Event<'_>, tm: &Tm) {
    let family = ev.u8(10).unwrap_or(2);
    out.extend_from_slice(b"<flow>");
    let ports = |a: usize, b: usize| (ev.u16(a), ev.u16(b));
    flow_dir(
        out,
        "original",
        family,
        addr_of(ev, 31, 11),
        addr_of(ev, 32, 12),
        ev.u8(13),
        ports(14, 15),
        (ev.u64(16), ev.u64(17)),
    );
    flow_dir(
        out,
        "reply",
        family,
        addr_of(ev, 33, 18),
        addr_of(ev, 34, 19),
        ev.u8(20).or(ev.u8(13)),
        ports(21, 22),
        (ev.u64(23), ev.u64(24)),
    );
    // libnetfilter_conntrack's order: state, timeout, mark, zone, id, assured,
    // unreplied, deltatime (the kernel sends mark and zone only when non-zero).
    out.extend_from_slice(b"<meta direction=\"independent\">");
    if let Some(st) = ev.u8(37) {
        let _ = write!(out, "<state>{}</state>", tcp_state_name(st));
    }
    if let Some(t) = ev.u32(38) {
        let _ = write!(out, "<timeout>{t}</timeout>");
    }
    if let Some(m) = ev.u32(35).filter(|&m| m != 0) {
        let _ = write!(out, "<mark>{m}</mark>");
    }
    if let Some(z) = ev.u16(36).filter(|&z| z != 0) {
        let _ = write!(out, "<zone>{z}</zone>");
    }
    if let Some(id) = ev.u32(25) {
        let _ = write!(out, "<id>{id}</id>");
    }
    if let Some(st) = ev.u32(39) {
        if st & IPS_ASSURED != 0 {
            out.extend_from_slice(b"<assured/>");
        }
        if st & IPS_SEEN_REPLY == 0 {
            out.extend_from_slice(b"<unreplied/>");
        }
    }
    if let (Some(s), Some(e)) = (ev.u64(26), ev.u64(27)) {
        let _ = write!(out, "<deltatime>{}</deltatime>", e.saturating_sub(s));
    }
    out.extend_from_slice(b"</meta><when>");
    when_fields(out, tm);
    out.extend_from_slice(b"</when></flow>\n");
}

/// One file per kind of record: an instance serving an NFLOG and an NFCT stack (as
/// ulogd.conf.in's `xml1`) writes `ulogd-pkt-*.xml` and `ulogd-flow-*.xml`, as
/// ulogd2's per-stack instances did, never flows inside `<packet>`.
struct Inner {
    files: [Option<OutFile>; 3],
    sync: bool,
    buf: Vec<u8>,
    /// Lines and write errors of files already closed.
    closed: (u64, u64),
}

fn slot(kind: XmlKind) -> usize {
    match kind {
        XmlKind::Pkt => 0,
        XmlKind::Flow => 1,
        XmlKind::Sum => 2,
    }
}

const KINDS: [XmlKind; 3] = [XmlKind::Pkt, XmlKind::Flow, XmlKind::Sum];

struct Xml {
    dir: String,
    stdout: bool,
    inner: Mutex<Inner>,
}

impl Xml {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens (or reopens, after SIGHUP) the file of `kind`.
    fn open(&self, file: &mut OutFile, kind: XmlKind) -> std::io::Result<()> {
        if !self.stdout {
            let tm = time::localtime(time::now().0);
            file.set_path(file_name(&self.dir, kind, &tm));
        }
        let header = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<{}>\n",
            kind.tag()
        );
        file.open_with_header(header.as_bytes(), true)
    }

    fn close(file: &mut OutFile, kind: XmlKind) {
        let footer = format!("</{}>\n", kind.tag());
        file.close(footer.as_bytes());
    }
}

impl Stage for Xml {
    fn start(&self) -> Result<(), PluginError> {
        if !self.stdout && !std::path::Path::new(&self.dir).is_dir() {
            return Err(PluginError::new(format!(
                "XML: directory {} does not exist",
                self.dir
            )));
        }
        Ok(())
    }

    fn interp(&self, ev: &mut Event<'_>) -> Ret {
        let kind = if ev.is_bound(28) {
            XmlKind::Sum
        } else if ev.is_bound(13) {
            XmlKind::Flow
        } else {
            XmlKind::Pkt
        };
        let mut g = self.lock();
        let Inner {
            files, sync, buf, ..
        } = &mut *g;
        let file = match &mut files[slot(kind)] {
            Some(f) => f,
            empty => {
                let mut f = OutFile::new(if self.stdout { "-" } else { "" }, *sync);
                if let Err(e) = self.open(&mut f, kind) {
                    log::error!("XML: can't open {}: {e}", f.path());
                    return Ret::Err;
                }
                empty.insert(f)
            }
        };
        buf.clear();
        let secs = ev
            .u64(9)
            .map(|s| s as u32 as i64)
            .unwrap_or_else(|| time::now().0);
        let tm = time::localtime(secs);
        match kind {
            XmlKind::Sum => format_sum(
                buf,
                &tm,
                ev.bytes(28).unwrap_or(b""),
                ev.u64(29).unwrap_or(0),
                ev.u64(30).unwrap_or(0),
            ),
            XmlKind::Flow => format_flow(buf, ev, &tm),
            XmlKind::Pkt => {
                let pkt = ev.bytes(7).map(|p| {
                    let n = ev.u32(8).map_or(p.len(), |l| (l as usize).min(p.len()));
                    &p[..n]
                });
                let f = PktFields {
                    prefix: ev.bytes(0),
                    hook: ev.u8(1),
                    hw_proto: ev.u16(2),
                    hw_src: ev.bytes(3),
                    mark: ev.u32(4),
                    indev: ev.u32(5),
                    outdev: ev.u32(6),
                    payload: pkt,
                };
                format_pkt(buf, &tm, &f);
            }
        }
        if file.write_record(buf) {
            Ret::Ok
        } else {
            Ret::Err
        }
    }

    fn signal(&self, sig: Signal) {
        if sig != Signal::Hup || self.stdout {
            return;
        }
        let mut g = self.lock();
        for kind in KINDS {
            let f = &mut g.files[slot(kind)];
            if let Some(file) = f.as_mut() {
                Xml::close(file, kind);
                if let Err(e) = self.open(file, kind) {
                    log::error!("XML: can't open {}: {e}", file.path());
                    *f = None;
                }
            }
        }
    }

    fn tick(&self) {
        for f in self.lock().files.iter_mut().flatten() {
            f.flush();
        }
    }

    fn tick_interval(&self) -> Option<Duration> {
        Some(Duration::from_secs(1))
    }

    fn flush(&self) {
        self.tick();
    }

    fn stop(&self) {
        let mut g = self.lock();
        for kind in KINDS {
            if let Some(mut f) = g.files[slot(kind)].take() {
                Xml::close(&mut f, kind);
                g.closed.0 += f.lines;
                g.closed.1 += f.errors;
            }
        }
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        let g = self.lock();
        let (mut lines, mut errors) = g.closed;
        for f in g.files.iter().flatten() {
            lines += f.lines;
            errors += f.errors;
        }
        vec![("lines", lines), ("write_errors", errors)]
    }
}

/// The XML plugin.
pub(crate) fn spec() -> PluginSpec {
    let inputs: Vec<KeyDef> = KEYS
        .iter()
        .map(|(n, t)| KeyDef::new(n, *t).optional())
        .collect();
    PluginSpec {
        name: "XML",
        aliases: &[],
        kind: Kind::Sink,
        summary: "packets, flows or sums as XML elements in timestamped files",
        options: vec![
            OptionDef::string("directory", "/var/log/", "directory of the XML files"),
            OptionDef::boolean("sync", "0", "flush after every element"),
            OptionDef::boolean("stdout", "0", "write to standard output instead"),
        ],
        inputs: inputs.clone(),
        outputs: vec![],
        wildcard: false,
        build: Box::new(move |ctx| {
            let o = ctx.options;
            let stdout = o.bool("stdout");
            Ok(Built::Stage {
                stage: Arc::new(Xml {
                    dir: o.str("directory").to_string(),
                    stdout,
                    inner: Mutex::new(Inner {
                        files: [None, None, None],
                        sync: o.bool("sync"),
                        buf: Vec::with_capacity(4096),
                        closed: (0, 0),
                    }),
                }),
                inputs: Inputs::Keys(inputs.clone()),
                outputs: vec![],
            })
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkt_like_sample() {
        // samples/xml-nflog-input-veth.xml, first line (payload shortened).
        let tm = time::broken_down(1_795_560_785, 0);
        let mut out = Vec::new();
        format_pkt(
            &mut out,
            &tm,
            &PktFields {
                prefix: Some(b"IN-v1: "),
                hook: Some(1),
                hw_proto: Some(0x0800),
                hw_src: Some(&[0x6e, 0xc2, 0x39, 0x15, 0x32, 0xde]),
                mark: Some(42),
                indev: Some(2),
                outdev: Some(0),
                payload: Some(&[0x45, 0x00]),
            },
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "<log><when><hour>22</hour><min>53</min><sec>05</sec><wday>3</wday><day>24</day><month>11</month><year>2026</year></when><prefix>IN-v1: </prefix><hook>1</hook><hw><proto>0800</proto><src>6ec2391532de</src></hw><mark>42</mark><indev>2</indev><payload>4500</payload></log>\n"
        );
    }

    #[test]
    fn hour_not_padded_minutes_and_seconds_are() {
        // ulogd2 (libnetfilter_* `%d`): `<hour>9</hour><min>05</min><sec>03</sec>`.
        let tm = time::broken_down(1_795_511_103, 0);
        let mut out = Vec::new();
        format_sum(&mut out, &tm, b"x", 0, 0);
        let s = String::from_utf8(out).unwrap();
        assert!(
            s.contains("<hour>9</hour><min>05</min><sec>03</sec>"),
            "{s}"
        );
        // The file name keeps strftime's padding (%H%M%S).
        assert!(file_name("/d", XmlKind::Flow, &tm).ends_with("-090503.xml"));
    }

    #[test]
    fn sum_like_sample() {
        let tm = time::broken_down(1_795_560_711, 0);
        let mut out = Vec::new();
        format_sum(&mut out, &tm, b"udp2000", 5, 150);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "<obj><name>udp2000</name><pkts>00000000000000000005</pkts><bytes>00000000000000000150</bytes><hour>22</hour><min>51</min><sec>51</sec><wday>3</wday><day>24</day><month>11</month><year>2026</year></obj>\n"
        );
        assert_eq!(
            file_name("/var/log/", XmlKind::Pkt, &tm),
            "/var/log/ulogd-pkt-24112026-225151.xml"
        );
    }
}
