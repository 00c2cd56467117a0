//! The one loop behind IP2STR, IP2BIN and IP2HBIN: each set address input is
//! converted into the output of the same index; the three plugins differ only in
//! the conversion (text, `0x` hex, the address itself) and the output names.
//!
//! Inputs are the same for all three (IP2STR also reads the ARP addresses, which
//! come last so the others take a prefix of the list).

use std::marker::PhantomData;
use std::net::IpAddr;
use std::sync::Arc;

use ulogd_core::catalogue::{flow, oob, packet};
use ulogd_core::{Event, KeyDef, Options, PluginError, PluginSpec, Ret, Stage};

ulogd_core::key_list! {
    pub(crate) mod inp;
    /// The inputs: family and protocol, then every address a filter converts.
    pub(crate) static INPUTS = {
        FAMILY: u8 = oob::FAMILY,
        PROTOCOL: u16 = oob::PROTOCOL,
        IP_SADDR: IpAddr = packet::IP_SADDR.optional(),
        IP_DADDR: IpAddr = packet::IP_DADDR.optional(),
        ORIG_IP_SADDR: IpAddr = flow::ORIG_IP_SADDR.optional(),
        ORIG_IP_DADDR: IpAddr = flow::ORIG_IP_DADDR.optional(),
        REPLY_IP_SADDR: IpAddr = flow::REPLY_IP_SADDR.optional(),
        REPLY_IP_DADDR: IpAddr = flow::REPLY_IP_DADDR.optional(),
        ARP_SADDR: IpAddr = packet::ARP_SADDR.optional(),
        ARP_DADDR: IpAddr = packet::ARP_DADDR.optional(),
    };
}

/// Position of the first address input; address input `FIRST_ADDR + i` maps to
/// output `i`.
const FIRST_ADDR: usize = inp::IP_SADDR.pos();

/// `NFPROTO_BRIDGE`.
pub(crate) const NFPROTO_BRIDGE: u8 = 7;
/// Ethertypes.
pub(crate) const ETH_P_IP: u16 = 0x0800;
/// IPv6 ethertype.
pub(crate) const ETH_P_IPV6: u16 = 0x86dd;
/// ARP ethertype.
pub(crate) const ETH_P_ARP: u16 = 0x0806;

/// Whether a bridge-family event carries a protocol the address filters understand
/// (ulogd2 returns an error for any other ethertype, or when it is missing).
pub(crate) fn family_ok(ev: &Event<'_>) -> bool {
    if ev.key(inp::FAMILY) != Some(NFPROTO_BRIDGE) {
        return true;
    }
    matches!(
        ev.key(inp::PROTOCOL),
        Some(ETH_P_IP | ETH_P_IPV6 | ETH_P_ARP)
    )
}

/// One address filter: its name, output keys and conversion.
pub(crate) trait Convert: Send + Sync + 'static {
    /// Plugin name.
    const NAME: &'static str;
    /// One line for `--list-plugins`.
    const SUMMARY: &'static str;
    /// Output keys: output `i` is converted from address input `i`.
    const OUTPUTS: &'static [KeyDef];
    /// Writes address `a`, converted, to output `out`.
    fn convert(ev: &mut Event<'_>, out: usize, a: IpAddr);
}

struct AddrFilter<C>(PhantomData<C>);

impl<C: Convert> Stage for AddrFilter<C> {
    fn interp(&self, ev: &mut Event<'_>) -> Ret {
        if !family_ok(ev) {
            return Ret::Err;
        }
        for out in 0..C::OUTPUTS.len() {
            if let Some(a) = ev.addr(FIRST_ADDR + out) {
                C::convert(ev, out, a);
            }
        }
        Ret::Ok
    }
}

fn make<C: Convert>(_: &Options) -> Result<Arc<dyn Stage>, PluginError> {
    Ok(Arc::new(AddrFilter::<C>(PhantomData)))
}

/// The spec of address filter `C`: the inputs up to its last address.
pub(crate) fn spec<C: Convert>() -> PluginSpec {
    let inputs: &'static [KeyDef] = &INPUTS[..FIRST_ADDR + C::OUTPUTS.len()];
    super::filter_spec(
        C::NAME,
        &[],
        C::SUMMARY,
        vec![],
        inputs,
        C::OUTPUTS,
        make::<C>,
    )
}
