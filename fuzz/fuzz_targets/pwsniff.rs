//! PWSNIFF's parser (IPv4/TCP header walk to ports 21/110, then the USER/PASS word
//! search) on arbitrary bytes: never panics, ranges stay inside the packet.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ulogd_netfilter::filters::pwsniff::credentials;

fuzz_target!(|data: &[u8]| {
    if let Some(c) = credentials(data) {
        for r in [c.user, c.pass].into_iter().flatten() {
            assert!(r.start < r.end && r.end <= data.len());
        }
    }
});
