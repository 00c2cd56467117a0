//! Feeds arbitrary bytes to the zero-copy pcap / pcapng reader, and every
//! NFLOG record it yields to the NFLOG record parser. Any panic is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ulogd_netfilter::wire::pcap::LINKTYPE_NFLOG;
use ulogd_netfilter::wire::{NflogRepr, PcapReader};

fuzz_target!(|data: &[u8]| {
    let Ok(reader) = PcapReader::new(data) else {
        return;
    };
    for rec in reader {
        let Ok(rec) = rec else { break };
        assert!(rec.ts_nsec < 1_000_000_000);
        if rec.linktype == LINKTYPE_NFLOG {
            let _ = NflogRepr::parse_pcap_record(rec.data);
        }
    }
});
