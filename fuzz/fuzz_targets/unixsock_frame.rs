//! Feeds arbitrary bytes to the UNIXSOCK stream framing and frame parser, the way the
//! source reads a client's stream: frame after frame until one is incomplete or bad.
//! Any panic is a bug; a parsed frame must re-emit and parse back alike.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ulogd_netfilter::wire::unixsock::{frame_len, UnixsockRepr};

fuzz_target!(|data: &[u8]| {
    let mut at = 0;
    while at < data.len() {
        let Ok(Some(n)) = frame_len(&data[at..]) else { break };
        if at + n > data.len() {
            break;
        }
        if let Ok(r) = UnixsockRepr::parse(&data[at..at + n]) {
            let mut out = Vec::new();
            if r.emit(&mut out).is_ok() {
                let again = UnixsockRepr::parse(&out).expect("emitted frame parses");
                assert_eq!(again.payload, r.payload);
                assert_eq!(again.prefix, r.prefix);
            }
        }
        at += n;
    }
});
