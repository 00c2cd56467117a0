//! ulogd-rs outputs.
#![warn(missing_docs)]
