//! What the engine tells its owner: errors while starting or running, and counters.
//!
//! Nothing here touches the loop or the workers; the driver fills these types from
//! the atomics of the dispatch module.

use crate::options::ConfigError;
use crate::plugin::PluginError;

/// An error while building, starting or running the engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// Building found problems in the configuration or the stacks (every one of
    /// them, each naming file, line and key). The builders return these as a plain
    /// `Vec<ConfigError>`; this variant lets a host `?` them into one error type.
    #[error("{}", lines(.0))]
    Config(Vec<ConfigError>),
    /// A plugin instance failed to start (file, socket, permission).
    #[error("cannot start '{id}' ({plugin}): {error}")]
    Start {
        /// Instance id.
        id: String,
        /// Plugin name.
        plugin: String,
        /// What the plugin said.
        #[source]
        error: Box<PluginError>,
    },
    /// The event loop itself failed.
    #[error("event loop: {0}")]
    Io(#[from] std::io::Error),
}

fn lines(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

impl From<Vec<ConfigError>> for EngineError {
    fn from(e: Vec<ConfigError>) -> Self {
        EngineError::Config(e)
    }
}

/// Counters of one instance, for SIGUSR1 and the shutdown summary.
#[derive(Debug, Clone)]
pub struct InstanceReport {
    /// Instance id.
    pub id: String,
    /// Plugin name.
    pub plugin: String,
    /// (counter name, value).
    pub counters: Vec<(&'static str, u64)>,
}

/// Every instance's counters.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Sources first, then filters and sinks.
    pub instances: Vec<InstanceReport>,
}

impl Report {
    /// One counter of one instance.
    pub fn get(&self, id: &str, counter: &str) -> Option<u64> {
        self.instances
            .iter()
            .find(|i| i.id == id)?
            .counters
            .iter()
            .find(|c| c.0 == counter)
            .map(|c| c.1)
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for i in &self.instances {
            write!(f, "{} ({}):", i.id, i.plugin)?;
            for (k, v) in &i.counters {
                write!(f, " {k}={v}")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// Live counters of one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceStats {
    /// Instance id.
    pub id: String,
    /// Plugin name (`object` for a source given as an object).
    pub plugin: String,
    /// Events emitted into the stacks.
    pub events: u64,
    /// How often the source found its pool empty and had to pause (back-pressure).
    pub pool_empty: u64,
    /// Bundles in the pool (`keyspool`).
    pub pool_size: usize,
    /// Bundles in flight right now (taken, not yet back).
    pub in_flight: usize,
    /// Whether the source is paused on an empty pool right now.
    pub blocked: bool,
    /// The plugin's own counters (overruns, gaps...), as of the loop's last
    /// publication: at most [`PUBLISH_EVERY`] old when read through a handle, fresh
    /// from [`super::Engine::snapshot`].
    pub counters: Vec<(&'static str, u64)>,
}

/// Live counters of one filter or sink instance (shared by every stack using it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageStats {
    /// Instance id.
    pub id: String,
    /// Plugin name (`object` for a stage given as an object).
    pub plugin: String,
    /// Events handed to it.
    pub events_in: u64,
    /// Events it passed on (filters) or consumed (sinks).
    pub ok: u64,
    /// Events it stopped (filtered out).
    pub stopped: u64,
    /// Events it failed on (including caught panics).
    pub errors: u64,
    /// When it last failed on an event (wall clock), if ever.
    pub last_error: Option<std::time::SystemTime>,
    /// The plugin's own counters.
    pub counters: Vec<(&'static str, u64)>,
}

/// Every instance's counters at one moment: what SIGUSR1 logs and what a metrics
/// endpoint serves. Reading one costs a few atomic loads and one short lock per
/// source, never a wait on the event loop.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Sources, in configuration order.
    pub sources: Vec<SourceStats>,
    /// Filters and sinks, in configuration order.
    pub stages: Vec<StageStats>,
}

/// How often the loop publishes the sources' own counters for handles.
pub const PUBLISH_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

impl From<&Snapshot> for Report {
    fn from(s: &Snapshot) -> Report {
        let mut r = Report::default();
        for src in &s.sources {
            let mut c = vec![("events", src.events), ("pool_empty", src.pool_empty)];
            c.extend(src.counters.iter().copied());
            r.instances.push(InstanceReport {
                id: src.id.clone(),
                plugin: src.plugin.clone(),
                counters: c,
            });
        }
        for st in &s.stages {
            let mut c = vec![
                ("in", st.events_in),
                ("ok", st.ok),
                ("stopped", st.stopped),
                ("errors", st.errors),
            ];
            c.extend(st.counters.iter().copied());
            r.instances.push(InstanceReport {
                id: st.id.clone(),
                plugin: st.plugin.clone(),
                counters: c,
            });
        }
        r
    }
}
