//! Netlink attributes (`struct nlattr`, a.k.a. TLVs).
//!
//! ```text
//!  0               2               4
//! +---------------+---------------+---------------------------+---------+
//! |   nla_len     |   nla_type    |   value (nla_len - 4)     | pad to 4|
//! +---------------+---------------+---------------------------+---------+
//! ```
//!
//! `nla_len` counts header + value but *not* the trailing padding, and both
//! header fields are in the byte order of the host that wrote them (native
//! for a live socket; whatever the capturing host used for a pcap file, which
//! is why the views carry a [`ByteOrder`]).

use super::{align4, read_array, ByteOrder, Result, WireError};

/// Size of `struct nlattr`.
pub const NLA_HDRLEN: usize = 4;
/// Type flag: the value is itself a sequence of attributes.
pub const NLA_F_NESTED: u16 = 0x8000;
/// Type flag: the value is in network byte order (informational only; the
/// NFLOG attributes are big-endian whether or not the kernel sets it).
pub const NLA_F_NET_BYTEORDER: u16 = 0x4000;
/// Mask that removes both flags from `nla_type`.
pub const NLA_TYPE_MASK: u16 = !(NLA_F_NESTED | NLA_F_NET_BYTEORDER);

/// A checked view of one attribute.
///
/// After [`NlaView::new_checked`] succeeds, `4 <= nla_len <= buffer.len()`
/// holds, so [`NlaView::value`] can slice without further checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NlaView<T: AsRef<[u8]>> {
    buffer: T,
    order: ByteOrder,
}

impl<T: AsRef<[u8]>> NlaView<T> {
    /// Wrap `buffer` without checking anything. Accessors may then return
    /// garbage but still never panic (they fall back to empty slices); use
    /// [`NlaView::new_checked`] for anything that came from outside.
    pub fn new_unchecked(buffer: T, order: ByteOrder) -> Self {
        NlaView { buffer, order }
    }

    /// Validate a native-order attribute at the start of `buffer`.
    pub fn new_checked(buffer: T) -> Result<Self> {
        Self::new_checked_with_order(buffer, ByteOrder::NATIVE)
    }

    /// Validate an attribute whose header is in byte order `order`.
    ///
    /// `buffer` may extend past the attribute (e.g. the rest of the region);
    /// the value is bounded by `nla_len`, not by the buffer.
    pub fn new_checked_with_order(buffer: T, order: ByteOrder) -> Result<Self> {
        let buf = buffer.as_ref();
        let (Some(hdr), true) = (read_array::<2>(buf, 0), buf.len() >= NLA_HDRLEN) else {
            return Err(WireError::TruncatedAttrHeader {
                available: buf.len(),
            });
        };
        let len = order.u16(hdr);
        if usize::from(len) < NLA_HDRLEN {
            return Err(WireError::AttrLenTooSmall { len });
        }
        if usize::from(len) > buf.len() {
            return Err(WireError::AttrOverrun {
                len,
                available: buf.len(),
            });
        }
        Ok(NlaView { buffer, order })
    }

    /// Give the underlying buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Byte order of the header fields.
    pub fn byte_order(&self) -> ByteOrder {
        self.order
    }

    /// `nla_len`: header + value, without padding.
    pub fn len(&self) -> u16 {
        read_array::<2>(self.buffer.as_ref(), 0).map_or(0, |b| self.order.u16(b))
    }

    /// True when the value is empty (`nla_len == 4`).
    pub fn is_empty(&self) -> bool {
        usize::from(self.len()) <= NLA_HDRLEN
    }

    /// Raw `nla_type` including the nested / byte-order flags.
    pub fn raw_kind(&self) -> u16 {
        read_array::<2>(self.buffer.as_ref(), 2).map_or(0, |b| self.order.u16(b))
    }

    /// Attribute type with [`NLA_F_NESTED`] and [`NLA_F_NET_BYTEORDER`]
    /// masked off: this is what to match on, since the kernel sets the nested
    /// flag on some nests and not on others.
    pub fn kind(&self) -> u16 {
        self.raw_kind() & NLA_TYPE_MASK
    }

    /// Whether [`NLA_F_NESTED`] is set.
    pub fn is_nested(&self) -> bool {
        self.raw_kind() & NLA_F_NESTED != 0
    }

    /// Whether [`NLA_F_NET_BYTEORDER`] is set.
    pub fn is_net_byteorder(&self) -> bool {
        self.raw_kind() & NLA_F_NET_BYTEORDER != 0
    }

    /// `nla_len` rounded up to 4: the distance to the next attribute.
    pub fn total_len(&self) -> usize {
        align4(usize::from(self.len()))
    }

    fn value_bytes(&self) -> &[u8] {
        self.buffer
            .as_ref()
            .get(NLA_HDRLEN..usize::from(self.len()))
            .unwrap_or(&[])
    }

    fn fixed<const N: usize>(&self) -> Result<[u8; N]> {
        let v = self.value_bytes();
        if v.len() != N {
            return Err(WireError::BadAttrValueLen {
                kind: self.kind(),
                expected: N,
                actual: v.len(),
            });
        }
        read_array::<N>(v, 0).ok_or(WireError::BadAttrValueLen {
            kind: self.kind(),
            expected: N,
            actual: v.len(),
        })
    }

    /// The value as exactly one byte.
    pub fn u8(&self) -> Result<u8> {
        self.fixed::<1>().map(|b| b[0])
    }

    /// The value as exactly two big-endian bytes.
    pub fn be_u16(&self) -> Result<u16> {
        self.fixed::<2>().map(u16::from_be_bytes)
    }

    /// The value as exactly four big-endian bytes.
    pub fn be_u32(&self) -> Result<u32> {
        self.fixed::<4>().map(u32::from_be_bytes)
    }

    /// The value as exactly eight big-endian bytes.
    pub fn be_u64(&self) -> Result<u64> {
        self.fixed::<8>().map(u64::from_be_bytes)
    }

    /// The value as exactly two bytes in the header's byte order (generic
    /// netlink families use host order for values; nfnetlink does not).
    pub fn ne_u16(&self) -> Result<u16> {
        self.fixed::<2>().map(|b| self.order.u16(b))
    }

    /// The value as exactly four bytes in the header's byte order.
    pub fn ne_u32(&self) -> Result<u32> {
        self.fixed::<4>().map(|b| self.order.u32(b))
    }

    /// Checks that the value is at least `min` bytes long, the rule libmnl
    /// applies to struct-typed attributes (so that a kernel that appends a
    /// field to a struct does not break us).
    pub fn check_min_len(&self, min: usize) -> Result<()> {
        let actual = self.value_bytes().len();
        if actual < min {
            return Err(WireError::BadAttrValueLen {
                kind: self.kind(),
                expected: min,
                actual,
            });
        }
        Ok(())
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> NlaView<&'a T> {
    /// The value (without header or padding), borrowing the original buffer
    /// for `'a` so that parsed representations can outlive the view.
    pub fn value(&self) -> &'a [u8] {
        let buf: &'a [u8] = self.buffer.as_ref();
        buf.get(NLA_HDRLEN..usize::from(self.len())).unwrap_or(&[])
    }

    /// The value as a C string: the bytes before the first NUL, or the whole
    /// value when the NUL is missing (a sloppy writer is not worth dropping a
    /// log line for).
    pub fn cstr(&self) -> &'a [u8] {
        let v = self.value();
        match v.iter().position(|&b| b == 0) {
            Some(i) => v.get(..i).unwrap_or(v),
            None => v,
        }
    }

    /// Iterate the attributes nested in this one's value (same byte order).
    pub fn nested(&self) -> NlaIter<'a> {
        NlaIter::with_order(self.value(), self.order)
    }
}

/// Iterator over a region of consecutive attributes.
///
/// Yields `Err` once for the first malformed attribute and then ends: once a
/// length is wrong, nothing after it can be located reliably.
#[derive(Debug, Clone)]
pub struct NlaIter<'a> {
    rest: &'a [u8],
    order: ByteOrder,
    failed: bool,
}

impl<'a> NlaIter<'a> {
    /// Walk native-order attributes (what a netlink socket delivers).
    pub fn new(region: &'a [u8]) -> Self {
        Self::with_order(region, ByteOrder::NATIVE)
    }

    /// Walk attributes whose headers are in `order` (for capture files).
    pub fn with_order(region: &'a [u8], order: ByteOrder) -> Self {
        NlaIter {
            rest: region,
            order,
            failed: false,
        }
    }
}

impl<'a> Iterator for NlaIter<'a> {
    type Item = Result<NlaView<&'a [u8]>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        match NlaView::new_checked_with_order(self.rest, self.order) {
            Ok(v) => {
                let len = usize::from(v.len());
                // Restrict the view to this attribute.
                let this = self.rest.get(..len).unwrap_or(self.rest);
                // The last attribute of a region may lack its padding
                // (tolerated, like the kernel's nla_for_each_attr does).
                let step = v.total_len().min(self.rest.len());
                self.rest = self.rest.get(step..).unwrap_or(&[]);
                Some(Ok(NlaView::new_unchecked(this, self.order)))
            }
            Err(e) => {
                self.failed = true;
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

impl core::iter::FusedIterator for NlaIter<'_> {}

/// Bytes an attribute with a `value_len`-byte value occupies, padding included.
pub fn attr_buffer_len(value_len: usize) -> usize {
    align4(NLA_HDRLEN.saturating_add(value_len))
}

/// Write one attribute (header, value, zeroed padding) at the start of `buf`
/// in byte order `order`; returns the bytes written (padding included).
pub fn emit_attr_with_order(
    buf: &mut [u8],
    kind: u16,
    value: &[u8],
    order: ByteOrder,
) -> Result<usize> {
    let nla_len = NLA_HDRLEN.saturating_add(value.len());
    let len16 = u16::try_from(nla_len).map_err(|_| WireError::LengthTooLarge {
        len: nla_len,
        max: usize::from(u16::MAX),
    })?;
    let total = align4(nla_len);
    let available = buf.len();
    let Some(dst) = buf.get_mut(..total) else {
        return Err(WireError::BufferTooSmall {
            needed: total,
            available,
        });
    };
    dst.fill(0);
    dst[0..2].copy_from_slice(&order.u16_bytes(len16));
    dst[2..4].copy_from_slice(&order.u16_bytes(kind));
    dst[NLA_HDRLEN..nla_len].copy_from_slice(value);
    Ok(total)
}

/// [`emit_attr_with_order`] in native order (for netlink sockets).
pub fn emit_attr(buf: &mut [u8], kind: u16, value: &[u8]) -> Result<usize> {
    emit_attr_with_order(buf, kind, value, ByteOrder::NATIVE)
}

/// Append one attribute to `out` in byte order `order`.
pub fn push_attr_with_order(
    out: &mut Vec<u8>,
    kind: u16,
    value: &[u8],
    order: ByteOrder,
) -> Result<usize> {
    let start = out.len();
    out.resize(start.saturating_add(attr_buffer_len(value.len())), 0);
    match emit_attr_with_order(&mut out[start..], kind, value, order) {
        Ok(n) => Ok(n),
        Err(e) => {
            out.truncate(start);
            Err(e)
        }
    }
}

/// Append one native-order attribute to `out`.
pub fn push_attr(out: &mut Vec<u8>, kind: u16, value: &[u8]) -> Result<usize> {
    push_attr_with_order(out, kind, value, ByteOrder::NATIVE)
}

/// Append a nested attribute: `fill` appends the inner attributes, after
/// which the outer length is patched. [`NLA_F_NESTED`] is set, as modern
/// kernels do.
pub fn push_nested_with_order(
    out: &mut Vec<u8>,
    kind: u16,
    order: ByteOrder,
    fill: impl FnOnce(&mut Vec<u8>) -> Result<()>,
) -> Result<usize> {
    let start = out.len();
    out.extend_from_slice(&[0u8; NLA_HDRLEN]);
    if let Err(e) = fill(out) {
        out.truncate(start);
        return Err(e);
    }
    let nla_len = out.len() - start;
    let Ok(len16) = u16::try_from(nla_len) else {
        out.truncate(start);
        return Err(WireError::LengthTooLarge {
            len: nla_len,
            max: usize::from(u16::MAX),
        });
    };
    out[start..start + 2].copy_from_slice(&order.u16_bytes(len16));
    out[start + 2..start + 4].copy_from_slice(&order.u16_bytes(kind | NLA_F_NESTED));
    out.resize(start + align4(nla_len), 0);
    Ok(out.len() - start)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ne(len: u16, kind: u16) -> [u8; 4] {
        let mut h = [0u8; 4];
        h[..2].copy_from_slice(&len.to_ne_bytes());
        h[2..].copy_from_slice(&kind.to_ne_bytes());
        h
    }

    #[test]
    fn parse_two_attrs_with_padding() {
        let mut buf = Vec::new();
        buf.extend_from_slice(&ne(5, 10));
        buf.extend_from_slice(&[b'x', 0, 0, 0]);
        buf.extend_from_slice(&ne(8, 2 | NLA_F_NET_BYTEORDER));
        buf.extend_from_slice(&[0, 0, 0, 0x2a]);
        let v: Vec<_> = NlaIter::new(&buf).collect::<Result<_>>().unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].kind(), 10);
        assert_eq!(v[0].value(), b"x");
        assert_eq!(v[0].u8().unwrap(), b'x');
        assert_eq!(v[1].kind(), 2);
        assert!(v[1].is_net_byteorder());
        assert!(!v[1].is_nested());
        assert_eq!(v[1].be_u32().unwrap(), 0x2a);
    }

    #[test]
    fn missing_final_padding_is_tolerated() {
        let mut buf = ne(5, 1).to_vec();
        buf.push(7);
        let v: Vec<_> = NlaIter::new(&buf).collect::<Result<_>>().unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].value(), &[7]);
    }

    #[test]
    fn truncated_header() {
        let buf = [1u8, 0, 0];
        let mut it = NlaIter::new(&buf);
        assert_eq!(
            it.next().unwrap().unwrap_err(),
            WireError::TruncatedAttrHeader { available: 3 }
        );
        assert!(it.next().is_none());
    }

    #[test]
    fn trailing_garbage_after_valid_attr() {
        let mut buf = ne(8, 1).to_vec();
        buf.extend_from_slice(&[0, 0, 0, 1, 0xff, 0xff]);
        let mut it = NlaIter::new(&buf);
        assert!(it.next().unwrap().is_ok());
        assert_eq!(
            it.next().unwrap().unwrap_err(),
            WireError::TruncatedAttrHeader { available: 2 }
        );
        assert!(it.next().is_none());
    }

    #[test]
    fn zero_length_attr_is_an_error_not_a_loop() {
        let buf = ne(0, 1);
        let mut it = NlaIter::new(&buf);
        assert_eq!(
            it.next().unwrap().unwrap_err(),
            WireError::AttrLenTooSmall { len: 0 }
        );
        assert!(it.next().is_none());
        let buf = ne(3, 1);
        assert_eq!(
            NlaView::new_checked(&buf[..]).unwrap_err(),
            WireError::AttrLenTooSmall { len: 3 }
        );
    }

    #[test]
    fn oversized_length() {
        let mut buf = ne(12, 1).to_vec();
        buf.extend_from_slice(&[0; 4]);
        let mut it = NlaIter::new(&buf);
        assert_eq!(
            it.next().unwrap().unwrap_err(),
            WireError::AttrOverrun {
                len: 12,
                available: 8
            }
        );
        assert!(it.next().is_none());
    }

    #[test]
    fn value_helpers_check_length() {
        let mut buf = ne(7, 3).to_vec();
        buf.extend_from_slice(&[1, 2, 3, 0]);
        let a = NlaView::new_checked(&buf[..]).unwrap();
        let want = WireError::BadAttrValueLen {
            kind: 3,
            expected: 4,
            actual: 3,
        };
        assert_eq!(a.be_u32().unwrap_err(), want);
        assert!(a.be_u16().is_err());
        assert!(a.be_u64().is_err());
        assert!(a.u8().is_err());
        assert!(a.ne_u32().is_err());
        assert!(a.check_min_len(3).is_ok());
        assert!(a.check_min_len(4).is_err());
    }

    #[test]
    fn be_u64_and_u16() {
        let mut out = Vec::new();
        push_attr(&mut out, 3, &0x0102_0304_0506_0708u64.to_be_bytes()).unwrap();
        push_attr(&mut out, 4, &0xbeefu16.to_be_bytes()).unwrap();
        assert_eq!(out.len(), 12 + 8);
        let v: Vec<_> = NlaIter::new(&out).collect::<Result<_>>().unwrap();
        assert_eq!(v[0].be_u64().unwrap(), 0x0102_0304_0506_0708);
        assert_eq!(v[1].be_u16().unwrap(), 0xbeef);
        assert_eq!(v[1].ne_u16().unwrap(), u16::from_ne_bytes([0xbe, 0xef]));
        assert_eq!(v[1].len(), 6);
        assert_eq!(v[1].total_len(), 8);
    }

    #[test]
    fn cstr_with_and_without_nul() {
        let mut out = Vec::new();
        push_attr(&mut out, 10, b"abc\0").unwrap();
        push_attr(&mut out, 10, b"abc").unwrap();
        push_attr(&mut out, 10, b"").unwrap();
        let v: Vec<_> = NlaIter::new(&out).collect::<Result<_>>().unwrap();
        assert_eq!(v[0].cstr(), b"abc");
        assert_eq!(v[1].cstr(), b"abc");
        assert_eq!(v[2].cstr(), b"");
        assert!(v[2].is_empty());
    }

    #[test]
    fn emit_into_slice_pads_and_checks_room() {
        let mut buf = [0xffu8; 8];
        assert_eq!(emit_attr(&mut buf, 9, &[1]).unwrap(), 8);
        assert_eq!(&buf[..4], &ne(5, 9));
        assert_eq!(&buf[4..], &[1, 0, 0, 0]);
        let mut small = [0u8; 7];
        assert_eq!(
            emit_attr(&mut small, 9, &[1]).unwrap_err(),
            WireError::BufferTooSmall {
                needed: 8,
                available: 7
            }
        );
        let big = vec![0u8; 70000];
        let mut out = Vec::new();
        assert!(matches!(
            push_attr(&mut out, 1, &big),
            Err(WireError::LengthTooLarge { .. })
        ));
        assert!(out.is_empty());
    }

    #[test]
    fn byte_order_is_honoured() {
        let mut out = Vec::new();
        push_attr_with_order(&mut out, 0x0102, &[9], ByteOrder::Big).unwrap();
        assert_eq!(&out[..4], &[0, 5, 1, 2]);
        let v = NlaIter::with_order(&out, ByteOrder::Big)
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(v.kind(), 0x0102);
        assert_eq!(v.byte_order(), ByteOrder::Big);
    }

    #[test]
    fn nested_round_trip() {
        let mut out = Vec::new();
        push_nested_with_order(&mut out, 20, ByteOrder::NATIVE, |o| {
            push_attr(o, 1, &0x8100u16.to_be_bytes())?;
            push_attr(o, 2, &5u16.to_be_bytes())?;
            Ok(())
        })
        .unwrap();
        let outer = NlaIter::new(&out).next().unwrap().unwrap();
        assert!(outer.is_nested());
        assert_eq!(outer.kind(), 20);
        let inner: Vec<_> = outer.nested().collect::<Result<_>>().unwrap();
        assert_eq!(inner[0].be_u16().unwrap(), 0x8100);
        assert_eq!(inner[1].be_u16().unwrap(), 5);
    }
}
