//! Zero-copy reader for classic pcap and pcapng capture files.
//!
//! The caller memory-maps the file and hands us the bytes; records borrow
//! them. This is what the REPLAY source uses to feed captured NFLOG traffic
//! (LINKTYPE_NFLOG) or plain packets back through the stack.
//!
//! Supported:
//! * classic pcap, micro- (`0xa1b2c3d4`) or nanosecond (`0xa1b23c4d`)
//!   timestamps, either byte order, any 2.x version;
//! * pcapng: sections in either byte order, several interfaces per section,
//!   `if_tsresol` as a power of 10 or of 2, Enhanced and Simple Packet
//!   Blocks; every other block type is skipped.
//!
//! Timestamps are normalised to (seconds, nanoseconds) so that consumers need
//! not care which format or resolution the file used.

use super::{align4, read_array, ByteOrder, Result, WireError};

/// Ethernet (DLT_EN10MB).
pub const LINKTYPE_ETHERNET: u32 = 1;
/// Raw IP, version from the first nibble.
pub const LINKTYPE_RAW: u32 = 101;
/// Linux "cooked" capture v1.
pub const LINKTYPE_LINUX_SLL: u32 = 113;
/// Raw IPv4.
pub const LINKTYPE_IPV4: u32 = 228;
/// Raw IPv6.
pub const LINKTYPE_IPV6: u32 = 229;
/// NFLOG messages as written by `tcpdump -i nflog:N` (see [`super::nflog`]).
pub const LINKTYPE_NFLOG: u32 = 239;

const PCAP_MAGIC_USEC: u32 = 0xa1b2_c3d4;
const PCAP_MAGIC_NSEC: u32 = 0xa1b2_3c4d;
const PCAP_GLOBAL_HDR_LEN: usize = 24;
const PCAP_RECORD_HDR_LEN: usize = 16;

const PCAPNG_SHB: u32 = 0x0A0D_0D0A;
const PCAPNG_IDB: u32 = 0x0000_0001;
const PCAPNG_SPB: u32 = 0x0000_0003;
const PCAPNG_EPB: u32 = 0x0000_0006;
const PCAPNG_BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;
const PCAPNG_OPT_ENDOFOPT: u16 = 0;
const PCAPNG_OPT_IF_TSRESOL: u16 = 9;

const NSEC_PER_SEC: u64 = 1_000_000_000;

/// One captured packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PcapRecord<'a> {
    /// LINKTYPE_* of the interface the packet was captured on.
    pub linktype: u32,
    /// pcapng interface index within its section (0 for classic pcap).
    pub interface_id: u32,
    /// Seconds since the epoch.
    pub ts_sec: u64,
    /// Nanoseconds within the second (always `< 1_000_000_000`).
    pub ts_nsec: u32,
    /// Length of the packet on the wire (may exceed `data.len()` if the
    /// capture was truncated by a snap length).
    pub orig_len: u32,
    /// The captured bytes.
    pub data: &'a [u8],
}

/// Which container the file turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PcapFormat {
    /// Classic pcap.
    Classic {
        /// File byte order.
        order: ByteOrder,
        /// Nanosecond (`true`) or microsecond timestamps.
        nanos: bool,
        /// Link type of every record.
        linktype: u32,
        /// Snap length.
        snaplen: u32,
    },
    /// pcapng (byte order may change from section to section).
    Ng,
}

#[derive(Debug, Clone, Copy)]
struct Interface {
    linktype: u32,
    snaplen: u32,
    /// Timestamp units per second (10^k or 2^k, k small enough to fit).
    units_per_sec: u128,
}

/// Iterator over the records of a capture held in memory.
///
/// Yields `Err` for the first malformed record or block and then ends,
/// since the position of anything after it is unknown.
#[derive(Debug, Clone)]
pub struct PcapReader<'a> {
    data: &'a [u8],
    pos: usize,
    format: PcapFormat,
    /// pcapng: byte order of the current section.
    order: ByteOrder,
    /// pcapng: interfaces of the current section, in IDB order.
    interfaces: Vec<Interface>,
    done: bool,
}

fn u16_at(buf: &[u8], off: usize, order: ByteOrder) -> Option<u16> {
    read_array::<2>(buf, off).map(|b| order.u16(b))
}

fn u32_at(buf: &[u8], off: usize, order: ByteOrder) -> Option<u32> {
    read_array::<4>(buf, off).map(|b| order.u32(b))
}

/// Split a timestamp counted in `units_per_sec` units into (sec, nsec)
/// without overflow: u128 holds `(units_per_sec - 1) * 1e9` for every
/// resolution we accept.
fn split_ts(ts: u64, units_per_sec: u128) -> (u64, u32) {
    let ups = units_per_sec.max(1);
    let ts = u128::from(ts);
    let sec = u64::try_from(ts / ups).unwrap_or(u64::MAX);
    let nsec = (ts % ups) * u128::from(NSEC_PER_SEC) / ups;
    (sec, u32::try_from(nsec).unwrap_or(0))
}

/// Decode `if_tsresol`: MSB clear means 10^-v s, set means 2^-(v & 0x7f) s.
fn tsresol_units(v: u8) -> Result<u128> {
    let e = u32::from(v & 0x7f);
    let units = if v & 0x80 == 0 {
        // 10^19 is the largest power of ten that keeps a u64 ts meaningful.
        if e > 19 {
            None
        } else {
            10u128.checked_pow(e)
        }
    } else if e > 64 {
        None
    } else {
        1u128.checked_shl(e)
    };
    units.ok_or(WireError::UnsupportedTsResol { value: v })
}

impl<'a> PcapReader<'a> {
    /// Detect the format from the first bytes. Classic pcap's global header
    /// is validated here; pcapng blocks are validated as they are reached.
    pub fn new(data: &'a [u8]) -> Result<Self> {
        let Some(magic_le) = u32_at(data, 0, ByteOrder::Little) else {
            return Err(WireError::TruncatedPcapHeader {
                available: data.len(),
            });
        };
        let classic = match magic_le {
            PCAP_MAGIC_USEC => Some((ByteOrder::Little, false)),
            PCAP_MAGIC_NSEC => Some((ByteOrder::Little, true)),
            m if m.swap_bytes() == PCAP_MAGIC_USEC => Some((ByteOrder::Big, false)),
            m if m.swap_bytes() == PCAP_MAGIC_NSEC => Some((ByteOrder::Big, true)),
            _ => None,
        };
        if let Some((order, nanos)) = classic {
            if data.len() < PCAP_GLOBAL_HDR_LEN {
                return Err(WireError::TruncatedPcapHeader {
                    available: data.len(),
                });
            }
            let major = u16_at(data, 4, order).unwrap_or(0);
            let minor = u16_at(data, 6, order).unwrap_or(0);
            if major != 2 {
                return Err(WireError::UnsupportedPcapVersion { major, minor });
            }
            let snaplen = u32_at(data, 16, order).unwrap_or(0);
            // The upper bits of this field carry FCS information; the link
            // type proper is the low 16 bits.
            let linktype = u32_at(data, 20, order).unwrap_or(0) & 0xffff;
            return Ok(PcapReader {
                data,
                pos: PCAP_GLOBAL_HDR_LEN,
                format: PcapFormat::Classic {
                    order,
                    nanos,
                    linktype,
                    snaplen,
                },
                order,
                interfaces: Vec::new(),
                done: false,
            });
        }
        if magic_le == PCAPNG_SHB {
            return Ok(PcapReader {
                data,
                pos: 0,
                format: PcapFormat::Ng,
                order: ByteOrder::Little,
                interfaces: Vec::new(),
                done: false,
            });
        }
        Err(WireError::BadPcapMagic { magic: magic_le })
    }

    /// The detected format.
    pub fn format(&self) -> PcapFormat {
        self.format
    }

    fn next_classic(
        &mut self,
        order: ByteOrder,
        nanos: bool,
        linktype: u32,
    ) -> Result<Option<PcapRecord<'a>>> {
        let rest = self.data.get(self.pos..).unwrap_or(&[]);
        if rest.is_empty() {
            return Ok(None);
        }
        let (Some(sec), Some(frac), Some(caplen), Some(orig_len)) = (
            u32_at(rest, 0, order),
            u32_at(rest, 4, order),
            u32_at(rest, 8, order),
            u32_at(rest, 12, order),
        ) else {
            return Err(WireError::TruncatedPcapRecordHeader {
                available: rest.len(),
            });
        };
        let body = rest.get(PCAP_RECORD_HDR_LEN..).unwrap_or(&[]);
        let Some(data) = body.get(..caplen as usize) else {
            return Err(WireError::PcapRecordOverrun {
                caplen,
                available: body.len(),
            });
        };
        self.pos = self
            .pos
            .saturating_add(PCAP_RECORD_HDR_LEN)
            .saturating_add(data.len());
        // A sloppy writer may put >= 1e9 in the fraction; carry it into the
        // seconds instead of producing an invalid nanosecond field.
        let frac_ns = if nanos {
            u64::from(frac)
        } else {
            u64::from(frac) * 1_000
        };
        let ts_sec = u64::from(sec) + frac_ns / NSEC_PER_SEC;
        let ts_nsec = u32::try_from(frac_ns % NSEC_PER_SEC).unwrap_or(0);
        Ok(Some(PcapRecord {
            linktype,
            interface_id: 0,
            ts_sec,
            ts_nsec,
            orig_len,
            data,
        }))
    }

    /// Read one pcapng block starting at `self.pos`; returns (type, body).
    fn ng_block(&mut self) -> Result<(u32, &'a [u8])> {
        let rest = self.data.get(self.pos..).unwrap_or(&[]);
        let Some(raw_type) = u32_at(rest, 0, ByteOrder::Little) else {
            return Err(WireError::TruncatedPcapngBlock {
                available: rest.len(),
            });
        };
        // The SHB type is a byte palindrome, so it reads the same in either
        // order; its byte-order magic then fixes the order of the section.
        if raw_type == PCAPNG_SHB {
            let Some(bom) = u32_at(rest, 8, ByteOrder::Little) else {
                return Err(WireError::TruncatedPcapngBlock {
                    available: rest.len(),
                });
            };
            self.order = if bom == PCAPNG_BYTE_ORDER_MAGIC {
                ByteOrder::Little
            } else if bom.swap_bytes() == PCAPNG_BYTE_ORDER_MAGIC {
                ByteOrder::Big
            } else {
                return Err(WireError::BadPcapngByteOrderMagic { magic: bom });
            };
            self.interfaces.clear();
        }
        let order = self.order;
        let (Some(block_type), Some(total)) = (u32_at(rest, 0, order), u32_at(rest, 4, order))
        else {
            return Err(WireError::TruncatedPcapngBlock {
                available: rest.len(),
            });
        };
        let t = total as usize;
        if t < 12 || !t.is_multiple_of(4) || t > rest.len() {
            return Err(WireError::BadPcapngBlockLen {
                len: total,
                available: rest.len(),
            });
        }
        let trailing = u32_at(rest, t - 4, order).unwrap_or(0);
        if trailing != total {
            return Err(WireError::PcapngBlockLenMismatch {
                leading: total,
                trailing,
            });
        }
        let body = rest.get(8..t - 4).unwrap_or(&[]);
        self.pos = self.pos.saturating_add(t);
        Ok((block_type, body))
    }

    fn parse_idb(&mut self, body: &[u8]) -> Result<()> {
        let order = self.order;
        let (Some(linktype), Some(snaplen)) = (u16_at(body, 0, order), u32_at(body, 4, order))
        else {
            return Err(WireError::TruncatedPcapngBody {
                block_type: PCAPNG_IDB,
                len: body.len(),
                needed: 8,
            });
        };
        let mut units_per_sec = 1_000_000u128;
        // Options: u16 code, u16 length, value padded to 4. A malformed
        // option list only loses options, never the interface: the link
        // type is what matters, and readers like Wireshark are as lenient.
        let mut opts = body.get(8..).unwrap_or(&[]);
        while let (Some(code), Some(len)) = (u16_at(opts, 0, order), u16_at(opts, 2, order)) {
            if code == PCAPNG_OPT_ENDOFOPT {
                break;
            }
            let Some(value) = opts.get(4..4 + usize::from(len)) else {
                break;
            };
            if code == PCAPNG_OPT_IF_TSRESOL {
                if let Some(&v) = value.first() {
                    units_per_sec = tsresol_units(v)?;
                }
            }
            opts = opts.get(align4(4 + usize::from(len))..).unwrap_or(&[]);
        }
        self.interfaces.push(Interface {
            linktype: u32::from(linktype),
            snaplen,
            units_per_sec,
        });
        Ok(())
    }

    fn interface(&self, id: u32) -> Result<Interface> {
        usize::try_from(id)
            .ok()
            .and_then(|i| self.interfaces.get(i))
            .copied()
            .ok_or(WireError::PcapngUnknownInterface { interface_id: id })
    }

    fn next_ng(&mut self) -> Result<Option<PcapRecord<'a>>> {
        loop {
            if self.pos >= self.data.len() {
                return Ok(None);
            }
            let (block_type, body) = self.ng_block()?;
            let order = self.order;
            match block_type {
                PCAPNG_IDB => self.parse_idb(body)?,
                PCAPNG_EPB => {
                    let (Some(id), Some(hi), Some(lo), Some(caplen), Some(orig_len)) = (
                        u32_at(body, 0, order),
                        u32_at(body, 4, order),
                        u32_at(body, 8, order),
                        u32_at(body, 12, order),
                        u32_at(body, 16, order),
                    ) else {
                        return Err(WireError::TruncatedPcapngBody {
                            block_type,
                            len: body.len(),
                            needed: 20,
                        });
                    };
                    let iface = self.interface(id)?;
                    let packet = body.get(20..).unwrap_or(&[]);
                    let Some(data) = packet.get(..caplen as usize) else {
                        return Err(WireError::PcapRecordOverrun {
                            caplen,
                            available: packet.len(),
                        });
                    };
                    let ts = (u64::from(hi) << 32) | u64::from(lo);
                    let (ts_sec, ts_nsec) = split_ts(ts, iface.units_per_sec);
                    return Ok(Some(PcapRecord {
                        linktype: iface.linktype,
                        interface_id: id,
                        ts_sec,
                        ts_nsec,
                        orig_len,
                        data,
                    }));
                }
                PCAPNG_SPB => {
                    let Some(orig_len) = u32_at(body, 0, order) else {
                        return Err(WireError::TruncatedPcapngBody {
                            block_type,
                            len: body.len(),
                            needed: 4,
                        });
                    };
                    let iface = self.interface(0)?;
                    let packet = body.get(4..).unwrap_or(&[]);
                    // The captured length is implicit: the original length,
                    // cut to the snap length, and never beyond the block.
                    let mut caplen = orig_len as usize;
                    if iface.snaplen != 0 {
                        caplen = caplen.min(iface.snaplen as usize);
                    }
                    let data = packet.get(..caplen.min(packet.len())).unwrap_or(&[]);
                    return Ok(Some(PcapRecord {
                        linktype: iface.linktype,
                        interface_id: 0,
                        ts_sec: 0,
                        ts_nsec: 0,
                        orig_len,
                        data,
                    }));
                }
                _ => {} // SHB handled in ng_block; NRB, ISB, DSB, ... skipped.
            }
        }
    }
}

impl<'a> Iterator for PcapReader<'a> {
    type Item = Result<PcapRecord<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let r = match self.format {
            PcapFormat::Classic {
                order,
                nanos,
                linktype,
                ..
            } => self.next_classic(order, nanos, linktype),
            PcapFormat::Ng => self.next_ng(),
        };
        match r {
            Ok(Some(rec)) => Some(Ok(rec)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl core::iter::FusedIterator for PcapReader<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn put16(v: &mut Vec<u8>, x: u16, o: ByteOrder) {
        v.extend_from_slice(&o.u16_bytes(x));
    }
    fn put32(v: &mut Vec<u8>, x: u32, o: ByteOrder) {
        v.extend_from_slice(&o.u32_bytes(x));
    }

    fn classic(o: ByteOrder, magic: u32, linktype: u32, recs: &[(u32, u32, &[u8])]) -> Vec<u8> {
        let mut v = Vec::new();
        put32(&mut v, magic, o);
        put16(&mut v, 2, o);
        put16(&mut v, 4, o);
        put32(&mut v, 0, o);
        put32(&mut v, 0, o);
        put32(&mut v, 65535, o);
        put32(&mut v, linktype, o);
        for (sec, frac, data) in recs {
            put32(&mut v, *sec, o);
            put32(&mut v, *frac, o);
            put32(&mut v, data.len() as u32, o);
            put32(&mut v, data.len() as u32 + 10, o);
            v.extend_from_slice(data);
        }
        v
    }

    #[test]
    fn classic_all_variants() {
        for o in [ByteOrder::Little, ByteOrder::Big] {
            for (magic, mult) in [(PCAP_MAGIC_USEC, 1000), (PCAP_MAGIC_NSEC, 1)] {
                let f = classic(o, magic, LINKTYPE_RAW, &[(5, 7, b"abc"), (6, 0, b"")]);
                let r = PcapReader::new(&f).unwrap();
                assert!(matches!(r.format(), PcapFormat::Classic { order, .. } if order == o));
                let recs: Vec<_> = r.collect::<Result<_>>().unwrap();
                assert_eq!(recs.len(), 2);
                assert_eq!(recs[0].linktype, LINKTYPE_RAW);
                assert_eq!(recs[0].ts_sec, 5);
                assert_eq!(recs[0].ts_nsec, 7 * mult);
                assert_eq!(recs[0].data, b"abc");
                assert_eq!(recs[0].orig_len, 13);
                assert_eq!(recs[1].data, b"");
            }
        }
    }

    #[test]
    fn classic_fraction_overflow_carries() {
        let f = classic(
            ByteOrder::Little,
            PCAP_MAGIC_USEC,
            1,
            &[(1, 2_500_000, b"x")],
        );
        let rec = PcapReader::new(&f).unwrap().next().unwrap().unwrap();
        assert_eq!((rec.ts_sec, rec.ts_nsec), (3, 500_000_000));
    }

    #[test]
    fn classic_errors() {
        assert_eq!(
            PcapReader::new(&[0xd4, 0xc3]).unwrap_err(),
            WireError::TruncatedPcapHeader { available: 2 }
        );
        assert_eq!(
            PcapReader::new(&[1, 2, 3, 4]).unwrap_err(),
            WireError::BadPcapMagic { magic: 0x0403_0201 }
        );
        let f = classic(ByteOrder::Little, PCAP_MAGIC_USEC, 1, &[]);
        assert_eq!(
            PcapReader::new(&f[..20]).unwrap_err(),
            WireError::TruncatedPcapHeader { available: 20 }
        );
        let mut bad_ver = f.clone();
        bad_ver[4] = 1;
        assert_eq!(
            PcapReader::new(&bad_ver).unwrap_err(),
            WireError::UnsupportedPcapVersion { major: 1, minor: 4 }
        );
        let f = classic(ByteOrder::Little, PCAP_MAGIC_USEC, 1, &[(1, 1, b"abcd")]);
        let mut r = PcapReader::new(&f[..f.len() - 1]).unwrap();
        assert_eq!(
            r.next().unwrap().unwrap_err(),
            WireError::PcapRecordOverrun {
                caplen: 4,
                available: 3
            }
        );
        assert!(r.next().is_none());
        let mut r = PcapReader::new(&f[..30]).unwrap();
        assert_eq!(
            r.next().unwrap().unwrap_err(),
            WireError::TruncatedPcapRecordHeader { available: 6 }
        );
    }

    /// Build a pcapng block with padding and both length fields.
    fn block(v: &mut Vec<u8>, o: ByteOrder, t: u32, body: &[u8]) {
        let total = 12 + align4(body.len()) as u32;
        put32(v, t, o);
        put32(v, total, o);
        v.extend_from_slice(body);
        v.resize(v.len() + align4(body.len()) - body.len(), 0);
        put32(v, total, o);
    }

    fn shb(v: &mut Vec<u8>, o: ByteOrder) {
        let mut b = Vec::new();
        put32(&mut b, PCAPNG_BYTE_ORDER_MAGIC, o);
        put16(&mut b, 1, o);
        put16(&mut b, 0, o);
        b.extend_from_slice(&(-1i64).to_ne_bytes());
        block(v, o, PCAPNG_SHB, &b);
    }

    fn idb(v: &mut Vec<u8>, o: ByteOrder, linktype: u16, tsresol: Option<u8>) {
        let mut b = Vec::new();
        put16(&mut b, linktype, o);
        put16(&mut b, 0, o);
        put32(&mut b, 0, o);
        // An unrelated option first (if_name), to exercise option skipping.
        put16(&mut b, 2, o);
        put16(&mut b, 3, o);
        b.extend_from_slice(b"vB\0\0");
        if let Some(r) = tsresol {
            put16(&mut b, PCAPNG_OPT_IF_TSRESOL, o);
            put16(&mut b, 1, o);
            b.extend_from_slice(&[r, 0, 0, 0]);
        }
        put16(&mut b, 0, o);
        put16(&mut b, 0, o);
        block(v, o, PCAPNG_IDB, &b);
    }

    fn epb(v: &mut Vec<u8>, o: ByteOrder, id: u32, ts: u64, data: &[u8]) {
        let mut b = Vec::new();
        put32(&mut b, id, o);
        put32(&mut b, (ts >> 32) as u32, o);
        put32(&mut b, ts as u32, o);
        put32(&mut b, data.len() as u32, o);
        put32(&mut b, data.len() as u32, o);
        b.extend_from_slice(data);
        b.resize(align4(b.len()), 0);
        block(v, o, PCAPNG_EPB, &b);
    }

    #[test]
    fn pcapng_interfaces_resolutions_and_sections() {
        let mut f = Vec::new();
        shb(&mut f, ByteOrder::Little);
        idb(&mut f, ByteOrder::Little, LINKTYPE_NFLOG as u16, None); // µs
        idb(&mut f, ByteOrder::Little, LINKTYPE_ETHERNET as u16, Some(9)); // ns
        idb(
            &mut f,
            ByteOrder::Little,
            LINKTYPE_RAW as u16,
            Some(0x80 | 10),
        ); // 1/1024
        block(&mut f, ByteOrder::Little, 5, &[1, 2, 3, 4]); // ISB: skipped
        epb(&mut f, ByteOrder::Little, 0, 1_500_000, b"nflog");
        epb(&mut f, ByteOrder::Little, 1, 2_000_000_123, b"eth");
        epb(&mut f, ByteOrder::Little, 2, 3 * 1024 + 512, b"raw");
        // SPB on interface 0.
        let mut spb = Vec::new();
        put32(&mut spb, 3, ByteOrder::Little);
        spb.extend_from_slice(b"spb\0");
        block(&mut f, ByteOrder::Little, PCAPNG_SPB, &spb);
        // A second, big-endian section with its own interface list.
        shb(&mut f, ByteOrder::Big);
        idb(&mut f, ByteOrder::Big, LINKTYPE_IPV6 as u16, Some(3)); // ms
        epb(&mut f, ByteOrder::Big, 0, 4_250, b"v6");

        let r = PcapReader::new(&f).unwrap();
        assert_eq!(r.format(), PcapFormat::Ng);
        let recs: Vec<_> = r.collect::<Result<_>>().unwrap();
        let got: Vec<_> = recs
            .iter()
            .map(|r| (r.linktype, r.interface_id, r.ts_sec, r.ts_nsec, r.data))
            .collect();
        assert_eq!(
            got,
            vec![
                (LINKTYPE_NFLOG, 0, 1, 500_000_000, &b"nflog"[..]),
                (LINKTYPE_ETHERNET, 1, 2, 123, &b"eth"[..]),
                (LINKTYPE_RAW, 2, 3, 500_000_000, &b"raw"[..]),
                (LINKTYPE_NFLOG, 0, 0, 0, &b"spb"[..]),
                (LINKTYPE_IPV6, 0, 4, 250_000_000, &b"v6"[..]),
            ]
        );
    }

    #[test]
    fn pcapng_errors() {
        let o = ByteOrder::Little;
        // Packet before any IDB.
        let mut f = Vec::new();
        shb(&mut f, o);
        epb(&mut f, o, 0, 0, b"x");
        let mut r = PcapReader::new(&f).unwrap();
        assert_eq!(
            r.next().unwrap().unwrap_err(),
            WireError::PcapngUnknownInterface { interface_id: 0 }
        );
        assert!(r.next().is_none());

        // Length mismatch between header and trailer.
        let mut f = Vec::new();
        shb(&mut f, o);
        let n = f.len();
        f[n - 4] = 0x20;
        assert_eq!(
            PcapReader::new(&f).unwrap().next().unwrap().unwrap_err(),
            WireError::PcapngBlockLenMismatch {
                leading: 28,
                trailing: 0x20
            }
        );

        // Block length beyond the file / not multiple of 4 / too small.
        let mut f = Vec::new();
        shb(&mut f, o);
        for bad in [1000u32, 13, 8] {
            let mut g = f.clone();
            g[4..8].copy_from_slice(&bad.to_le_bytes());
            assert_eq!(
                PcapReader::new(&g).unwrap().next().unwrap().unwrap_err(),
                WireError::BadPcapngBlockLen {
                    len: bad,
                    available: 28
                }
            );
        }

        // Bad byte-order magic.
        let mut g = f.clone();
        g[8..12].copy_from_slice(&[0, 0, 0, 0]);
        assert_eq!(
            PcapReader::new(&g).unwrap().next().unwrap().unwrap_err(),
            WireError::BadPcapngByteOrderMagic { magic: 0 }
        );

        // Unsupported resolution.
        let mut g = f.clone();
        idb(&mut g, o, 1, Some(100));
        assert_eq!(
            PcapReader::new(&g).unwrap().next().unwrap().unwrap_err(),
            WireError::UnsupportedTsResol { value: 100 }
        );

        // EPB whose caplen overruns its block.
        let mut g = f.clone();
        idb(&mut g, o, 1, None);
        let start = g.len();
        epb(&mut g, o, 0, 0, b"abcd");
        g[start + 8 + 12..start + 8 + 16].copy_from_slice(&100u32.to_le_bytes());
        assert_eq!(
            PcapReader::new(&g).unwrap().next().unwrap().unwrap_err(),
            WireError::PcapRecordOverrun {
                caplen: 100,
                available: 4
            }
        );

        // Truncated trailing block header.
        let mut g = f.clone();
        g.extend_from_slice(&[1, 0, 0]);
        assert_eq!(
            PcapReader::new(&g).unwrap().next().unwrap().unwrap_err(),
            WireError::TruncatedPcapngBlock { available: 3 }
        );
    }

    #[test]
    fn split_ts_extremes() {
        assert_eq!(split_ts(u64::MAX, 1), (u64::MAX, 0));
        let (s, ns) = split_ts(u64::MAX, 1u128 << 64);
        assert_eq!(s, 0);
        assert!(ns < 1_000_000_000);
        assert_eq!(tsresol_units(19).unwrap(), 10u128.pow(19));
        assert!(tsresol_units(20).is_err());
        assert_eq!(tsresol_units(0x80 | 64).unwrap(), 1u128 << 64);
        assert!(tsresol_units(0x80 | 65).is_err());
    }
}
