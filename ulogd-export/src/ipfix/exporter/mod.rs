//! The IPFIX and NFLOW9 outputs.
//!
//! A wildcard sink in four parts:
//! - [`config`]: the options, read and checked once;
//! - the Stage (here): the first event of each stack builds a [`Plan`] (which
//!   upstream key fills which element); every event then lists its set fields into
//!   a stack array ([`Fields`]) and hands them to the session;
//! - [`session`]: [`IpfixSession`], the exporting process without I/O or clock:
//!   message building, templates and their refresh, sequence numbers, the flush
//!   timer, the TCP queue and the reconnect backoff, driven with `now` from here;
//! - [`link`]: the socket edge, which only moves the bytes the session gives it.
//!
//! The Stage reads the clock (`Instant::now()` and the wall clock for the export
//! time) and passes it in; `tick()` runs the session's timers and reconnects when
//! the session says so, outside the lock.
//!
//! Feedback: the exporter's own packets are flows too. With an NFCT source, keep
//! them out with the source's filters (`accept_dst_filter` / `accept_proto_filter`)
//! or an nft rule `ct mark set` + NFCT's mark filter, or mark the collector's port
//! `notrack` (`nft add rule inet raw output udp dport 4739 notrack`): see the README.

mod config;
mod link;
pub(crate) mod session;

use std::io;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ulogd_core::{Built, Event, Inputs, Kind, PluginSpec, Ret, Signal, Stage};

use super::template::{Dir, Fields, Plan};
use super::wire::Protocol;
use config::{config, options, Config};
use link::Link;
pub(crate) use session::IpfixSession;
use session::Transport;

/// At shutdown, how long a TCP collector gets to take what is queued.
const DRAIN_AT_STOP: Duration = Duration::from_secs(2);

/// What the lock protects.
struct State {
    session: IpfixSession,
    /// Held exactly while the session is connected.
    link: Option<Link>,
    /// TCP: bytes of the session's front message the connection already took.
    partial: usize,
}

/// The sink.
pub(crate) struct Exporter {
    cfg: Config,
    state: Mutex<State>,
}

/// Seconds since the Unix epoch (the header's export time).
fn unix_secs() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs() as u32
}

impl State {
    fn is_tcp(&self) -> bool {
        self.session.config().transport == Transport::Tcp
    }

    /// Sends what the session lets go, in order, while the link takes it (TCP: as
    /// much as the socket buffer takes; a message cut there goes on from the tick).
    /// Returns whether anything was written.
    fn drain(&mut self, cfg: &Config, now: Instant) -> bool {
        let p = cfg.shape.protocol;
        let secs = unix_secs();
        let mut progress = false;
        loop {
            let msg = if self.partial > 0 {
                self.session.front()
            } else {
                self.session.poll_transmit(now, secs)
            };
            let Some(msg) = msg else {
                return progress;
            };
            let Some(link) = self.link.as_mut() else {
                // Cannot happen (link and session agree); recover anyway.
                self.partial = 0;
                self.session.handle_link_lost(now);
                return progress;
            };
            let len = msg.len();
            match link.write(&msg[self.partial..]) {
                Ok(0) if self.is_tcp() => return progress,
                Ok(n) if self.is_tcp() => {
                    progress = true;
                    self.partial += n;
                    if self.partial < len {
                        return progress;
                    }
                    self.partial = 0;
                    self.session.handle_sent();
                }
                Ok(_) => {
                    progress = true;
                    self.session.handle_sent();
                }
                Err(e) if self.is_tcp() => {
                    // A message cut by the failure is sent whole on the next
                    // connection (a new transport session).
                    self.partial = 0;
                    self.link = None;
                    self.session.handle_send_failed(now);
                    log::warn!(
                        "{}: {}: {e}; {} messages queued, reconnecting",
                        p.name(),
                        cfg.dest.describe(),
                        self.session.queued()
                    );
                    return progress;
                }
                Err(e) => {
                    // UDP: ECONNREFUSED from an earlier ICMP error, or a full buffer.
                    log::debug!("{}: {}: {e}", p.name(), cfg.dest.describe());
                    self.session.handle_send_failed(now);
                }
            }
        }
    }

    /// The link is gone (SIGHUP, peer closed): a message cut at the old
    /// connection is sent whole on the next.
    fn lose_link(&mut self, now: Instant) {
        self.link = None;
        self.partial = 0;
        self.session.handle_link_lost(now);
    }

    /// Takes the result of a connection attempt.
    fn install(&mut self, cfg: &Config, r: io::Result<Link>, now: Instant) {
        let p = cfg.shape.protocol;
        match r {
            Ok(l) => {
                let tcp = matches!(l, Link::Tcp(_));
                self.link = Some(l);
                self.session.handle_connected(now);
                if tcp {
                    log::info!("{}: connected to {}", p.name(), cfg.dest.describe());
                }
            }
            Err(e) => {
                let retry = self.session.handle_connect_failed(now);
                log::warn!(
                    "{}: can't connect to {}: {e}; retrying in {retry:?}",
                    p.name(),
                    cfg.dest.describe(),
                );
            }
        }
    }
}

impl Exporter {
    pub(crate) fn new(cfg: Config) -> Exporter {
        let state = Mutex::new(State {
            session: IpfixSession::new(cfg.session(), Instant::now()),
            link: None,
            partial: 0,
        });
        Exporter { cfg, state }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Stage for Exporter {
    fn bind(
        &self,
        keys: &ulogd_core::StackKeys<'_>,
    ) -> Result<ulogd_core::BindState, ulogd_core::PluginError> {
        Ok(ulogd_core::BindState::new(Plan::new(keys.wildcard)))
    }

    fn start(&self) -> Result<(), ulogd_core::PluginError> {
        // The first attempt at once (TCP: its failure only arms the backoff).
        let r = Link::connect(&self.cfg.dest);
        let now = Instant::now();
        let mut g = self.lock();
        g.install(&self.cfg, r, now);
        g.drain(&self.cfg, now);
        Ok(())
    }

    fn interp(&self, ev: &mut Event<'_>) -> Ret {
        let cfg = &self.cfg;
        let now = Instant::now();
        let Some(plan) = ev.bind_state::<Plan>() else {
            // Only an engine that skipped `bind` gets here.
            debug_assert!(false, "IPFIX: no plan bound for this stack");
            return Ret::Err;
        };
        let mut g = self.lock();
        let ct_event = plan.ct_event(ev);
        let natted = plan.has_reply && plan.natted(ev);
        // RFC 8158 natEvent: 4 NAT44 session create, 5 NAT44 session delete; or the
        // historic 1 / 2.
        let (create, delete) = if cfg.shape.nat_historic {
            (1u8, 2u8)
        } else {
            (4, 5)
        };
        let nat_event =
            |c: bool| (cfg.shape.nat_events && natted).then_some(if c { create } else { delete });
        let mut f = Fields::new();
        match ct_event {
            // NEW: only a NAT event (the flow itself is exported when it ends).
            Some(1) => {
                if let Some(e) = nat_event(true) {
                    plan.collect(ev, &cfg.shape, Dir::Orig, Some(e), &mut f);
                    g.session.handle_record(&f, now);
                }
            }
            _ => {
                let ne = if ct_event == Some(4) {
                    nat_event(false)
                } else {
                    None
                };
                plan.collect(ev, &cfg.shape, Dir::Orig, ne, &mut f);
                if f.n > 0 {
                    g.session.handle_record(&f, now);
                }
                if plan.has_reply && !cfg.shape.biflow {
                    plan.collect(ev, &cfg.shape, Dir::Reply, None, &mut f);
                    if f.n > 0 {
                        g.session.handle_record(&f, now);
                    }
                }
            }
        }
        if g.session.has_transmit() {
            g.drain(cfg, now);
        }
        Ret::Ok
    }

    fn signal(&self, sig: Signal) {
        if sig == Signal::Hup && matches!(self.cfg.session().transport, Transport::Tcp) {
            self.lock().lose_link(Instant::now());
        }
    }

    fn tick(&self) {
        let cfg = &self.cfg;
        let now = Instant::now();
        let ep = {
            let mut g = self.lock();
            if g.session.poll_timeout().is_some_and(|t| t <= now) {
                g.session.handle_timeout(now);
            }
            g.drain(cfg, now);
            if g.link.as_ref().is_some_and(Link::peer_closed) {
                log::warn!(
                    "{}: {} closed the connection",
                    cfg.shape.protocol.name(),
                    cfg.dest.describe()
                );
                g.lose_link(now);
            }
            g.session.poll_connect(now).then(|| cfg.dest.clone())
        };
        // Connect outside the lock: a slow connect never stalls the workers.
        if let Some(ep) = ep {
            let r = Link::connect(&ep);
            let now = Instant::now();
            let mut g = self.lock();
            if g.link.is_none() {
                g.install(cfg, r, now);
                g.drain(cfg, now);
            }
        }
    }

    fn tick_interval(&self) -> Option<Duration> {
        Some((self.cfg.flush / 2).max(Duration::from_millis(10)))
    }

    fn flush(&self) {
        let cfg = &self.cfg;
        let now = Instant::now();
        let mut g = self.lock();
        g.session.finish();
        if g.link.is_none() && g.is_tcp() && g.session.has_transmit() {
            let r = Link::connect(&cfg.dest);
            g.install(cfg, r, now);
        }
        g.drain(cfg, now);
        // TCP: a collector that reads slowly gets a little time to take the rest.
        let end = Instant::now() + DRAIN_AT_STOP;
        while g.session.has_transmit() && g.link.is_some() && Instant::now() < end {
            if !g.drain(cfg, Instant::now()) {
                if let Some(fd) = g.link.as_ref().map(Link::raw_fd) {
                    crate::transport::wait_writable(fd, 50);
                }
            }
        }
        if g.session.has_transmit() {
            let n = g.session.abandon_queue();
            log::warn!(
                "{}: {} records still queued for {} at shutdown are lost",
                cfg.shape.protocol.name(),
                n,
                cfg.dest.describe()
            );
        }
    }

    fn stop(&self) {
        let mut g = self.lock();
        g.link = None;
        g.partial = 0;
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        let g = self.lock();
        let c = g.session.counters();
        vec![
            ("messages", c.messages),
            ("records", c.records),
            ("lost", c.lost),
            ("queue_drops", c.queue_drops),
            ("queued", g.session.queued() as u64),
            ("templates_sent", c.templates_sent),
            ("templates", g.session.template_count() as u64),
            ("connects", c.connects),
        ]
    }
}

fn spec_for(p: Protocol, name: &'static str, summary: &'static str) -> PluginSpec {
    PluginSpec {
        name,
        aliases: &[],
        kind: Kind::Sink,
        summary,
        options: options(p),
        inputs: vec![],
        outputs: vec![],
        wildcard: true,
        build: Box::new(move |ctx| {
            let cfg = config(p, ctx.options)?;
            Ok(Built::Stage {
                stage: std::sync::Arc::new(Exporter::new(cfg)),
                inputs: Inputs::All,
                outputs: vec![],
            })
        }),
    }
}

/// The IPFIX output (RFC 7011).
pub(crate) fn ipfix_spec() -> PluginSpec {
    spec_for(
        Protocol::Ipfix,
        "IPFIX",
        "IPFIX export over UDP/TCP; templates from the stack's keys, IPv4/IPv6, biflows, NAT events",
    )
}

/// The NFLOW9 output (RFC 3954).
pub(crate) fn nflow9_spec() -> PluginSpec {
    spec_for(
        Protocol::V9,
        "NFLOW9",
        "NetFlow v9 export over UDP/TCP; templates from the stack's keys, IPv4/IPv6, NAT events",
    )
}
