//! Feeds arbitrary bytes to the ctnetlink (conntrack) parsers: the netlink
//! message iterator, the conntrack message parser, and the bare `CTA_*`
//! attribute-region parser NFLOG's `NFULA_CT` goes through (in both header
//! byte orders). Any panic is a bug: these parsers must reject malformed
//! input with a `WireError`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ulogd_netfilter::wire::ctnetlink::protoinfo_tcp_state;
use ulogd_netfilter::wire::nlmsg::NlmsgIter;
use ulogd_netfilter::wire::{ByteOrder, CtEvent, CtRepr, NflogRepr};

fuzz_target!(|data: &[u8]| {
    for msg in NlmsgIter::new(data) {
        let Ok(msg) = msg else { break };
        if let Ok(repr) = CtRepr::parse_nlmsg(&msg) {
            let _ = repr.tcp_state();
            // Whatever parsed re-emits (or fails cleanly on a name already
            // at the 64 KiB attribute limit), and parses back alike.
            let mut out = Vec::new();
            if repr.emit_nlmsg(0, &mut out).is_ok() {
                let again = NlmsgIter::new(&out)
                    .next()
                    .and_then(|m| m.ok())
                    .map(|m| CtRepr::parse_nlmsg(&m));
                match again {
                    Some(Ok(again)) => {
                        assert_eq!(again.orig, repr.orig);
                        assert_eq!(again.reply, repr.reply);
                        assert_eq!(again.counters_orig, repr.counters_orig);
                        assert_eq!(again.timestamp_start, repr.timestamp_start);
                    }
                    other => panic!("re-emitted message does not parse: {other:?}"),
                }
            }
        }
        // A CT region embedded in an NFLOG packet.
        if let Ok(log) = NflogRepr::parse_nlmsg(&msg) {
            if let Some(ct) = log.ct {
                let _ = CtRepr::parse_attrs(log.family, CtEvent::Get, ct);
            }
        }
    }
    for order in [ByteOrder::Little, ByteOrder::Big] {
        let _ = CtRepr::parse_attrs_with_order(2, CtEvent::Destroy, data, order);
        let _ = protoinfo_tcp_state(data, order);
    }
});
