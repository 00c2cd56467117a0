//! The hot path allocates nothing: the allocations of a run with 101,000 events
//! equal those of a run with 1,000 (start-up and shutdown only), with the stacks
//! inline and on worker threads.

use std::sync::atomic::Ordering;

use ulogd_benches::{run_stack, CountingAlloc, ALLOCATIONS};

#[global_allocator]
static A: CountingAlloc = CountingAlloc;

/// The counter is global: tests of this file must not run at the same time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn zero_allocations_per_event_in_steady_state() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
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

#[test]
fn flow_meter_allocates_nothing_per_packet_or_per_record() {
    use ulogd_benches::run_flow_stack;
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    for threads in [0usize, 2] {
        // (tuples, max_flows): updates of 64 flows; a flood of new tuples into a
        // full table (an eviction and a record per packet).
        for (tuples, max_flows) in [(64u64, 1024usize), (0, 256)] {
            run_flow_stack(1_000, threads, tuples, max_flows);
            let before = ALLOCATIONS.load(Ordering::Relaxed);
            let small_records = run_flow_stack(1_000, threads, tuples, max_flows);
            let small = ALLOCATIONS.load(Ordering::Relaxed) - before;
            let before = ALLOCATIONS.load(Ordering::Relaxed);
            let big_records = run_flow_stack(101_000, threads, tuples, max_flows);
            let big = ALLOCATIONS.load(Ordering::Relaxed) - before;
            for (n, (records, dropped)) in [(1_000, small_records), (101_000, big_records)] {
                if tuples == 0 {
                    // Every packet is a flow: a record, or counted as not metered.
                    assert_eq!(records + dropped, n, "threads={threads}");
                } else {
                    assert_eq!((records, dropped), (64, 0), "threads={threads}");
                }
            }
            assert!(
                big <= small + 16,
                "threads={threads} tuples={tuples}: {small} allocations for 1k packets but {big} for 101k"
            );
        }
    }
}
