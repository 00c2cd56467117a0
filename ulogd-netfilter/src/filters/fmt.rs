//! Allocation-free text helpers for the filters' hot paths: decimal and hex numbers,
//! MAC strings and addresses written straight into a reused byte buffer, as ulogd2's
//! `sprintf` calls did.

use std::net::{IpAddr, Ipv6Addr};

/// Appends `v` in decimal.
#[inline]
pub(crate) fn put_u64(buf: &mut Vec<u8>, mut v: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}

const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";
const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Appends `v` in hexadecimal without prefix, at least `width` digits (`%0<width>x`).
#[inline]
pub(crate) fn put_hex(buf: &mut Vec<u8>, mut v: u64, width: usize, upper: bool) {
    let digits = if upper { HEX_UPPER } else { HEX_LOWER };
    let mut tmp = [0u8; 16];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = digits[(v & 0xf) as usize];
        v >>= 4;
        if v == 0 {
            break;
        }
    }
    let n = tmp.len() - i;
    for _ in n..width.min(16) {
        buf.push(b'0');
    }
    buf.extend_from_slice(&tmp[i..]);
}

/// Appends one byte as two lower-case hex digits (`%02x`).
#[inline]
pub(crate) fn put_hex2(buf: &mut Vec<u8>, b: u8) {
    buf.push(HEX_LOWER[(b >> 4) as usize]);
    buf.push(HEX_LOWER[(b & 0xf) as usize]);
}

/// Appends `bytes` as `aa:bb:cc` (HWHDR's and PRINTPKT's MAC format, without the
/// final separator).
pub(crate) fn put_mac(buf: &mut Vec<u8>, bytes: &[u8]) {
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            buf.push(b':');
        }
        put_hex2(buf, *b);
    }
}

/// Appends `v` in decimal (one to three digits).
#[inline]
pub(crate) fn put_u8(buf: &mut Vec<u8>, v: u8) {
    if v >= 100 {
        let r = v % 100;
        buf.extend_from_slice(&[b'0' + v / 100, b'0' + r / 10, b'0' + r % 10]);
    } else if v >= 10 {
        buf.extend_from_slice(&[b'0' + v / 10, b'0' + v % 10]);
    } else {
        buf.push(b'0' + v);
    }
}

/// Appends an IPv4 address in dotted decimal.
#[inline]
pub(crate) fn put_ip4(buf: &mut Vec<u8>, o: [u8; 4]) {
    put_u8(buf, o[0]);
    for b in &o[1..] {
        buf.push(b'.');
        put_u8(buf, *b);
    }
}

/// Appends an address as `inet_ntop` (glibc) prints it.
///
/// Written out rather than through `Display`: `core::fmt` was a tenth of the NFLOG
/// hot path's profile (IP2STR, PRINTPKT). IPv6 follows glibc's `inet_ntop6` step by
/// step (the first longest run of two or more zero words becomes `::`; the
/// IPv4-mapped and deprecated IPv4-compatible forms end in dotted decimal), which the
/// tests check against the C library itself.
pub(crate) fn put_ip(buf: &mut Vec<u8>, addr: IpAddr) {
    match addr {
        IpAddr::V4(a) => put_ip4(buf, a.octets()),
        IpAddr::V6(a) => put_ip6(buf, &a),
    }
}

fn put_ip6(buf: &mut Vec<u8>, a: &Ipv6Addr) {
    let w = a.segments();
    // The first longest run of zero words, if at least two long.
    let (mut best, mut best_len) = (usize::MAX, 0usize);
    let mut i = 0;
    while i < 8 {
        if w[i] == 0 {
            let start = i;
            while i < 8 && w[i] == 0 {
                i += 1;
            }
            if i - start > best_len {
                (best, best_len) = (start, i - start);
            }
        } else {
            i += 1;
        }
    }
    if best_len < 2 {
        best = usize::MAX;
    }
    let mut i = 0;
    while i < 8 {
        if i == best {
            buf.push(b':');
            i += best_len;
            if i == 8 {
                buf.push(b':');
            }
            continue;
        }
        if i != 0 {
            buf.push(b':');
        }
        if i == 6 && best == 0 && (best_len == 6 || (best_len == 5 && w[5] == 0xffff)) {
            let o = a.octets();
            put_ip4(buf, [o[12], o[13], o[14], o[15]]);
            return;
        }
        put_hex(buf, w[i] as u64, 0, false);
        i += 1;
    }
}

/// The part of a C string before its first NUL (keys that came from the kernel may
/// carry the terminator; ulogd2 printed them with `%s`).
#[inline]
pub(crate) fn cstr(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
        Some(n) => &b[..n],
        None => b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        let mut b = Vec::new();
        put_u64(&mut b, 0);
        b.push(b' ');
        put_u64(&mut b, u64::MAX);
        b.push(b' ');
        put_hex(&mut b, 0x2a, 0, false);
        b.push(b' ');
        put_hex(&mut b, 0xc0, 2, true);
        b.push(b' ');
        put_hex(&mut b, 0, 2, true);
        b.push(b' ');
        put_hex(&mut b, 0x1234, 8, false);
        assert_eq!(b, b"0 18446744073709551615 2a C0 00 00001234");
    }

    #[test]
    fn addresses() {
        let mut b = Vec::new();
        for a in [
            "10.77.0.1",
            "fd77::1",
            "::1",
            "::",
            "::ffff:1.2.3.4",
            "::1.2.3.4",
            "fe80::6cc2:39ff:fe15:32de",
        ] {
            b.clear();
            put_ip(&mut b, a.parse().unwrap());
            assert_eq!(std::str::from_utf8(&b).unwrap(), a);
        }
        b.clear();
        put_mac(&mut b, &[0x02, 0, 0xab]);
        assert_eq!(b, b"02:00:ab");
        assert_eq!(cstr(b"abc\0def"), b"abc");
    }

    #[allow(unsafe_code)]
    extern "C" {
        fn inet_ntop(
            af: libc::c_int,
            src: *const libc::c_void,
            dst: *mut libc::c_char,
            size: libc::socklen_t,
        ) -> *const libc::c_char;
    }

    /// The C library's own text of `a` (glibc's `inet_ntop`).
    #[allow(unsafe_code)]
    fn libc_ntop(a: &IpAddr) -> String {
        let mut out = [0u8; 64];
        let (af, bytes): (i32, Vec<u8>) = match a {
            IpAddr::V4(x) => (libc::AF_INET, x.octets().to_vec()),
            IpAddr::V6(x) => (libc::AF_INET6, x.octets().to_vec()),
        };
        // SAFETY: `bytes` holds an in_addr/in6_addr of the family given and `out` is
        // larger than INET6_ADDRSTRLEN; inet_ntop writes a NUL-terminated string.
        let p = unsafe {
            inet_ntop(
                af,
                bytes.as_ptr().cast(),
                out.as_mut_ptr().cast(),
                out.len() as libc::socklen_t,
            )
        };
        assert!(!p.is_null());
        let n = out.iter().position(|&b| b == 0).unwrap();
        String::from_utf8(out[..n].to_vec()).unwrap()
    }

    #[test]
    fn addresses_like_glibc() {
        // Every IPv6 shape that matters is a pattern of zero and non-zero words:
        // all 256 patterns, each with a few word values (incl. 0xffff in word 5 for
        // the IPv4-mapped form), and a spread of IPv4 addresses.
        let mut b = Vec::new();
        let mut n = 0;
        for pattern in 0u32..256 {
            for v in [1u16, 0xffff, 0x0a0b, 0x100] {
                let mut w = [0u16; 8];
                for (i, x) in w.iter_mut().enumerate() {
                    if pattern & (1 << i) != 0 {
                        *x = v.wrapping_add(i as u16 * 0x1111);
                    }
                }
                for five in [w[5], 0xffff] {
                    let mut w = w;
                    w[5] = five;
                    let a = IpAddr::V6(Ipv6Addr::from(w));
                    b.clear();
                    put_ip(&mut b, a);
                    assert_eq!(std::str::from_utf8(&b).unwrap(), libc_ntop(&a), "{w:x?}");
                    n += 1;
                }
            }
        }
        let mut x: u32 = 0x9e37_79b9;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let a = IpAddr::V4(x.into());
            b.clear();
            put_ip(&mut b, a);
            assert_eq!(std::str::from_utf8(&b).unwrap(), libc_ntop(&a));
            n += 1;
        }
        for v in [0u8, 9, 10, 99, 100, 199, 200, 255] {
            b.clear();
            put_u8(&mut b, v);
            assert_eq!(b, v.to_string().as_bytes());
        }
        assert!(n > 22_000);
    }
}
