//! NFLOG (`nfnetlink_log`) packet messages, config messages, and the
//! LINKTYPE_NFLOG capture record format.
//!
//! Numbers come from `include/uapi/linux/netfilter/nfnetlink_log.h`. All
//! attribute *values* are big-endian (the kernel uses `nla_put_be32` etc.)
//! while the attribute *headers* are in host order.
//!
//! The same TLV region appears in two containers, both parsed by
//! [`NflogRepr::parse_attrs_with_order`]:
//!
//! * a netlink message: `nlmsghdr | nfgenmsg | attrs` ([`NflogRepr::parse_nlmsg`]);
//! * a LINKTYPE_NFLOG pcap record, which is what `tcpdump -i nflog:N` writes:
//!   the same 4 bytes as `nfgenmsg` (family, version, big-endian group) and
//!   the same attributes, whose headers are in the *capturing* host's order
//!   ([`NflogRepr::parse_pcap_record`]).

use super::nla::{self, NlaIter, NlaView};
use super::nlmsg::{
    self, NfgenmsgRepr, NfgenmsgView, NlmsgHeader, NlmsgView, NFGENMSG_LEN, NFNETLINK_V0,
    NFNL_SUBSYS_ULOG, NLM_F_ACK, NLM_F_REQUEST,
};
use super::others::OtherAttrs;
use super::{ByteOrder, Result, WireError};

/// NFLOG message: a logged packet (kernel to userspace).
pub const NFULNL_MSG_PACKET: u8 = 0;
/// NFLOG message: configuration (userspace to kernel).
pub const NFULNL_MSG_CONFIG: u8 = 1;

/// `struct nfulnl_msg_packet_hdr`: be16 hw_protocol, u8 hook, u8 pad.
pub const NFULA_PACKET_HDR: u16 = 1;
/// be32 skb mark.
pub const NFULA_MARK: u16 = 2;
/// `struct nfulnl_msg_packet_timestamp`: be64 sec, be64 usec.
pub const NFULA_TIMESTAMP: u16 = 3;
/// be32 input interface index.
pub const NFULA_IFINDEX_INDEV: u16 = 4;
/// be32 output interface index.
pub const NFULA_IFINDEX_OUTDEV: u16 = 5;
/// be32 physical input interface index (bridge).
pub const NFULA_IFINDEX_PHYSINDEV: u16 = 6;
/// be32 physical output interface index (bridge).
pub const NFULA_IFINDEX_PHYSOUTDEV: u16 = 7;
/// `struct nfulnl_msg_packet_hw`: be16 hw_addrlen, u16 pad, u8 hw_addr[8].
pub const NFULA_HWADDR: u16 = 8;
/// The packet, starting at the network header.
pub const NFULA_PAYLOAD: u16 = 9;
/// NUL-terminated log prefix.
pub const NFULA_PREFIX: u16 = 10;
/// be32 uid of the owning socket.
pub const NFULA_UID: u16 = 11;
/// be32 per-instance sequence number.
pub const NFULA_SEQ: u16 = 12;
/// be32 global sequence number.
pub const NFULA_SEQ_GLOBAL: u16 = 13;
/// be32 gid of the owning socket.
pub const NFULA_GID: u16 = 14;
/// be16 ARPHRD_* hardware type.
pub const NFULA_HWTYPE: u16 = 15;
/// Raw link-layer header.
pub const NFULA_HWHEADER: u16 = 16;
/// be16 length of the link-layer header.
pub const NFULA_HWLEN: u16 = 17;
/// Nested ctnetlink attributes of the packet's conntrack entry.
pub const NFULA_CT: u16 = 18;
/// be32 `enum ip_conntrack_info`.
pub const NFULA_CT_INFO: u16 = 19;
/// Nested VLAN info ([`NFULA_VLAN_PROTO`], [`NFULA_VLAN_TCI`]).
pub const NFULA_VLAN: u16 = 20;
/// Full L2 header (bridge family).
pub const NFULA_L2HDR: u16 = 21;

/// Inside [`NFULA_VLAN`]: be16 VLAN protocol (0x8100 / 0x88a8).
pub const NFULA_VLAN_PROTO: u16 = 1;
/// Inside [`NFULA_VLAN`]: be16 TCI.
pub const NFULA_VLAN_TCI: u16 = 2;

/// Config attribute: `struct nfulnl_msg_config_cmd` (u8 command).
pub const NFULA_CFG_CMD: u16 = 1;
/// Config attribute: `struct nfulnl_msg_config_mode` (be32 range, u8 mode, u8 pad).
pub const NFULA_CFG_MODE: u16 = 2;
/// Config attribute: be32 netlink buffer size.
pub const NFULA_CFG_NLBUFSIZ: u16 = 3;
/// Config attribute: be32 flush timeout in 1/100 s.
pub const NFULA_CFG_TIMEOUT: u16 = 4;
/// Config attribute: be32 queue threshold (packets per message batch).
pub const NFULA_CFG_QTHRESH: u16 = 5;
/// Config attribute: be16 flags (`NFULNL_CFG_F_*`).
pub const NFULA_CFG_FLAGS: u16 = 6;

/// Config command: none.
pub const NFULNL_CFG_CMD_NONE: u8 = 0;
/// Config command: bind this socket to the group in `res_id`.
pub const NFULNL_CFG_CMD_BIND: u8 = 1;
/// Config command: unbind from the group.
pub const NFULNL_CFG_CMD_UNBIND: u8 = 2;
/// Config command: bind the family in `nfgenmsg.family` (obsolete since 3.17, harmless).
pub const NFULNL_CFG_CMD_PF_BIND: u8 = 3;
/// Config command: unbind the family (obsolete since 3.17, harmless).
pub const NFULNL_CFG_CMD_PF_UNBIND: u8 = 4;

/// Copy mode: no packet data.
pub const NFULNL_COPY_NONE: u8 = 0;
/// Copy mode: metadata only.
pub const NFULNL_COPY_META: u8 = 1;
/// Copy mode: metadata and up to `copy_range` bytes of packet.
pub const NFULNL_COPY_PACKET: u8 = 2;

/// Config flag: add [`NFULA_SEQ`].
pub const NFULNL_CFG_F_SEQ: u16 = 0x0001;
/// Config flag: add [`NFULA_SEQ_GLOBAL`].
pub const NFULNL_CFG_F_SEQ_GLOBAL: u16 = 0x0002;
/// Config flag: add [`NFULA_CT`] / [`NFULA_CT_INFO`].
pub const NFULNL_CFG_F_CONNTRACK: u16 = 0x0004;

/// Length of the LINKTYPE_NFLOG record header (family, version, be16 group).
pub const NFLOG_PCAP_HDR_LEN: usize = 4;

/// Human-readable name of an NFLOG packet attribute type, for diagnostics.
pub fn attr_name(kind: u16) -> &'static str {
    match kind {
        NFULA_PACKET_HDR => "NFULA_PACKET_HDR",
        NFULA_MARK => "NFULA_MARK",
        NFULA_TIMESTAMP => "NFULA_TIMESTAMP",
        NFULA_IFINDEX_INDEV => "NFULA_IFINDEX_INDEV",
        NFULA_IFINDEX_OUTDEV => "NFULA_IFINDEX_OUTDEV",
        NFULA_IFINDEX_PHYSINDEV => "NFULA_IFINDEX_PHYSINDEV",
        NFULA_IFINDEX_PHYSOUTDEV => "NFULA_IFINDEX_PHYSOUTDEV",
        NFULA_HWADDR => "NFULA_HWADDR",
        NFULA_PAYLOAD => "NFULA_PAYLOAD",
        NFULA_PREFIX => "NFULA_PREFIX",
        NFULA_UID => "NFULA_UID",
        NFULA_SEQ => "NFULA_SEQ",
        NFULA_SEQ_GLOBAL => "NFULA_SEQ_GLOBAL",
        NFULA_GID => "NFULA_GID",
        NFULA_HWTYPE => "NFULA_HWTYPE",
        NFULA_HWHEADER => "NFULA_HWHEADER",
        NFULA_HWLEN => "NFULA_HWLEN",
        NFULA_CT => "NFULA_CT",
        NFULA_CT_INFO => "NFULA_CT_INFO",
        NFULA_VLAN => "NFULA_VLAN",
        NFULA_L2HDR => "NFULA_L2HDR",
        _ => "unknown",
    }
}

/// `struct nfulnl_msg_packet_hdr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct NflogPacketHdr {
    /// Link-layer protocol (ETH_P_*: 0x0800 IPv4, 0x86dd IPv6), host order here.
    pub hw_protocol: u16,
    /// Netfilter hook (0 PRE_ROUTING, 1 LOCAL_IN, 2 FORWARD, 3 LOCAL_OUT, 4 POST_ROUTING).
    pub hook: u8,
}

impl NflogPacketHdr {
    const LEN: usize = 4;

    fn parse(a: &NlaView<&[u8]>) -> Result<Self> {
        a.check_min_len(Self::LEN)?;
        let v = a.value();
        match (v.first(), v.get(1), v.get(2)) {
            (Some(&p0), Some(&p1), Some(&hook)) => Ok(NflogPacketHdr {
                hw_protocol: u16::from_be_bytes([p0, p1]),
                hook,
            }),
            _ => Err(bad_len(a, Self::LEN)),
        }
    }

    fn to_bytes(self) -> [u8; 4] {
        let p = self.hw_protocol.to_be_bytes();
        [p[0], p[1], self.hook, 0]
    }
}

/// `struct nfulnl_msg_packet_timestamp`: when the kernel received the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct NflogTimestamp {
    /// Seconds since the epoch.
    pub sec: u64,
    /// Microseconds within the second.
    pub usec: u64,
}

impl NflogTimestamp {
    const LEN: usize = 16;

    fn parse(a: &NlaView<&[u8]>) -> Result<Self> {
        a.check_min_len(Self::LEN)?;
        let v = a.value();
        match (super::read_array::<8>(v, 0), super::read_array::<8>(v, 8)) {
            (Some(s), Some(u)) => Ok(NflogTimestamp {
                sec: u64::from_be_bytes(s),
                usec: u64::from_be_bytes(u),
            }),
            _ => Err(bad_len(a, Self::LEN)),
        }
    }

    fn to_bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.sec.to_be_bytes());
        b[8..].copy_from_slice(&self.usec.to_be_bytes());
        b
    }
}

/// `struct nfulnl_msg_packet_hw`: the source link-layer address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct NflogHwAddr {
    /// Address length as sent (6 for Ethernet); may exceed 8 on bad input.
    pub addr_len: u16,
    /// The address bytes, zero-padded to 8.
    pub addr: [u8; 8],
}

impl NflogHwAddr {
    const LEN: usize = 12;

    /// The meaningful part of the address (`addr_len` bytes, at most 8).
    pub fn as_slice(&self) -> &[u8] {
        let n = usize::from(self.addr_len).min(self.addr.len());
        self.addr.get(..n).unwrap_or(&[])
    }

    fn parse(a: &NlaView<&[u8]>) -> Result<Self> {
        a.check_min_len(Self::LEN)?;
        let v = a.value();
        match (super::read_array::<2>(v, 0), super::read_array::<8>(v, 4)) {
            (Some(l), Some(addr)) => Ok(NflogHwAddr {
                addr_len: u16::from_be_bytes(l),
                addr,
            }),
            _ => Err(bad_len(a, Self::LEN)),
        }
    }

    fn to_bytes(self) -> [u8; 12] {
        let mut b = [0u8; 12];
        b[..2].copy_from_slice(&self.addr_len.to_be_bytes());
        b[4..].copy_from_slice(&self.addr);
        b
    }
}

/// Contents of the nested [`NFULA_VLAN`] attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct NflogVlan {
    /// VLAN protocol (0x8100 / 0x88a8).
    pub proto: Option<u16>,
    /// Tag control information (priority, DEI, VLAN id).
    pub tci: Option<u16>,
}

impl NflogVlan {
    fn parse(a: &NlaView<&[u8]>) -> Result<Self> {
        let mut out = NflogVlan::default();
        for inner in a.nested() {
            let inner = inner?;
            match inner.kind() {
                NFULA_VLAN_PROTO => out.proto = Some(inner.be_u16()?),
                NFULA_VLAN_TCI => out.tci = Some(inner.be_u16()?),
                _ => {}
            }
        }
        Ok(out)
    }
}

fn bad_len(a: &NlaView<&[u8]>, expected: usize) -> WireError {
    WireError::BadAttrValueLen {
        kind: a.kind(),
        expected,
        actual: a.value().len(),
    }
}

/// The meaning of one NFLOG packet message.
///
/// Byte-slice fields borrow the input buffer: parsing copies nothing but a
/// few integers. An attribute that appears twice keeps its last value (as
/// the kernel's `nla_parse` does); attributes we do not know are counted in
/// [`NflogRepr::unknown`], the first few kept in [`NflogRepr::others`] and
/// re-emitted, so a newer kernel neither breaks us nor loses data on replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct NflogRepr<'a> {
    /// `nfgenmsg.nfgen_family`: AF_INET (2), AF_INET6 (10), AF_BRIDGE (7), ...
    pub family: u8,
    /// NFLOG group (`nfgenmsg.res_id`).
    pub group: u16,
    /// [`NFULA_PACKET_HDR`].
    pub packet_hdr: Option<NflogPacketHdr>,
    /// [`NFULA_MARK`].
    pub mark: Option<u32>,
    /// [`NFULA_TIMESTAMP`] (present for packets with a receive timestamp).
    pub timestamp: Option<NflogTimestamp>,
    /// [`NFULA_IFINDEX_INDEV`].
    pub indev: Option<u32>,
    /// [`NFULA_IFINDEX_OUTDEV`].
    pub outdev: Option<u32>,
    /// [`NFULA_IFINDEX_PHYSINDEV`].
    pub physindev: Option<u32>,
    /// [`NFULA_IFINDEX_PHYSOUTDEV`].
    pub physoutdev: Option<u32>,
    /// [`NFULA_HWADDR`].
    pub hwaddr: Option<NflogHwAddr>,
    /// [`NFULA_PAYLOAD`]: the packet from its network header on.
    pub payload: Option<&'a [u8]>,
    /// [`NFULA_PREFIX`] without its terminating NUL (raw bytes: the kernel
    /// does not promise UTF-8).
    pub prefix: Option<&'a [u8]>,
    /// [`NFULA_UID`].
    pub uid: Option<u32>,
    /// [`NFULA_SEQ`].
    pub seq: Option<u32>,
    /// [`NFULA_SEQ_GLOBAL`].
    pub seq_global: Option<u32>,
    /// [`NFULA_GID`].
    pub gid: Option<u32>,
    /// [`NFULA_HWTYPE`].
    pub hwtype: Option<u16>,
    /// [`NFULA_HWHEADER`].
    pub hwheader: Option<&'a [u8]>,
    /// [`NFULA_HWLEN`].
    pub hwlen: Option<u16>,
    /// [`NFULA_CT`], kept as the raw nested attribute region for the NFCT
    /// decoder.
    pub ct: Option<&'a [u8]>,
    /// [`NFULA_CT_INFO`].
    pub ct_info: Option<u32>,
    /// [`NFULA_VLAN`].
    pub vlan: Option<NflogVlan>,
    /// [`NFULA_L2HDR`].
    pub l2hdr: Option<&'a [u8]>,
    /// How many attributes had a type we do not know (saturating).
    pub unknown: u16,
    /// The first unknown attributes, kept and re-emitted after the known ones.
    pub others: OtherAttrs<'a>,
}

impl<'a> NflogRepr<'a> {
    /// Parse a bare native-order attribute region (what follows `nfgenmsg`).
    pub fn parse_attrs(family: u8, group: u16, attrs: &'a [u8]) -> Result<Self> {
        Self::parse_attrs_with_order(family, group, attrs, ByteOrder::NATIVE)
    }

    /// Parse an attribute region whose TLV headers are in `order`.
    pub fn parse_attrs_with_order(
        family: u8,
        group: u16,
        attrs: &'a [u8],
        order: ByteOrder,
    ) -> Result<Self> {
        let mut r = NflogRepr {
            family,
            group,
            ..NflogRepr::default()
        };
        for a in NlaIter::with_order(attrs, order) {
            let a = a?;
            match a.kind() {
                NFULA_PACKET_HDR => r.packet_hdr = Some(NflogPacketHdr::parse(&a)?),
                NFULA_MARK => r.mark = Some(a.be_u32()?),
                NFULA_TIMESTAMP => r.timestamp = Some(NflogTimestamp::parse(&a)?),
                NFULA_IFINDEX_INDEV => r.indev = Some(a.be_u32()?),
                NFULA_IFINDEX_OUTDEV => r.outdev = Some(a.be_u32()?),
                NFULA_IFINDEX_PHYSINDEV => r.physindev = Some(a.be_u32()?),
                NFULA_IFINDEX_PHYSOUTDEV => r.physoutdev = Some(a.be_u32()?),
                NFULA_HWADDR => r.hwaddr = Some(NflogHwAddr::parse(&a)?),
                NFULA_PAYLOAD => r.payload = Some(a.value()),
                NFULA_PREFIX => r.prefix = Some(a.cstr()),
                NFULA_UID => r.uid = Some(a.be_u32()?),
                NFULA_SEQ => r.seq = Some(a.be_u32()?),
                NFULA_SEQ_GLOBAL => r.seq_global = Some(a.be_u32()?),
                NFULA_GID => r.gid = Some(a.be_u32()?),
                NFULA_HWTYPE => r.hwtype = Some(a.be_u16()?),
                NFULA_HWHEADER => r.hwheader = Some(a.value()),
                NFULA_HWLEN => r.hwlen = Some(a.be_u16()?),
                NFULA_CT => r.ct = Some(a.value()),
                NFULA_CT_INFO => r.ct_info = Some(a.be_u32()?),
                NFULA_VLAN => r.vlan = Some(NflogVlan::parse(&a)?),
                NFULA_L2HDR => r.l2hdr = Some(a.value()),
                _ => {
                    r.unknown = r.unknown.saturating_add(1);
                    r.others.push(a.raw_kind(), a.value());
                }
            }
        }
        Ok(r)
    }

    /// Parse a whole NFLOG packet message as received from the socket.
    ///
    /// Fails with [`WireError::NotNflogPacket`] for anything but
    /// `NFNL_SUBSYS_ULOG << 8 | NFULNL_MSG_PACKET`, so callers should filter
    /// `NLMSG_ERROR` / `NLMSG_DONE` first.
    pub fn parse_nlmsg<T: AsRef<[u8]> + ?Sized>(msg: &NlmsgView<&'a T>) -> Result<Self> {
        let t = msg.msg_type();
        if nlmsg::nfnl_subsys(t) != NFNL_SUBSYS_ULOG || nlmsg::nfnl_msg(t) != NFULNL_MSG_PACKET {
            return Err(WireError::NotNflogPacket { msg_type: t });
        }
        let gen = NfgenmsgView::new_checked(msg.payload())?;
        Self::parse_attrs(gen.family(), gen.res_id(), gen.attrs())
    }

    /// Parse one LINKTYPE_NFLOG capture record written on a little-endian
    /// host (x86, arm64: what virtually every capture is).
    pub fn parse_pcap_record(data: &'a [u8]) -> Result<Self> {
        Self::parse_pcap_record_with_order(data, ByteOrder::Little)
    }

    /// Parse one LINKTYPE_NFLOG capture record whose TLV headers are in
    /// `order` (the capturing host's). The 4-byte pseudo-header is the
    /// `nfgenmsg` of the original message, group in big-endian.
    pub fn parse_pcap_record_with_order(data: &'a [u8], order: ByteOrder) -> Result<Self> {
        let gen =
            NfgenmsgView::new_checked(data).map_err(|_| WireError::TruncatedNflogPcapHeader {
                available: data.len(),
            })?;
        Self::parse_attrs_with_order(gen.family(), gen.res_id(), gen.attrs(), order)
    }

    /// Calls `f(type, value)` for each attribute that is present, in the
    /// order the kernel's `__build_packet_message()` emits them, so that
    /// re-emitting a parsed kernel message reproduces it byte for byte.
    /// `order` is only needed for the nested VLAN attribute, whose inner
    /// headers must match the outer ones.
    fn for_each_attr(
        &self,
        order: ByteOrder,
        mut f: impl FnMut(u16, &[u8]) -> Result<()>,
    ) -> Result<()> {
        if let Some(h) = self.packet_hdr {
            f(NFULA_PACKET_HDR, &h.to_bytes())?;
        }
        if let Some(p) = self.prefix {
            // The kernel sends the prefix NUL-terminated; so do we.
            with_nul(p, |s| f(NFULA_PREFIX, s))?;
        }
        for (k, v) in [
            (NFULA_IFINDEX_INDEV, self.indev),
            (NFULA_IFINDEX_PHYSINDEV, self.physindev),
            (NFULA_IFINDEX_OUTDEV, self.outdev),
            (NFULA_IFINDEX_PHYSOUTDEV, self.physoutdev),
            (NFULA_MARK, self.mark),
        ] {
            if let Some(v) = v {
                f(k, &v.to_be_bytes())?;
            }
        }
        if let Some(h) = self.hwaddr {
            f(NFULA_HWADDR, &h.to_bytes())?;
        }
        if let Some(v) = self.hwtype {
            f(NFULA_HWTYPE, &v.to_be_bytes())?;
        }
        if let Some(v) = self.hwlen {
            f(NFULA_HWLEN, &v.to_be_bytes())?;
        }
        if let Some(v) = self.hwheader {
            f(NFULA_HWHEADER, v)?;
        }
        if let Some(v) = self.vlan {
            // At most two 8-byte TLVs: a stack buffer keeps emit allocation-free.
            let mut inner = [0u8; 16];
            let mut n = 0usize;
            if let Some(p) = v.proto {
                let dst = inner.get_mut(n..).unwrap_or(&mut []);
                n += nla::emit_attr_with_order(dst, NFULA_VLAN_PROTO, &p.to_be_bytes(), order)?;
            }
            if let Some(t) = v.tci {
                let dst = inner.get_mut(n..).unwrap_or(&mut []);
                n += nla::emit_attr_with_order(dst, NFULA_VLAN_TCI, &t.to_be_bytes(), order)?;
            }
            f(
                NFULA_VLAN | nla::NLA_F_NESTED,
                inner.get(..n).unwrap_or(&[]),
            )?;
        }
        if let Some(v) = self.l2hdr {
            f(NFULA_L2HDR, v)?;
        }
        if let Some(t) = self.timestamp {
            f(NFULA_TIMESTAMP, &t.to_bytes())?;
        }
        for (k, v) in [
            (NFULA_UID, self.uid),
            (NFULA_GID, self.gid),
            (NFULA_SEQ, self.seq),
            (NFULA_SEQ_GLOBAL, self.seq_global),
        ] {
            if let Some(v) = v {
                f(k, &v.to_be_bytes())?;
            }
        }
        if let Some(v) = self.ct {
            f(NFULA_CT | nla::NLA_F_NESTED, v)?;
        }
        if let Some(v) = self.ct_info {
            f(NFULA_CT_INFO, &v.to_be_bytes())?;
        }
        if let Some(v) = self.payload {
            f(NFULA_PAYLOAD, v)?;
        }
        for (k, v) in self.others.iter() {
            f(k, v)?;
        }
        Ok(())
    }

    /// Bytes [`NflogRepr::emit_attrs`] appends (padding included).
    pub fn attrs_len(&self) -> usize {
        let mut n = 0usize;
        let _ = self.for_each_attr(ByteOrder::NATIVE, |_, v| {
            n = n.saturating_add(nla::attr_buffer_len(v.len()));
            Ok(())
        });
        n
    }

    /// Bytes [`NflogRepr::emit_nlmsg`] appends.
    pub fn buffer_len(&self) -> usize {
        nlmsg::NLMSG_HDRLEN + NFGENMSG_LEN + self.attrs_len()
    }

    /// Append the attribute region with TLV headers in `order`.
    /// Kept unknown attributes ([`NflogRepr::others`]) follow the known ones.
    pub fn emit_attrs_with_order(&self, out: &mut Vec<u8>, order: ByteOrder) -> Result<()> {
        let start = out.len();
        let r = self.for_each_attr(order, |k, v| {
            nla::push_attr_with_order(out, k, v, order).map(|_| ())
        });
        if r.is_err() {
            out.truncate(start);
        }
        r
    }

    /// Append the attribute region in native order.
    pub fn emit_attrs(&self, out: &mut Vec<u8>) -> Result<()> {
        self.emit_attrs_with_order(out, ByteOrder::NATIVE)
    }

    /// Append a complete NFLOG packet netlink message, as the kernel would
    /// send it (pid 0, no flags), for tests, benchmarks and fuzz seeds.
    pub fn emit_nlmsg(&self, seq: u32, out: &mut Vec<u8>) -> Result<usize> {
        let mut attrs = Vec::with_capacity(self.attrs_len());
        self.emit_attrs(&mut attrs)?;
        nlmsg::push_nfnl_message(
            out,
            NlmsgHeader {
                len: 0,
                msg_type: nlmsg::nfnl_msg_type(NFNL_SUBSYS_ULOG, NFULNL_MSG_PACKET),
                flags: 0,
                seq,
                pid: 0,
            },
            self.nfgenmsg(),
            &attrs,
        )
    }

    /// Append a LINKTYPE_NFLOG capture record body (pseudo-header + TLVs with
    /// headers in `order`), as `tcpdump -i nflog` would write it.
    pub fn emit_pcap_record(&self, out: &mut Vec<u8>, order: ByteOrder) -> Result<usize> {
        let start = out.len();
        out.resize(start + NFLOG_PCAP_HDR_LEN, 0);
        self.nfgenmsg().emit(&mut out[start..])?;
        if let Err(e) = self.emit_attrs_with_order(out, order) {
            out.truncate(start);
            return Err(e);
        }
        Ok(out.len() - start)
    }

    fn nfgenmsg(&self) -> NfgenmsgRepr {
        NfgenmsgRepr {
            family: self.family,
            version: NFNETLINK_V0,
            res_id: self.group,
        }
    }
}

/// Call `f` with `p` followed by a NUL, using a stack buffer for the usual
/// short prefixes (the kernel limits them to 64 bytes) and the heap only for
/// longer synthetic ones.
fn with_nul<R>(p: &[u8], f: impl FnOnce(&[u8]) -> R) -> R {
    const STACK: usize = 128;
    let mut stack = [0u8; STACK];
    // Strictly shorter than the buffer leaves room for the (already zero) NUL.
    if p.len() < STACK {
        if let Some(dst) = stack.get_mut(..p.len()) {
            dst.copy_from_slice(p);
            return f(stack.get(..=p.len()).unwrap_or(&[]));
        }
    }
    let mut v = p.to_vec();
    v.push(0);
    f(&v)
}

/// `struct nfulnl_msg_config_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct ConfigMode {
    /// Bytes of packet to copy ([`NFULNL_COPY_PACKET`] only).
    pub copy_range: u32,
    /// One of `NFULNL_COPY_*`.
    pub copy_mode: u8,
}

/// The attributes of an `NFULNL_MSG_CONFIG` request.
///
/// Typical use: one message with `cmd: Some(NFULNL_CFG_CMD_BIND)` to the
/// group in `res_id`, then one with mode / timeout / qthresh / flags. The
/// socket layer sends [`ConfigRepr::emit_attrs`]'s output after its own
/// `nfgenmsg`, or the whole of [`ConfigRepr::emit_nlmsg`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct ConfigRepr {
    /// [`NFULA_CFG_CMD`]: one of `NFULNL_CFG_CMD_*`.
    pub cmd: Option<u8>,
    /// [`NFULA_CFG_MODE`].
    pub mode: Option<ConfigMode>,
    /// [`NFULA_CFG_NLBUFSIZ`].
    pub nlbufsiz: Option<u32>,
    /// [`NFULA_CFG_TIMEOUT`] in 1/100 s.
    pub timeout: Option<u32>,
    /// [`NFULA_CFG_QTHRESH`].
    pub qthresh: Option<u32>,
    /// [`NFULA_CFG_FLAGS`]: `NFULNL_CFG_F_*`.
    pub flags: Option<u16>,
}

impl ConfigRepr {
    /// Just a command (bind / unbind / pf_bind / pf_unbind).
    pub fn command(cmd: u8) -> Self {
        ConfigRepr {
            cmd: Some(cmd),
            ..ConfigRepr::default()
        }
    }

    fn for_each_attr(&self, mut f: impl FnMut(u16, &[u8]) -> Result<()>) -> Result<()> {
        if let Some(c) = self.cmd {
            f(NFULA_CFG_CMD, &[c])?;
        }
        if let Some(m) = self.mode {
            let r = m.copy_range.to_be_bytes();
            f(NFULA_CFG_MODE, &[r[0], r[1], r[2], r[3], m.copy_mode, 0])?;
        }
        if let Some(v) = self.nlbufsiz {
            f(NFULA_CFG_NLBUFSIZ, &v.to_be_bytes())?;
        }
        if let Some(v) = self.timeout {
            f(NFULA_CFG_TIMEOUT, &v.to_be_bytes())?;
        }
        if let Some(v) = self.qthresh {
            f(NFULA_CFG_QTHRESH, &v.to_be_bytes())?;
        }
        if let Some(v) = self.flags {
            f(NFULA_CFG_FLAGS, &v.to_be_bytes())?;
        }
        Ok(())
    }

    /// Bytes [`ConfigRepr::emit_attrs`] appends.
    pub fn attrs_len(&self) -> usize {
        let mut n = 0;
        let _ = self.for_each_attr(|_, v| {
            n += nla::attr_buffer_len(v.len());
            Ok(())
        });
        n
    }

    /// Bytes [`ConfigRepr::emit_nlmsg`] appends.
    pub fn buffer_len(&self) -> usize {
        nlmsg::NLMSG_HDRLEN + NFGENMSG_LEN + self.attrs_len()
    }

    /// Append the native-order attribute payload (after `nfgenmsg`).
    pub fn emit_attrs(&self, out: &mut Vec<u8>) -> Result<()> {
        self.for_each_attr(|k, v| nla::push_attr(out, k, v).map(|_| ()))
    }

    /// Write the attribute payload into `buf`; returns the bytes written.
    pub fn emit_attrs_into(&self, buf: &mut [u8]) -> Result<usize> {
        let mut off = 0usize;
        self.for_each_attr(|k, v| {
            let dst = buf.get_mut(off..).unwrap_or(&mut []);
            off += nla::emit_attr(dst, k, v)?;
            Ok(())
        })?;
        Ok(off)
    }

    /// Append a whole request (`NLM_F_REQUEST | NLM_F_ACK`) for `group`
    /// (`res_id`) and `family` (`AF_UNSPEC` = 0 except for PF_(UN)BIND).
    pub fn emit_nlmsg(&self, family: u8, group: u16, seq: u32, out: &mut Vec<u8>) -> Result<usize> {
        let mut attrs = Vec::with_capacity(self.attrs_len());
        self.emit_attrs(&mut attrs)?;
        nlmsg::push_nfnl_message(
            out,
            NlmsgHeader {
                len: 0,
                msg_type: nlmsg::nfnl_msg_type(NFNL_SUBSYS_ULOG, NFULNL_MSG_CONFIG),
                flags: NLM_F_REQUEST | NLM_F_ACK,
                seq,
                pid: 0,
            },
            NfgenmsgRepr {
                family,
                version: NFNETLINK_V0,
                res_id: group,
            },
            &attrs,
        )
    }

    /// Parse a config attribute region (for tests and for a future
    /// replay of config traffic). Unknown attributes are ignored.
    pub fn parse_attrs(attrs: &[u8]) -> Result<Self> {
        let mut r = ConfigRepr::default();
        for a in NlaIter::new(attrs) {
            let a = a?;
            match a.kind() {
                NFULA_CFG_CMD => r.cmd = Some(a.u8()?),
                NFULA_CFG_MODE => {
                    a.check_min_len(6)?;
                    let v = a.value();
                    match (super::read_array::<4>(v, 0), v.get(4)) {
                        (Some(range), Some(&mode)) => {
                            r.mode = Some(ConfigMode {
                                copy_range: u32::from_be_bytes(range),
                                copy_mode: mode,
                            })
                        }
                        _ => return Err(bad_len(&a, 6)),
                    }
                }
                NFULA_CFG_NLBUFSIZ => r.nlbufsiz = Some(a.be_u32()?),
                NFULA_CFG_TIMEOUT => r.timeout = Some(a.be_u32()?),
                NFULA_CFG_QTHRESH => r.qthresh = Some(a.be_u32()?),
                NFULA_CFG_FLAGS => r.flags = Some(a.be_u16()?),
                _ => {}
            }
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::super::nlmsg::{NlmsgIter, NLMSG_DONE};
    use super::super::pcap::{PcapReader, LINKTYPE_NFLOG};
    use super::*;

    fn full_repr(payload: &[u8]) -> NflogRepr<'_> {
        NflogRepr {
            family: 2,
            group: 9,
            packet_hdr: Some(NflogPacketHdr {
                hw_protocol: 0x0800,
                hook: 1,
            }),
            mark: Some(0x2a),
            timestamp: Some(NflogTimestamp {
                sec: 1_795_559_069,
                usec: 982_747,
            }),
            indev: Some(2),
            outdev: Some(3),
            physindev: Some(4),
            physoutdev: Some(5),
            hwaddr: Some(NflogHwAddr {
                addr_len: 6,
                addr: [2, 0, 0, 0, 0, 0xa, 0, 0],
            }),
            payload: Some(payload),
            prefix: Some(b"IN-ICMP "),
            uid: Some(1000),
            seq: Some(7),
            seq_global: Some(8),
            gid: Some(100),
            hwtype: Some(1),
            hwheader: Some(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 8, 0]),
            hwlen: Some(14),
            ct: Some(&[8, 0, 1, 0, 0, 0, 0, 1]),
            ct_info: Some(2),
            vlan: Some(NflogVlan {
                proto: Some(0x8100),
                tci: Some(42),
            }),
            l2hdr: Some(&[0xaa; 18]),
            unknown: 0,
            others: OtherAttrs::default(),
        }
    }

    #[test]
    fn nlmsg_round_trip_full() {
        let payload = [0x45u8, 0, 0, 20, 1, 2, 3];
        let r = full_repr(&payload);
        let mut buf = Vec::new();
        let n = r.emit_nlmsg(11, &mut buf).unwrap();
        assert_eq!(n, buf.len());
        assert_eq!(n, super::super::align4(r.buffer_len()));
        let msg = NlmsgIter::new(&buf).next().unwrap().unwrap();
        assert_eq!(msg.seq(), 11);
        assert_eq!(msg.subsys(), NFNL_SUBSYS_ULOG);
        let back = NflogRepr::parse_nlmsg(&msg).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn nlmsg_round_trip_minimal_and_several_messages() {
        let a = NflogRepr {
            family: 10,
            group: 65535,
            prefix: Some(b""),
            ..NflogRepr::default()
        };
        let payload = [1u8; 33];
        let b = full_repr(&payload);
        let mut buf = Vec::new();
        a.emit_nlmsg(1, &mut buf).unwrap();
        b.emit_nlmsg(2, &mut buf).unwrap();
        a.emit_nlmsg(3, &mut buf).unwrap();
        let got: Vec<NflogRepr> = NlmsgIter::new(&buf)
            .map(|m| NflogRepr::parse_nlmsg(&m.unwrap()).unwrap())
            .collect();
        assert_eq!(got, vec![a, b, a]);
    }

    #[test]
    fn pcap_record_round_trip_both_orders() {
        let payload = [9u8; 5];
        let r = full_repr(&payload);
        for order in [ByteOrder::Little, ByteOrder::Big] {
            let mut rec = Vec::new();
            r.emit_pcap_record(&mut rec, order).unwrap();
            assert_eq!(&rec[..4], &[2, 0, 0, 9]);
            let back = NflogRepr::parse_pcap_record_with_order(&rec, order).unwrap();
            assert_eq!(back, r);
        }
    }

    #[test]
    fn parse_nlmsg_rejects_other_types() {
        let mut buf = Vec::new();
        NflogRepr::default().emit_nlmsg(1, &mut buf).unwrap();
        buf[4..6].copy_from_slice(&NLMSG_DONE.to_ne_bytes());
        let m = NlmsgIter::new(&buf).next().unwrap().unwrap();
        assert_eq!(
            NflogRepr::parse_nlmsg(&m).unwrap_err(),
            WireError::NotNflogPacket {
                msg_type: NLMSG_DONE
            }
        );
        // Right type, but the payload lacks an nfgenmsg.
        let mut short = vec![0u8; 16];
        NlmsgHeader {
            len: 18,
            msg_type: 0x0400,
            ..NlmsgHeader::default()
        }
        .emit(&mut short)
        .unwrap();
        short.extend_from_slice(&[2, 0]);
        let m = NlmsgView::new_checked(&short[..]).unwrap();
        assert_eq!(
            NflogRepr::parse_nlmsg(&m).unwrap_err(),
            WireError::TruncatedNfgenmsg { available: 2 }
        );
    }

    #[test]
    fn unknown_attrs_are_counted_not_fatal() {
        let mut attrs = Vec::new();
        nla::push_attr(&mut attrs, 99, &[1, 2, 3]).unwrap();
        nla::push_attr(&mut attrs, NFULA_MARK, &5u32.to_be_bytes()).unwrap();
        nla::push_attr(&mut attrs, 0, &[]).unwrap();
        let r = NflogRepr::parse_attrs(2, 1, &attrs).unwrap();
        assert_eq!(r.unknown, 2);
        assert_eq!(r.mark, Some(5));
    }

    #[test]
    fn unknown_attrs_are_kept_and_re_emitted() {
        let mut attrs = Vec::new();
        nla::push_attr(&mut attrs, NFULA_MARK, &5u32.to_be_bytes()).unwrap();
        nla::push_attr(&mut attrs, 99 | nla::NLA_F_NESTED, &[1, 2, 3, 4, 5]).unwrap();
        let r = NflogRepr::parse_attrs(2, 1, &attrs).unwrap();
        assert_eq!(
            r.others.iter().collect::<Vec<_>>(),
            [(99 | nla::NLA_F_NESTED, &[1u8, 2, 3, 4, 5][..])]
        );
        let mut out = Vec::new();
        r.emit_attrs(&mut out).unwrap();
        assert_eq!(
            out, attrs,
            "parse -> emit keeps the unknown attribute byte for byte"
        );
        assert_eq!(r.attrs_len(), attrs.len());
        let again = NflogRepr::parse_attrs(2, 1, &out).unwrap();
        assert_eq!(again, r);
    }

    #[test]
    fn bad_value_lengths_name_the_attribute() {
        let cases: [(u16, &[u8], usize); 6] = [
            (NFULA_MARK, &[0, 0, 1], 4),
            (NFULA_HWTYPE, &[0, 0, 0, 1], 2),
            (NFULA_PACKET_HDR, &[8, 0, 1], 4),
            (NFULA_TIMESTAMP, &[0; 8], 16),
            (NFULA_HWADDR, &[0; 6], 12),
            (NFULA_IFINDEX_INDEV, &[], 4),
        ];
        for (kind, value, expected) in cases {
            let mut attrs = Vec::new();
            nla::push_attr(&mut attrs, kind, value).unwrap();
            assert_eq!(
                NflogRepr::parse_attrs(2, 1, &attrs).unwrap_err(),
                WireError::BadAttrValueLen {
                    kind,
                    expected,
                    actual: value.len()
                },
                "{}",
                attr_name(kind)
            );
        }
    }

    #[test]
    fn malformed_tlv_regions() {
        // Truncated header.
        assert_eq!(
            NflogRepr::parse_attrs(2, 1, &[8, 0]).unwrap_err(),
            WireError::TruncatedAttrHeader { available: 2 }
        );
        // Zero-length attribute.
        let mut z = Vec::new();
        nla::push_attr(&mut z, NFULA_MARK, &1u32.to_be_bytes()).unwrap();
        z.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(
            NflogRepr::parse_attrs(2, 1, &z).unwrap_err(),
            WireError::AttrLenTooSmall { len: 0 }
        );
        // Oversized length.
        let mut o = Vec::new();
        nla::push_attr(&mut o, NFULA_PAYLOAD, &[1, 2, 3, 4]).unwrap();
        o[..2].copy_from_slice(&200u16.to_ne_bytes());
        assert_eq!(
            NflogRepr::parse_attrs(2, 1, &o).unwrap_err(),
            WireError::AttrOverrun {
                len: 200,
                available: 8
            }
        );
        // Bad nested VLAN.
        let mut v = Vec::new();
        nla::push_attr(&mut v, NFULA_VLAN, &[2, 0]).unwrap();
        assert!(matches!(
            NflogRepr::parse_attrs(2, 1, &v).unwrap_err(),
            WireError::TruncatedAttrHeader { .. }
        ));
        // Truncated pcap pseudo-header.
        assert_eq!(
            NflogRepr::parse_pcap_record(&[2, 0, 0]).unwrap_err(),
            WireError::TruncatedNflogPcapHeader { available: 3 }
        );
    }

    #[test]
    fn prefix_without_nul_and_hwaddr_slice() {
        let mut attrs = Vec::new();
        nla::push_attr(&mut attrs, NFULA_PREFIX, b"no-nul").unwrap();
        let mut hw = [0u8; 12];
        hw[1] = 20; // claims 20 bytes; as_slice clamps to 8
        nla::push_attr(&mut attrs, NFULA_HWADDR, &hw).unwrap();
        let r = NflogRepr::parse_attrs(2, 1, &attrs).unwrap();
        assert_eq!(r.prefix, Some(&b"no-nul"[..]));
        assert_eq!(r.hwaddr.unwrap().as_slice().len(), 8);
    }

    #[test]
    fn long_prefix_round_trips() {
        let long = [b'p'; 300];
        let r = NflogRepr {
            prefix: Some(&long),
            ..NflogRepr::default()
        };
        let mut buf = Vec::new();
        r.emit_nlmsg(0, &mut buf).unwrap();
        let m = NlmsgView::new_checked(&buf[..]).unwrap();
        assert_eq!(NflogRepr::parse_nlmsg(&m).unwrap(), r);
    }

    #[test]
    fn config_messages() {
        let bind = ConfigRepr::command(NFULNL_CFG_CMD_BIND);
        let mut out = Vec::new();
        bind.emit_attrs(&mut out).unwrap();
        let mut expect = Vec::new();
        expect.extend_from_slice(&5u16.to_ne_bytes());
        expect.extend_from_slice(&NFULA_CFG_CMD.to_ne_bytes());
        expect.extend_from_slice(&[1, 0, 0, 0]);
        assert_eq!(out, expect);
        assert_eq!(bind.attrs_len(), 8);

        let cfg = ConfigRepr {
            cmd: None,
            mode: Some(ConfigMode {
                copy_range: 0xffff,
                copy_mode: NFULNL_COPY_PACKET,
            }),
            nlbufsiz: Some(150_000),
            timeout: Some(100),
            qthresh: Some(10),
            flags: Some(NFULNL_CFG_F_SEQ | NFULNL_CFG_F_SEQ_GLOBAL | NFULNL_CFG_F_CONNTRACK),
        };
        let mut attrs = Vec::new();
        cfg.emit_attrs(&mut attrs).unwrap();
        assert_eq!(attrs.len(), cfg.attrs_len());
        let mut fixed = [0u8; 64];
        let n = cfg.emit_attrs_into(&mut fixed).unwrap();
        assert_eq!(&fixed[..n], &attrs[..]);
        assert!(cfg.emit_attrs_into(&mut [0u8; 10]).is_err());
        assert_eq!(ConfigRepr::parse_attrs(&attrs).unwrap(), cfg);
        // Mode: be32 range, u8 mode, u8 pad -> nla_len 10.
        let first = NlaIter::new(&attrs).next().unwrap().unwrap();
        assert_eq!(first.len(), 10);
        assert_eq!(first.value(), &[0, 0, 0xff, 0xff, 2, 0]);

        let mut msg = Vec::new();
        let n = cfg.emit_nlmsg(0, 9, 42, &mut msg).unwrap();
        assert_eq!(n, cfg.buffer_len());
        let m = NlmsgIter::new(&msg).next().unwrap().unwrap();
        assert_eq!(m.msg_type(), 0x0401);
        assert_eq!(m.flags(), NLM_F_REQUEST | NLM_F_ACK);
        assert_eq!(m.seq(), 42);
        let g = NfgenmsgView::new_checked(m.payload()).unwrap();
        assert_eq!((g.family(), g.version(), g.res_id()), (0, 0, 9));
        assert_eq!(ConfigRepr::parse_attrs(g.attrs()).unwrap(), cfg);
    }

    /// The real capture from `shared/golden/basic` (Linux 6.18, x86):
    /// every record must parse and carry what the ruleset promises.
    #[test]
    fn golden_basic_capture() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/golden-basic/nflog.pcap"
        );
        let file = std::fs::read(path).expect("golden capture fixture");
        let reader = PcapReader::new(&file).unwrap();
        let mut n = 0;
        let mut prefixes = std::collections::BTreeSet::new();
        let mut families = std::collections::BTreeSet::new();
        let mut hooks = std::collections::BTreeSet::new();
        let mut udp_marked = 0;
        for rec in reader {
            let rec = rec.unwrap();
            assert_eq!(rec.linktype, LINKTYPE_NFLOG);
            assert_eq!(rec.data.len() as u32, rec.orig_len);
            let r = NflogRepr::parse_pcap_record(rec.data).unwrap();
            n += 1;
            assert_eq!(r.group, 9);
            assert_eq!(r.unknown, 0);
            let prefix = std::str::from_utf8(r.prefix.unwrap()).unwrap();
            prefixes.insert(prefix.to_owned());
            families.insert(r.family);
            let hdr = r.packet_hdr.unwrap();
            hooks.insert(hdr.hook);
            let payload = r.payload.unwrap();
            match r.family {
                2 => {
                    assert_eq!(hdr.hw_protocol, 0x0800);
                    assert_eq!(payload[0] >> 4, 4);
                }
                10 => {
                    assert_eq!(hdr.hw_protocol, 0x86dd);
                    assert_eq!(payload[0] >> 4, 6);
                }
                f => panic!("unexpected family {f}"),
            }
            if prefix.starts_with("IN-") {
                assert_eq!(hdr.hook, 1, "{prefix}");
                assert_eq!(r.indev, Some(2));
                assert_eq!(r.outdev, None);
                let ts = r.timestamp.expect("input packets carry a timestamp");
                assert!(ts.usec < 1_000_000);
                // Within a second of when tcpdump read it.
                assert!(ts.sec.abs_diff(rec.ts_sec) <= 1);
                let hw = r.hwaddr.unwrap();
                assert_eq!(hw.as_slice(), &[2, 0, 0, 0, 0, 0x0a]);
                assert_eq!(r.hwtype, Some(1));
                assert_eq!(r.hwlen, Some(14));
                assert_eq!(r.hwheader.map(<[u8]>::len), Some(14));
            } else {
                assert!(prefix.starts_with("OUT-"), "{prefix}");
                assert_eq!(hdr.hook, 3);
                assert_eq!(r.outdev, Some(2));
                assert_eq!(r.indev, None);
            }
            if prefix.ends_with("UDP ") && prefix.starts_with("IN-") {
                assert_eq!(r.mark, Some(0x2a));
                udp_marked += 1;
            }
            // Re-emitting the record must give back the very same bytes.
            let mut again = Vec::new();
            r.emit_pcap_record(&mut again, ByteOrder::Little).unwrap();
            assert_eq!(again, rec.data, "{prefix}");
        }
        assert!(n >= 8, "only {n} records");
        for p in ["IN-ICMP ", "OUT-ICMP ", "IN-UDP ", "IN-ICMP6 "] {
            assert!(prefixes.contains(p), "missing {p:?} in {prefixes:?}");
        }
        assert_eq!(families, [2u8, 10].into_iter().collect());
        assert_eq!(hooks, [1u8, 3].into_iter().collect());
        assert!(udp_marked > 0);
    }
}
