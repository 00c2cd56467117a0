//! TCP, UDP and unix stream sockets, all non-blocking.
//!
//! A TCP connect is started by [`Transport::open`] and finished by a later write (the
//! socket becomes writable), trying the next resolved address when one is refused, so
//! neither a connect nor a stalled peer ever waits on the event loop: a full socket
//! buffer is a write of 0 bytes, and the stage keeps the rest of the record queued.

use std::io::{self, Write};
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;
use std::time::{Duration, Instant};

use mio::net::{TcpStream, UnixStream};

use super::{stream_peer_closed, Framing, Opened, Transport};

/// How long a TCP connect may stay in progress before it counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Where to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// TCP to host, port (names resolved with getaddrinfo; IPv6 literals allowed).
    Tcp(String, String),
    /// UDP to host, port: one datagram per record.
    Udp(String, String),
    /// Unix stream socket path.
    Unix(String),
    /// Unix datagram socket path (the syslog daemon's `/dev/log`): one datagram per
    /// record.
    UnixDgram(String),
}

/// A connected blocking socket, for code that drives its own socket (the IPFIX
/// exporter).
pub(crate) enum Sock {
    /// TCP.
    Tcp(std::net::TcpStream),
    /// UDP, connected.
    Udp(UdpSocket),
    /// Unix stream (the IPFIX exporter has no unix mode; kept for completeness).
    #[allow(dead_code)]
    Unix(std::os::unix::net::UnixStream),
}

/// A blocking connect's bound per address.
const BLOCKING_CONNECT_TIMEOUT: Duration = Duration::from_millis(300);
/// A blocking socket's write timeout.
const BLOCKING_WRITE_TIMEOUT: Duration = Duration::from_millis(500);

impl Endpoint {
    /// Connects once, blocking (bounded by a short timeout per address), for callers
    /// that keep a blocking socket; the output stage uses [`NetTransport`] instead.
    pub(crate) fn connect(&self) -> io::Result<Sock> {
        match self {
            Endpoint::Unix(p) => {
                let s = std::os::unix::net::UnixStream::connect(p)?;
                s.set_write_timeout(Some(BLOCKING_WRITE_TIMEOUT))?;
                Ok(Sock::Unix(s))
            }
            Endpoint::UnixDgram(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "no blocking unix datagram client",
            )),
            Endpoint::Udp(h, p) => Ok(Sock::Udp(NetTransport::udp_blocking(&Endpoint::resolve(
                h, p,
            )?)?)),
            Endpoint::Tcp(h, p) => {
                let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
                for a in Endpoint::resolve(h, p)? {
                    match std::net::TcpStream::connect_timeout(&a, BLOCKING_CONNECT_TIMEOUT) {
                        Ok(s) => {
                            s.set_write_timeout(Some(BLOCKING_WRITE_TIMEOUT))?;
                            let _ = s.set_nodelay(true);
                            return Ok(Sock::Tcp(s));
                        }
                        Err(e) => last = e,
                    }
                }
                Err(last)
            }
        }
    }

    /// For messages: `tcp:host:port`, `unix:/path`.
    pub(crate) fn describe(&self) -> String {
        match self {
            Endpoint::Tcp(h, p) => format!("tcp:{h}:{p}"),
            Endpoint::Udp(h, p) => format!("udp:{h}:{p}"),
            Endpoint::Unix(p) => format!("unix:{p}"),
            Endpoint::UnixDgram(p) => format!("unix-dgram:{p}"),
        }
    }

    fn resolve(h: &str, p: &str) -> io::Result<Vec<SocketAddr>> {
        let port: u16 = p
            .parse()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "bad port"))?;
        let host = h.trim_start_matches('[').trim_end_matches(']');
        let v: Vec<SocketAddr> = (host, port).to_socket_addrs()?.collect();
        if v.is_empty() {
            return Err(io::Error::new(io::ErrorKind::NotFound, "no address"));
        }
        Ok(v)
    }
}

enum Conn {
    /// Connect in progress: the stream, when it started, the addresses left to try.
    Connecting(TcpStream, Instant, Vec<SocketAddr>),
    Tcp(TcpStream),
    Unix(UnixStream),
    Udp(UdpSocket),
    UnixDgram(std::os::unix::net::UnixDatagram),
}

/// A socket to one [`Endpoint`].
pub(crate) struct NetTransport {
    ep: Endpoint,
    sock: Option<Conn>,
}

impl NetTransport {
    /// Not connected.
    pub(crate) fn new(ep: Endpoint) -> NetTransport {
        NetTransport { ep, sock: None }
    }

    fn udp(addrs: &[SocketAddr]) -> io::Result<UdpSocket> {
        let s = Self::udp_blocking(addrs)?;
        s.set_nonblocking(true)?;
        Ok(s)
    }

    fn udp_blocking(addrs: &[SocketAddr]) -> io::Result<UdpSocket> {
        let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
        for a in addrs {
            let bind: SocketAddr = if a.is_ipv4() {
                SocketAddr::from(([0u8; 4], 0))
            } else {
                SocketAddr::from(([0u16; 8], 0))
            };
            match UdpSocket::bind(bind).and_then(|s| {
                s.connect(a)?;
                Ok(s)
            }) {
                Ok(s) => return Ok(s),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Starts connecting to the first of `addrs` that does not fail at once.
    fn start_tcp(mut addrs: Vec<SocketAddr>) -> io::Result<Conn> {
        addrs.reverse(); // pop() takes them in resolver order
        let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
        while let Some(a) = addrs.pop() {
            match TcpStream::connect(a) {
                Ok(s) => return Ok(Conn::Connecting(s, Instant::now(), addrs)),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Finishes a connect in progress: `Ok(true)` once connected.
    fn settle(&mut self) -> io::Result<bool> {
        let Some(Conn::Connecting(s, since, _)) = self.sock.as_ref() else {
            return Ok(self.sock.is_some());
        };
        let failed = match s.take_error() {
            Ok(Some(e)) | Err(e) => Some(e),
            Ok(None) => match s.peer_addr() {
                Ok(_) => None,
                Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                    if since.elapsed() > CONNECT_TIMEOUT {
                        Some(io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))
                    } else {
                        return Ok(false);
                    }
                }
                Err(e) => Some(e),
            },
        };
        let Some(Conn::Connecting(s, _, rest)) = self.sock.take() else {
            unreachable!("checked above")
        };
        match failed {
            None => {
                let _ = s.set_nodelay(true);
                self.sock = Some(Conn::Tcp(s));
                Ok(true)
            }
            Some(e) if rest.is_empty() => Err(e),
            Some(_) => {
                let mut rest = rest;
                rest.reverse();
                self.sock = Some(Self::start_tcp(rest)?);
                Ok(false)
            }
        }
    }
}

fn would_block(r: io::Result<usize>) -> io::Result<usize> {
    match r {
        Err(e)
            if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::Interrupted =>
        {
            Ok(0)
        }
        r => r,
    }
}

impl Transport for NetTransport {
    fn describe(&self) -> String {
        self.ep.describe()
    }

    fn framing(&self) -> Framing {
        match self.ep {
            Endpoint::Udp(..) | Endpoint::UnixDgram(..) => Framing::Message,
            _ => Framing::Stream,
        }
    }

    fn open(&mut self) -> io::Result<Opened> {
        self.sock = None;
        match &self.ep {
            Endpoint::Unix(p) => {
                let s = UnixStream::connect(p)?;
                self.sock = Some(Conn::Unix(s));
                Ok(Opened::Ready { empty: false })
            }
            Endpoint::UnixDgram(p) => {
                let s = std::os::unix::net::UnixDatagram::unbound()?;
                s.connect(p)?;
                s.set_nonblocking(true)?;
                self.sock = Some(Conn::UnixDgram(s));
                Ok(Opened::Ready { empty: false })
            }
            Endpoint::Udp(h, p) => {
                let s = Self::udp(&Endpoint::resolve(h, p)?)?;
                self.sock = Some(Conn::Udp(s));
                Ok(Opened::Ready { empty: false })
            }
            Endpoint::Tcp(h, p) => {
                self.sock = Some(Self::start_tcp(Endpoint::resolve(h, p)?)?);
                // A loopback connect is often complete at once.
                Ok(if self.settle()? {
                    Opened::Ready { empty: false }
                } else {
                    Opened::Pending
                })
            }
        }
    }

    fn is_open(&self) -> bool {
        self.sock.is_some()
    }

    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if !self.settle()? {
            return Ok(0);
        }
        match self.sock.as_mut() {
            Some(Conn::Tcp(s)) => would_block(s.write(data)),
            Some(Conn::Unix(s)) => would_block(s.write(data)),
            Some(Conn::Udp(s)) => would_block(s.send(data)),
            Some(Conn::UnixDgram(s)) => would_block(s.send(data)),
            Some(Conn::Connecting(..)) => Ok(0),
            None => Err(io::Error::new(io::ErrorKind::NotConnected, "not connected")),
        }
    }

    fn close(&mut self) {
        self.sock = None;
    }

    fn peer_closed(&self) -> bool {
        match self.sock.as_ref() {
            Some(Conn::Tcp(s)) => stream_peer_closed(s),
            Some(Conn::Unix(s)) => stream_peer_closed(s),
            _ => false,
        }
    }

    fn raw_fd(&self) -> Option<RawFd> {
        Some(match self.sock.as_ref()? {
            Conn::Connecting(s, ..) | Conn::Tcp(s) => s.as_raw_fd(),
            Conn::Unix(s) => s.as_raw_fd(),
            Conn::Udp(s) => s.as_raw_fd(),
            Conn::UnixDgram(s) => s.as_raw_fd(),
        })
    }

    fn check_access(&self, uid: u32, gids: &[u32]) -> Option<String> {
        let (Endpoint::Unix(p) | Endpoint::UnixDgram(p)) = &self.ep else {
            return None;
        };
        super::may_write(Path::new(p), uid, gids).err().map(|why| {
            format!("a reconnect after the peer restarts will be refused (EACCES): {why}")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;

    fn write_all(t: &mut NetTransport, mut d: &[u8]) {
        let end = Instant::now() + Duration::from_secs(5);
        while !d.is_empty() {
            let n = t.write(d).unwrap();
            d = &d[n..];
            assert!(Instant::now() < end, "write stalled");
        }
    }

    #[test]
    fn tcp_connects_without_blocking_and_reports_refusal() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let mut t = NetTransport::new(Endpoint::Tcp("127.0.0.1".into(), port.to_string()));
        t.open().unwrap();
        write_all(&mut t, b"one\n");
        let (mut peer, _) = l.accept().unwrap();
        let mut b = [0u8; 4];
        peer.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"one\n");
        drop(peer);
        drop(l);
        std::thread::sleep(Duration::from_millis(50));
        assert!(t.peer_closed());
        // Nobody listens now: the connect fails, on open or on the first write.
        let r = t.open().and_then(|_| {
            std::thread::sleep(Duration::from_millis(50));
            t.write(b"x")
        });
        assert!(r.is_err(), "{r:?}");
    }

    #[test]
    fn full_socket_buffer_is_a_short_write_not_a_wait() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let mut t = NetTransport::new(Endpoint::Tcp("127.0.0.1".into(), port.to_string()));
        t.open().unwrap();
        let (_peer, _) = l.accept().unwrap(); // never reads
        let chunk = vec![b'x'; 64 * 1024];
        let start = Instant::now();
        let mut zero = false;
        for _ in 0..10_000 {
            if t.write(&chunk).unwrap() == 0 {
                zero = true;
                break;
            }
        }
        assert!(zero, "the kernel never pushed back");
        assert!(start.elapsed() < Duration::from_secs(5));
    }
}
