//! PCAP: packets in a classic libpcap file, raw IP (LINKTYPE_RAW, as ulogd2) or
//! NFLOG (LINKTYPE_NFLOG) records that keep prefix, mark, interfaces and hook.

use std::sync::Arc;

use ulogd_core::{Built, Event, Inputs, KeyDef, KeyType, Kind, OptionDef, PluginError, PluginSpec};

use crate::output::{c_str, file_output, queue_options, Encoder};
use crate::time;

/// LINKTYPE_RAW.
pub(crate) const LINKTYPE_RAW: u32 = 101;
/// LINKTYPE_NFLOG.
pub(crate) const LINKTYPE_NFLOG: u32 = 239;

const PKT: usize = 0;
const PKTLEN: usize = 1;
const TOTLEN: usize = 2;
const SEC: usize = 3;
const USEC: usize = 4;
const FAMILY: usize = 5;
const P6LEN: usize = 6;
const PREFIX: usize = 7;
const MARK: usize = 8;
const IFIN: usize = 9;
const IFOUT: usize = 10;
const HOOK: usize = 11;
const PROTO: usize = 12;

/// The 24-byte file header (host byte order, µs magic, snaplen 65536, thiszone 0).
pub(crate) fn file_header(linktype: u32) -> Vec<u8> {
    let mut h = Vec::with_capacity(24);
    h.extend_from_slice(&0xa1b2_c3d4u32.to_ne_bytes());
    h.extend_from_slice(&2u16.to_ne_bytes());
    h.extend_from_slice(&4u16.to_ne_bytes());
    h.extend_from_slice(&0i32.to_ne_bytes());
    h.extend_from_slice(&0u32.to_ne_bytes());
    h.extend_from_slice(&65536u32.to_ne_bytes());
    h.extend_from_slice(&linktype.to_ne_bytes());
    h
}

/// A record header.
pub(crate) fn record_header(out: &mut Vec<u8>, sec: u32, usec: u32, caplen: u32, len: u32) {
    for v in [sec, usec, caplen, len] {
        out.extend_from_slice(&v.to_ne_bytes());
    }
}

fn tlv(out: &mut Vec<u8>, ty: u16, val: &[u8]) {
    out.extend_from_slice(&((val.len() + 4) as u16).to_le_bytes());
    out.extend_from_slice(&ty.to_le_bytes());
    out.extend_from_slice(val);
    while out.len() & 3 != 0 {
        out.push(0);
    }
}

/// What an NFLOG record carries.
#[derive(Default)]
pub(crate) struct NflogMeta<'a> {
    pub family: u8,
    pub hw_protocol: u16,
    pub hook: u8,
    pub mark: Option<u32>,
    pub time: Option<(u64, u64)>,
    pub indev: Option<u32>,
    pub outdev: Option<u32>,
    pub prefix: Option<&'a [u8]>,
}

/// Appends an NFLOG pseudo-header + TLVs + payload (the record body).
pub(crate) fn nflog_body(out: &mut Vec<u8>, m: &NflogMeta<'_>, payload: &[u8]) {
    let base = out.len();
    out.push(m.family);
    out.push(0);
    out.extend_from_slice(&0u16.to_be_bytes());
    let mut hdr = [0u8; 4];
    hdr[..2].copy_from_slice(&m.hw_protocol.to_be_bytes());
    hdr[2] = m.hook;
    // TLV offsets are relative to the record start: keep alignment from `base`.
    let mut tmp = Vec::with_capacity(payload.len() + 128);
    tlv(&mut tmp, 1, &hdr);
    if let Some(mark) = m.mark {
        tlv(&mut tmp, 2, &mark.to_be_bytes());
    }
    if let Some((s, u)) = m.time {
        let mut t = [0u8; 16];
        t[..8].copy_from_slice(&s.to_be_bytes());
        t[8..].copy_from_slice(&u.to_be_bytes());
        tlv(&mut tmp, 3, &t);
    }
    if let Some(i) = m.indev {
        tlv(&mut tmp, 4, &i.to_be_bytes());
    }
    if let Some(i) = m.outdev {
        tlv(&mut tmp, 5, &i.to_be_bytes());
    }
    if let Some(p) = m.prefix {
        let mut v = c_str(p).to_vec();
        v.push(0);
        tlv(&mut tmp, 10, &v);
    }
    tlv(&mut tmp, 9, payload);
    out.extend_from_slice(&tmp);
    debug_assert_eq!((out.len() - base) & 3, 0);
}

struct Pcap {
    linktype: u32,
    body: Vec<u8>,
}

impl Encoder for Pcap {
    fn header(&self) -> Vec<u8> {
        file_header(self.linktype)
    }

    fn encode(&mut self, ev: &Event<'_>, out: &mut Vec<u8>) -> bool {
        let Some(pkt) = ev.bytes(PKT) else {
            return false;
        };
        let caplen = ev
            .u32(PKTLEN)
            .unwrap_or(pkt.len() as u32)
            .min(pkt.len() as u32);
        let pkt = &pkt[..caplen as usize];
        let family = ev.u8(FAMILY).unwrap_or(0);
        let len = match family {
            2 => ev.u16(TOTLEN).map(u32::from).unwrap_or(caplen),
            10 => ev.u16(P6LEN).map(|l| l as u32 + 40).unwrap_or(caplen),
            _ => caplen,
        };
        let (sec, usec, have_time) = match (ev.u64(SEC), ev.u64(USEC)) {
            (Some(s), Some(u)) => (s as u32, u as u32, true),
            _ => {
                let (s, u) = time::now();
                (s as u32, u, false)
            }
        };
        if self.linktype == LINKTYPE_RAW {
            record_header(out, sec, usec, caplen, len);
            out.extend_from_slice(pkt);
            return true;
        }
        let m = NflogMeta {
            family,
            hw_protocol: ev.u16(PROTO).unwrap_or(0),
            hook: ev.u8(HOOK).unwrap_or(0),
            mark: ev.u32(MARK),
            time: have_time.then_some((sec as u64, usec as u64)),
            indev: ev.u32(IFIN).filter(|&i| i != 0),
            outdev: ev.u32(IFOUT).filter(|&i| i != 0),
            prefix: ev.bytes(PREFIX),
        };
        self.body.clear();
        nflog_body(&mut self.body, &m, pkt);
        let blen = self.body.len() as u32;
        record_header(out, sec, usec, blen, blen + (len - caplen.min(len)));
        out.extend_from_slice(&self.body);
        true
    }
}

/// The PCAP plugin.
pub(crate) fn spec() -> PluginSpec {
    let inputs = vec![
        KeyDef::new("raw.pkt", KeyType::Raw),
        KeyDef::new("raw.pktlen", KeyType::Any),
        KeyDef::new("ip.totlen", KeyType::Any).optional(),
        KeyDef::new("oob.time.sec", KeyType::Any).optional(),
        KeyDef::new("oob.time.usec", KeyType::Any).optional(),
        KeyDef::new("oob.family", KeyType::Any).optional(),
        KeyDef::new("ip6.payloadlen", KeyType::Any).optional(),
        KeyDef::new("oob.prefix", KeyType::Any).optional(),
        KeyDef::new("oob.mark", KeyType::Any).optional(),
        KeyDef::new("oob.ifindex_in", KeyType::Any).optional(),
        KeyDef::new("oob.ifindex_out", KeyType::Any).optional(),
        KeyDef::new("oob.hook", KeyType::Any).optional(),
        KeyDef::new("oob.protocol", KeyType::Any).optional(),
    ];
    PluginSpec {
        name: "PCAP",
        aliases: &[],
        kind: Kind::Sink,
        summary: "packets to a pcap file (raw IP, or NFLOG records with metadata)",
        options: [
            OptionDef::string("file", "/var/log/ulogd.pcap", "capture file"),
            OptionDef::boolean("sync", "0", "flush after every packet"),
            OptionDef::string(
                "linktype",
                "raw",
                "raw (LINKTYPE_RAW, as ulogd2) or nflog (LINKTYPE_NFLOG)",
            ),
        ]
        .into_iter()
        .chain(queue_options())
        .collect(),
        inputs: inputs.clone(),
        outputs: vec![],
        wildcard: false,
        build: Box::new(move |ctx| {
            let o = ctx.options;
            let linktype = match o.str("linktype").to_ascii_lowercase().as_str() {
                "raw" => LINKTYPE_RAW,
                "nflog" => LINKTYPE_NFLOG,
                other => {
                    return Err(PluginError::new(
                        o.error("linktype", format!("must be raw or nflog, not \"{other}\""))
                            .to_string(),
                    ))
                }
            };
            Ok(Built::Stage {
                stage: Arc::new(file_output(
                    "PCAP",
                    Pcap {
                        linktype,
                        body: Vec::with_capacity(2048),
                    },
                    o,
                )?),
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
    fn header_matches_ulogd2_on_utc() {
        // First 24 bytes of golden ulogd2-output.pcap (little-endian host, UTC).
        let golden: [u8; 24] = [
            0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0x65, 0, 0, 0,
        ];
        if cfg!(target_endian = "little") {
            assert_eq!(file_header(LINKTYPE_RAW), golden);
        }
    }

    #[test]
    fn nflog_tlvs() {
        let mut v = Vec::new();
        let m = NflogMeta {
            family: 2,
            hw_protocol: 0x0800,
            hook: 1,
            mark: Some(0x2a),
            prefix: Some(b"IN"),
            indev: Some(2),
            ..Default::default()
        };
        nflog_body(&mut v, &m, &[0x45, 0, 0]);
        assert_eq!(&v[..4], &[2, 0, 0, 0]);
        assert_eq!(&v[4..12], &[8, 0, 1, 0, 0x08, 0x00, 1, 0]);
        assert_eq!(&v[12..20], &[8, 0, 2, 0, 0, 0, 0, 0x2a]);
        assert_eq!(&v[20..28], &[8, 0, 4, 0, 0, 0, 0, 2]);
        assert_eq!(&v[28..36], &[7, 0, 10, 0, b'I', b'N', 0, 0]);
        assert_eq!(&v[36..], &[7, 0, 9, 0, 0x45, 0, 0, 0]);
    }
}
