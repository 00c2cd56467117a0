//! The on-disk record format of a spool segment, with no I/O (parse and emit split,
//! as in smoltcp's wire/): a segment file is a sequence of records
//!
//! ```text
//! magic "ULSP" | len: u32 LE | seq: u64 LE | crc32c: u32 LE | payload (len bytes)
//! ```
//!
//! The CRC (CRC-32C, the Castagnoli polynomial that SSE4.2 computes in hardware)
//! covers `len`, `seq` and the payload. The magic exists for resynchronisation: a
//! record whose bytes were damaged (a bad sector, a partial overwrite) is skipped by
//! searching for the next magic that starts a record with a valid CRC, so one bad
//! record costs that record, not the rest of the segment. A record cut short at the
//! end of the file (the daemon was killed in the middle of a `write`, or the disk
//! filled up) is a *torn tail*; [`SegmentIter`] reports it and stops.

/// Bytes before the payload.
pub const HEADER_LEN: usize = 20;
/// The record marker.
pub const MAGIC: [u8; 4] = *b"ULSP";
/// Upper bound of one payload: a length above it is damage, not a record.
pub const MAX_PAYLOAD: usize = 16 << 20;

/// One thing found while walking a segment.
#[derive(Debug, PartialEq, Eq)]
pub enum Item<'a> {
    /// A record with a valid checksum.
    Record {
        /// Its spool sequence number.
        seq: u64,
        /// Its bytes.
        payload: &'a [u8],
        /// Offset of its header in the segment.
        offset: usize,
    },
    /// Damaged bytes `offset..offset + len`, followed by a valid record.
    Corrupt {
        /// Where the damage starts.
        offset: usize,
        /// How many bytes were skipped.
        len: usize,
    },
    /// An incomplete or damaged record at the end with nothing valid after it:
    /// the segment's valid content ends at `offset`.
    Torn {
        /// Where the valid content ends.
        offset: usize,
    },
}

fn crc(len: u32, seq: u64, payload: &[u8]) -> u32 {
    let mut c = crc32c::crc32c(&len.to_le_bytes());
    c = crc32c::crc32c_append(c, &seq.to_le_bytes());
    crc32c::crc32c_append(c, payload)
}

/// Appends one record to `out`. `payload` must be at most [`MAX_PAYLOAD`] bytes
/// (callers check it and refuse larger ones).
pub fn emit(out: &mut Vec<u8>, seq: u64, payload: &[u8]) {
    debug_assert!(payload.len() <= MAX_PAYLOAD);
    let len = payload.len() as u32;
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&crc(len, seq, payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// The size of a record of `payload_len` bytes on disk.
pub fn record_len(payload_len: usize) -> usize {
    HEADER_LEN + payload_len
}

/// A valid record at exactly `pos`: (seq, payload range end).
fn record_at(buf: &[u8], pos: usize) -> Option<(u64, usize)> {
    let h = buf.get(pos..pos.checked_add(HEADER_LEN)?)?;
    if h[0..4] != MAGIC {
        return None;
    }
    let len = u32::from_le_bytes(h[4..8].try_into().ok()?);
    if len as usize > MAX_PAYLOAD {
        return None;
    }
    let seq = u64::from_le_bytes(h[8..16].try_into().ok()?);
    let want = u32::from_le_bytes(h[16..20].try_into().ok()?);
    let start = pos + HEADER_LEN;
    let end = start.checked_add(len as usize)?;
    let payload = buf.get(start..end)?;
    (crc(len, seq, payload) == want).then_some((seq, end))
}

/// Walks the records of a segment's bytes. Never panics, whatever the bytes.
pub struct SegmentIter<'a> {
    buf: &'a [u8],
    pos: usize,
    done: bool,
}

impl<'a> SegmentIter<'a> {
    /// Walks `buf` from its start.
    pub fn new(buf: &'a [u8]) -> SegmentIter<'a> {
        SegmentIter {
            buf,
            pos: 0,
            done: false,
        }
    }

    /// Where the walk stands: after the last item returned.
    pub fn offset(&self) -> usize {
        self.pos
    }
}

impl<'a> Iterator for SegmentIter<'a> {
    type Item = Item<'a>;

    fn next(&mut self) -> Option<Item<'a>> {
        if self.done || self.pos >= self.buf.len() {
            return None;
        }
        let pos = self.pos;
        if let Some((seq, end)) = record_at(self.buf, pos) {
            self.pos = end;
            return Some(Item::Record {
                seq,
                payload: &self.buf[pos + HEADER_LEN..end],
                offset: pos,
            });
        }
        // Damage at `pos`: find the next magic that starts a valid record.
        let mut from = pos + 1;
        while let Some(i) = find_magic(&self.buf[from..]) {
            let cand = from + i;
            if record_at(self.buf, cand).is_some() {
                self.pos = cand;
                return Some(Item::Corrupt {
                    offset: pos,
                    len: cand - pos,
                });
            }
            from = cand + 1;
        }
        self.done = true;
        Some(Item::Torn { offset: pos })
    }
}

fn find_magic(b: &[u8]) -> Option<usize> {
    b.windows(MAGIC.len()).position(|w| w == MAGIC)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(n: u64) -> Vec<u8> {
        let mut v = Vec::new();
        for s in 0..n {
            emit(&mut v, 100 + s, format!("payload {s}").as_bytes());
        }
        v
    }

    fn seqs(buf: &[u8]) -> (Vec<u64>, usize, Option<usize>) {
        let (mut s, mut corrupt, mut torn) = (Vec::new(), 0, None);
        for it in SegmentIter::new(buf) {
            match it {
                Item::Record { seq, payload, .. } => {
                    assert_eq!(payload, format!("payload {}", seq - 100).as_bytes());
                    s.push(seq)
                }
                Item::Corrupt { .. } => corrupt += 1,
                Item::Torn { offset } => torn = Some(offset),
            }
        }
        (s, corrupt, torn)
    }

    #[test]
    fn round_trip() {
        let v = seg(5);
        assert_eq!(seqs(&v), ((100..105).collect(), 0, None));
        assert_eq!(v.len(), 5 * record_len(9));
    }

    #[test]
    fn every_cut_is_a_torn_tail_after_the_whole_records() {
        let v = seg(3);
        let one = record_len(9);
        for cut in 0..v.len() {
            let (s, corrupt, torn) = seqs(&v[..cut]);
            assert_eq!(s.len(), cut / one, "cut {cut}");
            assert_eq!(corrupt, 0);
            assert_eq!(torn, (cut % one != 0).then_some(cut / one * one));
        }
    }

    #[test]
    fn a_flipped_byte_costs_one_record() {
        let v = seg(5);
        let one = record_len(9);
        for i in 0..v.len() {
            let mut d = v.clone();
            d[i] ^= 0x41;
            let (s, corrupt, torn) = seqs(&d);
            let hit = (i / one) as u64;
            let want: Vec<u64> = (100..105).filter(|&x| x != 100 + hit).collect();
            assert_eq!(s, want, "byte {i}");
            if hit == 4 {
                assert_eq!((corrupt, torn), (0, Some(4 * one)));
            } else {
                assert_eq!((corrupt, torn), (1, None));
            }
        }
    }

    #[test]
    fn huge_length_is_damage() {
        let mut v = seg(2);
        v[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        let (s, corrupt, _) = seqs(&v);
        assert_eq!((s, corrupt), (vec![101], 1));
    }
}
