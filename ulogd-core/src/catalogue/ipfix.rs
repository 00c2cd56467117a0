//! `ipfix.*`: where a record received by IPFIXCOL came from.

use std::net::IpAddr;

use super::{family, Def};

family! {
    /// `ipfix.exporter`: the exporter's address.
    EXPORTER: IpAddr = Def::new("ipfix.exporter");
    /// `ipfix.domain`: observation domain id.
    DOMAIN: u32 = Def::new("ipfix.domain");
    /// `ipfix.version`: 10 (IPFIX) or 9 (NetFlow v9).
    VERSION: u16 = Def::new("ipfix.version");
}
