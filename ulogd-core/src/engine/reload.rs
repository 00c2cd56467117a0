//! Reloading a configuration while it runs, without touching what did not change.
//!
//! A [`Fleet`] runs one [`Engine`] per *group* of stacks: stacks that share an
//! instance id (a source feeding several stacks, a sink shared by two sources, a
//! hop of source stacking) belong to one group, and groups share nothing. Each
//! engine runs on its own thread. A reload ([`FleetHandle::reload`]):
//!
//! 1. builds the whole new configuration once (as `--check` does, opening
//!    nothing); any error refuses the reload with every problem and leaves the
//!    running engines alone (the nginx/haproxy convention);
//! 2. compares each new group's [`GroupKey`] — its `stack=` lines, the text of
//!    every section it names, and the engine settings (`threads`, `keyspool`) —
//!    with the running groups. Line numbers are not part of the key, so a comment
//!    added above a section changes nothing;
//! 3. leaves every group whose key is unchanged running, untouched: its sockets
//!    stay open and it loses no event;
//! 4. stops (drains and flushes) the groups that changed or went away, then
//!    builds and starts the new ones. If one of them fails to start (a socket
//!    already taken, a file that cannot be opened), every new group is stopped
//!    again and the groups stopped in 4 are rebuilt from their previous
//!    configuration, and the reload reports the error.
//!
//! Why engines per group rather than one engine rebuilt in place: the engine's
//! loop, timers and worker threads index sources by position; splicing one
//! group out of a running loop would touch all of that, while an engine per group
//! keeps the loop code exactly as it is and makes "unchanged keeps running"
//! true by construction. The cost: `threads=N` means N workers per group.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use crate::config::ConfigFile;
use crate::global::{Settings, StackSpec};
use crate::options::ConfigError;
use crate::plugin::Signal;
use crate::registry::Registry;

use super::driver::{Engine, EngineHandle};
use super::report::{EngineError, Report, Snapshot};

/// The stacks (indices into `stacks`) of each independent group, in the order of
/// each group's first stack; stacks sharing an instance id are in one group.
pub fn groups(stacks: &[StackSpec]) -> Vec<Vec<usize>> {
    // Union-find over stack indices, joined through the ids they name.
    let mut parent: Vec<usize> = (0..stacks.len()).collect();
    fn find(p: &mut [usize], mut i: usize) -> usize {
        while p[i] != i {
            p[i] = p[p[i]];
            i = p[i];
        }
        i
    }
    let mut owner: HashMap<&str, usize> = HashMap::new();
    for (si, st) in stacks.iter().enumerate() {
        for el in &st.elems {
            match owner.get(el.id.as_str()) {
                Some(&other) => {
                    let (a, b) = (find(&mut parent, si), find(&mut parent, other));
                    if a != b {
                        parent[a.max(b)] = a.min(b);
                    }
                }
                None => {
                    owner.insert(&el.id, si);
                }
            }
        }
    }
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut slot: HashMap<usize, usize> = HashMap::new();
    for si in 0..stacks.len() {
        let root = find(&mut parent, si);
        let g = *slot.entry(root).or_insert_with(|| {
            out.push(Vec::new());
            out.len() - 1
        });
        out[g].push(si);
    }
    out
}

/// A section's entries as (key, value), in file order; `None` if it is absent.
type SectionText = Option<Vec<(String, String)>>;

/// What makes a group "the same" across a reload: its stacks (ids and plugins, in
/// file order), every section those stacks name (keys and values in file order, or
/// absent), and the engine settings. Line numbers are left out on purpose.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GroupKey {
    stacks: Vec<Vec<(String, String)>>,
    sections: Vec<(String, SectionText)>,
    threads: usize,
    keyspool: usize,
}

impl GroupKey {
    /// The key of the stacks `members` of `stacks`, with sections from `cfg`.
    pub fn new(
        cfg: &ConfigFile,
        stacks: &[StackSpec],
        members: &[usize],
        settings: &Settings,
    ) -> GroupKey {
        let mut ids: Vec<&str> = Vec::new();
        let mut st = Vec::new();
        for &i in members {
            let s = &stacks[i];
            st.push(
                s.elems
                    .iter()
                    .map(|e| (e.id.clone(), e.plugin.clone()))
                    .collect(),
            );
            for e in &s.elems {
                if !ids.contains(&e.id.as_str()) {
                    ids.push(&e.id);
                }
            }
        }
        let sections = ids
            .iter()
            .map(|id| {
                let body = cfg.section(id).map(|sec| {
                    sec.entries
                        .iter()
                        .map(|e| (e.key.clone(), e.value.clone()))
                        .collect()
                });
                (id.to_string(), body)
            })
            .collect();
        GroupKey {
            stacks: st,
            sections,
            threads: settings.threads,
            keyspool: settings.keyspool,
        }
    }
}

/// One group's live counters, for `ulogd --stats`.
#[derive(Clone, Debug)]
pub struct GroupStats {
    /// The group's `stack=` lines as written.
    pub stacks: Vec<String>,
    /// Whether its engine has finished (every source done, e.g. a replay).
    pub finished: bool,
    /// Its instances' counters.
    pub snapshot: Snapshot,
}

/// What a reload did, one group label (its `stack=` lines joined by `; `) each.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReloadOutcome {
    /// Unchanged groups, left running.
    pub kept: Vec<String>,
    /// Groups stopped because they changed or were removed.
    pub stopped: Vec<String>,
    /// Groups built and started from the new configuration.
    pub started: Vec<String>,
}

impl std::fmt::Display for ReloadOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "configuration reloaded: {} group(s) unchanged, {} stopped, {} started",
            self.kept.len(),
            self.stopped.len(),
            self.started.len()
        )?;
        for (what, list) in [
            ("unchanged", &self.kept),
            ("stopped", &self.stopped),
            ("started", &self.started),
        ] {
            for g in list {
                write!(f, "\n  {what}: {g}")?;
            }
        }
        Ok(())
    }
}

/// Why a reload was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The new configuration has problems (every one, each naming file, line and
    /// key); nothing was changed.
    #[error("new configuration refused ({} problem(s)); the running configuration stays", .0.len())]
    Config(Vec<ConfigError>),
    /// A new group could not start; the changed groups run their previous
    /// configuration again (`restored` says whether that worked).
    #[error("{error}; {}", if *.restored {
        "the previous configuration of the changed stacks was restored"
    } else {
        "restoring the previous configuration failed too (see the log); those stacks are stopped"
    })]
    Start {
        /// What failed to start.
        error: EngineError,
        /// Whether the previous groups run again.
        restored: bool,
    },
    /// The fleet is stopping or not running yet.
    #[error("{0}")]
    NotRunning(&'static str),
}

/// How a group came to be: enough to build it again.
struct Recipe {
    cfg: Arc<ConfigFile>,
    stacks: Vec<StackSpec>,
    settings: Settings,
}

impl Recipe {
    fn build(&self, registry: &Registry) -> Result<Engine, Vec<ConfigError>> {
        Engine::from_stacks(registry, &self.cfg, &self.stacks, self.settings.clone())
    }

    fn label(&self) -> String {
        self.stacks
            .iter()
            .map(|s| format!("stack={}", s.text))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

struct Group {
    id: u64,
    key: GroupKey,
    recipe: Recipe,
    handle: EngineHandle,
    thread: Option<JoinHandle<()>>,
    /// Set by the group's thread when its engine's `run` returned.
    result: Option<Result<Report, EngineError>>,
}

#[derive(Default)]
struct State {
    groups: Vec<Group>,
    next_id: u64,
    /// A reload is between stopping old groups and starting new ones: the set of
    /// groups is not the whole picture, so "all finished" must not be concluded.
    reloading: bool,
    running: bool,
    stop: bool,
}

struct Shared {
    registry: Arc<Registry>,
    state: Mutex<State>,
    changed: Condvar,
    /// Serialises reloads.
    reload: Mutex<()>,
    stop: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `engine` on its own thread; its result lands in group `id`.
    fn spawn(self: &Arc<Self>, id: u64, engine: Engine) -> std::io::Result<JoinHandle<()>> {
        let me = self.clone();
        std::thread::Builder::new()
            .name(format!("ulogd-engine-{id}"))
            .spawn(move || {
                engine.handle().set_linger(true);
                let r = engine.run();
                if let Err(e) = &r {
                    log::error!("{e}");
                }
                let mut st = me.lock();
                if let Some(g) = st.groups.iter_mut().find(|g| g.id == id) {
                    g.result = Some(r);
                }
                drop(st);
                me.changed.notify_all();
            })
    }
}

/// Engines for every group of a configuration, built but not started.
pub struct Fleet {
    shared: Arc<Shared>,
    pending: Vec<(u64, Engine)>,
}

/// Builds every group of `cfg`: first the whole configuration at once (so errors
/// are exactly those `--check` reports), then one engine per group.
fn build_groups(
    registry: &Registry,
    cfg: &Arc<ConfigFile>,
    stacks: &[StackSpec],
    settings: &Settings,
) -> Result<Vec<(GroupKey, Recipe, Engine)>, Vec<ConfigError>> {
    let all = groups(stacks);
    // With several groups, build the whole once first: every error exactly as
    // `--check` reports it (a group alone would miss hints drawn from the others).
    if all.len() > 1 {
        Engine::from_stacks(registry, cfg, stacks, settings.clone())?;
    }
    let mut out = Vec::new();
    for members in all {
        let key = GroupKey::new(cfg, stacks, &members, settings);
        let recipe = Recipe {
            cfg: cfg.clone(),
            stacks: members.iter().map(|&i| stacks[i].clone()).collect(),
            settings: settings.clone(),
        };
        let engine = recipe.build(registry)?;
        out.push((key, recipe, engine));
    }
    Ok(out)
}

impl Fleet {
    /// Builds one engine per group of `stacks` (nothing is opened until
    /// [`Fleet::start`]). Errors are every problem of the configuration.
    pub fn build(
        registry: Arc<Registry>,
        cfg: ConfigFile,
        stacks: &[StackSpec],
        settings: Settings,
    ) -> Result<Fleet, Vec<ConfigError>> {
        let cfg = Arc::new(cfg);
        let built = build_groups(&registry, &cfg, stacks, &settings)?;
        let mut state = State::default();
        let mut pending = Vec::new();
        for (key, recipe, engine) in built {
            let id = state.next_id;
            state.next_id += 1;
            state.groups.push(Group {
                id,
                key,
                recipe,
                handle: engine.handle(),
                thread: None,
                result: None,
            });
            pending.push((id, engine));
        }
        Ok(Fleet {
            shared: Arc::new(Shared {
                registry,
                state: Mutex::new(state),
                changed: Condvar::new(),
                reload: Mutex::new(()),
                stop: AtomicBool::new(false),
            }),
            pending,
        })
    }

    /// A handle for other threads: stop, signals, counters, reload.
    pub fn handle(&self) -> FleetHandle {
        FleetHandle {
            shared: self.shared.clone(),
        }
    }

    /// Descriptions of every group's stacks (as [`Engine::describe`]).
    pub fn describe(&self) -> Vec<String> {
        self.pending
            .iter()
            .flat_map(|(_, e)| e.describe())
            .collect()
    }

    /// Starts every engine (sinks, then sources), in configuration order. If one
    /// fails, those already started are stopped again and the error returned.
    pub fn start(&mut self) -> Result<(), EngineError> {
        for i in 0..self.pending.len() {
            if let Err(e) = self.pending[i].1.start() {
                for (_, engine) in self.pending.drain(..i) {
                    engine.finish();
                }
                return Err(e);
            }
        }
        Ok(())
    }

    /// Runs every engine, each on its own thread, until stopped
    /// ([`FleetHandle::stop`]) or until every engine has finished; a reload may
    /// replace engines meanwhile. Returns the final counters of the engines that
    /// ran to the end, or the first error of one.
    pub fn run(mut self) -> Result<Report, EngineError> {
        let shared = self.shared.clone();
        {
            let mut st = shared.lock();
            for (id, engine) in self.pending.drain(..) {
                let t = shared.spawn(id, engine)?;
                if let Some(g) = st.groups.iter_mut().find(|g| g.id == id) {
                    g.thread = Some(t);
                }
            }
            st.running = true;
            loop {
                let failed = st.groups.iter().any(|g| matches!(g.result, Some(Err(_))));
                // A group whose sources all finished lingers (its outputs keep
                // retrying and flushing) until every group is done.
                let done = !st.reloading
                    && st
                        .groups
                        .iter()
                        .all(|g| g.result.is_some() || g.handle.sources_finished());
                if st.stop || failed || done {
                    st.stop = true;
                    break;
                }
                st = shared
                    .changed
                    .wait_timeout(st, std::time::Duration::from_millis(200))
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            for g in &st.groups {
                g.handle.stop();
            }
        }
        shared.stop.store(true, Ordering::SeqCst);
        // Let a reload in progress finish (it sees `stop` and stops what it started).
        let _reload = shared.reload.lock().unwrap_or_else(|e| e.into_inner());
        let threads: Vec<_> = shared
            .lock()
            .groups
            .iter_mut()
            .filter_map(|g| g.thread.take())
            .collect();
        for t in threads {
            let _ = t.join();
        }
        let mut report = Report::default();
        let mut first_err = None;
        for g in shared.lock().groups.drain(..) {
            match g.result {
                Some(Ok(r)) => report.instances.extend(r.instances),
                Some(Err(e)) => {
                    first_err.get_or_insert(e);
                }
                None => {}
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }
}

/// Controls a running [`Fleet`] from any thread. Cheap to clone.
#[derive(Clone)]
pub struct FleetHandle {
    shared: Arc<Shared>,
}

impl FleetHandle {
    /// Stops every engine (each drains and flushes); [`Fleet::run`] then returns.
    pub fn stop(&self) {
        let mut st = self.shared.lock();
        st.stop = true;
        for g in &st.groups {
            g.handle.stop();
        }
        drop(st);
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.changed.notify_all();
    }

    /// Passes `sig` to every engine ([`EngineHandle::signal`]).
    pub fn signal(&self, sig: Signal) {
        for g in &self.shared.lock().groups {
            g.handle.signal(sig);
        }
    }

    /// Every instance's counters now, all groups together.
    pub fn snapshot(&self) -> Snapshot {
        let mut out = Snapshot::default();
        for g in self.groups() {
            out.sources.extend(g.snapshot.sources);
            out.stages.extend(g.snapshot.stages);
        }
        out
    }

    /// Each group's stacks and counters now.
    pub fn groups(&self) -> Vec<GroupStats> {
        let handles: Vec<_> = self
            .shared
            .lock()
            .groups
            .iter()
            .map(|g| {
                (
                    g.recipe.stacks.iter().map(|s| s.text.clone()).collect(),
                    g.result.is_some(),
                    g.handle.clone(),
                )
            })
            .collect();
        handles
            .into_iter()
            .map(|(stacks, finished, h)| GroupStats {
                stacks,
                finished,
                snapshot: h.snapshot(),
            })
            .collect()
    }

    /// Replaces the running configuration by `cfg` (see the module comment):
    /// unchanged groups keep running, changed ones are rebuilt. A configuration
    /// with problems is refused with every one of them and changes nothing.
    pub fn reload(
        &self,
        cfg: ConfigFile,
        stacks: &[StackSpec],
        settings: Settings,
    ) -> Result<ReloadOutcome, ReloadError> {
        let shared = &self.shared;
        let _serial = shared.reload.lock().unwrap_or_else(|e| e.into_inner());
        if shared.stop.load(Ordering::SeqCst) {
            return Err(ReloadError::NotRunning("the daemon is stopping"));
        }
        let cfg = Arc::new(cfg);
        let built =
            build_groups(&shared.registry, &cfg, stacks, &settings).map_err(ReloadError::Config)?;
        let mut outcome = ReloadOutcome::default();
        // Decide under the lock; stop and start outside it (a group's thread takes
        // the lock when its engine returns).
        let mut removed = Vec::new();
        let mut fresh = Vec::new();
        {
            let mut st = shared.lock();
            if !st.running || st.stop {
                return Err(ReloadError::NotRunning(
                    "the daemon is not running its stacks yet",
                ));
            }
            let mut i = 0;
            while i < st.groups.len() {
                if built.iter().any(|(k, _, _)| *k == st.groups[i].key) {
                    outcome.kept.push(st.groups[i].recipe.label());
                    i += 1;
                } else {
                    removed.push(st.groups.remove(i));
                }
            }
            for (key, recipe, engine) in built {
                if !st.groups.iter().any(|g| g.key == key) {
                    fresh.push((key, recipe, engine));
                }
            }
            st.reloading = true;
        }
        for g in &removed {
            outcome.stopped.push(g.recipe.label());
            log::info!("reload: stopping {}", g.recipe.label());
            g.handle.stop();
        }
        for g in &mut removed {
            if let Some(t) = g.thread.take() {
                let _ = t.join();
            }
        }
        // Start the new groups; on the first failure, undo.
        let mut started: Vec<(GroupKey, Recipe, Engine)> = Vec::new();
        let mut failure = None;
        for (key, recipe, mut engine) in fresh {
            match engine.start() {
                Ok(()) => started.push((key, recipe, engine)),
                Err(e) => {
                    log::error!("reload: {e}");
                    failure = Some(e);
                    break;
                }
            }
        }
        let mut restored = true;
        let install: Vec<(GroupKey, Recipe, Engine)> = if failure.is_some() {
            for (_, _, engine) in started {
                engine.finish();
            }
            let mut back = Vec::new();
            for g in removed {
                let again = g
                    .recipe
                    .build(&shared.registry)
                    .map_err(EngineError::Config)
                    .and_then(|mut e| e.start().map(|()| e));
                match again {
                    Ok(e) => back.push((g.key, g.recipe, e)),
                    Err(e) => {
                        log::error!("reload: cannot restore {}: {e}", g.recipe.label());
                        restored = false;
                    }
                }
            }
            back
        } else {
            for (_, recipe, _) in &started {
                log::info!("reload: starting {}", recipe.label());
                outcome.started.push(recipe.label());
            }
            started
        };
        let mut st = shared.lock();
        for (key, recipe, engine) in install {
            let id = st.next_id;
            st.next_id += 1;
            let handle = engine.handle();
            if st.stop {
                handle.stop();
            }
            let thread = match shared.spawn(id, engine) {
                Ok(t) => Some(t),
                Err(e) => {
                    log::error!("reload: cannot start a thread: {e}");
                    None
                }
            };
            st.groups.push(Group {
                id,
                key,
                recipe,
                handle,
                thread,
                result: None,
            });
        }
        st.reloading = false;
        drop(st);
        shared.changed.notify_all();
        match failure {
            Some(error) => Err(ReloadError::Start { error, restored }),
            None => Ok(outcome),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::global::Global;
    use std::path::Path;

    fn parse(text: &str) -> (ConfigFile, Global) {
        let cfg = ConfigFile::parse(Path::new("t.conf"), text).unwrap();
        let g = Global::from_config(&cfg).unwrap();
        (cfg, g)
    }

    #[test]
    fn stacks_sharing_an_id_form_one_group() {
        let (_, g) = parse(
            "[global]\n\
             stack=a:NFLOG,b:BASE,o1:LOGEMU\n\
             stack=c:NFLOG,o2:LOGEMU\n\
             stack=a:NFLOG,o3:JSON\n\
             stack=d:NFCT,o2:LOGEMU\n\
             stack=e:NFCT,o4:JSON\n",
        );
        assert_eq!(groups(&g.stacks), vec![vec![0, 2], vec![1, 3], vec![4]]);
    }

    #[test]
    fn a_group_joined_late_merges_earlier_groups() {
        // Stack 2 names an id of stack 0 and one of stack 1: all three are one group.
        let (_, g) = parse(
            "[global]\nstack=a:NFLOG,o1:LOGEMU\nstack=b:NFLOG,o2:LOGEMU\nstack=b:NFLOG,o1:LOGEMU\n",
        );
        assert_eq!(groups(&g.stacks), vec![vec![0, 1, 2]]);
    }

    fn keys(text: &str) -> Vec<GroupKey> {
        let (cfg, g) = parse(text);
        groups(&g.stacks)
            .iter()
            .map(|m| GroupKey::new(&cfg, &g.stacks, m, &g.settings))
            .collect()
    }

    #[test]
    fn keys_ignore_line_numbers_and_other_groups_sections() {
        let a = keys(
            "[global]\nstack=a:NFLOG,o1:LOGEMU\nstack=b:NFLOG,o2:LOGEMU\n\
             [a]\ngroup=1\n[o1]\nfile=\"x\"\n[b]\ngroup=2\n[o2]\nfile=\"y\"\n",
        );
        let b = keys(
            "# a comment\n[global]\nstack=a:NFLOG,o1:LOGEMU\nstack=b:NFLOG,o2:LOGEMU\n\
             [b]\ngroup=2\n[o2]\nfile=\"z\"\n\n\n[a]\ngroup=1\n[o1]\nfile=\"x\"\n",
        );
        assert_eq!(a[0], b[0], "group a unchanged (moved, other lines)");
        assert_ne!(a[1], b[1], "group b changed (o2's file)");
    }

    #[test]
    fn keys_see_stack_lines_missing_sections_and_engine_settings() {
        let base = keys("[global]\nstack=a:NFLOG,o1:LOGEMU\n[a]\n[o1]\n");
        assert_ne!(base, keys("[global]\nstack=a:NFLOG,o1:JSON\n[a]\n[o1]\n"));
        assert_ne!(base, keys("[global]\nstack=a:NFLOG,o1:LOGEMU\n[a]\n"));
        assert_ne!(
            base,
            keys("[global]\nthreads=2\nstack=a:NFLOG,o1:LOGEMU\n[a]\n[o1]\n")
        );
        assert_eq!(
            base,
            keys("[global]\nloglevel=3\nstack=a:NFLOG,o1:LOGEMU\n[a]\n[o1]\n"),
            "daemon settings are not the engine's business"
        );
    }

    #[test]
    fn outcome_names_every_group() {
        let o = ReloadOutcome {
            kept: vec!["stack=a:X,b:Y".into()],
            stopped: vec!["stack=c:X,d:Y".into()],
            started: vec!["stack=c:X,e:Y".into()],
        };
        let s = o.to_string();
        assert!(s.starts_with("configuration reloaded: 1 group(s) unchanged, 1 stopped, 1 started"));
        assert!(s.contains("\n  unchanged: stack=a:X,b:Y"));
        assert!(s.contains("\n  started: stack=c:X,e:Y"));
    }
}
