//! The propagation engine: the event loop, the bundle pools and the worker threads.
//!
//! Life of an event: a source runs on the loop thread, takes a bundle from its
//! own pool, fills its output slots and hands the bundle on. With `threads = 0` the
//! stacks run right there; otherwise the bundle goes through a bounded channel to a
//! worker, which runs every stack of that source on it and returns it to the pool.
//!
//! Ordering: each event of a source gets a sequence number. Filters of different
//! events may run concurrently, but before a stack's sink runs, the worker waits for
//! that stack's turn counter to reach the event's number, so every sink sees a
//! source's events in the order the kernel delivered them.
//!
//! Back-pressure: when a source's pool is empty, [`crate::Emit::emit`] returns
//! [`crate::PoolEmpty`]; the source keeps its place and the loop stops running it until a
//! worker returns a bundle (the kernel socket buffer absorbs the burst). Timers,
//! signals and other sources go on. The `pool_empty` counter says how often.
//!
//! Modules, lowest first (each uses only the ones above it):
//! - `report`: [`EngineError`], [`Report`] — what the engine hands back;
//! - `timers`: the timer heap, clock-free (the driver passes `now` in);
//! - `dispatch`: pools, [`Counters`], running stacks on a bundle, batching bundles
//!   to worker threads, the emitters sources write through;
//! - `build`: instances, key binding and the slot layout;
//! - `builder`: [`EngineBuilder`]'s declarations (instances, objects, stacks);
//! - `driver`: [`Engine`] — the mio loop, timers, signals delivered through the
//!   [`EngineHandle`], `run()` and `step()`; also `EngineBuilder::build`, so the
//!   builder does not depend on the engine;
//! - `reload`: [`Fleet`] — one engine per independent group of stacks, so a
//!   configuration reload rebuilds the groups that changed and leaves the others
//!   running untouched.

mod build;
mod builder;
mod dispatch;
mod driver;
mod hop;
mod reload;
mod report;
mod timers;

pub use builder::EngineBuilder;
pub use dispatch::Counters;
pub use driver::{Engine, EngineHandle, Step};
pub use hop::Doorbell;
pub use reload::{Fleet, FleetHandle, GroupStats, ReloadError, ReloadOutcome};
pub use report::{
    EngineError, InstanceReport, Report, Snapshot, SourceStats, StageStats, PUBLISH_EVERY,
};
