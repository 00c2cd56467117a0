//! Filters: BASE, IFINDEX, IP2STR, IP2BIN, IP2HBIN, HWHDR, MARK, PRINTPKT, PRINTFLOW, PWSNIFF,
//! VERDICT (and the NULL sink that ends verdict-only stacks).
//!
//! Each filter is a small [`Stage`] declared with ulogd2's key names, types and order
//! (`ulogd -i` of 2.0.8 is the reference), so wildcard outputs such as GPRINT and JSON
//! print keys in the same order as ulogd2. Every stage keeps its per-event state on
//! the stack: one instance may serve several stacks at once. Strings are built with
//! [`ulogd_core::Event::set_with`] into a reused buffer, so the steady state does not
//! allocate.

use std::sync::Arc;

use ulogd_core::{Built, Inputs, KeyDef, Kind, OptionDef, Options, PluginError, PluginSpec, Stage};

mod addr;
mod base;
mod fmt;
pub mod hwhdr;
mod ifindex;
#[doc(hidden)]
pub use ifindex::parse_link_datagram;
mod ip2bin;
mod ip2hbin;
mod ip2str;
mod mark;
mod printflow;
mod printpkt;
pub mod pwsniff;
pub mod verdict;

#[cfg(test)]
pub(crate) mod testutil;

pub use printflow::PRINTFLOW_FIXES;
pub use printpkt::PRINTPKT_FIXES;

/// Registers every filter.
pub fn register(reg: &mut ulogd_core::Registry) {
    reg.add(base::spec());
    reg.add(ifindex::spec());
    reg.add(ip2str::spec());
    reg.add(ip2bin::spec());
    reg.add(ip2hbin::spec());
    reg.add(hwhdr::spec());
    reg.add(mark::spec());
    reg.add(printpkt::spec());
    reg.add(printflow::spec());
    reg.add(pwsniff::spec());
    reg.add(verdict::spec());
    reg.add(verdict::null_spec());
}

/// Constructor of a filter's stage from its validated options.
type MakeStage = fn(&Options) -> Result<Arc<dyn Stage>, PluginError>;

/// Describes a filter with static key tables.
pub(crate) fn filter_spec(
    name: &'static str,
    aliases: &'static [&'static str],
    summary: &'static str,
    options: Vec<OptionDef>,
    inputs: &'static [KeyDef],
    outputs: &'static [KeyDef],
    make: MakeStage,
) -> PluginSpec {
    PluginSpec {
        name,
        aliases,
        kind: Kind::Filter,
        summary,
        options,
        inputs: inputs.to_vec(),
        outputs: outputs.to_vec(),
        wildcard: false,
        build: Box::new(move |ctx| {
            Ok(Built::Stage {
                stage: make(ctx.options)?,
                inputs: Inputs::Keys(inputs.to_vec()),
                outputs: outputs.to_vec(),
            })
        }),
    }
}
