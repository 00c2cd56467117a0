//! NFT: nftables ruleset changes as events — the firewall-change audit log `nft
//! monitor` shows, for JSON, SYSLOG or a message bus. New in ulogd-rs.
//!
//! The source joins the `NFNLGRP_NFTABLES` multicast group of a `NETLINK_NETFILTER`
//! socket (optionally in another network namespace) and turns each notification
//! into one event (one per element for set-element changes): `nft.event` (`add`,
//! `delete`, `replace`), `nft.object` (`table`, `chain`, `rule`, `set`, `element`,
//! `object`, `flowtable`), `nft.family`, `nft.table`, `nft.chain`, `nft.set` (the
//! set's, object's or flowtable's name), `nft.handle`, `nft.elem`, `nft.comment`.
//! The kernel ends every transaction with a new generation: that is an event too
//! (`nft.object` = `generation`) with `nft.gen`, `nft.proc.pid` and `nft.proc.name`
//! — who changed the ruleset. With `generations=0` those are left out.
//!
//! Notifications lost to a full socket buffer (ENOBUFS) are counted and logged: an
//! audit log must say when it has a gap.

use ulogd_core::{
    Built, Emit, Event, Flow, KeyDef, KeyType, OptionDef, Options, PluginError, PluginSpec, Source,
    SourceSetup, Wake,
};

use super::{rcvbuf_option_defs, rcvbuf_options};
use crate::nl::{Input, NlSocket, Proto, RcvbufPolicy, RecvBuf, Walk};
use crate::wire::nftables::{
    family_name, format_key, NftElem, NftObject, NftRepr, NFNLGRP_NFTABLES,
};

const BUF: usize = 256 * 1024;
/// Events per wake-up before the loop gets a turn.
const BATCH: usize = 1024;

mod k {
    pub const EVENT: usize = 0;
    pub const OBJECT: usize = 1;
    pub const FAMILY: usize = 2;
    pub const TABLE: usize = 3;
    pub const CHAIN: usize = 4;
    pub const SET: usize = 5;
    pub const HANDLE: usize = 6;
    pub const ELEM: usize = 7;
    pub const ELEM_TIMEOUT: usize = 8;
    pub const COMMENT: usize = 9;
    pub const GEN: usize = 10;
    pub const PROC_PID: usize = 11;
    pub const PROC_NAME: usize = 12;
    pub const TIME_SEC: usize = 13;
    pub const TIME_USEC: usize = 14;
}

/// NFT's output keys.
pub static NFT_KEYS: &[KeyDef] = &[
    KeyDef::new("nft.event", KeyType::String),
    KeyDef::new("nft.object", KeyType::String),
    KeyDef::new("nft.family", KeyType::String),
    KeyDef::new("nft.table", KeyType::String),
    KeyDef::new("nft.chain", KeyType::String),
    KeyDef::new("nft.set", KeyType::String),
    KeyDef::new("nft.handle", KeyType::U64),
    KeyDef::new("nft.elem", KeyType::String),
    KeyDef::new("nft.elem.timeout", KeyType::U64),
    KeyDef::new("nft.comment", KeyType::String),
    KeyDef::new("nft.gen", KeyType::U32),
    KeyDef::new("nft.proc.pid", KeyType::U32),
    KeyDef::new("nft.proc.name", KeyType::String),
    KeyDef::new("oob.time.sec", KeyType::U32).ietf(150),
    KeyDef::new("oob.time.usec", KeyType::U32),
];

#[derive(Clone, Debug, PartialEq, Eq)]
struct Config {
    generations: bool,
    rcvbuf: u32,
    rcvbuf_max: u32,
    netns: String,
}

fn options() -> Vec<OptionDef> {
    let mut v = vec![
        OptionDef::int(
            "generations",
            "1",
            "also emit the end of each transaction: generation id and the process that made it",
        ),
        OptionDef::string(
            "network_namespace_path",
            "",
            "watch the ruleset of this network namespace (e.g. /var/run/netns/NAME)",
        ),
    ];
    v.extend(rcvbuf_option_defs());
    v
}

impl Config {
    fn from_options(o: &Options) -> Result<Config, PluginError> {
        let (rcvbuf, rcvbuf_max) = rcvbuf_options(o)?;
        Ok(Config {
            generations: o.bool("generations"),
            rcvbuf,
            rcvbuf_max,
            netns: o.str("network_namespace_path").to_string(),
        })
    }
}

struct Nft {
    cfg: Config,
    sock: Option<NlSocket>,
    rx: RecvBuf,
    rcvbuf: RcvbufPolicy,
    st: State,
}

/// What the walker updates.
struct State {
    generations: bool,
    /// Elements of the message under the cursor already emitted (the pool ran empty).
    elem_done: usize,
    key_text: String,
    events: u64,
    overruns: u64,
    parse_errors: u64,
}

fn fill(ev: &mut Event<'_>, r: &NftRepr<'_>, el: Option<&NftElem<'_>>, key: &str, t: (u32, u32)) {
    ev.set_str(k::EVENT, r.change.name());
    ev.set_str(k::OBJECT, r.object.name());
    ev.set_u32(k::TIME_SEC, t.0);
    ev.set_u32(k::TIME_USEC, t.1);
    if r.object == NftObject::Generation {
        if let Some(g) = r.gen_id {
            ev.set_u32(k::GEN, g);
        }
        if let Some(p) = r.proc_pid {
            ev.set_u32(k::PROC_PID, p);
        }
        if let Some(n) = r.proc_name {
            ev.set_bytes(k::PROC_NAME, n);
        }
        return;
    }
    ev.set_str(k::FAMILY, family_name(r.family));
    for (key_pos, v) in [(k::TABLE, r.table), (k::CHAIN, r.chain), (k::SET, r.name)] {
        if let Some(v) = v {
            ev.set_bytes(key_pos, v);
        }
    }
    if let Some(h) = r.handle {
        ev.set_u64(k::HANDLE, h);
    }
    let comment = el.and_then(|e| e.comment).or(r.comment);
    if let Some(c) = comment {
        ev.set_bytes(k::COMMENT, c);
    }
    if let Some(e) = el {
        ev.set_str(k::ELEM, key);
        if let Some(t) = e.timeout_ms {
            ev.set_u64(k::ELEM_TIMEOUT, t);
        }
    }
}

impl Nft {
    fn new(cfg: Config) -> Nft {
        Nft {
            sock: None,
            rx: RecvBuf::new(0),
            rcvbuf: RcvbufPolicy::new(cfg.rcvbuf_max),
            st: State {
                generations: cfg.generations,
                elem_done: 0,
                key_text: String::with_capacity(64),
                events: 0,
                overruns: 0,
                parse_errors: 0,
            },
            cfg,
        }
    }
}

impl State {
    /// One notification: one event, or one per element of a set-element change.
    fn input(&mut self, i: Input<'_>, t: (u32, u32), emit: &mut dyn Emit) -> Walk {
        let m = match i {
            Input::Msg(m) => m,
            Input::Malformed(e) => {
                self.parse_errors += 1;
                log::warn!("NFT: malformed netlink data, rest of the read dropped: {e}");
                return Walk::Next;
            }
            Input::Overrun => {
                self.overruns += 1;
                return Walk::Next;
            }
        };
        match NftRepr::parse_nlmsg(&m) {
            Ok(r) if r.object == NftObject::Generation && !self.generations => {}
            Ok(r) if r.object == NftObject::Element => {
                // One event per element; `elem_done` keeps the place.
                for (i, el) in r.elements().enumerate().skip(self.elem_done) {
                    let el = match el {
                        Ok(el) => el,
                        Err(e) => {
                            self.parse_errors += 1;
                            log::warn!("NFT: malformed set element skipped: {e}");
                            break;
                        }
                    };
                    self.key_text.clear();
                    format_key(el.key, &mut self.key_text);
                    if let Some(end) = el.key_end {
                        self.key_text.push('-');
                        format_key(end, &mut self.key_text);
                    }
                    let key = &self.key_text;
                    let res = emit.emit(&mut |ev| {
                        fill(ev, &r, Some(&el), key, t);
                        true
                    });
                    if res.is_err() {
                        self.elem_done = i;
                        return Walk::Keep(Flow::Idle);
                    }
                    self.events += 1;
                }
                self.elem_done = 0;
            }
            Ok(r) => {
                let res = emit.emit(&mut |ev| {
                    fill(ev, &r, None, "", t);
                    true
                });
                if res.is_err() {
                    return Walk::Keep(Flow::Idle);
                }
                self.events += 1;
            }
            // Other nf_tables or netlink messages (traces, errors): not changes.
            Err(_) => {}
        }
        Walk::Next
    }
}

impl Source for Nft {
    fn start(&mut self, setup: &mut dyn SourceSetup) -> Result<(), PluginError> {
        let sock = NlSocket::open(
            Proto::Netfilter,
            &[NFNLGRP_NFTABLES],
            &self.cfg.netns,
            "NFT netlink socket",
        )?;
        let got = self.rcvbuf.init(&sock, self.cfg.rcvbuf);
        setup.add_fd(sock.fd());
        self.sock = Some(sock);
        self.rx = RecvBuf::new(BUF);
        log::info!("NFT: watching nftables ruleset changes (socket buffer {got} bytes)");
        Ok(())
    }

    fn run(&mut self, _wake: Wake, emit: &mut dyn Emit) -> Result<Flow, PluginError> {
        let Nft {
            sock,
            rx,
            st,
            rcvbuf,
            ..
        } = self;
        let Some(sock) = sock.as_ref() else {
            return Ok(Flow::Finished);
        };
        let mut budget = BATCH;
        let before = st.overruns;
        let flow = rx
            .pump(sock, &mut budget, |i, t| st.input(i, t, emit))
            .map_err(|e| PluginError::new(format!("NFT: recv: {e}")))?;
        for _ in before..st.overruns {
            // An audit log must say when it has a gap.
            rcvbuf.on_overrun(Some(sock), "NFT", "ruleset notifications");
        }
        Ok(flow)
    }

    fn stop(&mut self) {
        self.sock = None;
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("changes", self.st.events),
            ("overruns", self.st.overruns),
            ("parse_errors", self.st.parse_errors),
        ]
    }
}

/// The NFT plugin.
pub fn spec() -> PluginSpec {
    PluginSpec {
        name: "NFT",
        aliases: &[],
        kind: ulogd_core::Kind::Source,
        summary: "nftables ruleset changes (what `nft monitor` shows): a firewall audit log",
        options: options(),
        inputs: vec![],
        outputs: NFT_KEYS.to_vec(),
        wildcard: false,
        build: Box::new(|ctx| {
            let cfg = Config::from_options(ctx.options)?;
            Ok(Built::Source {
                source: Box::new(Nft::new(cfg)),
                outputs: NFT_KEYS.to_vec(),
            })
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_positions_match_the_table() {
        let at = |i: usize| NFT_KEYS[i].name.as_ref();
        assert_eq!(at(k::EVENT), "nft.event");
        assert_eq!(at(k::OBJECT), "nft.object");
        assert_eq!(at(k::FAMILY), "nft.family");
        assert_eq!(at(k::TABLE), "nft.table");
        assert_eq!(at(k::CHAIN), "nft.chain");
        assert_eq!(at(k::SET), "nft.set");
        assert_eq!(at(k::HANDLE), "nft.handle");
        assert_eq!(at(k::ELEM), "nft.elem");
        assert_eq!(at(k::ELEM_TIMEOUT), "nft.elem.timeout");
        assert_eq!(at(k::COMMENT), "nft.comment");
        assert_eq!(at(k::GEN), "nft.gen");
        assert_eq!(at(k::PROC_PID), "nft.proc.pid");
        assert_eq!(at(k::PROC_NAME), "nft.proc.name");
        assert_eq!(at(k::TIME_SEC), "oob.time.sec");
        assert_eq!(at(k::TIME_USEC), "oob.time.usec");
    }
}
