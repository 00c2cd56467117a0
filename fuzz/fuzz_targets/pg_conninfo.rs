//! Feeds arbitrary text to PGSQL's libpq-style parsers: the `connstring` option
//! (`key=value` with quotes and escapes) and a password file (`~/.pgpass` lines with
//! `\:` escapes). Both come from files a user edits. Any panic is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ulogd_export::pgconn::{parse_conninfo, pgpass_lookup};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(pairs) = parse_conninfo(s) {
        for (k, _) in &pairs {
            assert!(!k.contains('='));
        }
    }
    let _ = pgpass_lookup(s, "127.0.0.1", 5432, "ulogd", "ulogd");
});
