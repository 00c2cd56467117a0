//! Filters: BASE, IFINDEX, IP2STR, IP2BIN, IP2HBIN, HWHDR, MARK, PRINTPKT, PRINTFLOW, PWSNIFF.
//!
//! Each filter is a small [`Stage`] declared with ulogd2's key names, types and order
//! (`ulogd -i` of 2.0.8 is the reference), so wildcard outputs such as GPRINT and JSON
//! print keys in the same order as ulogd2. Every stage keeps its per-event state on
//! the stack: one instance may serve several stacks at once. Strings are built with
//! [`ulogd_core::Event::set_with`] into a reused buffer, so the steady state does not
//! allocate.

use std::sync::Arc;

use ulogd_core::{Built, Inputs, KeyDef, Kind, OptionDef, Options, PluginError, PluginSpec, Stage};

mod fmt;



/// Registers every filter.
pub fn register(_reg: &mut ulogd_core::Registry) {
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
