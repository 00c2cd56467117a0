//! The collector's socket edge: UDP datagrams read on the event loop, TCP
//! connections (IPFIX framed by the message length) served by one thread of the
//! source with an emitter of its own. It reads the clock and the sockets and hands
//! bytes to a [`Decoder`]; everything about their meaning is there.

use std::collections::HashMap;
use std::io::{self, Read};
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ulogd_core::{Emit, Flow, PluginError, Source, SourceSetup, Wake};

use super::decoder::{Decoded, Decoder, Limits, Resume, Stats};
use super::fill::fill;

/// Largest datagram.
const DGRAM_MAX: usize = 65536;

/// A datagram whose records were not all emitted (the pool ran out).
struct Pending {
    len: usize,
    peer: SocketAddr,
    resume: Resume,
}

/// The source.
pub(crate) struct Collector {
    udp_addrs: Vec<SocketAddr>,
    tcp_addrs: Vec<SocketAddr>,
    udp: Vec<UdpSocket>,
    fds: Vec<usize>,
    dec: Decoder,
    stats: Arc<Stats>,
    limits: Limits,
    buf: Vec<u8>,
    pending: Option<Pending>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Collector {
    pub(crate) fn new(
        udp_addrs: Vec<SocketAddr>,
        tcp_addrs: Vec<SocketAddr>,
        limits: Limits,
    ) -> Self {
        let stats: Arc<Stats> = Arc::default();
        Collector {
            udp_addrs,
            tcp_addrs,
            udp: Vec::new(),
            fds: Vec::new(),
            dec: Decoder::with_stats(limits, stats.clone()),
            stats,
            limits,
            buf: vec![0u8; DGRAM_MAX],
            pending: None,
            stop: Arc::new(AtomicBool::new(false)),
            thread: None,
        }
    }
}

fn resolve(s: &str) -> Result<SocketAddr, String> {
    let hp = s.trim();
    let (host, port) = if let Some(r) = hp.strip_prefix('[') {
        let (h, p) = r.split_once(']').ok_or("missing ']'")?;
        (h, p.trim_start_matches(':'))
    } else {
        hp.rsplit_once(':').ok_or("missing :port")?
    };
    let port: u16 = port.parse().map_err(|_| format!("bad port \"{port}\""))?;
    let host = if host.is_empty() { "0.0.0.0" } else { host };
    (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("{host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host}: no address"))
}

/// Parses `listen`: a comma-separated list of `udp://addr:port` and `tcp://addr:port`.
pub(crate) fn parse_listen(s: &str) -> Result<(Vec<SocketAddr>, Vec<SocketAddr>), String> {
    let (mut u, mut t) = (Vec::new(), Vec::new());
    for item in s.split(',').map(str::trim).filter(|x| !x.is_empty()) {
        let (scheme, rest) = item
            .split_once("://")
            .ok_or_else(|| format!("\"{item}\" is not udp://addr:port or tcp://addr:port"))?;
        let a = resolve(rest).map_err(|e| format!("\"{item}\": {e}"))?;
        match scheme.to_ascii_lowercase().as_str() {
            "udp" => u.push(a),
            "tcp" => t.push(a),
            other => return Err(format!("\"{item}\": transport \"{other}\" (udp or tcp)")),
        }
    }
    if u.is_empty() && t.is_empty() {
        return Err("nothing to listen on".into());
    }
    Ok((u, t))
}

/// What the start of a TCP stream buffer holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Frame {
    /// Not a whole message yet.
    Partial,
    /// A whole IPFIX message of this many bytes.
    Message(usize),
    /// Not an IPFIX stream: the connection is closed.
    Bad { version: u16, len: u16 },
}

/// Frames an IPFIX-over-TCP stream by the message length field (RFC 7011 §10.4).
pub(crate) fn next_frame(b: &[u8]) -> Frame {
    if b.len() < 16 {
        return Frame::Partial;
    }
    let version = u16::from_be_bytes([b[0], b[1]]);
    let len = u16::from_be_bytes([b[2], b[3]]);
    if version != 10 || len < 16 {
        return Frame::Bad { version, len };
    }
    if b.len() < len as usize {
        Frame::Partial
    } else {
        Frame::Message(len as usize)
    }
}

/// One TCP connection of the collector thread.
struct Conn {
    stream: mio::net::TcpStream,
    peer: SocketAddr,
    buf: Vec<u8>,
    dec: Decoder,
}

/// Emits the records of one message through `emit`.
fn decode_into(
    dec: &mut Decoder,
    peer: SocketAddr,
    msg: &[u8],
    resume: Option<Resume>,
    emit: &mut dyn Emit,
) -> Decoded {
    dec.process(peer, msg, resume, Instant::now(), &mut |h, rec| {
        emit.emit(&mut |ev| {
            fill(ev, h, peer, rec);
            true
        })
        .is_ok()
    })
}

impl Conn {
    /// Decodes the whole messages buffered; false when the stream is not IPFIX.
    fn decode_buffered(&mut self, emit: &mut dyn Emit, stats: &Stats) -> bool {
        let mut at = 0;
        let mut ok = true;
        loop {
            match next_frame(&self.buf[at..]) {
                Frame::Partial => break,
                Frame::Message(len) => {
                    // The thread emitter never runs out of bundles.
                    let _ = decode_into(
                        &mut self.dec,
                        self.peer,
                        &self.buf[at..at + len],
                        None,
                        emit,
                    );
                    at += len;
                }
                Frame::Bad { version, len } => {
                    log::warn!(
                        "IPFIXCOL: {}: not an IPFIX stream (version {version}, length {len}); closing",
                        self.peer
                    );
                    stats.bad_messages_inc();
                    ok = false;
                    break;
                }
            }
        }
        self.buf.drain(..at);
        ok
    }
}

fn tcp_thread(
    listeners: Vec<std::net::TcpListener>,
    mut emit: Box<dyn Emit + Send>,
    stop: Arc<AtomicBool>,
    limits: Limits,
    stats: Arc<Stats>,
) {
    let Ok(mut poll) = mio::Poll::new() else {
        log::error!("IPFIXCOL: can't create a poller; TCP input disabled");
        return;
    };
    let mut ls = Vec::new();
    for (i, l) in listeners.into_iter().enumerate() {
        let _ = l.set_nonblocking(true);
        let mut l = mio::net::TcpListener::from_std(l);
        if poll
            .registry()
            .register(&mut l, mio::Token(i), mio::Interest::READABLE)
            .is_ok()
        {
            ls.push(l);
        }
    }
    // TCP templates live as long as their connection.
    let conn_limits = Limits {
        template_timeout: Duration::ZERO,
        ..limits
    };
    let base = 1usize << 20;
    let mut conns: HashMap<usize, Conn> = HashMap::new();
    let mut next = base;
    let mut events = mio::Events::with_capacity(64);
    let mut chunk = vec![0u8; 65536];
    while !stop.load(Ordering::Relaxed) {
        if let Err(e) = poll.poll(&mut events, Some(Duration::from_millis(100))) {
            if e.kind() != io::ErrorKind::Interrupted {
                log::error!("IPFIXCOL: poll: {e}");
                return;
            }
            continue;
        }
        for ev in events.iter() {
            let tok = ev.token().0;
            if tok < base {
                let Some(l) = ls.get(tok) else { continue };
                loop {
                    match l.accept() {
                        Ok((mut s, peer)) => {
                            // Each connection is an exporter: the same bound.
                            if conns.len() >= limits.max_exporters {
                                stats.connections_refused_inc();
                                log::warn!(
                                    "IPFIXCOL: refusing {peer}: {} TCP exporters connected (max_exporters)",
                                    conns.len()
                                );
                                continue;
                            }
                            let t = next;
                            next += 1;
                            if poll
                                .registry()
                                .register(&mut s, mio::Token(t), mio::Interest::READABLE)
                                .is_err()
                            {
                                continue;
                            }
                            stats.connections_inc();
                            log::info!("IPFIXCOL: exporter {peer} connected over TCP");
                            conns.insert(
                                t,
                                Conn {
                                    stream: s,
                                    peer,
                                    buf: Vec::new(),
                                    dec: Decoder::with_stats(conn_limits, stats.clone()),
                                },
                            );
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => {
                            log::warn!("IPFIXCOL: accept: {e}");
                            break;
                        }
                    }
                }
                continue;
            }
            let mut close = false;
            if let Some(c) = conns.get_mut(&tok) {
                loop {
                    match c.stream.read(&mut chunk) {
                        Ok(0) => {
                            close = true;
                            break;
                        }
                        Ok(n) => c.buf.extend_from_slice(&chunk[..n]),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(_) => {
                            close = true;
                            break;
                        }
                    }
                }
                if !c.decode_buffered(emit.as_mut(), &stats) {
                    close = true;
                }
            }
            if close {
                if let Some(mut c) = conns.remove(&tok) {
                    let _ = poll.registry().deregister(&mut c.stream);
                    c.dec.forget(c.peer);
                    log::info!("IPFIXCOL: exporter {} disconnected", c.peer);
                }
            }
        }
    }
    // Stopping: decode what the exporters already sent before closing.
    for (_, mut c) in conns.drain() {
        loop {
            match c.stream.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => c.buf.extend_from_slice(&chunk[..n]),
            }
        }
        c.decode_buffered(emit.as_mut(), &stats);
        c.dec.forget(c.peer);
    }
}

impl Source for Collector {
    fn start(&mut self, setup: &mut dyn SourceSetup) -> Result<(), PluginError> {
        for a in &self.udp_addrs {
            let s = UdpSocket::bind(a)
                .map_err(|e| PluginError::new(format!("IPFIXCOL: can't bind udp {a}: {e}")))?;
            s.set_nonblocking(true)?;
            // Room for bursts: 4 MiB if allowed (best effort).
            let sz: libc::c_int = 4 << 20;
            // SAFETY: setsockopt with a c_int we own, on our socket.
            unsafe {
                libc::setsockopt(
                    s.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_RCVBUF,
                    (&sz as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
            }
            self.fds.push(setup.add_fd(s.as_raw_fd()));
            self.udp.push(s);
        }
        if !self.tcp_addrs.is_empty() {
            let mut ls = Vec::new();
            for a in &self.tcp_addrs {
                ls.push(std::net::TcpListener::bind(a).map_err(|e| {
                    PluginError::new(format!("IPFIXCOL: can't listen on tcp {a}: {e}"))
                })?);
            }
            let emit = setup.thread_emitter();
            let (stop, limits, stats) = (self.stop.clone(), self.limits, self.stats.clone());
            self.thread = Some(
                std::thread::Builder::new()
                    .name("ipfixcol-tcp".into())
                    .spawn(move || tcp_thread(ls, emit, stop, limits, stats))?,
            );
        }
        Ok(())
    }

    fn run(&mut self, wake: Wake, emit: &mut dyn Emit) -> Result<Flow, PluginError> {
        // Finish a datagram left half-emitted first.
        if let Some(p) = self.pending.take() {
            let d = decode_into(
                &mut self.dec,
                p.peer,
                &self.buf[..p.len],
                Some(p.resume),
                emit,
            );
            if let Some(resume) = d.blocked {
                self.pending = Some(Pending { resume, ..p });
                return Ok(Flow::Idle);
            }
        }
        let which: Vec<usize> = match wake {
            Wake::Readable(fd) => self.fds.iter().position(|&f| f == fd).into_iter().collect(),
            _ => (0..self.udp.len()).collect(),
        };
        for i in which {
            loop {
                let (len, peer) = match self.udp[i].recv_from(&mut self.buf) {
                    Ok(x) => x,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        log::warn!("IPFIXCOL: recv: {e}");
                        break;
                    }
                };
                let d = decode_into(&mut self.dec, peer, &self.buf[..len], None, emit);
                if let Some(resume) = d.blocked {
                    self.pending = Some(Pending { len, peer, resume });
                    return Ok(Flow::Idle);
                }
            }
        }
        Ok(Flow::Idle)
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.udp.clear();
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        self.stats.snapshot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_framing() {
        let mut m = vec![0, 10, 0, 20];
        m.resize(20, 7);
        assert_eq!(next_frame(&m[..15]), Frame::Partial);
        assert_eq!(next_frame(&m[..19]), Frame::Partial);
        assert_eq!(next_frame(&m), Frame::Message(20));
        let mut two = m.clone();
        two.extend_from_slice(&m);
        assert_eq!(next_frame(&two), Frame::Message(20));
        assert_eq!(
            next_frame(&[0, 9, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            Frame::Bad {
                version: 9,
                len: 20
            }
        );
        // A length below the header would never advance.
        assert_eq!(
            next_frame(&[0, 10, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            Frame::Bad {
                version: 10,
                len: 3
            }
        );
    }

    #[test]
    fn listen_forms() {
        let (u, t) = parse_listen("udp://127.0.0.1:4739, tcp://[::1]:4740").unwrap();
        assert_eq!(u, vec!["127.0.0.1:4739".parse().unwrap()]);
        assert_eq!(t, vec!["[::1]:4740".parse().unwrap()]);
        assert!(parse_listen("").is_err());
        assert!(parse_listen("sctp://1.2.3.4:1").is_err());
        assert!(parse_listen("udp://1.2.3.4").is_err());
        assert!(parse_listen("udp://1.2.3.4:99999").is_err());
    }
}
