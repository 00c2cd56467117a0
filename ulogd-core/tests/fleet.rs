//! `Fleet`: one engine per independent stack group, run to the end, counters merged;
//! reload refused on a bad file and on a fleet that is not running.

use std::path::Path;
use std::sync::Arc;

use ulogd_core::config::ConfigFile;
use ulogd_core::global::Global;
use ulogd_core::testing::{collect_sink, OwnedValue, TestSource};
use ulogd_core::{Fleet, KeyDef, KeyType, Registry, ReloadError};

static KEYS: &[KeyDef] = &[KeyDef::new("n", KeyType::U64)];

fn events(n: u64) -> Vec<Vec<(usize, OwnedValue)>> {
    (0..n).map(|i| vec![(0, OwnedValue::Uint(i))]).collect()
}

fn setup() -> (
    Arc<Registry>,
    ulogd_core::testing::Collected,
    ulogd_core::testing::Collected,
) {
    let mut reg = Registry::new();
    reg.add(TestSource::spec("SRCA", KEYS.to_vec(), events(300)));
    reg.add(TestSource::spec("SRCB", KEYS.to_vec(), events(70)));
    let (a, seen_a) = collect_sink("SINKA");
    let (b, seen_b) = collect_sink("SINKB");
    reg.add(a);
    reg.add(b);
    (Arc::new(reg), seen_a, seen_b)
}

fn parse(text: &str) -> (ConfigFile, Global) {
    let cfg = ConfigFile::parse(Path::new("f.conf"), text).unwrap();
    let g = Global::from_config(&cfg).unwrap();
    (cfg, g)
}

const TWO_GROUPS: &str = "[global]\nlogfile=\"stdout\"\n\
    stack=a:SRCA,ka:SINKA\nstack=b:SRCB,kb:SINKB\n";

#[test]
fn two_groups_run_to_the_end_and_their_counters_are_merged() {
    for threads in [0, 2] {
        let (reg, seen_a, seen_b) = setup();
        let (cfg, mut g) = parse(TWO_GROUPS);
        g.settings.threads = threads;
        let mut fleet = Fleet::build(reg, cfg, &g.stacks, g.settings).unwrap();
        let h = fleet.handle();
        assert_eq!(h.groups().len(), 2, "independent stacks are two groups");
        fleet.start().unwrap();
        let report = fleet.run().unwrap();
        assert_eq!(report.get("a", "events"), Some(300));
        assert_eq!(report.get("b", "events"), Some(70));
        assert_eq!(report.get("ka", "ok"), Some(300));
        assert_eq!(report.get("kb", "ok"), Some(70));
        assert_eq!(seen_a.lock().unwrap().len(), 300);
        assert_eq!(seen_b.lock().unwrap().len(), 70);
    }
}

#[test]
fn reload_refuses_a_bad_file_with_every_error_and_a_fleet_not_yet_running() {
    let (reg, _, _) = setup();
    let (cfg, g) = parse(TWO_GROUPS);
    let fleet = Fleet::build(reg, cfg, &g.stacks, g.settings.clone()).unwrap();
    let h = fleet.handle();
    // Two unknown plugins: both reported, nothing built.
    let (bad, bg) = parse("[global]\nstack=a:SRCA,ka:SINKX\nstack=b:SRCY,kb:SINKB\n");
    match h.reload(bad, &bg.stacks, bg.settings) {
        Err(ReloadError::Config(e)) => {
            assert_eq!(e.len(), 2, "{e:?}");
            assert!(e
                .iter()
                .all(|x| x.line > 0 && x.key.as_deref() == Some("stack")));
        }
        other => panic!("{:?}", other.map(|o| o.to_string())),
    }
    let (cfg2, g2) = parse(TWO_GROUPS);
    assert!(matches!(
        h.reload(cfg2, &g2.stacks, g2.settings),
        Err(ReloadError::NotRunning(_))
    ));
    drop(fleet);
}
