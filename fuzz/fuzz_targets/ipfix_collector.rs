//! Feeds arbitrary bytes to the IPFIX / NetFlow v9 parser the IPFIXCOL collector
//! uses: header, sets, (options) templates, data records and their fields. Any
//! panic is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ulogd_export::ipfix::wire;

fuzz_target!(|data: &[u8]| {
    if let Ok(n) = wire::walk(data) {
        assert!(n <= data.len());
    }
    // A stream of IPFIX messages, as the TCP collector frames them.
    let mut at = 0;
    while let Ok(m) = wire::MessageView::new_checked(&data[at..]) {
        if m.header.protocol != wire::Protocol::Ipfix || m.len() == 0 {
            break;
        }
        let _ = wire::walk(&data[at..at + m.len()]);
        at += m.len();
    }
});
