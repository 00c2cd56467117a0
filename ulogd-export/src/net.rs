//! A reconnecting stream/datagram client for JSON's socket modes and GRAPHITE.
//!
//! Connecting never fails a start: while the peer is down, records are dropped and
//! counted as lost; [`NetConn::reconnect_due`] / [`NetConn::connect_now`] retry with
//! exponential backoff (1 s doubling to 30 s), run from `tick()` outside the write
//! lock, so a slow connect never stalls the worker threads.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// Where to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// TCP to host, port (names resolved with getaddrinfo; IPv6 literals allowed).
    Tcp(String, String),
    /// UDP to host, port: one datagram per record.
    Udp(String, String),
    /// Unix stream socket path.
    Unix(String),
}

/// A connected socket.
pub(crate) enum Sock {
    Tcp(TcpStream),
    Udp(UdpSocket),
    Unix(UnixStream),
}

const CONNECT_TIMEOUT: Duration = Duration::from_millis(300);
const WRITE_TIMEOUT: Duration = Duration::from_millis(500);
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

impl Endpoint {
    /// Connects once (bounded by a short timeout per address).
    pub fn connect(&self) -> io::Result<Sock> {
        match self {
            Endpoint::Unix(p) => {
                let s = UnixStream::connect(p)?;
                s.set_write_timeout(Some(WRITE_TIMEOUT))?;
                Ok(Sock::Unix(s))
            }
            Endpoint::Tcp(h, p) | Endpoint::Udp(h, p) => {
                let port: u16 = p
                    .parse()
                    .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "bad port"))?;
                let host = h.trim_start_matches('[').trim_end_matches(']');
                let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs()?.collect();
                let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
                for a in addrs {
                    let r = if matches!(self, Endpoint::Tcp(..)) {
                        TcpStream::connect_timeout(&a, CONNECT_TIMEOUT).and_then(|s| {
                            s.set_write_timeout(Some(WRITE_TIMEOUT))?;
                            let _ = s.set_nodelay(true);
                            Ok(Sock::Tcp(s))
                        })
                    } else {
                        let bind: SocketAddr = if a.is_ipv4() {
                            "0.0.0.0:0".parse().expect("literal")
                        } else {
                            "[::]:0".parse().expect("literal")
                        };
                        UdpSocket::bind(bind).and_then(|s| {
                            s.connect(a)?;
                            Ok(Sock::Udp(s))
                        })
                    };
                    match r {
                        Ok(s) => return Ok(s),
                        Err(e) => last = e,
                    }
                }
                Err(last)
            }
        }
    }

    /// For messages.
    pub fn describe(&self) -> String {
        match self {
            Endpoint::Tcp(h, p) => format!("tcp:{h}:{p}"),
            Endpoint::Udp(h, p) => format!("udp:{h}:{p}"),
            Endpoint::Unix(p) => format!("unix:{p}"),
        }
    }
}

impl Sock {
    fn send(&mut self, rec: &[u8]) -> io::Result<()> {
        match self {
            Sock::Tcp(s) => s.write_all(rec),
            Sock::Unix(s) => s.write_all(rec),
            Sock::Udp(s) => s.send(rec).map(|_| ()),
        }
    }

    /// Whether a stream peer has closed (non-blocking peek sees EOF or an error).
    fn peer_closed(&self) -> bool {
        let fd = match self {
            Sock::Tcp(s) => std::os::fd::AsRawFd::as_raw_fd(s),
            Sock::Unix(s) => std::os::fd::AsRawFd::as_raw_fd(s),
            Sock::Udp(_) => return false,
        };
        let mut b = [0u8; 1];
        // SAFETY: recv into a 1-byte buffer we own.
        let r = unsafe {
            libc::recv(
                fd,
                b.as_mut_ptr().cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        if r == 0 {
            return true;
        }
        if r < 0 {
            let e = io::Error::last_os_error();
            return e.kind() != io::ErrorKind::WouldBlock && e.kind() != io::ErrorKind::Interrupted;
        }
        false
    }
}

/// Connection state and counters.
pub(crate) struct NetConn {
    pub ep: Endpoint,
    sock: Option<Sock>,
    next_attempt: Instant,
    backoff: Duration,
    /// Records sent.
    pub sent: u64,
    /// Records dropped while disconnected or on a failed send.
    pub lost: u64,
    /// Successful (re)connections.
    pub connects: u64,
}

impl NetConn {
    /// Not connected yet; the first attempt is due at once.
    pub fn new(ep: Endpoint) -> NetConn {
        NetConn {
            ep,
            sock: None,
            next_attempt: Instant::now(),
            backoff: BACKOFF_MIN,
            sent: 0,
            lost: 0,
            connects: 0,
        }
    }

    /// Whether a socket is connected.
    pub fn is_connected(&self) -> bool {
        self.sock.is_some()
    }

    /// Sends one record; on failure the record is lost and the socket dropped.
    pub fn send(&mut self, rec: &[u8]) -> bool {
        let Some(s) = self.sock.as_mut() else {
            self.lost += 1;
            return false;
        };
        match s.send(rec) {
            Ok(()) => {
                self.sent += 1;
                true
            }
            Err(e) => {
                self.lost += 1;
                log::error!("{}: send failed: {e}; reconnecting", self.ep.describe());
                self.drop_socket();
                false
            }
        }
    }

    /// Drops the socket and schedules a reconnect right away (SIGHUP, peer gone).
    pub fn drop_socket(&mut self) {
        self.sock = None;
        self.next_attempt = Instant::now();
    }

    /// Checks a stream for a closed peer (called from tick); drops it if so.
    pub fn check_peer(&mut self) {
        if self.sock.as_ref().is_some_and(Sock::peer_closed) {
            log::warn!("{}: peer closed the connection", self.ep.describe());
            self.drop_socket();
        }
    }

    /// If disconnected and the backoff has elapsed: the endpoint to try. The caller
    /// connects without holding its lock, then calls [`NetConn::install`].
    pub fn reconnect_due(&mut self) -> Option<Endpoint> {
        if self.sock.is_some() || Instant::now() < self.next_attempt {
            return None;
        }
        // Claim this attempt so concurrent ticks do not pile up.
        self.next_attempt = Instant::now() + self.backoff;
        Some(self.ep.clone())
    }

    /// Records the result of a connection attempt.
    pub fn install(&mut self, r: io::Result<Sock>) {
        match r {
            Ok(s) => {
                if self.sock.is_none() {
                    self.sock = Some(s);
                    self.connects += 1;
                    self.backoff = BACKOFF_MIN;
                    log::info!("{}: connected", self.ep.describe());
                }
            }
            Err(e) => {
                log::warn!(
                    "{}: connect failed: {e}; retrying in {:?}",
                    self.ep.describe(),
                    self.backoff
                );
                self.next_attempt = Instant::now() + self.backoff;
                self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
            }
        }
    }

    /// Connects now, inline (start and tests).
    pub fn connect_now(&mut self) {
        let r = self.ep.connect();
        self.install(r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;

    #[test]
    fn tcp_peer_goes_away_and_comes_back() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let mut c = NetConn::new(Endpoint::Tcp("127.0.0.1".into(), port.to_string()));
        c.connect_now();
        assert!(c.is_connected());
        let (peer, _) = l.accept().unwrap();
        assert!(c.send(b"one\n"));
        let mut r = BufReader::new(peer.try_clone().unwrap());
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        assert_eq!(line, "one\n");
        // Peer goes away.
        drop(r);
        drop(peer);
        drop(l);
        std::thread::sleep(Duration::from_millis(50));
        c.check_peer();
        assert!(!c.is_connected());
        assert!(!c.send(b"lost\n"));
        assert_eq!(c.lost, 1);
        // Still down: a reconnect fails and backs off.
        assert!(c.reconnect_due().is_some());
        let ep = c.ep.clone();
        c.install(ep.connect());
        assert!(!c.is_connected());
        assert!(c.reconnect_due().is_none(), "backoff");
        // Comes back on the same port.
        let l = TcpListener::bind(("127.0.0.1", port)).unwrap();
        c.connect_now();
        assert!(c.is_connected());
        let (peer, _) = l.accept().unwrap();
        assert!(c.send(b"two\n"));
        let mut line = String::new();
        BufReader::new(peer).read_line(&mut line).unwrap();
        assert_eq!(line, "two\n");
        assert_eq!((c.sent, c.lost, c.connects), (2, 1, 2));
    }

    #[test]
    fn down_at_start_counts_lost() {
        // A port nobody listens on (bind then drop).
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut c = NetConn::new(Endpoint::Tcp("127.0.0.1".into(), port.to_string()));
        c.connect_now();
        assert!(!c.is_connected());
        assert!(!c.send(b"x\n"));
        assert_eq!(c.lost, 1);
    }
}
