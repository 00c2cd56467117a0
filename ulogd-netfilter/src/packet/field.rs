//! What every packet view shares: byte ranges (`mod field` in each view, as in
//! smoltcp's `wire/`), big-endian reads and writes of them, the error of a buffer too
//! short for a header, and the Internet checksum used by `emit`.
//!
//! The contract of every view: `new_checked` (or `check_len`) verifies the buffer
//! holds the fixed header, after which no accessor panics; variable parts (options,
//! extension data, payload) are clamped to the bytes really present. `Repr::emit`
//! needs `Repr::buffer_len()` bytes.

use thiserror::Error;

/// A byte range of a header.
pub type Field = core::ops::Range<usize>;

/// A buffer too short for the header a view was asked to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PacketError {
    /// Fewer bytes than the fixed header.
    #[error("truncated {header} header: {have} bytes, need {need}")]
    Truncated {
        /// Which header.
        header: &'static str,
        /// Bytes it needs.
        need: usize,
        /// Bytes there were.
        have: usize,
    },
    /// A header field contradicts the bytes (wrong version, length below the minimum).
    #[error("malformed {header} header: {what}")]
    Malformed {
        /// Which header.
        header: &'static str,
        /// What is wrong.
        what: &'static str,
    },
}

/// Checks that `b` holds at least `need` bytes of header `header`.
#[inline]
pub(crate) fn check(b: &[u8], need: usize, header: &'static str) -> Result<(), PacketError> {
    if b.len() < need {
        Err(PacketError::Truncated {
            header,
            need,
            have: b.len(),
        })
    } else {
        Ok(())
    }
}

/// Big-endian u16 at `f` (in bounds by the view's check).
#[inline]
pub(crate) fn be16(b: &[u8], f: Field) -> u16 {
    let mut a = [0; 2];
    a.copy_from_slice(&b[f]);
    u16::from_be_bytes(a)
}

/// Big-endian u32 at `f`.
#[inline]
pub(crate) fn be32(b: &[u8], f: Field) -> u32 {
    let mut a = [0; 4];
    a.copy_from_slice(&b[f]);
    u32::from_be_bytes(a)
}

/// `N` bytes at `f`.
#[inline]
pub(crate) fn bytes<const N: usize>(b: &[u8], f: Field) -> [u8; N] {
    let mut a = [0; N];
    a.copy_from_slice(&b[f]);
    a
}

/// Writes big-endian `v` at `f`.
#[inline]
pub(crate) fn put16(b: &mut [u8], f: Field, v: u16) {
    b[f].copy_from_slice(&v.to_be_bytes())
}

/// Writes big-endian `v` at `f`.
#[inline]
pub(crate) fn put32(b: &mut [u8], f: Field, v: u32) {
    b[f].copy_from_slice(&v.to_be_bytes())
}

/// The Internet checksum (RFC 1071) of `data`.
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The boilerplate of a checked view over a header of at least `$min` bytes.
macro_rules! view {
    ($(#[$m:meta])* $name:ident, $min:expr, $what:literal) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name<T: AsRef<[u8]>> {
            buffer: T,
        }

        impl<T: AsRef<[u8]>> $name<T> {
            /// Bytes of the fixed header.
            pub const HEADER_LEN: usize = $min;

            /// Wraps `buffer` without checking it (accessors may then panic).
            pub const fn new_unchecked(buffer: T) -> Self {
                $name { buffer }
            }

            /// Wraps `buffer` after checking it holds the fixed header.
            pub fn new_checked(buffer: T) -> Result<Self, $crate::packet::PacketError> {
                let p = Self::new_unchecked(buffer);
                p.check_len()?;
                Ok(p)
            }

            /// Whether the buffer holds the fixed header.
            pub fn check_len(&self) -> Result<(), $crate::packet::PacketError> {
                $crate::packet::field::check(self.buffer.as_ref(), $min, $what)
            }

            /// The wrapped buffer.
            pub fn into_inner(self) -> T {
                self.buffer
            }

            #[inline]
            fn b(&self) -> &[u8] {
                self.buffer.as_ref()
            }
        }
    };
}
pub(crate) use view;
