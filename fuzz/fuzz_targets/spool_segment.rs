//! Feeds arbitrary bytes to the spool's segment parser (what a restart reads back
//! from disk, damaged or not) and every record's payload to the delivery envelope
//! decoder. Any panic is a bug; every record found must re-emit to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ulogd_export::delivery::envelope;
use ulogd_export::spool::segment::{emit, Item, SegmentIter};

fuzz_target!(|data: &[u8]| {
    let mut last_end = 0usize;
    for item in SegmentIter::new(data) {
        match item {
            Item::Record {
                seq,
                payload,
                offset,
            } => {
                assert!(offset >= last_end);
                let mut again = Vec::new();
                emit(&mut again, seq, payload);
                assert_eq!(&data[offset..offset + again.len()], &again[..]);
                last_end = offset + again.len();
                let _ = envelope::decode(payload);
            }
            Item::Corrupt { offset, len } => {
                assert!(len > 0 && offset >= last_end);
                last_end = offset + len;
            }
            Item::Torn { offset } => assert!(offset >= last_end && offset < data.len()),
        }
    }
});
