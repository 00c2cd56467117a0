//! PRINTPKT: one "iptables LOG"-like line per packet, in key `print`.
//!
//! The text is byte-for-byte ulogd2 2.0.8's `printpkt_print()` (LOGEMU and SYSLOG
//! print it as is), including the quirks log parsers depend on: the prefix is followed
//! by one space (an nft prefix ending in a space gives two), `MAC= ` is always there,
//! `TOS=%02X` without `0x`, SEQ/ACK always printed, `INCOMPLETE` glued to what follows,
//! `MARK=0x..` whenever `oob.mark` is set, and the string **ends with `"\n"`** (LOGEMU
//! writes `"<date> <host> "` and then `print` without adding a newline, as ulogd2).
//! Only [`PRINTPKT_FIXES`] differ.
//!
//! Inputs are untyped ([`KeyType::Any`]) as in ulogd2. `oob.family`, `oob.in`,
//! `oob.out`, `ip.saddr.str` and `ip.daddr.str` are required, so a stack without
//! IFINDEX or IP2STR is refused at start-up (as ulogd2 does); the others are optional
//! and read as 0 when unset, as ulogd2 read its stale zeroed slots.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use ulogd_core::{Event, KeyDef, KeyType, Options, PluginError, PluginSpec, Ret, Stage, Value};

use super::fmt::{cstr, put_hex, put_hex2, put_ip, put_u64};

/// What this PRINTPKT prints differently from ulogd2 2.0.8, on purpose.
pub const PRINTPKT_FIXES: &[&str] = &[
    "ICMP: ID=/SEQ= (echo), PARAMETER=, GATEWAY= and MTU= are chosen by the ICMP type; 2.0.8 switched on the \
     code, so any ICMP with code 0 (e.g. net unreachable) printed ID/SEQ, and redirects, parameter problems \
     and fragmentation-needed never printed their field",
    "ICMP GATEWAY= prints the redirect gateway in network order (2.0.8 printed it byte-swapped), and \
     PARAMETER= prints the pointer byte (2.0.8 printed the wrong byte of the host-order word)",
    "ESP/AH: the PROTO= label comes from the header being printed (2.0.8 used ip.protocol, unset for IPv6 ESP, \
     so IPv6 ESP was labelled AH)",
    "MAC=: at most the bytes present are printed when raw.mac_len is larger than raw.mac (2.0.8 read past \
     the buffer); text keys are cut at a NUL as C's %s did",
];

static INPUTS: &[KeyDef] = &[
    KeyDef::new("oob.family", KeyType::Any),
    KeyDef::new("oob.prefix", KeyType::Any).optional(),
    KeyDef::new("oob.in", KeyType::Any),
    KeyDef::new("oob.out", KeyType::Any),
    KeyDef::new("oob.uid", KeyType::Any).optional(),
    KeyDef::new("oob.gid", KeyType::Any).optional(),
    KeyDef::new("oob.mark", KeyType::Any).optional(),
    KeyDef::new("raw.mac", KeyType::Any).optional(),
    KeyDef::new("raw.mac_len", KeyType::Any).optional(),
    KeyDef::new("ip.saddr.str", KeyType::Any),
    KeyDef::new("ip.daddr.str", KeyType::Any),
    KeyDef::new("ip.totlen", KeyType::Any).optional(),
    KeyDef::new("ip.tos", KeyType::Any).optional(),
    KeyDef::new("ip.ttl", KeyType::Any).optional(),
    KeyDef::new("ip.id", KeyType::Any).optional(),
    KeyDef::new("ip.fragoff", KeyType::Any).optional(),
    KeyDef::new("ip.protocol", KeyType::Any).optional(),
    KeyDef::new("ip6.payloadlen", KeyType::Any).optional(),
    KeyDef::new("ip6.priority", KeyType::Any).optional(),
    KeyDef::new("ip6.hoplimit", KeyType::Any).optional(),
    KeyDef::new("ip6.flowlabel", KeyType::Any).optional(),
    KeyDef::new("ip6.nexthdr", KeyType::Any).optional(),
    KeyDef::new("ip6.fragoff", KeyType::Any).optional(),
    KeyDef::new("ip6.fragid", KeyType::Any).optional(),
    KeyDef::new("tcp.sport", KeyType::Any).optional(),
    KeyDef::new("tcp.dport", KeyType::Any).optional(),
    KeyDef::new("tcp.seq", KeyType::Any).optional(),
    KeyDef::new("tcp.ackseq", KeyType::Any).optional(),
    KeyDef::new("tcp.window", KeyType::Any).optional(),
    KeyDef::new("tcp.syn", KeyType::Any).optional(),
    KeyDef::new("tcp.ack", KeyType::Any).optional(),
    KeyDef::new("tcp.psh", KeyType::Any).optional(),
    KeyDef::new("tcp.rst", KeyType::Any).optional(),
    KeyDef::new("tcp.fin", KeyType::Any).optional(),
    KeyDef::new("tcp.urg", KeyType::Any).optional(),
    KeyDef::new("tcp.urgp", KeyType::Any).optional(),
    KeyDef::new("udp.sport", KeyType::Any).optional(),
    KeyDef::new("udp.dport", KeyType::Any).optional(),
    KeyDef::new("udp.len", KeyType::Any).optional(),
    KeyDef::new("icmp.type", KeyType::Any).optional(),
    KeyDef::new("icmp.code", KeyType::Any).optional(),
    KeyDef::new("icmp.echoid", KeyType::Any).optional(),
    KeyDef::new("icmp.echoseq", KeyType::Any).optional(),
    KeyDef::new("icmp.gateway", KeyType::Any).optional(),
    KeyDef::new("icmp.fragmtu", KeyType::Any).optional(),
    KeyDef::new("icmpv6.type", KeyType::Any).optional(),
    KeyDef::new("icmpv6.code", KeyType::Any).optional(),
    KeyDef::new("icmpv6.echoid", KeyType::Any).optional(),
    KeyDef::new("icmpv6.echoseq", KeyType::Any).optional(),
    KeyDef::new("ahesp.spi", KeyType::Any).optional(),
    KeyDef::new("oob.protocol", KeyType::Any).optional(),
    KeyDef::new("arp.hwtype", KeyType::Any).optional(),
    KeyDef::new("arp.protocoltype", KeyType::Any).optional(),
    KeyDef::new("arp.operation", KeyType::Any).optional(),
    KeyDef::new("arp.shwaddr", KeyType::Any).optional(),
    KeyDef::new("arp.saddr.str", KeyType::Any).optional(),
    KeyDef::new("arp.dhwaddr", KeyType::Any).optional(),
    KeyDef::new("arp.daddr.str", KeyType::Any).optional(),
    KeyDef::new("sctp.sport", KeyType::Any).optional(),
    KeyDef::new("sctp.dport", KeyType::Any).optional(),
];

// Input positions (order of INPUTS).
const OOB_FAMILY: usize = 0;
const OOB_PREFIX: usize = 1;
const OOB_IN: usize = 2;
const OOB_OUT: usize = 3;
const OOB_UID: usize = 4;
const OOB_GID: usize = 5;
const OOB_MARK: usize = 6;
const RAW_MAC: usize = 7;
const RAW_MACLEN: usize = 8;
const IP_SADDR: usize = 9;
const IP_DADDR: usize = 10;
const IP_TOTLEN: usize = 11;
const IP_TOS: usize = 12;
const IP_TTL: usize = 13;
const IP_ID: usize = 14;
const IP_FRAGOFF: usize = 15;
const IP_PROTOCOL: usize = 16;
const IP6_PAYLOADLEN: usize = 17;
const IP6_PRIORITY: usize = 18;
const IP6_HOPLIMIT: usize = 19;
const IP6_FLOWLABEL: usize = 20;
const IP6_NEXTHDR: usize = 21;
const IP6_FRAGOFF: usize = 22;
const IP6_FRAGID: usize = 23;
const TCP_SPORT: usize = 24;
const TCP_DPORT: usize = 25;
const TCP_SEQ: usize = 26;
const TCP_ACKSEQ: usize = 27;
const TCP_WINDOW: usize = 28;
const TCP_SYN: usize = 29;
const TCP_ACK: usize = 30;
const TCP_PSH: usize = 31;
const TCP_RST: usize = 32;
const TCP_FIN: usize = 33;
const TCP_URG: usize = 34;
const TCP_URGP: usize = 35;
const UDP_SPORT: usize = 36;
const UDP_DPORT: usize = 37;
const UDP_LEN: usize = 38;
const ICMP_TYPE: usize = 39;
const ICMP_CODE: usize = 40;
const ICMP_ECHOID: usize = 41;
const ICMP_ECHOSEQ: usize = 42;
const ICMP_GATEWAY: usize = 43;
const ICMP_FRAGMTU: usize = 44;
const ICMPV6_TYPE: usize = 45;
const ICMPV6_CODE: usize = 46;
const ICMPV6_ECHOID: usize = 47;
const ICMPV6_ECHOSEQ: usize = 48;
const AHESP_SPI: usize = 49;
const OOB_PROTOCOL: usize = 50;
const ARP_OPCODE: usize = 53;
const ARP_SHA: usize = 54;
const ARP_SPA: usize = 55;
const ARP_TPA: usize = 57;
const SCTP_SPORT: usize = 58;
const SCTP_DPORT: usize = 59;

static OUTPUTS: &[KeyDef] = &[KeyDef::new("print", KeyType::String)];

const NFPROTO_IPV4: u8 = 2;
const NFPROTO_ARP: u8 = 3;
const NFPROTO_BRIDGE: u8 = 7;
const NFPROTO_IPV6: u8 = 10;

const IPPROTO_ICMP: u8 = 1;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_ESP: u8 = 50;
const IPPROTO_AH: u8 = 51;
const IPPROTO_ICMPV6: u8 = 58;
const IPPROTO_SCTP: u8 = 132;

/// Reads inputs the way ulogd2's `ikey_get_*` did: unset reads as 0.
struct R<'a, 'e>(&'a Event<'e>);

impl R<'_, '_> {
    fn n(&self, i: usize) -> u64 {
        self.0.u64(i).unwrap_or(0)
    }
    fn set(&self, i: usize) -> bool {
        self.0.is_set(i)
    }
    /// Text input, cut at NUL; `None` when unset or not text.
    fn text(&self, i: usize) -> Option<&[u8]> {
        self.0.bytes(i).map(cstr)
    }
}

fn lit(b: &mut Vec<u8>, s: &str) {
    b.extend_from_slice(s.as_bytes());
}

/// `label` + decimal + space.
fn num(b: &mut Vec<u8>, label: &str, v: u64) {
    lit(b, label);
    put_u64(b, v);
    b.push(b' ');
}

fn src_dst(r: &R<'_, '_>, b: &mut Vec<u8>, s: usize, d: usize) {
    if let Some(t) = r.text(s) {
        lit(b, "SRC=");
        b.extend_from_slice(t);
        b.push(b' ');
    }
    if let Some(t) = r.text(d) {
        lit(b, "DST=");
        b.extend_from_slice(t);
        b.push(b' ');
    }
}

/// TCP, UDP, SCTP, ESP, AH (`printpkt_proto`).
fn proto(r: &R<'_, '_>, b: &mut Vec<u8>, protocol: u8) {
    match protocol {
        IPPROTO_TCP => {
            lit(b, "PROTO=TCP ");
            if !r.set(TCP_SPORT) {
                lit(b, "INCOMPLETE");
                return;
            }
            num(b, "SPT=", r.n(TCP_SPORT) & 0xffff);
            num(b, "DPT=", r.n(TCP_DPORT) & 0xffff);
            num(b, "SEQ=", r.n(TCP_SEQ) & 0xffff_ffff);
            num(b, "ACK=", r.n(TCP_ACKSEQ) & 0xffff_ffff);
            num(b, "WINDOW=", r.n(TCP_WINDOW) & 0xffff);
            for (k, name) in [
                (TCP_URG, "URG "),
                (TCP_ACK, "ACK "),
                (TCP_PSH, "PSH "),
                (TCP_RST, "RST "),
                (TCP_SYN, "SYN "),
                (TCP_FIN, "FIN "),
            ] {
                if r.n(k) & 0xff != 0 {
                    lit(b, name);
                }
            }
            num(b, "URGP=", r.n(TCP_URGP) & 0xffff);
        }
        IPPROTO_UDP => {
            lit(b, "PROTO=UDP ");
            if !r.set(UDP_SPORT) {
                lit(b, "INCOMPLETE");
                return;
            }
            num(b, "SPT=", r.n(UDP_SPORT) & 0xffff);
            num(b, "DPT=", r.n(UDP_DPORT) & 0xffff);
            num(b, "LEN=", r.n(UDP_LEN) & 0xffff);
        }
        IPPROTO_SCTP => {
            lit(b, "PROTO=SCTP ");
            if !r.set(SCTP_SPORT) {
                lit(b, "INCOMPLETE");
                return;
            }
            num(b, "SPT=", r.n(SCTP_SPORT) & 0xffff);
            num(b, "DPT=", r.n(SCTP_DPORT) & 0xffff);
        }
        IPPROTO_ESP | IPPROTO_AH => {
            lit(
                b,
                if protocol == IPPROTO_ESP {
                    "PROTO=ESP "
                } else {
                    "PROTO=AH "
                },
            );
            if !r.set(AHESP_SPI) {
                lit(b, "INCOMPLETE");
                return;
            }
            lit(b, "SPI=0x");
            put_hex(b, r.n(AHESP_SPI) & 0xffff_ffff, 0, false);
            b.push(b' ');
        }
        _ => {}
    }
}

/// The ICMP gateway / parameter word as an IPv4 address in network order. Accepts
/// an address (what BASE produces) or a number holding the address as `u32::from`.
fn gateway(ev: &Event<'_>) -> Ipv4Addr {
    match ev.get(ICMP_GATEWAY) {
        Some(Value::Addr(IpAddr::V4(a))) => a,
        Some(Value::Uint(x)) => Ipv4Addr::from(x as u32),
        _ => Ipv4Addr::UNSPECIFIED,
    }
}

fn ipv4(r: &R<'_, '_>, b: &mut Vec<u8>) {
    src_dst(r, b, IP_SADDR, IP_DADDR);
    let tos = r.n(IP_TOS) as u8;
    num(b, "LEN=", r.n(IP_TOTLEN) & 0xffff);
    lit(b, "TOS=");
    put_hex(b, (tos & 0x1e) as u64, 2, true);
    lit(b, " PREC=0x");
    put_hex(b, (tos & 0xe0) as u64, 2, true);
    b.push(b' ');
    num(b, "TTL=", r.n(IP_TTL) & 0xff);
    num(b, "ID=", r.n(IP_ID) & 0xffff);
    let frag = r.n(IP_FRAGOFF) as u16;
    if frag & 0x8000 != 0 {
        lit(b, "CE ");
    }
    if frag & 0x4000 != 0 {
        lit(b, "DF ");
    }
    if frag & 0x2000 != 0 {
        lit(b, "MF ");
    }
    if frag & 0x1fff != 0 {
        lit(b, "FRAG:");
        put_u64(b, (frag & 0x1fff) as u64);
        b.push(b' ');
    }
    let protocol = r.n(IP_PROTOCOL) as u8;
    match protocol {
        IPPROTO_TCP | IPPROTO_UDP | IPPROTO_SCTP | IPPROTO_ESP | IPPROTO_AH => {
            proto(r, b, protocol)
        }
        IPPROTO_ICMP => {
            lit(b, "PROTO=ICMP ");
            if !r.set(ICMP_TYPE) {
                lit(b, "INCOMPLETE");
                return;
            }
            let ty = r.n(ICMP_TYPE) as u8;
            let code = r.n(ICMP_CODE) as u8;
            num(b, "TYPE=", ty as u64);
            num(b, "CODE=", code as u64);
            // Fixed: switch on the type (2.0.8 switched on the code).
            match ty {
                0 | 8 => {
                    num(b, "ID=", r.n(ICMP_ECHOID) & 0xffff);
                    num(b, "SEQ=", r.n(ICMP_ECHOSEQ) & 0xffff);
                }
                12 => num(b, "PARAMETER=", gateway(r.0).octets()[0] as u64),
                5 => {
                    lit(b, "GATEWAY=");
                    put_ip(b, IpAddr::V4(gateway(r.0)));
                    b.push(b' ');
                }
                3 if code == 4 => num(b, "MTU=", r.n(ICMP_FRAGMTU) & 0xffff),
                _ => {}
            }
        }
        _ => num(b, "PROTO=", protocol as u64),
    }
}

fn ipv6(r: &R<'_, '_>, b: &mut Vec<u8>) {
    src_dst(r, b, IP_SADDR, IP_DADDR);
    if r.set(IP6_PAYLOADLEN) {
        num(b, "LEN=", (r.n(IP6_PAYLOADLEN) & 0xffff) + 40);
    }
    if r.set(IP6_PRIORITY) {
        num(b, "TC=", r.n(IP6_PRIORITY) & 0xff);
    }
    if r.set(IP6_HOPLIMIT) {
        num(b, "HOPLIMIT=", r.n(IP6_HOPLIMIT) & 0xff);
    }
    if r.set(IP6_FLOWLABEL) {
        num(b, "FLOWLBL=", r.n(IP6_FLOWLABEL) & 0xffff_ffff);
    }
    if r.set(IP6_FRAGOFF) && r.set(IP6_FRAGID) {
        lit(b, "FRAG: ");
        put_u64(b, r.n(IP6_FRAGOFF) & 0xffff);
        lit(b, " ID: ");
        put_hex(b, r.n(IP6_FRAGID) & 0xffff_ffff, 8, false);
        b.push(b' ');
    }
    let nexthdr = r.n(IP6_NEXTHDR) as u8;
    match nexthdr {
        IPPROTO_TCP | IPPROTO_UDP | IPPROTO_SCTP | IPPROTO_ESP | IPPROTO_AH => proto(r, b, nexthdr),
        IPPROTO_ICMPV6 => {
            lit(b, "PROTO=ICMPv6 ");
            if !r.set(ICMPV6_TYPE) {
                lit(b, "INCOMPLETE");
                return;
            }
            if !r.set(ICMPV6_CODE) {
                lit(b, "TRUNCATED");
                return;
            }
            let ty = r.n(ICMPV6_TYPE) as u8;
            num(b, "TYPE=", ty as u64);
            num(b, "CODE=", r.n(ICMPV6_CODE) & 0xff);
            if ty == 128 || ty == 129 {
                num(b, "ID=", r.n(ICMPV6_ECHOID) & 0xffff);
                num(b, "SEQ=", r.n(ICMPV6_ECHOSEQ) & 0xffff);
            }
        }
        _ => num(b, "PROTO=", nexthdr as u64),
    }
}

fn arp(r: &R<'_, '_>, b: &mut Vec<u8>) {
    src_dst(r, b, ARP_SPA, ARP_TPA);
    lit(b, "PROTO=ARP ");
    if r.set(ARP_OPCODE) {
        let code = r.n(ARP_OPCODE) as u16;
        match code {
            1 => lit(b, "REQUEST "),
            2 => lit(b, "REPLY "),
            10 => lit(b, "NAK "),
            _ => num(b, "CODE=", code as u64),
        }
        if code == 2 {
            if let Some(mac) = r.0.bytes(ARP_SHA).filter(|m| m.len() >= 6) {
                lit(b, "REPLY_MAC=");
                for (i, x) in mac[..6].iter().enumerate() {
                    if i > 0 {
                        b.push(b':');
                    }
                    put_hex2(b, *x);
                }
                b.push(b' ');
            }
        }
    }
}

/// Writes the whole line for the event (ulogd2's `printpkt_print`).
pub(crate) fn print(ev: &Event<'_>, b: &mut Vec<u8>) {
    let r = R(ev);
    if let Some(p) = r.text(OOB_PREFIX) {
        b.extend_from_slice(p);
        b.push(b' ');
    }
    if let (Some(i), Some(o)) = (r.text(OOB_IN), r.text(OOB_OUT)) {
        lit(b, "IN=");
        b.extend_from_slice(i);
        lit(b, " OUT=");
        b.extend_from_slice(o);
        b.push(b' ');
    }
    match ev.bytes(RAW_MAC) {
        Some(mac) => {
            let len = match ev.u64(RAW_MACLEN) {
                Some(l) => (l as usize).min(mac.len()),
                None => mac.len(),
            };
            lit(b, "MAC=");
            for (i, x) in mac[..len].iter().enumerate() {
                put_hex2(b, *x);
                b.push(if i + 1 == len { b' ' } else { b':' });
            }
        }
        None => lit(b, "MAC= "),
    }
    match r.n(OOB_FAMILY) as u8 {
        NFPROTO_IPV4 => ipv4(&r, b),
        NFPROTO_IPV6 => ipv6(&r, b),
        NFPROTO_BRIDGE => match r.n(OOB_PROTOCOL) as u16 {
            0x0800 => ipv4(&r, b),
            0x86dd => ipv6(&r, b),
            0x0806 => arp(&r, b),
            p => num(b, "PROTO=", p as u64),
        },
        NFPROTO_ARP => arp(&r, b),
        _ => {}
    }
    if r.set(OOB_UID) {
        num(b, "UID=", r.n(OOB_UID) & 0xffff_ffff);
    }
    if r.set(OOB_GID) {
        num(b, "GID=", r.n(OOB_GID) & 0xffff_ffff);
    }
    if r.set(OOB_MARK) {
        lit(b, "MARK=0x");
        put_hex(b, r.n(OOB_MARK) & 0xffff_ffff, 0, false);
        b.push(b' ');
    }
    b.push(b'\n');
}

struct PrintPkt;

impl Stage for PrintPkt {
    fn interp(&self, ev: &mut Event<'_>) -> Ret {
        ev.set_with(0, print);
        Ret::Ok
    }
}

fn make(_: &Options) -> Result<Arc<dyn Stage>, PluginError> {
    Ok(Arc::new(PrintPkt))
}

/// The PRINTPKT plugin.
pub(crate) fn spec() -> PluginSpec {
    super::filter_spec(
        "PRINTPKT",
        &[],
        "formats a packet as an iptables LOG line in key 'print' (for LOGEMU and SYSLOG)",
        vec![],
        INPUTS,
        OUTPUTS,
        make,
    )
}

#[cfg(test)]
mod tests;
