//! Fuzzes both configuration parsers (ulogd.conf ini syntax and TOML): arbitrary bytes,
//! decoded as lossy UTF-8 like `ConfigFile::load` does, must never panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let origin = Path::new("fuzz.conf");
    if let Err(e) = ulogd_core::config::parse_ini(origin, &text) {
        assert!(e.line >= 1, "ini errors always name a line: {e}");
    }
    let _ = ulogd_core::config::parse_toml(origin, &text);
});
