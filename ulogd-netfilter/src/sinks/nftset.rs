//! NFTSET: adds an address from each event to a named nftables set — dynamic blocking
//! straight from a log stack, the job people script fail2ban for (the "nft output" of
//! the Could? fork's TODO list). A rule on the set does the blocking:
//!
//! ```text
//! nft add set inet filter blocked '{ type ipv4_addr; flags timeout; timeout 10m; }'
//! nft add rule inet filter input ip saddr @blocked drop
//! stack=log1:NFLOG,base1:BASE,block1:NFTSET
//! [block1]
//! table="filter"
//! set="blocked"
//! allowlist="10.0.0.0/8,192.0.2.1/32"
//! ```
//!
//! Elements go to the kernel in nf_tables transactions (`NFT_MSG_NEWSETELEM` between
//! batch begin and end) over one netlink socket, at most `batch` per transaction,
//! flushed every 100 ms or when `batch` are waiting. An address already sent is not
//! sent again within its timeout (or `refresh` seconds when the set's default timeout
//! is used), addresses in `allowlist` are never added, and at most `max_rate`
//! addresses per second are sent (the rest counted). The kernel's refusals — no such
//! set, wrong address family, set full — are counted and logged at most once per
//! 10 s with their count; the stack goes on either way.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ulogd_core::{
    Built, Event, Inputs, KeyDef, KeyType, OptionDef, Options, PluginError, PluginSpec, Ret, Stage,
};

use crate::nl::{errno_text, NlSocket, Proto, Recv};
use crate::sources::Cidr;
use crate::wire::nftables::{emit_add_elements, emit_get_set, NewElem, NftRepr};
use crate::wire::nlmsg::NLMSG_ERROR;
use crate::wire::{NlmsgErrView, NlmsgIter};

const TICK: Duration = Duration::from_millis(100);
const LOG_EVERY: Duration = Duration::from_secs(10);

static INPUTS: &[KeyDef] = &[KeyDef::new("ip.saddr", KeyType::IpAddr)];

#[derive(Clone, Debug)]
struct Config {
    family: u8,
    family_name: String,
    table: String,
    set: String,
    timeout_ms: Option<u64>,
    refresh: Duration,
    allow: Vec<Cidr>,
    max_rate: u32,
    batch: usize,
    max_tracked: usize,
    netns: String,
}

fn options() -> Vec<OptionDef> {
    vec![
        OptionDef::string("key", "ip.saddr", "the address key added to the set"),
        OptionDef::string(
            "family",
            "inet",
            "family of the table: inet, ip, ip6, bridge, netdev",
        ),
        OptionDef::string("table", "", "the table holding the set").required(),
        OptionDef::string("set", "", "the set (type ipv4_addr or ipv6_addr)").required(),
        OptionDef::int(
            "timeout",
            "0",
            "seconds an element stays (0: the set's own timeout); needs `flags timeout`",
        ),
        OptionDef::int(
            "refresh",
            "60",
            "with timeout=0: seconds before an address already sent is sent again",
        ),
        OptionDef::string(
            "allowlist",
            "",
            "comma-separated prefixes never added (e.g. 10.0.0.0/8,2001:db8::/32)",
        ),
        OptionDef::int(
            "max_rate",
            "100",
            "addresses sent per second at most (0: no limit)",
        ),
        OptionDef::int("batch", "64", "addresses per nf_tables transaction at most"),
        OptionDef::int(
            "max_tracked",
            "65536",
            "addresses remembered for de-duplication (about 64 bytes each)",
        ),
        OptionDef::string(
            "network_namespace_path",
            "",
            "the set lives in this network namespace (e.g. /var/run/netns/NAME)",
        ),
    ]
}

fn family_number(name: &str) -> Option<u8> {
    Some(match name {
        "inet" => 1,
        "ip" => 2,
        "arp" => 3,
        "netdev" => 5,
        "bridge" => 7,
        "ip6" => 10,
        _ => return None,
    })
}

impl Config {
    fn from_options(o: &Options) -> Result<Config, PluginError> {
        let fam = o.str("family");
        let family = family_number(fam).ok_or_else(|| {
            PluginError::from(o.error(
                "family",
                format!("\"{fam}\" is not an nftables family (inet, ip, ip6, bridge, netdev)"),
            ))
        })?;
        let mut allow = Vec::new();
        for p in o
            .str("allowlist")
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let c = Cidr::parse(p).ok_or_else(|| {
                PluginError::from(o.error(
                    "allowlist",
                    format!("\"{p}\" is not an address or prefix (like 10.0.0.0/8)"),
                ))
            })?;
            allow.push(c);
        }
        let int = |k: &str, lo: i64, hi: i64| -> Result<i64, PluginError> {
            let v = o.int(k);
            if (lo..=hi).contains(&v) {
                Ok(v)
            } else {
                Err(PluginError::from(
                    o.error(k, format!("must be between {lo} and {hi}")),
                ))
            }
        };
        let timeout = int("timeout", 0, 365 * 86400)?;
        Ok(Config {
            family,
            family_name: fam.to_string(),
            table: o.str("table").to_string(),
            set: o.str("set").to_string(),
            timeout_ms: (timeout > 0).then(|| timeout as u64 * 1000),
            refresh: Duration::from_secs(int("refresh", 1, 365 * 86400)? as u64),
            allow,
            max_rate: int("max_rate", 0, 1_000_000)? as u32,
            batch: int("batch", 1, 1024)? as usize,
            max_tracked: int("max_tracked", 16, 16 * 1024 * 1024)? as usize,
            netns: o.str("network_namespace_path").to_string(),
        })
    }

    fn window(&self) -> Duration {
        self.timeout_ms.map_or(self.refresh, Duration::from_millis)
    }
}

/// Counters and rate-limited error reporting.
#[derive(Default)]
struct Counts {
    added: u64,
    duplicates: u64,
    allowlisted: u64,
    rate_limited: u64,
    wrong_family: u64,
    errors: u64,
    forgotten: u64,
    err_last: Option<Instant>,
    err_since: u64,
}

struct Inner {
    sock: Option<NlSocket>,
    /// When each address was last sent.
    seen: HashMap<IpAddr, Instant>,
    pending: Vec<IpAddr>,
    tokens: f64,
    refilled: Instant,
    seq: u32,
    /// The set's key length (4 or 16) when the kernel told us at start.
    key_len: Option<u32>,
    rx: Vec<u8>,
    req: Vec<u8>,
    n: Counts,
}

struct NftSet {
    cfg: Config,
    inner: Mutex<Inner>,
}

impl Inner {
    fn refused(&mut self, cfg: &Config, err: i32, now: Instant) {
        self.n.errors += 1;
        self.n.err_since += 1;
        if self
            .n
            .err_last
            .is_some_and(|t| now.duration_since(t) < LOG_EVERY)
        {
            return;
        }
        let hint = match err {
            libc::ENOENT => format!(
                " (no set {} in table {} {}?)",
                cfg.set, cfg.family_name, cfg.table
            ),
            libc::EINVAL | libc::ERANGE => " (address family or key type of the set?)".into(),
            libc::ENFILE | libc::ENOSPC => " (the set is full: raise its size)".into(),
            libc::EOPNOTSUPP => " (a timeout needs `flags timeout` on the set)".into(),
            _ => String::new(),
        };
        log::warn!(
            "NFTSET: the kernel refused elements for set {} {} {}: {}{hint} ({} refused since the last message)",
            cfg.family_name,
            cfg.table,
            cfg.set,
            errno_text(err),
            self.n.err_since
        );
        self.n.err_last = Some(now);
        self.n.err_since = 0;
    }

    /// Reads the kernel's answers to earlier transactions (errors only: ACKs of
    /// success are not requested for batch messages).
    fn read_answers(&mut self, cfg: &Config, now: Instant) {
        loop {
            let Some(sock) = self.sock.as_ref() else {
                return;
            };
            let n = match sock.recv(&mut self.rx) {
                Ok(Recv::Data(n)) => n,
                Ok(Recv::Overrun) => continue,
                Ok(Recv::Again) | Err(_) => return,
            };
            let mut errs = Vec::new();
            for m in NlmsgIter::new(&self.rx[..n]) {
                let Ok(m) = m else { break };
                if m.msg_type() == NLMSG_ERROR {
                    let e = NlmsgErrView::new_checked(m.payload())
                        .map_or(libc::EPROTO, |e| e.error().saturating_neg());
                    if e != 0 {
                        errs.push(e);
                    }
                }
            }
            for e in errs {
                self.refused(cfg, e, now);
            }
        }
    }

    fn flush(&mut self, cfg: &Config, now: Instant) {
        self.read_answers(cfg, now);
        if self.pending.is_empty() {
            return;
        }
        // Taken out while sending, so refusals can be counted on `self`.
        let Some(sock) = self.sock.take() else { return };
        let keys: Vec<Vec<u8>> = self
            .pending
            .drain(..)
            .map(|a| match a {
                IpAddr::V4(v) => v.octets().to_vec(),
                IpAddr::V6(v) => v.octets().to_vec(),
            })
            .collect();
        for chunk in keys.chunks(cfg.batch) {
            let elems: Vec<NewElem<'_>> = chunk
                .iter()
                .map(|k| NewElem {
                    key: k,
                    timeout_ms: cfg.timeout_ms,
                })
                .collect();
            self.req.clear();
            let seq = self.seq;
            self.seq = self.seq.wrapping_add(3).max(1);
            if emit_add_elements(
                cfg.family,
                cfg.table.as_bytes(),
                cfg.set.as_bytes(),
                &elems,
                seq,
                &mut self.req,
            )
            .is_err()
            {
                continue;
            }
            match sock.send(&self.req) {
                Ok(()) => self.n.added += chunk.len() as u64,
                Err(e) => {
                    let errno = e.raw_os_error().unwrap_or(libc::EIO);
                    self.refused(cfg, errno, now);
                }
            }
        }
        self.sock = Some(sock);
        self.read_answers(cfg, now);
    }

    fn admit(&mut self, cfg: &Config, a: IpAddr, now: Instant) -> bool {
        if cfg.allow.iter().any(|c| c.contains(a)) {
            self.n.allowlisted += 1;
            return false;
        }
        let len = if a.is_ipv4() { 4 } else { 16 };
        if self.key_len.is_some_and(|k| k != len) {
            self.n.wrong_family += 1;
            return false;
        }
        if let Some(t) = self.seen.get(&a) {
            if now.duration_since(*t) < cfg.window() {
                self.n.duplicates += 1;
                return false;
            }
        }
        if cfg.max_rate > 0 {
            let dt = now.duration_since(self.refilled).as_secs_f64();
            self.refilled = now;
            let cap = f64::from(cfg.max_rate);
            self.tokens = (self.tokens + dt * cap).min(cap);
            if self.tokens < 1.0 {
                self.n.rate_limited += 1;
                return false;
            }
            self.tokens -= 1.0;
        }
        if self.seen.len() >= cfg.max_tracked {
            let w = cfg.window();
            self.seen.retain(|_, t| now.duration_since(*t) < w);
            if self.seen.len() >= cfg.max_tracked {
                self.n.forgotten += self.seen.len() as u64;
                self.seen.clear();
            }
        }
        self.seen.insert(a, now);
        true
    }
}

impl Stage for NftSet {
    fn start(&self) -> Result<(), PluginError> {
        let sock = NlSocket::open(
            Proto::Netfilter,
            &[],
            &self.cfg.netns,
            "NFTSET netlink socket",
        )?;
        // Learn the set's key length, so addresses of the other family are counted
        // here instead of refused by the kernel one by one.
        let mut req = Vec::new();
        emit_get_set(
            self.cfg.family,
            self.cfg.table.as_bytes(),
            self.cfg.set.as_bytes(),
            1,
            &mut req,
        )
        .map_err(|e| PluginError::new(format!("NFTSET: {e}")))?;
        sock.send(&req)?;
        let mut buf = vec![0u8; 16 * 1024];
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut key_len = None;
        let mut answered = false;
        while !answered && Instant::now() < deadline {
            if !sock.wait_readable(Duration::from_millis(100)) {
                continue;
            }
            let n = match sock.recv(&mut buf)? {
                Recv::Data(n) => n,
                _ => continue,
            };
            for m in NlmsgIter::new(&buf[..n]) {
                let Ok(m) = m else { break };
                if m.seq() != 1 {
                    continue;
                }
                if m.msg_type() == NLMSG_ERROR {
                    answered = true;
                    let e = NlmsgErrView::new_checked(m.payload())
                        .map_or(libc::EPROTO, |e| e.error().saturating_neg());
                    if e != 0 {
                        log::warn!(
                            "NFTSET: set {} {} {} not found ({}): addresses are counted as \
                             errors until it exists",
                            self.cfg.family_name,
                            self.cfg.table,
                            self.cfg.set,
                            errno_text(e)
                        );
                    }
                } else if let Ok(r) = NftRepr::parse_nlmsg(&m) {
                    key_len = r.key_len;
                }
            }
        }
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.key_len = key_len.filter(|&k| k == 4 || k == 16);
        if let Some(k) = key_len.filter(|&k| k != 4 && k != 16) {
            log::warn!(
                "NFTSET: set {} has {k}-byte keys; it must be of type ipv4_addr or ipv6_addr",
                self.cfg.set
            );
        }
        g.sock = Some(sock);
        log::info!(
            "NFTSET: adding addresses to set {} {} {}{}",
            self.cfg.family_name,
            self.cfg.table,
            self.cfg.set,
            match self.cfg.timeout_ms {
                Some(t) => format!(" with a timeout of {} s", t / 1000),
                None => String::new(),
            }
        );
        Ok(())
    }

    fn interp(&self, ev: &mut Event<'_>) -> Ret {
        let Some(a) = ev.addr(0) else {
            return Ret::Ok;
        };
        let now = Instant::now();
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if g.admit(&self.cfg, a, now) {
            g.pending.push(a);
            if g.pending.len() >= self.cfg.batch {
                g.flush(&self.cfg, now);
            }
        }
        Ret::Ok
    }

    fn tick(&self) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.flush(&self.cfg, Instant::now());
    }

    fn tick_interval(&self) -> Option<Duration> {
        Some(TICK)
    }

    fn flush(&self) {
        self.tick();
    }

    fn stop(&self) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.flush(&self.cfg, Instant::now());
        g.sock = None;
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        vec![
            ("added", g.n.added),
            ("duplicates", g.n.duplicates),
            ("allowlisted", g.n.allowlisted),
            ("rate_limited", g.n.rate_limited),
            ("wrong_family", g.n.wrong_family),
            ("errors", g.n.errors),
            ("forgotten", g.n.forgotten),
        ]
    }
}

/// The NFTSET plugin.
pub fn spec() -> PluginSpec {
    PluginSpec {
        name: "NFTSET",
        aliases: &[],
        kind: ulogd_core::Kind::Sink,
        summary: "adds an address of each event to an nftables set (dynamic blocking)",
        options: options(),
        inputs: INPUTS.to_vec(),
        outputs: vec![],
        wildcard: false,
        build: Box::new(|ctx| {
            let cfg = Config::from_options(ctx.options)?;
            let key = ctx.options.str("key");
            let inputs = vec![KeyDef::dynamic(key.to_string(), KeyType::IpAddr)];
            Ok(Built::Stage {
                stage: Arc::new(NftSet {
                    inner: Mutex::new(Inner {
                        sock: None,
                        seen: HashMap::new(),
                        pending: Vec::with_capacity(cfg.batch),
                        tokens: f64::from(cfg.max_rate),
                        refilled: Instant::now(),
                        seq: 100,
                        key_len: None,
                        rx: vec![0; 16 * 1024],
                        req: Vec::with_capacity(4096),
                        n: Counts::default(),
                    }),
                    cfg,
                }),
                inputs: Inputs::Keys(inputs),
                outputs: vec![],
            })
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, String> {
        let o =
            Options::from_pairs("NFTSET", "b1", &options(), pairs).map_err(|e| format!("{e:?}"))?;
        Config::from_options(&o).map_err(|e| e.to_string())
    }

    fn inner(c: &Config) -> Inner {
        Inner {
            sock: None,
            seen: HashMap::new(),
            pending: Vec::new(),
            tokens: f64::from(c.max_rate),
            refilled: Instant::now(),
            seq: 1,
            key_len: Some(4),
            rx: Vec::new(),
            req: Vec::new(),
            n: Counts::default(),
        }
    }

    #[test]
    fn options_are_checked() {
        assert!(cfg(&[]).unwrap_err().contains("table"));
        let base = [("table", "t"), ("set", "s")];
        assert!(cfg(&[base[0], base[1], ("family", "ipx")])
            .unwrap_err()
            .contains("family"));
        assert!(
            cfg(&[base[0], base[1], ("allowlist", "10.0.0.0/8, nonsense")])
                .unwrap_err()
                .contains("allowlist")
        );
        let c = cfg(&[
            base[0],
            base[1],
            ("timeout", "30"),
            ("allowlist", "10.0.0.0/8"),
        ])
        .unwrap();
        assert_eq!(c.timeout_ms, Some(30_000));
        assert_eq!(c.window(), Duration::from_secs(30));
        assert_eq!(c.family, 1);
    }

    #[test]
    fn allowlist_dedup_rate_and_family() {
        let c = cfg(&[
            ("table", "t"),
            ("set", "s"),
            ("allowlist", "10.0.0.0/8"),
            ("max_rate", "2"),
            ("refresh", "5"),
        ])
        .unwrap();
        let mut i = inner(&c);
        let t0 = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(!i.admit(&c, "10.1.2.3".parse().unwrap(), t0), "allowlisted");
        assert!(i.admit(&c, a, t0));
        assert!(
            !i.admit(&c, a, t0 + Duration::from_secs(1)),
            "duplicate within refresh"
        );
        assert!(
            !i.admit(&c, "2001:db8::1".parse().unwrap(), t0),
            "wrong family"
        );
        assert!(i.admit(&c, "192.0.2.2".parse().unwrap(), t0));
        assert!(
            !i.admit(&c, "192.0.2.3".parse().unwrap(), t0),
            "rate limited"
        );
        // After the window, the same address is sent again (tokens refilled).
        assert!(i.admit(&c, a, t0 + Duration::from_secs(6)));
        assert_eq!(
            (
                i.n.allowlisted,
                i.n.duplicates,
                i.n.wrong_family,
                i.n.rate_limited
            ),
            (1, 1, 1, 1)
        );
    }

    #[test]
    fn tracked_addresses_are_bounded() {
        let c = cfg(&[
            ("table", "t"),
            ("set", "s"),
            ("max_rate", "0"),
            ("max_tracked", "16"),
        ])
        .unwrap();
        let mut i = inner(&c);
        let t0 = Instant::now();
        for n in 0..1000u32 {
            let a = IpAddr::from(std::net::Ipv4Addr::from(0xc000_0200 + n));
            assert!(i.admit(&c, a, t0));
            assert!(i.seen.len() <= 16);
        }
        assert!(i.n.forgotten > 0);
    }
}
