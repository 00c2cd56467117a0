//! Every key of every registered plugin (netfilter and export crates) that carries
//! an IETF or RFC 5103 reverse IPFIX element names an element of IANA's registry
//! whose data type the key's type can carry (the catalogue's own keys are also
//! checked by name in `ulogd-core/tests/catalogue_iana.rs`).

#[path = "../../ulogd-core/tests/iana/mod.rs"]
mod iana;

use ulogd_core::{Registry, PEN_REVERSE};

#[test]
fn every_plugin_key_names_an_iana_element() {
    let mut reg = Registry::new();
    ulogd_netfilter::register(&mut reg);
    ulogd_export::register(&mut reg);
    let r = iana::registry();
    let mut bad = Vec::new();
    let mut checked = 0;
    for spec in reg.plugins() {
        for d in spec.inputs.iter().chain(spec.outputs.iter()) {
            let Some(ie) = d.ipfix else { continue };
            if ie.enterprise != 0 && ie.enterprise != PEN_REVERSE {
                continue;
            }
            checked += 1;
            match r.get(&ie.id) {
                None => bad.push(format!(
                    "{}: {}: element {} is not IANA's",
                    spec.name, d.name, ie.id
                )),
                Some((name, dt)) if !iana::fits(d.ty, dt) => bad.push(format!(
                    "{}: {}: type {:?} cannot carry {name} ({dt})",
                    spec.name, d.name, d.ty
                )),
                Some(_) => {}
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    assert!(checked > 50, "only {checked} annotated keys");
}
