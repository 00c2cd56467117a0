//! `ulogd`: the ulogd-rs daemon. It reads a configuration, composes the built-in
//! plugins into stacks and runs the engine; all logic lives in the library crates,
//! the daemon's own concerns (log, signals, pid file, detaching, privileges) in
//! [`daemon`].

// `unsafe` only in the daemon module (libc calls a library must not make).
#![deny(unsafe_code)]

mod app;
mod client;
#[allow(unsafe_code)]
mod daemon;
mod flags;
mod info;
mod man;
mod outcome;
mod startup;

fn main() -> std::process::ExitCode {
    app::run(flags::parse())
}
