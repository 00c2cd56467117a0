//! Feeds arbitrary bytes to the conntrack statistics parser (NFCTST's replies): any
//! panic is a bug; whatever parses must re-emit and parse back alike.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ulogd_netfilter::wire::ctstats::CtStatsRepr;
use ulogd_netfilter::wire::NlmsgIter;

fuzz_target!(|data: &[u8]| {
    for msg in NlmsgIter::new(data) {
        let Ok(msg) = msg else { break };
        let Ok(r) = CtStatsRepr::parse_nlmsg(&msg) else {
            continue;
        };
        let mut out = Vec::new();
        if r.emit_nlmsg(msg.seq(), &mut out).is_ok() {
            let again = NlmsgIter::new(&out)
                .next()
                .and_then(|m| m.ok())
                .map(|m| CtStatsRepr::parse_nlmsg(&m));
            if let Some(Ok(a)) = again {
                assert_eq!(a.counters, r.counters);
                assert_eq!((a.entries, a.max_entries), (r.entries, r.max_entries));
            }
        }
    }
});
