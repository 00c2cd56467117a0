//! Allocation-free text helpers for the filters' hot paths: decimal and hex numbers,
//! MAC strings and addresses written straight into a reused byte buffer, as ulogd2's
//! `sprintf` calls did.

use std::io::Write as _;
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

/// Appends an address as `inet_ntop` (glibc) prints it.
///
/// Rust's `Display` matches glibc for IPv4, and for IPv6 except the deprecated
/// IPv4-compatible form (`::a.b.c.d`, first 96 bits zero), which glibc prints in dotted
/// form when the seventh 16-bit word is not zero.
pub(crate) fn put_ip(buf: &mut Vec<u8>, addr: IpAddr) {
    match addr {
        IpAddr::V4(a) => {
            let _ = write!(buf, "{a}");
        }
        IpAddr::V6(a) => put_ip6(buf, &a),
    }
}

fn put_ip6(buf: &mut Vec<u8>, a: &Ipv6Addr) {
    let s = a.segments();
    if s[..6].iter().all(|&w| w == 0) && s[6] != 0 {
        let o = a.octets();
        let _ = write!(buf, "::{}.{}.{}.{}", o[12], o[13], o[14], o[15]);
    } else {
        let _ = write!(buf, "{a}");
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
}
