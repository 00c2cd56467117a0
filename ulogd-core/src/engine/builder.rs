//! Building an engine in code, without a configuration file: instances from
//! registered plugins (by name, with string options) or plugin objects made by the
//! caller, and stacks of instance ids.

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::{Entry, Section};
use crate::global::{ElemSpec, Settings, StackSpec};
use crate::key::KeyDef;
use crate::options::ConfigError;
use crate::plugin::{Built, Inputs, Source, Stage};
use crate::registry::Registry;

use super::build::OBJECT_PLUGIN;
use super::timers::{system_clock, Clock};

/// Builds stacks in code: instances with options (or plugin objects), stacks of
/// instance ids.
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
    pub(super) registry: &'r Registry,
    pub(super) settings: Settings,
    instances: Vec<(String, String)>,
    pub(super) sections: Vec<Section>,
    pub(super) objects: HashMap<String, Built>,
    pub(super) stacks: Vec<StackSpec>,
    pub(super) errors: Vec<ConfigError>,
    pub(super) clock: Clock,
}

fn empty_registry() -> &'static Registry {
    static EMPTY: std::sync::OnceLock<Registry> = std::sync::OnceLock::new();
    EMPTY.get_or_init(Registry::new)
}

impl Default for EngineBuilder<'static> {
    /// A builder for plugin objects only (no registry).
    fn default() -> Self {
        EngineBuilder::new(empty_registry())
    }
}

impl<'r> EngineBuilder<'r> {
    pub(crate) fn new(registry: &'r Registry) -> Self {
        EngineBuilder {
            registry,
            settings: Settings::default(),
            instances: Vec::new(),
            sections: Vec::new(),
            objects: HashMap::new(),
            stacks: Vec::new(),
            errors: Vec::new(),
            clock: system_clock(),
        }
    }

    fn error(&mut self, message: String) {
        self.errors.push(ConfigError {
            file: "<code>".into(),
            line: 0,
            key: None,
            message,
        });
    }

    fn declare(&mut self, id: &str, plugin: &str) -> bool {
        if self.instances.iter().any(|(i, _)| i == id) {
            self.error(format!("instance id '{id}' is declared twice"));
            return false;
        }
        self.instances.push((id.to_string(), plugin.to_string()));
        true
    }

    /// Declares instance `id` of registered plugin `plugin` with options.
    pub fn instance(mut self, id: &str, plugin: &str, options: &[(&str, &str)]) -> Self {
        if !self.declare(id, plugin) {
            return self;
        }
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

    /// Declares instance `id` as a source object made by the caller, producing
    /// `outputs` (the keys it sets, by position). No registry name is needed; the
    /// report shows it as plugin `object`.
    pub fn source(mut self, id: &str, source: Box<dyn Source>, outputs: Vec<KeyDef>) -> Self {
        if self.declare(id, OBJECT_PLUGIN) {
            self.objects
                .insert(id.to_string(), Built::Source { source, outputs });
        }
        self
    }

    /// Declares instance `id` as a filter or sink object made by the caller, taking
    /// `inputs` (bound by name to upstream keys, as for registered plugins) and
    /// producing `outputs` (empty for a sink). One object may serve several stacks.
    pub fn stage(
        mut self,
        id: &str,
        stage: Arc<dyn Stage>,
        inputs: Inputs,
        outputs: Vec<KeyDef>,
    ) -> Self {
        if self.declare(id, OBJECT_PLUGIN) {
            self.objects.insert(
                id.to_string(),
                Built::Stage {
                    stage,
                    inputs,
                    outputs,
                },
            );
        }
        self
    }

    /// Adds a stack of instance ids, source first. Every id must have been declared
    /// before with [`EngineBuilder::instance`], [`EngineBuilder::source`] or
    /// [`EngineBuilder::stage`]; an undeclared one is an error of [`EngineBuilder::build`].
    pub fn stack(mut self, ids: &[&str]) -> Self {
        let mut elems = Vec::new();
        for id in ids {
            match self.instances.iter().find(|(i, _)| i == id) {
                Some((_, p)) => elems.push(ElemSpec {
                    id: id.to_string(),
                    plugin: p.clone(),
                }),
                None => {
                    self.error(format!(
                        "stack '{}': instance '{id}' is not declared (use .instance, .source or .stage first)",
                        ids.join(",")
                    ));
                    return self;
                }
            }
        }
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

    /// Where the engine reads the time (timers, stage ticks, re-armed timers): a
    /// test or a simulation moves time by hand with it and calls
    /// [`crate::Engine::step`]`(Some(Duration::ZERO))`. [`std::time::Instant::now`] by
    /// default. May change before 1.0.
    pub fn clock(mut self, now: impl Fn() -> std::time::Instant + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(now);
        self
    }
}
