//! Zero-copy wire codecs for the NFLOG hot path.
//!
//! Everything here is pure: no sockets, no files, no clocks. The socket code
//! hands us the bytes that `recv()` filled, the replay code hands us a
//! memory-mapped capture, and we hand back *views* that borrow those bytes.
//!
//! The layout follows smoltcp's `wire` module and rust-netlink's
//! `netlink-packet-core`:
//!
//! * a checked view `Foo<T: AsRef<[u8]>>` whose `new_checked()` validates every
//!   length once, so that none of its accessors can panic or read out of
//!   bounds afterwards, whatever the input was;
//! * a `Repr` struct holding the *meaning* of a message (`parse()` checks it,
//!   `emit()` writes it back, `buffer_len()` says how much room `emit()` needs);
//! * one error type, [`WireError`], with a variant per distinct way the input
//!   can be wrong, so that a log line says exactly what was malformed.
//!
//! Walking attributes never allocates: [`nla::NlaIter`] yields views into the
//! buffer it was given, and [`nflog::NflogRepr`] stores sub-slices of it.

pub mod ctnetlink;
pub mod ctstats;
pub mod nfacct;
pub mod nflog;
pub mod nfqueue;
pub mod nftables;
pub mod nla;
pub mod nlmsg;
pub mod others;
pub mod pcap;
pub mod unixsock;

mod error;

pub use ctnetlink::{CtCounters, CtEvent, CtRepr, TupleRepr};
pub use error::WireError;
pub use nflog::{
    ConfigMode, ConfigRepr, NflogHwAddr, NflogPacketHdr, NflogRepr, NflogTimestamp, NflogVlan,
    NFLOG_PCAP_HDR_LEN,
};
pub use nla::{NlaIter, NlaView};
pub use nlmsg::{NfgenmsgRepr, NfgenmsgView, NlmsgErrView, NlmsgHeader, NlmsgIter, NlmsgView};
pub use others::{OtherAttrs, UnknownAttrs, OTHERS_KEPT};
pub use pcap::{PcapFormat, PcapReader, PcapRecord};

/// Result alias used by every codec in this module.
pub type Result<T> = core::result::Result<T, WireError>;

/// Byte order of a multi-byte field whose order is not fixed by the protocol.
///
/// Netlink headers (`nlmsghdr`, `nlattr`) are in the byte order of the host
/// that produced them. That is [`ByteOrder::NATIVE`] for live sockets, but a
/// capture file may come from another machine: `tcpdump -i nflog` writes the
/// TLV headers in the *capturing* host's order, so replay code has to be told
/// which one it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ByteOrder {
    /// Least significant byte first (x86, most ARM): the default, because
    /// virtually every NFLOG capture in the wild comes from such a host.
    #[default]
    Little,
    /// Most significant byte first (network order, s390x, some MIPS/PPC).
    Big,
}

impl ByteOrder {
    /// The byte order of the machine this code runs on, i.e. the order of the
    /// netlink headers the local kernel sends us.
    pub const NATIVE: ByteOrder = if cfg!(target_endian = "big") {
        ByteOrder::Big
    } else {
        ByteOrder::Little
    };

    /// Decode a `u16` from exactly two bytes.
    #[inline]
    pub fn u16(self, b: [u8; 2]) -> u16 {
        match self {
            ByteOrder::Little => u16::from_le_bytes(b),
            ByteOrder::Big => u16::from_be_bytes(b),
        }
    }

    /// Decode a `u32` from exactly four bytes.
    #[inline]
    pub fn u32(self, b: [u8; 4]) -> u32 {
        match self {
            ByteOrder::Little => u32::from_le_bytes(b),
            ByteOrder::Big => u32::from_be_bytes(b),
        }
    }

    /// Encode a `u16`.
    #[inline]
    pub fn u16_bytes(self, v: u16) -> [u8; 2] {
        match self {
            ByteOrder::Little => v.to_le_bytes(),
            ByteOrder::Big => v.to_be_bytes(),
        }
    }

    /// Encode a `u32`.
    #[inline]
    pub fn u32_bytes(self, v: u32) -> [u8; 4] {
        match self {
            ByteOrder::Little => v.to_le_bytes(),
            ByteOrder::Big => v.to_be_bytes(),
        }
    }
}

/// Round `len` up to the next multiple of 4 (`NLMSG_ALIGN` / `NLA_ALIGN`, and
/// pcapng's block/option padding), saturating instead of overflowing so that
/// a hostile length near `usize::MAX` cannot panic in debug builds.
#[inline]
pub(crate) fn align4(len: usize) -> usize {
    len.saturating_add(3) & !3
}

/// Bounds-checked fixed-size read: `None` if `buf` is too short. Every
/// multi-byte read in this module goes through here (or through a slice whose
/// length a `new_checked()` already validated), which is what lets us promise
/// "no panic on any input".
#[inline]
pub(crate) fn read_array<const N: usize>(buf: &[u8], off: usize) -> Option<[u8; N]> {
    let end = off.checked_add(N)?;
    let s = buf.get(off..end)?;
    let mut out = [0u8; N];
    out.copy_from_slice(s);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn align4_rounds_up_and_saturates() {
        assert_eq!(align4(0), 0);
        assert_eq!(align4(1), 4);
        assert_eq!(align4(4), 4);
        assert_eq!(align4(5), 8);
        assert_eq!(align4(usize::MAX), usize::MAX & !3);
    }

    #[test]
    fn byte_order_codecs() {
        assert_eq!(ByteOrder::Little.u16([1, 2]), 0x0201);
        assert_eq!(ByteOrder::Big.u16([1, 2]), 0x0102);
        assert_eq!(ByteOrder::Little.u32([1, 2, 3, 4]), 0x0403_0201);
        assert_eq!(ByteOrder::Big.u32([1, 2, 3, 4]), 0x0102_0304);
        assert_eq!(ByteOrder::Big.u32_bytes(0x0102_0304), [1, 2, 3, 4]);
        assert_eq!(ByteOrder::Little.u16_bytes(0x0102), [2, 1]);
        assert_eq!(ByteOrder::default(), ByteOrder::Little);
        assert_eq!(
            ByteOrder::NATIVE.u32(0x1234_5678u32.to_ne_bytes()),
            0x1234_5678
        );
    }

    #[test]
    fn read_array_is_bounds_checked() {
        let b = [1u8, 2, 3];
        assert_eq!(read_array::<2>(&b, 1), Some([2, 3]));
        assert_eq!(read_array::<2>(&b, 2), None);
        assert_eq!(read_array::<2>(&b, usize::MAX), None);
    }
}

/// Robustness properties: whatever the bytes, the parsers return (an error
/// or a value) and never panic. These are the in-tree cousins of the
/// cargo-fuzz targets, run on every `cargo test`.
#[cfg(test)]
mod robustness {
    use super::nflog::{NflogHwAddr, NflogPacketHdr, NflogRepr, NflogTimestamp, NflogVlan};
    use super::*;
    use proptest::prelude::*;

    /// Walk everything a hostile buffer could be taken for.
    fn exercise(data: &[u8]) {
        for msg in NlmsgIter::new(data) {
            let Ok(msg) = msg else { break };
            let _ = (msg.header(), msg.subsys(), msg.nfnl_msg(), msg.payload());
            if let Ok(r) = NflogRepr::parse_nlmsg(&msg) {
                let mut out = Vec::new();
                let _ = r.emit_nlmsg(0, &mut out);
                let _ = r.hwaddr.map(|h| h.as_slice().len());
            }
            if let Ok(e) = NlmsgErrView::new_checked(msg.payload()) {
                let _ = (e.error(), e.orig_header(), e.trailer());
            }
        }
        for a in NlaIter::new(data).flatten() {
            let _ = (a.be_u16(), a.be_u32(), a.be_u64(), a.u8(), a.cstr());
            for n in a.nested().flatten() {
                let _ = n.value();
            }
        }
        let _ = NflogRepr::parse_pcap_record(data);
        let _ = NflogRepr::parse_pcap_record_with_order(data, ByteOrder::Big);
        let _ = ConfigRepr::parse_attrs(data);
        if let Ok(reader) = PcapReader::new(data) {
            for rec in reader {
                let Ok(rec) = rec else { break };
                assert!(rec.ts_nsec < 1_000_000_000);
                let _ = NflogRepr::parse_pcap_record(rec.data);
            }
        }
    }

    fn sample_message() -> Vec<u8> {
        let payload = [0x45u8, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1];
        let r = NflogRepr {
            family: 2,
            group: 5,
            packet_hdr: Some(NflogPacketHdr {
                hw_protocol: 0x0800,
                hook: 1,
            }),
            mark: Some(0x2a),
            timestamp: Some(NflogTimestamp { sec: 1, usec: 2 }),
            indev: Some(2),
            hwaddr: Some(NflogHwAddr {
                addr_len: 6,
                addr: [2, 0, 0, 0, 0, 0xa, 0, 0],
            }),
            prefix: Some(b"IN-UDP "),
            vlan: Some(NflogVlan {
                proto: Some(0x8100),
                tci: Some(7),
            }),
            ct: Some(&[8, 0, 1, 0, 0, 0, 0, 1]),
            payload: Some(&payload),
            ..NflogRepr::default()
        };
        let mut buf = Vec::new();
        r.emit_nlmsg(1, &mut buf).unwrap();
        r.emit_nlmsg(2, &mut buf).unwrap();
        buf
    }

    fn sample_pcap() -> Vec<u8> {
        let mut rec = Vec::new();
        NflogRepr {
            family: 10,
            group: 9,
            prefix: Some(b"OUT-ICMP6 "),
            mark: Some(1),
            ..NflogRepr::default()
        }
        .emit_pcap_record(&mut rec, ByteOrder::Little)
        .unwrap();
        let mut f = Vec::new();
        for w in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 239] {
            f.extend_from_slice(&w.to_le_bytes());
        }
        for _ in 0..2 {
            for w in [1u32, 2, rec.len() as u32, rec.len() as u32] {
                f.extend_from_slice(&w.to_le_bytes());
            }
            f.extend_from_slice(&rec);
        }
        f
    }

    #[test]
    fn samples_are_valid() {
        let m = sample_message();
        assert_eq!(NlmsgIter::new(&m).count(), 2);
        for msg in NlmsgIter::new(&m) {
            NflogRepr::parse_nlmsg(&msg.unwrap()).unwrap();
        }
        let p = sample_pcap();
        for rec in PcapReader::new(&p).unwrap() {
            NflogRepr::parse_pcap_record(rec.unwrap().data).unwrap();
        }
        exercise(&m);
        exercise(&p);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            exercise(&data);
        }

        #[test]
        fn mutated_message_never_panics(
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
            cut in any::<usize>(),
        ) {
            let mut m = sample_message();
            for (i, b) in edits {
                let n = m.len();
                m[i % n] = b;
            }
            let keep = cut % (m.len() + 1);
            m.truncate(keep);
            exercise(&m);
        }

        #[test]
        fn mutated_pcap_never_panics(
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
            cut in any::<usize>(),
        ) {
            let mut f = sample_pcap();
            for (i, b) in edits {
                let n = f.len();
                f[i % n] = b;
            }
            let keep = cut % (f.len() + 1);
            f.truncate(keep);
            exercise(&f);
        }

        #[test]
        fn nflog_round_trip(
            family in any::<u8>(),
            group in any::<u16>(),
            mark in proptest::option::of(any::<u32>()),
            hook in any::<u8>(),
            prefix in proptest::option::of(proptest::collection::vec(1u8.., 0..80)),
            payload in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..200)),
            seq in proptest::option::of(any::<u32>()),
            tci in proptest::option::of(any::<u16>()),
        ) {
            let r = NflogRepr {
                family,
                group,
                mark,
                packet_hdr: Some(NflogPacketHdr { hw_protocol: 0x86dd, hook }),
                prefix: prefix.as_deref(),
                payload: payload.as_deref(),
                seq,
                vlan: tci.map(|t| NflogVlan { proto: Some(0x8100), tci: Some(t) }),
                ..NflogRepr::default()
            };
            let mut buf = Vec::new();
            r.emit_nlmsg(9, &mut buf).unwrap();
            let msg = NlmsgIter::new(&buf).next().unwrap().unwrap();
            prop_assert_eq!(NflogRepr::parse_nlmsg(&msg).unwrap(), r);
            let mut rec = Vec::new();
            r.emit_pcap_record(&mut rec, ByteOrder::Little).unwrap();
            prop_assert_eq!(NflogRepr::parse_pcap_record(&rec).unwrap(), r);
        }
    }
}
