//! JSON: one object per event, byte-compatible with ulogd2 2.0.8 (jansson
//! `json_dumps(obj, 0)`: `", "` and `": "` separators, insertion order), to a file or
//! over TCP, UDP or a unix stream socket.
//!
//! `encode` holds the leaf writers, `plan` the per-stack plan the hot path runs; this
//! module is the plugin (options) and its [`Encoder`]. The transport, queue, reopen and
//! reconnect are [`crate::output`]'s.

mod encode;
mod plan;
#[cfg(test)]
mod reference;

use std::sync::Arc;

use ulogd_core::{
    BindState, Built, Event, Inputs, Kind, OptionDef, PluginError, PluginSpec, StackKeys,
};

pub(crate) use crate::time::OffsetCache;
pub(crate) use encode::{JsonOpts, TsFormat};
pub(crate) use plan::Plan;

use crate::output::{queue_config, queue_options, Encoder, OutputStage};
use crate::time;
use crate::transport::{Endpoint, FileTransport, NetTransport, Transport};

/// JSON's encoder; the plan of each stack feeding this instance is its bind state.
pub(crate) struct JsonEncoder {
    opts: JsonOpts,
    tz: OffsetCache,
}

impl JsonEncoder {
    /// An encoder with these options.
    pub(crate) fn new(opts: JsonOpts) -> JsonEncoder {
        JsonEncoder {
            opts,
            tz: OffsetCache::default(),
        }
    }
}

impl Encoder for JsonEncoder {
    fn bind(&self, keys: &StackKeys<'_>) -> Result<BindState, PluginError> {
        Ok(BindState::new(Plan::new(keys.wildcard, &self.opts)))
    }

    fn encode(&mut self, ev: &Event<'_>, out: &mut Vec<u8>) -> bool {
        let Some(plan) = ev.bind_state::<Plan>() else {
            // Only an engine that skipped `bind` gets here; nothing to print by.
            debug_assert!(false, "JSON: no plan bound for this stack");
            return false;
        };
        let tz = &mut self.tz;
        plan.write(ev, &self.opts, out, time::now().0, |s| tz.get(s));
        true
    }
}

/// The JSON plugin.
pub(crate) fn spec() -> PluginSpec {
    PluginSpec {
        name: "JSON",
        aliases: &[],
        kind: Kind::Sink,
        summary: "one JSON object per event, to a file or a tcp/udp/unix socket",
        options: [
            OptionDef::string(
                "file",
                "/var/log/ulogd.json",
                "output file, or socket path in unix mode",
            ),
            OptionDef::boolean("sync", "0", "flush after every line (file mode)"),
            OptionDef::boolean("timestamp", "1", "add a timestamp field"),
            OptionDef::boolean("eventv1", "0", "Logstash event v1 (@version, @timestamp)"),
            OptionDef::string("device", "Netfilter", "value of the dvc field"),
            OptionDef::boolean(
                "boolean_label",
                "0",
                "print raw.label as action: allowed|blocked",
            ),
            OptionDef::string("mode", "file", "file, tcp, udp or unix"),
            OptionDef::string("host", "127.0.0.1", "host name or address (tcp/udp)"),
            OptionDef::string("port", "12345", "port (tcp/udp)"),
            OptionDef::string(
                "timestamp_format",
                "ulogd2",
                "ulogd2 (as 2.0.8: no offset on UTC hosts) or rfc3339 (explicit offset)",
            ),
        ]
        .into_iter()
        .chain(queue_options())
        .collect(),
        inputs: vec![],
        outputs: vec![],
        wildcard: true,
        build: Box::new(|ctx| {
            let o = ctx.options;
            let ts_format = match o.str("timestamp_format").to_ascii_lowercase().as_str() {
                "ulogd2" => TsFormat::Ulogd2,
                "rfc3339" => TsFormat::Rfc3339,
                other => {
                    return Err(PluginError::new(
                        o.error(
                            "timestamp_format",
                            format!("must be ulogd2 or rfc3339, not \"{other}\""),
                        )
                        .to_string(),
                    ))
                }
            };
            let file = o.str("file");
            let mode = o.str("mode").to_ascii_lowercase();
            let net = |ep: Endpoint| -> Result<Box<dyn Transport>, PluginError> {
                if let Endpoint::Tcp(_, p) | Endpoint::Udp(_, p) = &ep {
                    if p.parse::<u16>().is_err() {
                        return Err(PluginError::new(
                            o.error("port", "must be a port number").to_string(),
                        ));
                    }
                }
                Ok(Box::new(NetTransport::new(ep)))
            };
            let transport: Box<dyn Transport> = match mode.as_str() {
                "file" => Box::new(FileTransport::new(file)),
                "tcp" => net(Endpoint::Tcp(o.str("host").into(), o.str("port").into()))?,
                "udp" => net(Endpoint::Udp(o.str("host").into(), o.str("port").into()))?,
                "unix" => {
                    if file.is_empty() || file.len() >= 108 {
                        return Err(PluginError::new(
                            o.error("file", "unix socket path must be 1 to 107 bytes long")
                                .to_string(),
                        ));
                    }
                    net(Endpoint::Unix(file.into()))?
                }
                other => {
                    return Err(PluginError::new(
                        o.error(
                            "mode",
                            format!("must be file, tcp, udp or unix, not \"{other}\""),
                        )
                        .to_string(),
                    ))
                }
            };
            let queue = queue_config(o, mode != "file")?;
            Ok(Built::Stage {
                stage: Arc::new(OutputStage::new(
                    "JSON",
                    JsonEncoder::new(JsonOpts {
                        timestamp: o.bool("timestamp"),
                        eventv1: o.bool("eventv1"),
                        device: o.str("device").to_string(),
                        boolean_label: o.bool("boolean_label"),
                        ts_format,
                    }),
                    transport,
                    queue,
                    o.bool("sync"),
                )),
                inputs: Inputs::All,
                outputs: vec![],
            })
        }),
    }
}
