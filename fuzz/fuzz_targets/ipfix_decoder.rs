//! The IPFIXCOL decoder as it runs, beyond `wire::walk`: templates learnt,
//! refreshed, withdrawn and expired across messages from a few exporters, bounds
//! on templates and exporters, sequence accounting, and every data record filled
//! into the collector's keys. The input is a stream of chunks
//! `[flags][len: u16][len bytes]`; `flags` picks the exporter (bits 0-1), makes the
//! callback refuse after one record so the message is resumed with `skip` (bit
//! 2), and advances the clock by `flags >> 3` seconds. Any panic is a bug, and the
//! bounds must hold.
#![no_main]

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use ulogd_export::ipfix::collector::{fill, output_keys, Decoder, KeySink, Limits};

/// Checks every write lands on a declared key.
struct Sink {
    n: usize,
}

impl Sink {
    fn check(&self, o: usize) {
        assert!(o < self.n, "output {o} of {}", self.n);
    }
}

impl KeySink for Sink {
    fn set_u64(&mut self, o: usize, _: u64) {
        self.check(o)
    }
    fn set_u32(&mut self, o: usize, _: u32) {
        self.check(o)
    }
    fn set_u16(&mut self, o: usize, _: u16) {
        self.check(o)
    }
    fn set_addr(&mut self, o: usize, _: IpAddr) {
        self.check(o)
    }
    fn set_bytes(&mut self, o: usize, _: &[u8]) {
        self.check(o)
    }
}

const MAX_TEMPLATES: usize = 8;
const MAX_EXPORTERS: usize = 3;

fuzz_target!(|data: &[u8]| {
    let mut now = Instant::now();
    let mut d = Decoder::new(Limits {
        template_timeout: Duration::from_secs(30),
        max_templates: MAX_TEMPLATES,
        max_exporters: MAX_EXPORTERS,
    });
    let mut sink = Sink {
        n: output_keys().len(),
    };
    let mut at = 0;
    while at + 3 <= data.len() {
        let flags = data[at];
        let len = u16::from_be_bytes([data[at + 1], data[at + 2]]) as usize;
        at += 3;
        let end = (at + len).min(data.len());
        let msg = &data[at..end];
        at = end;
        now += Duration::from_secs((flags >> 3) as u64);
        let peer = SocketAddr::from(([192, 0, 2, 1], 4739 + (flags & 3) as u16));
        let refuse = flags & 4 != 0;
        let mut taken = 0usize;
        let r = d.process(peer, msg, None, now, &mut |h, rec| {
            if refuse && taken == 1 {
                return false;
            }
            fill(&mut sink, h, peer, rec);
            taken += 1;
            true
        });
        if let Some(resume) = r.blocked {
            assert!(refuse && r.records == 1);
            let r2 = d.process(peer, msg, Some(resume), now, &mut |h, rec| {
                fill(&mut sink, h, peer, rec);
                true
            });
            assert!(r2.blocked.is_none() && r2.records > r.records);
        }
        assert!(d.exporters() <= MAX_EXPORTERS);
        assert!(d.templates() <= MAX_TEMPLATES * MAX_EXPORTERS);
        assert!(d.tracked() <= MAX_EXPORTERS);
        assert_eq!(d.stats().get("templates_held"), Some(d.templates() as u64));
    }
});
