//! GRAPHITE: NFACCT sums as Carbon plaintext over TCP.

use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ulogd_core::{
    Built, Event, Inputs, KeyDef, KeyType, Kind, OptionDef, PluginError, PluginSpec, Ret, Signal,
    Stage,
};

use crate::file::c_str;
use crate::net::{Endpoint, NetConn};
use crate::time;

/// The two Carbon lines of one sum.
pub(crate) fn format_lines(
    out: &mut Vec<u8>,
    prefix: &str,
    name: &[u8],
    pkts: u64,
    bytes: u64,
    ts: i64,
) {
    for (what, v) in [("pkts", pkts), ("bytes", bytes)] {
        out.extend_from_slice(prefix.as_bytes());
        out.push(b'.');
        out.extend_from_slice(c_str(name));
        let _ = writeln!(out, ".{what} {v} {ts}");
    }
}

struct Inner {
    conn: NetConn,
    buf: Vec<u8>,
}

struct Graphite {
    prefix: String,
    inner: Mutex<Inner>,
}

impl Graphite {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Stage for Graphite {
    fn start(&self) -> Result<(), PluginError> {
        let mut g = self.lock();
        g.conn.connect_now();
        if !g.conn.is_connected() {
            log::warn!(
                "GRAPHITE: {} is not reachable; sums are dropped until it is",
                g.conn.ep.describe()
            );
        }
        Ok(())
    }

    fn interp(&self, ev: &mut Event<'_>) -> Ret {
        let Some(name) = ev.bytes(0) else {
            return Ret::Ok;
        };
        let ts = ev
            .u64(3)
            .map(|s| s as u32 as i64)
            .unwrap_or_else(|| time::now().0);
        let mut g = self.lock();
        let Inner { conn, buf } = &mut *g;
        buf.clear();
        format_lines(
            buf,
            &self.prefix,
            name,
            ev.u64(1).unwrap_or(0),
            ev.u64(2).unwrap_or(0),
            ts,
        );
        if conn.send(buf) {
            Ret::Ok
        } else {
            Ret::Err
        }
    }

    fn signal(&self, _sig: Signal) {}

    fn tick(&self) {
        let ep = {
            let mut g = self.lock();
            g.conn.check_peer();
            g.conn.reconnect_due()
        };
        if let Some(ep) = ep {
            let r = ep.connect();
            self.lock().conn.install(r);
        }
    }

    fn tick_interval(&self) -> Option<Duration> {
        Some(Duration::from_secs(1))
    }

    fn stop(&self) {
        self.lock().conn.drop_socket();
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        let g = self.lock();
        vec![
            ("sent", g.conn.sent),
            ("lost", g.conn.lost),
            ("connects", g.conn.connects),
        ]
    }
}

/// The GRAPHITE plugin.
pub(crate) fn spec() -> PluginSpec {
    let inputs = vec![
        KeyDef::new("sum.name", KeyType::String),
        KeyDef::new("sum.pkts", KeyType::Any),
        KeyDef::new("sum.bytes", KeyType::Any),
        KeyDef::new("oob.time.sec", KeyType::Any).optional(),
    ];
    PluginSpec {
        name: "GRAPHITE",
        aliases: &[],
        kind: Kind::Sink,
        summary: "NFACCT counters to a Carbon (Graphite) server over TCP",
        options: vec![
            OptionDef::string("host", "", "Carbon server host").required(),
            OptionDef::string("port", "", "Carbon server port").required(),
            OptionDef::string("prefix", "", "metric name prefix"),
        ],
        inputs: inputs.clone(),
        outputs: vec![],
        wildcard: false,
        build: Box::new(move |ctx| {
            let o = ctx.options;
            if o.str("port").parse::<u16>().is_err() {
                return Err(PluginError::new(
                    o.error("port", "must be a port number").to_string(),
                ));
            }
            Ok(Built::Stage {
                stage: Arc::new(Graphite {
                    prefix: o.str("prefix").to_string(),
                    inner: Mutex::new(Inner {
                        conn: NetConn::new(Endpoint::Tcp(
                            o.str("host").into(),
                            o.str("port").into(),
                        )),
                        buf: Vec::with_capacity(256),
                    }),
                }),
                inputs: Inputs::Keys(inputs.clone()),
                outputs: vec![],
            })
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carbon_lines() {
        let mut v = Vec::new();
        format_lines(&mut v, "netfilter.nfacct", b"udp2000", 5, 150, 1795560711);
        // samples/graphite-nfacct.txt
        assert_eq!(
            String::from_utf8(v).unwrap(),
            "netfilter.nfacct.udp2000.pkts 5 1795560711\nnetfilter.nfacct.udp2000.bytes 150 1795560711\n"
        );
    }
}
