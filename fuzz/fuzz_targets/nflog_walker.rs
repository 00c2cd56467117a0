//! Feeds arbitrary bytes to the NFLOG hot-path parsers: the netlink message
//! iterator, the NFLOG packet parser, and the LINKTYPE_NFLOG record parser.
//! Any panic is a bug: these parsers must reject malformed input with a
//! `WireError`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ulogd_netfilter::wire::nlmsg::{NlmsgErrView, NlmsgIter, NLMSG_ERROR};
use ulogd_netfilter::wire::{ByteOrder, NflogRepr};

fuzz_target!(|data: &[u8]| {
    for msg in NlmsgIter::new(data) {
        let Ok(msg) = msg else { break };
        if msg.msg_type() == NLMSG_ERROR {
            if let Ok(err) = NlmsgErrView::new_checked(msg.payload()) {
                let _ = (err.error(), err.orig_header());
            }
            continue;
        }
        if let Ok(repr) = NflogRepr::parse_nlmsg(&msg) {
            // Whatever parsed must re-emit without error.
            let mut out = Vec::new();
            let _ = repr.emit_nlmsg(0, &mut out);
        }
    }
    let _ = NflogRepr::parse_pcap_record(data);
    let _ = NflogRepr::parse_pcap_record_with_order(data, ByteOrder::Big);
});
