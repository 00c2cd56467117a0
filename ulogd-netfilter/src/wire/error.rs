//! The single error type of the wire codecs.
//!
//! Variants are deliberately fine-grained: when a kernel, a capture file or a
//! fuzzer hands us something malformed, the log line should say *which*
//! length was wrong and by how much, not just "parse error".

use thiserror::Error;

/// Everything that can be wrong with bytes handed to the wire codecs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum WireError {
    // ---- netlink message level -------------------------------------------
    /// Fewer bytes than a `struct nlmsghdr` (16) remain in the buffer.
    #[error("truncated netlink header: {available} bytes left, need 16")]
    TruncatedNlmsgHeader {
        /// Bytes that were left.
        available: usize,
    },
    /// `nlmsg_len` is smaller than the header it is part of.
    #[error("netlink message length {len} is smaller than its 16-byte header")]
    NlmsgLenTooSmall {
        /// The `nlmsg_len` field.
        len: u32,
    },
    /// `nlmsg_len` claims more bytes than the buffer holds.
    #[error("netlink message length {len} overruns the buffer ({available} bytes left)")]
    NlmsgOverrun {
        /// The `nlmsg_len` field.
        len: u32,
        /// Bytes that were left.
        available: usize,
    },
    /// An `NLMSG_ERROR` payload is shorter than `struct nlmsgerr` (4 + 16).
    #[error("truncated nlmsgerr: {available} bytes, need 20")]
    TruncatedNlmsgErr {
        /// Payload length.
        available: usize,
    },
    /// A nfnetlink message is shorter than its `struct nfgenmsg` (4).
    #[error("truncated nfgenmsg header: {available} bytes, need 4")]
    TruncatedNfgenmsg {
        /// Payload length.
        available: usize,
    },
    /// The message is not an NFLOG packet (`NFNL_SUBSYS_ULOG`/`NFULNL_MSG_PACKET`).
    #[error("netlink message type {msg_type:#06x} is not an NFLOG packet")]
    NotNflogPacket {
        /// The `nlmsg_type` field.
        msg_type: u16,
    },
    /// The message is not a ctnetlink conntrack message this codec parses
    /// (`NFNL_SUBSYS_CTNETLINK` with `IPCTNL_MSG_CT_NEW` / `_GET` /
    /// `_DELETE` / `_GET_CTRZERO`).
    #[error("netlink message type {msg_type:#06x} is not a ctnetlink conntrack message")]
    NotCtnetlinkMessage {
        /// The `nlmsg_type` field.
        msg_type: u16,
    },
    /// The message is not an nfacct object (`NFNL_SUBSYS_ACCT` with
    /// `NFNL_MSG_ACCT_NEW` / `_GET` / `_GET_CTRZERO`).
    #[error("netlink message type {msg_type:#06x} is not an nfacct object message")]
    NotNfacctMessage {
        /// The `nlmsg_type` field.
        msg_type: u16,
    },
    /// An `emit()` was given an output buffer that is too small.
    #[error("output buffer too small: need {needed} bytes, have {available}")]
    BufferTooSmall {
        /// Bytes the emitter needs.
        needed: usize,
        /// Bytes it was given.
        available: usize,
    },
    /// A length to be written does not fit its on-wire field.
    #[error("length {len} does not fit the {max}-byte maximum of its field")]
    LengthTooLarge {
        /// The length that was asked for.
        len: usize,
        /// The largest representable value.
        max: usize,
    },

    // ---- attribute (TLV) level -------------------------------------------
    /// Fewer bytes than a `struct nlattr` (4) remain where an attribute starts.
    #[error("truncated attribute header: {available} bytes left, need 4")]
    TruncatedAttrHeader {
        /// Bytes that were left.
        available: usize,
    },
    /// `nla_len` is smaller than the 4-byte attribute header (0 included).
    #[error("attribute length {len} is smaller than its 4-byte header")]
    AttrLenTooSmall {
        /// The `nla_len` field.
        len: u16,
    },
    /// `nla_len` claims more bytes than remain in the enclosing region.
    #[error("attribute length {len} overruns the buffer ({available} bytes left)")]
    AttrOverrun {
        /// The `nla_len` field.
        len: u16,
        /// Bytes that were left.
        available: usize,
    },
    /// An attribute's value does not have the size its type requires.
    #[error("bad value length for attribute type {kind}: got {actual} bytes, expected {expected}")]
    BadAttrValueLen {
        /// The attribute type (flags masked off).
        kind: u16,
        /// Required length (exact for scalars, minimum for structs).
        expected: usize,
        /// Length found.
        actual: usize,
    },
    /// The LINKTYPE_NFLOG pseudo-header (4 bytes) is missing.
    #[error("truncated NFLOG pcap record: {available} bytes, need 4")]
    TruncatedNflogPcapHeader {
        /// Record length.
        available: usize,
    },

    // ---- pcap / pcapng -----------------------------------------------------
    /// The input is too short to tell the capture format.
    #[error("truncated capture file header: {available} bytes")]
    TruncatedPcapHeader {
        /// Bytes available.
        available: usize,
    },
    /// Neither a pcap nor a pcapng magic number.
    #[error("unknown capture file magic {magic:#010x}")]
    BadPcapMagic {
        /// First four bytes, read little-endian.
        magic: u32,
    },
    /// A classic pcap file whose major version is not 2.
    #[error("unsupported pcap version {major}.{minor}")]
    UnsupportedPcapVersion {
        /// Major version.
        major: u16,
        /// Minor version.
        minor: u16,
    },
    /// A classic pcap record header (16 bytes) is cut short.
    #[error("truncated pcap record header: {available} bytes left, need 16")]
    TruncatedPcapRecordHeader {
        /// Bytes left.
        available: usize,
    },
    /// A record's captured length runs past the end of the file or block.
    #[error("pcap record captured length {caplen} overruns the file ({available} bytes left)")]
    PcapRecordOverrun {
        /// Captured length claimed.
        caplen: u32,
        /// Bytes available.
        available: usize,
    },
    /// A pcapng block header (8 bytes) is cut short.
    #[error("truncated pcapng block: {available} bytes left")]
    TruncatedPcapngBlock {
        /// Bytes left.
        available: usize,
    },
    /// A pcapng block's total length is below 12, not a multiple of 4, or
    /// larger than the rest of the file.
    #[error("bad pcapng block length {len} ({available} bytes left)")]
    BadPcapngBlockLen {
        /// Block total length field.
        len: u32,
        /// Bytes left.
        available: usize,
    },
    /// The trailing copy of a pcapng block's length differs from the leading one.
    #[error("pcapng block length mismatch: header says {leading}, trailer says {trailing}")]
    PcapngBlockLenMismatch {
        /// Leading length.
        leading: u32,
        /// Trailing length.
        trailing: u32,
    },
    /// A Section Header Block with an unknown byte-order magic.
    #[error("bad pcapng byte-order magic {magic:#010x}")]
    BadPcapngByteOrderMagic {
        /// The field as read little-endian.
        magic: u32,
    },
    /// A pcapng block is too short for the fixed fields of its type.
    #[error("pcapng block type {block_type:#x} body too short: {len} bytes, need {needed}")]
    TruncatedPcapngBody {
        /// Block type.
        block_type: u32,
        /// Body length.
        len: usize,
        /// Minimum body length for this type.
        needed: usize,
    },
    /// A packet block refers to an interface no IDB has described.
    #[error("pcapng packet refers to unknown interface {interface_id}")]
    PcapngUnknownInterface {
        /// Interface index in the current section.
        interface_id: u32,
    },
    /// An `if_tsresol` we cannot represent (finer than 10^-19 s or 2^-64 s).
    #[error("unsupported pcapng if_tsresol {value:#04x}")]
    UnsupportedTsResol {
        /// Raw option byte.
        value: u8,
    },
}
