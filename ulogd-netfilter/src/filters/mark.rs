//! MARK: ends the stack for events whose mark does not match.
//!
//! `(mark & mask) != mark_option` stops the event (ulogd2's `ULOGD_IRET_STOP`); the
//! conntrack mark `ct.mark` is tested when present, else the packet mark `oob.mark`;
//! an event with neither passes. Options are parsed like `strtoul(v, 0)` and
//! truncated to 32 bits, so `mask=-1` (what 2.0.8's `-i` shows) means `0xffffffff`.

use std::sync::Arc;

use ulogd_core::{Event, KeyDef, KeyType, OptionDef, Options, PluginError, PluginSpec, Ret, Stage};

static INPUTS: &[KeyDef] = &[
    KeyDef::new("ct.mark", KeyType::U32).optional(),
    KeyDef::new("oob.mark", KeyType::U32).optional(),
];
const IN_CT_MARK: usize = 0;
const IN_OOB_MARK: usize = 1;

struct Mark {
    mark: u32,
    mask: u32,
}

impl Stage for Mark {
    fn interp(&self, ev: &mut Event<'_>) -> Ret {
        let m = ev.u32(IN_CT_MARK).or_else(|| ev.u32(IN_OOB_MARK));
        match m {
            Some(m) if m & self.mask != self.mark => Ret::Stop,
            _ => Ret::Ok,
        }
    }
}

fn make(o: &Options) -> Result<Arc<dyn Stage>, PluginError> {
    Ok(Arc::new(Mark {
        mark: o.int("mark") as u32,
        mask: o.int("mask") as u32,
    }))
}

/// The MARK plugin.
pub(crate) fn spec() -> PluginSpec {
    super::filter_spec(
        "MARK",
        &[],
        "drops events unless (ct.mark or oob.mark) & mask == mark",
        vec![
            OptionDef::int("mark", "0", "value the masked mark must equal"),
            OptionDef::int(
                "mask",
                "0xffffffff",
                "mask applied to the mark before comparing",
            ),
        ],
        INPUTS,
        &[],
        make,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filters::testutil::*;

    #[test]
    fn filters_on_ct_mark_then_oob_mark() {
        let keys = vec![
            KeyDef::new("oob.mark", KeyType::U32),
            KeyDef::new("ct.mark", KeyType::U32),
        ];
        let events = vec![
            vec![(0, u(0x2a))],               // oob only, matches
            vec![(0, u(0x2b))],               // oob only, no match
            vec![(0, u(0x2b)), (1, u(0x2a))], // ct preferred: matches
            vec![(0, u(0x2a)), (1, u(0x1))],  // ct preferred: no match
            vec![],                           // nothing: passes
            vec![(0, u(0x12a))],              // masked to 0x2a: matches
        ];
        let (rep, rows) = run_filters(
            keys,
            events,
            &[("m", "MARK", &[("mark", "0x2a"), ("mask", "0xff")])],
        )
        .unwrap();
        assert_eq!(rows.len(), 4, "{rows:?}");
        assert_eq!(get(&rows[0], "oob.mark"), Some(&u(0x2a)));
        assert_eq!(get(&rows[1], "ct.mark"), Some(&u(0x2a)));
        assert!(rows[2].is_empty());
        assert_eq!(get(&rows[3], "oob.mark"), Some(&u(0x12a)));
        assert_eq!(rep.get("src", "events"), Some(6));
    }

    #[test]
    fn defaults_match_zero_exactly() {
        let keys = vec![KeyDef::new("oob.mark", KeyType::U32)];
        let rows = run1("MARK", keys, vec![vec![(0, u(0))], vec![(0, u(1))]]);
        assert_eq!(rows.len(), 1);
    }
}
