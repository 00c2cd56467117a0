//! The socket edge of the exporter: it only moves bytes. Connecting uses
//! [`Endpoint::connect`] (short timeouts); what to send, when to connect and what a
//! failure means is the session's business.

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
            Sock::Tcp(s) => Ok(Link::Tcp(s)),
            Sock::Unix(_) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "IPFIX does not run over unix sockets",
            )),
        }
    }

    /// Sends one whole message. TCP: checks first that the collector has not
    /// closed, so a message is not written into a dead connection and lost.
    pub(crate) fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        match self {
            Link::Udp(s) => s.send(msg).map(|_| ()),
            Link::Tcp(s) => {
                if tcp_peer_closed(s) {
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionReset,
                        "collector closed the connection",
                    ));
                }
                s.write_all(msg)
            }
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
