//! REPLAY: a pcap or pcapng file as a source.
//!
//! NFLOG captures (`tcpdump -i nflog:N -w`, LINKTYPE_NFLOG) go through the very same
//! attribute walker and key filling as the live NFLOG source, so a stack can be tried
//! or benchmarked on a capture without root. Raw-IP and Ethernet captures become bare
//! packets. Packets without a kernel timestamp get the capture's record time.

use std::time::Duration;

use memmap2::Mmap;
use ulogd_core::{
    Built, Emit, Flow, OptionDef, Options, PluginError, PluginSpec, Source, SourceSetup, Wake,
};

use super::nflog_keys::{fill_from_repr, k, NFLOG_KEYS};
use crate::wire::pcap::{
    LINKTYPE_ETHERNET, LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_NFLOG, LINKTYPE_RAW,
};
use crate::wire::{NflogRepr, PcapReader};

/// Events emitted per run before letting the loop poll everything else.
const BATCH: usize = 1024;

struct Replay {
    path: String,
    speed: f64,
    label: u8,
    map: Option<Mmap>,
    /// Byte offset iteration state: records already handled.
    done: usize,
    /// Time of the first record and when we started, for pacing.
    first_ts: Option<f64>,
    started: Option<std::time::Instant>,
    timer: usize,
    malformed: u64,
    emitted: u64,
    unsupported: u64,
}

impl Replay {
    fn options() -> Vec<OptionDef> {
        vec![
            OptionDef::string("file", "", "pcap or pcapng file to replay").required(),
            OptionDef::int(
                "speed",
                "0",
                "0 = as fast as possible, 1 = original pacing, N = N times faster",
            ),
            OptionDef::int(
                "numeric_label",
                "0",
                "value of raw.label, as NFLOG's option",
            ),
        ]
    }

    fn build(o: &Options) -> Result<Replay, PluginError> {
        let speed = o.int("speed");
        if speed < 0 {
            return Err(PluginError::new(
                o.error("speed", "must be 0 or more").to_string(),
            ));
        }
        Ok(Replay {
            path: o.str("file").to_string(),
            speed: speed as f64,
            label: o.int("numeric_label") as u8,
            map: None,
            done: 0,
            first_ts: None,
            started: None,
            timer: 0,
            malformed: 0,
            emitted: 0,
            unsupported: 0,
        })
    }
}

/// Fills bare-packet keys for raw IP / Ethernet captures. Returns false when the
/// record holds nothing we can emit.
fn fill_bare(
    ev: &mut ulogd_core::Event<'_>,
    linktype: u32,
    data: &[u8],
    ts: (u32, u32),
    label: u8,
) -> bool {
    let mut pkt = data;
    if linktype == LINKTYPE_ETHERNET {
        if data.len() < 14 {
            return false;
        }
        let mut off = 12;
        // Skip 802.1Q / 802.1ad tags.
        while data.len() >= off + 2
            && matches!(
                u16::from_be_bytes([data[off], data[off + 1]]),
                0x8100 | 0x88a8
            )
        {
            off += 4;
        }
        if data.len() < off + 2 {
            return false;
        }
        ev.set_bytes(k::RAW_MAC, &data[..14]);
        ev.set_u16(k::RAW_MAC_LEN, 14);
        ev.set_u16(k::RAW_TYPE, 1);
        pkt = &data[off + 2..];
    }
    let (family, proto) = match pkt.first().map(|b| b >> 4) {
        Some(4) => (2u8, 0x0800u16),
        Some(6) => (10, 0x86dd),
        _ => return false,
    };
    ev.set_bytes(k::RAW_PKT, pkt);
    ev.set_u32(k::RAW_PKTLEN, pkt.len() as u32);
    ev.set_u32(k::RAW_PKTCOUNT, 1);
    ev.set_u32(k::OOB_TIME_SEC, ts.0);
    ev.set_u32(k::OOB_TIME_USEC, ts.1);
    ev.set_u32(k::OOB_MARK, 0);
    ev.set_u8(k::OOB_FAMILY, family);
    ev.set_u16(k::OOB_PROTOCOL, proto);
    ev.set_u8(k::RAW_LABEL, label);
    true
}

impl Source for Replay {
    fn start(&mut self, setup: &mut dyn SourceSetup) -> Result<(), PluginError> {
        let f = std::fs::File::open(&self.path)
            .map_err(|e| PluginError::new(format!("cannot open {}: {e}", self.path)))?;
        // SAFETY: the file is mapped read-only; a capture truncated underneath us would
        // fault, which is the documented risk of replaying a file that is still written.
        let map = unsafe { Mmap::map(&f) }
            .map_err(|e| PluginError::new(format!("cannot map {}: {e}", self.path)))?;
        PcapReader::new(&map)
            .map_err(|e| PluginError::new(format!("{}: not a pcap/pcapng file: {e}", self.path)))?;
        self.map = Some(map);
        self.timer = setup.add_timer(Duration::from_millis(0), None);
        Ok(())
    }

    fn run(&mut self, _wake: Wake, emit: &mut dyn Emit) -> Result<Flow, PluginError> {
        let Some(map) = self.map.as_ref() else {
            return Ok(Flow::Finished);
        };
        let Ok(reader) = PcapReader::new(map) else {
            return Ok(Flow::Finished);
        };
        let mut n = 0;
        for (i, rec) in reader.enumerate().skip(self.done) {
            let rec = match rec {
                Ok(r) => r,
                Err(e) => {
                    log::warn!(
                        "REPLAY {}: record {} is malformed, stopping there: {e}",
                        self.path,
                        i + 1
                    );
                    self.malformed += 1;
                    return Ok(Flow::Finished);
                }
            };
            let ts_f = rec.ts_sec as f64 + rec.ts_nsec as f64 / 1e9;
            if self.speed > 0.0 {
                let first = *self.first_ts.get_or_insert(ts_f);
                let started = *self.started.get_or_insert_with(std::time::Instant::now);
                let due = ((ts_f - first) / self.speed).max(0.0);
                let elapsed = started.elapsed().as_secs_f64();
                if due > elapsed {
                    emit.arm_timer(self.timer, Duration::from_secs_f64(due - elapsed));
                    return Ok(Flow::Idle);
                }
            }
            let ts = (rec.ts_sec as u32, rec.ts_nsec / 1000);
            let label = self.label;
            let mut ok = true;
            let r = match rec.linktype {
                LINKTYPE_NFLOG => match NflogRepr::parse_pcap_record(rec.data) {
                    Ok(repr) => emit.emit(&mut |ev| {
                        fill_from_repr(ev, &repr, ts, label);
                        true
                    }),
                    Err(e) => {
                        if self.malformed == 0 {
                            log::warn!(
                                "REPLAY {}: record {} is not a valid NFLOG record: {e}",
                                self.path,
                                i + 1
                            );
                        }
                        self.malformed += 1;
                        ok = false;
                        Ok(())
                    }
                },
                LINKTYPE_RAW | LINKTYPE_IPV4 | LINKTYPE_IPV6 | LINKTYPE_ETHERNET => {
                    let lt = rec.linktype;
                    emit.emit(&mut |ev| fill_bare(ev, lt, rec.data, ts, label))
                }
                other => {
                    if self.unsupported == 0 {
                        log::warn!(
                            "REPLAY {}: link type {other} is not supported; skipping such records",
                            self.path
                        );
                    }
                    self.unsupported += 1;
                    ok = false;
                    Ok(())
                }
            };
            if r.is_err() {
                // Pool empty: resume at this record.
                return Ok(Flow::Idle);
            }
            if ok {
                self.emitted += 1;
            }
            self.done = i + 1;
            n += 1;
            if n >= BATCH {
                return Ok(Flow::Again);
            }
        }
        Ok(Flow::Finished)
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("replayed", self.emitted),
            ("malformed", self.malformed),
            ("unsupported", self.unsupported),
        ]
    }
}

/// The REPLAY plugin.
pub fn spec() -> PluginSpec {
    PluginSpec {
        name: "REPLAY",
        aliases: &[],
        kind: ulogd_core::Kind::Source,
        summary: "replays a pcap/pcapng capture (NFLOG, raw IP or Ethernet) as NFLOG events",
        options: Replay::options(),
        inputs: vec![],
        outputs: NFLOG_KEYS.to_vec(),
        wildcard: false,
        build: Box::new(|ctx| {
            Ok(Built::Source {
                source: Box::new(Replay::build(ctx.options)?),
                outputs: NFLOG_KEYS.to_vec(),
            })
        }),
    }
}
