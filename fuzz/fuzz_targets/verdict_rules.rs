//! Feeds arbitrary text to the VERDICT rule parser (with and without type checks).
//! Any panic is a bug: a bad rule must come back as a `RuleError` with its position.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ulogd_netfilter::filters::verdict::parse_rules;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Err(e) = parse_rules(&text, true) {
        assert!(e.line >= 1 && e.col >= 1);
    }
    let _ = parse_rules(&text, false);
});
