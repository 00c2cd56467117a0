//! What the exit status says once the engine has stopped. A batch job replaying a
//! capture (`ulogd -c replay.conf && next-step`) must learn from the status that
//! nothing, or not everything, was replayed: ulogd2 has no REPLAY, so there is no
//! tradition to keep, and a 0 after "0 events, link type 147" misleads.

use ulogd_core::Report;

/// Why the run counts as failed, one line per REPLAY instance that read malformed
/// records or replayed nothing; empty when the run succeeded.
pub fn replay_failures(report: &Report) -> Vec<String> {
    report
        .instances
        .iter()
        .filter(|i| i.plugin == "REPLAY")
        .filter_map(|i| {
            let get = |k: &str| i.counters.iter().find(|c| c.0 == k).map_or(0, |c| c.1);
            let (replayed, malformed, skipped) =
                (get("replayed"), get("malformed"), get("skipped"));
            let why = if malformed > 0 {
                format!("{malformed} malformed record(s)")
            } else if replayed == 0 {
                format!("no event replayed ({skipped} record(s) skipped)")
            } else {
                return None;
            };
            Some(format!(
                "REPLAY '{}': {why}; {replayed} event(s) replayed, {skipped} skipped",
                i.id
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ulogd_core::InstanceReport;

    fn rep(plugin: &str, replayed: u64, malformed: u64, skipped: u64) -> Report {
        Report {
            instances: vec![InstanceReport {
                id: "r1".into(),
                plugin: plugin.into(),
                counters: vec![
                    ("replayed", replayed),
                    ("malformed", malformed),
                    ("skipped", skipped),
                ],
            }],
        }
    }

    #[test]
    fn malformed_or_empty_replays_fail_and_others_do_not() {
        assert!(replay_failures(&rep("REPLAY", 20, 0, 0)).is_empty());
        assert!(replay_failures(&rep("REPLAY", 20, 0, 3)).is_empty());
        assert_eq!(
            replay_failures(&rep("REPLAY", 5, 1, 0)),
            ["REPLAY 'r1': 1 malformed record(s); 5 event(s) replayed, 0 skipped"]
        );
        assert_eq!(
            replay_failures(&rep("REPLAY", 0, 0, 1)),
            ["REPLAY 'r1': no event replayed (1 record(s) skipped); 0 event(s) replayed, 1 skipped"]
        );
        assert!(replay_failures(&rep("NFLOG", 0, 0, 0)).is_empty());
    }
}
