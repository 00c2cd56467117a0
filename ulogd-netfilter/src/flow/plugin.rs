//! FLOW: a flow meter that ends packet stacks and heads flow stacks
//! ([`ulogd_core::Built::Hop`]).
//!
//! The sink half ([`MeterStage`]) turns each packet's BASE keys into a
//! [`PacketInfo`] and counts it in the shared [`FlowTable`]; the source half
//! ([`MeterSource`]) emits the records the table gives back, with NFCT's flow keys,
//! on a periodic timer (so flows expire while no packet arrives), when the stage half
//! rings the [`Doorbell`] (a record ended inside `handle_packet`: eviction, a SYN
//! reusing an ended tuple, a flow past its deadline), on SIGUSR2 (flush) and at
//! shutdown (flush; the engine drains the hop before flushing the sinks behind it).
//!
//! Back-pressure: when the source half's pool is empty it keeps the record in hand
//! and waits; records ended meanwhile wait in the table's bounded queue; if that
//! queue is full too, a packet that would need a new flow is not counted
//! (`packets_dropped`, the stage's `errors`): memory never grows.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ulogd_core::{
    Built, Doorbell, Emit, Event, Flow, Inputs, KeyDef, KeyType, PluginError, PluginSpec, Ret,
    Signal, Source, SourceSetup, Stage, Wake, PEN_NETFILTER,
};

use super::config::{Clock, FlowConfig, KeyFields};
use super::table::{FlowRecord, FlowTable, Handled, Micros, PacketInfo, BYTES_PER_FLOW};
use crate::sources::nfct_keys::{k as ct, NFCT_KEYS};

/// Input positions.
mod i {
    pub const FAMILY: usize = 0;
    pub const SADDR: usize = 1;
    pub const DADDR: usize = 2;
    pub const PROTO: usize = 3;
    pub const TCP_SPORT: usize = 4;
    pub const UDP_SPORT: usize = 6;
    pub const SCTP_SPORT: usize = 8;
    pub const ICMP_TYPE: usize = 10;
    pub const ICMP_CODE: usize = 11;
    pub const ICMP6_TYPE: usize = 12;
    pub const ICMP6_CODE: usize = 13;
    pub const TOTLEN: usize = 14;
    pub const PAYLOADLEN6: usize = 15;
    pub const PKTLEN: usize = 16;
    pub const FLAGS: usize = 17; // fin, syn, rst, psh, ack, urg: bits 0..5
    pub const TIME_SEC: usize = 23;
    pub const TIME_USEC: usize = 24;
    pub const IFIN: usize = 25;
    pub const IFOUT: usize = 26;
    pub const MARK: usize = 27;
    pub const TOS: usize = 28;
    pub const TCLASS: usize = 29;
    pub const VLAN: usize = 30;
}

static INPUTS: &[KeyDef] = &[
    KeyDef::new("oob.family", KeyType::U8).optional(),
    KeyDef::new("ip.saddr", KeyType::IpAddr),
    KeyDef::new("ip.daddr", KeyType::IpAddr),
    KeyDef::new("ip.protocol", KeyType::U8),
    KeyDef::new("tcp.sport", KeyType::U16).optional(),
    KeyDef::new("tcp.dport", KeyType::U16).optional(),
    KeyDef::new("udp.sport", KeyType::U16).optional(),
    KeyDef::new("udp.dport", KeyType::U16).optional(),
    KeyDef::new("sctp.sport", KeyType::U16).optional(),
    KeyDef::new("sctp.dport", KeyType::U16).optional(),
    KeyDef::new("icmp.type", KeyType::U8).optional(),
    KeyDef::new("icmp.code", KeyType::U8).optional(),
    KeyDef::new("icmpv6.type", KeyType::U8).optional(),
    KeyDef::new("icmpv6.code", KeyType::U8).optional(),
    KeyDef::new("ip.totlen", KeyType::U16).optional(),
    KeyDef::new("ip6.payloadlen", KeyType::U16).optional(),
    KeyDef::new("raw.pktlen", KeyType::U32).optional(),
    KeyDef::new("tcp.fin", KeyType::Bool).optional(),
    KeyDef::new("tcp.syn", KeyType::Bool).optional(),
    KeyDef::new("tcp.rst", KeyType::Bool).optional(),
    KeyDef::new("tcp.psh", KeyType::Bool).optional(),
    KeyDef::new("tcp.ack", KeyType::Bool).optional(),
    KeyDef::new("tcp.urg", KeyType::Bool).optional(),
    KeyDef::new("oob.time.sec", KeyType::U32).optional(),
    KeyDef::new("oob.time.usec", KeyType::U32).optional(),
    KeyDef::new("oob.ifindex_in", KeyType::U32).optional(),
    KeyDef::new("oob.ifindex_out", KeyType::U32).optional(),
    KeyDef::new("oob.mark", KeyType::U32).optional(),
    KeyDef::new("ip.tos", KeyType::U8).optional(),
    KeyDef::new("ip6.priority", KeyType::U8).optional(),
    KeyDef::new("oob.vlan.id", KeyType::U16).optional(),
];

/// Output positions (see [`outputs`]).
pub mod o {
    #![allow(missing_docs)]
    pub const SADDR: usize = 0;
    pub const DADDR: usize = 1;
    pub const PROTO: usize = 2;
    pub const SPORT: usize = 3;
    pub const DPORT: usize = 4;
    pub const BYTES: usize = 5;
    pub const PACKETS: usize = 6;
    pub const REPLY_BYTES: usize = 7;
    pub const REPLY_PACKETS: usize = 8;
    pub const ICMP_CODE: usize = 9;
    pub const ICMP_TYPE: usize = 10;
    pub const START_SEC: usize = 11;
    pub const START_USEC: usize = 12;
    pub const END_SEC: usize = 13;
    pub const END_USEC: usize = 14;
    pub const FAMILY: usize = 15;
    pub const OOB_PROTOCOL: usize = 16;
    pub const ICMP6_TYPE: usize = 17;
    pub const ICMP6_CODE: usize = 18;
    pub const TCP_FLAGS: usize = 19;
    pub const END_REASON: usize = 20;
    pub const IFIN: usize = 21;
    pub const IFOUT: usize = 22;
    pub const MARK: usize = 23;
    pub const TOS: usize = 24;
    pub const VLAN: usize = 25;
}

/// Keys FLOW adds to NFCT's: `tcpControlBits` (6) and `flowEndReason` (136).
static EXTRA: &[KeyDef] = &[
    KeyDef::new("flow.tcp.flags", KeyType::U8).ietf(6),
    KeyDef::new("flow.end.reason", KeyType::U8).ietf(136),
    KeyDef::new("oob.ifindex_in", KeyType::U32).ietf(10),
    KeyDef::new("oob.ifindex_out", KeyType::U32).ietf(14),
    KeyDef::new("oob.mark", KeyType::U32).ipfix(PEN_NETFILTER, 4),
    KeyDef::new("ip.tos", KeyType::U8).ietf(5),
    KeyDef::new("oob.vlan.id", KeyType::U16).ietf(243),
];

/// FLOW's output keys: NFCT's own definitions (same names, types and IPFIX
/// annotations, so every flow output works unchanged), then [`EXTRA`].
/// `reply.raw.*` are declared (NACCT requires them) but never set: a packet meter
/// sees one direction per flow.
pub fn outputs() -> Vec<KeyDef> {
    let mut v: Vec<KeyDef> = [
        ct::ORIG_IP_SADDR.pos(),
        ct::ORIG_IP_DADDR.pos(),
        ct::ORIG_IP_PROTOCOL.pos(),
        ct::ORIG_L4_SPORT.pos(),
        ct::ORIG_L4_DPORT.pos(),
        ct::ORIG_RAW_PKTLEN.pos(),
        ct::ORIG_RAW_PKTCOUNT.pos(),
        ct::REPLY_RAW_PKTLEN.pos(),
        ct::REPLY_RAW_PKTCOUNT.pos(),
        ct::ICMP_CODE.pos(),
        ct::ICMP_TYPE.pos(),
        ct::FLOW_START_SEC.pos(),
        ct::FLOW_START_USEC.pos(),
        ct::FLOW_END_SEC.pos(),
        ct::FLOW_END_USEC.pos(),
        ct::OOB_FAMILY.pos(),
        ct::OOB_PROTOCOL.pos(),
        ct::ICMPV6_TYPE.pos(),
        ct::ICMPV6_CODE.pos(),
    ]
    .iter()
    .map(|&p| NFCT_KEYS[p].clone())
    .collect();
    v.extend(EXTRA.iter().cloned());
    v
}

/// State shared by the two halves.
struct Meter {
    id: String,
    cfg: FlowConfig,
    table: Mutex<FlowTable>,
    bell: Doorbell,
    /// Latest packet time seen (the expiry clock with `clock=packet`).
    latest: AtomicU64,
}

fn system_now() -> Micros {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as Micros)
}

/// The expiry clock per packet: CLOCK_REALTIME_COARSE (a few ms resolution, a
/// fraction of the cost of a precise read; timeouts are seconds).
#[allow(unsafe_code)]
fn coarse_now() -> Micros {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec we own.
    if unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) } != 0 {
        return system_now();
    }
    ts.tv_sec as Micros * 1_000_000 + ts.tv_nsec as Micros / 1000
}

impl Meter {
    fn lock(&self) -> std::sync::MutexGuard<'_, FlowTable> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The expiry clock now.
    fn now(&self) -> Micros {
        match self.cfg.clock {
            Clock::System => system_now(),
            Clock::Packet => self.latest.load(Ordering::Relaxed),
        }
    }
}

fn put_addr(dst: &mut [u8; 16], a: IpAddr) {
    match a {
        IpAddr::V4(v) => dst[..4].copy_from_slice(&v.octets()),
        IpAddr::V6(v) => *dst = v.octets(),
    }
}

/// Reads one packet's keys; `None` if it is not IP.
fn packet_info(ev: &Event<'_>, key: &KeyFields) -> Option<PacketInfo> {
    let (s, d) = (ev.addr(i::SADDR)?, ev.addr(i::DADDR)?);
    let proto = ev.u8(i::PROTO)?;
    let v6 = s.is_ipv6();
    let mut p = PacketInfo::default();
    let k = &mut p.key;
    k.family = ev
        .u8(i::FAMILY)
        .unwrap_or(if v6 { libc::AF_INET6 } else { libc::AF_INET } as u8);
    k.proto = proto;
    put_addr(&mut k.saddr, s);
    put_addr(&mut k.daddr, d);
    let ports = match proto {
        6 => Some(i::TCP_SPORT),
        17 | 136 => Some(i::UDP_SPORT),
        132 => Some(i::SCTP_SPORT),
        _ => None,
    };
    if let Some(b) = ports {
        k.sport = ev.u16(b).unwrap_or(0);
        k.dport = ev.u16(b + 1).unwrap_or(0);
    } else if proto == 1 {
        k.sport = ev.u8(i::ICMP_TYPE).unwrap_or(0) as u16;
        k.dport = ev.u8(i::ICMP_CODE).unwrap_or(0) as u16;
    } else if proto == 58 {
        k.sport = ev.u8(i::ICMP6_TYPE).unwrap_or(0) as u16;
        k.dport = ev.u8(i::ICMP6_CODE).unwrap_or(0) as u16;
    }
    if key.ifindex_in {
        k.ifindex_in = ev.u32(i::IFIN).unwrap_or(0);
    }
    if key.ifindex_out {
        k.ifindex_out = ev.u32(i::IFOUT).unwrap_or(0);
    }
    if key.mark {
        k.mark = ev.u32(i::MARK).unwrap_or(0);
    }
    if key.tos || key.dscp {
        let tos = ev.u8(if v6 { i::TCLASS } else { i::TOS }).unwrap_or(0);
        k.tos = if key.dscp { tos & 0xfc } else { tos };
    }
    if key.vlan {
        k.vlan = ev.u16(i::VLAN).unwrap_or(0);
    }
    // Layer-3 bytes from the IP header, so a truncated capture still counts the
    // packet's real size.
    p.bytes = if v6 {
        ev.u16(i::PAYLOADLEN6).map(|l| l as u64 + 40)
    } else {
        ev.u16(i::TOTLEN).map(u64::from)
    }
    .or_else(|| ev.u32(i::PKTLEN).map(u64::from))
    .unwrap_or(0);
    if proto == 6 {
        for bit in 0..6 {
            if ev.bool(i::FLAGS + bit) == Some(true) {
                p.tcp_flags |= 1 << bit;
            }
        }
    }
    p.ts = match ev.u32(i::TIME_SEC) {
        Some(s) => {
            s as Micros * 1_000_000 + ev.u32(i::TIME_USEC).unwrap_or(0).min(999_999) as Micros
        }
        None => system_now(),
    };
    Some(p)
}

/// Writes one record with NFCT's keys (see [`outputs`]).
pub(crate) fn fill(ev: &mut Event<'_>, r: &FlowRecord, rate: u64, key: &KeyFields) {
    let k = &r.key;
    let (s, d) = if k.family == libc::AF_INET6 as u8 {
        (
            IpAddr::V6(Ipv6Addr::from(k.saddr)),
            IpAddr::V6(Ipv6Addr::from(k.daddr)),
        )
    } else {
        let v4 = |a: &[u8; 16]| IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3]));
        (v4(&k.saddr), v4(&k.daddr))
    };
    ev.set_addr(o::SADDR, s);
    ev.set_addr(o::DADDR, d);
    ev.set_u8(o::PROTO, k.proto);
    match k.proto {
        6 | 17 | 132 | 136 => {
            ev.set_u16(o::SPORT, k.sport);
            ev.set_u16(o::DPORT, k.dport);
        }
        1 => {
            ev.set_u8(o::ICMP_TYPE, k.sport as u8);
            ev.set_u8(o::ICMP_CODE, k.dport as u8);
        }
        58 => {
            ev.set_u8(o::ICMP6_TYPE, k.sport as u8);
            ev.set_u8(o::ICMP6_CODE, k.dport as u8);
        }
        _ => {}
    }
    ev.set_u64(o::BYTES, r.bytes.saturating_mul(rate));
    ev.set_u64(o::PACKETS, r.packets.saturating_mul(rate));
    ev.set_u32(o::START_SEC, (r.start / 1_000_000) as u32);
    ev.set_u32(o::START_USEC, (r.start % 1_000_000) as u32);
    ev.set_u32(o::END_SEC, (r.end / 1_000_000) as u32);
    ev.set_u32(o::END_USEC, (r.end % 1_000_000) as u32);
    ev.set_u8(o::FAMILY, k.family);
    ev.set_u16(o::OOB_PROTOCOL, 0);
    if k.proto == 6 {
        ev.set_u8(o::TCP_FLAGS, r.tcp_flags);
    }
    ev.set_u8(o::END_REASON, r.reason as u8);
    if key.ifindex_in {
        ev.set_u32(o::IFIN, k.ifindex_in);
    }
    if key.ifindex_out {
        ev.set_u32(o::IFOUT, k.ifindex_out);
    }
    if key.mark {
        ev.set_u32(o::MARK, k.mark);
    }
    if key.tos || key.dscp {
        ev.set_u8(o::TOS, k.tos);
    }
    if key.vlan {
        ev.set_u16(o::VLAN, k.vlan);
    }
}

/// The sink half: counts packets.
pub struct MeterStage {
    m: Arc<Meter>,
}

impl Stage for MeterStage {
    fn interp(&self, ev: &mut Event<'_>) -> Ret {
        let Some(p) = packet_info(ev, &self.m.cfg.key) else {
            return Ret::Stop;
        };
        let now = match self.m.cfg.clock {
            Clock::System => coarse_now(),
            Clock::Packet => self.m.latest.fetch_max(p.ts, Ordering::Relaxed).max(p.ts),
        };
        let (h, ready) = {
            let mut t = self.m.lock();
            let h = t.handle_packet(&p, now);
            // Something to emit now, or a flow past its deadline: wake the source
            // half rather than wait for its timer (with `clock=packet` a fast replay
            // ends long before the timer's first tick).
            (
                h,
                t.ready_len() > 0 || t.poll_timeout().is_some_and(|d| d <= now),
            )
        };
        if ready {
            self.m.bell.ring();
        }
        if h == Handled::Dropped {
            Ret::Err
        } else {
            Ret::Ok
        }
    }

    fn flush(&self) {
        self.m.lock().flush_all();
    }
}

/// Most records emitted per run before the loop serves others.
const PER_RUN: usize = 4096;

/// The source half: emits records.
pub struct MeterSource {
    m: Arc<Meter>,
    /// A record taken from the table but not emitted (pool empty).
    pending: Option<FlowRecord>,
    emitted_by_reason: [u64; 5],
}

impl MeterSource {
    fn drain(&mut self, emit: &mut dyn Emit) -> Flow {
        let now = self.m.now();
        let (rate, key) = (self.m.cfg.sampling_rate, self.m.cfg.key);
        for _ in 0..PER_RUN {
            let rec = match self.pending.take() {
                Some(r) => r,
                None => match self.m.lock().poll_expired(now) {
                    Some(r) => r,
                    None => return Flow::Idle,
                },
            };
            if emit
                .emit(&mut |ev| {
                    fill(ev, &rec, rate, &key);
                    true
                })
                .is_err()
            {
                self.pending = Some(rec);
                return Flow::Idle;
            }
            self.emitted_by_reason[rec.reason as usize - 1] += 1;
        }
        Flow::Again
    }
}

impl Source for MeterSource {
    fn start(&mut self, setup: &mut dyn SourceSetup) -> Result<(), PluginError> {
        setup.add_fd(self.m.bell.fd());
        let every = Duration::from_millis(self.m.cfg.expiry_interval_ms);
        setup.add_timer(every, Some(every));
        let n = self.m.cfg.max_flows;
        log::info!(
            "FLOW '{}': table for {n} flows, {BYTES_PER_FLOW} bytes each ({:.1} MiB, allocated now)",
            self.m.id,
            (n * BYTES_PER_FLOW) as f64 / (1 << 20) as f64
        );
        Ok(())
    }

    fn run(&mut self, _wake: Wake, emit: &mut dyn Emit) -> Result<Flow, PluginError> {
        // Answer on every wake, not only the bell's: after a pause (pool empty) the
        // engine resumes us with `Wake::Resume`, and an unanswered bell would stay
        // silent.
        self.m.bell.answer();
        Ok(self.drain(emit))
    }

    fn signal(&mut self, sig: Signal, emit: &mut dyn Emit) {
        if sig == Signal::Usr2 {
            log::info!("FLOW '{}': SIGUSR2, exporting every flow", self.m.id);
            self.m.lock().flush_all();
            // What does not fit now goes out on the next runs.
            self.m.bell.ring();
            let _ = self.drain(emit);
        }
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        let t = self.m.lock();
        let c = t.counters();
        let e = self.emitted_by_reason;
        vec![
            ("flows", t.len() as u64),
            ("packets", c.packets),
            ("flows_created", c.flows_created),
            ("ended_idle", e[0]),
            ("ended_active", e[1]),
            ("ended_tcp_end", e[2]),
            ("ended_forced", e[3]),
            ("evicted", c.ended[4]),
            ("packets_dropped", c.packets_dropped),
            ("bytes_per_flow", BYTES_PER_FLOW as u64),
        ]
    }
}

fn build(ctx: &ulogd_core::BuildContext<'_>) -> Result<Built, PluginError> {
    let cfg = FlowConfig::from_options(ctx.options)?;
    let m = Arc::new(Meter {
        id: ctx.id.to_string(),
        table: Mutex::new(FlowTable::new(cfg.max_flows, cfg.timeouts)),
        bell: Doorbell::new()
            .map_err(|e| PluginError::new(format!("cannot create an eventfd: {e}")))?,
        latest: AtomicU64::new(0),
        cfg,
    });
    Ok(Built::Hop {
        stage: Arc::new(MeterStage { m: m.clone() }),
        inputs: Inputs::Keys(INPUTS.to_vec()),
        source: Box::new(MeterSource {
            m,
            pending: None,
            emitted_by_reason: [0; 5],
        }),
        outputs: outputs(),
    })
}

const SUMMARY: &str = "flow meter: ends packet stacks (after BASE), heads flow stacks with NFCT's keys plus flowEndReason";

fn spec_of(kind: ulogd_core::Kind) -> PluginSpec {
    PluginSpec {
        name: "FLOW",
        aliases: &[],
        kind,
        summary: SUMMARY,
        options: FlowConfig::options(),
        inputs: INPUTS.to_vec(),
        outputs: outputs(),
        wildcard: false,
        build: Box::new(build),
    }
}

/// Registers FLOW as a sink (where packet stacks end) and as a source (where flow
/// stacks begin); both build the same [`Built::Hop`].
pub fn register(reg: &mut ulogd_core::Registry) {
    reg.add(spec_of(ulogd_core::Kind::Sink));
    reg.add_variant(spec_of(ulogd_core::Kind::Source));
}
