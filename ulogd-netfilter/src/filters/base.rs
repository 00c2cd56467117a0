//! BASE: decodes `raw.pkt` into the IPv4/IPv6/TCP/UDP/SCTP/ICMP/ICMPv6/ARP keys.
//!
//! The decoding itself is [`crate::packet::decode`], a pure function; this stage feeds
//! it the first `raw.pktlen` bytes of `raw.pkt` (never more than were captured), the
//! family and the hardware protocol, and sets exactly the keys it found. `oob.protocol`
//! is copied from the input, as ulogd2 does. Keys are declared in ulogd2 2.0.8's order
//! and types (`ulogd -i`), which wildcard outputs (GPRINT, JSON) follow.
//!
//! The fields, their keys and their order are declared once, in `packet/fields.rs`;
//! the keys themselves (types, CIM aliases, IPFIX elements) are the catalogue's
//! packet family (`ulogd_core::catalogue::packet`).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use ulogd_core::catalogue::{oob, raw, Key, KeyValue, Raw};
use ulogd_core::{Event, Options, PluginError, PluginSpec, Ret, Stage};

use crate::packet;

ulogd_core::key_list! {
    mod inp;
    static INPUTS = {
        PKT: Raw = raw::PKT,
        PKTLEN: u32 = raw::PKTLEN,
        FAMILY: u8 = oob::FAMILY,
        PROTOCOL: u16 = oob::PROTOCOL,
    };
}

/// How a decoded field of type `Self` is written to its key.
trait Field: Copy {
    /// The key's value type.
    type Key: KeyValue;
    fn put(self, ev: &mut Event<'_>, k: Key<Self::Key>);
}

macro_rules! same_field {
    ($($t:ty),*) => {$(
        impl Field for $t {
            type Key = $t;
            #[inline]
            fn put(self, ev: &mut Event<'_>, k: Key<$t>) {
                ev.set(k, self)
            }
        }
    )*};
}
same_field!(u8, u16, u32, bool, IpAddr);

impl Field for Ipv4Addr {
    type Key = IpAddr;
    #[inline]
    fn put(self, ev: &mut Event<'_>, k: Key<IpAddr>) {
        ev.set(k, IpAddr::V4(self))
    }
}
impl Field for [u8; 6] {
    type Key = Raw;
    #[inline]
    fn put(self, ev: &mut Event<'_>, k: Key<Raw>) {
        ev.set(k, &self)
    }
}

/// Generates, from `packet/fields.rs`'s one list, BASE's output table, one typed
/// handle per field (`out::<field>`) and `set_all`, which writes every field the
/// decoder found.
macro_rules! base_outputs {
    ($( $(#[$m:meta])* $f:ident : $t:ty = $d:expr, )*) => {
        #[allow(non_upper_case_globals, dead_code)]
        mod out {
            use super::*;
            #[allow(non_camel_case_types)]
            #[repr(usize)]
            enum Pos { $($f),* }
            $( pub(super) const $f: Key<<$t as Field>::Key> = $d.at(Pos::$f as usize); )*
        }

        /// Output keys, in ulogd2's order.
        static OUTPUTS: &[ulogd_core::KeyDef] = &[$( $d.key_def() ),*];

        #[inline]
        fn set_all(ev: &mut Event<'_>, d: &packet::Decoded) {
            $( if let Some(v) = d.$f {
                v.put(ev, out::$f);
            } )*
        }
    };
}
packet::fields::base_fields!(base_outputs);

struct Base;

impl Stage for Base {
    fn interp(&self, ev: &mut Event<'_>) -> Ret {
        let proto = ev.key(inp::PROTOCOL);
        let family = ev.key(inp::FAMILY).unwrap_or(0);
        let mut decoded = {
            let Some(pkt) = ev.key(inp::PKT) else {
                // `oob.protocol` is copied from the input even without a packet.
                ev.set_some(out::oob_protocol, proto);
                return Ret::Ok;
            };
            let len = ev
                .key(inp::PKTLEN)
                .map_or(pkt.len(), |l| (l as usize).min(pkt.len()));
            packet::decode(family, proto.unwrap_or(0), &pkt[..len])
        };
        // `oob.protocol` is the input's value, unset when the input is (the decoder
        // reports the 0 it was given).
        decoded.oob_protocol = proto;
        set_all(ev, &decoded);
        Ret::Ok
    }
}

fn make(_: &Options) -> Result<Arc<dyn Stage>, PluginError> {
    Ok(Arc::new(Base))
}

/// The BASE plugin.
pub(crate) fn spec() -> PluginSpec {
    super::filter_spec(
        "BASE",
        &[],
        "decodes raw.pkt into IPv4/IPv6/TCP/UDP/SCTP/ICMP/ICMPv6/ARP keys",
        vec![],
        INPUTS,
        OUTPUTS,
        make,
    )
}

#[cfg(test)]
mod tests;
