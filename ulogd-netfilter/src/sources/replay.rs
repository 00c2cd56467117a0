//! REPLAY: a pcap or pcapng file as a source.
//!
//! NFLOG captures (`tcpdump -i nflog:N -w`, LINKTYPE_NFLOG) go through the very same
//! attribute walker and key filling as the live NFLOG source, so a stack can be tried,
//! tested or benchmarked on a capture without root. Raw-IP and Ethernet captures
//! become bare packets. Packets without a kernel timestamp get the record's time.
//!
//! The file is read into memory at start (not memory-mapped: a capture truncated
//! while it is replayed, as `tcpdump -C/-W` ring files are, would kill the whole
//! daemon with SIGBUS through a mapping; a copy is immune, and a FIFO works too).
//! Events are emitted in batches of [`BATCH`] so signals and other sources stay
//! responsive, and paced with a timer when `speed` > 0.

use std::time::{Duration, Instant};

use ulogd_core::{
    Built, Emit, Event, Flow, OptionDef, Options, PluginError, PluginSpec, Source, SourceSetup,
    Wake,
};

use super::nflog_keys::{fill_ct, fill_from_repr, k, NFLOG_KEYS};
use crate::packet::EthernetFrame;
use crate::wire::pcap::{
    LINKTYPE_ETHERNET, LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_NFLOG, LINKTYPE_RAW,
};
use crate::wire::{NflogRepr, PcapReader, PcapRecord};

/// Events emitted per run before letting the loop poll everything else.
const BATCH: usize = 1024;

/// Validated REPLAY options.
#[derive(Clone, Debug, PartialEq)]
struct ReplayConfig {
    path: String,
    /// 0 = as fast as possible; 1 = original pacing; 2 = twice as fast...
    speed: f64,
    /// Start again at the end of the file, until stopped.
    repeat: bool,
    label: u8,
}

impl ReplayConfig {
    fn options() -> Vec<OptionDef> {
        vec![
            OptionDef::string("file", "", "pcap or pcapng file to replay").required(),
            OptionDef::string(
                "speed",
                "0",
                "0 = as fast as possible, 1 = original pacing, 2 = twice as fast, 0.5 = half",
            ),
            OptionDef::int(
                "loop",
                "0",
                "1 = start again at the end of the file, until stopped",
            ),
            OptionDef::int(
                "numeric_label",
                "0",
                "value of raw.label, as NFLOG's option",
            ),
        ]
    }

    fn from_options(o: &Options) -> Result<ReplayConfig, PluginError> {
        let err = |k: &str, m: &str| PluginError::new(o.error(k, m).to_string());
        let speed: f64 = o
            .str("speed")
            .trim()
            .parse()
            .ok()
            .filter(|s: &f64| s.is_finite() && *s >= 0.0)
            .ok_or_else(|| err("speed", "must be a number, 0 or more"))?;
        let label = u8::try_from(o.int("numeric_label"))
            .map_err(|_| err("numeric_label", "must be between 0 and 255"))?;
        Ok(ReplayConfig {
            path: o.str("file").to_string(),
            speed,
            repeat: o.bool("loop"),
            label,
        })
    }
}

struct Replay {
    cfg: ReplayConfig,
    // Field order matters: `pending` and `reader` borrow `data` and are dropped first.
    /// A record read but not emitted yet (pool empty, or not due yet).
    pending: Option<PcapRecord<'static>>,
    reader: Option<PcapReader<'static>>,
    /// The whole capture, read at start.
    data: Option<Box<[u8]>>,
    /// 1-based number of the last record read, for messages.
    record_no: u64,
    /// Pacing: (first record time in s, when it was replayed).
    origin: Option<(f64, Instant)>,
    timer: usize,
    replayed: u64,
    malformed: u64,
    skipped: u64,
    passes: u64,
}

/// A raw-IP or Ethernet capture record, classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarePacket<'a> {
    /// The L3 packet.
    pub pkt: &'a [u8],
    /// nfgen family: 2 (IPv4) or 10 (IPv6).
    pub family: u8,
    /// Ethertype of the packet.
    pub ethertype: u16,
    /// For Ethernet: bytes of the link-layer header (VLAN tags included).
    pub mac_len: Option<usize>,
}

/// REPLAY's reading of a bare record (`LINKTYPE_RAW`/IPv4/IPv6, or
/// `LINKTYPE_ETHERNET` with 802.1Q/802.1ad tags skipped): `None` when it is not an
/// IPv4/IPv6 packet (nothing to emit). Never panics.
pub fn bare_packet(linktype: u32, data: &[u8]) -> Option<BarePacket<'_>> {
    let (pkt, proto) = if linktype == LINKTYPE_ETHERNET {
        let (ty, off) = EthernetFrame::new_checked(data).ok()?.inner()?;
        (data.get(off..)?, Some((ty, off)))
    } else {
        (data, None)
    };
    let (family, ethertype) = match (crate::packet::ip_version(pkt), proto) {
        (Some(4), None | Some((0x0800, _))) => (2u8, 0x0800u16),
        (Some(6), None | Some((0x86dd, _))) => (10, 0x86dd),
        _ => return None,
    };
    Some(BarePacket {
        pkt,
        family,
        ethertype,
        mac_len: proto.map(|(_, off)| off),
    })
}

/// Fills the keys of a bare packet from a raw-IP or Ethernet capture. Returns false
/// when the record is not an IPv4/IPv6 packet (nothing to emit).
fn fill_bare(ev: &mut Event<'_>, linktype: u32, data: &[u8], ts: (u32, u32), label: u8) -> bool {
    let Some(BarePacket {
        pkt,
        family,
        ethertype,
        mac_len,
    }) = bare_packet(linktype, data)
    else {
        return false;
    };
    if let Some((hdrlen, mac)) = mac_len.and_then(|n| Some((n, data.get(..n)?))) {
        ev.set(k::RAW_MAC, mac);
        ev.set(k::RAW_MAC_LEN, hdrlen as u16);
        ev.set(k::RAW_TYPE, 1); // ARPHRD_ETHER
    }
    ev.set(k::RAW_PKT, pkt);
    ev.set(k::RAW_PKTLEN, pkt.len() as u32);
    ev.set(k::RAW_PKTCOUNT, 1);
    ev.set(k::OOB_TIME_SEC, ts.0);
    ev.set(k::OOB_TIME_USEC, ts.1);
    ev.set(k::OOB_MARK, 0);
    ev.set(k::OOB_FAMILY, family);
    ev.set(k::OOB_PROTOCOL, ethertype);
    ev.set(k::RAW_LABEL, label);
    true
}

impl Replay {
    fn new(cfg: ReplayConfig) -> Replay {
        Replay {
            cfg,
            pending: None,
            reader: None,
            data: None,
            record_no: 0,
            origin: None,
            timer: 0,
            replayed: 0,
            malformed: 0,
            skipped: 0,
            passes: 0,
        }
    }

    /// A reader over the whole capture, from its first record.
    fn rewind(&mut self) -> Result<(), PluginError> {
        let Some(buf) = self.data.as_ref() else {
            return Err(PluginError::new("REPLAY: file not read"));
        };
        // SAFETY: the slice points into the heap buffer of `self.data`, which is
        // neither dropped nor replaced while `self.reader`/`self.pending` exist (they
        // are declared before it, cleared in `stop`, and `start` reads once).
        let data: &'static [u8] = unsafe { std::slice::from_raw_parts(buf.as_ptr(), buf.len()) };
        let reader = PcapReader::new(data).map_err(|e| {
            PluginError::new(format!("{}: not a pcap/pcapng file: {e}", self.cfg.path))
        })?;
        self.reader = Some(reader);
        self.pending = None;
        self.record_no = 0;
        self.origin = None;
        self.passes += 1;
        Ok(())
    }

    /// The next record, or None at the end of the file (or of its readable part).
    fn next_record(&mut self) -> Option<PcapRecord<'static>> {
        if let Some(r) = self.pending.take() {
            return Some(r);
        }
        match self.reader.as_mut()?.next()? {
            Ok(r) => {
                self.record_no += 1;
                Some(r)
            }
            Err(e) => {
                self.malformed += 1;
                log::warn!(
                    "REPLAY {}: record {} is malformed, the rest of the file cannot be read: {e}",
                    self.cfg.path,
                    self.record_no + 1
                );
                None
            }
        }
    }

    /// How long until `rec` is due at the configured speed (zero when due).
    fn wait_for(&mut self, rec: &PcapRecord<'_>) -> Duration {
        if self.cfg.speed <= 0.0 {
            return Duration::ZERO;
        }
        let t = rec.ts_sec as f64 + f64::from(rec.ts_nsec) / 1e9;
        let (first, started) = *self.origin.get_or_insert((t, Instant::now()));
        let due = ((t - first) / self.cfg.speed).max(0.0);
        let elapsed = started.elapsed().as_secs_f64();
        if due > elapsed {
            Duration::from_secs_f64((due - elapsed).min(86_400.0))
        } else {
            Duration::ZERO
        }
    }
}

impl Source for Replay {
    fn start(&mut self, setup: &mut dyn SourceSetup) -> Result<(), PluginError> {
        let data = std::fs::read(&self.cfg.path)
            .map_err(|e| PluginError::new(format!("cannot read {}: {e}", self.cfg.path)))?;
        self.reader = None;
        self.pending = None;
        self.data = Some(data.into_boxed_slice());
        self.rewind()?;
        // Kicks off the first run; re-armed for pacing.
        self.timer = setup.add_timer(Duration::ZERO, None);
        Ok(())
    }

    fn run(&mut self, _wake: Wake, emit: &mut dyn Emit) -> Result<Flow, PluginError> {
        let label = self.cfg.label;
        let mut n = 0;
        loop {
            let Some(rec) = self.next_record() else {
                if self.cfg.repeat && self.replayed > 0 {
                    self.rewind()?;
                    return Ok(Flow::Again);
                }
                // At notice level when something was not replayed (the `ulogd`
                // daemon then exits non-zero as well), else at info.
                let level = if self.malformed > 0 || self.skipped > 0 || self.replayed == 0 {
                    log::Level::Warn
                } else {
                    log::Level::Info
                };
                log::log!(
                    level,
                    "REPLAY {}: {} event(s) replayed, {} malformed, {} skipped",
                    self.cfg.path,
                    self.replayed,
                    self.malformed,
                    self.skipped
                );
                self.reader = None;
                return Ok(Flow::Finished);
            };
            let wait = self.wait_for(&rec);
            if !wait.is_zero() {
                self.pending = Some(rec);
                emit.arm_timer(self.timer, wait);
                return Ok(Flow::Idle);
            }
            let ts = (rec.ts_sec as u32, rec.ts_nsec / 1000);
            let res = match rec.linktype {
                LINKTYPE_NFLOG => match NflogRepr::parse_pcap_record(rec.data) {
                    Ok(repr) => emit
                        .emit(&mut |ev| {
                            fill_from_repr(ev, &repr, ts, label);
                            fill_ct(ev, &repr, crate::wire::ByteOrder::Little);
                            true
                        })
                        .map(|()| true),
                    Err(e) => {
                        if self.malformed == 0 {
                            log::warn!(
                                "REPLAY {}: record {} is not a valid NFLOG record, skipped \
                                 (further ones are only counted): {e}",
                                self.cfg.path,
                                self.record_no
                            );
                        }
                        self.malformed += 1;
                        Ok(false)
                    }
                },
                LINKTYPE_RAW | LINKTYPE_IPV4 | LINKTYPE_IPV6 | LINKTYPE_ETHERNET => {
                    let mut ok = false;
                    emit.emit(&mut |ev| {
                        ok = fill_bare(ev, rec.linktype, rec.data, ts, label);
                        ok
                    })
                    .map(|()| {
                        if !ok {
                            self.skipped += 1;
                        }
                        ok
                    })
                }
                other => {
                    if self.skipped == 0 {
                        log::warn!(
                            "REPLAY {}: record {}: link type {other} is not supported; \
                             such records are skipped and counted",
                            self.cfg.path,
                            self.record_no
                        );
                    }
                    self.skipped += 1;
                    Ok(false)
                }
            };
            match res {
                Ok(true) => self.replayed += 1,
                Ok(false) => {}
                Err(_) => {
                    // Pool empty: retry this record on Wake::Resume.
                    self.pending = Some(rec);
                    return Ok(Flow::Idle);
                }
            }
            n += 1;
            if n >= BATCH {
                return Ok(Flow::Again);
            }
        }
    }

    fn stop(&mut self) {
        self.pending = None;
        self.reader = None;
        self.data = None;
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("replayed", self.replayed),
            ("malformed", self.malformed),
            ("skipped", self.skipped),
            ("passes", self.passes),
        ]
    }
}

/// The REPLAY plugin.
pub fn spec() -> PluginSpec {
    PluginSpec {
        name: "REPLAY",
        aliases: &[],
        kind: ulogd_core::Kind::Source,
        summary: "replays a pcap/pcapng capture (NFLOG, raw IP or Ethernet) with NFLOG's keys",
        options: ReplayConfig::options(),
        inputs: vec![],
        outputs: NFLOG_KEYS.to_vec(),
        wildcard: false,
        build: Box::new(|ctx| {
            Ok(Built::Source {
                source: Box::new(Replay::new(ReplayConfig::from_options(ctx.options)?)),
                outputs: NFLOG_KEYS.to_vec(),
            })
        }),
    }
}

#[cfg(test)]
mod tests {

    /// Hostile bare records (truncated Ethernet and VLAN headers, a tag chain, a
    /// wrong version nibble) are skipped, never read past.
    #[test]
    fn bare_packet_rejects_hostile_records() {
        use crate::packet::EthernetRepr;
        let eth = |ty: u16, rest: &[u8]| {
            EthernetRepr {
                src: [2, 0, 0, 0, 0, 1],
                dst: [2, 0, 0, 0, 0, 2],
                ethertype: ty,
            }
            .to_bytes(rest)
        };
        assert_eq!(bare_packet(LINKTYPE_ETHERNET, &[0; 13]), None);
        assert_eq!(bare_packet(LINKTYPE_ETHERNET, &eth(0x0800, &[])), None);
        assert_eq!(
            bare_packet(LINKTYPE_ETHERNET, &eth(0x8100, &[0, 5, 0x08])),
            None
        );
        // Two tags, then IPv4: the header is 22 bytes.
        let f = eth(0x88a8, &[0, 1, 0x81, 0x00, 0, 2, 0x08, 0x00, 0x45, 0]);
        let b = bare_packet(LINKTYPE_ETHERNET, &f).unwrap();
        assert_eq!(
            (b.family, b.ethertype, b.mac_len, b.pkt),
            (2, 0x0800, Some(22), &[0x45, 0][..])
        );
        // An IPv6 nibble behind an IPv4 ethertype.
        assert_eq!(bare_packet(LINKTYPE_ETHERNET, &eth(0x0800, &[0x60])), None);
        assert_eq!(bare_packet(LINKTYPE_RAW, &[]), None);
        assert_eq!(
            bare_packet(LINKTYPE_RAW, &[0x60]).map(|b| b.family),
            Some(10)
        );
    }
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<ReplayConfig, String> {
        let o = Options::from_pairs("REPLAY", "r", &ReplayConfig::options(), pairs)
            .map_err(|e| format!("{e:?}"))?;
        ReplayConfig::from_options(&o).map_err(|e| e.to_string())
    }

    #[test]
    fn options() {
        let c = parse(&[("file", "x.pcap")]).unwrap();
        assert_eq!(
            c,
            ReplayConfig {
                path: "x.pcap".into(),
                speed: 0.0,
                repeat: false,
                label: 0
            }
        );
        let c = parse(&[
            ("file", "y"),
            ("speed", "0.5"),
            ("loop", "1"),
            ("numeric_label", "3"),
        ])
        .unwrap();
        assert_eq!((c.speed, c.repeat, c.label), (0.5, true, 3));
        assert!(parse(&[("file", "y"), ("speed", "-1")])
            .unwrap_err()
            .contains("speed"));
        assert!(parse(&[("file", "y"), ("speed", "fast")])
            .unwrap_err()
            .contains("speed"));
        assert!(parse(&[]).is_err(), "file is required");
    }

    #[test]
    fn missing_file_is_a_start_error() {
        let mut r = Replay::new(parse(&[("file", "/nonexistent/x.pcap")]).unwrap());
        struct NoSetup;
        impl SourceSetup for NoSetup {
            fn add_fd(&mut self, _: std::os::fd::RawFd) -> usize {
                0
            }
            fn add_timer(&mut self, _: Duration, _: Option<Duration>) -> usize {
                0
            }
            fn on_done(&mut self, _: std::sync::Arc<dyn ulogd_core::Completion>) {}
            fn thread_emitter(&mut self) -> Box<dyn Emit + Send> {
                unreachable!()
            }
        }
        let e = r.start(&mut NoSetup).err().unwrap().to_string();
        assert!(e.contains("/nonexistent/x.pcap"), "{e}");
    }
}
