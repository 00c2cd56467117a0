//! The hot path allocates nothing: the allocations of a run with 101,000 events
//! equal those of a run with 1,000 (start-up and shutdown only), with the stacks
//! inline and on worker threads.

use std::sync::atomic::Ordering;

use ulogd_benches::{run_stack, CountingAlloc, ALLOCATIONS};

#[global_allocator]
static A: CountingAlloc = CountingAlloc;

#[test]
fn zero_allocations_per_event_in_steady_state() {
    for threads in [0usize, 2] {
        // Warm up once (thread-locals, lazily initialised statics).
        run_stack(1_000, threads);
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        run_stack(1_000, threads);
        let small = ALLOCATIONS.load(Ordering::Relaxed) - before;
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        run_stack(101_000, threads);
        let big = ALLOCATIONS.load(Ordering::Relaxed) - before;
        // Allow a handful of allocations of noise (thread start-up timing), never per event.
        assert!(
            big <= small + 16,
            "threads={threads}: {small} allocations for 1k events but {big} for 101k"
        );
    }
}
