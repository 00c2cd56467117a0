//! KAFKA against librdkafka's mock cluster (real brokers' protocol, in process):
//! a burst with every broker taken down and brought back mid-burst, through the
//! spool; every message is consumed back exactly once and in order per partition.
#![cfg(feature = "kafka")]

mod delivery;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use delivery::{registry, seq_of, wait_for, TmpDir};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::{ClientConfig, Message};
use ulogd_core::Engine;

fn consume_all(
    bootstrap: &str,
    topics: &[&str],
    want: usize,
) -> Vec<(String, i32, Vec<u8>, Vec<u8>)> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "dl-check")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    c.subscribe(topics).expect("subscribe");
    let mut got = Vec::new();
    wait_for(Duration::from_secs(60), || {
        while let Some(m) = c.poll(Duration::from_millis(100)) {
            let m = m.expect("message");
            got.push((
                m.topic().to_string(),
                m.partition(),
                m.key().unwrap_or_default().to_vec(),
                m.payload().unwrap_or_default().to_vec(),
            ));
        }
        got.len() >= want
    });
    // Anything beyond `want` would be a duplicate: give it a moment to show up.
    for _ in 0..10 {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(100)) {
            got.push((
                m.topic().to_string(),
                m.partition(),
                m.key().unwrap_or_default().to_vec(),
                m.payload().unwrap_or_default().to_vec(),
            ));
        }
    }
    got
}

#[test]
fn brokers_down_mid_burst_every_message_once_in_order_per_partition() {
    let cluster = MockCluster::new(3).expect("mock cluster");
    cluster.create_topic("ulogd.p0", 4, 1).unwrap();
    cluster.create_topic("ulogd.p1", 4, 1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let spool = TmpDir::new("kafka-spool");
    let total = 20_000u64;
    let gate = Arc::new(AtomicU64::new(0));
    let reg = registry(total, gate.clone());
    let conf = format!(
        "[global]\nlogfile=\"stdout\"\nstack=src:GATED,k:KAFKA\n\
         [k]\nbrokers=\"{bootstrap}\"\ntopic=\"ulogd.{{oob.prefix}}\"\nkey=\"{{ip.saddr.str}}\"\n\
         spool=1\nspool_dir=\"{}\"\nkafka.linger.ms=\"5\"\nlog_interval=1\nstop_timeout=30\n\
         kafka.reconnect.backoff.max.ms=200\n",
        spool.path()
    );
    let engine = Engine::from_str(&reg, "kafka.conf", &conf).expect("config");
    let run = std::thread::spawn(move || engine.run().expect("run"));

    // Phase 1: a third of the burst with the brokers up.
    gate.store(total / 3, Ordering::Release);
    std::thread::sleep(Duration::from_millis(500));
    // Phase 2: every broker down, the next third arrives meanwhile.
    for b in 1..=3 {
        cluster.broker_down(b).unwrap();
    }
    gate.store(2 * total / 3, Ordering::Release);
    std::thread::sleep(Duration::from_secs(3));
    // Nothing is confirmed while the brokers are down: the phase-2 records stay in
    // the spool's segments.
    let spooled_bytes_while_down: u64 = std::fs::read_dir(spool.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
        .map(|e| e.metadata().unwrap().len())
        .sum();
    // Phase 3: brokers back, the rest of the burst.
    for b in 1..=3 {
        cluster.broker_up(b).unwrap();
    }
    gate.store(total, Ordering::Release);
    let report = run.join().unwrap();

    let got = consume_all(&bootstrap, &["ulogd.p0", "ulogd.p1"], total as usize);
    assert!(
        spooled_bytes_while_down > (total / 3) * 100,
        "the spool held the records while the brokers were down ({spooled_bytes_while_down} bytes)"
    );
    assert_eq!(report.get("k", "delivered"), Some(total), "{report:?}");
    assert_eq!(report.get("k", "failed"), Some(0));
    assert_eq!(report.get("k", "depth"), Some(0));
    assert_eq!(report.get("k", "spooled"), Some(total));

    // Exactly once.
    let mut seen = vec![0u32; total as usize];
    let mut last: HashMap<(String, i32), u64> = HashMap::new();
    let mut key_part: HashMap<Vec<u8>, (String, i32)> = HashMap::new();
    for (topic, part, key, payload) in &got {
        let n = seq_of(payload);
        seen[n as usize] += 1;
        // The topic template and the key template were applied.
        assert_eq!(topic, &format!("ulogd.p{}", n % 2));
        assert_eq!(key, format!("10.0.0.{}", n % 8 + 1).as_bytes());
        // One key, one partition; and within a partition, the source's order.
        let tp = (topic.clone(), *part);
        assert_eq!(key_part.entry(key.clone()).or_insert(tp.clone()), &tp);
        if let Some(&prev) = last.get(&tp) {
            assert!(n > prev, "partition {tp:?}: {n} after {prev}");
        }
        last.insert(tp, n);
    }
    let missing = seen.iter().filter(|&&c| c == 0).count();
    let dups = seen.iter().filter(|&&c| c > 1).count();
    assert_eq!((missing, dups), (0, 0), "{} messages consumed", got.len());
}

#[test]
fn a_template_key_the_stack_lacks_is_a_start_up_error_naming_it() {
    let reg = registry(1, Arc::new(AtomicU64::new(0)));
    let conf =
        "[global]\nlogfile=\"stdout\"\nstack=src:GATED,k:KAFKA\n[k]\ntopic=\"ulogd.{oob.prefx}\"\n";
    let errs = match Engine::from_str(&reg, "bad.conf", conf) {
        Ok(_) => panic!("a missing key must be refused"),
        Err(e) => e
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n"),
    };
    assert!(errs.contains("oob.prefx"), "{errs}");
    assert!(errs.contains("bad.conf"), "{errs}");
    let conf =
        "[global]\nlogfile=\"stdout\"\nstack=src:GATED,k:KAFKA\n[k]\nkafka.no.such.property=1\n";
    let errs = match Engine::from_str(&reg, "bad.conf", conf) {
        Ok(_) => panic!("an unknown librdkafka property must be refused"),
        Err(e) => e
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n"),
    };
    assert!(errs.contains("kafka.no.such.property"), "{errs}");
}

#[test]
fn broker_unreachable_at_start_the_sink_starts_and_keeps_the_messages() {
    // Nothing listens on this port: the daemon must start anyway and keep the
    // messages in its spool for the next run.
    let spool = TmpDir::new("kafka-down");
    let reg = registry(100, Arc::new(AtomicU64::new(100)));
    let conf = format!(
        "[global]\nlogfile=\"stdout\"\nstack=src:GATED,k:KAFKA\n\
         [k]\nbrokers=\"127.0.0.1:1\"\nspool=1\nspool_dir=\"{}\"\n",
        spool.path()
    );
    let report = Engine::from_str(&reg, "down.conf", &conf)
        .unwrap()
        .run()
        .unwrap();
    assert_eq!(report.get("k", "delivered"), Some(0));
    assert_eq!(report.get("k", "depth"), Some(100), "{report:?}");
    // The next run replays them (to a cluster that is there now).
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("ulogd", 1, 1).unwrap();
    let reg = registry(0, Arc::new(AtomicU64::new(0)));
    let conf = conf.replace("127.0.0.1:1", &cluster.bootstrap_servers());
    let report = Engine::from_str(&reg, "up.conf", &conf)
        .unwrap()
        .run()
        .unwrap();
    assert_eq!(report.get("k", "replayed"), Some(100), "{report:?}");
    assert_eq!(report.get("k", "delivered"), Some(100));
    let got = consume_all(&cluster.bootstrap_servers(), &["ulogd"], 100);
    let mut n: Vec<u64> = got.iter().map(|g| seq_of(&g.3)).collect();
    n.sort();
    assert_eq!(n, (0..100).collect::<Vec<_>>());
}

#[test]
fn an_unknown_topic_is_counted_as_failed_and_the_rest_goes_on() {
    use rdkafka::types::RDKafkaRespErr;
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("ulogd.p0", 1, 1).unwrap();
    cluster
        .topic_error(
            "ulogd.p1",
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
        )
        .unwrap();
    let reg = registry(100, Arc::new(AtomicU64::new(100)));
    let conf = format!(
        "[global]\nlogfile=\"stdout\"\nstack=src:GATED,k:KAFKA\n\
         [k]\nbrokers=\"{}\"\ntopic=\"ulogd.{{oob.prefix}}\"\nstop_timeout=20\n\
         kafka.topic.metadata.propagation.max.ms=300\nkafka.allow.auto.create.topics=false\n",
        cluster.bootstrap_servers()
    );
    let report = Engine::from_str(&reg, "unknown.conf", &conf)
        .unwrap()
        .run()
        .unwrap();
    assert_eq!(report.get("k", "delivered"), Some(50), "{report:?}");
    assert_eq!(report.get("k", "failed"), Some(50), "{report:?}");
    assert_eq!(report.get("k", "depth"), Some(0), "{report:?}");
    let got = consume_all(&cluster.bootstrap_servers(), &["ulogd.p0"], 50);
    assert_eq!(got.len(), 50);
    assert!(got.iter().all(|g| seq_of(&g.3).is_multiple_of(2)));
}
