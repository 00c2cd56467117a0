//! Conntrack statistics over ctnetlink: the per-CPU counters
//! (`IPCTNL_MSG_CT_GET_STATS_CPU`, one dump reply per possible CPU, the CPU in the
//! `nfgenmsg`'s `res_id`) and the global table size (`IPCTNL_MSG_CT_GET_STATS`), as
//! `conntrack -S` and `conntrack -C` read them.
//!
//! Numbers from `include/uapi/linux/netfilter/nfnetlink_conntrack.h`
//! (`enum cntl_msg_types`, `enum ctattr_stats_cpu`, `enum ctattr_stats_global`).
//! Every value is a be32. Counters the kernel no longer fills (searched, new, ignore,
//! delete, delete_list) are parsed when present, so an older kernel's replies read
//! alike.

use super::nla::NlaIter;
use super::nlmsg::{
    self, NfgenmsgRepr, NfgenmsgView, NlmsgHeader, NlmsgView, NFNETLINK_V0, NFNL_SUBSYS_CTNETLINK,
    NLM_F_DUMP, NLM_F_REQUEST,
};
use super::{Result, WireError};

/// Dump the per-CPU statistics.
pub const IPCTNL_MSG_CT_GET_STATS_CPU: u8 = 4;
/// Get the global statistics (table size).
pub const IPCTNL_MSG_CT_GET_STATS: u8 = 5;

/// `CTA_STATS_GLOBAL_ENTRIES`: entries in the table.
pub const CTA_STATS_GLOBAL_ENTRIES: u16 = 1;
/// `CTA_STATS_GLOBAL_MAX_ENTRIES`: the table's limit (`nf_conntrack_max`).
pub const CTA_STATS_GLOBAL_MAX_ENTRIES: u16 = 2;

/// The per-CPU counters, by attribute type (`CTA_STATS_*`, 1-based), with the names
/// `conntrack -S` prints.
pub const CPU_COUNTERS: [(u16, &str); 15] = [
    (1, "searched"),
    (2, "found"),
    (3, "new"),
    (4, "invalid"),
    (5, "ignore"),
    (6, "delete"),
    (7, "delete_list"),
    (8, "insert"),
    (9, "insert_failed"),
    (10, "drop"),
    (11, "early_drop"),
    (12, "error"),
    (13, "search_restart"),
    (14, "clash_resolve"),
    (15, "chaintoolong"),
];

/// Highest per-CPU counter attribute known here.
pub const CTA_STATS_MAX: u16 = 15;

/// One reply: a CPU's counters, or the global table size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CtStatsRepr {
    /// The CPU, for a per-CPU reply (`res_id`); `None` for the global reply.
    pub cpu: Option<u16>,
    /// Per-CPU counters by `CTA_STATS_*` type (index 0 unused).
    pub counters: [Option<u32>; CTA_STATS_MAX as usize + 1],
    /// `CTA_STATS_GLOBAL_ENTRIES`.
    pub entries: Option<u32>,
    /// `CTA_STATS_GLOBAL_MAX_ENTRIES`.
    pub max_entries: Option<u32>,
    /// Attributes not represented (saturating).
    pub unknown: u16,
}

impl CtStatsRepr {
    /// Parses a statistics reply (`IPCTNL_MSG_CT_GET_STATS_CPU` or `_GET_STATS`).
    pub fn parse_nlmsg<T: AsRef<[u8]> + ?Sized>(msg: &NlmsgView<&T>) -> Result<Self> {
        let per_cpu = match (msg.subsys(), msg.nfnl_msg()) {
            (NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_GET_STATS_CPU) => true,
            (NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_GET_STATS) => false,
            _ => {
                return Err(WireError::NotCtnetlinkMessage {
                    msg_type: msg.msg_type(),
                })
            }
        };
        let gen = NfgenmsgView::new_checked(msg.payload())?;
        let mut r = CtStatsRepr {
            cpu: per_cpu.then(|| gen.res_id()),
            ..CtStatsRepr::default()
        };
        for a in NlaIter::new(gen.attrs()) {
            let a = a?;
            let kind = a.kind();
            match (per_cpu, kind) {
                (true, 1..=CTA_STATS_MAX) => r.counters[usize::from(kind)] = Some(a.be_u32()?),
                (false, CTA_STATS_GLOBAL_ENTRIES) => r.entries = Some(a.be_u32()?),
                (false, CTA_STATS_GLOBAL_MAX_ENTRIES) => r.max_entries = Some(a.be_u32()?),
                _ => r.unknown = r.unknown.saturating_add(1),
            }
        }
        Ok(r)
    }

    /// Appends the reply as the kernel sends it (tests, fuzz seeds).
    pub fn emit_nlmsg(&self, seq: u32, out: &mut Vec<u8>) -> Result<usize> {
        let mut attrs = Vec::new();
        let msg = match self.cpu {
            Some(_) => {
                for (kind, v) in self.counters.iter().enumerate() {
                    if let Some(v) = v {
                        super::nla::push_attr(&mut attrs, kind as u16, &v.to_be_bytes())?;
                    }
                }
                IPCTNL_MSG_CT_GET_STATS_CPU
            }
            None => {
                for (kind, v) in [
                    (CTA_STATS_GLOBAL_ENTRIES, self.entries),
                    (CTA_STATS_GLOBAL_MAX_ENTRIES, self.max_entries),
                ] {
                    if let Some(v) = v {
                        super::nla::push_attr(&mut attrs, kind, &v.to_be_bytes())?;
                    }
                }
                IPCTNL_MSG_CT_GET_STATS
            }
        };
        nlmsg::push_nfnl_message(
            out,
            NlmsgHeader {
                len: 0,
                msg_type: nlmsg::nfnl_msg_type(NFNL_SUBSYS_CTNETLINK, msg),
                flags: if self.cpu.is_some() {
                    nlmsg::NLM_F_MULTI
                } else {
                    0
                },
                seq,
                pid: 0,
            },
            NfgenmsgRepr {
                family: 0,
                version: NFNETLINK_V0,
                res_id: self.cpu.unwrap_or(0),
            },
            &attrs,
        )
    }
}

/// Appends the two requests of one poll: the per-CPU dump with sequence number
/// `seq`, then the global statistics with `seq + 1`.
pub fn emit_poll_requests(seq: u32, out: &mut Vec<u8>) -> Result<()> {
    for (msg, flags, s) in [
        (IPCTNL_MSG_CT_GET_STATS_CPU, NLM_F_REQUEST | NLM_F_DUMP, seq),
        (IPCTNL_MSG_CT_GET_STATS, NLM_F_REQUEST, seq.wrapping_add(1)),
    ] {
        nlmsg::push_nfnl_message(
            out,
            NlmsgHeader {
                len: 0,
                msg_type: nlmsg::nfnl_msg_type(NFNL_SUBSYS_CTNETLINK, msg),
                flags,
                seq: s,
                pid: 0,
            },
            NfgenmsgRepr {
                family: 0,
                version: NFNETLINK_V0,
                res_id: 0,
            },
            &[],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::NlmsgIter;

    #[test]
    fn per_cpu_and_global_replies_round_trip() {
        let mut cpu = CtStatsRepr {
            cpu: Some(1),
            ..CtStatsRepr::default()
        };
        cpu.counters[2] = Some(7);
        cpu.counters[9] = Some(3);
        cpu.counters[15] = Some(1);
        let global = CtStatsRepr {
            entries: Some(42),
            max_entries: Some(262_144),
            ..CtStatsRepr::default()
        };
        let mut buf = Vec::new();
        cpu.emit_nlmsg(5, &mut buf).unwrap();
        global.emit_nlmsg(6, &mut buf).unwrap();
        let got: Vec<CtStatsRepr> = NlmsgIter::new(&buf)
            .map(|m| CtStatsRepr::parse_nlmsg(&m.unwrap()).unwrap())
            .collect();
        assert_eq!(got, vec![cpu, global]);
    }

    /// A per-CPU reply for `cpu` with the attribute region `attrs`, as raw bytes.
    fn cpu_reply(cpu: u16, attrs: &[u8]) -> Vec<u8> {
        let mut buf = Vec::new();
        nlmsg::push_nfnl_message(
            &mut buf,
            NlmsgHeader {
                len: 0,
                msg_type: nlmsg::nfnl_msg_type(NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_GET_STATS_CPU),
                flags: 0,
                seq: 1,
                pid: 0,
            },
            NfgenmsgRepr {
                family: 0,
                version: 0,
                res_id: cpu,
            },
            attrs,
        )
        .unwrap();
        buf
    }

    #[test]
    fn unknown_attributes_are_counted_and_other_messages_refused() {
        let mut attrs = Vec::new();
        crate::wire::nla::push_attr(&mut attrs, 40, &1u32.to_be_bytes()).unwrap();
        let buf = cpu_reply(3, &attrs);
        let m = NlmsgIter::new(&buf).next().unwrap().unwrap();
        let r = CtStatsRepr::parse_nlmsg(&m).unwrap();
        assert_eq!((r.cpu, r.unknown), (Some(3), 1));
        let mut req = Vec::new();
        emit_poll_requests(9, &mut req).unwrap();
        let reqs: Vec<_> = NlmsgIter::new(&req).map(|m| m.unwrap()).collect();
        assert_eq!(reqs.len(), 2);
        assert_eq!((reqs[0].seq(), reqs[1].seq()), (9, 10));
        assert!(reqs[0].flags() & NLM_F_DUMP == NLM_F_DUMP);
        // A request is not a reply of another subsystem: the type is checked.
        let mut other = Vec::new();
        crate::wire::nfacct::emit_dump_request(false, 1, &mut other).unwrap();
        let m = NlmsgIter::new(&other).next().unwrap().unwrap();
        assert!(CtStatsRepr::parse_nlmsg(&m).is_err());
    }

    #[test]
    fn a_short_value_is_an_error() {
        let mut attrs = Vec::new();
        crate::wire::nla::push_attr(&mut attrs, 2, &[1, 2]).unwrap();
        let buf = cpu_reply(0, &attrs);
        let m = NlmsgIter::new(&buf).next().unwrap().unwrap();
        assert!(CtStatsRepr::parse_nlmsg(&m).is_err());
    }
}
