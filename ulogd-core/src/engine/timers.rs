//! Timers of the event loop: one heap for source timers and stage ticks, with no
//! clock of its own. The driver passes `now` in (quinn-proto style), so the rules —
//! periodic timers re-arm from the time they fired, re-arming a timer cancels its
//! pending deadline — are tested here with made-up instants, without sleeping.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where the engine reads the time. [`std::time::Instant::now`] unless a test or a
/// simulation injects its own (see `EngineBuilder::clock`).
pub(crate) type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

pub(crate) fn system_clock() -> Clock {
    Arc::new(Instant::now)
}

/// A timer that fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Due {
    /// Source `src`'s timer `idx` (as returned by `SourceSetup::add_timer`).
    Source { src: usize, idx: usize },
    /// Stage `stage`'s tick; the driver re-arms it with the stage's current interval.
    Tick { stage: usize },
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Entry {
    Source {
        src: usize,
        idx: usize,
        generation: u64,
    },
    Tick {
        stage: usize,
    },
}

struct SourceTimer {
    period: Option<Duration>,
    /// Bumped on every re-arm, so older heap entries of this timer are skipped.
    generation: u64,
}

#[derive(Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, Entry)>>,
    /// Per source, its timers by index.
    sources: Vec<Vec<SourceTimer>>,
}

impl Timers {
    /// Adds source `src`'s next timer, first due at `first`; returns its index.
    pub(crate) fn add(&mut self, src: usize, first: Instant, period: Option<Duration>) -> usize {
        if self.sources.len() <= src {
            self.sources.resize_with(src + 1, Vec::new);
        }
        let list = &mut self.sources[src];
        list.push(SourceTimer {
            period,
            generation: 0,
        });
        let idx = list.len() - 1;
        self.heap.push(Reverse((
            first,
            Entry::Source {
                src,
                idx,
                generation: 0,
            },
        )));
        idx
    }

    /// Whether source `src` has any timer.
    pub(crate) fn has_any(&self, src: usize) -> bool {
        self.sources.get(src).is_some_and(|l| !l.is_empty())
    }

    /// Re-arms source `src`'s timer `idx` to fire once at `at`, replacing its pending
    /// deadline (a periodic timer goes on with its period from then). Unknown indices
    /// are ignored: they come from a plugin, not from the engine.
    pub(crate) fn rearm(&mut self, src: usize, idx: usize, at: Instant) {
        let Some(t) = self.sources.get_mut(src).and_then(|l| l.get_mut(idx)) else {
            return;
        };
        t.generation += 1;
        self.heap.push(Reverse((
            at,
            Entry::Source {
                src,
                idx,
                generation: t.generation,
            },
        )));
    }

    /// Arms stage `stage`'s tick at `at`.
    pub(crate) fn tick_at(&mut self, stage: usize, at: Instant) {
        self.heap.push(Reverse((at, Entry::Tick { stage })));
    }

    /// The earliest deadline (possibly a cancelled one: waking early is harmless).
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((t, _))| *t)
    }

    /// Pops one timer due at `now`, re-arming periodic source timers from `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Due> {
        while let Some(Reverse((t, e))) = self.heap.peek().copied() {
            if t > now {
                return None;
            }
            self.heap.pop();
            match e {
                Entry::Tick { stage } => return Some(Due::Tick { stage }),
                Entry::Source {
                    src,
                    idx,
                    generation,
                } => {
                    let tm = &self.sources[src][idx];
                    if tm.generation != generation {
                        continue;
                    }
                    if let Some(p) = tm.period {
                        self.heap.push(Reverse((now + p, e)));
                    }
                    return Some(Due::Source { src, idx });
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn drain(t: &mut Timers, now: Instant) -> Vec<Due> {
        std::iter::from_fn(|| t.pop_due(now)).collect()
    }

    #[test]
    fn one_shot_fires_once_at_its_deadline() {
        let t0 = Instant::now();
        let mut t = Timers::default();
        let i = t.add(0, t0 + ms(10), None);
        assert_eq!(drain(&mut t, t0 + ms(9)), vec![]);
        assert_eq!(t.next_deadline(), Some(t0 + ms(10)));
        assert_eq!(
            drain(&mut t, t0 + ms(10)),
            vec![Due::Source { src: 0, idx: i }]
        );
        assert_eq!(drain(&mut t, t0 + ms(1000)), vec![]);
        assert_eq!(t.next_deadline(), None);
    }

    #[test]
    fn periodic_rearms_from_when_it_fired() {
        let t0 = Instant::now();
        let mut t = Timers::default();
        t.add(1, t0 + ms(5), Some(ms(10)));
        assert_eq!(drain(&mut t, t0 + ms(7)).len(), 1);
        // Next one is 10 ms after it fired (7), not after it was due (5).
        assert_eq!(t.next_deadline(), Some(t0 + ms(17)));
        assert_eq!(drain(&mut t, t0 + ms(16)), vec![]);
        assert_eq!(
            drain(&mut t, t0 + ms(17)),
            vec![Due::Source { src: 1, idx: 0 }]
        );
    }

    #[test]
    fn rearm_replaces_the_pending_deadline() {
        let t0 = Instant::now();
        let mut t = Timers::default();
        let i = t.add(0, t0 + ms(10), None);
        t.rearm(0, i, t0 + ms(50));
        // The original deadline no longer fires.
        assert_eq!(drain(&mut t, t0 + ms(20)), vec![]);
        assert_eq!(
            drain(&mut t, t0 + ms(50)),
            vec![Due::Source { src: 0, idx: i }]
        );
        // Unknown timers from a confused plugin are ignored.
        t.rearm(0, 7, t0);
        t.rearm(9, 0, t0);
        assert_eq!(drain(&mut t, t0 + ms(100)), vec![]);
    }

    #[test]
    fn ticks_and_source_timers_share_the_heap_in_time_order() {
        let t0 = Instant::now();
        let mut t = Timers::default();
        t.tick_at(3, t0 + ms(20));
        t.add(0, t0 + ms(10), None);
        assert_eq!(
            drain(&mut t, t0 + ms(30)),
            vec![Due::Source { src: 0, idx: 0 }, Due::Tick { stage: 3 }]
        );
        assert!(!t.has_any(1));
        assert!(t.has_any(0));
    }
}
