//! Building an engine in code, without a configuration file.

use crate::config::{ConfigFile, Entry, Section};
use crate::global::{ElemSpec, Settings, StackSpec};
use crate::options::ConfigError;
use crate::registry::Registry;

use super::Engine;

/// Builds stacks in code: instances with options, stacks of instance ids.
///
/// ```
/// # use ulogd_core::{Engine, Registry};
/// let reg = Registry::new(); // add plugins here
/// let result = Engine::builder(&reg)
///     .instance("src", "MYSOURCE", &[("rate", "10")])
///     .instance("out", "MYSINK", &[])
///     .stack(&["src", "out"])
///     .threads(2)
///     .build();
/// assert!(result.is_err()); // the registry above has no plugins
/// ```
pub struct EngineBuilder<'r> {
    registry: &'r Registry,
    settings: Settings,
    instances: Vec<(String, String)>,
    sections: Vec<Section>,
    stacks: Vec<StackSpec>,
}

impl<'r> EngineBuilder<'r> {
    pub(crate) fn new(registry: &'r Registry) -> Self {
        EngineBuilder {
            registry,
            settings: Settings::default(),
            instances: Vec::new(),
            sections: Vec::new(),
            stacks: Vec::new(),
        }
    }

    /// Declares instance `id` of plugin `plugin` with options.
    pub fn instance(mut self, id: &str, plugin: &str, options: &[(&str, &str)]) -> Self {
        self.instances.push((id.to_string(), plugin.to_string()));
        self.sections.push(Section {
            name: id.to_string(),
            line: 0,
            entries: options
                .iter()
                .map(|(k, v)| Entry {
                    key: k.to_string(),
                    value: v.to_string(),
                    line: 0,
                })
                .collect(),
        });
        self
    }

    /// Adds a stack of instance ids, source first.
    pub fn stack(mut self, ids: &[&str]) -> Self {
        let elems = ids
            .iter()
            .map(|id| ElemSpec {
                id: id.to_string(),
                plugin: self
                    .instances
                    .iter()
                    .find(|(i, _)| i == id)
                    .map(|(_, p)| p.clone())
                    .unwrap_or_else(|| format!("<undeclared instance {id}>")),
            })
            .collect::<Vec<_>>();
        let text = elems
            .iter()
            .map(|e| format!("{}:{}", e.id, e.plugin))
            .collect::<Vec<_>>()
            .join(",");
        self.stacks.push(StackSpec {
            elems,
            line: 0,
            text,
        });
        self
    }

    /// Worker threads (0 = run stacks on the loop thread).
    pub fn threads(mut self, n: usize) -> Self {
        self.settings.threads = n;
        self
    }

    /// Bundles per source.
    pub fn keyspool(mut self, n: usize) -> Self {
        self.settings.keyspool = n.max(1);
        self
    }

    /// Builds the engine (nothing is opened until [`Engine::start`] or [`Engine::run`]).
    pub fn build(self) -> Result<Engine, Vec<ConfigError>> {
        let cfg = ConfigFile {
            origin: "<code>".into(),
            sections: self.sections,
        };
        Engine::from_stacks(self.registry, &cfg, &self.stacks, self.settings)
    }
}
