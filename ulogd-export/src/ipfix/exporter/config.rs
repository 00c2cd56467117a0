//! The options of an IPFIX or NFLOW9 instance, read and checked once at build
//! time into a [`Config`]; the session gets the protocol part of it as a
//! [`SessionConfig`], the socket edge the destination.

use std::time::Duration;

use ulogd_core::{OptionDef, Options, PluginError};

use super::super::template::Shape;
use super::super::wire::Protocol;
use super::session::{SessionConfig, Transport};
use crate::net::Endpoint;

/// Parsed destination.
fn parse_dest(s: &str) -> Result<Endpoint, String> {
    let (scheme, rest) = s
        .split_once("://")
        .ok_or_else(|| format!("\"{s}\" is not udp://host:port or tcp://host:port"))?;
    let (host, port) = if let Some(r) = rest.strip_prefix('[') {
        let (h, p) = r
            .split_once(']')
            .ok_or_else(|| format!("\"{s}\": missing ']' after the IPv6 address"))?;
        (h, p.strip_prefix(':').unwrap_or(""))
    } else {
        rest.rsplit_once(':')
            .ok_or_else(|| format!("\"{s}\": missing :port"))?
    };
    if host.is_empty() {
        return Err(format!("\"{s}\": missing host"));
    }
    if port.parse::<u16>().map_or(true, |p| p == 0) {
        return Err(format!("\"{s}\": bad port \"{port}\""));
    }
    match scheme.to_ascii_lowercase().as_str() {
        "udp" => Ok(Endpoint::Udp(host.into(), port.into())),
        "tcp" => Ok(Endpoint::Tcp(host.into(), port.into())),
        other => Err(format!(
            "\"{s}\": transport \"{other}\" is not supported (udp or tcp)"
        )),
    }
}

/// Exporter settings.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub shape: Shape,
    pub dest: Endpoint,
    pub domain: u32,
    pub nth_template: u32,
    pub template_refresh: Duration,
    pub corksets_max: u32,
    pub mtu: usize,
    pub flush: Duration,
    pub queue_max: usize,
}

impl Config {
    /// What the session needs: everything but where to send.
    pub fn session(&self) -> SessionConfig {
        SessionConfig {
            protocol: self.shape.protocol,
            transport: match self.dest {
                Endpoint::Tcp(..) => Transport::Tcp,
                _ => Transport::Udp,
            },
            domain: self.domain,
            nth_template: self.nth_template,
            template_refresh: self.template_refresh,
            corksets_max: self.corksets_max,
            mtu: self.mtu,
            flush: self.flush,
            queue_max: self.queue_max,
            exporter_id: std::process::id(),
        }
    }
}

fn config_err(o: &Options, name: &str, msg: impl std::fmt::Display) -> PluginError {
    PluginError::new(o.error(name, msg).to_string())
}

/// Reads and checks the options of an IPFIX or NFLOW9 instance.
pub(crate) fn config(p: Protocol, o: &Options) -> Result<Config, PluginError> {
    // Destination: `dest`, or ulogd2's host/port/proto.
    let dest = if o.given("dest") || !o.given("host") {
        let d = if o.str("dest").is_empty() {
            match p {
                Protocol::Ipfix => "udp://127.0.0.1:4739",
                Protocol::V9 => "udp://127.0.0.1:9996",
            }
        } else {
            o.str("dest")
        };
        if o.given("host") {
            return Err(config_err(o, "host", "give either dest or host/port/proto"));
        }
        parse_dest(d).map_err(|e| config_err(o, "dest", e))?
    } else {
        let proto = o.str("proto").to_ascii_lowercase();
        if proto != "udp" && proto != "tcp" {
            return Err(config_err(o, "proto", "must be udp or tcp"));
        }
        let host = o.str("host");
        let host = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        let port = o.u32("port").map_err(|e| PluginError::new(e.to_string()))?;
        parse_dest(&format!("{proto}://{host}:{port}")).map_err(|e| config_err(o, "host", e))?
    };
    if o.given("oid") && o.given("domain_id") {
        return Err(config_err(
            o,
            "oid",
            "give either domain_id or oid (its old name)",
        ));
    }
    let dname = if o.given("oid") { "oid" } else { "domain_id" };
    let domain = o.u32(dname).map_err(|e| PluginError::new(e.to_string()))?;
    let mut nth_template = o
        .u32("nth_template")
        .map_err(|e| PluginError::new(e.to_string()))?;
    let mut refresh = o
        .u32("template_refresh")
        .map_err(|e| PluginError::new(e.to_string()))?;
    if o.given("send_template") {
        match o.str("send_template").to_ascii_lowercase().as_str() {
            // Templates with the first use only (and on each TCP connection).
            "once" | "never" => {
                if o.str("send_template").eq_ignore_ascii_case("never") {
                    log::warn!(
                        "[{}] send_template=never: templates are still sent once, \
                         collectors cannot decode records without them",
                        o.instance()
                    );
                }
                nth_template = 0;
                refresh = 0;
            }
            _ => nth_template = 1,
        }
    }
    let mtu = o.int("mtu");
    if !(64..=65535).contains(&mtu) {
        return Err(config_err(o, "mtu", "must be between 64 and 65535"));
    }
    let corksets_max = o
        .u32("corksets_max")
        .map_err(|e| PluginError::new(e.to_string()))?;
    let flush_ms = o.int("flush_ms");
    if !(10..=60_000).contains(&flush_ms) {
        return Err(config_err(o, "flush_ms", "must be between 10 and 60000"));
    }
    let queue_max = o.int("queue_max");
    if !(1..=1_000_000).contains(&queue_max) {
        return Err(config_err(o, "queue_max", "must be between 1 and 1000000"));
    }
    let biflow = o.bool("biflow");
    if p == Protocol::V9 && biflow {
        return Err(config_err(
            o,
            "biflow",
            "NetFlow v9 has no biflows (RFC 5103 is IPFIX only); conntrack flows are exported as two uni-flows",
        ));
    }
    Ok(Config {
        shape: Shape {
            protocol: p,
            biflow,
            nat_events: o.bool("nat_events"),
            export_raw: o.bool("export_raw"),
            nat_historic: match o.str("nat_event_codes").to_ascii_lowercase().as_str() {
                "rfc8158" => false,
                "historic" => true,
                other => {
                    return Err(config_err(
                        o,
                        "nat_event_codes",
                        format!("must be rfc8158 or historic, not \"{other}\""),
                    ))
                }
            },
        },
        dest,
        domain,
        nth_template,
        template_refresh: Duration::from_secs(refresh as u64),
        corksets_max,
        mtu: mtu as usize,
        flush: Duration::from_millis(flush_ms as u64),
        queue_max: queue_max as usize,
    })
}

pub(crate) fn options(p: Protocol) -> Vec<OptionDef> {
    let ipfix = p == Protocol::Ipfix;
    vec![
        OptionDef::string(
            "dest",
            "",
            "udp://host:port or tcp://host:port (names and [IPv6] literals); default udp://127.0.0.1:4739 (IPFIX), :9996 (NFLOW9)",
        ),
        OptionDef::int("domain_id", "0", "observation domain id (IPFIX) / source id (NetFlow v9)"),
        OptionDef::int("nth_template", "16", "UDP: resend templates every N messages (0: never by count)"),
        OptionDef::int("template_refresh", "60", "UDP: resend templates every N seconds (0: never by time)"),
        OptionDef::int("corksets_max", "0", "most data records per message (0: as many as mtu allows)"),
        OptionDef::int("mtu", "1400", "largest message in bytes"),
        OptionDef::int("flush_ms", "500", "a partly filled message leaves after this many ms"),
        OptionDef::int("queue_max", "1024", "TCP: messages kept while the collector is away"),
        OptionDef::boolean(
            "biflow",
            if ipfix { "1" } else { "0" },
            "conntrack flows as RFC 5103 biflows (IPFIX) instead of two uni-flows",
        ),
        OptionDef::boolean("nat_events", "0", "natEvent records for NATed conntrack NEW and DESTROY"),
        OptionDef::string(
            "nat_event_codes",
            "rfc8158",
            "natEvent values: rfc8158 (4 create, 5 delete) or historic (1, 2: nfdump 1.7 names them)",
        ),
        OptionDef::boolean("export_raw", "0", "export raw keys (raw.pkt) as variable-length fields (IPFIX)"),
        OptionDef::int("oid", "0", "ulogd2 name of domain_id"),
        OptionDef::string("host", "", "ulogd2: collector host (use dest)"),
        OptionDef::int("port", if ipfix { "4739" } else { "9996" }, "ulogd2: collector port (use dest)"),
        OptionDef::string("proto", "udp", "ulogd2: udp or tcp (use dest)"),
        OptionDef::string("send_template", "", "ulogd2: once, never (= once) or always (= nth_template 1)"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dest_forms() {
        assert_eq!(
            parse_dest("udp://127.0.0.1:4739").unwrap(),
            Endpoint::Udp("127.0.0.1".into(), "4739".into())
        );
        assert_eq!(
            parse_dest("tcp://[::1]:9995").unwrap(),
            Endpoint::Tcp("::1".into(), "9995".into())
        );
        assert_eq!(
            parse_dest("TCP://collector.example:2055").unwrap(),
            Endpoint::Tcp("collector.example".into(), "2055".into())
        );
        assert!(parse_dest("sctp://a:1").is_err());
        assert!(parse_dest("udp://a").is_err());
        assert!(parse_dest("udp://:5").is_err());
        assert!(parse_dest("udp://a:0").is_err());
        assert!(parse_dest("a:4739").is_err());
    }

    fn opts(p: Protocol, pairs: &[(&str, &str)]) -> Result<Config, PluginError> {
        let o = Options::from_pairs("IPFIX", "x", &options(p), pairs).unwrap();
        config(p, &o)
    }

    #[test]
    fn ulogd2_option_names() {
        let c = opts(
            Protocol::Ipfix,
            &[
                ("oid", "7"),
                ("host", "::1"),
                ("port", "4740"),
                ("proto", "tcp"),
                ("send_template", "once"),
            ],
        )
        .unwrap();
        assert_eq!(c.dest, Endpoint::Tcp("::1".into(), "4740".into()));
        assert_eq!((c.domain, c.nth_template), (7, 0));
        let c = opts(Protocol::V9, &[]).unwrap();
        assert_eq!(c.dest, Endpoint::Udp("127.0.0.1".into(), "9996".into()));
        assert!(!c.shape.biflow);
        assert!(opts(Protocol::V9, &[("biflow", "1")]).is_err());
        assert!(opts(Protocol::Ipfix, &[("mtu", "10")]).is_err());
        let e = opts(Protocol::Ipfix, &[("dest", "smtp://x:1")])
            .err()
            .unwrap();
        assert!(e.to_string().contains("dest"), "{e}");
    }
}
