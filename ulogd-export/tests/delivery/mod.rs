//! Shared by the KAFKA and NATS tests: a source that emits a numbered burst in
//! phases the test opens, and the engine around it.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ulogd_core::{
    Built, Emit, Flow, KeyDef, KeyType, Kind, PluginError, PluginSpec, Registry, Source,
    SourceSetup, Wake,
};

/// Emits events `0..total` with `oob.seq.local` = n, `ip.saddr.str` = one of 8
/// addresses and `oob.prefix` = "p{n % 2}", but only up to what `gate` allows.
struct Gated {
    next: u64,
    total: u64,
    gate: Arc<AtomicU64>,
}

impl Source for Gated {
    fn start(&mut self, _s: &mut dyn SourceSetup) -> Result<(), PluginError> {
        Ok(())
    }
    fn run(&mut self, _w: Wake, emit: &mut dyn Emit) -> Result<Flow, PluginError> {
        let allowed = self.gate.load(Ordering::Acquire).min(self.total);
        while self.next < allowed {
            let n = self.next;
            let addr = format!("10.0.0.{}", n % 8 + 1);
            let prefix = format!("p{}", n % 2);
            if emit
                .emit(&mut |ev| {
                    ev.set_u32(0, n as u32);
                    ev.set_str(1, &addr);
                    ev.set_str(2, &prefix);
                    true
                })
                .is_err()
            {
                return Ok(Flow::Idle);
            }
            self.next += 1;
        }
        if self.next >= self.total {
            return Ok(Flow::Finished);
        }
        std::thread::sleep(Duration::from_millis(2));
        Ok(Flow::Again)
    }
}

pub fn keys() -> Vec<KeyDef> {
    vec![
        KeyDef::new("oob.seq.local", KeyType::U32),
        KeyDef::new("ip.saddr.str", KeyType::String),
        KeyDef::new("oob.prefix", KeyType::String),
    ]
}

/// A registry with every output and the source `GATED`.
pub fn registry(total: u64, gate: Arc<AtomicU64>) -> Registry {
    let mut reg = Registry::new();
    ulogd_export::register(&mut reg);
    let outs = keys();
    reg.add(PluginSpec {
        name: "GATED",
        aliases: &[],
        kind: Kind::Source,
        summary: "test: numbered burst in phases",
        options: vec![],
        inputs: vec![],
        outputs: outs.clone(),
        wildcard: false,
        build: Box::new(move |_| {
            Ok(Built::Source {
                source: Box::new(Gated {
                    next: 0,
                    total,
                    gate: gate.clone(),
                }),
                outputs: outs.clone(),
            })
        }),
    });
    reg
}

/// The numbers in the JSON payloads, checked to be JSON (serde_json) with the keys.
pub fn seq_of(payload: &[u8]) -> u64 {
    let v: serde_json::Value = serde_json::from_slice(payload).expect("payload is JSON");
    assert!(v["ip.saddr.str"].is_string(), "{v}");
    v["oob.seq.local"].as_u64().expect("oob.seq.local")
}

/// Polls `f` until it is true or `limit` passed.
pub fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let t = Instant::now();
    while t.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

/// A fresh temporary directory, removed on drop.
pub struct TmpDir(pub std::path::PathBuf);

impl TmpDir {
    pub fn new(tag: &str) -> TmpDir {
        let p = std::env::temp_dir().join(format!("dl-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TmpDir(p)
    }
    pub fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
