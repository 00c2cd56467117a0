//! Every IETF (and RFC 5103 reverse) information element in the key catalogue is
//! checked against IANA's registry (`fixtures/iana/ipfix-information-elements.csv`,
//! copied from the registry): the id exists, its IANA name is the one the catalogue
//! gives, and the key's type can carry the element's abstract data type. This is the
//! test that catches a table drifting (`orig.raw.pktlen` annotated 1,
//! `octetDeltaCount`, in one copy and 85, `octetTotalCount`, in another).

mod iana;

use iana::{fits, registry};
use ulogd_core::catalogue;
use ulogd_core::{PEN_NETFILTER, PEN_REVERSE};

#[test]
fn fixture_is_the_registry() {
    let r = registry();
    assert!(r.len() > 400, "fixture holds {} elements", r.len());
    assert_eq!(r[&1].0, "octetDeltaCount");
    assert_eq!(r[&85].0, "octetTotalCount");
}

#[test]
fn every_ietf_element_matches_iana() {
    let r = registry();
    let mut checked = 0;
    let mut bad = Vec::new();
    for info in catalogue::all() {
        let d = &info.def;
        let Some(ie) = d.ipfix else { continue };
        match ie.enterprise {
            0 | PEN_REVERSE => {}
            // The netfilter enterprise has no public registry to check against.
            PEN_NETFILTER => continue,
            other => {
                bad.push(format!("{}: unexpected enterprise {other}", d.name));
                continue;
            }
        }
        checked += 1;
        let Some((name, dt)) = r.get(&ie.id) else {
            bad.push(format!(
                "{}: element {} is not in IANA's registry",
                d.name, ie.id
            ));
            continue;
        };
        if info.ie_name != Some(name.as_str()) {
            bad.push(format!(
                "{}: element {} is {name} at IANA, the catalogue says {:?}",
                d.name, ie.id, info.ie_name
            ));
        }
        if !fits(d.ty, dt) {
            bad.push(format!(
                "{}: type {:?} cannot carry {name} ({dt})",
                d.name, d.ty
            ));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    assert!(checked >= 40, "only {checked} annotated keys checked");
}

#[test]
fn conntrack_counters_are_totals() {
    let e = catalogue::flow::ORIG_RAW_PKTLEN.ipfix_element().unwrap();
    assert_eq!((e.enterprise, e.id), (0, 85));
    let e = catalogue::flow::REPLY_RAW_PKTCOUNT.ipfix_element().unwrap();
    assert_eq!((e.enterprise, e.id), (PEN_REVERSE, 86));
}
