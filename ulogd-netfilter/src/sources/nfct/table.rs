//! The flow cache of hash mode: start times of live flows, and the flows a dump no
//! longer shows. No I/O, no clock: callers pass `now`.

use std::collections::{HashMap, VecDeque};

use super::super::nfct_keys::{ns_to_ts, CtFlow, Ts, CT_EVENT_DESTROY};
use crate::wire::TupleRepr;

/// A record to emit: a flow, its `ct.event` and its times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) flow: CtFlow,
    pub(crate) event: u32,
    pub(crate) start: Option<Ts>,
    pub(crate) end: Option<Ts>,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    flow: CtFlow,
    start: Option<Ts>,
    gen: u32,
}

/// The hash-mode flow cache: start times between NEW and DESTROY, and the last known
/// state of each flow so that polling and resync can emit flows that vanished.
/// Deterministic: callers pass the time in.
pub(crate) struct FlowTable {
    map: HashMap<(TupleRepr, u32), Entry>,
    max: usize,
    gen: u32,
    /// Flows not cached because the table was full.
    pub(crate) dropped_full: u64,
}

fn key(f: &CtFlow) -> (TupleRepr, u32) {
    (f.orig, f.id)
}

impl FlowTable {
    pub(crate) fn new(buckets: usize, max: usize) -> FlowTable {
        FlowTable {
            map: HashMap::with_capacity(buckets.min(max)),
            max,
            gen: 0,
            dropped_full: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    fn upsert(&mut self, flow: &CtFlow, start_if_new: Option<Ts>) {
        let gen = self.gen;
        if let Some(e) = self.map.get_mut(&key(flow)) {
            e.flow.update_from(flow);
            e.gen = gen;
            if e.start.is_none() {
                e.start = flow.kstart.map(ns_to_ts);
            }
            return;
        }
        if self.map.len() >= self.max {
            self.dropped_full += 1;
            return;
        }
        self.map.insert(
            key(flow),
            Entry {
                flow: *flow,
                start: flow.kstart.map(ns_to_ts).or(start_if_new),
                gen,
            },
        );
    }

    /// A NEW event: the flow starts now (or at the kernel's start time).
    pub(crate) fn on_new(&mut self, flow: &CtFlow, now: Ts) {
        self.upsert(flow, Some(now));
    }

    /// An UPDATE event: refresh the cached state (an unknown flow's start stays
    /// unknown unless the kernel says).
    pub(crate) fn on_update(&mut self, flow: &CtFlow) {
        self.upsert(flow, None);
    }

    /// A DESTROY event: the flow's end record.
    pub(crate) fn on_destroy(&mut self, flow: &CtFlow, now: Ts) -> Record {
        let cached = self.map.remove(&key(flow));
        let mut f = *flow;
        let mut start = flow.kstart.map(ns_to_ts);
        if let Some(e) = cached {
            let mut merged = e.flow;
            merged.update_from(flow);
            f = merged;
            start = start.or(e.start);
        }
        Record {
            flow: f,
            event: CT_EVENT_DESTROY,
            start,
            end: Some(flow.kstop.map(ns_to_ts).unwrap_or(now)),
        }
    }

    /// A dump starts: entries not seen by [`FlowTable::end_dump`] have vanished.
    pub(crate) fn begin_dump(&mut self) {
        self.gen = self.gen.wrapping_add(1);
    }

    /// One entry of a dump. `start_if_new` is the start time of a flow first seen
    /// now (polling: now; the initial fill: unknown).
    pub(crate) fn on_dump_entry(&mut self, flow: &CtFlow, start_if_new: Option<Ts>) {
        self.upsert(flow, start_if_new);
    }

    /// The dump is complete: every flow it did not list has ended since the last one;
    /// their DESTROY records (last known counters, `now` as end) go to `out`.
    /// Returns how many.
    pub(crate) fn end_dump(&mut self, now: Ts, out: &mut VecDeque<Record>) -> usize {
        let gen = self.gen;
        let mut n = 0;
        self.map.retain(|_, e| {
            if e.gen == gen {
                return true;
            }
            n += 1;
            out.push_back(Record {
                flow: e.flow,
                event: CT_EVENT_DESTROY,
                start: e.start,
                end: Some(e.flow.kstop.map(ns_to_ts).unwrap_or(now)),
            });
            false
        });
        n
    }

    /// Start time known for a flow, if cached.
    pub(crate) fn start_of(&self, flow: &CtFlow) -> Option<Ts> {
        self.map.get(&key(flow)).and_then(|e| e.start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ctnetlink::AF_INET;
    use crate::wire::{CtCounters, CtEvent, CtRepr};

    fn flow(sport: u16, id: u32, kstart: Option<u64>) -> CtFlow {
        CtFlow::from_repr(&CtRepr {
            family: AF_INET,
            event: CtEvent::New,
            orig: Some(TupleRepr {
                src: Some("10.0.0.1".parse().unwrap()),
                dst: Some("10.0.0.2".parse().unwrap()),
                proto: Some(17),
                sport: Some(sport),
                dport: Some(53),
                ..TupleRepr::default()
            }),
            id: Some(id),
            timestamp_start: kstart,
            ..CtRepr::default()
        })
    }

    #[test]
    fn cache_gives_start_and_end_times() {
        let mut t = FlowTable::new(16, 16);
        let a = flow(1000, 1, None);
        t.on_new(&a, (100, 5));
        let mut d = a;
        d.counters_orig = CtCounters {
            packets: 2,
            bytes: 120,
        };
        let r = t.on_destroy(&d, (160, 7));
        assert_eq!(r.start, Some((100, 5)));
        assert_eq!(r.end, Some((160, 7)));
        assert_eq!(r.flow.counters_orig.packets, 2);
        assert_eq!(t.len(), 0);
        // Kernel timestamps win.
        let b = flow(1001, 2, Some(90_000_000_000));
        t.on_new(&b, (100, 0));
        let mut bd = b;
        bd.kstop = Some(95_500_000_000);
        let r = t.on_destroy(&bd, (160, 0));
        assert_eq!((r.start, r.end), (Some((90, 0)), Some((95, 500_000))));
        // An unknown flow still ends, without a start.
        let r = t.on_destroy(&flow(7, 7, None), (1, 0));
        assert_eq!((r.start, r.end), (None, Some((1, 0))));
    }

    #[test]
    fn dumps_find_vanished_flows() {
        let mut t = FlowTable::new(16, 16);
        let mut out = VecDeque::new();
        t.begin_dump();
        t.on_dump_entry(&flow(1, 1, None), Some((10, 0)));
        t.on_dump_entry(&flow(2, 2, None), Some((10, 0)));
        assert_eq!(t.end_dump((10, 0), &mut out), 0);
        // Second poll: flow 2 is gone, flow 3 is new; an event-inserted flow 4 during
        // the dump is not mistaken for a vanished one.
        t.begin_dump();
        let mut f1 = flow(1, 1, None);
        f1.counters_orig.packets = 9;
        t.on_dump_entry(&f1, Some((20, 0)));
        t.on_new(&flow(4, 4, None), (21, 0));
        t.on_dump_entry(&flow(3, 3, None), Some((20, 0)));
        assert_eq!(t.end_dump((22, 0), &mut out), 1);
        let r = out.pop_front().unwrap();
        assert_eq!(r.flow.orig.sport, Some(2));
        assert_eq!((r.event, r.start, r.end), (4, Some((10, 0)), Some((22, 0))));
        assert_eq!(t.len(), 3);
        assert_eq!(t.start_of(&f1), Some((10, 0)));
    }

    #[test]
    fn full_cache_counts_drops() {
        let mut t = FlowTable::new(1, 2);
        for i in 0..5 {
            t.on_new(&flow(i, u32::from(i), None), (0, 0));
        }
        assert_eq!((t.len(), t.dropped_full), (2, 3));
    }
}
