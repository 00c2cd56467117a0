//! The plugin registry: plugin names to specs and constructors.

use std::collections::BTreeMap;

use crate::plugin::{Kind, PluginSpec};

/// Maps plugin names (and aliases) to their [`PluginSpec`]s.
///
/// Built-in plugins are added by the crates that hold them (`ulogd_netfilter::register`,
/// `ulogd_export::register`); programs that embed the engine add their own the same way.
#[derive(Default)]
pub struct Registry {
    specs: Vec<PluginSpec>,
    by_name: BTreeMap<&'static str, usize>,
    /// Extra specs serving another kind under an already registered name (PYTHON is
    /// a source, a filter and a sink): (name, spec index).
    variants: Vec<(&'static str, usize)>,
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

    /// Adds a spec that serves another [`Kind`] under a name that is (or will be)
    /// registered with [`Registry::add`]: the position in the stack then picks the
    /// spec ([`Registry::get_for`]). `--list-plugins` and `-i` show the main spec.
    /// A later variant of the same name and kind replaces the earlier one.
    pub fn add_variant(&mut self, spec: PluginSpec) {
        let idx = self.specs.len();
        let (name, kind) = (spec.name, spec.kind);
        self.variants
            .retain(|&(n, i)| !(n == name && self.specs[i].kind == kind));
        self.variants.push((name, idx));
        self.specs.push(spec);
    }

    /// Looks a plugin up for a stack position: a variant of that kind added with
    /// [`Registry::add_variant`] if there is one, else the plugin of that name.
    pub fn get_for(&self, name: &str, kind: Kind) -> Option<&PluginSpec> {
        let main = self.get(name)?;
        if main.kind == kind {
            return Some(main);
        }
        let main_name = main.name;
        Some(
            self.variants
                .iter()
                .map(|&(_, i)| &self.specs[i])
                .find(|s| s.name == main_name && s.kind == kind)
                .unwrap_or(main),
        )
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::{Built, PluginError};

    fn spec(name: &'static str, kind: Kind, summary: &'static str) -> PluginSpec {
        PluginSpec {
            name,
            aliases: &[],
            kind,
            summary,
            options: vec![],
            inputs: vec![],
            outputs: vec![],
            wildcard: false,
            build: Box::new(|_| -> Result<Built, PluginError> { Err(PluginError::new("x")) }),
        }
    }

    #[test]
    fn variants_pick_the_kind() {
        let mut r = Registry::new();
        r.add(spec("PY", Kind::Filter, "filter"));
        r.add_variant(spec("PY", Kind::Source, "source"));
        r.add_variant(spec("PY", Kind::Sink, "sink"));
        r.add(spec("BASE", Kind::Filter, "base"));
        assert_eq!(r.get_for("PY", Kind::Source).unwrap().summary, "source");
        assert_eq!(r.get_for("PY", Kind::Filter).unwrap().summary, "filter");
        assert_eq!(r.get_for("PY", Kind::Sink).unwrap().summary, "sink");
        // No variant: the main spec (the engine then reports the kind mismatch).
        assert_eq!(r.get_for("BASE", Kind::Sink).unwrap().summary, "base");
        assert!(r.get_for("NOPE", Kind::Sink).is_none());
        // Listed once.
        assert_eq!(r.plugins().len(), 2);
        assert_eq!(r.get("PY").unwrap().summary, "filter");
    }
}
