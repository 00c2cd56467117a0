//! Runs `examples/embed.rs` as a test, so the embedding example cannot rot.
#![allow(dead_code)]
include!("../examples/embed.rs");

#[test]
fn embed_example_runs() {
    main();
}
