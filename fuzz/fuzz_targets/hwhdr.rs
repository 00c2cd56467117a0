//! HWHDR's hardware-header parser: the first three bytes pick `raw.type` (or none)
//! and `raw.mac_len`, the rest is `raw.mac`. Never panics; what `mac.str` shows
//! stays within the header.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ulogd_netfilter::filters::hwhdr::read_header;

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let raw_type = match data[0] & 3 {
        0 => None,
        1 => Some(1),
        2 => Some(0xffff),
        _ => Some(u16::from(data[1])),
    };
    let mac_len = u16::from_be_bytes([data[1], data[2]]);
    let mac = &data[3..];
    let h = read_header(raw_type, mac, mac_len);
    assert!(h.shown <= mac.len());
    if h.ethernet.is_some() {
        assert!(mac.len() >= 14);
    }
});
