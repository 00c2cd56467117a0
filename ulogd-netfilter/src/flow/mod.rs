//! FLOW: a packet-to-flow meter (like softflowd or pmacct's nfprobe, fed by NFLOG,
//! NFQUEUE, REPLAY or PYTHON after BASE) that heads flow stacks of its own through
//! source stacking (`ulogd-core/src/engine/hop.rs`).
//!
//! - [`table`]: the flow table, a clock-free state machine with bounded memory;
//! - [`config`]: the options, checked into a typed configuration;
//! - [`plugin`]: the two halves of the plugin around the table.

pub mod config;
pub mod plugin;
pub mod table;

pub use plugin::register;
