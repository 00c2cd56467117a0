//! REPLAY's input path on arbitrary bytes: the pcap / pcapng file and record
//! headers, then every record as REPLAY reads it (NFLOG records through the NFLOG
//! parser and its conntrack attribute, raw-IP / Ethernet records through the bare
//! packet classifier and VLAN walk), and each L3 packet through BASE.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ulogd_netfilter::sources::bare_packet;
use ulogd_netfilter::wire::ctnetlink::{CtEvent, CtRepr};
use ulogd_netfilter::wire::pcap::LINKTYPE_NFLOG;
use ulogd_netfilter::wire::{ByteOrder, NflogRepr, PcapReader};

fuzz_target!(|data: &[u8]| {
    let Ok(reader) = PcapReader::new(data) else {
        return;
    };
    for rec in reader.take(64) {
        let Ok(rec) = rec else { break };
        if rec.linktype == LINKTYPE_NFLOG {
            let Ok(r) = NflogRepr::parse_pcap_record(rec.data) else {
                continue;
            };
            if let Some(ct) = r.ct {
                let _ =
                    CtRepr::parse_attrs_with_order(r.family, CtEvent::Get, ct, ByteOrder::Little);
            }
            if let Some(p) = r.payload {
                let proto = r.packet_hdr.map_or(0, |h| h.hw_protocol);
                let _ = ulogd_netfilter::packet::decode(r.family, proto, p);
            }
        } else if let Some(b) = bare_packet(rec.linktype, rec.data) {
            assert!(b.pkt.len() <= rec.data.len());
            let _ = ulogd_netfilter::packet::decode(b.family, b.ethertype, b.pkt);
        }
    }
});
