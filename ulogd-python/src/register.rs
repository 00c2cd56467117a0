//! The top layer: PYTHON's options and its registration for every stack position.

use ulogd_core::{Kind, OptionDef, PluginSpec};

/// The options of every PYTHON instance.
pub(crate) fn options() -> Vec<OptionDef> {
    vec![
        OptionDef::string(
            "module",
            "",
            "Python module to load (found on sys.path, PYTHONPATH and path_append)",
        )
        .required(),
        OptionDef::string(
            "path_append",
            "",
            "colon-separated directories appended to sys.path",
        ),
        OptionDef::any_other("any other key is handed to the script in the dict ULOGD_CONFIG"),
    ]
}

fn spec(kind: Kind) -> PluginSpec {
    PluginSpec {
        name: "PYTHON",
        aliases: &[],
        kind,
        summary: "a source, filter or sink written in Python (the fork's API); the stack position decides",
        options: options(),
        inputs: vec![],
        outputs: vec![],
        wildcard: false,
        build: Box::new(move |ctx| match kind {
            Kind::Source => crate::plugin::source::build(ctx),
            _ => crate::plugin::stage::build_stage(ctx, kind),
        }),
    }
}

/// Registers PYTHON for every stack position: a filter (the main spec) and, as
/// variants of the same name, a source and a sink.
pub(crate) fn register(reg: &mut ulogd_core::Registry) {
    reg.add(spec(Kind::Filter));
    reg.add_variant(spec(Kind::Source));
    reg.add_variant(spec(Kind::Sink));
}
