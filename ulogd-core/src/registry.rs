//! The plugin registry: plugin names to specs and constructors.

use std::collections::BTreeMap;

use crate::plugin::PluginSpec;

/// Maps plugin names (and aliases) to their [`PluginSpec`]s.
///
/// Built-in plugins are added by the crates that hold them (`ulogd_netfilter::register`,
/// `ulogd_export::register`); programs that embed the engine add their own the same way.
#[derive(Default)]
pub struct Registry {
    specs: Vec<PluginSpec>,
    by_name: BTreeMap<&'static str, usize>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Adds a plugin. A later plugin with the same name replaces the earlier one, so an
    /// embedding program can override a built-in.
    pub fn add(&mut self, spec: PluginSpec) {
        let idx = self.specs.len();
        self.by_name.insert(spec.name, idx);
        for a in spec.aliases {
            self.by_name.insert(a, idx);
        }
        self.specs.push(spec);
    }

    /// Looks a plugin up by name or alias (case-sensitive, like ulogd2).
    pub fn get(&self, name: &str) -> Option<&PluginSpec> {
        self.by_name.get(name).map(|&i| &self.specs[i])
    }

    /// Looks up ignoring case, for "did you mean" hints.
    pub fn get_ignore_case(&self, name: &str) -> Option<&PluginSpec> {
        self.by_name
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, &i)| &self.specs[i])
    }

    /// Every plugin, sorted by name (aliases not repeated).
    pub fn plugins(&self) -> Vec<&PluginSpec> {
        let mut v: Vec<&PluginSpec> = self
            .by_name
            .iter()
            .filter(|(k, &i)| self.specs[i].name == **k)
            .map(|(_, &i)| &self.specs[i])
            .collect();
        v.sort_by_key(|s| s.name);
        v
    }

    /// Every registered name, aliases included.
    pub fn names(&self) -> Vec<&'static str> {
        self.by_name.keys().copied().collect()
    }
}
