//! KAFKA: events as the JSON sink's objects to Kafka topics, through librdkafka
//! (built from its vendored source, so the client is current).
//!
//! The topic and the message key are templates over keys; the idempotent producer
//! is on by default (no duplicates and per-partition order through librdkafka's own
//! retries); delivery reports drive the pump's acknowledgements, so with `spool=1` a
//! message stays on disk until the broker has it. Any librdkafka property is passed
//! through as `kafka.<name>` (e.g. `kafka.linger.ms=20`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Message};
use ulogd_core::{Built, Inputs, Kind, OptionDef, PluginError, PluginSpec};

use super::backlog::{Backlog, MemBacklog};
use super::envelope::Envelope;
use super::pump::{self, Outcome, PumpConfig, Transport};
use super::template::Charset;
use super::{Common, Front, Stats};
use crate::spool::{Seq, Spool};

/// librdkafka callbacks: delivery reports into a list the pump drains; client
/// errors to the daemon log, at most once per interval.
struct Ctx {
    name: String,
    reports: Mutex<Vec<(Seq, Outcome)>>,
    last_error: Mutex<Option<Instant>>,
    log_interval: Duration,
}

impl ClientContext for Ctx {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, msg: &str) {
        use rdkafka::config::RDKafkaLogLevel as L;
        match level {
            L::Emerg | L::Alert | L::Critical | L::Error => {
                self.error_line(&format!("{fac}: {msg}"))
            }
            L::Warning | L::Notice => log::debug!("{}: librdkafka {fac}: {msg}", self.name),
            _ => log::trace!("{}: librdkafka {fac}: {msg}", self.name),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.error_line(&format!("{error}: {reason}"));
    }
}

impl Ctx {
    fn error_line(&self, msg: &str) {
        let mut last = self.last_error.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_none_or(|t| t.elapsed() >= self.log_interval) {
            log::warn!("{}: {msg}", self.name);
            *last = Some(Instant::now());
        }
    }
}

fn permanent(code: RDKafkaErrorCode) -> bool {
    use RDKafkaErrorCode as E;
    matches!(
        code,
        E::UnknownTopic
            | E::UnknownTopicOrPartition
            | E::InvalidTopic
            | E::MessageSizeTooLarge
            | E::InvalidMessage
            | E::InvalidMessageSize
            | E::TopicAuthorizationFailed
            | E::InvalidRecord
    )
}

impl ProducerContext for Ctx {
    type DeliveryOpaque = Box<Seq>;

    fn delivery(&self, r: &DeliveryResult<'_>, seq: Box<Seq>) {
        let o = match r {
            Ok(_) => Outcome::Delivered,
            Err((e, m)) => {
                let why = format!("topic {}: {e}", m.topic());
                match e.rdkafka_error_code() {
                    Some(c) if permanent(c) => Outcome::Failed(why),
                    _ => Outcome::Retry(why),
                }
            }
        };
        self.reports
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((*seq, o));
    }
}

struct KafkaTransport {
    producer: BaseProducer<Ctx>,
}

impl Transport for KafkaTransport {
    fn send(&mut self, seq: Seq, env: &Envelope<'_>) -> Result<(), ()> {
        let topic = String::from_utf8_lossy(env.dest);
        let mut rec: BaseRecord<'_, [u8], [u8], Box<Seq>> =
            BaseRecord::with_opaque_to(&topic, Box::new(seq)).payload(env.payload);
        if let Some(k) = env.key {
            rec = rec.key(k);
        }
        match self.producer.send(rec) {
            Ok(()) => Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => Err(()),
            Err((e, r)) => {
                // Refused before it was queued (bad topic name, too large): report
                // it like a delivery failure.
                let code = e.rdkafka_error_code();
                let why = format!("topic {topic}: {e}");
                let o = if code.is_some_and(permanent) || code.is_none() {
                    Outcome::Failed(why)
                } else {
                    Outcome::Retry(why)
                };
                self.producer
                    .context()
                    .reports
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((*r.delivery_opaque, o));
                Ok(())
            }
        }
    }

    fn poll(&mut self, timeout: Duration, out: &mut Vec<(Seq, Outcome)>) {
        self.producer.poll(timeout);
        out.append(
            &mut self
                .producer
                .context()
                .reports
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
    }

    fn rewind_on_retry(&self) -> bool {
        false
    }

    fn close(&mut self, timeout: Duration, out: &mut Vec<(Seq, Outcome)>) {
        let _ = self.producer.flush(timeout);
        self.poll(Duration::ZERO, out);
    }
}

/// The librdkafka configuration from the options.
fn client_config(o: &ulogd_core::Options) -> Result<ClientConfig, PluginError> {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", o.str("brokers"));
    c.set(
        "enable.idempotence",
        if o.bool("idempotence") {
            "true"
        } else {
            "false"
        },
    );
    let acks = o.str("acks").to_ascii_lowercase();
    if !matches!(acks.as_str(), "all" | "-1" | "0" | "1") {
        return Err(PluginError::new(
            o.error("acks", format!("must be all, 1 or 0, not \"{acks}\""))
                .to_string(),
        ));
    }
    if o.bool("idempotence") && acks != "all" && acks != "-1" {
        return Err(PluginError::new(
            o.error(
                "acks",
                "the idempotent producer needs acks=all (or set idempotence=0)",
            )
            .to_string(),
        ));
    }
    c.set("acks", &acks);
    let comp = o.str("compression").to_ascii_lowercase();
    if !matches!(comp.as_str(), "none" | "gzip" | "snappy" | "lz4" | "zstd") {
        return Err(PluginError::new(
            o.error(
                "compression",
                format!("must be none, gzip, snappy, lz4 or zstd, not \"{comp}\""),
            )
            .to_string(),
        ));
    }
    c.set("compression.codec", &comp);
    // The spool (or the memory backlog) holds what librdkafka cannot deliver yet, so
    // librdkafka never gives up on a message by itself (0 = no timeout).
    c.set("message.timeout.ms", "0");
    c.set("queue.buffering.max.messages", "100000");
    for (k, v) in o.extra() {
        let Some(prop) = k.strip_prefix("kafka.") else {
            return Err(PluginError::new(
                o.error(
                    k,
                    "unknown option (librdkafka properties are written kafka.<name>)",
                )
                .to_string(),
            ));
        };
        c.set(prop, v);
    }
    // librdkafka checks every property now (unknown names, bad values), without
    // creating a client, so `ulogd --check` reports them too.
    if let Err(e) = c.create_native_config() {
        let key = o
            .extra()
            .map(|(k, _)| k)
            .find(|k| e.to_string().contains(k.trim_start_matches("kafka.")));
        return Err(PluginError::new(
            o.error(
                key.unwrap_or("brokers"),
                format!("librdkafka refuses the configuration: {e}"),
            )
            .to_string(),
        ));
    }
    Ok(c)
}

/// The KAFKA plugin.
pub(crate) fn spec() -> PluginSpec {
    let mut options = vec![
        OptionDef::string(
            "brokers",
            "127.0.0.1:9092",
            "bootstrap brokers, host:port,host:port",
        ),
        OptionDef::string("compression", "none", "none, gzip, snappy, lz4 or zstd"),
        OptionDef::string("acks", "all", "all, 1 or 0"),
        OptionDef::boolean(
            "idempotence",
            "1",
            "idempotent producer: no duplicates, order kept per partition",
        ),
    ];
    options.extend(super::common_options("topic", "ulogd"));
    options.push(OptionDef::any_other(
        "kafka.<name>=<value>: any librdkafka producer property",
    ));
    PluginSpec {
        name: "KAFKA",
        aliases: &[],
        kind: Kind::Sink,
        summary: "JSON objects to Kafka topics (librdkafka), with an optional disk spool",
        options,
        inputs: vec![],
        outputs: vec![],
        wildcard: true,
        build: Box::new(|ctx| {
            let o = ctx.options;
            let common = Common::from_options(o, "topic")?;
            let cfg = client_config(o)?;
            let name = format!("KAFKA {}", ctx.id);
            let spool = common.spool.clone();
            let pcfg = PumpConfig {
                name: name.clone(),
                batch: common.batch,
                max_in_flight: 100_000,
                log_interval: common.log_interval,
                drain_timeout: common.stop_timeout,
            };
            let queue_max = common.queue_max;
            let starter = Box::new(move |rx, stats: Arc<Stats>| {
                let backlog: Box<dyn Backlog> = match &spool {
                    Some(c) => Box::new(
                        Spool::open(c.clone())
                            .map_err(|e| PluginError::new(format!("{name}: {e}")))?,
                    ),
                    None => Box::new(MemBacklog::new(queue_max)),
                };
                let ctx = Ctx {
                    name: name.clone(),
                    reports: Mutex::new(Vec::new()),
                    last_error: Mutex::new(None),
                    log_interval: pcfg.log_interval,
                };
                let producer: BaseProducer<Ctx> = cfg
                    .create_with_context(ctx)
                    .map_err(|e| PluginError::new(format!("{name}: {e}")))?;
                let pcfg = pcfg.clone();
                std::thread::Builder::new()
                    .name(format!("kafka-{}", pcfg.name.trim_start_matches("KAFKA ")))
                    .spawn(move || {
                        let mut t = KafkaTransport { producer };
                        pump::run(pcfg, rx, backlog, &mut t, stats);
                    })
                    .map_err(PluginError::from)
            });
            Ok(Built::Stage {
                stage: Arc::new(Front::new("KAFKA", ctx.id, common, Charset::Topic, starter)),
                inputs: Inputs::All,
                outputs: vec![],
            })
        }),
    }
}
