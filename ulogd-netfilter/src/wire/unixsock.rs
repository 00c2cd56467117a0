//! The UNIXSOCK frame: ulogd2's (and NuFW's) protocol for handing packets to the
//! daemon over a unix stream socket.
//!
//! All multi-byte header fields are big-endian:
//!
//! ```text
//! u32 marker 0x41c90fd4 | u16 total_size (bytes after the marker)
//! u32 version:4 reserved:28 | u16 payload_length
//! payload (a raw IPv4/IPv6 packet), padded to a multiple of 8
//! options: { u32 id, u32 length, value padded to 8 } until the frame ends
//! ```
//!
//! Option values are NUL-terminated strings, except the time (id 4) and the user id
//! (201), which ulogd2 reads as a `u32` in the *sender's* byte order (it casts the
//! buffer), and the state (206), one byte. ulogd2 parses options with no bounds
//! checks; here every length is checked, and a frame that lies about a length is a
//! [`UnixsockError`], so the source can disconnect that client.
//!
//! [`frame_len`] tells a stream reader how many bytes the next frame occupies (or
//! that the header is not complete yet), [`UnixsockRepr::parse`] reads one frame
//! into borrowed slices, and [`UnixsockRepr::emit`] writes one (tests and clients).

use thiserror::Error;

/// The marker that starts every frame.
pub const MARKER: u32 = 0x41c9_0fd4;
/// Bytes before the payload: marker, total size, version word, payload length.
pub const HEADER_LEN: usize = 12;

/// Option ids (ulogd2's `enum ulogd2_option_type`).
pub mod opt {
    /// Log prefix (string).
    pub const PREFIX: u32 = 1;
    /// Input device name (string).
    pub const OOB_IN: u32 = 2;
    /// Output device name (string).
    pub const OOB_OUT: u32 = 3;
    /// Arrival time, seconds (u32, sender's byte order).
    pub const TIME_SEC: u32 = 4;
    /// User name (string).
    pub const USER: u32 = 200;
    /// User id (u32, sender's byte order).
    pub const USERID: u32 = 201;
    /// OS name (string).
    pub const OSNAME: u32 = 202;
    /// OS release (string).
    pub const OSREL: u32 = 203;
    /// OS version (string).
    pub const OSVERS: u32 = 204;
    /// Application name (string).
    pub const APPNAME: u32 = 205;
    /// Connection state, one byte (0 drop, 1 open, 2 established, 3 close, 4 unknown).
    pub const STATE: u32 = 206;
}

/// What can be wrong with a UNIXSOCK frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum UnixsockError {
    /// The first four bytes are not [`MARKER`]: the stream is not (or no longer)
    /// in step.
    #[error("bad frame marker {found:#010x} (expected 0x41c90fd4)")]
    BadMarker {
        /// What was there.
        found: u32,
    },
    /// `total_size` is smaller than the fixed header after the marker.
    #[error("frame size {total} is smaller than its 8-byte header")]
    FrameTooSmall {
        /// The `total_size` field.
        total: u16,
    },
    /// The payload length reaches past the end of the frame.
    #[error("payload of {payload} bytes does not fit a frame of {frame} bytes")]
    PayloadOverrun {
        /// The `payload_length` field.
        payload: u16,
        /// The frame's length.
        frame: usize,
    },
    /// An option header or value reaches past the end of the frame.
    #[error("option {id} at offset {offset} overruns the frame ({frame} bytes)")]
    OptionOverrun {
        /// Option id (0 when even the header is cut).
        id: u32,
        /// Offset of the option in the frame.
        offset: usize,
        /// The frame's length.
        frame: usize,
    },
    /// A fixed-size option has the wrong length.
    #[error("option {id} has length {len}, expected {expected}")]
    OptionLength {
        /// Option id.
        id: u32,
        /// Its length.
        len: u32,
        /// The length it must have.
        expected: u32,
    },
    /// The buffer given to `parse` is shorter than the frame it starts.
    #[error("frame of {needed} bytes, only {available} given")]
    Truncated {
        /// Bytes the frame occupies.
        needed: usize,
        /// Bytes given.
        available: usize,
    },
    /// `emit` was given values that do not fit the 16-bit length fields.
    #[error("frame too large to encode ({len} bytes, at most 65539)")]
    TooLarge {
        /// The length it would have had.
        len: usize,
    },
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

const fn align8(n: usize) -> usize {
    (n + 7) & !7
}

/// How many bytes the frame at the start of `buf` occupies (marker included), or
/// `Ok(None)` when fewer than the 6 bytes of marker and size have arrived yet.
/// A wrong marker or an impossible size is an error at once, so a client that sends
/// garbage is found without waiting for more bytes.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, UnixsockError> {
    if buf.len() < 4 {
        // Check what has arrived of the marker: garbage is refused early.
        let m = MARKER.to_be_bytes();
        if buf != &m[..buf.len()] {
            let mut b = [0u8; 4];
            b[..buf.len()].copy_from_slice(buf);
            return Err(UnixsockError::BadMarker {
                found: u32::from_be_bytes(b),
            });
        }
        return Ok(None);
    }
    let marker = be32(buf, 0);
    if marker != MARKER {
        return Err(UnixsockError::BadMarker { found: marker });
    }
    if buf.len() < 6 {
        return Ok(None);
    }
    let total = be16(buf, 4);
    if usize::from(total) < HEADER_LEN - 4 {
        return Err(UnixsockError::FrameTooSmall { total });
    }
    Ok(Some(4 + usize::from(total)))
}

/// One frame's meaning, borrowing the frame's bytes. Strings are cut at their NUL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UnixsockRepr<'a> {
    /// The version nibble (ulogd2 ignores it; kept for emit).
    pub version: u8,
    /// The raw packet.
    pub payload: &'a [u8],
    /// Option 1.
    pub prefix: Option<&'a [u8]>,
    /// Option 2.
    pub indev: Option<&'a [u8]>,
    /// Option 3.
    pub outdev: Option<&'a [u8]>,
    /// Option 4.
    pub time_sec: Option<u32>,
    /// Option 200.
    pub user: Option<&'a [u8]>,
    /// Option 201.
    pub user_id: Option<u32>,
    /// Option 202.
    pub os_name: Option<&'a [u8]>,
    /// Option 203.
    pub os_rel: Option<&'a [u8]>,
    /// Option 204.
    pub os_vers: Option<&'a [u8]>,
    /// Option 205.
    pub app: Option<&'a [u8]>,
    /// Option 206.
    pub state: Option<u8>,
    /// Options with an id this codec does not know (counted, skipped).
    pub unknown: u16,
}

fn cstr(v: &[u8]) -> &[u8] {
    match v.iter().position(|&b| b == 0) {
        Some(n) => &v[..n],
        None => v,
    }
}

fn native_u32(id: u32, v: &[u8]) -> Result<u32, UnixsockError> {
    match <[u8; 4]>::try_from(v) {
        Ok(b) => Ok(u32::from_ne_bytes(b)),
        Err(_) => Err(UnixsockError::OptionLength {
            id,
            len: v.len() as u32,
            expected: 4,
        }),
    }
}

impl<'a> UnixsockRepr<'a> {
    /// Parses the frame at the start of `buf` (which may hold more after it).
    pub fn parse(buf: &'a [u8]) -> Result<UnixsockRepr<'a>, UnixsockError> {
        let len = match frame_len(buf)? {
            Some(n) if buf.len() >= n && buf.len() >= HEADER_LEN => n,
            Some(n) => {
                return Err(UnixsockError::Truncated {
                    needed: n.max(HEADER_LEN),
                    available: buf.len(),
                })
            }
            None => {
                return Err(UnixsockError::Truncated {
                    needed: HEADER_LEN,
                    available: buf.len(),
                })
            }
        };
        let f = &buf[..len];
        let plen = be16(f, 10);
        let p_end = HEADER_LEN + usize::from(plen);
        if p_end > len {
            return Err(UnixsockError::PayloadOverrun {
                payload: plen,
                frame: len,
            });
        }
        let mut r = UnixsockRepr {
            version: f[6] >> 4,
            payload: &f[HEADER_LEN..p_end],
            ..UnixsockRepr::default()
        };
        // Options start at the next multiple of 8 after the payload (relative to the
        // payload's start, as the sender pads it); a frame may end inside that pad.
        let mut at = HEADER_LEN + align8(usize::from(plen));
        while at < len {
            if at + 8 > len {
                return Err(UnixsockError::OptionOverrun {
                    id: 0,
                    offset: at,
                    frame: len,
                });
            }
            let id = be32(f, at);
            let vlen = be32(f, at + 4) as usize;
            let v_start = at + 8;
            let v_end = v_start.checked_add(vlen).filter(|&e| e <= len).ok_or(
                UnixsockError::OptionOverrun {
                    id,
                    offset: at,
                    frame: len,
                },
            )?;
            let v = &f[v_start..v_end];
            match id {
                opt::PREFIX => r.prefix = Some(cstr(v)),
                opt::OOB_IN => r.indev = Some(cstr(v)),
                opt::OOB_OUT => r.outdev = Some(cstr(v)),
                opt::TIME_SEC => r.time_sec = Some(native_u32(id, v)?),
                opt::USER => r.user = Some(cstr(v)),
                opt::USERID => r.user_id = Some(native_u32(id, v)?),
                opt::OSNAME => r.os_name = Some(cstr(v)),
                opt::OSREL => r.os_rel = Some(cstr(v)),
                opt::OSVERS => r.os_vers = Some(cstr(v)),
                opt::APPNAME => r.app = Some(cstr(v)),
                opt::STATE => match v.first() {
                    Some(&s) => r.state = Some(s),
                    None => {
                        return Err(UnixsockError::OptionLength {
                            id,
                            len: 0,
                            expected: 1,
                        })
                    }
                },
                _ => r.unknown = r.unknown.saturating_add(1),
            }
            // The last option's padding may be cut off by the frame's end.
            at = v_start.saturating_add(align8(vlen));
        }
        Ok(r)
    }

    /// The options in id order, as (id, value bytes) — strings get their NUL.
    fn options(&self) -> Vec<(u32, Vec<u8>)> {
        let s = |v: &[u8]| {
            let mut o = v.to_vec();
            o.push(0);
            o
        };
        let mut out = Vec::new();
        let strs = [
            (opt::PREFIX, self.prefix),
            (opt::OOB_IN, self.indev),
            (opt::OOB_OUT, self.outdev),
        ];
        for (id, v) in strs {
            if let Some(v) = v {
                out.push((id, s(v)));
            }
        }
        if let Some(t) = self.time_sec {
            out.push((opt::TIME_SEC, t.to_ne_bytes().to_vec()));
        }
        if let Some(v) = self.user {
            out.push((opt::USER, s(v)));
        }
        if let Some(u) = self.user_id {
            out.push((opt::USERID, u.to_ne_bytes().to_vec()));
        }
        for (id, v) in [
            (opt::OSNAME, self.os_name),
            (opt::OSREL, self.os_rel),
            (opt::OSVERS, self.os_vers),
            (opt::APPNAME, self.app),
        ] {
            if let Some(v) = v {
                out.push((id, s(v)));
            }
        }
        if let Some(st) = self.state {
            out.push((opt::STATE, vec![st]));
        }
        out
    }

    /// Appends the frame to `out` (as NuFW and ulogd2's sample client write it).
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), UnixsockError> {
        let opts = self.options();
        let body = align8(self.payload.len())
            + opts.iter().map(|(_, v)| 8 + align8(v.len())).sum::<usize>();
        let total = 8 + body;
        if total > usize::from(u16::MAX) || self.payload.len() > usize::from(u16::MAX) {
            return Err(UnixsockError::TooLarge { len: total + 4 });
        }
        out.extend_from_slice(&MARKER.to_be_bytes());
        out.extend_from_slice(&(total as u16).to_be_bytes());
        out.extend_from_slice(&(u32::from(self.version & 0xf) << 28).to_be_bytes());
        out.extend_from_slice(&(self.payload.len() as u16).to_be_bytes());
        out.extend_from_slice(self.payload);
        out.resize(
            out.len() + align8(self.payload.len()) - self.payload.len(),
            0,
        );
        for (id, v) in opts {
            out.extend_from_slice(&id.to_be_bytes());
            out.extend_from_slice(&(v.len() as u32).to_be_bytes());
            out.extend_from_slice(&v);
            out.resize(out.len() + align8(v.len()) - v.len(), 0);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The frame ulogd2's sample client (`unixsock-client.py`) sends: a UDP packet
    /// 10.0.0.1:5555 → 10.0.0.2:53 with prefix, devices, user, uid, app and state.
    pub(crate) fn sample_frame() -> Vec<u8> {
        include_bytes!("../../tests/fixtures/unixsock/sample-frame.bin").to_vec()
    }

    #[test]
    fn parses_the_sample_client_frame() {
        let f = sample_frame();
        assert_eq!(frame_len(&f).unwrap(), Some(f.len()));
        let r = UnixsockRepr::parse(&f).unwrap();
        assert_eq!(r.payload.len(), 33);
        assert_eq!(r.payload[0], 0x45);
        assert_eq!(r.prefix, Some(&b"unixsock-prefix"[..]));
        assert_eq!(r.indev, Some(&b"eth0"[..]));
        assert_eq!(r.outdev, Some(&b""[..]));
        assert_eq!(r.user, Some(&b"alice"[..]));
        assert_eq!(r.user_id, Some(1000));
        assert_eq!(r.app, Some(&b"firefox"[..]));
        assert_eq!(r.state, Some(1));
        assert_eq!(r.time_sec, None);
        assert_eq!(r.unknown, 0);
    }

    #[test]
    fn emit_round_trips_and_matches_the_sample_client() {
        let f = sample_frame();
        let r = UnixsockRepr::parse(&f).unwrap();
        let mut out = Vec::new();
        r.emit(&mut out).unwrap();
        assert_eq!(out, f, "emit writes what ulogd2's sample client writes");
        let with_time = UnixsockRepr {
            time_sec: Some(1_700_000_000),
            os_name: Some(b"Linux"),
            ..r
        };
        out.clear();
        with_time.emit(&mut out).unwrap();
        assert_eq!(UnixsockRepr::parse(&out).unwrap(), with_time);
    }

    #[test]
    fn incomplete_headers_wait_and_garbage_is_refused_early() {
        let f = sample_frame();
        for n in 0..6 {
            assert_eq!(frame_len(&f[..n]).unwrap(), None, "{n} bytes");
        }
        assert!(matches!(
            frame_len(b"GE"),
            Err(UnixsockError::BadMarker { .. })
        ));
        assert!(matches!(
            frame_len(b"GET / HTTP/1.0\r\n"),
            Err(UnixsockError::BadMarker { found: 0x4745_5420 })
        ));
        let mut small = f.clone();
        small[4..6].copy_from_slice(&7u16.to_be_bytes());
        assert_eq!(
            frame_len(&small),
            Err(UnixsockError::FrameTooSmall { total: 7 })
        );
        assert!(matches!(
            UnixsockRepr::parse(&f[..20]),
            Err(UnixsockError::Truncated { .. })
        ));
    }

    #[test]
    fn lying_lengths_are_errors_not_panics() {
        let f = sample_frame();
        // Payload longer than the frame.
        let mut p = f.clone();
        p[10..12].copy_from_slice(&0xfff0u16.to_be_bytes());
        assert!(matches!(
            UnixsockRepr::parse(&p),
            Err(UnixsockError::PayloadOverrun { .. })
        ));
        // An option value longer than the frame (first option's length at 12+40+4).
        let mut o = f.clone();
        let at = HEADER_LEN + 40 + 4;
        o[at..at + 4].copy_from_slice(&0xffff_fff0u32.to_be_bytes());
        assert!(matches!(
            UnixsockRepr::parse(&o),
            Err(UnixsockError::OptionOverrun { id: 1, .. })
        ));
        // A uid of the wrong size.
        let bad = UnixsockRepr {
            payload: b"\x45",
            ..UnixsockRepr::default()
        };
        let mut out = Vec::new();
        bad.emit(&mut out).unwrap();
        out.extend_from_slice(&201u32.to_be_bytes());
        out.extend_from_slice(&2u32.to_be_bytes());
        out.extend_from_slice(&[1, 2, 0, 0, 0, 0, 0, 0]);
        let total = (out.len() - 4) as u16;
        out[4..6].copy_from_slice(&total.to_be_bytes());
        assert!(matches!(
            UnixsockRepr::parse(&out),
            Err(UnixsockError::OptionLength { id: 201, .. })
        ));
    }

    #[test]
    fn unknown_options_are_counted_and_skipped() {
        let r = UnixsockRepr {
            payload: b"\x60\0\0\0",
            prefix: Some(b"p"),
            ..UnixsockRepr::default()
        };
        let mut out = Vec::new();
        r.emit(&mut out).unwrap();
        out.extend_from_slice(&99u32.to_be_bytes());
        out.extend_from_slice(&3u32.to_be_bytes());
        out.extend_from_slice(b"abc\0\0\0\0\0");
        let total = (out.len() - 4) as u16;
        out[4..6].copy_from_slice(&total.to_be_bytes());
        let p = UnixsockRepr::parse(&out).unwrap();
        assert_eq!(p.unknown, 1);
        assert_eq!(p.prefix, Some(&b"p"[..]));
    }
}
