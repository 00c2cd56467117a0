//! The Prometheus endpoint (`[global] metrics_listen`): a small HTTP server thread
//! that answers `GET /metrics` with the engine's live [`Snapshot`] in the
//! Prometheus text format (0.0.4).
//!
//! Every scrape reads a fresh snapshot through the [`FleetHandle`] (a few atomic
//! loads, never a wait on the event loop), so nothing is sampled in between and
//! the daemon does no work when nobody scrapes. The exposition format is written by
//! `prometheus-client`, HTTP is parsed by `tiny_http`: no hand-written protocol
//! code. It lives on the daemon side because a library must not open ports.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use ulogd_core::{FleetHandle, Snapshot};

/// How a plugin's own counter (by name) is also exposed as a first-class metric,
/// so dashboards need not know each plugin's vocabulary. Every plugin counter is
/// in `ulogd_plugin_stat` as well.
struct Known {
    counter: &'static str,
    metric: &'static str,
    help: &'static str,
    kind: MetricType,
}

const KNOWN: &[Known] = &[
    Known {
        counter: "overruns",
        metric: "ulogd_kernel_overruns",
        help: "Times the kernel dropped messages because the socket buffer was full (ENOBUFS)",
        kind: MetricType::Counter,
    },
    Known {
        counter: "seq_gaps",
        metric: "ulogd_sequence_gaps",
        help: "Gaps seen in the sequence numbers of the input (messages lost before ulogd)",
        kind: MetricType::Counter,
    },
    Known {
        counter: "lost",
        metric: "ulogd_lost",
        help: "Events or records an instance had to drop (queue full, peer gone)",
        kind: MetricType::Counter,
    },
    Known {
        counter: "connects",
        metric: "ulogd_sink_connects",
        help: "Connections a network or database sink opened, the first included (reconnects = this - 1)",
        kind: MetricType::Counter,
    },
    Known {
        counter: "queued",
        metric: "ulogd_sink_queue_depth",
        help: "Records waiting in a sink's queue",
        kind: MetricType::Gauge,
    },
    Known {
        counter: "depth",
        metric: "ulogd_sink_queue_depth",
        help: "Records waiting in a sink's queue",
        kind: MetricType::Gauge,
    },
    Known {
        counter: "dropped",
        metric: "ulogd_sink_dropped",
        help: "Records a sink dropped and counted (queue full with when_full=drop_newest, peer gone, disk full)",
        kind: MetricType::Counter,
    },
    Known {
        counter: "backlog",
        metric: "ulogd_sink_queue_depth",
        help: "Records waiting in a sink's queue",
        kind: MetricType::Gauge,
    },
    Known {
        counter: "backlog_bytes",
        metric: "ulogd_sink_spool_bytes",
        help: "Bytes a sink holds in its spool or backlog",
        kind: MetricType::Gauge,
    },
    Known {
        counter: "spool_bytes",
        metric: "ulogd_sink_spool_bytes",
        help: "Bytes a sink holds in its spool or backlog",
        kind: MetricType::Gauge,
    },
    Known {
        counter: "write_errors",
        metric: "ulogd_sink_write_errors",
        help: "Failed writes of a file sink",
        kind: MetricType::Counter,
    },
];

/// Reads a snapshot at every scrape and encodes it.
#[derive(Debug)]
struct SnapshotCollector {
    handle: FleetHandleDebug,
    started: f64,
}

/// `FleetHandle` is not `Debug`; the collector trait wants it.
struct FleetHandleDebug(FleetHandle);

impl std::fmt::Debug for FleetHandleDebug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FleetHandle")
    }
}

type Labels = Vec<(&'static str, String)>;

/// One family: name, help, type and its (labels, value) samples.
struct Family {
    name: &'static str,
    help: &'static str,
    kind: MetricType,
    samples: Vec<(Labels, u64)>,
}

impl Family {
    fn new(name: &'static str, help: &'static str, kind: MetricType) -> Family {
        Family {
            name,
            help,
            kind,
            samples: Vec::new(),
        }
    }

    fn encode(&self, enc: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        if self.samples.is_empty() {
            return Ok(());
        }
        let mut m = enc.encode_descriptor(self.name, self.help, None, self.kind)?;
        for (labels, v) in &self.samples {
            let fam = m.encode_family(labels)?;
            match self.kind {
                MetricType::Counter => ConstCounter::new(*v).encode(fam)?,
                _ => ConstGauge::new(*v as i64).encode(fam)?,
            }
        }
        Ok(())
    }
}

/// Labels of one plugin instance. The instance id is `id`, not `instance`:
/// Prometheus sets `instance` to the scraped target itself and would rename ours
/// to `exported_instance`.
fn inst(id: &str, plugin: &str) -> Labels {
    vec![("id", id.to_string()), ("plugin", plugin.to_string())]
}

/// Turns one snapshot into metric families (separate from encoding so it is
/// testable without a registry).
fn families(s: &Snapshot) -> Vec<Family> {
    use MetricType::{Counter, Gauge};
    let mut src_events = Family::new(
        "ulogd_source_events",
        "Events a source emitted into its stacks",
        Counter,
    );
    let mut pool_empty = Family::new(
        "ulogd_source_pool_empty",
        "Times a source found its event pool empty and paused reading (back-pressure: the stacks are slower than the input)",
        Counter,
    );
    let mut pool_size = Family::new(
        "ulogd_source_pool_size",
        "Events a source may have in flight (keyspool)",
        Gauge,
    );
    let mut in_flight = Family::new(
        "ulogd_source_in_flight",
        "Events of a source in its stacks right now",
        Gauge,
    );
    let mut blocked = Family::new(
        "ulogd_source_blocked",
        "1 while a source is paused on an empty pool (a pool stall)",
        Gauge,
    );
    let mut ev_in = Family::new(
        "ulogd_stage_events_in",
        "Events handed to a filter or sink instance",
        Counter,
    );
    let mut ev_out = Family::new(
        "ulogd_stage_events_out",
        "Events a filter passed on or a sink consumed",
        Counter,
    );
    let mut ev_stopped = Family::new(
        "ulogd_stage_events_stopped",
        "Events a filter stopped (filtered out on purpose)",
        Counter,
    );
    let mut ev_err = Family::new(
        "ulogd_stage_errors",
        "Events a filter or sink failed on (including caught panics)",
        Counter,
    );
    let mut plugin = Family::new(
        "ulogd_plugin_stat",
        "Every counter a plugin reports (as SIGUSR1 logs them), by name",
        Gauge,
    );
    let mut known: Vec<Family> = Vec::new();
    let mut add_plugin = |labels: &Labels, counters: &[(&'static str, u64)]| {
        for (name, v) in counters {
            let mut l = labels.clone();
            l.push(("counter", name.to_string()));
            plugin.samples.push((l, *v));
            if let Some(k) = KNOWN.iter().find(|k| k.counter == *name) {
                let i = match known.iter().position(|f| f.name == k.metric) {
                    Some(i) => i,
                    None => {
                        known.push(Family::new(k.metric, k.help, k.kind));
                        known.len() - 1
                    }
                };
                known[i].samples.push((labels.clone(), *v));
            }
        }
    };
    for src in &s.sources {
        let l = inst(&src.id, &src.plugin);
        src_events.samples.push((l.clone(), src.events));
        pool_empty.samples.push((l.clone(), src.pool_empty));
        pool_size.samples.push((l.clone(), src.pool_size as u64));
        in_flight.samples.push((l.clone(), src.in_flight as u64));
        blocked.samples.push((l.clone(), u64::from(src.blocked)));
        add_plugin(&l, &src.counters);
    }
    for st in &s.stages {
        let l = inst(&st.id, &st.plugin);
        ev_in.samples.push((l.clone(), st.events_in));
        ev_out.samples.push((l.clone(), st.ok));
        ev_stopped.samples.push((l.clone(), st.stopped));
        ev_err.samples.push((l.clone(), st.errors));
        add_plugin(&l, &st.counters);
    }
    let mut out = vec![
        src_events, pool_empty, pool_size, in_flight, blocked, ev_in, ev_out, ev_stopped, ev_err,
        plugin,
    ];
    out.extend(known);
    out
}

/// `ulogd_stage_last_error_timestamp_seconds`: only instances that ever failed
/// have a series (an absent series, not a 0, says "never").
fn encode_last_errors(enc: &mut DescriptorEncoder, s: &Snapshot) -> Result<(), std::fmt::Error> {
    let failed: Vec<(Labels, f64)> = s
        .stages
        .iter()
        .filter_map(|st| {
            let t = st.last_error?.duration_since(UNIX_EPOCH).ok()?;
            Some((inst(&st.id, &st.plugin), t.as_secs_f64()))
        })
        .collect();
    if failed.is_empty() {
        return Ok(());
    }
    let mut m = enc.encode_descriptor(
        "ulogd_stage_last_error_timestamp_seconds",
        "When a filter or sink last failed on an event, seconds since the Unix epoch",
        None,
        MetricType::Gauge,
    )?;
    for (labels, t) in &failed {
        ConstGauge::new(*t).encode(m.encode_family(labels)?)?;
    }
    Ok(())
}

/// Everything one scrape serves for one snapshot.
fn encode_all(
    enc: &mut DescriptorEncoder,
    s: &Snapshot,
    started: f64,
) -> Result<(), std::fmt::Error> {
    encode_process(enc, started)?;
    for f in families(s) {
        f.encode(enc)?;
    }
    encode_last_errors(enc, s)
}

impl Collector for SnapshotCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        encode_all(&mut enc, &self.handle.0.snapshot(), self.started)
    }
}

/// The daemon's own series: version and start time.
fn encode_process(enc: &mut DescriptorEncoder, started: f64) -> Result<(), std::fmt::Error> {
    {
        let info = enc.encode_descriptor(
            "ulogd_build",
            "The running ulogd-rs version",
            None,
            MetricType::Info,
        )?;
        prometheus_client::metrics::info::Info::new(vec![("version", env!("CARGO_PKG_VERSION"))])
            .encode(info)?;
    }
    let m = enc.encode_descriptor(
        "ulogd_start_time_seconds",
        "When the daemon started, seconds since the Unix epoch",
        None,
        MetricType::Gauge,
    )?;
    ConstGauge::new(started).encode(m)
}

/// The running endpoint; dropping it stops the server thread.
pub struct MetricsServer {
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Binds `addr` and serves `handle`'s counters from a thread of its own.
    pub fn start(addr: SocketAddr, handle: FleetHandle) -> Result<MetricsServer, String> {
        let server = tiny_http::Server::http(addr)
            .map_err(|e| format!("metrics_listen={addr}: cannot listen: {e}"))?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| format!("metrics_listen={addr}: not an IP socket"))?;
        let server = Arc::new(server);
        let started = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let mut registry = Registry::default();
        registry.register_collector(Box::new(SnapshotCollector {
            handle: FleetHandleDebug(handle),
            started,
        }));
        let srv = Arc::clone(&server);
        let thread = std::thread::Builder::new()
            .name("ulogd-metrics".into())
            .spawn(move || serve(&srv, &registry))
            .map_err(|e| format!("cannot start the metrics thread: {e}"))?;
        log::info!("serving Prometheus metrics on http://{addr}/metrics");
        Ok(MetricsServer {
            server,
            thread: Some(thread),
        })
    }
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes())
        .expect("static header is valid")
}

fn serve(server: &tiny_http::Server, registry: &Registry) {
    for req in server.incoming_requests() {
        let path = req.url().split('?').next().unwrap_or("");
        let get = matches!(
            req.method(),
            tiny_http::Method::Get | tiny_http::Method::Head
        );
        let resp = if !get {
            tiny_http::Response::from_string("only GET\n").with_status_code(405)
        } else if path == "/metrics" {
            let mut body = String::new();
            match prometheus_client::encoding::prometheus_text::encode(&mut body, registry) {
                Ok(()) => tiny_http::Response::from_string(body).with_header(header(
                    "Content-Type",
                    prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
                )),
                Err(_) => {
                    tiny_http::Response::from_string("encoding failed\n").with_status_code(500)
                }
            }
        } else if path == "/" {
            tiny_http::Response::from_string("ulogd-rs: metrics are at /metrics\n")
        } else {
            tiny_http::Response::from_string("not found; metrics are at /metrics\n")
                .with_status_code(404)
        };
        if let Err(e) = req.respond(resp) {
            log::debug!("metrics: answering a scrape failed: {e}");
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ulogd_core::{SourceStats, StageStats};

    fn snap() -> Snapshot {
        Snapshot {
            sources: vec![SourceStats {
                id: "log1".into(),
                plugin: "NFLOG".into(),
                events: 10,
                pool_empty: 2,
                pool_size: 64,
                in_flight: 3,
                blocked: true,
                counters: vec![("overruns", 4), ("seq_gaps", 1), ("received", 11)],
            }],
            stages: vec![StageStats {
                id: "j".into(),
                plugin: "JSON".into(),
                events_in: 10,
                ok: 8,
                stopped: 0,
                errors: 2,
                last_error: Some(UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_500)),
                counters: vec![("sent", 8), ("lost", 2), ("connects", 3)],
            }],
        }
    }

    fn find<'a>(f: &'a [Family], name: &str) -> &'a Family {
        f.iter().find(|x| x.name == name).unwrap()
    }

    #[test]
    fn every_counter_is_a_series_and_known_ones_first_class() {
        let f = families(&snap());
        assert_eq!(find(&f, "ulogd_source_events").samples[0].1, 10);
        assert_eq!(find(&f, "ulogd_source_blocked").samples[0].1, 1);
        assert_eq!(find(&f, "ulogd_stage_errors").samples[0].1, 2);
        assert_eq!(find(&f, "ulogd_plugin_stat").samples.len(), 6);
        let ov = find(&f, "ulogd_kernel_overruns");
        assert_eq!(ov.samples.len(), 1);
        assert_eq!(ov.samples[0].1, 4);
        assert_eq!(ov.samples[0].0[0], ("id", "log1".to_string()));
        assert_eq!(find(&f, "ulogd_sink_connects").samples[0].1, 3);
        assert!(!f.iter().any(|x| x.name == "ulogd_sink_spool_bytes"));
    }

    #[test]
    fn text_encoding_names_counters_with_total() {
        let mut reg = Registry::default();
        #[derive(Debug)]
        struct Fixed;
        impl Collector for Fixed {
            fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
                encode_all(&mut enc, &snap(), 0.0)
            }
        }
        reg.register_collector(Box::new(Fixed));
        let mut s = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut s, &reg).unwrap();
        assert!(
            s.contains("ulogd_stage_events_in_total{id=\"j\",plugin=\"JSON\"} 10"),
            "{s}"
        );
        assert!(
            s.contains("ulogd_plugin_stat{id=\"log1\",plugin=\"NFLOG\",counter=\"received\"} 11"),
            "{s}"
        );
        assert!(
            s.contains("# TYPE ulogd_kernel_overruns_total counter"),
            "{s}"
        );
    }

    /// Every metric the shipped Grafana dashboard queries is one this endpoint
    /// serves (given a snapshot in which each first-class counter occurs).
    #[test]
    fn grafana_dashboard_uses_only_served_metrics() {
        let mut s = snap();
        s.stages[0].counters = KNOWN.iter().map(|k| (k.counter, 1)).collect();
        let handle_free = SnapshotText(s);
        let mut reg = Registry::default();
        reg.register_collector(Box::new(handle_free));
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &reg).unwrap();
        let served: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split(' ').next())
            .collect();
        let dash = include_str!("../../../contrib/grafana-ulogd.json");
        let mut used = 0;
        for (i, _) in dash.match_indices("ulogd_") {
            let name: String = dash[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if name == "ulogd_" || name == "ulogd_rs" {
                continue;
            }
            used += 1;
            assert!(
                served.contains(&name.as_str()),
                "dashboard uses {name}; served: {served:?}"
            );
        }
        assert!(used > 10, "the dashboard queries the metrics");
    }

    /// The collector's encoding, minus the engine handle.
    #[derive(Debug)]
    struct SnapshotText(Snapshot);

    impl Collector for SnapshotText {
        fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
            encode_all(&mut enc, &self.0, 0.0)
        }
    }
}
