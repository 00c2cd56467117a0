//! Runs `examples/embed.rs` as a test, so the embedding example cannot rot, and checks
//! that embedding the engine leaves the process's signal dispositions alone.
#![allow(dead_code)]
include!("../examples/embed.rs");

/// The current handler of `sig` (SIG_DFL, SIG_IGN or a function address).
fn disposition(sig: libc::c_int) -> libc::sighandler_t {
    // SAFETY: a zeroed sigaction is a valid out-parameter; a null `act` only reads
    // the current disposition.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        assert_eq!(libc::sigaction(sig, std::ptr::null(), &mut old), 0);
        old.sa_sigaction
    }
}

#[test]
fn embed_example_runs_and_installs_no_signal_handler() {
    let sigs = [
        libc::SIGHUP,
        libc::SIGTERM,
        libc::SIGINT,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGPIPE,
    ];
    let before: Vec<_> = sigs.iter().map(|&s| disposition(s)).collect();
    let live = embed();
    let after: Vec<_> = sigs.iter().map(|&s| disposition(s)).collect();
    assert_eq!(before, after, "the engine changed a signal disposition");
    assert_eq!(disposition(libc::SIGHUP), libc::SIG_DFL);
    // The handle's snapshot taken after the last step has every event.
    assert_eq!(live.sources[0].id, "t1");
    assert_eq!(live.sources[0].plugin, "object");
    assert_eq!(live.sources[0].events, 5);
    assert_eq!(live.stages[0].ok, 5);
    assert_eq!(live.stages[0].errors, 0);
}
