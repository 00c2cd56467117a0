//! BASE's packet decoder on arbitrary bytes: the first byte picks the family, the
//! next two the ethertype (used by the bridge family).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let family = [2u8, 10, 7, data[0]][(data[0] & 3) as usize];
    let proto = u16::from_be_bytes([data[1], data[2]]);
    let _ = ulogd_netfilter::packet::decode(family, proto, &data[3..]);
});
