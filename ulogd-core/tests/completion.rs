//! A source's completion reads the source's own keys by output position and gets the
//! verdict a stage set (what NFQ relies on to answer the kernel), with and without
//! worker threads, also when a plugin panicked.

use std::sync::{Arc, Mutex};

use ulogd_core::{
    Built, Completion, Emit, Event, Flow, Inputs, KeyDef, KeyType, Kind, PluginError, PluginSpec,
    Registry, Ret, Source, SourceSetup, Stage, Verdict, VerdictAction, Wake,
};

static KEYS: &[KeyDef] = &[
    KeyDef::new("n", KeyType::U32),
    KeyDef::new("q", KeyType::U16),
];

type Seen = Arc<Mutex<Vec<(Option<u32>, Option<u16>, Option<Verdict>)>>>;

struct Rec(Seen);
impl Completion for Rec {
    fn done(&self, ev: &Event<'_>, v: Option<Verdict>) {
        self.0.lock().unwrap().push((ev.u32(0), ev.u16(1), v));
    }
}

struct Src {
    seen: Seen,
    n: u32,
}
impl Source for Src {
    fn start(&mut self, s: &mut dyn SourceSetup) -> Result<(), PluginError> {
        s.on_done(Arc::new(Rec(self.seen.clone())));
        Ok(())
    }
    fn run(&mut self, _w: Wake, e: &mut dyn Emit) -> Result<Flow, PluginError> {
        while self.n < 10 {
            let n = self.n;
            if e.emit(&mut |ev| {
                ev.set_u32(0, n);
                ev.set_u16(1, 7);
                true
            })
            .is_err()
            {
                return Ok(Flow::Again);
            }
            self.n += 1;
        }
        Ok(Flow::Finished)
    }
}

/// Drops odd events, panics on 4.
struct Decide;
impl Stage for Decide {
    fn interp(&self, ev: &mut Event<'_>) -> Ret {
        let n = ev.u32(0).unwrap();
        if n == 4 {
            panic!("test panic");
        }
        if n % 2 == 1 {
            ev.set_verdict(
                Verdict {
                    action: VerdictAction::Drop,
                    mark: Some(n),
                    connmark: None,
                },
                false,
            );
        }
        Ret::Ok
    }
}

fn registry(seen: Seen) -> Registry {
    let mut reg = Registry::new();
    reg.add(PluginSpec {
        name: "SRC",
        aliases: &[],
        kind: Kind::Source,
        summary: "test",
        options: vec![],
        inputs: vec![],
        outputs: KEYS.to_vec(),
        wildcard: false,
        build: Box::new(move |_| {
            Ok(Built::Source {
                source: Box::new(Src {
                    seen: seen.clone(),
                    n: 0,
                }),
                outputs: KEYS.to_vec(),
            })
        }),
    });
    reg.add(PluginSpec {
        name: "DECIDE",
        aliases: &[],
        kind: Kind::Sink,
        summary: "test",
        options: vec![],
        inputs: vec![],
        outputs: vec![],
        wildcard: false,
        build: Box::new(|_| {
            Ok(Built::Stage {
                stage: Arc::new(Decide),
                inputs: Inputs::Keys(vec![KeyDef::new("n", KeyType::U32)]),
                outputs: vec![],
            })
        }),
    });
    reg
}

#[test]
fn completion_reads_source_keys_and_the_verdict() {
    for threads in [0, 2] {
        let seen: Seen = Arc::default();
        let reg = registry(seen.clone());
        ulogd_core::testing::run(&reg, "s:SRC,d:DECIDE", "", threads).unwrap();
        let mut got = seen.lock().unwrap().clone();
        got.sort_by_key(|x| x.0);
        assert_eq!(got.len(), 10, "threads={threads}");
        for (i, (n, q, v)) in got.iter().enumerate() {
            assert_eq!(*n, Some(i as u32));
            assert_eq!(*q, Some(7));
            if i % 2 == 1 {
                assert_eq!(v.unwrap().mark, Some(i as u32));
            } else {
                assert_eq!(*v, None, "event {i}: no verdict (4 panicked)");
            }
        }
    }
}
