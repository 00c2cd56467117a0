//! PRINTFLOW: one line per conntrack flow, in key `print`.
//!
//! `[NEW] |[UPDATE] |[DESTROY] ` (from `ct.event` 1/2/4), then
//! `ORIG: SRC= DST= PROTO=.. SPT= DPT= | TYPE= CODE= PKTS= BYTES= , REPLY: ... \n`,
//! byte-for-byte ulogd2 2.0.8's `printflow_print()` (space before the comma, trailing
//! `"\n"` that LOGEMU does not add) except for [`PRINTFLOW_FIXES`]. Every field is
//! printed only when its key is set.

use std::sync::Arc;

use ulogd_core::{Event, KeyDef, KeyType, Options, PluginError, PluginSpec, Ret, Stage};

use super::fmt::{cstr, put_u64};

/// What this PRINTFLOW prints differently from ulogd2 2.0.8, on purpose.
pub const PRINTFLOW_FIXES: &[&str] = &[
    "ICMP flows print TYPE=<icmp.type> CODE=<icmp.code>; 2.0.8 swapped them (an echo request printed \
     TYPE=0 CODE=8)",
];

static INPUTS: &[KeyDef] = &[
    KeyDef::new("orig.ip.saddr.str", KeyType::String),
    KeyDef::new("orig.ip.daddr.str", KeyType::String),
    KeyDef::new("orig.ip.protocol", KeyType::U8),
    KeyDef::new("orig.l4.sport", KeyType::U16).optional(),
    KeyDef::new("orig.l4.dport", KeyType::U16).optional(),
    KeyDef::new("orig.raw.pktlen", KeyType::U64).optional(),
    KeyDef::new("orig.raw.pktcount", KeyType::U64).optional(),
    KeyDef::new("reply.ip.saddr.str", KeyType::String).optional(),
    KeyDef::new("reply.ip.daddr.str", KeyType::String).optional(),
    KeyDef::new("reply.ip.protocol", KeyType::U8).optional(),
    KeyDef::new("reply.l4.sport", KeyType::U16).optional(),
    KeyDef::new("reply.l4.dport", KeyType::U16).optional(),
    KeyDef::new("reply.raw.pktlen", KeyType::U64).optional(),
    KeyDef::new("reply.raw.pktcount", KeyType::U64).optional(),
    KeyDef::new("icmp.code", KeyType::U8).optional(),
    KeyDef::new("icmp.type", KeyType::U8).optional(),
    KeyDef::new("ct.event", KeyType::U32).optional(),
];
const ICMP_CODE: usize = 14;
const ICMP_TYPE: usize = 15;
const CT_EVENT: usize = 16;
/// Offset of the reply block: input `i` of the orig block is `i + REPLY` for reply.
const REPLY: usize = 7;
const SADDR: usize = 0;
const DADDR: usize = 1;
const PROTOCOL: usize = 2;
const SPORT: usize = 3;
const DPORT: usize = 4;
const PKTLEN: usize = 5;
const PKTCOUNT: usize = 6;

static OUTPUTS: &[KeyDef] = &[KeyDef::new("print", KeyType::String)];

fn lit(b: &mut Vec<u8>, s: &str) {
    b.extend_from_slice(s.as_bytes());
}

/// `label=<n> ` when input `i` is set (ulogd2's `pp_print`).
fn pp(ev: &Event<'_>, b: &mut Vec<u8>, label: &str, i: usize) {
    if let Some(v) = ev.u64(i) {
        lit(b, label);
        b.push(b'=');
        put_u64(b, v);
        b.push(b' ');
    }
}

fn direction(ev: &Event<'_>, b: &mut Vec<u8>, base: usize) {
    if let Some(s) = ev.bytes(base + SADDR) {
        lit(b, "SRC=");
        b.extend_from_slice(cstr(s));
        b.push(b' ');
    }
    if let Some(s) = ev.bytes(base + DADDR) {
        lit(b, "DST=");
        b.extend_from_slice(cstr(s));
        b.push(b' ');
    }
    if let Some(p) = ev.u8(base + PROTOCOL) {
        match p {
            6 | 17 => {
                lit(b, if p == 6 { "PROTO=TCP " } else { "PROTO=UDP " });
                pp(ev, b, "SPT", base + SPORT);
                pp(ev, b, "DPT", base + DPORT);
            }
            1 => {
                lit(b, "PROTO=ICMP ");
                // Fixed: 2.0.8 printed the code as TYPE and the type as CODE.
                pp(ev, b, "TYPE", ICMP_TYPE);
                pp(ev, b, "CODE", ICMP_CODE);
            }
            50 => lit(b, "PROTO=ESP "),
            51 => lit(b, "PROTO=AH "),
            _ => pp(ev, b, "PROTO", base + PROTOCOL),
        }
    }
    pp(ev, b, "PKTS", base + PKTCOUNT);
    pp(ev, b, "BYTES", base + PKTLEN);
}

/// Writes the whole line for the event.
pub(crate) fn print(ev: &Event<'_>, b: &mut Vec<u8>) {
    match ev.u32(CT_EVENT) {
        Some(1) => lit(b, "[NEW] "),
        Some(2) => lit(b, "[UPDATE] "),
        Some(4) => lit(b, "[DESTROY] "),
        _ => {}
    }
    lit(b, "ORIG: ");
    direction(ev, b, 0);
    lit(b, ", REPLY: ");
    direction(ev, b, REPLY);
    b.push(b'\n');
}

struct PrintFlow;

impl Stage for PrintFlow {
    fn interp(&self, ev: &mut Event<'_>) -> Ret {
        ev.set_with(0, print);
        Ret::Ok
    }
}

fn make(_: &Options) -> Result<Arc<dyn Stage>, PluginError> {
    Ok(Arc::new(PrintFlow))
}

/// The PRINTFLOW plugin.
pub(crate) fn spec() -> PluginSpec {
    super::filter_spec(
        "PRINTFLOW",
        &[],
        "formats a conntrack flow as a LOG-like line in key 'print' (for LOGEMU and SYSLOG)",
        vec![],
        INPUTS,
        OUTPUTS,
        make,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filters::testutil::*;
    use ulogd_core::testing::OwnedValue;

    fn keys() -> Vec<KeyDef> {
        INPUTS
            .iter()
            .map(|k| KeyDef {
                flags: ulogd_core::KeyFlags::NONE,
                ..k.clone()
            })
            .collect()
    }

    fn flow(
        ev: u64,
        proto: u64,
        sp: u64,
        dp: u64,
        o: (u64, u64),
        r: (u64, u64),
    ) -> Vec<(usize, OwnedValue)> {
        vec![
            (0, s("127.0.0.1")),
            (1, s("127.0.0.1")),
            (2, u(proto)),
            (3, u(sp)),
            (4, u(dp)),
            (5, u(o.1)),
            (6, u(o.0)),
            (7, s("127.0.0.1")),
            (8, s("127.0.0.1")),
            (9, u(proto)),
            (10, u(dp)),
            (11, u(sp)),
            (12, u(r.1)),
            (13, u(r.0)),
            (16, u(ev)),
        ]
    }

    /// Lines of samples/logemu-printflow-*.log (minus date and host).
    #[test]
    fn like_samples() {
        let mut icmp = flow(4, 1, 0, 0, (2, 168), (2, 168));
        icmp.retain(|(i, _)| ![3, 4, 10, 11].contains(i));
        icmp.push((14, u(0)));
        icmp.push((15, u(8)));
        let events = vec![
            flow(4, 6, 55876, 8080, (1, 60), (1, 40)),
            flow(1, 17, 51331, 1001, (0, 0), (0, 0)),
            flow(2, 6, 59866, 7000, (8, 442), (5, 286)),
            icmp,
            // unknown protocol, IPv6 strings, no event, reply missing.
            vec![
                (0, s("::1")),
                (1, s("::1")),
                (2, u(47)),
                (5, u(10)),
                (6, u(1)),
            ],
        ];
        let got: Vec<String> = run1("PRINTFLOW", keys(), events)
            .iter()
            .map(|r| get_str(r, "print").unwrap())
            .collect();
        assert_eq!(
            got[0],
            "[DESTROY] ORIG: SRC=127.0.0.1 DST=127.0.0.1 PROTO=TCP SPT=55876 DPT=8080 PKTS=1 BYTES=60 , \
             REPLY: SRC=127.0.0.1 DST=127.0.0.1 PROTO=TCP SPT=8080 DPT=55876 PKTS=1 BYTES=40 \n"
        );
        assert_eq!(
            got[1],
            "[NEW] ORIG: SRC=127.0.0.1 DST=127.0.0.1 PROTO=UDP SPT=51331 DPT=1001 PKTS=0 BYTES=0 , \
             REPLY: SRC=127.0.0.1 DST=127.0.0.1 PROTO=UDP SPT=1001 DPT=51331 PKTS=0 BYTES=0 \n"
        );
        assert!(got[2].starts_with("[UPDATE] ORIG: "));
        // Fixed: 2.0.8 printed "TYPE=0 CODE=8" for this echo request.
        assert_eq!(
            got[3],
            "[DESTROY] ORIG: SRC=127.0.0.1 DST=127.0.0.1 PROTO=ICMP TYPE=8 CODE=0 PKTS=2 BYTES=168 , \
             REPLY: SRC=127.0.0.1 DST=127.0.0.1 PROTO=ICMP TYPE=8 CODE=0 PKTS=2 BYTES=168 \n"
        );
        assert_eq!(
            got[4],
            "ORIG: SRC=::1 DST=::1 PROTO=47 PKTS=1 BYTES=10 , REPLY: \n"
        );
    }
}
