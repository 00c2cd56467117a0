//! HWHDR (alias MAC2STR): the link-layer header as text.
//!
//! Outputs `raw.type` (ARPHRD type; `ARPHRD_VOID` 0xffff when unknown), `oob.protocol`
//! (copied from the input, or for Ethernet the ethertype read from the header),
//! `mac.saddr.str`, `mac.daddr.str` (`aa:bb:..`) and `mac.str` (the whole header).
//! Logic of ulogd2 2.0.8 (as later fixed upstream): `raw.mac.saddr` when NFLOG gives it,
//! else the Ethernet source address; Ethernet decoding only when the type is
//! `ARPHRD_ETHER` (from `raw.type`, or for ULOG a 14-byte header).
//! Fixed vs 2.0.8: no static-buffer overrun on `mac.str` (bugzilla #890); lengths are
//! checked against the bytes really present (a short header is never read past).

use std::sync::Arc;

use ulogd_core::catalogue::{oob, raw, Def, Key, Raw, Str};
use ulogd_core::{Event, Options, PluginError, PluginSpec, Ret, Stage};

use super::fmt::put_mac;
use crate::packet::{ethernet, EthernetFrame};

ulogd_core::key_list! {
    mod inp;
    static INPUTS = {
        RAW_TYPE: u16 = raw::TYPE.optional(),
        OOB_PROTOCOL: u16 = oob::PROTOCOL,
        RAW_MAC: Raw = raw::MAC.optional(),
        RAW_MACLEN: u16 = raw::MAC_LEN.optional(),
        MAC_SADDR: Raw = raw::MAC_SADDR.optional(),
        MAC_ADDRLEN: u16 = raw::MAC_ADDRLEN.optional(),
    };
}

ulogd_core::key_list! {
    mod out;
    static OUTPUTS = {
        TYPE: u16 = raw::TYPE,
        PROTOCOL: u16 = oob::PROTOCOL,
        SADDR: Str = Def::new("mac.saddr.str"),
        DADDR: Str = Def::new("mac.daddr.str"),
        MAC: Str = Def::new("mac.str"),
    };
}

const ARPHRD_ETHER: u16 = 1;
const ARPHRD_VOID: u16 = 0xffff;

/// The first `len` bytes of input `k`, clamped to what is there.
fn prefix<'e>(ev: &'e Event<'_>, k: Key<Raw>, len: Option<u16>) -> Option<&'e [u8]> {
    let b = ev.key(k)?;
    Some(match len {
        Some(l) => &b[..(l as usize).min(b.len())],
        None => b,
    })
}

/// What HWHDR reads from a hardware header (`raw.mac` with `raw.mac_len` and
/// `raw.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HwHeader {
    /// `raw.type` as given, else Ethernet for a 14-byte header, else `ARPHRD_VOID`.
    pub hw_type: u16,
    /// For Ethernet with a whole header: (source, destination, ethertype).
    pub ethernet: Option<([u8; 6], [u8; 6], u16)>,
    /// Bytes of `mac` that `mac.str` shows (`mac_len`, clamped to what is there).
    pub shown: usize,
}

/// HWHDR's parser of a hardware header; never panics.
pub fn read_header(raw_type: Option<u16>, mac: &[u8], mac_len: u16) -> HwHeader {
    let hw_type = match raw_type {
        Some(t) => t,
        None if usize::from(mac_len) == ethernet::HDR => ARPHRD_ETHER,
        None => ARPHRD_VOID,
    };
    let ethernet = if hw_type == ARPHRD_ETHER {
        EthernetFrame::new_checked(mac)
            .ok()
            .map(|f| (f.src_addr(), f.dst_addr(), f.ethertype()))
    } else {
        None
    };
    HwHeader {
        hw_type,
        ethernet,
        shown: usize::from(mac_len).min(mac.len()),
    }
}

struct HwHdr;

impl Stage for HwHdr {
    fn interp(&self, ev: &mut Event<'_>) -> Ret {
        ev.set_some(out::PROTOCOL, ev.key(inp::OOB_PROTOCOL));
        let has_saddr = ev.has(inp::MAC_SADDR);
        if has_saddr {
            let Some(alen) = ev.key(inp::MAC_ADDRLEN) else {
                return Ret::Err;
            };
            ev.set_with(out::SADDR.pos(), |ev, buf| {
                if let Some(s) = prefix(ev, inp::MAC_SADDR, Some(alen)) {
                    put_mac(buf, s)
                }
            });
            ev.set(out::TYPE, ARPHRD_VOID);
        }
        let Some(mac) = ev.key(inp::RAW_MAC) else {
            return Ret::Ok;
        };
        let Some(mac_len) = ev.key(inp::RAW_MACLEN) else {
            return Ret::Err;
        };
        let h = read_header(ev.key(inp::RAW_TYPE), mac, mac_len);
        ev.set(out::TYPE, h.hw_type);
        if let Some((src, dst, proto)) = h.ethernet {
            if !has_saddr {
                ev.set_with(out::SADDR.pos(), |_, buf| put_mac(buf, &src));
            }
            ev.set_with(out::DADDR.pos(), |_, buf| put_mac(buf, &dst));
            ev.set(out::PROTOCOL, proto);
        }
        ev.set_with(out::MAC.pos(), |ev, buf| {
            if let Some(m) = ev.key(inp::RAW_MAC) {
                put_mac(buf, &m[..h.shown.min(m.len())])
            }
        });
        Ret::Ok
    }
}

fn make(_: &Options) -> Result<Arc<dyn Stage>, PluginError> {
    Ok(Arc::new(HwHdr))
}

/// The HWHDR plugin (also registered as MAC2STR).
pub(crate) fn spec() -> PluginSpec {
    super::filter_spec(
        "HWHDR",
        &["MAC2STR"],
        "link-layer header to text: mac.saddr.str, mac.daddr.str, mac.str, raw.type, oob.protocol",
        vec![],
        INPUTS,
        OUTPUTS,
        make,
    )
}

#[cfg(test)]
mod tests {

    /// Hostile headers: a length beyond the bytes, a short "Ethernet" header.
    #[test]
    fn read_header_never_reads_past() {
        let h = read_header(Some(1), &[1, 2, 3], 14);
        assert_eq!((h.ethernet, h.shown), (None, 3));
        let h = read_header(None, &[0; 10], 14);
        assert_eq!((h.hw_type, h.ethernet), (1, None));
        let h = read_header(None, &[0; 20], 300);
        assert_eq!((h.hw_type, h.shown), (0xffff, 20));
        let mut e = vec![0xaa; 6];
        e.extend([0xbb; 6]);
        e.extend([0x86, 0xdd]);
        let h = read_header(None, &e, 14);
        assert_eq!(h.ethernet, Some(([0xbb; 6], [0xaa; 6], 0x86dd)));
    }
    use super::read_header;
    use crate::filters::testutil::*;
    use ulogd_core::{KeyDef, KeyType};

    const HDR: [u8; 14] = [
        0x06, 0x85, 0x5e, 0xc4, 0x59, 0x50, 0x6e, 0xc2, 0x39, 0x15, 0x32, 0xde, 0x08, 0x00,
    ];

    fn keys() -> Vec<KeyDef> {
        vec![
            KeyDef::new("raw.mac", KeyType::Raw),
            KeyDef::new("raw.mac_len", KeyType::U16),
            KeyDef::new("oob.protocol", KeyType::U16),
            KeyDef::new("raw.type", KeyType::U16),
            KeyDef::new("raw.mac.saddr", KeyType::Raw),
            KeyDef::new("raw.mac.addrlen", KeyType::U16),
        ]
    }

    /// json-input-veth-hwhdr.jsonl, first line.
    #[test]
    fn nflog_ethernet_like_sample() {
        let ev = vec![
            (0, raw(&HDR)),
            (1, u(14)),
            (2, u(0x800)),
            (3, u(1)),
            (4, raw(&HDR[6..12])),
            (5, u(6)),
        ];
        let rows = run1("HWHDR", keys(), vec![ev]);
        let r = &rows[0];
        assert_eq!(
            get_str(r, "mac.saddr.str").as_deref(),
            Some("6e:c2:39:15:32:de")
        );
        assert_eq!(
            get_str(r, "mac.daddr.str").as_deref(),
            Some("06:85:5e:c4:59:50")
        );
        assert_eq!(
            get_str(r, "mac.str").as_deref(),
            Some("06:85:5e:c4:59:50:6e:c2:39:15:32:de:08:00")
        );
        assert_eq!(get(r, "raw.type"), Some(&u(1)));
        assert_eq!(get(r, "oob.protocol"), Some(&u(0x800)));
    }

    #[test]
    fn ulog_style_and_no_header_and_short_header() {
        let events = vec![
            // ULOG: no raw.type, 14-byte header => Ethernet.
            vec![(0, raw(&HDR)), (1, u(14)), (2, u(0x86dd))],
            // output hook: no header at all.
            vec![(2, u(0x800))],
            // claims Ethernet but only 4 bytes: no decoding, mac.str of what is there.
            vec![(0, raw(&HDR[..4])), (1, u(14)), (2, u(0x800)), (3, u(1))],
            // alias works and a non-Ethernet type prints the whole header only.
            vec![(0, raw(&[1, 2, 3])), (1, u(3)), (2, u(0x800)), (3, u(772))],
        ];
        let (_, rows) = run_filters(keys(), events, &[("m", "MAC2STR", &[])]).unwrap();
        assert_eq!(
            get_str(&rows[0], "mac.saddr.str").as_deref(),
            Some("6e:c2:39:15:32:de")
        );
        assert_eq!(get(&rows[0], "raw.type"), Some(&u(1)));
        assert_eq!(
            get(&rows[0], "oob.protocol"),
            Some(&u(0x800)),
            "ethertype from the header"
        );
        assert_eq!(get(&rows[1], "mac.str"), None);
        assert_eq!(get(&rows[1], "oob.protocol"), Some(&u(0x800)));
        assert_eq!(get(&rows[2], "mac.daddr.str"), None);
        assert_eq!(get_str(&rows[2], "mac.str").as_deref(), Some("06:85:5e:c4"));
        assert_eq!(get_str(&rows[3], "mac.str").as_deref(), Some("01:02:03"));
        assert_eq!(get(&rows[3], "mac.saddr.str"), None);
    }
}
