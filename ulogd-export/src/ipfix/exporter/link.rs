//! The socket edge of the exporter: it only moves bytes. Connecting uses
//! [`Endpoint::connect`] (short timeouts, outside the stage's lock); a TCP connection
//! is then non-blocking, so a collector that stops reading never holds up the
//! engine: a write takes what the socket buffer has room for and the rest of the
//! message follows from the tick. What to send, when to connect and what a failure
//! means is the session's business.

use std::io::{self, Write};

use crate::net::{Endpoint, Sock};

/// A connected socket to the collector.
pub(crate) enum Link {
    Udp(std::net::UdpSocket),
    Tcp(std::net::TcpStream),
}

impl Link {
    /// Connects once to `ep` (a unix socket is not a valid IPFIX destination and
    /// never reached here: the configuration refuses it).
    pub(crate) fn connect(ep: &Endpoint) -> io::Result<Link> {
        match ep.connect()? {
            Sock::Udp(s) => Ok(Link::Udp(s)),
            Sock::Tcp(s) => {
                s.set_nonblocking(true)?;
                Ok(Link::Tcp(s))
            }
            Sock::Unix(_) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "IPFIX does not run over unix sockets",
            )),
        }
    }

    /// UDP: sends one whole message. TCP: writes what the socket takes of `data`
    /// (the rest of a message) and returns how many bytes; 0 when the socket buffer
    /// is full. Checks first that the collector has not closed, so a message is not
    /// written into a dead connection and lost.
    pub(crate) fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self {
            Link::Udp(s) => s.send(data),
            Link::Tcp(s) => {
                if tcp_peer_closed(s) {
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionReset,
                        "collector closed the connection",
                    ));
                }
                match s.write(data) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(0),
                    r => r,
                }
            }
        }
    }

    /// The descriptor to wait on for writability (shutdown drain).
    pub(crate) fn raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        match self {
            Link::Udp(s) => s.as_raw_fd(),
            Link::Tcp(s) => s.as_raw_fd(),
        }
    }

    /// Whether a TCP collector has closed the connection (always false for UDP).
    pub(crate) fn peer_closed(&self) -> bool {
        match self {
            Link::Udp(_) => false,
            Link::Tcp(s) => tcp_peer_closed(s),
        }
    }
}

/// Whether a TCP peer has closed: the output layer's one check.
fn tcp_peer_closed(s: &std::net::TcpStream) -> bool {
    crate::transport::stream_peer_closed(s)
}
