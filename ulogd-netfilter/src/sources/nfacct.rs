//! NFACCT: polls the kernel's nfacct accounting objects (`nfacct add NAME`, counted by
//! iptables `-m nfacct --nfacct-name NAME`) every `pollinterval` seconds and on
//! SIGUSR2, one event per object.
//!
//! One `NETLINK_NETFILTER` socket per instance (optionally in another network
//! namespace); a poll is one dump request (`NFNL_MSG_ACCT_GET_CTRZERO` with
//! `zerocounter=1`, so the counters are deltas since the last poll, else
//! `NFNL_MSG_ACCT_GET`), whose replies are walked in place by [`NfacctRepr`].
//! With `timestamp=1`, `oob.time.*` is the time of the poll, written into the event
//! itself, so every stack sharing the instance sees it (ulogd2 2.0.8 gave all but the
//! first stack 0, printed as 1970).

use std::time::Duration;

use ulogd_core::{
    Built, Emit, Flow, KeyDef, KeyType, OptionDef, Options, PluginError, PluginSpec, Signal,
    Source, SourceSetup, Wake,
};

use super::cfg_err;
use super::nflog_keys::now;
use crate::nl::{errno_text, Input, NlSocket, Proto, RecvBuf, Walk};
use crate::wire::nfacct::{emit_dump_request, NfacctRepr};
use crate::wire::nlmsg::{NLMSG_DONE, NLMSG_ERROR, NLMSG_NOOP, NLMSG_OVERRUN};
use crate::wire::NlmsgErrView;

/// Receive buffer (the kernel fills dump skbs up to 32 KiB).
const BUF: usize = 64 * 1024;
/// Messages handled per wake-up before giving the loop a turn.
const BATCH: usize = 1024;

const K_NAME: usize = 0;
const K_PKTS: usize = 1;
const K_BYTES: usize = 2;
const K_SEC: usize = 3;
const K_USEC: usize = 4;

/// The output keys; the IPFIX annotation says delta or total after `zerocounter`.
fn keys(zero: bool) -> Vec<KeyDef> {
    let (pkts, bytes) = if zero { (2, 1) } else { (86, 85) };
    vec![
        KeyDef::new("sum.name", KeyType::String),
        KeyDef::new("sum.pkts", KeyType::U64).ietf(pkts),
        KeyDef::new("sum.bytes", KeyType::U64).ietf(bytes),
        KeyDef::new("oob.time.sec", KeyType::U32).ietf(150),
        KeyDef::new("oob.time.usec", KeyType::U32),
    ]
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct NfacctConfig {
    pollinterval: u32,
    zero: bool,
    timestamp: bool,
    netns: String,
}

impl NfacctConfig {
    fn options() -> Vec<OptionDef> {
        vec![
            OptionDef::int(
                "pollinterval",
                "0",
                "seconds between two polls of the nfacct objects",
            )
            .required(),
            OptionDef::int(
                "zerocounter",
                "1",
                "reset the counters at each poll (1: deltas; 0: totals since creation)",
            ),
            OptionDef::int(
                "timestamp",
                "0",
                "set oob.time.sec/usec to the time of the poll",
            ),
            OptionDef::string(
                "network_namespace_path",
                "",
                "poll the objects of this network namespace (e.g. /var/run/netns/NAME)",
            ),
        ]
    }

    fn from_options(o: &Options) -> Result<NfacctConfig, PluginError> {
        let pollinterval = o.u32("pollinterval").map_err(cfg_err)?;
        if pollinterval == 0 {
            return Err(cfg_err(o.error(
                "pollinterval",
                "must be at least 1 (seconds between two polls)",
            )));
        }
        Ok(NfacctConfig {
            pollinterval,
            zero: o.bool("zerocounter"),
            timestamp: o.bool("timestamp"),
            netns: o.str("network_namespace_path").to_string(),
        })
    }
}

/// The poll state the walker updates.
#[derive(Default)]
struct State {
    timestamp: bool,
    /// Sequence number of the poll in flight and its time.
    poll: Option<(u32, (u32, u32))>,
    next_seq: u32,
    polls: u64,
    objects: u64,
    skipped: u64,
    errors: u64,
    parse_errors: u64,
}

struct Nfacct {
    cfg: NfacctConfig,
    sock: Option<NlSocket>,
    rx: RecvBuf,
    timer: Option<usize>,
    st: State,
}

impl Nfacct {
    fn new(cfg: NfacctConfig) -> Nfacct {
        let st = State {
            timestamp: cfg.timestamp,
            next_seq: 1,
            ..State::default()
        };
        Nfacct {
            cfg,
            sock: None,
            rx: RecvBuf::new(0),
            timer: None,
            st,
        }
    }

    fn poll_now(&mut self) {
        let st = &mut self.st;
        if st.poll.is_some() {
            // The previous poll has not finished: never two dumps at once.
            st.skipped += 1;
            return;
        }
        let Some(sock) = self.sock.as_ref() else {
            return;
        };
        let seq = st.next_seq;
        st.next_seq = st.next_seq.wrapping_add(1).max(1);
        let mut msg = Vec::with_capacity(32);
        if emit_dump_request(self.cfg.zero, seq, &mut msg).is_err() {
            return;
        }
        match sock.send(&msg) {
            Ok(()) => {
                st.polls += 1;
                st.poll = Some((seq, now()));
            }
            Err(e) => {
                st.errors += 1;
                log::error!("NFACCT: cannot request the nfacct objects: {e}");
            }
        }
    }
}

impl State {
    /// One input of the walker: an object of the poll in flight becomes an event.
    fn input(&mut self, i: Input<'_>, emit: &mut dyn Emit) -> Walk {
        let m = match i {
            Input::Msg(m) => m,
            Input::Malformed(e) => {
                self.parse_errors += 1;
                log::warn!("NFACCT: malformed netlink data, rest of the read dropped: {e}");
                return Walk::Next;
            }
            Input::Overrun => {
                self.errors += 1;
                log::warn!("NFACCT: poll reply lost (ENOBUFS); next poll starts afresh");
                self.poll = None;
                return Walk::Next;
            }
        };
        let cur = self.poll.filter(|(seq, _)| *seq == m.seq());
        match (m.msg_type(), cur) {
            (_, None) | (NLMSG_NOOP | NLMSG_OVERRUN, _) => {}
            (NLMSG_DONE, Some(_)) => self.poll = None,
            (NLMSG_ERROR, Some(_)) => {
                let err = NlmsgErrView::new_checked(m.payload())
                    .map_or(libc::EPROTO, |e| e.error().saturating_neg());
                if err != 0 {
                    self.errors += 1;
                    let hint = if err == libc::EOPNOTSUPP || err == libc::ENOENT {
                        " (is the nfnetlink_acct module loaded?)"
                    } else {
                        ""
                    };
                    log::error!(
                        "NFACCT: the kernel refused the poll: {}{hint}",
                        errno_text(err)
                    );
                }
                self.poll = None;
            }
            (_, Some((_, time))) => match NfacctRepr::parse_nlmsg(&m) {
                Ok(r) => {
                    let ts = self.timestamp;
                    let res = emit.emit(&mut |ev| {
                        ev.set_bytes(K_NAME, r.name);
                        ev.set_u64(K_PKTS, r.pkts);
                        ev.set_u64(K_BYTES, r.bytes);
                        if ts {
                            ev.set_u32(K_SEC, time.0);
                            ev.set_u32(K_USEC, time.1);
                        }
                        true
                    });
                    if res.is_err() {
                        return Walk::Keep(Flow::Idle);
                    }
                    self.objects += 1;
                }
                Err(e) => {
                    self.parse_errors += 1;
                    if self.parse_errors.is_power_of_two() {
                        log::warn!(
                            "NFACCT: malformed object dropped ({} so far): {e}",
                            self.parse_errors
                        );
                    }
                }
            },
        }
        Walk::Next
    }
}

impl Source for Nfacct {
    fn start(&mut self, setup: &mut dyn SourceSetup) -> Result<(), PluginError> {
        let sock = NlSocket::open(Proto::Netfilter, &[], &self.cfg.netns, "netlink socket")?;
        setup.add_fd(sock.fd());
        self.sock = Some(sock);
        self.rx = RecvBuf::new(BUF);
        let p = Duration::from_secs(u64::from(self.cfg.pollinterval));
        self.timer = Some(setup.add_timer(p, Some(p)));
        log::info!(
            "NFACCT: polling every {} s{}",
            self.cfg.pollinterval,
            if self.cfg.zero {
                ", zeroing counters"
            } else {
                ""
            }
        );
        Ok(())
    }

    fn run(&mut self, wake: Wake, emit: &mut dyn Emit) -> Result<Flow, PluginError> {
        if let Wake::Timer(t) = wake {
            if Some(t) == self.timer {
                self.poll_now();
            }
        }
        let Nfacct { sock, rx, st, .. } = self;
        let Some(sock) = sock.as_ref() else {
            return Ok(Flow::Finished);
        };
        let mut budget = BATCH;
        rx.pump(sock, &mut budget, |i, _| st.input(i, emit))
            .map_err(|e| PluginError::new(format!("NFACCT: recv: {e}")))
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
            ("objects", st.objects),
            ("skipped_polls", st.skipped),
            ("errors", st.errors),
            ("parse_errors", st.parse_errors),
        ]
    }
}

/// The NFACCT plugin.
pub fn spec() -> PluginSpec {
    PluginSpec {
        name: "NFACCT",
        aliases: &[],
        kind: ulogd_core::Kind::Source,
        summary: "nfacct accounting objects, polled (iptables -m nfacct)",
        options: NfacctConfig::options(),
        inputs: vec![],
        outputs: keys(true),
        wildcard: false,
        build: Box::new(|ctx| {
            let cfg = NfacctConfig::from_options(ctx.options)?;
            let outputs = keys(cfg.zero);
            Ok(Built::Source {
                source: Box::new(Nfacct::new(cfg)),
                outputs,
            })
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<NfacctConfig, String> {
        let defs = NfacctConfig::options();
        crate::sources::parse_config("NFACCT", "acct1", &defs, pairs, NfacctConfig::from_options)
    }

    #[test]
    fn pollinterval_is_required_and_positive() {
        assert!(parse(&[]).unwrap_err().contains("pollinterval"));
        assert!(parse(&[("pollinterval", "0")])
            .unwrap_err()
            .contains("pollinterval"));
        let c = parse(&[("pollinterval", "5")]).unwrap();
        assert_eq!(
            c,
            NfacctConfig {
                pollinterval: 5,
                zero: true,
                timestamp: false,
                netns: String::new()
            }
        );
        let c = parse(&[
            ("pollinterval", "1"),
            ("zerocounter", "0"),
            ("timestamp", "1"),
        ])
        .unwrap();
        assert!(!c.zero && c.timestamp);
        assert_eq!(keys(false)[1].ipfix.unwrap().id, 86);
    }
}
