//! The accept filters (`accept_src_filter`, `accept_dst_filter`,
//! `accept_proto_filter`): networks, protocol names, and the userspace check that
//! [`super::bpf`] compiles for the kernel. Pure.

use std::net::IpAddr;

use crate::wire::TupleRepr;

/// One network of an address filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cidr {
    pub(crate) net: IpAddr,
    pub(crate) prefix: u8,
}

impl Cidr {
    pub(crate) fn parse(s: &str) -> Option<Cidr> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a.trim(), Some(p.trim())),
            None => (s.trim(), None),
        };
        let addr: IpAddr = a.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p.parse::<u8>().ok().filter(|&p| p <= max)?,
            None => max,
        };
        Some(Cidr {
            net: mask_addr(addr, prefix),
            prefix,
        })
    }

    pub(crate) fn contains(&self, a: IpAddr) -> bool {
        a.is_ipv4() == self.net.is_ipv4() && mask_addr(a, self.prefix) == self.net
    }

    /// The mask as big-endian words (1 for IPv4, 4 for IPv6).
    pub(crate) fn mask_words(&self) -> Vec<u32> {
        let n = if self.net.is_ipv4() { 1 } else { 4 };
        (0..n)
            .map(|w| {
                let bits = (i32::from(self.prefix) - 32 * w).clamp(0, 32) as u32;
                if bits == 0 {
                    0
                } else {
                    u32::MAX << (32 - bits)
                }
            })
            .collect()
    }

    pub(crate) fn net_words(&self) -> Vec<u32> {
        match self.net {
            IpAddr::V4(a) => vec![u32::from(a)],
            IpAddr::V6(a) => a
                .octets()
                .chunks_exact(4)
                .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        }
    }
}

fn mask_addr(a: IpAddr, prefix: u8) -> IpAddr {
    match a {
        IpAddr::V4(v) => {
            let m = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix.min(32)))
            };
            IpAddr::V4((u32::from(v) & m).into())
        }
        IpAddr::V6(v) => {
            let m = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix.min(128)))
            };
            IpAddr::V6((u128::from(v) & m).into())
        }
    }
}

/// Protocol numbers by name (the common entries of `/etc/protocols`).
pub(crate) fn proto_number(name: &str) -> Option<u8> {
    let n = name.trim().to_ascii_lowercase();
    if let Ok(v) = n.parse::<u8>() {
        return Some(v);
    }
    Some(match n.as_str() {
        "icmp" => 1,
        "igmp" => 2,
        "tcp" => 6,
        "udp" => 17,
        "dccp" => 33,
        "gre" => 47,
        "esp" => 50,
        "ah" => 51,
        "icmpv6" | "ipv6-icmp" | "icmp6" => 58,
        "sctp" => 132,
        "udplite" => 136,
        _ => return None,
    })
}

/// The accept filters: a flow passes when its original tuple matches every list
/// that is given (a list of IPv4 networks only lets IPv4 flows through, as ulogd2).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FlowFilter {
    pub(crate) src: Vec<Cidr>,
    pub(crate) dst: Vec<Cidr>,
    pub(crate) proto: Vec<u8>,
}

impl FlowFilter {
    pub(crate) fn is_empty(&self) -> bool {
        self.src.is_empty() && self.dst.is_empty() && self.proto.is_empty()
    }

    /// A non-empty list accepts an address only when one of its networks holds it,
    /// so a list of IPv4 networks rejects every IPv6 flow and the reverse (ulogd2
    /// adds a negative filter for the family the list does not name). A tuple
    /// without that address is not judged.
    fn addr_ok(list: &[Cidr], a: Option<IpAddr>) -> bool {
        let Some(a) = a else { return true };
        list.is_empty() || list.iter().any(|c| c.contains(a))
    }

    /// Whether a flow with this original tuple is accepted.
    pub(crate) fn accepts(&self, orig: &TupleRepr) -> bool {
        Self::addr_ok(&self.src, orig.src)
            && Self::addr_ok(&self.dst, orig.dst)
            && (self.proto.is_empty() || !matches!(orig.proto, Some(p) if !self.proto.contains(&p)))
    }
}
