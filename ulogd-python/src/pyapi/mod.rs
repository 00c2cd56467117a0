//! The `ulogd` module a script imports: keylists, keysets and keys over events,
//! timers, fds, the source handle, `log()` and the fork's constants. Uses `host`,
//! `value` and `bridge` below it; `keyset` is below `module`.

pub(crate) mod keyset;
pub(crate) mod module;
