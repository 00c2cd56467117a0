//! IPFIXCOL: a source that receives IPFIX and NetFlow v9 (the "Source IPFIX" of
//! the issue; named `IPFIXCOL` because `IPFIX` is the output's name).
//!
//! - [`decoder`]: the pure protocol logic of one transport (all UDP exporters, or
//!   one TCP connection): a [`templates::TemplateCache`] per exporter (address and
//!   port) and observation domain, with IPFIX withdrawal (field count 0, or ids 2/3
//!   for "all"), expiry of UDP templates after `template_timeout` seconds without a
//!   refresh, and the bounds `max_templates` (per exporter and domain) and
//!   `max_exporters`; sequence accounting in `seq.rs` (gaps counted only when
//!   plausible and confirmed: `seq_gaps`, `records_missed`, `seq_resets`);
//! - [`fill`]: a data record into the keys the exporters read (the `orig.*` /
//!   `reply.*` conntrack names, `flow.start.*`, `ct.mark`, `oob.prefix`, ...), so
//!   `IPFIXCOL → JSON` prints what the exporter was fed;
//! - `source.rs`: the sockets: UDP datagrams on the event loop, TCP connections
//!   (IPFIX framed by the message length) on one thread of the source with an
//!   emitter of its own; TCP templates die with their connection.
//!
//! Bad input never panics: it is counted (`bad_messages`) and logged at debug level.

pub mod decoder;
pub mod fill;
mod seq;
mod source;
pub mod templates;

use std::time::Duration;

use ulogd_core::{Built, KeyDef, KeyType, Kind, OptionDef, PluginError, PluginSpec};
use ulogd_core::{PEN_NETFILTER, PEN_REVERSE};

pub use decoder::{DecodeError, Decoded, Decoder, Limits, Resume, Stats};
pub use fill::{fill, KeySink};

/// Output keys. Positions are the `O_*` constants.
static OUTPUTS: &[KeyDef] = &[
    KeyDef::new("orig.ip.saddr", KeyType::IpAddr).ietf(8),
    KeyDef::new("orig.ip.daddr", KeyType::IpAddr).ietf(12),
    KeyDef::new("orig.ip.protocol", KeyType::U8).ietf(4),
    KeyDef::new("orig.l4.sport", KeyType::U16).ietf(7),
    KeyDef::new("orig.l4.dport", KeyType::U16).ietf(11),
    KeyDef::new("orig.raw.pktlen", KeyType::U64).ietf(1),
    KeyDef::new("orig.raw.pktcount", KeyType::U64).ietf(2),
    KeyDef::new("reply.ip.saddr", KeyType::IpAddr),
    KeyDef::new("reply.ip.daddr", KeyType::IpAddr),
    KeyDef::new("reply.ip.protocol", KeyType::U8),
    KeyDef::new("reply.l4.sport", KeyType::U16),
    KeyDef::new("reply.l4.dport", KeyType::U16),
    KeyDef::new("reply.raw.pktlen", KeyType::U64).ipfix(PEN_REVERSE, 1),
    KeyDef::new("reply.raw.pktcount", KeyType::U64).ipfix(PEN_REVERSE, 2),
    KeyDef::new("flow.start.sec", KeyType::U32),
    KeyDef::new("flow.start.usec", KeyType::U32),
    KeyDef::new("flow.end.sec", KeyType::U32),
    KeyDef::new("flow.end.usec", KeyType::U32),
    KeyDef::new("ct.mark", KeyType::U32).ipfix(PEN_NETFILTER, 4),
    KeyDef::new("ct.id", KeyType::U32).ipfix(PEN_NETFILTER, 6),
    KeyDef::new("ct.event", KeyType::U32),
    KeyDef::new("oob.prefix", KeyType::String).ipfix(PEN_NETFILTER, 3),
    KeyDef::new("oob.mark", KeyType::U32).ipfix(PEN_NETFILTER, 4),
    KeyDef::new("oob.hook", KeyType::U8).ipfix(PEN_NETFILTER, 5),
    KeyDef::new("oob.ifindex_in", KeyType::U32).ietf(10),
    KeyDef::new("oob.ifindex_out", KeyType::U32).ietf(14),
    KeyDef::new("icmp.type", KeyType::U8).ietf(176),
    KeyDef::new("icmp.code", KeyType::U8).ietf(177),
    KeyDef::new("ipfix.exporter", KeyType::IpAddr),
    KeyDef::new("ipfix.domain", KeyType::U32),
    KeyDef::new("ipfix.version", KeyType::U16),
];
const O_SADDR: usize = 0;
const O_DADDR: usize = 1;
const O_PROTO: usize = 2;
const O_SPORT: usize = 3;
const O_DPORT: usize = 4;
const O_BYTES: usize = 5;
const O_PKTS: usize = 6;
const O_RSADDR: usize = 7;
const O_RDADDR: usize = 8;
const O_RPROTO: usize = 9;
const O_RSPORT: usize = 10;
const O_RDPORT: usize = 11;
const O_RBYTES: usize = 12;
const O_RPKTS: usize = 13;
const O_START_SEC: usize = 14;
const O_START_USEC: usize = 15;
const O_END_SEC: usize = 16;
const O_END_USEC: usize = 17;
const O_CTMARK: usize = 18;
const O_CTID: usize = 19;
const O_CTEVENT: usize = 20;
const O_PREFIX: usize = 21;
const O_MARK: usize = 22;
const O_HOOK: usize = 23;
const O_IFIN: usize = 24;
const O_IFOUT: usize = 25;
const O_ICMP_TYPE: usize = 26;
const O_ICMP_CODE: usize = 27;
const O_EXPORTER: usize = 28;
const O_DOMAIN: usize = 29;
const O_VERSION: usize = 30;

/// The IPFIXCOL source.
pub(crate) fn spec() -> PluginSpec {
    PluginSpec {
        name: "IPFIXCOL",
        aliases: &[],
        kind: Kind::Source,
        summary: "IPFIX / NetFlow v9 collector (UDP, TCP): records decoded into flow keys",
        options: vec![
            OptionDef::string(
                "listen",
                "udp://0.0.0.0:4739",
                "comma-separated udp://addr:port and tcp://addr:port ([IPv6] literals too)",
            ),
            OptionDef::int(
                "template_timeout",
                "1800",
                "UDP: forget a template not refreshed for this many seconds (0: never)",
            ),
            OptionDef::int(
                "max_templates",
                "512",
                "templates kept per exporter and observation domain; more are refused and counted (templates_over_limit)",
            ),
            OptionDef::int(
                "max_exporters",
                "256",
                "exporter/domain pairs kept (and TCP connections accepted); more are refused and counted",
            ),
        ],
        inputs: vec![],
        outputs: OUTPUTS.to_vec(),
        wildcard: false,
        build: Box::new(|ctx| {
            let o = ctx.options;
            let (udp_addrs, tcp_addrs) = source::parse_listen(o.str("listen"))
                .map_err(|e| PluginError::new(o.error("listen", e).to_string()))?;
            let range = |name: &str, lo: i64, hi: i64, what: &str| {
                let v = o.int(name);
                if (lo..=hi).contains(&v) {
                    Ok(v)
                } else {
                    Err(PluginError::new(o.error(name, what).to_string()))
                }
            };
            let t = range(
                "template_timeout",
                0,
                86400 * 365,
                "must be 0 or a number of seconds",
            )?;
            let max_templates = range(
                "max_templates",
                1,
                65280,
                "must be between 1 and 65280 (the template id space)",
            )?;
            let max_exporters = range("max_exporters", 1, 1_000_000, "must be between 1 and 1000000")?;
            let limits = Limits {
                template_timeout: Duration::from_secs(t as u64),
                max_templates: max_templates as usize,
                max_exporters: max_exporters as usize,
            };
            Ok(Built::Source {
                source: Box::new(source::Collector::new(udp_addrs, tcp_addrs, limits)),
                outputs: OUTPUTS.to_vec(),
            })
        }),
    }
}

/// The keys the collector fills, in the positions [`fill`] writes (for fuzzing and
/// for embedders that fill their own [`KeySink`]).
pub fn output_keys() -> &'static [KeyDef] {
    OUTPUTS
}
