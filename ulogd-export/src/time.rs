//! Local-time helpers shared by the outputs (no allocation, libc `localtime_r` for
//! the offset, our own civil calendar for the fields so tests can inject an offset).

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

const NO_OVERRIDE: i64 = i64::MIN;
static OFFSET_OVERRIDE: AtomicI64 = AtomicI64::new(NO_OVERRIDE);

/// Forces the UTC offset (seconds east of UTC) every output uses instead of the
/// system time zone; `None` restores `localtime_r`. Meant for tests that compare
/// against captures made on a UTC host, since changing `TZ` in a multi-threaded test
/// process is not safe.
#[doc(hidden)]
pub fn set_utc_offset_override(offset: Option<i32>) {
    OFFSET_OVERRIDE.store(offset.map_or(NO_OVERRIDE, i64::from), Ordering::SeqCst);
}

/// Broken-down local time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tm {
    pub year: i64,
    /// 1..=12
    pub mon: u32,
    pub mday: u32,
    pub hour: u32,
    pub min: u32,
    pub sec: u32,
    /// 0 = Sunday, like `tm_wday`.
    pub wday: u32,
    /// Seconds east of UTC.
    pub gmtoff: i32,
}

/// Current time as (seconds, microseconds).
pub(crate) fn now() -> (i64, u32) {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_secs() as i64, d.subsec_micros())
}

/// The local UTC offset at `secs` (libc's `tm_gmtoff`, or the test override).
pub(crate) fn local_offset(secs: i64) -> i32 {
    let o = OFFSET_OVERRIDE.load(Ordering::Relaxed);
    if o != NO_OVERRIDE {
        return o as i32;
    }
    let t = secs as libc::time_t;
    // SAFETY: localtime_r writes into the zeroed tm we own.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return 0;
        }
        tm.tm_gmtoff as i32
    }
}

/// Local time of `secs`.
pub(crate) fn localtime(secs: i64) -> Tm {
    let off = local_offset(secs);
    broken_down(secs, off)
}

/// Caches the local UTC offset per quarter hour (offsets change on such boundaries),
/// so the hot path calls `localtime_r` about once per 15 minutes, not per event.
#[derive(Default)]
pub(crate) struct OffsetCache {
    bucket: i64,
    offset: i32,
    valid: bool,
}

impl OffsetCache {
    /// The offset of `secs`.
    pub(crate) fn get(&mut self, secs: i64) -> i32 {
        let b = secs.div_euclid(900);
        if !self.valid || b != self.bucket {
            self.bucket = b;
            self.offset = local_offset(secs);
            self.valid = true;
        }
        self.offset
    }

    /// `secs` as local calendar time.
    pub(crate) fn localtime(&mut self, secs: i64) -> Tm {
        broken_down(secs, self.get(secs))
    }
}

/// `secs` shifted by `gmtoff` and split into calendar fields.
pub(crate) fn broken_down(secs: i64, gmtoff: i32) -> Tm {
    let t = secs + gmtoff as i64;
    let days = t.div_euclid(86400);
    let rem = t.rem_euclid(86400) as u32;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let mday = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let mon = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + if mon <= 2 { 1 } else { 0 };
    let wday = (days + 4).rem_euclid(7) as u32;
    Tm {
        year,
        mon,
        mday,
        hour: rem / 3600,
        min: rem / 60 % 60,
        sec: rem % 60,
        wday,
        gmtoff,
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `ctime()+4` cut to 15 characters: `Mon DD HH:MM:SS` (day space-padded).
///
/// By hand, not `write!`: LOGEMU writes this once per line.
pub(crate) fn write_syslog_time(out: &mut Vec<u8>, tm: &Tm) {
    let two = |v: u32, pad: u8| {
        let v = v % 100;
        [
            if v >= 10 { b'0' + (v / 10) as u8 } else { pad },
            b'0' + (v % 10) as u8,
        ]
    };
    let month = MONTHS[(tm.mon.clamp(1, 12) - 1) as usize].as_bytes();
    let [d1, d2] = two(tm.mday, b' ');
    let [h1, h2] = two(tm.hour, b'0');
    let [m1, m2] = two(tm.min, b'0');
    let [s1, s2] = two(tm.sec, b'0');
    out.extend_from_slice(month);
    out.extend_from_slice(&[b' ', d1, d2, b' ', h1, h2, b':', m1, m2, b':', s1, s2]);
}

/// The host name cut at the first `.` (as LOGEMU prints it).
pub(crate) fn short_hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let r = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if r != 0 {
        return "localhost".to_string();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = String::from_utf8_lossy(&buf[..end]).into_owned();
    match name.split_once('.') {
        Some((s, _)) => s.to_string(),
        None => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        // 2026-11-24T22:24:29Z is a Tuesday.
        let tm = broken_down(1_795_559_069, 0);
        assert_eq!(
            (tm.year, tm.mon, tm.mday, tm.hour, tm.min, tm.sec, tm.wday),
            (2026, 11, 24, 22, 24, 29, 2)
        );
        let tm = broken_down(0, 0);
        assert_eq!((tm.year, tm.mon, tm.mday, tm.wday), (1970, 1, 1, 4));
        let tm = broken_down(951_782_400, 0); // 2000-02-29
        assert_eq!((tm.year, tm.mon, tm.mday), (2000, 2, 29));
        let tm = broken_down(-1, 0);
        assert_eq!((tm.year, tm.mon, tm.mday, tm.hour), (1969, 12, 31, 23));
        let tm = broken_down(1_795_559_069, 3600);
        assert_eq!((tm.hour, tm.gmtoff), (23, 3600));
    }

    #[test]
    fn syslog_time() {
        let mut v = Vec::new();
        write_syslog_time(&mut v, &broken_down(1_795_559_069, 0));
        assert_eq!(v, b"Nov 24 22:24:29");
        v.clear();
        write_syslog_time(&mut v, &broken_down(1_772_668_800, 0)); // 2026-03-05
        assert_eq!(v, b"Mar  5 00:00:00");
        for k in 0..5000i64 {
            let tm = broken_down(k * 7_777_777, 0);
            let want = format!(
                "{} {:>2} {:02}:{:02}:{:02}",
                MONTHS[(tm.mon - 1) as usize],
                tm.mday,
                tm.hour,
                tm.min,
                tm.sec
            );
            v.clear();
            write_syslog_time(&mut v, &tm);
            assert_eq!(String::from_utf8(v.clone()).unwrap(), want);
        }
    }

    #[test]
    fn offset_cache_matches_localtime() {
        let mut c = OffsetCache::default();
        for k in 0..200i64 {
            let secs = 1_700_000_000 + k * 86_399;
            let (a, b) = (c.localtime(secs), localtime(secs));
            assert_eq!(
                (a.year, a.mon, a.mday, a.hour, a.min, a.sec),
                (b.year, b.mon, b.mday, b.hour, b.min, b.sec)
            );
        }
    }
}
