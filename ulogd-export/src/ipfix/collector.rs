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

use std::net::IpAddr;
use std::time::Duration;

use ulogd_core::catalogue::{self as cat, Str};

use ulogd_core::{Built, KeyDef, Kind, OptionDef, PluginError, PluginSpec};

pub use decoder::{DecodeError, Decoded, Decoder, Limits, Resume, Stats};
pub use fill::{fill, KeySink};

// Output keys: the catalogue's conntrack flow, `ct.*`, `oob.*` and `ipfix.*` keys
// (declared once in `ulogd_core::catalogue`, shared with NFCT and the benches), in
// this order. The `O_*` positions below come from the typed handles.
ulogd_core::key_list! {
    mod out;
    static OUTPUTS = {
        SADDR: IpAddr = cat::flow::ORIG_IP_SADDR,
        DADDR: IpAddr = cat::flow::ORIG_IP_DADDR,
        PROTO: u8 = cat::flow::ORIG_IP_PROTOCOL,
        SPORT: u16 = cat::flow::ORIG_L4_SPORT,
        DPORT: u16 = cat::flow::ORIG_L4_DPORT,
        BYTES: u64 = cat::flow::ORIG_RAW_PKTLEN,
        PKTS: u64 = cat::flow::ORIG_RAW_PKTCOUNT,
        RSADDR: IpAddr = cat::flow::REPLY_IP_SADDR,
        RDADDR: IpAddr = cat::flow::REPLY_IP_DADDR,
        RPROTO: u8 = cat::flow::REPLY_IP_PROTOCOL,
        RSPORT: u16 = cat::flow::REPLY_L4_SPORT,
        RDPORT: u16 = cat::flow::REPLY_L4_DPORT,
        RBYTES: u64 = cat::flow::REPLY_RAW_PKTLEN,
        RPKTS: u64 = cat::flow::REPLY_RAW_PKTCOUNT,
        START_SEC: u32 = cat::flow::START_SEC,
        START_USEC: u32 = cat::flow::START_USEC,
        END_SEC: u32 = cat::flow::END_SEC,
        END_USEC: u32 = cat::flow::END_USEC,
        CTMARK: u32 = cat::ct::MARK,
        CTID: u32 = cat::ct::ID,
        CTEVENT: u32 = cat::ct::EVENT,
        PREFIX: Str = cat::oob::PREFIX,
        MARK: u32 = cat::oob::MARK,
        HOOK: u8 = cat::oob::HOOK,
        IFIN: u32 = cat::oob::IFINDEX_IN,
        IFOUT: u32 = cat::oob::IFINDEX_OUT,
        ICMP_TYPE: u8 = cat::packet::ICMP_TYPE,
        ICMP_CODE: u8 = cat::packet::ICMP_CODE,
        EXPORTER: IpAddr = cat::ipfix::EXPORTER,
        DOMAIN: u32 = cat::ipfix::DOMAIN,
        VERSION: u16 = cat::ipfix::VERSION,
    };
}
const O_SADDR: usize = out::SADDR.pos();
const O_DADDR: usize = out::DADDR.pos();
const O_PROTO: usize = out::PROTO.pos();
const O_SPORT: usize = out::SPORT.pos();
const O_DPORT: usize = out::DPORT.pos();
const O_BYTES: usize = out::BYTES.pos();
const O_PKTS: usize = out::PKTS.pos();
const O_RSADDR: usize = out::RSADDR.pos();
const O_RDADDR: usize = out::RDADDR.pos();
const O_RPROTO: usize = out::RPROTO.pos();
const O_RSPORT: usize = out::RSPORT.pos();
const O_RDPORT: usize = out::RDPORT.pos();
const O_RBYTES: usize = out::RBYTES.pos();
const O_RPKTS: usize = out::RPKTS.pos();
const O_START_SEC: usize = out::START_SEC.pos();
const O_START_USEC: usize = out::START_USEC.pos();
const O_END_SEC: usize = out::END_SEC.pos();
const O_END_USEC: usize = out::END_USEC.pos();
const O_CTMARK: usize = out::CTMARK.pos();
const O_CTID: usize = out::CTID.pos();
const O_CTEVENT: usize = out::CTEVENT.pos();
const O_PREFIX: usize = out::PREFIX.pos();
const O_MARK: usize = out::MARK.pos();
const O_HOOK: usize = out::HOOK.pos();
const O_IFIN: usize = out::IFIN.pos();
const O_IFOUT: usize = out::IFOUT.pos();
const O_ICMP_TYPE: usize = out::ICMP_TYPE.pos();
const O_ICMP_CODE: usize = out::ICMP_CODE.pos();
const O_EXPORTER: usize = out::EXPORTER.pos();
const O_DOMAIN: usize = out::DOMAIN.pos();
const O_VERSION: usize = out::VERSION.pos();

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
                .map_err(|e| PluginError::from(o.error("listen", e)))?;
            let range = |name: &str, lo: i64, hi: i64, what: &str| {
                let v = o.int(name);
                if (lo..=hi).contains(&v) {
                    Ok(v)
                } else {
                    Err(PluginError::from(o.error(name, what)))
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
