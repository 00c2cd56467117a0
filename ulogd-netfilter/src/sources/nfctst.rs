//! NFCTST: the conntrack table's statistics, polled every `pollinterval` seconds (and
//! on SIGUSR2): what `conntrack -S` (per-CPU counters: found, invalid, insert_failed,
//! drop, early_drop, search_restart, ...) and `conntrack -C` (entries) show, as events
//! for GRAPHITE, JSON or a metrics stack. New in ulogd-rs (ulogd2 has no such source).
//!
//! Each poll is two requests on one `NETLINK_NETFILTER` socket (optionally in another
//! network namespace): the per-CPU dump and the global statistics. When both replies
//! are in, the source emits one event with the counters summed over every CPU plus
//! the table size, and with `per_cpu=1` first one event per CPU (`nfctst.cpu` set).
//! The counters are the kernel's running totals since boot (or since the namespace
//! was made): rates are the consumer's business, as with `conntrack -S`.

use std::time::Duration;

use ulogd_core::{
    Built, Emit, Event, Flow, KeyDef, KeyType, OptionDef, Options, PluginError, PluginSpec, Signal,
    Source, SourceSetup, Wake,
};

use super::cfg_err;
use super::nflog_keys::now;
use crate::nl::{errno_text, Input, NlSocket, Proto, RecvBuf, Walk};
use crate::wire::ctstats::{emit_poll_requests, CtStatsRepr, CPU_COUNTERS, CTA_STATS_MAX};
use crate::wire::nlmsg::{NLMSG_DONE, NLMSG_ERROR, NLMSG_NOOP, NLMSG_OVERRUN};
use crate::wire::NlmsgErrView;

const BUF: usize = 64 * 1024;
/// Messages handled per wake-up before giving the loop a turn.
const BATCH: usize = 1024;
/// CPUs kept per poll; replies beyond are counted and ignored.
const MAX_CPUS: usize = 4096;

const K_CPU: usize = 0;
/// First counter key; counter `CPU_COUNTERS[i]` is at `K_FIRST + i`.
const K_FIRST: usize = 1;
const K_ENTRIES: usize = K_FIRST + CPU_COUNTERS.len();
const K_MAX_ENTRIES: usize = K_ENTRIES + 1;
const K_SEC: usize = K_ENTRIES + 2;
const K_USEC: usize = K_ENTRIES + 3;

/// The output keys: `nfctst.cpu`, one `nfctst.<counter>` per `conntrack -S` column,
/// `nfctst.entries`, `nfctst.max_entries` and the poll time.
pub fn keys() -> Vec<KeyDef> {
    let mut v = vec![KeyDef::new("nfctst.cpu", KeyType::U16)];
    for (_, name) in CPU_COUNTERS {
        v.push(KeyDef::dynamic(format!("nfctst.{name}"), KeyType::U64));
    }
    v.push(KeyDef::new("nfctst.entries", KeyType::U32));
    v.push(KeyDef::new("nfctst.max_entries", KeyType::U32));
    v.push(KeyDef::new("oob.time.sec", KeyType::U32).ietf(150));
    v.push(KeyDef::new("oob.time.usec", KeyType::U32));
    v
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Config {
    pollinterval: u32,
    per_cpu: bool,
    netns: String,
}

fn options() -> Vec<OptionDef> {
    vec![
        OptionDef::int(
            "pollinterval",
            "0",
            "seconds between two polls of the statistics",
        )
        .required(),
        OptionDef::int(
            "per_cpu",
            "0",
            "also emit one event per CPU (nfctst.cpu set) before the totals",
        ),
        OptionDef::string(
            "network_namespace_path",
            "",
            "poll the conntrack table of this network namespace (e.g. /var/run/netns/NAME)",
        ),
    ]
}

impl Config {
    fn from_options(o: &Options) -> Result<Config, PluginError> {
        let pollinterval = o.u32("pollinterval").map_err(cfg_err)?;
        if pollinterval == 0 {
            return Err(cfg_err(o.error(
                "pollinterval",
                "must be at least 1 (seconds between two polls)",
            )));
        }
        Ok(Config {
            pollinterval,
            per_cpu: o.bool("per_cpu"),
            netns: o.str("network_namespace_path").to_string(),
        })
    }
}

/// A poll in flight: its sequence numbers, time and what has arrived.
struct Poll {
    seq: u32,
    time: (u32, u32),
    cpus: Vec<CtStatsRepr>,
    cpus_done: bool,
    global: Option<CtStatsRepr>,
    /// Per-CPU events already emitted (the pool may run empty in the middle).
    emitted: usize,
}

struct Nfctst {
    cfg: Config,
    sock: Option<NlSocket>,
    rx: RecvBuf,
    next_seq: u32,
    timer: Option<usize>,
    st: State,
}

/// What the walker updates: the poll in flight and the counters.
#[derive(Default)]
struct State {
    per_cpu: bool,
    poll: Option<Poll>,
    polls: u64,
    skipped: u64,
    errors: u64,
    parse_errors: u64,
    unknown_attrs: u64,
}

fn set_counters(ev: &mut Event<'_>, sums: &[u64; CTA_STATS_MAX as usize + 1], have: &[bool]) {
    for (i, (kind, _)) in CPU_COUNTERS.iter().enumerate() {
        if have[usize::from(*kind)] {
            ev.set_u64(K_FIRST + i, sums[usize::from(*kind)]);
        }
    }
}

impl Nfctst {
    fn new(cfg: Config) -> Nfctst {
        Nfctst {
            sock: None,
            rx: RecvBuf::new(0),
            next_seq: 1,
            timer: None,
            st: State {
                per_cpu: cfg.per_cpu,
                ..State::default()
            },
            cfg,
        }
    }

    fn poll_now(&mut self) {
        if self.st.poll.is_some() {
            self.st.skipped += 1;
            return;
        }
        let Some(sock) = self.sock.as_ref() else {
            return;
        };
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(2).max(1);
        let mut msg = Vec::with_capacity(64);
        if emit_poll_requests(seq, &mut msg).is_err() {
            return;
        }
        match sock.send(&msg) {
            Ok(_) => {
                self.st.polls += 1;
                self.st.poll = Some(Poll {
                    seq,
                    time: now(),
                    cpus: Vec::with_capacity(64),
                    cpus_done: false,
                    global: None,
                    emitted: 0,
                });
            }
            Err(e) => {
                self.st.errors += 1;
                log::error!("NFCTST: cannot request the conntrack statistics: {e}");
            }
        }
    }
}

impl State {
    /// Emits the finished poll's events; `false` when the pool ran empty (the rest
    /// is emitted on the next run).
    fn emit_poll(&mut self, emit: &mut dyn Emit) -> bool {
        let Some(p) = self.poll.as_mut() else {
            return true;
        };
        let (sec, usec) = p.time;
        if self.per_cpu {
            while p.emitted < p.cpus.len() {
                let c = p.cpus[p.emitted];
                let mut sums = [0u64; CTA_STATS_MAX as usize + 1];
                let mut have = [false; CTA_STATS_MAX as usize + 1];
                for (k, v) in c.counters.iter().enumerate() {
                    if let Some(v) = v {
                        sums[k] = u64::from(*v);
                        have[k] = true;
                    }
                }
                let ok = emit.emit(&mut |ev| {
                    ev.set_u16(K_CPU, c.cpu.unwrap_or(0));
                    set_counters(ev, &sums, &have);
                    ev.set_u32(K_SEC, sec);
                    ev.set_u32(K_USEC, usec);
                    true
                });
                if ok.is_err() {
                    return false;
                }
                p.emitted += 1;
            }
        }
        let mut sums = [0u64; CTA_STATS_MAX as usize + 1];
        let mut have = [false; CTA_STATS_MAX as usize + 1];
        for c in &p.cpus {
            for (k, v) in c.counters.iter().enumerate() {
                if let Some(v) = v {
                    sums[k] += u64::from(*v);
                    have[k] = true;
                }
            }
        }
        let global = p.global;
        let ok = emit.emit(&mut |ev| {
            set_counters(ev, &sums, &have);
            if let Some(g) = global {
                if let Some(e) = g.entries {
                    ev.set_u32(K_ENTRIES, e);
                }
                if let Some(m) = g.max_entries {
                    ev.set_u32(K_MAX_ENTRIES, m);
                }
            }
            ev.set_u32(K_SEC, sec);
            ev.set_u32(K_USEC, usec);
            true
        });
        if ok.is_err() {
            return false;
        }
        self.poll = None;
        true
    }

    /// One input of the walker: replies of the poll in flight are collected.
    fn input(&mut self, i: Input<'_>) {
        let m = match i {
            Input::Msg(m) => m,
            Input::Malformed(e) => {
                self.parse_errors += 1;
                log::warn!("NFCTST: malformed netlink data, rest of the read dropped: {e}");
                return;
            }
            Input::Overrun => {
                self.errors += 1;
                log::warn!("NFCTST: statistics reply lost (ENOBUFS); next poll starts afresh");
                self.poll = None;
                return;
            }
        };
        let Some(p) = self.poll.as_mut() else {
            return;
        };
        let is_cpu = m.seq() == p.seq;
        let is_global = m.seq() == p.seq.wrapping_add(1);
        if !is_cpu && !is_global {
            return;
        }
        match m.msg_type() {
            NLMSG_NOOP | NLMSG_OVERRUN => {}
            NLMSG_DONE if is_cpu => p.cpus_done = true,
            NLMSG_DONE => {}
            NLMSG_ERROR => {
                let err = NlmsgErrView::new_checked(m.payload())
                    .map_or(libc::EPROTO, |e| e.error().saturating_neg());
                if err != 0 {
                    self.errors += 1;
                    log::error!(
                        "NFCTST: the kernel refused the {} statistics: {}",
                        if is_cpu { "per-CPU" } else { "global" },
                        errno_text(err)
                    );
                }
                // Finish with what there is: a missing half leaves its keys unset.
                if is_cpu {
                    p.cpus_done = true;
                } else {
                    p.global.get_or_insert_with(CtStatsRepr::default);
                }
            }
            _ => match CtStatsRepr::parse_nlmsg(&m) {
                Ok(r) => {
                    self.unknown_attrs += u64::from(r.unknown);
                    if r.cpu.is_some() && is_cpu {
                        if p.cpus.len() < MAX_CPUS {
                            p.cpus.push(r);
                        }
                    } else if r.cpu.is_none() && is_global {
                        p.global = Some(r);
                    }
                }
                Err(e) => {
                    self.parse_errors += 1;
                    if self.parse_errors.is_power_of_two() {
                        log::warn!(
                            "NFCTST: malformed statistics reply dropped ({} so far): {e}",
                            self.parse_errors
                        );
                    }
                }
            },
        }
    }

    fn poll_complete(&self) -> bool {
        self.poll
            .as_ref()
            .is_some_and(|p| p.cpus_done && p.global.is_some())
    }
}

impl Source for Nfctst {
    fn start(&mut self, setup: &mut dyn SourceSetup) -> Result<(), PluginError> {
        let sock = NlSocket::open(
            Proto::Netfilter,
            &[],
            &self.cfg.netns,
            "NFCTST netlink socket",
        )?;
        setup.add_fd(sock.fd());
        self.sock = Some(sock);
        self.rx = RecvBuf::new(BUF);
        let p = Duration::from_secs(u64::from(self.cfg.pollinterval));
        // The first poll right away, so a short-lived run has figures too.
        self.timer = Some(setup.add_timer(Duration::from_millis(1), Some(p)));
        log::info!(
            "NFCTST: polling the conntrack statistics every {} s",
            self.cfg.pollinterval
        );
        Ok(())
    }

    fn run(&mut self, wake: Wake, emit: &mut dyn Emit) -> Result<Flow, PluginError> {
        // A finished poll whose events did not all fit in the pool goes first.
        if self.st.poll_complete() && !self.st.emit_poll(emit) {
            return Ok(Flow::Idle);
        }
        if let Wake::Timer(t) = wake {
            if Some(t) == self.timer {
                self.poll_now();
            }
        }
        let Nfctst { sock, rx, st, .. } = self;
        let Some(sock) = sock.as_ref() else {
            return Ok(Flow::Finished);
        };
        let mut budget = BATCH;
        rx.pump(sock, &mut budget, |i, _| {
            st.input(i);
            // Both halves in: the events go out now; a full pool keeps the rest
            // for the next run.
            if st.poll_complete() && !st.emit_poll(emit) {
                Walk::Stop(Flow::Idle)
            } else {
                Walk::Next
            }
        })
        .map_err(|e| PluginError::new(format!("NFCTST: recv: {e}")))
    }

    fn signal(&mut self, sig: Signal, _emit: &mut dyn Emit) {
        if sig == Signal::Usr2 {
            self.poll_now();
        }
    }

    fn stop(&mut self) {
        self.sock = None;
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        let st = &self.st;
        vec![
            ("polls", st.polls),
            ("skipped_polls", st.skipped),
            ("errors", st.errors),
            ("parse_errors", st.parse_errors),
            ("unknown_attrs", st.unknown_attrs),
        ]
    }
}

/// The NFCTST plugin.
pub fn spec() -> PluginSpec {
    PluginSpec {
        name: "NFCTST",
        aliases: &[],
        kind: ulogd_core::Kind::Source,
        summary: "conntrack statistics (conntrack -S / -C), polled",
        options: options(),
        inputs: vec![],
        outputs: keys(),
        wildcard: false,
        build: Box::new(|ctx| {
            let cfg = Config::from_options(ctx.options)?;
            Ok(Built::Source {
                source: Box::new(Nfctst::new(cfg)),
                outputs: keys(),
            })
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_conntrack_s() {
        let k = keys();
        assert_eq!(k[K_CPU].name.as_ref(), "nfctst.cpu");
        assert_eq!(k[K_FIRST + 1].name.as_ref(), "nfctst.found");
        assert_eq!(k[K_FIRST + 8].name.as_ref(), "nfctst.insert_failed");
        assert_eq!(k[K_ENTRIES].name.as_ref(), "nfctst.entries");
        assert_eq!(k[K_MAX_ENTRIES].name.as_ref(), "nfctst.max_entries");
        assert_eq!(k[K_SEC].name.as_ref(), "oob.time.sec");
        assert_eq!(k[K_USEC].name.as_ref(), "oob.time.usec");
        assert_eq!(k.len(), K_USEC + 1);
    }

    #[test]
    fn pollinterval_is_required() {
        let parse = |pairs: &[(&str, &str)]| {
            let o = Options::from_pairs("NFCTST", "st1", &options(), pairs)
                .map_err(|e| format!("{e:?}"))?;
            Config::from_options(&o).map_err(|e| e.to_string())
        };
        assert!(parse(&[]).unwrap_err().contains("pollinterval"));
        assert!(parse(&[("pollinterval", "0")])
            .unwrap_err()
            .contains("pollinterval"));
        let c = parse(&[("pollinterval", "10"), ("per_cpu", "1")]).unwrap();
        assert!(c.per_cpu && c.pollinterval == 10);
    }
}
