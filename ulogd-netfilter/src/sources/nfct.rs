//! NFCT: connection tracking flows from ctnetlink (`NETLINK_NETFILTER`).
//!
//! Two sockets per instance, optionally inside another network namespace: an *event*
//! socket subscribed to the conntrack multicast groups of `event_mask` (event mode),
//! and a *dump* socket for table dumps (initial fill of the flow cache, polling,
//! resync after an overrun, SIGUSR2 dump-and-zero), so dump replies never interleave
//! with events. Both are read into reused buffers and walked in place with the
//! zero-copy [`CtRepr`]; a record is a `Copy` [`CtFlow`], so nothing is allocated per
//! event.
//!
//! Modes, as ulogd2 2.0.8 (see `ulogd2-2.0.8.md`), minus its bugs:
//! - event mode with `hash_enable=1` (default): NEW/UPDATE events and the initial dump
//!   fill the [`FlowTable`]; only DESTROY reaches the outputs, with `flow.start.*`
//!   (kernel timestamp if `nf_conntrack_timestamp=1`, else when we saw NEW) and
//!   `flow.end.*` (kernel stop time, else when we saw DESTROY).
//! - event mode with `hash_enable=0`: every event of `event_mask` is emitted (ulogd2
//!   dropped UPDATEs as "unsupported message type").
//! - polling mode (`pollinterval=N`, needs the hash): the table is dumped every N s;
//!   flows gone since the last dump are emitted as DESTROY with their last counters.
//! - after a receive-buffer overrun (ENOBUFS) in hash mode, the table is dumped again
//!   after `netlink_resync_timeout` s and flows that vanished meanwhile are emitted as
//!   DESTROY, so no flow end is missed; `reliable=1` asks the kernel for reliable
//!   delivery instead (`NETLINK_BROADCAST_ERROR` + `NETLINK_NO_ENOBUFS`).
//! - `accept_src_filter`, `accept_dst_filter`, `accept_proto_filter` compile to a
//!   classic BPF program attached to the event socket (the kernel drops what does not
//!   match) and are applied to every dump too (ulogd2 forgot dumps, so SIGUSR2 leaked
//!   filtered flows). An address list filters only the families it names: with only
//!   IPv4 networks in `accept_src_filter`, IPv6 flows pass (as libnetfilter_conntrack).
//! - SIGUSR2 dumps and zeroes the kernel counters (`IPCTNL_MSG_CT_GET_CTRZERO`); every
//!   flow is emitted with `ct.event=2`, filtered like events, in every mode (ulogd2
//!   crashed without the hash or with a shared instance).
//!
//! Counters (SIGUSR1 and the final report): `kernel_events` (conntrack events
//! accepted), `records` (emitted), `overruns` (ENOBUFS), `resyncs`, `vanished` (flow
//! ends found by a dump: polling, or events lost to an overrun), `parse_errors`,
//! `filtered` (events the userspace filter dropped: 0 while the kernel filter works),
//! `dumps`, `dump_errors`, `cache_size`, `cache_full` (flows the full cache could not
//! take).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::Duration;

use ulogd_core::{
    Built, Emit, Flow, OptionDef, Options, PluginError, PluginSpec, Signal, Source, SourceSetup,
    Wake,
};

use super::cfg_err;
use super::nfct_keys::{
    fill, ns_to_ts, CtFlow, Ts, CT_EVENT_DESTROY, CT_EVENT_NEW, CT_EVENT_UPDATE, NFCT_KEYS,
};
use super::nflog_keys::now;
use crate::nl::{errno_text, Input, Insn, NlSocket, Proto, RcvbufPolicy, Recv, RecvBuf, Walk};
use crate::wire::ctnetlink::{
    emit_dump_ctrzero_request, emit_dump_request, AF_UNSPEC, CTA_IP_V4_DST, CTA_IP_V4_SRC,
    CTA_IP_V6_DST, CTA_IP_V6_SRC, CTA_PROTO_NUM, CTA_TUPLE_IP, CTA_TUPLE_ORIG, CTA_TUPLE_PROTO,
    NFNLGRP_CONNTRACK_DESTROY, NFNLGRP_CONNTRACK_NEW, NFNLGRP_CONNTRACK_UPDATE,
};
use crate::wire::nlmsg::{
    NLMSG_DONE, NLMSG_ERROR, NLMSG_HDRLEN, NLMSG_NOOP, NLMSG_OVERRUN, NLM_F_DUMP_INTR,
};
use crate::wire::{CtEvent, CtRepr, NlmsgErrView, NlmsgView, TupleRepr};

/// Messages handled per wake-up before giving the loop a turn.
const BATCH: usize = 1024;
/// Receive buffer of the event socket (one event per datagram).
const EVENT_BUF: usize = 16 * 1024;
/// Receive buffer of the dump socket (the kernel fills dump skbs up to 32 KiB).
const DUMP_BUF: usize = 64 * 1024;
/// Records queued at most between two drains without allocating.
const OUT_RESERVE: usize = 1024;
/// "Never" for a one-shot timer that is armed later.
const FAR: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// Largest BPF program we attach (the kernel's `BPF_MAXINSNS`).
const BPF_MAXINSNS: usize = 4096;

// ---- options -------------------------------------------------------------------

/// One network of an address filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    fn parse(s: &str) -> Option<Cidr> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a.trim(), Some(p.trim())),
            None => (s.trim(), None),
        };
        let addr: IpAddr = a.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p.parse::<u8>().ok().filter(|&p| p <= max)?,
            None => max,
        };
        Some(Cidr {
            net: mask_addr(addr, prefix),
            prefix,
        })
    }

    fn contains(&self, a: IpAddr) -> bool {
        a.is_ipv4() == self.net.is_ipv4() && mask_addr(a, self.prefix) == self.net
    }

    /// The mask as big-endian words (1 for IPv4, 4 for IPv6).
    fn mask_words(&self) -> Vec<u32> {
        let n = if self.net.is_ipv4() { 1 } else { 4 };
        (0..n)
            .map(|w| {
                let bits = (i32::from(self.prefix) - 32 * w).clamp(0, 32) as u32;
                if bits == 0 {
                    0
                } else {
                    u32::MAX << (32 - bits)
                }
            })
            .collect()
    }

    fn net_words(&self) -> Vec<u32> {
        match self.net {
            IpAddr::V4(a) => vec![u32::from(a)],
            IpAddr::V6(a) => a
                .octets()
                .chunks_exact(4)
                .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        }
    }
}

fn mask_addr(a: IpAddr, prefix: u8) -> IpAddr {
    match a {
        IpAddr::V4(v) => {
            let m = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix.min(32)))
            };
            IpAddr::V4((u32::from(v) & m).into())
        }
        IpAddr::V6(v) => {
            let m = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix.min(128)))
            };
            IpAddr::V6((u128::from(v) & m).into())
        }
    }
}

/// Protocol numbers by name (the common entries of `/etc/protocols`).
fn proto_number(name: &str) -> Option<u8> {
    let n = name.trim().to_ascii_lowercase();
    if let Ok(v) = n.parse::<u8>() {
        return Some(v);
    }
    Some(match n.as_str() {
        "icmp" => 1,
        "igmp" => 2,
        "tcp" => 6,
        "udp" => 17,
        "dccp" => 33,
        "gre" => 47,
        "esp" => 50,
        "ah" => 51,
        "icmpv6" | "ipv6-icmp" | "icmp6" => 58,
        "sctp" => 132,
        "udplite" => 136,
        _ => return None,
    })
}

/// The accept filters: a flow passes when its original tuple matches every list
/// that is given (an address list only judges the families it has networks of).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FlowFilter {
    src: Vec<Cidr>,
    dst: Vec<Cidr>,
    proto: Vec<u8>,
}

impl FlowFilter {
    fn is_empty(&self) -> bool {
        self.src.is_empty() && self.dst.is_empty() && self.proto.is_empty()
    }

    fn addr_ok(list: &[Cidr], a: Option<IpAddr>) -> bool {
        let Some(a) = a else { return true };
        let mut judged = false;
        for c in list {
            if c.net.is_ipv4() == a.is_ipv4() {
                judged = true;
                if c.contains(a) {
                    return true;
                }
            }
        }
        !judged
    }

    /// Whether a flow with this original tuple is accepted.
    pub(crate) fn accepts(&self, orig: &TupleRepr) -> bool {
        Self::addr_ok(&self.src, orig.src)
            && Self::addr_ok(&self.dst, orig.dst)
            && (self.proto.is_empty() || !matches!(orig.proto, Some(p) if !self.proto.contains(&p)))
    }
}

/// Validated NFCT options.
#[derive(Clone, Debug, PartialEq, Eq)]
struct NfctConfig {
    pollinterval: u32,
    hash: bool,
    hash_buckets: usize,
    hash_max: usize,
    event_mask: u32,
    rcvbuf: u32,
    rcvbuf_max: u32,
    resync_timeout: u32,
    reliable: bool,
    filter: FlowFilter,
    netns: String,
}

impl NfctConfig {
    fn options() -> Vec<OptionDef> {
        vec![
            OptionDef::int(
                "pollinterval",
                "0",
                "0 = event mode; N > 0 = dump the table every N seconds (needs hash_enable=1)",
            ),
            OptionDef::int(
                "hash_enable",
                "1",
                "keep a flow cache; then only flow ends (DESTROY) are emitted, with start and end times",
            ),
            OptionDef::int("hash_buckets", "8192", "initial size of the flow cache"),
            OptionDef::int(
                "hash_max_entries",
                "32768",
                "flows the cache holds at most (more are counted as dropped)",
            ),
            OptionDef::int(
                "event_mask",
                "5",
                "conntrack events to listen to: 1 NEW, 2 UPDATE, 4 DESTROY (sum them)",
            ),
            OptionDef::int(
                "netlink_socket_buffer_size",
                "0",
                "socket receive buffer in bytes (SO_RCVBUFFORCE; 0 = kernel default)",
            ),
            OptionDef::int(
                "netlink_socket_buffer_maxsize",
                "0",
                "on overrun, double the socket buffer up to this size (0 = never grow)",
            ),
            OptionDef::int(
                "netlink_resync_timeout",
                "60",
                "seconds after an overrun before the table is dumped again (hash mode)",
            ),
            OptionDef::int(
                "reliable",
                "0",
                "reliable event delivery (NETLINK_BROADCAST_SEND_ERROR + NETLINK_NO_ENOBUFS)",
            ),
            OptionDef::string(
                "accept_src_filter",
                "",
                "only flows from these networks, e.g. 10.0.0.0/8,fd00::/8",
            ),
            OptionDef::string(
                "accept_dst_filter",
                "",
                "only flows to these networks, e.g. 192.168.1.0/24",
            ),
            OptionDef::string(
                "accept_proto_filter",
                "",
                "only these layer-4 protocols, e.g. tcp,udp,icmp,icmpv6,sctp or numbers",
            ),
            OptionDef::string(
                "network_namespace_path",
                "",
                "open the sockets in this network namespace (e.g. /var/run/netns/NAME)",
            ),
        ]
    }

    fn cidrs(o: &Options, name: &str) -> Result<Vec<Cidr>, PluginError> {
        let mut v = Vec::new();
        for part in o
            .str(name)
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let c = Cidr::parse(part).ok_or_else(|| {
                cfg_err(o.error(
                    name,
                    format_args!("\"{part}\" is not an address or network (e.g. 10.0.0.0/8)"),
                ))
            })?;
            v.push(c);
        }
        Ok(v)
    }

    fn from_options(o: &Options) -> Result<NfctConfig, PluginError> {
        let pollinterval = o.u32("pollinterval").map_err(cfg_err)?;
        let hash = o.bool("hash_enable");
        if pollinterval > 0 && !hash {
            return Err(cfg_err(o.error(
                "pollinterval",
                "polling mode needs hash_enable=1 (flows that vanish are found in the cache)",
            )));
        }
        let event_mask = o.u32("event_mask").map_err(cfg_err)?;
        if event_mask == 0 || event_mask & !7 != 0 {
            return Err(cfg_err(o.error(
                "event_mask",
                "must be a sum of 1 (NEW), 2 (UPDATE) and 4 (DESTROY)",
            )));
        }
        if hash && pollinterval == 0 && event_mask & 4 == 0 {
            return Err(cfg_err(o.error(
                "event_mask",
                "with hash_enable=1 only flow ends are emitted, so the mask must include 4 (DESTROY)",
            )));
        }
        let hash_max = o.u32("hash_max_entries").map_err(cfg_err)? as usize;
        if hash && hash_max == 0 {
            return Err(cfg_err(o.error("hash_max_entries", "must be at least 1")));
        }
        let rcvbuf = o.u32("netlink_socket_buffer_size").map_err(cfg_err)?;
        let rcvbuf_max = o.u32("netlink_socket_buffer_maxsize").map_err(cfg_err)?;
        if rcvbuf_max != 0 && rcvbuf_max < rcvbuf {
            return Err(cfg_err(o.error(
                "netlink_socket_buffer_maxsize",
                "must not be smaller than netlink_socket_buffer_size",
            )));
        }
        let mut proto = Vec::new();
        for p in o
            .str("accept_proto_filter")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            proto.push(proto_number(p).ok_or_else(|| {
                cfg_err(o.error(
                    "accept_proto_filter",
                    format_args!(
                        "unknown protocol \"{p}\" (use tcp, udp, icmp, icmpv6, sctp, dccp, \
                         udplite, gre, esp, ah or a number)"
                    ),
                ))
            })?);
        }
        Ok(NfctConfig {
            pollinterval,
            hash,
            hash_buckets: o.u32("hash_buckets").map_err(cfg_err)? as usize,
            hash_max,
            event_mask,
            rcvbuf,
            rcvbuf_max,
            resync_timeout: o.u32("netlink_resync_timeout").map_err(cfg_err)?,
            reliable: o.bool("reliable"),
            filter: FlowFilter {
                src: Self::cidrs(o, "accept_src_filter")?,
                dst: Self::cidrs(o, "accept_dst_filter")?,
                proto,
            },
            netns: o.str("network_namespace_path").to_string(),
        })
    }
}

// ---- the flow cache (no I/O, no clock) ---------------------------------------------

/// A record to emit: a flow, its `ct.event` and its times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Record {
    flow: CtFlow,
    event: u32,
    start: Option<Ts>,
    end: Option<Ts>,
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

// ---- the kernel socket filter ----------------------------------------------------

const BPF_LD: u16 = 0x00;
const BPF_LDX: u16 = 0x01;
const BPF_ALU: u16 = 0x04;
const BPF_JMP: u16 = 0x05;
const BPF_RET: u16 = 0x06;
const BPF_MISC: u16 = 0x07;
const BPF_W: u16 = 0x00;
const BPF_B: u16 = 0x10;
const BPF_IMM: u16 = 0x00;
const BPF_ABS: u16 = 0x20;
const BPF_IND: u16 = 0x40;
const BPF_AND: u16 = 0x50;
const BPF_K: u16 = 0x00;
const BPF_JA: u16 = 0x00;
const BPF_JEQ: u16 = 0x10;
const BPF_TAX: u16 = 0x00;
/// `SKF_AD_OFF + SKF_AD_NLATTR`: A = offset of the attribute of type X found in
/// the attribute stream starting at offset A (0 if none).
const AD_NLATTR: u32 = (-0x1000i32 + 12) as u32;
/// `SKF_AD_OFF + SKF_AD_NLATTR_NEST`: A = offset of the attribute of type X inside
/// the nested attribute at offset A (0 if none).
const AD_NLATTR_NEST: u32 = (-0x1000i32 + 16) as u32;
/// Where a ctnetlink message's attributes start: nlmsghdr + nfgenmsg.
const ATTRS_OFF: u32 = (NLMSG_HDRLEN + 4) as u32;

fn stmt(code: u16, k: u32) -> Insn {
    Insn {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jeq(k: u32, jt: u8, jf: u8) -> Insn {
    Insn {
        code: BPF_JMP | BPF_JEQ | BPF_K,
        jt,
        jf,
        k,
    }
}

/// Builds one block of the program: find the leaf attribute `path` of the original
/// tuple; if absent, pass; else run `body` (which jumps to "pass" via the returned
/// JA slots) and reject if no entry matched.
struct Block {
    insns: Vec<Insn>,
    to_pass: Vec<usize>,
}

impl Block {
    fn new(path: [u16; 3]) -> Block {
        let mut b = Block {
            insns: vec![stmt(BPF_LD | BPF_W | BPF_IMM, ATTRS_OFF)],
            to_pass: Vec::new(),
        };
        for (i, kind) in path.iter().enumerate() {
            b.insns
                .push(stmt(BPF_LDX | BPF_W | BPF_IMM, u32::from(*kind)));
            let ad = if i == 0 { AD_NLATTR } else { AD_NLATTR_NEST };
            b.insns.push(stmt(BPF_LD | BPF_B | BPF_ABS, ad));
            // Not found: this block does not judge the message.
            b.insns.push(jeq(0, 0, 1));
            b.ja_pass();
        }
        b.insns.push(stmt(BPF_MISC | BPF_TAX, 0));
        b
    }

    fn ja_pass(&mut self) {
        self.to_pass.push(self.insns.len());
        self.insns.push(stmt(BPF_JMP | BPF_JA, 0));
    }

    fn finish(mut self, out: &mut Vec<Insn>) {
        self.insns.push(stmt(BPF_RET | BPF_K, 0));
        let end = self.insns.len();
        for i in self.to_pass {
            self.insns[i].k = (end - i - 1) as u32;
        }
        out.extend(self.insns);
    }
}

/// Compiles `f` to a classic BPF program for the event socket, or `None` when there
/// is nothing to filter. The userspace check in [`FlowFilter::accepts`] has the same
/// meaning (and is applied anyway).
pub(crate) fn compile_filter(f: &FlowFilter) -> Option<Vec<Insn>> {
    if f.is_empty() {
        return None;
    }
    let mut prog = Vec::new();
    for (list, v4, v6) in [
        (&f.src, CTA_IP_V4_SRC, CTA_IP_V6_SRC),
        (&f.dst, CTA_IP_V4_DST, CTA_IP_V6_DST),
    ] {
        for (is_v4, kind) in [(true, v4), (false, v6)] {
            let nets: Vec<&Cidr> = list.iter().filter(|c| c.net.is_ipv4() == is_v4).collect();
            if nets.is_empty() {
                continue;
            }
            let mut b = Block::new([CTA_TUPLE_ORIG, CTA_TUPLE_IP, kind]);
            for c in nets {
                let words: Vec<(usize, u32, u32)> = c
                    .mask_words()
                    .into_iter()
                    .zip(c.net_words())
                    .enumerate()
                    .filter(|(_, (m, _))| *m != 0)
                    .map(|(i, (m, n))| (i, m, n))
                    .collect();
                let n = words.len();
                for (j, (i, m, net)) in words.into_iter().enumerate() {
                    b.insns
                        .push(stmt(BPF_LD | BPF_W | BPF_IND, 4 + 4 * i as u32));
                    b.insns.push(stmt(BPF_ALU | BPF_AND | BPF_K, m));
                    let rest = 3 * (n - 1 - j) + 1;
                    b.insns.push(jeq(net, 0, rest as u8));
                }
                b.ja_pass();
            }
            b.finish(&mut prog);
        }
    }
    if !f.proto.is_empty() {
        let mut b = Block::new([CTA_TUPLE_ORIG, CTA_TUPLE_PROTO, CTA_PROTO_NUM]);
        b.insns.push(stmt(BPF_LD | BPF_B | BPF_IND, 4));
        for p in &f.proto {
            b.insns.push(jeq(u32::from(*p), 0, 1));
            b.ja_pass();
        }
        b.finish(&mut prog);
    }
    prog.push(stmt(BPF_RET | BPF_K, u32::MAX));
    Some(prog)
}

// ---- the source --------------------------------------------------------------------

/// Why a dump is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DumpKind {
    /// Fill the cache at start (event mode with the hash).
    Initial,
    /// Polling mode.
    Poll,
    /// After an overrun: find flows whose DESTROY was lost.
    Resync,
    /// SIGUSR2: emit every flow and zero the kernel counters.
    CtrZero,
}

#[derive(Default)]
struct Stats {
    events: u64,
    records: u64,
    overruns: u64,
    resyncs: u64,
    parse_errors: u64,
    filtered: u64,
    dumps: u64,
    dump_errors: u64,
    vanished: u64,
}

struct Nfct {
    cfg: NfctConfig,
    ev_sock: Option<NlSocket>,
    dump_sock: Option<NlSocket>,
    ev_rx: RecvBuf,
    dump_rx: RecvBuf,
    table: Option<FlowTable>,
    out: VecDeque<Record>,
    /// Dump in flight: kind, sequence number, interrupted.
    dump: Option<(DumpKind, u32, bool)>,
    queued: VecDeque<DumpKind>,
    next_seq: u32,
    poll_timer: Option<usize>,
    resync_timer: Option<usize>,
    resync_armed: bool,
    rcvbuf: RcvbufPolicy,
    kernel_filter: bool,
    /// `dropped_full` when the cache-full warning was last logged.
    full_logged: u64,
    stats: Stats,
}

impl Nfct {
    fn new(cfg: NfctConfig) -> Nfct {
        let rcvbuf_max = cfg.rcvbuf_max;
        let table = cfg
            .hash
            .then(|| FlowTable::new(cfg.hash_buckets, cfg.hash_max));
        Nfct {
            cfg,
            ev_sock: None,
            dump_sock: None,
            ev_rx: RecvBuf::new(0),
            dump_rx: RecvBuf::new(0),
            table,
            out: VecDeque::with_capacity(OUT_RESERVE),
            dump: None,
            queued: VecDeque::new(),
            next_seq: 1,
            poll_timer: None,
            resync_timer: None,
            resync_armed: false,
            rcvbuf: RcvbufPolicy::new(rcvbuf_max),
            kernel_filter: false,
            full_logged: 0,
            stats: Stats::default(),
        }
    }

    fn name(&self) -> String {
        if self.cfg.netns.is_empty() {
            "NFCT".to_string()
        } else {
            format!("NFCT in {}", self.cfg.netns)
        }
    }

    fn event_mode(&self) -> bool {
        self.cfg.pollinterval == 0
    }

    /// Queues a dump, or sends it if none is in flight.
    fn request_dump(&mut self, kind: DumpKind) {
        if self.dump.is_some() {
            if !self.queued.contains(&kind) {
                self.queued.push_back(kind);
            }
            return;
        }
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1).max(1);
        let mut msg = Vec::with_capacity(32);
        let built = match kind {
            DumpKind::CtrZero => emit_dump_ctrzero_request(AF_UNSPEC, seq, &mut msg),
            _ => emit_dump_request(AF_UNSPEC, seq, &mut msg),
        };
        let Some(sock) = self.dump_sock.as_ref() else {
            return;
        };
        if built.is_err() {
            return;
        }
        match sock.send(&msg) {
            Ok(()) => {
                if kind != DumpKind::CtrZero {
                    if let Some(t) = self.table.as_mut() {
                        t.begin_dump();
                    }
                }
                self.stats.dumps += 1;
                self.dump = Some((kind, seq, false));
            }
            Err(e) => {
                self.stats.dump_errors += 1;
                log::error!(
                    "{}: cannot request a table dump ({kind:?}): {e}",
                    self.name()
                );
            }
        }
    }

    fn finish_dump(&mut self, ok: bool) {
        let Some((kind, _, intr)) = self.dump.take() else {
            return;
        };
        if kind != DumpKind::CtrZero {
            if ok && !intr {
                let now = now();
                if let Some(t) = self.table.as_mut() {
                    let n = t.end_dump(now, &mut self.out);
                    self.stats.vanished += n as u64;
                    if n > 0 && kind == DumpKind::Resync {
                        log::warn!(
                            "{}: resync found {n} flow(s) whose end event was lost; emitted as DESTROY",
                            self.name()
                        );
                    }
                }
            } else if intr {
                log::warn!(
                    "{}: the table changed during the dump (NLM_F_DUMP_INTR); vanished flows \
                     are looked for at the next one",
                    self.name()
                );
            }
        }
        if let Some(next) = self.queued.pop_front() {
            self.request_dump(next);
        }
    }

    fn on_overrun(&mut self, emit: &mut dyn Emit) {
        self.stats.overruns += 1;
        let name = self.name();
        self.rcvbuf
            .on_overrun(self.ev_sock.as_ref(), &name, "conntrack events");
        if self.table.is_some() && !self.resync_armed {
            if let Some(t) = self.resync_timer {
                self.resync_armed = true;
                emit.arm_timer(t, Duration::from_secs(u64::from(self.cfg.resync_timeout)));
                log::warn!(
                    "{name}: the flow table will be dumped again in {} s so that no flow end is missed",
                    self.cfg.resync_timeout
                );
            }
        } else if self.table.is_none() && self.stats.overruns == 1 {
            log::warn!("{name}: without hash_enable=1 lost events cannot be recovered");
        }
    }

    /// Logs (rate-limited) flows the full cache could not take.
    fn check_full(&mut self) {
        let d = self.table.as_ref().map_or(0, |t| t.dropped_full);
        if d > self.full_logged && d.is_power_of_two() {
            self.full_logged = d;
            log::warn!(
                "{}: flow cache full (hash_max_entries={}); {d} flow(s) not cached so far: \
                 their records lack a start time, and in polling mode their end is missed",
                self.name(),
                self.cfg.hash_max
            );
        }
    }

    fn parse_error(&mut self, e: impl std::fmt::Display) {
        self.stats.parse_errors += 1;
        if self.stats.parse_errors.is_power_of_two() {
            log::warn!(
                "{}: malformed conntrack message dropped ({} so far): {e}",
                self.name(),
                self.stats.parse_errors
            );
        }
    }

    /// One message of the event socket.
    fn handle_event(&mut self, m: &NlmsgView<&[u8]>, now: Ts, emit: &mut dyn Emit) {
        match m.msg_type() {
            NLMSG_OVERRUN => return self.on_overrun(emit),
            NLMSG_NOOP | NLMSG_ERROR | NLMSG_DONE => return,
            _ => {}
        }
        let r = match CtRepr::parse_nlmsg(m) {
            Ok(r) => r,
            Err(e) => return self.parse_error(e),
        };
        let Some(orig) = r.orig else {
            return self.parse_error("conntrack event without an original tuple");
        };
        if !self.cfg.filter.accepts(&orig) {
            self.stats.filtered += 1;
            return;
        }
        self.stats.events += 1;
        let flow = CtFlow::from_repr(&r);
        if let Some(t) = self.table.as_mut() {
            match r.event {
                CtEvent::New => t.on_new(&flow, now),
                CtEvent::Update => t.on_update(&flow),
                CtEvent::Destroy => {
                    let rec = t.on_destroy(&flow, now);
                    self.out.push_back(rec);
                }
                CtEvent::Get => {}
            }
            self.check_full();
            return;
        }
        let kstart = flow.kstart.map(ns_to_ts);
        let rec = match r.event {
            CtEvent::New if self.cfg.event_mask & 1 != 0 => Record {
                flow,
                event: CT_EVENT_NEW,
                start: Some(kstart.unwrap_or(now)),
                end: None,
            },
            CtEvent::Update if self.cfg.event_mask & 2 != 0 => Record {
                flow,
                event: CT_EVENT_UPDATE,
                start: kstart,
                end: None,
            },
            CtEvent::Destroy if self.cfg.event_mask & 4 != 0 => Record {
                flow,
                event: CT_EVENT_DESTROY,
                start: kstart,
                end: Some(flow.kstop.map(ns_to_ts).unwrap_or(now)),
            },
            _ => return,
        };
        self.out.push_back(rec);
    }

    /// One message of the dump socket.
    fn handle_dump(&mut self, m: &NlmsgView<&[u8]>, now: Ts) {
        let Some((kind, seq, _)) = self.dump else {
            return;
        };
        if m.seq() != seq {
            return;
        }
        if m.flags() & NLM_F_DUMP_INTR != 0 {
            if let Some(d) = self.dump.as_mut() {
                d.2 = true;
            }
        }
        match m.msg_type() {
            NLMSG_DONE => return self.finish_dump(true),
            NLMSG_ERROR => {
                let err = NlmsgErrView::new_checked(m.payload())
                    .map_or(libc::EPROTO, |e| e.error().saturating_neg());
                if err != 0 {
                    self.stats.dump_errors += 1;
                    log::error!(
                        "{}: the kernel refused the table dump ({kind:?}): {}",
                        self.name(),
                        errno_text(err)
                    );
                }
                return self.finish_dump(err == 0);
            }
            NLMSG_NOOP | NLMSG_OVERRUN => return,
            _ => {}
        }
        let r = match CtRepr::parse_nlmsg(m) {
            Ok(r) => r,
            Err(e) => return self.parse_error(e),
        };
        let Some(orig) = r.orig else {
            return self.parse_error("conntrack dump entry without an original tuple");
        };
        if !self.cfg.filter.accepts(&orig) {
            return;
        }
        let flow = CtFlow::from_repr(&r);
        match kind {
            DumpKind::Initial | DumpKind::Resync => {
                if let Some(t) = self.table.as_mut() {
                    t.on_dump_entry(&flow, None);
                }
                self.check_full();
            }
            DumpKind::Poll => {
                if let Some(t) = self.table.as_mut() {
                    t.on_dump_entry(&flow, Some(now));
                }
                self.check_full();
            }
            DumpKind::CtrZero => {
                let start = flow
                    .kstart
                    .map(ns_to_ts)
                    .or_else(|| self.table.as_ref().and_then(|t| t.start_of(&flow)));
                if let Some(t) = self.table.as_mut() {
                    t.on_update(&flow);
                }
                self.out.push_back(Record {
                    flow,
                    event: CT_EVENT_UPDATE,
                    start,
                    end: None,
                });
            }
        }
    }

    /// Emits queued records. `false` when the pool ran empty.
    fn drain_out(&mut self, emit: &mut dyn Emit) -> bool {
        while let Some(rec) = self.out.front().copied() {
            let res = emit.emit(&mut |ev| {
                fill(ev, &rec.flow, rec.event, rec.start, rec.end);
                true
            });
            if res.is_err() {
                return false;
            }
            self.out.pop_front();
            self.stats.records += 1;
        }
        true
    }

    /// Handles the next message read from the event (`dump = false`) or dump socket.
    fn step(&mut self, dump: bool, emit: &mut dyn Emit) {
        let slot = if dump {
            &mut self.dump_rx
        } else {
            &mut self.ev_rx
        };
        let mut rx = std::mem::replace(slot, RecvBuf::new(0));
        let mut budget = 1;
        rx.walk(&mut budget, |i, time| {
            match i {
                Input::Msg(m) if dump => self.handle_dump(&m, time),
                Input::Msg(m) => self.handle_event(&m, time, emit),
                Input::Malformed(e) => {
                    self.parse_error(format_args!(
                        "malformed netlink data, rest of the read dropped: {e}"
                    ));
                    if dump && self.dump.is_some() {
                        // The dump cannot be trusted to be complete.
                        self.stats.dump_errors += 1;
                        self.finish_dump(false);
                    }
                }
                Input::Overrun => {}
            }
            Walk::Next
        });
        if dump {
            self.dump_rx = rx;
        } else {
            self.ev_rx = rx;
        }
    }

    /// Reads one datagram; `Ok(false)` on EAGAIN.
    fn recv(&mut self, dump: bool, emit: &mut dyn Emit) -> Result<bool, PluginError> {
        let (sock, rx) = if dump {
            (self.dump_sock.as_ref(), &mut self.dump_rx)
        } else {
            (self.ev_sock.as_ref(), &mut self.ev_rx)
        };
        let Some(sock) = sock else { return Ok(false) };
        match rx.fill(sock) {
            Ok(Recv::Data(_)) => Ok(true),
            Ok(Recv::Again) => Ok(false),
            Ok(Recv::Overrun) if !dump => {
                self.on_overrun(emit);
                Ok(true)
            }
            Ok(Recv::Overrun) => {
                // A dump reply was lost: the dump is incomplete.
                self.stats.dump_errors += 1;
                log::warn!("{}: dump reply lost (ENOBUFS); dump abandoned", self.name());
                if let Some(d) = self.dump.as_mut() {
                    d.2 = true;
                }
                Ok(true)
            }
            Err(e) => Err(PluginError::new(format!(
                "{}: recv on the {} socket: {e}",
                self.name(),
                if dump { "dump" } else { "event" }
            ))),
        }
    }
}

impl Source for Nfct {
    fn start(&mut self, setup: &mut dyn SourceSetup) -> Result<(), PluginError> {
        let event_mode = self.event_mode();
        let mask = self.cfg.event_mask;
        let groups: Vec<u32> = [
            (1, NFNLGRP_CONNTRACK_NEW),
            (2, NFNLGRP_CONNTRACK_UPDATE),
            (4, NFNLGRP_CONNTRACK_DESTROY),
        ]
        .iter()
        .filter(|(bit, _)| mask & bit != 0)
        .map(|(_, g)| *g)
        .collect();
        let ev = if event_mode {
            Some(NlSocket::open(
                Proto::Netfilter,
                &groups,
                &self.cfg.netns,
                "ctnetlink event socket",
            )?)
        } else {
            None
        };
        let dump = NlSocket::open(
            Proto::Netfilter,
            &[],
            &self.cfg.netns,
            "ctnetlink dump socket",
        )?;
        let name = self.name();
        if let Some(ev) = ev.as_ref() {
            let got = self.rcvbuf.init(ev, self.cfg.rcvbuf);
            if self.cfg.rcvbuf > 0 {
                log::info!("{name}: netlink socket buffer size set to {got}");
            }
            if self.cfg.reliable {
                let r = ev
                    .set_int(libc::SOL_NETLINK, libc::NETLINK_BROADCAST_ERROR, 1)
                    .and_then(|()| ev.set_int(libc::SOL_NETLINK, libc::NETLINK_NO_ENOBUFS, 1));
                if let Err(e) = r {
                    return Err(PluginError::new(format!(
                        "{name}: cannot enable reliable event delivery: {e}"
                    )));
                }
                log::info!("{name}: reliable event delivery enabled");
            }
            if let Some(prog) = compile_filter(&self.cfg.filter) {
                if prog.len() > BPF_MAXINSNS {
                    log::warn!(
                        "{name}: accept filters too long for a kernel socket filter \
                         ({} instructions); filtering in userspace only",
                        prog.len()
                    );
                } else {
                    match ev.attach_filter(&prog) {
                        Ok(()) => self.kernel_filter = true,
                        Err(e) => log::warn!(
                            "{name}: cannot attach the kernel socket filter ({e}); \
                             filtering in userspace only"
                        ),
                    }
                }
            }
        }
        // Dumps of big tables need room; the kernel retries a dump when the reader
        // catches up, but a generous buffer keeps it fast.
        dump.set_rcvbuf((4 * DUMP_BUF) as u32);
        if let Some(ev) = ev.as_ref() {
            setup.add_fd(ev.fd());
            self.ev_rx = RecvBuf::new(EVENT_BUF);
        }
        setup.add_fd(dump.fd());
        self.dump_rx = RecvBuf::new(DUMP_BUF);
        self.ev_sock = ev;
        self.dump_sock = Some(dump);
        if event_mode {
            if self.table.is_some() {
                self.resync_timer = Some(setup.add_timer(FAR, None));
                self.request_dump(DumpKind::Initial);
            }
        } else {
            let p = Duration::from_secs(u64::from(self.cfg.pollinterval));
            self.poll_timer = Some(setup.add_timer(p, Some(p)));
            self.request_dump(DumpKind::Poll);
        }
        log::info!(
            "{name}: {} mode{}{}",
            if event_mode { "event" } else { "polling" },
            if self.table.is_some() {
                ", flow cache on"
            } else {
                ""
            },
            if self.kernel_filter {
                ", kernel filter attached"
            } else {
                ""
            }
        );
        Ok(())
    }

    fn run(&mut self, wake: Wake, emit: &mut dyn Emit) -> Result<Flow, PluginError> {
        if let Wake::Timer(t) = wake {
            if Some(t) == self.poll_timer {
                self.request_dump(DumpKind::Poll);
            } else if Some(t) == self.resync_timer {
                self.resync_armed = false;
                self.stats.resyncs += 1;
                self.request_dump(DumpKind::Resync);
            }
        }
        let mut handled = 0;
        let (mut ev_idle, mut dump_idle) = (false, false);
        loop {
            if !self.drain_out(emit) {
                return Ok(Flow::Idle);
            }
            if handled >= BATCH {
                return Ok(Flow::Again);
            }
            if self.ev_rx.pending() {
                self.step(false, emit);
                handled += 1;
                continue;
            }
            if self.dump_rx.pending() {
                self.step(true, emit);
                handled += 1;
                continue;
            }
            if !ev_idle {
                ev_idle = !self.recv(false, emit)?;
                if !ev_idle {
                    continue;
                }
            }
            if !dump_idle {
                dump_idle = !self.recv(true, emit)?;
                if !dump_idle {
                    continue;
                }
            }
            return Ok(Flow::Idle);
        }
    }

    fn signal(&mut self, sig: Signal, _emit: &mut dyn Emit) {
        if sig == Signal::Usr2 && self.dump_sock.is_some() {
            log::info!("{}: SIGUSR2: dumping and zeroing counters", self.name());
            self.request_dump(DumpKind::CtrZero);
        }
    }

    fn stop(&mut self) {
        self.ev_sock = None;
        self.dump_sock = None;
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        let s = &self.stats;
        vec![
            ("kernel_events", s.events),
            ("records", s.records),
            ("overruns", s.overruns),
            ("resyncs", s.resyncs),
            ("parse_errors", s.parse_errors),
            ("filtered", s.filtered),
            ("dumps", s.dumps),
            ("dump_errors", s.dump_errors),
            ("vanished", s.vanished),
            (
                "cache_size",
                self.table.as_ref().map_or(0, |t| t.len() as u64),
            ),
            (
                "cache_full",
                self.table.as_ref().map_or(0, |t| t.dropped_full),
            ),
        ]
    }
}

/// The NFCT plugin.
pub fn spec() -> PluginSpec {
    PluginSpec {
        name: "NFCT",
        aliases: &[],
        kind: ulogd_core::Kind::Source,
        summary: "connection tracking flows from ctnetlink (events, polling, flow cache)",
        options: NfctConfig::options(),
        inputs: vec![],
        outputs: NFCT_KEYS.to_vec(),
        wildcard: false,
        build: Box::new(|ctx| {
            Ok(Built::Source {
                source: Box::new(Nfct::new(NfctConfig::from_options(ctx.options)?)),
                outputs: NFCT_KEYS.to_vec(),
            })
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ctnetlink::{AF_INET, AF_INET6};
    use crate::wire::{CtCounters, CtEvent, NlmsgIter};

    fn parse(pairs: &[(&str, &str)]) -> Result<NfctConfig, String> {
        let o = Options::from_pairs("NFCT", "ct1", &NfctConfig::options(), pairs)
            .map_err(|e| format!("{e:?}"))?;
        NfctConfig::from_options(&o).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_are_ulogd2s() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.pollinterval, 0);
        assert!(c.hash);
        assert_eq!((c.hash_buckets, c.hash_max), (8192, 32768));
        assert_eq!(c.event_mask, 5);
        assert_eq!(c.resync_timeout, 60);
        assert!(!c.reliable);
        assert!(c.filter.is_empty());
    }

    #[test]
    fn bad_options_are_refused_by_name() {
        for (pairs, key) in [
            (
                vec![("pollinterval", "10"), ("hash_enable", "0")],
                "pollinterval",
            ),
            (vec![("event_mask", "8")], "event_mask"),
            (vec![("event_mask", "3")], "event_mask"),
            (
                vec![("accept_src_filter", "10.0.0.0/33")],
                "accept_src_filter",
            ),
            (vec![("accept_dst_filter", "nonsense")], "accept_dst_filter"),
            (
                vec![("accept_proto_filter", "tcp,bogus")],
                "accept_proto_filter",
            ),
            (
                vec![
                    ("netlink_socket_buffer_size", "100000"),
                    ("netlink_socket_buffer_maxsize", "100"),
                ],
                "netlink_socket_buffer_maxsize",
            ),
        ] {
            let e = parse(&pairs).unwrap_err();
            assert!(e.contains(key), "{pairs:?}: {e}");
        }
        // Without the hash, any mask is fine.
        assert!(parse(&[("hash_enable", "0"), ("event_mask", "3")]).is_ok());
    }

    #[test]
    fn filters_parse_and_match() {
        let c = parse(&[
            ("accept_src_filter", "10.0.0.0/8, 192.168.1.7"),
            ("accept_dst_filter", "fd00::/8"),
            ("accept_proto_filter", "tcp,ICMPv6,132"),
        ])
        .unwrap();
        assert_eq!(c.filter.proto, vec![6, 58, 132]);
        let t = |s: &str, d: &str, p: u8| TupleRepr {
            src: Some(s.parse().unwrap()),
            dst: Some(d.parse().unwrap()),
            proto: Some(p),
            ..TupleRepr::default()
        };
        let f = &c.filter;
        assert!(f.accepts(&t("10.1.2.3", "8.8.8.8", 6)));
        assert!(f.accepts(&t("192.168.1.7", "8.8.8.8", 132)));
        assert!(!f.accepts(&t("192.168.1.8", "8.8.8.8", 6)));
        assert!(!f.accepts(&t("10.1.2.3", "8.8.8.8", 17)));
        // IPv6: src list has no IPv6 networks, so it does not judge; dst does.
        assert!(f.accepts(&t("2001:db8::1", "fd12::1", 58)));
        assert!(!f.accepts(&t("2001:db8::1", "2001:db8::2", 58)));
    }

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

    struct NoEmit;
    impl Emit for NoEmit {
        fn emit(
            &mut self,
            _fill: &mut dyn FnMut(&mut ulogd_core::Event<'_>) -> bool,
        ) -> Result<(), ulogd_core::PoolEmpty> {
            Err(ulogd_core::PoolEmpty)
        }
        fn arm_timer(&mut self, _timer: usize, _after: Duration) {}
    }

    /// Real kernel events (`tests/fixtures/ctnetlink/events.bin`, see capture.py there)
    /// through the event path, with and without the cache.
    #[test]
    fn captured_events_become_records() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/ctnetlink/events.bin"
        );
        let buf = std::fs::read(path).unwrap();
        let msgs: Vec<NlmsgView<&[u8]>> = NlmsgIter::new(&buf).map(|m| m.unwrap()).collect();
        let kinds: Vec<CtEvent> = msgs
            .iter()
            .map(|m| CtRepr::parse_nlmsg(m).unwrap().event)
            .collect();
        let count = |e: CtEvent| kinds.iter().filter(|&&k| k == e).count();
        assert!(count(CtEvent::New) >= 5, "{kinds:?}");

        let mut all = Nfct::new(parse(&[("hash_enable", "0"), ("event_mask", "7")]).unwrap());
        let mut hashed = Nfct::new(parse(&[]).unwrap());
        for m in &msgs {
            all.handle_event(m, (1, 0), &mut NoEmit);
            hashed.handle_event(m, (1, 0), &mut NoEmit);
        }
        assert_eq!(all.stats.parse_errors, 0);
        assert_eq!(all.out.len(), msgs.len());
        assert!(all
            .out
            .iter()
            .all(|r| r.flow.orig.src.is_some() && r.start.is_some() || r.event == CT_EVENT_UPDATE));
        // With the cache only flow ends come out, each with its start time.
        assert_eq!(hashed.out.len(), count(CtEvent::Destroy));
        assert!(hashed
            .out
            .iter()
            .all(|r| r.event == CT_EVENT_DESTROY && r.end.is_some()));
        assert_eq!(
            hashed.table.as_ref().unwrap().len(),
            count(CtEvent::New) - count(CtEvent::Destroy)
        );
    }

    /// A classic BPF interpreter with the two netlink ancillary loads, enough to run
    /// what [`compile_filter`] generates against real messages.
    fn run_bpf(prog: &[Insn], pkt: &[u8]) -> u32 {
        let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
        let rd = |off: usize, n: usize| -> Option<u32> {
            let b = pkt.get(off..off + n)?;
            Some(b.iter().fold(0u32, |acc, &v| (acc << 8) | u32::from(v)))
        };
        let nla_find = |start: usize, end: usize, kind: u32| -> u32 {
            let mut off = start;
            while off + 4 <= end {
                let len = u16::from_ne_bytes([pkt[off], pkt[off + 1]]) as usize;
                let ty = u16::from_ne_bytes([pkt[off + 2], pkt[off + 3]]) & 0x3fff;
                if len < 4 || off + len > end {
                    return 0;
                }
                if u32::from(ty) == kind {
                    return off as u32;
                }
                off += (len + 3) & !3;
            }
            0
        };
        loop {
            let i = prog[pc];
            pc += 1;
            match i.code {
                c if c == BPF_LD | BPF_W | BPF_IMM => a = i.k,
                c if c == BPF_LDX | BPF_W | BPF_IMM => x = i.k,
                c if c == BPF_LD | BPF_B | BPF_ABS && i.k == AD_NLATTR => {
                    a = nla_find(a as usize, pkt.len(), x)
                }
                c if c == BPF_LD | BPF_B | BPF_ABS && i.k == AD_NLATTR_NEST => {
                    let off = a as usize;
                    let len = u16::from_ne_bytes([pkt[off], pkt[off + 1]]) as usize;
                    a = nla_find(off + 4, off + len, x);
                }
                c if c == BPF_LD | BPF_W | BPF_IND => {
                    let Some(v) = rd(x as usize + i.k as usize, 4) else {
                        return 0;
                    };
                    a = v;
                }
                c if c == BPF_LD | BPF_B | BPF_IND => {
                    let Some(v) = rd(x as usize + i.k as usize, 1) else {
                        return 0;
                    };
                    a = v;
                }
                c if c == BPF_ALU | BPF_AND | BPF_K => a &= i.k,
                c if c == BPF_MISC | BPF_TAX => x = a,
                c if c == BPF_JMP | BPF_JA => pc += i.k as usize,
                c if c == BPF_JMP | BPF_JEQ | BPF_K => {
                    pc += if a == i.k { i.jt } else { i.jf } as usize
                }
                c if c == BPF_RET | BPF_K => return i.k,
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
    }

    #[test]
    fn kernel_filter_program_agrees_with_the_userspace_check() {
        let c = parse(&[
            ("accept_src_filter", "10.0.0.0/8,192.168.1.7,fd00::/12"),
            ("accept_dst_filter", "0.0.0.0/0,2001:db8::/33"),
            ("accept_proto_filter", "tcp,udp,icmpv6"),
        ])
        .unwrap();
        let prog = compile_filter(&c.filter).unwrap();
        let srcs = [
            "10.9.9.9",
            "11.0.0.1",
            "192.168.1.7",
            "192.168.1.6",
            "fd01::1",
            "fd10::1",
            "2001:db8::1",
        ];
        let dsts = ["1.2.3.4", "2001:db8:7fff::1", "2001:db8:8000::1", "fd00::9"];
        let mut checked = 0;
        for s in srcs {
            for d in dsts {
                let (s, d): (IpAddr, IpAddr) = (s.parse().unwrap(), d.parse().unwrap());
                if s.is_ipv4() != d.is_ipv4() {
                    continue;
                }
                for p in [6u8, 17, 1, 58] {
                    let t = TupleRepr {
                        src: Some(s),
                        dst: Some(d),
                        proto: Some(p),
                        sport: Some(1),
                        dport: Some(2),
                        ..TupleRepr::default()
                    };
                    let r = CtRepr {
                        family: if s.is_ipv4() { AF_INET } else { AF_INET6 },
                        event: CtEvent::Destroy,
                        orig: Some(t),
                        reply: Some(t),
                        id: Some(1),
                        ..CtRepr::default()
                    };
                    let mut buf = Vec::new();
                    r.emit_nlmsg(0, &mut buf).unwrap();
                    let want = c.filter.accepts(&t);
                    let got = run_bpf(&prog, &buf) != 0;
                    assert_eq!(got, want, "{s} -> {d} proto {p}");
                    checked += 1;
                }
            }
        }
        assert!(checked > 40);
        // Messages without a tuple pass the kernel filter (userspace decides).
        let mut done = Vec::new();
        CtRepr::default().emit_nlmsg(0, &mut done).unwrap();
        assert_ne!(run_bpf(&prog, &done), 0);
        assert_eq!(compile_filter(&FlowFilter::default()), None);
    }
}
