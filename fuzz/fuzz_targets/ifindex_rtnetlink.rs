//! Feeds arbitrary bytes to IFINDEX's rtnetlink parser (RTM_NEWLINK / RTM_DELLINK
//! messages, dump end, errors), as it reads its socket. Any panic is a bug; the
//! parser never reports more link messages than the buffer can hold.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ulogd_netfilter::filters::parse_link_datagram;

fuzz_target!(|data: &[u8]| {
    let (links, _done, _err) = parse_link_datagram(data);
    assert!(links <= data.len() / 16);
});
