//! NACCT: nacctd-compatible tab-separated flow lines (reply-direction counters).

use std::io::Write;
use std::sync::Arc;

use ulogd_core::{Built, Event, Inputs, KeyDef, KeyType, Kind, OptionDef, PluginSpec};

use crate::output::{c_str, file_output, queue_options, Encoder};

const SADDR: usize = 0;
const DADDR: usize = 1;
const PROTO: usize = 2;
const SPORT: usize = 3;
const DPORT: usize = 4;
const PKTLEN: usize = 5;
const PKTCOUNT: usize = 6;
const ICMP_CODE: usize = 7;
const ICMP_TYPE: usize = 8;
const END: usize = 9;
const ICMPV6_CODE: usize = 10;
const ICMPV6_TYPE: usize = 11;

/// One NACCT line: `end proto saddr sport|type daddr dport|code pkts bytes\n`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn format_line(
    out: &mut Vec<u8>,
    end: u32,
    proto: u8,
    saddr: &[u8],
    sport_or_type: u32,
    daddr: &[u8],
    dport_or_code: u32,
    pkts: u64,
    bytes: u64,
) {
    let _ = write!(out, "{end}\t{proto}\t");
    out.extend_from_slice(c_str(saddr));
    let _ = write!(out, "\t{sport_or_type}\t");
    out.extend_from_slice(c_str(daddr));
    let _ = writeln!(out, "\t{dport_or_code}\t{pkts}\t{bytes}");
}

struct Nacct;

impl Encoder for Nacct {
    fn encode(&mut self, ev: &Event<'_>, out: &mut Vec<u8>) -> bool {
        let proto = ev.u8(PROTO).unwrap_or(0);
        let (a, b) = if proto == 1 {
            (
                ev.u8(ICMP_TYPE).unwrap_or(0) as u32,
                ev.u8(ICMP_CODE).unwrap_or(0) as u32,
            )
        } else if proto == 58 {
            // ICMPv6 flows (NFCT's icmpv6.* keys; 2.0.8 had none and printed 0 0).
            (
                ev.u8(ICMPV6_TYPE).unwrap_or(0) as u32,
                ev.u8(ICMPV6_CODE).unwrap_or(0) as u32,
            )
        } else {
            (
                ev.u16(SPORT).unwrap_or(0) as u32,
                ev.u16(DPORT).unwrap_or(0) as u32,
            )
        };
        format_line(
            out,
            ev.u32(END).unwrap_or(0),
            proto,
            ev.bytes(SADDR).unwrap_or(b""),
            a,
            ev.bytes(DADDR).unwrap_or(b""),
            b,
            ev.u64(PKTCOUNT).unwrap_or(0),
            ev.u64(PKTLEN).unwrap_or(0),
        );
        true
    }
}

/// The NACCT plugin.
pub(crate) fn spec() -> PluginSpec {
    let inputs = vec![
        KeyDef::new("orig.ip.saddr.str", KeyType::String),
        KeyDef::new("orig.ip.daddr.str", KeyType::String),
        KeyDef::new("orig.ip.protocol", KeyType::Any),
        KeyDef::new("orig.l4.sport", KeyType::Any).optional(),
        KeyDef::new("orig.l4.dport", KeyType::Any).optional(),
        KeyDef::new("reply.raw.pktlen", KeyType::Any),
        KeyDef::new("reply.raw.pktcount", KeyType::Any),
        KeyDef::new("icmp.code", KeyType::Any).optional(),
        KeyDef::new("icmp.type", KeyType::Any).optional(),
        KeyDef::new("flow.end.sec", KeyType::Any).optional(),
        KeyDef::new("icmpv6.code", KeyType::Any).optional(),
        KeyDef::new("icmpv6.type", KeyType::Any).optional(),
    ];
    PluginSpec {
        name: "NACCT",
        aliases: &[],
        kind: Kind::Sink,
        summary: "nacctd-compatible flow accounting lines",
        options: [
            OptionDef::string(
                "file",
                "/var/log/ulogd_nacct.log",
                "output file (- for stdout)",
            ),
            OptionDef::boolean("sync", "0", "flush after every line"),
        ]
        .into_iter()
        .chain(queue_options())
        .collect(),
        inputs: inputs.clone(),
        outputs: vec![],
        wildcard: false,
        build: Box::new(move |ctx| {
            let o = ctx.options;
            Ok(Built::Stage {
                stage: Arc::new(file_output("NACCT", Nacct, o)?),
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
    fn lines_like_sample() {
        let mut out = Vec::new();
        format_line(
            &mut out,
            1795560563,
            6,
            b"127.0.0.1",
            55876,
            b"127.0.0.1",
            8080,
            1,
            40,
        );
        format_line(
            &mut out,
            1795560568,
            1,
            b"127.0.0.1",
            8,
            b"127.0.0.1",
            0,
            2,
            168,
        );
        format_line(&mut out, 1795560568, 17, b"::1", 54541, b"::1", 9999, 0, 0);
        // samples/nacct-nfct.log lines 1, and the spec's ICMP / IPv6 examples.
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "1795560563\t6\t127.0.0.1\t55876\t127.0.0.1\t8080\t1\t40\n\
             1795560568\t1\t127.0.0.1\t8\t127.0.0.1\t0\t2\t168\n\
             1795560568\t17\t::1\t54541\t::1\t9999\t0\t0\n"
        );
    }
}
