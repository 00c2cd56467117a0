//! Feeds arbitrary bytes to the nfacct (accounting object) parser the NFACCT source
//! runs on dump replies: the netlink message iterator, then `NfacctRepr`. Whatever
//! parses re-emits and parses back to the same object. Any panic is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ulogd_netfilter::wire::nfacct::NfacctRepr;
use ulogd_netfilter::wire::nlmsg::NlmsgIter;

fuzz_target!(|data: &[u8]| {
    for msg in NlmsgIter::new(data) {
        let Ok(msg) = msg else { break };
        let Ok(repr) = NfacctRepr::parse_nlmsg(&msg) else {
            continue;
        };
        let mut out = Vec::new();
        if repr.emit_nlmsg(msg.seq(), &mut out).is_ok() {
            let again = NlmsgIter::new(&out)
                .next()
                .and_then(|m| m.ok())
                .map(|m| NfacctRepr::parse_nlmsg(&m));
            match again {
                Some(Ok(again)) => {
                    assert_eq!(again.name, repr.name);
                    assert_eq!(again.pkts, repr.pkts);
                    assert_eq!(again.bytes, repr.bytes);
                    assert_eq!(again.use_, repr.use_);
                    assert_eq!(again.quota, repr.quota);
                }
                other => panic!("re-emitted object does not parse: {other:?}"),
            }
        }
    }
    let _ = NfacctRepr::parse_attrs(data);
});
