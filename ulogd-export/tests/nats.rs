//! NATS against a real `nats-server` (Debian's package) with JetStream: the server
//! is killed and restarted mid-burst while the sink spools; afterwards every message
//! is in the stream exactly once (read back with a JetStream pull consumer), thanks
//! to the `Nats-Msg-Id` de-duplication of what was sent again.
#![cfg(feature = "nats")]

mod delivery;

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use delivery::{registry, seq_of, wait_for, TmpDir};
use futures_util::StreamExt;
use ulogd_core::Engine;

/// A nats-server with JetStream on a loopback port, killed by its pid on drop.
pub struct NatsServer {
    child: Option<Child>,
    pub port: u16,
    store: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl NatsServer {
    /// `None` (with the reason printed) where nats-server is not installed, except
    /// under CI=true, where that is a failure.
    pub fn start(store: &str) -> Option<NatsServer> {
        let bin = ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists());
        let Some(_) = bin else {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("nats-server is not installed (.ci/install-deps installs it)");
            }
            eprintln!("SKIP: nats-server is not installed (apt-get install nats-server)");
            return None;
        };
        let mut s = NatsServer {
            child: None,
            port: free_port(),
            store: store.to_string(),
        };
        s.spawn();
        Some(s)
    }

    pub fn spawn(&mut self) {
        let bin = ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .unwrap();
        let child = Command::new(bin)
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
                &self.store,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts");
        self.child = Some(child);
        let port = self.port;
        assert!(
            wait_for(Duration::from_secs(10), || std::net::TcpStream::connect((
                "127.0.0.1",
                port
            ))
            .is_ok()),
            "nats-server listens on {port}"
        );
    }

    /// SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Every message of `stream`, read with a pull consumer: (subject, msg id, payload).
pub fn read_stream(url: &str, stream: &str) -> (u64, Vec<(String, String, Vec<u8>)>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = async_nats::connect(url).await.expect("connect");
        let js = jetstream::new(client);
        let mut st = js.get_stream(stream).await.expect("stream exists");
        let count = st.info().await.unwrap().state.messages;
        let consumer = st
            .create_consumer(jetstream::consumer::pull::Config {
                ack_policy: jetstream::consumer::AckPolicy::None,
                ..Default::default()
            })
            .await
            .unwrap();
        let mut out = Vec::new();
        while (out.len() as u64) < count {
            let mut batch = consumer
                .fetch()
                .max_messages(1000)
                .expires(Duration::from_secs(2))
                .messages()
                .await
                .unwrap();
            let before = out.len();
            while let Some(m) = batch.next().await {
                let m = m.unwrap();
                let id = m
                    .headers
                    .as_ref()
                    .and_then(|h| h.get("Nats-Msg-Id"))
                    .map(|v| v.to_string())
                    .unwrap_or_default();
                out.push((m.subject.to_string(), id, m.payload.to_vec()));
            }
            if out.len() == before {
                break;
            }
        }
        (count, out)
    })
}

#[test]
fn server_killed_and_restarted_mid_burst_every_message_once() {
    let store = TmpDir::new("nats-store");
    let Some(mut server) = NatsServer::start(store.path()) else {
        return;
    };
    let spool = TmpDir::new("nats-spool");
    let total = 20_000u64;
    let gate = Arc::new(AtomicU64::new(0));
    let reg = registry(total, gate.clone());
    let conf = format!(
        "[global]\nlogfile=\"stdout\"\nstack=src:GATED,n:NATS\n\
         [n]\nservers=\"{}\"\nsubject=\"ulogd.{{oob.prefix}}\"\nstream=\"ULOGD\"\n\
         spool=1\nspool_dir=\"{}\"\nack_timeout_ms=1000\nlog_interval=1\nstop_timeout=60\n",
        server.url(),
        spool.path()
    );
    let engine = Engine::from_str(&reg, "nats.conf", &conf).expect("config");
    let run = std::thread::spawn(move || engine.run().expect("run"));
    gate.store(total / 3, Ordering::Release);
    std::thread::sleep(Duration::from_millis(800));
    server.kill();
    gate.store(2 * total / 3, Ordering::Release);
    std::thread::sleep(Duration::from_secs(2));
    server.spawn();
    gate.store(total, Ordering::Release);
    let report = run.join().unwrap();
    eprintln!("{report:?}");
    assert!(
        report.get("n", "retried") > Some(0),
        "the outage made the sink send again"
    );
    assert_eq!(report.get("n", "delivered"), Some(total), "{report:?}");
    assert_eq!(report.get("n", "depth"), Some(0), "{report:?}");

    let (count, msgs) = read_stream(&server.url(), "ULOGD");
    let mut seen = vec![0u32; total as usize];
    for (subject, id, payload) in &msgs {
        let n = seq_of(payload);
        assert_eq!(subject, &format!("ulogd.p{}", n % 2));
        assert!(id.ends_with(&format!(".{n}")), "msg id {id} of {n}");
        seen[n as usize] += 1;
    }
    let missing = seen.iter().filter(|&&c| c == 0).count();
    let dups = seen.iter().filter(|&&c| c > 1).count();
    assert_eq!((count, missing, dups), (total, 0, 0), "{} read", msgs.len());
}
