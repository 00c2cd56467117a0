//! GRAPHITE: NFACCT sums as Carbon plaintext over TCP (an [`Encoder`] on the
//! queued TCP transport).

use std::io::Write;
use std::sync::Arc;

use ulogd_core::{Built, Event, Inputs, KeyDef, KeyType, Kind, OptionDef, PluginError, PluginSpec};

use crate::output::{c_str, queue_config, queue_options, Encoder, OutputStage};
use crate::time;
use crate::transport::{Endpoint, NetTransport};

/// The two Carbon lines of one sum.
pub(crate) fn format_lines(
    out: &mut Vec<u8>,
    prefix: &str,
    name: &[u8],
    pkts: u64,
    bytes: u64,
    ts: i64,
) {
    for (what, v) in [("pkts", pkts), ("bytes", bytes)] {
        out.extend_from_slice(prefix.as_bytes());
        out.push(b'.');
        out.extend_from_slice(c_str(name));
        let _ = writeln!(out, ".{what} {v} {ts}");
    }
}

struct Graphite {
    prefix: String,
}

impl Encoder for Graphite {
    fn encode(&mut self, ev: &Event<'_>, out: &mut Vec<u8>) -> bool {
        let Some(name) = ev.bytes(0) else {
            return false;
        };
        let ts = ev
            .u64(3)
            .map(|s| s as u32 as i64)
            .unwrap_or_else(|| time::now().0);
        format_lines(
            out,
            &self.prefix,
            name,
            ev.u64(1).unwrap_or(0),
            ev.u64(2).unwrap_or(0),
            ts,
        );
        true
    }
}

/// The GRAPHITE plugin.
pub(crate) fn spec() -> PluginSpec {
    let inputs = vec![
        KeyDef::new("sum.name", KeyType::String),
        KeyDef::new("sum.pkts", KeyType::Any),
        KeyDef::new("sum.bytes", KeyType::Any),
        KeyDef::new("oob.time.sec", KeyType::Any).optional(),
    ];
    PluginSpec {
        name: "GRAPHITE",
        aliases: &[],
        kind: Kind::Sink,
        summary: "NFACCT counters to a Carbon (Graphite) server over TCP",
        options: [
            OptionDef::string("host", "", "Carbon server host").required(),
            OptionDef::string("port", "", "Carbon server port").required(),
            OptionDef::string("prefix", "", "metric name prefix"),
        ]
        .into_iter()
        .chain(queue_options())
        .collect(),
        inputs: inputs.clone(),
        outputs: vec![],
        wildcard: false,
        build: Box::new(move |ctx| {
            let o = ctx.options;
            if o.str("port").parse::<u16>().is_err() {
                return Err(PluginError::new(
                    o.error("port", "must be a port number").to_string(),
                ));
            }
            Ok(Built::Stage {
                stage: Arc::new(OutputStage::new(
                    "GRAPHITE",
                    Graphite {
                        prefix: o.str("prefix").to_string(),
                    },
                    Box::new(NetTransport::new(Endpoint::Tcp(
                        o.str("host").into(),
                        o.str("port").into(),
                    ))),
                    queue_config(o, true)?,
                    false,
                )),
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
    fn carbon_lines() {
        let mut v = Vec::new();
        format_lines(&mut v, "netfilter.nfacct", b"udp2000", 5, 150, 1795560711);
        // samples/graphite-nfacct.txt
        assert_eq!(
            String::from_utf8(v).unwrap(),
            "netfilter.nfacct.udp2000.pkts 5 1795560711\nnetfilter.nfacct.udp2000.bytes 150 1795560711\n"
        );
    }
}
