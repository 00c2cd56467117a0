//! NATS: events as the JSON sink's objects published to JetStream subjects, through
//! `async-nats` on a tokio runtime owned by the sink's thread.
//!
//! Every message carries a `Nats-Msg-Id` made of the backlog's id and the record's
//! sequence number: after a reconnect (or a restart replaying the spool) the pump
//! sends again from the first record without a publish ack, and the server drops
//! what it already stored (its duplicate window, 2 minutes by default). Publish
//! acks are awaited in batches, in order.

use std::collections::VecDeque;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, context::PublishError, publish::PublishAck};
use async_nats::{header, HeaderMap};
use ulogd_core::{Built, Inputs, Kind, OptionDef, PluginError, PluginSpec};

use super::backlog::{Backlog, MemBacklog};
use super::envelope::Envelope;
use super::pump::{self, Outcome, PumpConfig, Transport};
use super::template::Charset;
use super::{Common, Front, Stats};
use crate::spool::{Seq, Spool};

type AckFuture = Pin<Box<dyn Future<Output = Result<PublishAck, PublishError>> + Send>>;

struct NatsTransport {
    rt: tokio::runtime::Runtime,
    js: jetstream::Context,
    id: String,
    pending: VecDeque<(Seq, AckFuture)>,
    early: Vec<(Seq, Outcome)>,
    stream: Option<(String, Vec<String>)>,
    name: String,
}

impl NatsTransport {
    /// Creates the stream if the sink was asked to (`stream=`), once it can.
    fn ensure_stream(&mut self) {
        let Some((name, subjects)) = self.stream.clone() else {
            return;
        };
        let js = self.js.clone();
        let r = self.rt.block_on(async {
            tokio::time::timeout(
                Duration::from_secs(2),
                js.get_or_create_stream(jetstream::stream::Config {
                    name: name.clone(),
                    subjects,
                    ..Default::default()
                }),
            )
            .await
        });
        match r {
            Ok(Ok(_)) => self.stream = None,
            Ok(Err(e)) => log::debug!("{}: stream {name} not ready: {e}", self.name),
            Err(_) => {}
        }
    }
}

impl Transport for NatsTransport {
    fn send(&mut self, seq: Seq, env: &Envelope<'_>) -> Result<(), ()> {
        if self.stream.is_some() {
            self.ensure_stream();
            if self.stream.is_some() {
                return Err(());
            }
        }
        let subject = String::from_utf8_lossy(env.dest).into_owned();
        let mut h = HeaderMap::new();
        h.insert(
            header::NATS_MESSAGE_ID,
            format!("{}.{seq}", self.id).as_str(),
        );
        let payload = bytes::Bytes::copy_from_slice(env.payload);
        let js = self.js.clone();
        let r = self.rt.block_on(async {
            tokio::time::timeout(
                Duration::from_secs(1),
                js.publish_with_headers(subject, h, payload),
            )
            .await
        });
        match r {
            Ok(Ok(f)) => {
                self.pending.push_back((seq, f.into_future()));
                Ok(())
            }
            Ok(Err(e)) => {
                self.early.push((seq, Outcome::Retry(e.to_string())));
                Ok(())
            }
            Err(_) => Err(()), // the client's buffer is full: later
        }
    }

    fn poll(&mut self, timeout: Duration, out: &mut Vec<(Seq, Outcome)>) {
        out.append(&mut self.early);
        let pending = &mut self.pending;
        self.rt.block_on(async {
            let deadline = tokio::time::Instant::now() + timeout;
            while let Some((seq, fut)) = pending.front_mut() {
                let seq = *seq;
                match tokio::time::timeout_at(deadline, fut.as_mut()).await {
                    Ok(Ok(_ack)) => {
                        out.push((seq, Outcome::Delivered));
                        pending.pop_front();
                    }
                    Ok(Err(e)) => {
                        // Everything after it is sent again too (rewind).
                        out.push((seq, Outcome::Retry(e.to_string())));
                        pending.clear();
                    }
                    Err(_) => break,
                }
            }
        });
    }

    fn rewind_on_retry(&self) -> bool {
        true
    }

    fn close(&mut self, timeout: Duration, out: &mut Vec<(Seq, Outcome)>) {
        self.poll(timeout, out);
    }
}

/// The subjects a stream created by the sink captures: each key of the template
/// becomes `*`, the last one `>` (a value with dots spans several tokens).
fn stream_subjects(subject: &str) -> String {
    let mut out = String::new();
    let mut in_key = false;
    for c in subject.chars() {
        match c {
            '{' => in_key = true,
            '}' => {
                in_key = false;
                out.push('*');
            }
            c if !in_key => out.push(c),
            _ => {}
        }
    }
    if let Some(i) = out.rfind('*') {
        if !out[i + 1..].contains('.') {
            out.replace_range(i..i + 1, ">");
            out.truncate(i + 1);
        }
    }
    out
}

/// The NATS plugin.
pub(crate) fn spec() -> PluginSpec {
    let mut options = vec![
        OptionDef::string(
            "servers",
            "nats://127.0.0.1:4222",
            "NATS servers, comma separated",
        ),
        OptionDef::string(
            "stream",
            "",
            "create this JetStream stream for the subjects if missing",
        ),
        OptionDef::int(
            "ack_timeout_ms",
            "5000",
            "how long to wait for a publish ack before sending again",
        ),
    ];
    options.extend(super::common_options("subject", "ulogd"));
    PluginSpec {
        name: "NATS",
        aliases: &[],
        kind: Kind::Sink,
        summary: "JSON objects to NATS JetStream subjects, de-duplicated by message id, with an optional disk spool",
        options,
        inputs: vec![],
        outputs: vec![],
        wildcard: true,
        build: Box::new(|ctx| {
            let o = ctx.options;
            let common = Common::from_options(o, "subject")?;
            let servers: Vec<String> = o
                .str("servers")
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            if servers.is_empty() {
                return Err(PluginError::new(o.error("servers", "no server given").to_string()));
            }
            for s in &servers {
                if s.parse::<async_nats::ServerAddr>().is_err() {
                    return Err(PluginError::new(
                        o.error("servers", format!("\"{s}\" is not a NATS server address")).to_string(),
                    ));
                }
            }
            let ack_timeout = Duration::from_millis(o.int("ack_timeout_ms").max(100) as u64);
            let stream = match o.str("stream") {
                "" => None,
                s => Some((s.to_string(), vec![stream_subjects(o.str("subject"))])),
            };
            let name = format!("NATS {}", ctx.id);
            let spool = common.spool.clone();
            let pcfg = PumpConfig {
                name: name.clone(),
                batch: common.batch,
                max_in_flight: common.batch * 4,
                log_interval: common.log_interval,
                drain_timeout: common.stop_timeout,
            };
            let queue_max = common.queue_max;
            let starter = Box::new(move |rx, stats: Arc<Stats>| {
                let backlog: Box<dyn Backlog> = match &spool {
                    Some(c) => Box::new(Spool::open(c.clone()).map_err(|e| PluginError::new(format!("{name}: {e}")))?),
                    None => Box::new(MemBacklog::new(queue_max)),
                };
                let id = backlog.id().to_string();
                let (servers, stream, name, pcfg) = (servers.clone(), stream.clone(), name.clone(), pcfg.clone());
                std::thread::Builder::new()
                    .name(format!("nats-{}", name.trim_start_matches("NATS ")))
                    .spawn(move || {
                        let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                            Ok(rt) => rt,
                            Err(e) => {
                                log::error!("{name}: no tokio runtime: {e}");
                                return;
                            }
                        };
                        let cname = name.clone();
                        let client = rt.block_on(async {
                            async_nats::ConnectOptions::new()
                                .name(format!("ulogd {cname}"))
                                .retry_on_initial_connect()
                                .max_reconnects(None)
                                .connect(servers)
                                .await
                        });
                        let client = match client {
                            Ok(c) => c,
                            Err(e) => {
                                log::error!("{name}: {e}");
                                return;
                            }
                        };
                        // The JetStream context spawns tasks: it needs the runtime.
                        let guard = rt.enter();
                        let mut js = jetstream::new(client);
                        drop(guard);
                        js.set_timeout(ack_timeout);
                        let mut t = NatsTransport {
                            rt,
                            js,
                            id,
                            pending: VecDeque::new(),
                            early: Vec::new(),
                            stream,
                            name,
                        };
                        pump::run(pcfg, rx, backlog, &mut t, stats);
                    })
                    .map_err(PluginError::from)
            });
            Ok(Built::Stage {
                stage: Arc::new(Front::new("NATS", ctx.id, common, Charset::Subject, starter)),
                inputs: Inputs::All,
                outputs: vec![],
            })
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_of_a_created_stream() {
        assert_eq!(stream_subjects("ulogd"), "ulogd");
        assert_eq!(stream_subjects("ulogd.{oob.prefix}"), "ulogd.>");
        assert_eq!(stream_subjects("a.{x}.b.{y}"), "a.*.b.>");
        assert_eq!(stream_subjects("a.{x}.b"), "a.*.b");
    }
}
