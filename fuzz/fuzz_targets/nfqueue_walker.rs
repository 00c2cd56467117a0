//! Feeds arbitrary bytes to the NFQUEUE parsers: the netlink message iterator, the
//! queued-packet parser and the id peek used to answer malformed packets. Any panic is
//! a bug: malformed input must come back as an `NfqError`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ulogd_netfilter::wire::nfqueue::{NfqPacket, VerdictRepr};
use ulogd_netfilter::wire::nlmsg::NlmsgIter;

fuzz_target!(|data: &[u8]| {
    for msg in NlmsgIter::new(data) {
        let Ok(msg) = msg else { break };
        let _ = NfqPacket::peek_id(&msg);
        if let Ok(p) = NfqPacket::parse_nlmsg(&msg) {
            // Whatever parsed must convert and re-emit without error.
            let _ = p.as_nflog();
            let mut out = Vec::new();
            let _ = p.emit_nlmsg(&mut out);
            let mut buf = [0u8; 64];
            let _ = VerdictRepr {
                queue: p.queue,
                id: p.id,
                verdict: 1,
                mark: p.mark,
                ..VerdictRepr::default()
            }
            .emit(&mut buf, 0);
        }
    }
    let _ = NfqPacket::parse_attrs(2, 0, data);
});
