//! NFQUEUE (`nfnetlink_queue`) messages: the queued-packet message the kernel sends
//! (`NFQNL_MSG_PACKET`), and the verdict, batch verdict and config messages we send.
//!
//! Numbers come from `include/uapi/linux/netfilter/nfnetlink_queue.h`. Attribute
//! values are big-endian, attribute headers in host order (as for NFLOG). The packet
//! parse borrows every byte slice from the `recv()` buffer ([`NlaIter`] walks in
//! place); the emitters write into a caller's buffer (a stack array on the hot path),
//! so issuing a verdict allocates nothing.

use super::nflog::{NflogHwAddr, NflogPacketHdr, NflogRepr, NflogTimestamp, NflogVlan};
use super::nla::{self, NlaIter, NlaView};
use super::nlmsg::{
    self, NfgenmsgRepr, NfgenmsgView, NlmsgHeader, NlmsgView, NFGENMSG_LEN, NFNETLINK_V0,
    NFNL_SUBSYS_QUEUE, NLMSG_HDRLEN, NLM_F_ACK, NLM_F_REQUEST,
};
use super::{align4, read_array, WireError};

/// Packet from the kernel.
pub const NFQNL_MSG_PACKET: u8 = 0;
/// Verdict on one packet.
pub const NFQNL_MSG_VERDICT: u8 = 1;
/// Queue configuration.
pub const NFQNL_MSG_CONFIG: u8 = 2;
/// Verdict on every packet with an id up to the one given.
pub const NFQNL_MSG_VERDICT_BATCH: u8 = 3;

/// `struct nfqnl_msg_packet_hdr`: be32 id, be16 hw_protocol, u8 hook (packed, 7 bytes).
pub const NFQA_PACKET_HDR: u16 = 1;
/// `struct nfqnl_msg_verdict_hdr`: be32 verdict, be32 id.
pub const NFQA_VERDICT_HDR: u16 = 2;
/// be32 packet mark.
pub const NFQA_MARK: u16 = 3;
/// `struct nfqnl_msg_packet_timestamp`.
pub const NFQA_TIMESTAMP: u16 = 4;
/// be32 input interface.
pub const NFQA_IFINDEX_INDEV: u16 = 5;
/// be32 output interface.
pub const NFQA_IFINDEX_OUTDEV: u16 = 6;
/// be32 physical input interface (bridge).
pub const NFQA_IFINDEX_PHYSINDEV: u16 = 7;
/// be32 physical output interface (bridge).
pub const NFQA_IFINDEX_PHYSOUTDEV: u16 = 8;
/// `struct nfqnl_msg_packet_hw`.
pub const NFQA_HWADDR: u16 = 9;
/// The packet from its network header (or a replacement payload in a verdict).
pub const NFQA_PAYLOAD: u16 = 10;
/// Nested ctnetlink attributes of the packet's conntrack entry.
pub const NFQA_CT: u16 = 11;
/// be32 `enum ip_conntrack_info`.
pub const NFQA_CT_INFO: u16 = 12;
/// be32 length of the packet before copy_range truncated it.
pub const NFQA_CAP_LEN: u16 = 13;
/// be32 `NFQA_SKB_*` flags.
pub const NFQA_SKB_INFO: u16 = 14;
/// Nested conntrack expectation.
pub const NFQA_EXP: u16 = 15;
/// be32 uid of the owning socket.
pub const NFQA_UID: u16 = 16;
/// be32 gid of the owning socket.
pub const NFQA_GID: u16 = 17;
/// Security context string.
pub const NFQA_SECCTX: u16 = 18;
/// Nested VLAN info.
pub const NFQA_VLAN: u16 = 19;
/// Full L2 header (bridge family).
pub const NFQA_L2HDR: u16 = 20;
/// be32 skb priority.
pub const NFQA_PRIORITY: u16 = 21;

/// Config attribute: `struct nfqnl_msg_config_cmd` (u8 cmd, u8 pad, be16 pf).
pub const NFQA_CFG_CMD: u16 = 1;
/// Config attribute: `struct nfqnl_msg_config_params` (be32 range, u8 mode; packed).
pub const NFQA_CFG_PARAMS: u16 = 2;
/// Config attribute: be32 queue length.
pub const NFQA_CFG_QUEUE_MAXLEN: u16 = 3;
/// Config attribute: be32 mask of flags to change.
pub const NFQA_CFG_MASK: u16 = 4;
/// Config attribute: be32 flags.
pub const NFQA_CFG_FLAGS: u16 = 5;

/// Config command: bind the socket to the queue in `res_id`.
pub const NFQNL_CFG_CMD_BIND: u8 = 1;
/// Config command: unbind.
pub const NFQNL_CFG_CMD_UNBIND: u8 = 2;
/// Config command: bind a protocol family (obsolete since 3.8, harmless).
pub const NFQNL_CFG_CMD_PF_BIND: u8 = 3;
/// Config command: unbind a protocol family (obsolete, harmless).
pub const NFQNL_CFG_CMD_PF_UNBIND: u8 = 4;

/// Copy mode: nothing.
pub const NFQNL_COPY_NONE: u8 = 0;
/// Copy mode: metadata only.
pub const NFQNL_COPY_META: u8 = 1;
/// Copy mode: metadata and up to `copy_range` bytes of packet.
pub const NFQNL_COPY_PACKET: u8 = 2;

/// Flag: accept packets instead of dropping them when the queue is full.
pub const NFQA_CFG_F_FAIL_OPEN: u32 = 1 << 0;
/// Flag: attach the conntrack entry ([`NFQA_CT`]).
pub const NFQA_CFG_F_CONNTRACK: u32 = 1 << 1;
/// Flag: queue GSO packets whole.
pub const NFQA_CFG_F_GSO: u32 = 1 << 2;
/// Flag: attach the socket's uid and gid.
pub const NFQA_CFG_F_UID_GID: u32 = 1 << 3;
/// Flag: attach the security context.
pub const NFQA_CFG_F_SECCTX: u32 = 1 << 4;

/// `NF_DROP`.
pub const NF_DROP: u32 = 0;
/// `NF_ACCEPT`.
pub const NF_ACCEPT: u32 = 1;
/// `NF_QUEUE` (the target queue number goes in the upper 16 bits).
pub const NF_QUEUE: u32 = 3;
/// `NF_REPEAT`.
pub const NF_REPEAT: u32 = 4;

/// ctnetlink's `CTA_MARK`, inside [`NFQA_CT`] of a verdict (new connmark).
pub const CTA_MARK: u16 = 8;

/// Why a queued-packet message was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NfqError {
    /// A malformed header or attribute.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// Not `NFNL_SUBSYS_QUEUE << 8 | NFQNL_MSG_PACKET`.
    #[error("not an NFQUEUE packet message (type {msg_type:#06x})")]
    NotPacket {
        /// The message type found.
        msg_type: u16,
    },
    /// The message has no `NFQA_PACKET_HDR`, so it has no packet id to answer.
    #[error("NFQUEUE packet message without NFQA_PACKET_HDR")]
    MissingPacketHdr,
}

/// The meaning of one `NFQNL_MSG_PACKET` message; slices borrow the input buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NfqPacket<'a> {
    /// `nfgenmsg.nfgen_family`.
    pub family: u8,
    /// Queue number (`nfgenmsg.res_id`).
    pub queue: u16,
    /// Packet id, to be quoted in the verdict.
    pub id: u32,
    /// Link-layer protocol (ETH_P_*), host order.
    pub hw_protocol: u16,
    /// Netfilter hook.
    pub hook: u8,
    /// [`NFQA_MARK`].
    pub mark: Option<u32>,
    /// [`NFQA_TIMESTAMP`].
    pub timestamp: Option<NflogTimestamp>,
    /// [`NFQA_IFINDEX_INDEV`].
    pub indev: Option<u32>,
    /// [`NFQA_IFINDEX_OUTDEV`].
    pub outdev: Option<u32>,
    /// [`NFQA_IFINDEX_PHYSINDEV`].
    pub physindev: Option<u32>,
    /// [`NFQA_IFINDEX_PHYSOUTDEV`].
    pub physoutdev: Option<u32>,
    /// [`NFQA_HWADDR`].
    pub hwaddr: Option<NflogHwAddr>,
    /// [`NFQA_PAYLOAD`].
    pub payload: Option<&'a [u8]>,
    /// [`NFQA_CT`] as the raw nested region.
    pub ct: Option<&'a [u8]>,
    /// [`NFQA_CT_INFO`].
    pub ct_info: Option<u32>,
    /// [`NFQA_CAP_LEN`].
    pub cap_len: Option<u32>,
    /// [`NFQA_SKB_INFO`].
    pub skb_info: Option<u32>,
    /// [`NFQA_UID`].
    pub uid: Option<u32>,
    /// [`NFQA_GID`].
    pub gid: Option<u32>,
    /// [`NFQA_SECCTX`] without a trailing NUL.
    pub secctx: Option<&'a [u8]>,
    /// [`NFQA_VLAN`].
    pub vlan: Option<NflogVlan>,
    /// [`NFQA_L2HDR`].
    pub l2hdr: Option<&'a [u8]>,
    /// [`NFQA_PRIORITY`].
    pub priority: Option<u32>,
    /// Attributes of unknown type (saturating).
    pub unknown: u16,
    /// The first unknown attributes, kept and re-emitted after the known ones.
    pub others: super::OtherAttrs<'a>,
}

fn bad_len(a: &NlaView<&[u8]>, expected: usize) -> WireError {
    WireError::BadAttrValueLen {
        kind: a.kind(),
        expected,
        actual: a.value().len(),
    }
}

fn hwaddr(a: &NlaView<&[u8]>) -> Result<NflogHwAddr, WireError> {
    a.check_min_len(12)?;
    let v = a.value();
    match (read_array::<2>(v, 0), read_array::<8>(v, 4)) {
        (Some(l), Some(addr)) => Ok(NflogHwAddr {
            addr_len: u16::from_be_bytes(l),
            addr,
        }),
        _ => Err(bad_len(a, 12)),
    }
}

fn timestamp(a: &NlaView<&[u8]>) -> Result<NflogTimestamp, WireError> {
    a.check_min_len(16)?;
    let v = a.value();
    match (read_array::<8>(v, 0), read_array::<8>(v, 8)) {
        (Some(s), Some(u)) => Ok(NflogTimestamp {
            sec: u64::from_be_bytes(s),
            usec: u64::from_be_bytes(u),
        }),
        _ => Err(bad_len(a, 16)),
    }
}

fn vlan(a: &NlaView<&[u8]>) -> Result<NflogVlan, WireError> {
    let mut out = NflogVlan::default();
    for inner in a.nested() {
        let inner = inner?;
        match inner.kind() {
            1 => out.proto = Some(inner.be_u16()?),
            2 => out.tci = Some(inner.be_u16()?),
            _ => {}
        }
    }
    Ok(out)
}

impl<'a> NfqPacket<'a> {
    /// Parses the attribute region after `nfgenmsg`.
    pub fn parse_attrs(family: u8, queue: u16, attrs: &'a [u8]) -> Result<Self, NfqError> {
        let mut r = NfqPacket {
            family,
            queue,
            ..NfqPacket::default()
        };
        let mut have_hdr = false;
        for a in NlaIter::new(attrs) {
            let a = a?;
            match a.kind() {
                NFQA_PACKET_HDR => {
                    a.check_min_len(7)?;
                    let v = a.value();
                    match (read_array::<4>(v, 0), read_array::<2>(v, 4), v.get(6)) {
                        (Some(id), Some(p), Some(&hook)) => {
                            r.id = u32::from_be_bytes(id);
                            r.hw_protocol = u16::from_be_bytes(p);
                            r.hook = hook;
                            have_hdr = true;
                        }
                        _ => return Err(bad_len(&a, 7).into()),
                    }
                }
                NFQA_MARK => r.mark = Some(a.be_u32()?),
                NFQA_TIMESTAMP => r.timestamp = Some(timestamp(&a)?),
                NFQA_IFINDEX_INDEV => r.indev = Some(a.be_u32()?),
                NFQA_IFINDEX_OUTDEV => r.outdev = Some(a.be_u32()?),
                NFQA_IFINDEX_PHYSINDEV => r.physindev = Some(a.be_u32()?),
                NFQA_IFINDEX_PHYSOUTDEV => r.physoutdev = Some(a.be_u32()?),
                NFQA_HWADDR => r.hwaddr = Some(hwaddr(&a)?),
                NFQA_PAYLOAD => r.payload = Some(a.value()),
                NFQA_CT => r.ct = Some(a.value()),
                NFQA_CT_INFO => r.ct_info = Some(a.be_u32()?),
                NFQA_CAP_LEN => r.cap_len = Some(a.be_u32()?),
                NFQA_SKB_INFO => r.skb_info = Some(a.be_u32()?),
                NFQA_UID => r.uid = Some(a.be_u32()?),
                NFQA_GID => r.gid = Some(a.be_u32()?),
                NFQA_SECCTX => r.secctx = Some(a.cstr()),
                NFQA_VLAN => r.vlan = Some(vlan(&a)?),
                NFQA_L2HDR => r.l2hdr = Some(a.value()),
                NFQA_PRIORITY => r.priority = Some(a.be_u32()?),
                NFQA_EXP => {}
                _ => {
                    r.unknown = r.unknown.saturating_add(1);
                    r.others.push(a.raw_kind(), a.value());
                }
            }
        }
        if !have_hdr {
            return Err(NfqError::MissingPacketHdr);
        }
        Ok(r)
    }

    /// Parses a whole message as received from the socket.
    pub fn parse_nlmsg<T: AsRef<[u8]> + ?Sized>(msg: &NlmsgView<&'a T>) -> Result<Self, NfqError> {
        let t = msg.msg_type();
        if nlmsg::nfnl_subsys(t) != NFNL_SUBSYS_QUEUE || nlmsg::nfnl_msg(t) != NFQNL_MSG_PACKET {
            return Err(NfqError::NotPacket { msg_type: t });
        }
        let gen = NfgenmsgView::new_checked(msg.payload()).map_err(NfqError::Wire)?;
        Self::parse_attrs(gen.family(), gen.res_id(), gen.attrs())
    }

    /// The packet id of a message whose full parse failed, if its header attribute can
    /// still be found (so the packet can be answered with the default verdict).
    pub fn peek_id<T: AsRef<[u8]> + ?Sized>(msg: &NlmsgView<&'a T>) -> Option<(u16, u32)> {
        let gen = NfgenmsgView::new_checked(msg.payload()).ok()?;
        for a in NlaIter::new(gen.attrs()) {
            let a = a.ok()?;
            if a.kind() == NFQA_PACKET_HDR {
                return read_array::<4>(a.value(), 0)
                    .map(|b| (gen.res_id(), u32::from_be_bytes(b)));
            }
        }
        None
    }

    /// The same packet as an NFLOG message, so NFLOG's key filler serves NFQUEUE too
    /// (`nfgenmsg.res_id` becomes the group; there is no prefix, no hardware header).
    pub fn as_nflog(&self) -> NflogRepr<'a> {
        NflogRepr {
            family: self.family,
            group: self.queue,
            packet_hdr: Some(NflogPacketHdr {
                hw_protocol: self.hw_protocol,
                hook: self.hook,
            }),
            mark: self.mark,
            timestamp: self.timestamp,
            indev: self.indev,
            outdev: self.outdev,
            physindev: self.physindev,
            physoutdev: self.physoutdev,
            hwaddr: self.hwaddr,
            payload: self.payload,
            uid: self.uid,
            gid: self.gid,
            ct: self.ct,
            ct_info: self.ct_info,
            vlan: self.vlan,
            l2hdr: self.l2hdr,
            ..NflogRepr::default()
        }
    }

    /// Appends this packet as the kernel would send it (for tests, benches, fuzz seeds).
    pub fn emit_nlmsg(&self, out: &mut Vec<u8>) -> Result<usize, WireError> {
        let mut attrs = Vec::new();
        let mut hdr = [0u8; 7];
        hdr[..4].copy_from_slice(&self.id.to_be_bytes());
        hdr[4..6].copy_from_slice(&self.hw_protocol.to_be_bytes());
        hdr[6] = self.hook;
        nla::push_attr(&mut attrs, NFQA_PACKET_HDR, &hdr)?;
        for (k, v) in [
            (NFQA_MARK, self.mark),
            (NFQA_IFINDEX_INDEV, self.indev),
            (NFQA_IFINDEX_OUTDEV, self.outdev),
            (NFQA_IFINDEX_PHYSINDEV, self.physindev),
            (NFQA_IFINDEX_PHYSOUTDEV, self.physoutdev),
            (NFQA_UID, self.uid),
            (NFQA_GID, self.gid),
            (NFQA_CT_INFO, self.ct_info),
            (NFQA_CAP_LEN, self.cap_len),
            (NFQA_SKB_INFO, self.skb_info),
            (NFQA_PRIORITY, self.priority),
        ] {
            if let Some(v) = v {
                nla::push_attr(&mut attrs, k, &v.to_be_bytes())?;
            }
        }
        if let Some(h) = self.hwaddr {
            let mut b = [0u8; 12];
            b[..2].copy_from_slice(&h.addr_len.to_be_bytes());
            b[4..].copy_from_slice(&h.addr);
            nla::push_attr(&mut attrs, NFQA_HWADDR, &b)?;
        }
        if let Some(t) = self.timestamp {
            let mut b = [0u8; 16];
            b[..8].copy_from_slice(&t.sec.to_be_bytes());
            b[8..].copy_from_slice(&t.usec.to_be_bytes());
            nla::push_attr(&mut attrs, NFQA_TIMESTAMP, &b)?;
        }
        if let Some(c) = self.ct {
            nla::push_attr(&mut attrs, NFQA_CT | nla::NLA_F_NESTED, c)?;
        }
        if let Some(s) = self.secctx {
            nla::push_attr(&mut attrs, NFQA_SECCTX, s)?;
        }
        if let Some(l) = self.l2hdr {
            nla::push_attr(&mut attrs, NFQA_L2HDR, l)?;
        }
        if let Some(p) = self.payload {
            nla::push_attr(&mut attrs, NFQA_PAYLOAD, p)?;
        }
        for (k, v) in self.others.iter() {
            nla::push_attr(&mut attrs, k, v)?;
        }
        nlmsg::push_nfnl_message(
            out,
            NlmsgHeader {
                len: 0,
                msg_type: nlmsg::nfnl_msg_type(NFNL_SUBSYS_QUEUE, NFQNL_MSG_PACKET),
                flags: 0,
                seq: 0,
                pid: 0,
            },
            NfgenmsgRepr {
                family: self.family,
                version: NFNETLINK_V0,
                res_id: self.queue,
            },
            &attrs,
        )
    }
}

/// A verdict message (`NFQNL_MSG_VERDICT`, or `NFQNL_MSG_VERDICT_BATCH` for every
/// queued packet up to `id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VerdictRepr<'a> {
    /// Queue number.
    pub queue: u16,
    /// Packet id (the highest id covered, for a batch).
    pub id: u32,
    /// `NF_*` verdict (with the target queue in the upper 16 bits for `NF_QUEUE`).
    pub verdict: u32,
    /// New packet mark.
    pub mark: Option<u32>,
    /// New conntrack mark (not allowed in a batch).
    pub connmark: Option<u32>,
    /// Replacement packet (not allowed in a batch).
    pub payload: Option<&'a [u8]>,
    /// Batch verdict.
    pub batch: bool,
}

/// Size of a verdict message without payload: header, nfgenmsg, verdict header, mark
/// and nested connmark.
pub const VERDICT_MAX_LEN: usize = NLMSG_HDRLEN + NFGENMSG_LEN + 12 + 8 + 12;

impl VerdictRepr<'_> {
    /// Bytes [`VerdictRepr::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        VERDICT_MAX_LEN + self.payload.map_or(0, |p| nla::attr_buffer_len(p.len()))
    }

    /// Writes the message at the start of `buf`, returns its length. `seq` is the
    /// netlink sequence number (0 is fine: verdicts are not acknowledged).
    pub fn emit(&self, buf: &mut [u8], seq: u32) -> Result<usize, WireError> {
        let needed = self.buffer_len();
        if buf.len() < NLMSG_HDRLEN + NFGENMSG_LEN {
            return Err(WireError::BufferTooSmall {
                needed,
                available: buf.len(),
            });
        }
        let mut off = NLMSG_HDRLEN + NFGENMSG_LEN;
        let mut vh = [0u8; 8];
        vh[..4].copy_from_slice(&self.verdict.to_be_bytes());
        vh[4..].copy_from_slice(&self.id.to_be_bytes());
        off += nla::emit_attr(buf.get_mut(off..).unwrap_or(&mut []), NFQA_VERDICT_HDR, &vh)?;
        if let Some(m) = self.mark {
            off += nla::emit_attr(
                buf.get_mut(off..).unwrap_or(&mut []),
                NFQA_MARK,
                &m.to_be_bytes(),
            )?;
        }
        if !self.batch {
            if let Some(c) = self.connmark {
                let mut inner = [0u8; 8];
                nla::emit_attr(&mut inner, CTA_MARK, &c.to_be_bytes())?;
                off += nla::emit_attr(
                    buf.get_mut(off..).unwrap_or(&mut []),
                    NFQA_CT | nla::NLA_F_NESTED,
                    &inner,
                )?;
            }
            if let Some(p) = self.payload {
                off += nla::emit_attr(buf.get_mut(off..).unwrap_or(&mut []), NFQA_PAYLOAD, p)?;
            }
        }
        let msg = if self.batch {
            NFQNL_MSG_VERDICT_BATCH
        } else {
            NFQNL_MSG_VERDICT
        };
        NlmsgHeader {
            len: off as u32,
            msg_type: nlmsg::nfnl_msg_type(NFNL_SUBSYS_QUEUE, msg),
            flags: NLM_F_REQUEST,
            seq,
            pid: 0,
        }
        .emit(buf)?;
        NfgenmsgRepr {
            family: 0,
            version: NFNETLINK_V0,
            res_id: self.queue,
        }
        .emit(buf.get_mut(NLMSG_HDRLEN..).unwrap_or(&mut []))?;
        Ok(align4(off))
    }
}

/// An `NFQNL_MSG_CONFIG` request (sent with `NLM_F_ACK`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueConfig {
    /// Queue number.
    pub queue: u16,
    /// Command and protocol family.
    pub cmd: Option<(u8, u16)>,
    /// Copy mode and range.
    pub params: Option<(u8, u32)>,
    /// Queue length.
    pub maxlen: Option<u32>,
    /// Flags to set, and the mask of flags to change.
    pub flags: Option<(u32, u32)>,
}

impl QueueConfig {
    /// Appends the request to `out`.
    pub fn emit_nlmsg(&self, seq: u32, out: &mut Vec<u8>) -> Result<usize, WireError> {
        let mut attrs = Vec::with_capacity(64);
        if let Some((cmd, pf)) = self.cmd {
            let p = pf.to_be_bytes();
            nla::push_attr(&mut attrs, NFQA_CFG_CMD, &[cmd, 0, p[0], p[1]])?;
        }
        if let Some((mode, range)) = self.params {
            let r = range.to_be_bytes();
            nla::push_attr(&mut attrs, NFQA_CFG_PARAMS, &[r[0], r[1], r[2], r[3], mode])?;
        }
        if let Some(l) = self.maxlen {
            nla::push_attr(&mut attrs, NFQA_CFG_QUEUE_MAXLEN, &l.to_be_bytes())?;
        }
        if let Some((flags, mask)) = self.flags {
            nla::push_attr(&mut attrs, NFQA_CFG_MASK, &mask.to_be_bytes())?;
            nla::push_attr(&mut attrs, NFQA_CFG_FLAGS, &flags.to_be_bytes())?;
        }
        nlmsg::push_nfnl_message(
            out,
            NlmsgHeader {
                len: 0,
                msg_type: nlmsg::nfnl_msg_type(NFNL_SUBSYS_QUEUE, NFQNL_MSG_CONFIG),
                flags: NLM_F_REQUEST | NLM_F_ACK,
                seq,
                pid: 0,
            },
            NfgenmsgRepr {
                family: 0,
                version: NFNETLINK_V0,
                res_id: self.queue,
            },
            &attrs,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::NlmsgIter;

    fn sample() -> NfqPacket<'static> {
        NfqPacket {
            family: 2,
            queue: 7,
            id: 42,
            hw_protocol: 0x0800,
            hook: 1,
            mark: Some(0x2a),
            indev: Some(3),
            uid: Some(0),
            payload: Some(&[
                0x45, 0, 0, 20, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
            ]),
            timestamp: Some(NflogTimestamp { sec: 5, usec: 6 }),
            ..NfqPacket::default()
        }
    }

    #[test]
    fn packet_round_trip() {
        let p = sample();
        let mut buf = Vec::new();
        p.emit_nlmsg(&mut buf).unwrap();
        let m = NlmsgIter::new(&buf).next().unwrap().unwrap();
        assert_eq!(NfqPacket::parse_nlmsg(&m).unwrap(), p);
        assert_eq!(NfqPacket::peek_id(&m), Some((7, 42)));
        let n = p.as_nflog();
        assert_eq!(n.packet_hdr.unwrap().hook, 1);
        assert_eq!(n.group, 7);
    }

    #[test]
    fn unknown_attrs_round_trip() {
        let mut p = sample();
        p.others.push(200, b"new kernel data");
        p.unknown = 1;
        let mut buf = Vec::new();
        p.emit_nlmsg(&mut buf).unwrap();
        let m = NlmsgIter::new(&buf).next().unwrap().unwrap();
        let back = NfqPacket::parse_nlmsg(&m).unwrap();
        assert_eq!(back, p);
        assert_eq!(
            back.others.iter().next(),
            Some((200, &b"new kernel data"[..]))
        );
    }

    #[test]
    fn missing_header_and_wrong_type_are_typed_errors() {
        let mut attrs = Vec::new();
        nla::push_attr(&mut attrs, NFQA_MARK, &1u32.to_be_bytes()).unwrap();
        assert_eq!(
            NfqPacket::parse_attrs(2, 0, &attrs),
            Err(NfqError::MissingPacketHdr)
        );
        let mut attrs = Vec::new();
        nla::push_attr(&mut attrs, NFQA_PACKET_HDR, &[0, 0, 0]).unwrap();
        assert!(matches!(
            NfqPacket::parse_attrs(2, 0, &attrs),
            Err(NfqError::Wire(_))
        ));
        let mut buf = Vec::new();
        QueueConfig::default().emit_nlmsg(1, &mut buf).unwrap();
        let m = NlmsgIter::new(&buf).next().unwrap().unwrap();
        assert!(matches!(
            NfqPacket::parse_nlmsg(&m),
            Err(NfqError::NotPacket { .. })
        ));
    }

    #[test]
    fn verdict_layout() {
        let mut b = [0u8; 128];
        let v = VerdictRepr {
            queue: 3,
            id: 9,
            verdict: NF_ACCEPT,
            mark: Some(1),
            connmark: Some(2),
            ..VerdictRepr::default()
        };
        let n = v.emit(&mut b, 0).unwrap();
        assert_eq!(n, 16 + 4 + 12 + 8 + 12);
        let m = NlmsgIter::new(&b[..n]).next().unwrap().unwrap();
        assert_eq!(m.msg_type(), 0x0301);
        let g = NfgenmsgView::new_checked(m.payload()).unwrap();
        assert_eq!(g.res_id(), 3);
        let kinds: Vec<u16> = NlaIter::new(g.attrs()).map(|a| a.unwrap().kind()).collect();
        assert_eq!(kinds, vec![NFQA_VERDICT_HDR, NFQA_MARK, NFQA_CT]);
        let batch = VerdictRepr {
            batch: true,
            connmark: Some(5),
            ..v
        };
        let n = batch.emit(&mut b, 0).unwrap();
        let m = NlmsgIter::new(&b[..n]).next().unwrap().unwrap();
        assert_eq!(m.msg_type(), 0x0303);
        assert!(VerdictRepr::default().emit(&mut [0u8; 10], 0).is_err());
    }

    #[test]
    fn config_params_are_packed() {
        let mut buf = Vec::new();
        QueueConfig {
            queue: 1,
            params: Some((NFQNL_COPY_PACKET, 0xffff)),
            flags: Some((NFQA_CFG_F_FAIL_OPEN, NFQA_CFG_F_FAIL_OPEN)),
            ..QueueConfig::default()
        }
        .emit_nlmsg(1, &mut buf)
        .unwrap();
        let m = NlmsgIter::new(&buf).next().unwrap().unwrap();
        let g = NfgenmsgView::new_checked(m.payload()).unwrap();
        let a: Vec<_> = NlaIter::new(g.attrs()).map(|a| a.unwrap()).collect();
        assert_eq!(a[0].value(), &[0, 0, 0xff, 0xff, 2]);
        assert_eq!(a[1].kind(), NFQA_CFG_MASK);
    }
}
