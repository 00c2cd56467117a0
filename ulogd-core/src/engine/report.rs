//! What the engine tells its owner: errors while starting or running, and counters.
//!
//! Nothing here touches the loop or the workers; the driver fills these types from
//! the atomics of [`super::dispatch`].

/// An error while starting or running the engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A plugin instance failed to start (file, socket, permission).
    #[error("cannot start '{id}' ({plugin}): {message}")]
    Start {
        /// Instance id.
        id: String,
        /// Plugin name.
        plugin: String,
        /// Why.
        message: String,
    },
    /// The event loop itself failed.
    #[error("event loop: {0}")]
    Io(#[from] std::io::Error),
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
