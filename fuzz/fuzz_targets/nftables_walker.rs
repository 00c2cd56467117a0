//! Feeds arbitrary bytes to the nf_tables notification parser as the NFT source reads
//! its socket: netlink messages, each parsed as a ruleset change, set elements walked,
//! keys formatted. Any panic is a bug: malformed input must be a `WireError`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ulogd_netfilter::wire::nftables::{format_key, udata_comment, NftRepr};
use ulogd_netfilter::wire::NlmsgIter;

fuzz_target!(|data: &[u8]| {
    let _ = udata_comment(data);
    for msg in NlmsgIter::new(data) {
        let Ok(msg) = msg else { break };
        let Ok(r) = NftRepr::parse_nlmsg(&msg) else {
            continue;
        };
        let mut s = String::new();
        for el in r.elements() {
            let Ok(el) = el else { break };
            s.clear();
            format_key(el.key, &mut s);
            if let Some(end) = el.key_end {
                format_key(end, &mut s);
            }
        }
    }
});
