//! Netlink message framing (`struct nlmsghdr`), `NLMSG_ERROR` payloads and
//! the nfnetlink `struct nfgenmsg` sub-header.
//!
//! ```text
//!  0       4       6       8          12         16
//! +-------+-------+-------+----------+----------+-------------------+
//! | len   | type  | flags | seq      | pid      | payload, pad to 4 |
//! +-------+-------+-------+----------+----------+-------------------+
//! ```
//!
//! All header fields are in host byte order: the kernel and we share a CPU.
//! One `recv()` on a netlink socket can return many messages back to back,
//! each padded to 4 bytes ([`NlmsgIter`] walks them).

use super::{align4, read_array, Result, WireError};

/// Size of `struct nlmsghdr`.
pub const NLMSG_HDRLEN: usize = 16;

/// No-op message, to be skipped.
pub const NLMSG_NOOP: u16 = 1;
/// Error or ACK (error code 0); payload is `struct nlmsgerr`.
pub const NLMSG_ERROR: u16 = 2;
/// End of a multipart dump.
pub const NLMSG_DONE: u16 = 3;
/// Data lost (historic; the kernel reports ENOBUFS on recv() instead).
pub const NLMSG_OVERRUN: u16 = 4;
/// Types below this are reserved for control messages.
pub const NLMSG_MIN_TYPE: u16 = 0x10;

/// It is a request message.
pub const NLM_F_REQUEST: u16 = 0x01;
/// Multipart message, terminated by [`NLMSG_DONE`].
pub const NLM_F_MULTI: u16 = 0x02;
/// Reply with an ACK (an [`NLMSG_ERROR`] with error 0) on success.
pub const NLM_F_ACK: u16 = 0x04;
/// Echo this request back.
pub const NLM_F_ECHO: u16 = 0x08;
/// Dump was inconsistent because the data changed during it.
pub const NLM_F_DUMP_INTR: u16 = 0x10;
/// Dump was filtered as requested.
pub const NLM_F_DUMP_FILTERED: u16 = 0x20;
/// GET modifier: return the whole table.
pub const NLM_F_ROOT: u16 = 0x100;
/// GET modifier: return all matching entries.
pub const NLM_F_MATCH: u16 = 0x200;
/// GET modifier: atomic snapshot.
pub const NLM_F_ATOMIC: u16 = 0x400;
/// GET modifier: `ROOT | MATCH`.
pub const NLM_F_DUMP: u16 = NLM_F_ROOT | NLM_F_MATCH;
/// NEW modifier: replace an existing object.
pub const NLM_F_REPLACE: u16 = 0x100;
/// NEW modifier: fail if it already exists.
pub const NLM_F_EXCL: u16 = 0x200;
/// NEW modifier: create if it does not exist.
pub const NLM_F_CREATE: u16 = 0x400;
/// NEW modifier: append to the end of a list.
pub const NLM_F_APPEND: u16 = 0x800;
/// ACK flag: the request was not echoed back in the error payload.
pub const NLM_F_CAPPED: u16 = 0x100;
/// ACK flag: extended ACK TLVs follow the error payload.
pub const NLM_F_ACK_TLVS: u16 = 0x200;

/// Size of `struct nfgenmsg`.
pub const NFGENMSG_LEN: usize = 4;
/// The only nfnetlink version there is.
pub const NFNETLINK_V0: u8 = 0;

/// nfnetlink subsystem: none.
pub const NFNL_SUBSYS_NONE: u8 = 0;
/// nfnetlink subsystem: conntrack (NFCT).
pub const NFNL_SUBSYS_CTNETLINK: u8 = 1;
/// nfnetlink subsystem: conntrack expectations.
pub const NFNL_SUBSYS_CTNETLINK_EXP: u8 = 2;
/// nfnetlink subsystem: NFQUEUE.
pub const NFNL_SUBSYS_QUEUE: u8 = 3;
/// nfnetlink subsystem: NFLOG (historically "ULOG").
pub const NFNL_SUBSYS_ULOG: u8 = 4;
/// nfnetlink subsystem: OS fingerprinting.
pub const NFNL_SUBSYS_OSF: u8 = 5;
/// nfnetlink subsystem: ipset.
pub const NFNL_SUBSYS_IPSET: u8 = 6;
/// nfnetlink subsystem: NFACCT.
pub const NFNL_SUBSYS_ACCT: u8 = 7;
/// nfnetlink subsystem: conntrack timeouts.
pub const NFNL_SUBSYS_CTNETLINK_TIMEOUT: u8 = 8;
/// nfnetlink subsystem: conntrack helpers.
pub const NFNL_SUBSYS_CTHELPER: u8 = 9;
/// nfnetlink subsystem: nf_tables.
pub const NFNL_SUBSYS_NFTABLES: u8 = 10;

/// nfnetlink subsystem id from an `nlmsg_type` (`type >> 8`).
#[inline]
pub fn nfnl_subsys(msg_type: u16) -> u8 {
    (msg_type >> 8) as u8
}

/// nfnetlink per-subsystem message id from an `nlmsg_type` (`type & 0xff`).
#[inline]
pub fn nfnl_msg(msg_type: u16) -> u8 {
    (msg_type & 0xff) as u8
}

/// Compose an `nlmsg_type` from subsystem and message id.
#[inline]
pub fn nfnl_msg_type(subsys: u8, msg: u8) -> u16 {
    (u16::from(subsys) << 8) | u16::from(msg)
}

/// A checked view of one netlink message.
///
/// After [`NlmsgView::new_checked`] succeeds, `16 <= nlmsg_len <= buffer.len()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NlmsgView<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> NlmsgView<T> {
    /// Wrap without checking (accessors still never panic).
    pub fn new_unchecked(buffer: T) -> Self {
        NlmsgView { buffer }
    }

    /// Validate the header and `nlmsg_len` against the buffer.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let buf = buffer.as_ref();
        let Some(len) = read_array::<4>(buf, 0).map(u32::from_ne_bytes) else {
            return Err(WireError::TruncatedNlmsgHeader {
                available: buf.len(),
            });
        };
        if buf.len() < NLMSG_HDRLEN {
            return Err(WireError::TruncatedNlmsgHeader {
                available: buf.len(),
            });
        }
        if (len as usize) < NLMSG_HDRLEN {
            return Err(WireError::NlmsgLenTooSmall { len });
        }
        if len as usize > buf.len() {
            return Err(WireError::NlmsgOverrun {
                len,
                available: buf.len(),
            });
        }
        Ok(NlmsgView { buffer })
    }

    /// Give the underlying buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// `nlmsg_len`: header + payload, without trailing padding.
    pub fn len(&self) -> u32 {
        read_array::<4>(self.buffer.as_ref(), 0).map_or(0, u32::from_ne_bytes)
    }

    /// True when the message has no payload.
    pub fn is_empty(&self) -> bool {
        self.len() as usize <= NLMSG_HDRLEN
    }

    /// `nlmsg_type`.
    pub fn msg_type(&self) -> u16 {
        read_array::<2>(self.buffer.as_ref(), 4).map_or(0, u16::from_ne_bytes)
    }

    /// `nlmsg_flags`.
    pub fn flags(&self) -> u16 {
        read_array::<2>(self.buffer.as_ref(), 6).map_or(0, u16::from_ne_bytes)
    }

    /// `nlmsg_seq`.
    pub fn seq(&self) -> u32 {
        read_array::<4>(self.buffer.as_ref(), 8).map_or(0, u32::from_ne_bytes)
    }

    /// `nlmsg_pid` (port id of the sender; 0 for the kernel).
    pub fn pid(&self) -> u32 {
        read_array::<4>(self.buffer.as_ref(), 12).map_or(0, u32::from_ne_bytes)
    }

    /// nfnetlink subsystem of this message (`type >> 8`).
    pub fn subsys(&self) -> u8 {
        nfnl_subsys(self.msg_type())
    }

    /// nfnetlink message id of this message (`type & 0xff`).
    pub fn nfnl_msg(&self) -> u8 {
        nfnl_msg(self.msg_type())
    }

    /// The parsed header.
    pub fn header(&self) -> NlmsgHeader {
        NlmsgHeader {
            len: self.len(),
            msg_type: self.msg_type(),
            flags: self.flags(),
            seq: self.seq(),
            pid: self.pid(),
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> NlmsgView<&'a T> {
    /// The payload (after the 16-byte header, up to `nlmsg_len`), borrowing
    /// the original buffer.
    pub fn payload(&self) -> &'a [u8] {
        let buf: &'a [u8] = self.buffer.as_ref();
        buf.get(NLMSG_HDRLEN..self.len() as usize).unwrap_or(&[])
    }
}

/// The meaning of a `struct nlmsghdr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct NlmsgHeader {
    /// `nlmsg_len`.
    pub len: u32,
    /// `nlmsg_type`.
    pub msg_type: u16,
    /// `nlmsg_flags`.
    pub flags: u16,
    /// `nlmsg_seq`.
    pub seq: u32,
    /// `nlmsg_pid`.
    pub pid: u32,
}

impl NlmsgHeader {
    /// Parse the first 16 bytes of `buf` without checking `len` against it
    /// (used for the echoed request inside `nlmsgerr`, whose `len` refers to
    /// the original message, not to what follows).
    pub fn parse_raw(buf: &[u8]) -> Result<Self> {
        let Some(h) = read_array::<NLMSG_HDRLEN>(buf, 0) else {
            return Err(WireError::TruncatedNlmsgHeader {
                available: buf.len(),
            });
        };
        Ok(NlmsgHeader {
            len: u32::from_ne_bytes([h[0], h[1], h[2], h[3]]),
            msg_type: u16::from_ne_bytes([h[4], h[5]]),
            flags: u16::from_ne_bytes([h[6], h[7]]),
            seq: u32::from_ne_bytes([h[8], h[9], h[10], h[11]]),
            pid: u32::from_ne_bytes([h[12], h[13], h[14], h[15]]),
        })
    }

    /// Bytes [`NlmsgHeader::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        NLMSG_HDRLEN
    }

    /// Write the header into the first 16 bytes of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let available = buf.len();
        let Some(dst) = buf.get_mut(..NLMSG_HDRLEN) else {
            return Err(WireError::BufferTooSmall {
                needed: NLMSG_HDRLEN,
                available,
            });
        };
        dst[0..4].copy_from_slice(&self.len.to_ne_bytes());
        dst[4..6].copy_from_slice(&self.msg_type.to_ne_bytes());
        dst[6..8].copy_from_slice(&self.flags.to_ne_bytes());
        dst[8..12].copy_from_slice(&self.seq.to_ne_bytes());
        dst[12..16].copy_from_slice(&self.pid.to_ne_bytes());
        Ok(())
    }
}

/// Iterator over the messages in one `recv()` buffer.
///
/// Yields the first malformed message as `Err` and then stops, since a bad
/// `nlmsg_len` makes the position of the next message unknowable.
#[derive(Debug, Clone)]
pub struct NlmsgIter<'a> {
    rest: &'a [u8],
    total: usize,
    failed: bool,
}

impl<'a> NlmsgIter<'a> {
    /// Walk the messages in `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        NlmsgIter {
            rest: buf,
            total: buf.len(),
            failed: false,
        }
    }

    /// Bytes of the buffer stepped over so far: every message yielded, with its
    /// padding; after a malformed message, the whole buffer. A reader that stops in
    /// the middle of a buffer resumes at this offset, so no caller recomputes the
    /// alignment rules.
    pub fn consumed(&self) -> usize {
        self.total - self.rest.len()
    }
}

impl<'a> Iterator for NlmsgIter<'a> {
    type Item = Result<NlmsgView<&'a [u8]>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        match NlmsgView::new_checked(self.rest) {
            Ok(v) => {
                let len = v.len() as usize;
                let this = self.rest.get(..len).unwrap_or(self.rest);
                let step = align4(len).min(self.rest.len());
                self.rest = self.rest.get(step..).unwrap_or(&[]);
                Some(Ok(NlmsgView::new_unchecked(this)))
            }
            Err(e) => {
                self.failed = true;
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

impl core::iter::FusedIterator for NlmsgIter<'_> {}

#[cfg(test)]
mod consumed_tests {
    use super::*;

    fn msg(ty: u16, payload: usize) -> Vec<u8> {
        let mut v = vec![0u8; NLMSG_HDRLEN];
        NlmsgHeader {
            len: (NLMSG_HDRLEN + payload) as u32,
            msg_type: ty,
            ..NlmsgHeader::default()
        }
        .emit(&mut v)
        .unwrap();
        v.resize(NLMSG_HDRLEN + payload, 0xaa);
        v
    }

    #[test]
    fn consumed_counts_padding_and_stops_at_the_end() {
        let mut buf = msg(0x100, 5); // 21 bytes, padded to 24
        buf.resize(24, 0);
        buf.extend(msg(0x101, 4));
        let mut it = NlmsgIter::new(&buf);
        assert_eq!(it.consumed(), 0);
        assert_eq!(it.next().unwrap().unwrap().msg_type(), 0x100);
        assert_eq!(it.consumed(), 24);
        assert_eq!(it.next().unwrap().unwrap().msg_type(), 0x101);
        assert_eq!(it.consumed(), buf.len());
        assert!(it.next().is_none());
    }

    #[test]
    fn a_bad_length_consumes_the_rest() {
        let mut buf = msg(0x100, 0);
        buf.extend([1, 0, 0, 0, 0, 0]); // nlmsg_len 1
        let mut it = NlmsgIter::new(&buf);
        assert!(it.next().unwrap().is_ok());
        assert!(it.next().unwrap().is_err());
        assert_eq!(it.consumed(), buf.len());
        assert!(it.next().is_none());
    }

    #[test]
    fn last_message_without_padding() {
        let buf = msg(0x100, 1); // 17 bytes, no padding after the last one
        let mut it = NlmsgIter::new(&buf);
        assert!(it.next().unwrap().is_ok());
        assert_eq!(it.consumed(), 17);
    }
}

/// Size of `struct nlmsgerr` (i32 error + the echoed request header).
pub const NLMSGERR_LEN: usize = 4 + NLMSG_HDRLEN;

/// A checked view of an [`NLMSG_ERROR`] payload (`struct nlmsgerr`).
///
/// An ACK is an `NLMSG_ERROR` whose error is 0; otherwise the error is a
/// negative errno. The echoed header identifies which request it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NlmsgErrView<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> NlmsgErrView<T> {
    /// Validate that `payload` holds at least a `struct nlmsgerr`.
    pub fn new_checked(payload: T) -> Result<Self> {
        let n = payload.as_ref().len();
        if n < NLMSGERR_LEN {
            return Err(WireError::TruncatedNlmsgErr { available: n });
        }
        Ok(NlmsgErrView { buffer: payload })
    }

    /// The error: 0 for an ACK, `-errno` otherwise.
    pub fn error(&self) -> i32 {
        read_array::<4>(self.buffer.as_ref(), 0).map_or(0, i32::from_ne_bytes)
    }

    /// True for a positive acknowledgement.
    pub fn is_ack(&self) -> bool {
        self.error() == 0
    }

    /// The header of the request this answers.
    pub fn orig_header(&self) -> NlmsgHeader {
        NlmsgHeader::parse_raw(self.buffer.as_ref().get(4..).unwrap_or(&[])).unwrap_or_default()
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> NlmsgErrView<&'a T> {
    /// Bytes after the echoed header: the rest of the request (unless
    /// [`NLM_F_CAPPED`]) and extended-ACK TLVs (if [`NLM_F_ACK_TLVS`]).
    pub fn trailer(&self) -> &'a [u8] {
        let buf: &'a [u8] = self.buffer.as_ref();
        buf.get(NLMSGERR_LEN..).unwrap_or(&[])
    }
}

/// A checked view of `struct nfgenmsg`, the 4-byte header every nfnetlink
/// message payload starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NfgenmsgView<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> NfgenmsgView<T> {
    /// Validate that `payload` holds a `struct nfgenmsg`.
    pub fn new_checked(payload: T) -> Result<Self> {
        let n = payload.as_ref().len();
        if n < NFGENMSG_LEN {
            return Err(WireError::TruncatedNfgenmsg { available: n });
        }
        Ok(NfgenmsgView { buffer: payload })
    }

    /// Address family (`AF_INET`, `AF_INET6`, `AF_BRIDGE`, ...).
    pub fn family(&self) -> u8 {
        self.buffer.as_ref().first().copied().unwrap_or(0)
    }

    /// nfnetlink version (always [`NFNETLINK_V0`]).
    pub fn version(&self) -> u8 {
        self.buffer.as_ref().get(1).copied().unwrap_or(0)
    }

    /// Resource id: for NFLOG the group number. Big-endian on the wire.
    pub fn res_id(&self) -> u16 {
        read_array::<2>(self.buffer.as_ref(), 2).map_or(0, u16::from_be_bytes)
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> NfgenmsgView<&'a T> {
    /// The attribute region after the header.
    pub fn attrs(&self) -> &'a [u8] {
        let buf: &'a [u8] = self.buffer.as_ref();
        buf.get(NFGENMSG_LEN..).unwrap_or(&[])
    }
}

/// The meaning of a `struct nfgenmsg`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct NfgenmsgRepr {
    /// Address family.
    pub family: u8,
    /// Version ([`NFNETLINK_V0`]).
    pub version: u8,
    /// Resource id (NFLOG group), host order here, big-endian on the wire.
    pub res_id: u16,
}

impl NfgenmsgRepr {
    /// Read the fields from a checked view.
    pub fn parse<T: AsRef<[u8]>>(view: &NfgenmsgView<T>) -> Self {
        NfgenmsgRepr {
            family: view.family(),
            version: view.version(),
            res_id: view.res_id(),
        }
    }

    /// Bytes [`NfgenmsgRepr::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        NFGENMSG_LEN
    }

    /// Write the header into the first 4 bytes of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let available = buf.len();
        let Some(dst) = buf.get_mut(..NFGENMSG_LEN) else {
            return Err(WireError::BufferTooSmall {
                needed: NFGENMSG_LEN,
                available,
            });
        };
        dst[0] = self.family;
        dst[1] = self.version;
        dst[2..4].copy_from_slice(&self.res_id.to_be_bytes());
        Ok(())
    }
}

/// Append a complete nfnetlink message (nlmsghdr + nfgenmsg + `attrs`) to
/// `out`, fixing up `nlmsg_len`. Shared by the NFLOG packet and config
/// emitters; `attrs` must already be 4-byte padded.
pub fn push_nfnl_message(
    out: &mut Vec<u8>,
    hdr: NlmsgHeader,
    gen: NfgenmsgRepr,
    attrs: &[u8],
) -> Result<usize> {
    let total = NLMSG_HDRLEN + NFGENMSG_LEN + attrs.len();
    let len = u32::try_from(total).map_err(|_| WireError::LengthTooLarge {
        len: total,
        max: u32::MAX as usize,
    })?;
    let start = out.len();
    out.resize(start + NLMSG_HDRLEN + NFGENMSG_LEN, 0);
    NlmsgHeader { len, ..hdr }.emit(&mut out[start..])?;
    gen.emit(&mut out[start + NLMSG_HDRLEN..])?;
    out.extend_from_slice(attrs);
    out.resize(start + align4(total), 0);
    Ok(out.len() - start)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(msg_type: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![0u8; NLMSG_HDRLEN];
        NlmsgHeader {
            len: (NLMSG_HDRLEN + payload.len()) as u32,
            msg_type,
            flags: NLM_F_MULTI,
            seq,
            pid: 0,
        }
        .emit(&mut v)
        .unwrap();
        v.extend_from_slice(payload);
        v.resize(align4(v.len()), 0);
        v
    }

    #[test]
    fn iterate_several_messages() {
        let mut buf = msg(0x0400, 1, &[1, 2, 3]);
        buf.extend(msg(0x0400, 2, &[]));
        buf.extend(msg(NLMSG_DONE, 3, &[0, 0, 0, 0]));
        let msgs: Vec<_> = NlmsgIter::new(&buf).collect::<Result<_>>().unwrap();
        assert_eq!(msgs.len(), 3);
        assert_eq!(msgs[0].len(), 19);
        assert_eq!(msgs[0].payload(), &[1, 2, 3]);
        assert_eq!(msgs[0].subsys(), NFNL_SUBSYS_ULOG);
        assert_eq!(msgs[0].nfnl_msg(), 0);
        assert_eq!(msgs[0].flags(), NLM_F_MULTI);
        assert_eq!(msgs[1].seq(), 2);
        assert!(msgs[1].is_empty());
        assert_eq!(msgs[2].msg_type(), NLMSG_DONE);
        assert_eq!(msgs[2].pid(), 0);
        assert_eq!(msgs[2].header().seq, 3);
    }

    #[test]
    fn truncated_header() {
        let buf = [0u8; 15];
        let mut it = NlmsgIter::new(&buf);
        assert_eq!(
            it.next().unwrap().unwrap_err(),
            WireError::TruncatedNlmsgHeader { available: 15 }
        );
        assert!(it.next().is_none());
    }

    #[test]
    fn zero_length_is_an_error_not_a_loop() {
        let mut buf = msg(1, 1, &[]);
        buf[0..4].copy_from_slice(&0u32.to_ne_bytes());
        let mut it = NlmsgIter::new(&buf);
        assert_eq!(
            it.next().unwrap().unwrap_err(),
            WireError::NlmsgLenTooSmall { len: 0 }
        );
        assert!(it.next().is_none());
    }

    #[test]
    fn oversized_length_stops_iteration() {
        let mut buf = msg(0x0400, 1, &[]);
        let mut bad = msg(0x0400, 2, &[0; 4]);
        bad[0..4].copy_from_slice(&1000u32.to_ne_bytes());
        buf.extend(bad);
        buf.extend(msg(0x0400, 3, &[]));
        let mut it = NlmsgIter::new(&buf);
        assert!(it.next().unwrap().is_ok());
        assert_eq!(
            it.next().unwrap().unwrap_err(),
            WireError::NlmsgOverrun {
                len: 1000,
                available: 36
            }
        );
        assert!(it.next().is_none());
    }

    #[test]
    fn unpadded_last_message_is_fine() {
        let buf = msg(0x0400, 1, &[9]);
        let cut = &buf[..17];
        let v: Vec<_> = NlmsgIter::new(cut).collect::<Result<_>>().unwrap();
        assert_eq!(v[0].payload(), &[9]);
    }

    #[test]
    fn nlmsgerr_ack_and_error() {
        let req = NlmsgHeader {
            len: 28,
            msg_type: nfnl_msg_type(NFNL_SUBSYS_ULOG, 1),
            flags: NLM_F_REQUEST | NLM_F_ACK,
            seq: 77,
            pid: 0,
        };
        let mut p = (-1i32).to_ne_bytes().to_vec();
        let mut h = [0u8; 16];
        req.emit(&mut h).unwrap();
        p.extend_from_slice(&h);
        let buf = msg(NLMSG_ERROR, 77, &p);
        let m = NlmsgIter::new(&buf).next().unwrap().unwrap();
        let e = NlmsgErrView::new_checked(m.payload()).unwrap();
        assert_eq!(e.error(), -1);
        assert!(!e.is_ack());
        assert_eq!(e.orig_header(), req);
        assert!(e.trailer().is_empty());
        p[0..4].copy_from_slice(&0i32.to_ne_bytes());
        assert!(NlmsgErrView::new_checked(&p[..]).unwrap().is_ack());
        assert_eq!(
            NlmsgErrView::new_checked(&p[..19]).unwrap_err(),
            WireError::TruncatedNlmsgErr { available: 19 }
        );
    }

    #[test]
    fn nfgenmsg_round_trip() {
        let r = NfgenmsgRepr {
            family: 10,
            version: NFNETLINK_V0,
            res_id: 0x0102,
        };
        let mut b = [0u8; 6];
        r.emit(&mut b).unwrap();
        assert_eq!(&b[..4], &[10, 0, 1, 2]);
        let v = NfgenmsgView::new_checked(&b[..]).unwrap();
        assert_eq!(NfgenmsgRepr::parse(&v), r);
        assert_eq!(v.attrs(), &[0, 0]);
        assert_eq!(
            NfgenmsgView::new_checked(&b[..3]).unwrap_err(),
            WireError::TruncatedNfgenmsg { available: 3 }
        );
        assert!(r.emit(&mut [0u8; 3]).is_err());
    }

    #[test]
    fn subsys_helpers() {
        let t = nfnl_msg_type(NFNL_SUBSYS_ULOG, 1);
        assert_eq!(t, 0x0401);
        assert_eq!(nfnl_subsys(t), 4);
        assert_eq!(nfnl_msg(t), 1);
    }

    #[test]
    fn header_emit_needs_room() {
        assert_eq!(
            NlmsgHeader::default().emit(&mut [0u8; 10]).unwrap_err(),
            WireError::BufferTooSmall {
                needed: 16,
                available: 10
            }
        );
    }
}
