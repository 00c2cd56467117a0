//! PWSNIFF: plaintext `USER x` / `PASS y` of POP3 (110) and FTP (21) logins.
//!
//! Looks at IPv4 TCP packets to destination port 21 or 110 and extracts the word after
//! the last `USER ` / `PASS ` (case-insensitive) in the payload, up to the next space,
//! CR or LF. Any other packet returns [`Ret::Stop`]: like ulogd2, this filter ends the
//! stack for everything that is not a candidate login packet.
//! Differences from 2.0.8 (fixes): every read is bounded by the captured bytes and the
//! IP total length; an IPv6 or non-IPv4 `raw.pkt` is stopped instead of being misread
//! as IPv4; the payload starts after the TCP data offset (2.0.8 started scanning after
//! a fixed 20 bytes, i.e. inside TCP options).

use std::sync::Arc;

use ulogd_core::{Event, KeyDef, KeyType, Options, PluginError, PluginSpec, Ret, Stage};

use crate::packet::{ipv4, tcp, Ipv4Packet, TcpPacket};

const IPPROTO_TCP: u8 = 6;

static INPUTS: &[KeyDef] = &[KeyDef::new("raw.pkt", KeyType::Raw)];
static OUTPUTS: &[KeyDef] = &[
    KeyDef::new("pwsniff.user", KeyType::String),
    KeyDef::new("pwsniff.pass", KeyType::String),
];

const PORTS: [u16; 2] = [110, 21];

/// The TCP payload of a login candidate, as a range of `pkt`: bounded by the
/// captured bytes and the IP total length, starting after the TCP data offset.
fn payload(pkt: &[u8]) -> Option<std::ops::Range<usize>> {
    let ip = Ipv4Packet::new_checked(pkt).ok()?;
    if ip.version() != 4 || ip.protocol() != IPPROTO_TCP {
        return None;
    }
    let ihl = ip.header_len();
    let tot = usize::from(ip.total_len()).min(pkt.len());
    if ihl < ipv4::MIN_HDR || tot < ihl + tcp::MIN_HDR {
        return None;
    }
    let seg = TcpPacket::new_checked(&pkt[ihl..tot]).ok()?;
    if !PORTS.contains(&seg.dst_port()) {
        return None;
    }
    let start = ihl + seg.header_len();
    Some(start.min(tot)..tot)
}

/// The range of the word after the last `tag` (case-insensitive) in `data`, if it is
/// followed by a blank and is not empty (ulogd2's rules).
fn find_word(data: &[u8], tag: &[u8; 5]) -> Option<std::ops::Range<usize>> {
    let mut found = None;
    for i in 0..data.len().saturating_sub(tag.len() - 1) {
        if data[i..].len() >= 5 && data[i..i + 5].eq_ignore_ascii_case(tag) {
            let start = i + 5;
            if let Some(n) = data[start..]
                .iter()
                .position(|&c| matches!(c, b' ' | b'\n' | b'\r'))
            {
                if n > 0 {
                    found = Some(start..start + n);
                }
            }
        }
    }
    found
}

/// What PWSNIFF found in a login candidate: the `USER` and `PASS` words as ranges
/// of the packet.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Credentials {
    /// The word after the last `USER `.
    pub user: Option<std::ops::Range<usize>>,
    /// The word after the last `PASS `.
    pub pass: Option<std::ops::Range<usize>>,
}

/// PWSNIFF's parser: `None` when `pkt` is not an IPv4 TCP packet to port 21 or 110
/// (the stage stops those), else the credentials found. Never panics; the ranges are
/// within `pkt`.
pub fn credentials(pkt: &[u8]) -> Option<Credentials> {
    let range = payload(pkt)?;
    let data = pkt.get(range.clone())?;
    let shift = |r: std::ops::Range<usize>| (r.start + range.start)..(r.end + range.start);
    Some(Credentials {
        user: find_word(data, b"USER ").map(shift),
        pass: find_word(data, b"PASS ").map(shift),
    })
}

struct PwSniff;

impl Stage for PwSniff {
    fn interp(&self, ev: &mut Event<'_>) -> Ret {
        let Some(found) = ev.bytes(0).and_then(credentials) else {
            return Ret::Stop;
        };
        for (out, r) in [(0, found.user), (1, found.pass)] {
            let Some(r) = r else { continue };
            ev.set_with(out, |ev, buf| {
                if let Some(w) = ev.bytes(0).and_then(|p| p.get(r)) {
                    buf.extend_from_slice(w);
                }
            });
        }
        Ret::Ok
    }
}

fn make(_: &Options) -> Result<Arc<dyn Stage>, PluginError> {
    Ok(Arc::new(PwSniff))
}

/// The PWSNIFF plugin.
pub(crate) fn spec() -> PluginSpec {
    super::filter_spec(
        "PWSNIFF",
        &[],
        "extracts plaintext POP3/FTP USER and PASS; stops every other packet",
        vec![],
        INPUTS,
        OUTPUTS,
        make,
    )
}

#[cfg(test)]
mod tests {

    /// Hostile packets: header lengths and offsets pointing past the bytes.
    #[test]
    fn credentials_of_hostile_packets() {
        let good = tcp_pkt(21, b"USER bob\r\n");
        let c = credentials(&good).unwrap();
        assert_eq!(&good[c.user.unwrap()], b"bob");
        // ihl of 15 words in a 48-byte packet, a data offset past the end, a total
        // length shorter than the headers, truncation: no panic, nothing found.
        let mut bad = good.clone();
        bad[0] = 0x4f;
        assert_eq!(credentials(&bad), None);
        let mut bad = good.clone();
        bad[20 + 12] = 0xf0;
        assert_eq!(credentials(&bad), Some(Credentials::default()));
        let mut bad = good.clone();
        bad[2..4].copy_from_slice(&30u16.to_be_bytes());
        assert_eq!(credentials(&bad), None);
        for n in 0..good.len() {
            let _ = credentials(&good[..n]);
        }
        assert_eq!(credentials(&tcp_pkt(80, b"USER bob\r\n")), None);
    }
    use super::*;
    use crate::filters::testutil::*;

    /// An IPv4/TCP packet 10.0.0.1:40000 -> 10.0.0.2:`dport` (PSH|ACK) carrying
    /// `payload`, built with the packet Reprs.
    fn tcp_pkt(dport: u16, payload: &[u8]) -> Vec<u8> {
        use crate::packet::{tcp, Ipv4Repr, TcpRepr};
        let seg = TcpRepr {
            src_port: 40000,
            dst_port: dport,
            seq: 1,
            flags: tcp::PSH | tcp::ACK,
            window: 0xffff,
            ..TcpRepr::default()
        }
        .to_bytes(payload);
        Ipv4Repr {
            src: [10, 0, 0, 1].into(),
            dst: [10, 0, 0, 2].into(),
            protocol: 6,
            tos: 0,
            ident: 0,
            flags_frag: 0x4000,
            ttl: 64,
            payload_len: 0,
        }
        .to_bytes(&seg)
    }

    #[test]
    fn extracts_and_stops() {
        let keys = vec![KeyDef::new("raw.pkt", KeyType::Raw)];
        let events = vec![
            vec![(0, raw(&tcp_pkt(110, b"USER alice\r\n")))],
            vec![(0, raw(&tcp_pkt(21, b"pass s3cret\r\n")))],
            vec![(0, raw(&tcp_pkt(80, b"USER bob\r\n")))],
            vec![(0, raw(&tcp_pkt(21, b"USER \r\n")))],
            vec![(0, raw(&tcp_pkt(21, b"USER nonl")))],
            vec![(0, raw(&[0x60, 0, 0]))],
            vec![(0, raw(&tcp_pkt(21, b"")[..30]))],
        ];
        let (rep, rows) = run_filters(keys, events, &[("p", "PWSNIFF", &[])]).unwrap();
        // ports 110/21 pass (even with nothing found); port 80, IPv6, truncated stop.
        assert_eq!(rows.len(), 4, "{rows:?}");
        assert_eq!(get_str(&rows[0], "pwsniff.user").as_deref(), Some("alice"));
        assert_eq!(get(&rows[0], "pwsniff.pass"), None);
        assert_eq!(get_str(&rows[1], "pwsniff.pass").as_deref(), Some("s3cret"));
        assert_eq!(get(&rows[2], "pwsniff.user"), None);
        assert_eq!(get(&rows[3], "pwsniff.user"), None);
        assert_eq!(rep.get("p", "stopped"), Some(3));
    }

    #[test]
    fn never_panics_on_garbage() {
        for len in 0..64 {
            let mut p = tcp_pkt(21, b"USER x PASS y\n");
            p.truncate(len);
            let _ = payload(&p);
            let _ = find_word(&p, b"USER ");
        }
    }
}
