//! nfacct (`nfnetlink_acct`) messages: the accounting objects iptables'
//! `-m nfacct --nfacct-name NAME` counts into, dumped by the NFACCT source.
//!
//! Numbers come from `include/uapi/linux/netfilter/nfnetlink_acct.h`
//! (`enum nfnl_acct_msg_types`, `enum nfnl_acct_type`), checked against the
//! Linux uapi header. Dump replies are `NFNL_MSG_ACCT_NEW` messages with
//! `NLM_F_MULTI`, ended by `NLMSG_DONE`:
//!
//! ```text
//! nlmsghdr (type = NFNL_SUBSYS_ACCT << 8 | NFNL_MSG_ACCT_NEW, NLM_F_MULTI)
//! nfgenmsg (family AF_UNSPEC, version 0, res_id 0)
//! NFACCT_NAME  "name\0"  (at most NFACCT_NAME_MAX = 32 bytes with the NUL)
//! NFACCT_PKTS  be64
//! NFACCT_BYTES be64
//! NFACCT_USE   be32
//! NFACCT_FLAGS be32, NFACCT_QUOTA be64 (quota objects only)
//! ```
//!
//! [`NfacctRepr`] borrows the name from the buffer; nothing is allocated.

use super::nla::{self, NlaIter};
use super::nlmsg::{
    self, NfgenmsgRepr, NfgenmsgView, NlmsgHeader, NlmsgView, NFNETLINK_V0, NFNL_SUBSYS_ACCT,
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_MULTI, NLM_F_REQUEST,
};
use super::{Result, WireError};

/// Create / update an object (also the type of dump replies).
pub const NFNL_MSG_ACCT_NEW: u8 = 0;
/// Get or dump objects.
pub const NFNL_MSG_ACCT_GET: u8 = 1;
/// Get or dump objects and zero their counters atomically.
pub const NFNL_MSG_ACCT_GET_CTRZERO: u8 = 2;
/// Delete an object.
pub const NFNL_MSG_ACCT_DEL: u8 = 3;
/// Quota exceeded notification (multicast).
pub const NFNL_MSG_ACCT_OVERQUOTA: u8 = 4;

/// NUL-terminated object name.
pub const NFACCT_NAME: u16 = 1;
/// be64 packet counter.
pub const NFACCT_PKTS: u16 = 2;
/// be64 byte counter.
pub const NFACCT_BYTES: u16 = 3;
/// be32 reference count.
pub const NFACCT_USE: u16 = 4;
/// be32 `NFACCT_F_*` flags.
pub const NFACCT_FLAGS: u16 = 5;
/// be64 quota.
pub const NFACCT_QUOTA: u16 = 6;
/// Nested dump filter (requests only).
pub const NFACCT_FILTER: u16 = 7;
/// Alignment padding (ignored).
pub const NFACCT_PAD: u16 = 8;
/// Longest name including its NUL.
pub const NFACCT_NAME_MAX: usize = 32;

/// One accounting object, as a dump reply reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NfacctRepr<'a> {
    /// [`NFACCT_NAME`] without its NUL.
    pub name: &'a [u8],
    /// [`NFACCT_PKTS`].
    pub pkts: u64,
    /// [`NFACCT_BYTES`].
    pub bytes: u64,
    /// [`NFACCT_USE`].
    pub use_: Option<u32>,
    /// [`NFACCT_FLAGS`].
    pub flags: Option<u32>,
    /// [`NFACCT_QUOTA`].
    pub quota: Option<u64>,
    /// Attributes not represented (saturating).
    pub unknown: u16,
}

impl<'a> NfacctRepr<'a> {
    /// Parses an `NFACCT_*` attribute region (what follows the `nfgenmsg`).
    /// A message without [`NFACCT_NAME`] is an error: it names nothing.
    pub fn parse_attrs(attrs: &'a [u8]) -> Result<Self> {
        let mut r = NfacctRepr::default();
        let mut named = false;
        for a in NlaIter::new(attrs) {
            let a = a?;
            match a.kind() {
                NFACCT_NAME => {
                    r.name = a.cstr();
                    named = true;
                }
                NFACCT_PKTS => r.pkts = a.be_u64()?,
                NFACCT_BYTES => r.bytes = a.be_u64()?,
                NFACCT_USE => r.use_ = Some(a.be_u32()?),
                NFACCT_FLAGS => r.flags = Some(a.be_u32()?),
                NFACCT_QUOTA => r.quota = Some(a.be_u64()?),
                NFACCT_PAD => {}
                _ => r.unknown = r.unknown.saturating_add(1),
            }
        }
        if !named {
            return Err(WireError::BadAttrValueLen {
                kind: NFACCT_NAME,
                expected: 1,
                actual: 0,
            });
        }
        Ok(r)
    }

    /// Parses a whole nfacct message (a dump reply or a NEW request).
    pub fn parse_nlmsg<T: AsRef<[u8]> + ?Sized>(msg: &NlmsgView<&'a T>) -> Result<Self> {
        if msg.subsys() != NFNL_SUBSYS_ACCT
            || !matches!(
                msg.nfnl_msg(),
                NFNL_MSG_ACCT_NEW | NFNL_MSG_ACCT_GET | NFNL_MSG_ACCT_GET_CTRZERO
            )
        {
            return Err(WireError::NotNfacctMessage {
                msg_type: msg.msg_type(),
            });
        }
        let gen = NfgenmsgView::new_checked(msg.payload())?;
        Self::parse_attrs(gen.attrs())
    }

    /// Appends the attribute region in the kernel's order.
    pub fn emit_attrs(&self, out: &mut Vec<u8>) -> Result<()> {
        let mut name = Vec::with_capacity(self.name.len() + 1);
        name.extend_from_slice(self.name);
        name.push(0);
        nla::push_attr(out, NFACCT_NAME, &name)?;
        nla::push_attr(out, NFACCT_PKTS, &self.pkts.to_be_bytes())?;
        nla::push_attr(out, NFACCT_BYTES, &self.bytes.to_be_bytes())?;
        if let Some(u) = self.use_ {
            nla::push_attr(out, NFACCT_USE, &u.to_be_bytes())?;
        }
        if let Some(f) = self.flags {
            nla::push_attr(out, NFACCT_FLAGS, &f.to_be_bytes())?;
        }
        if let Some(q) = self.quota {
            nla::push_attr(out, NFACCT_QUOTA, &q.to_be_bytes())?;
        }
        Ok(())
    }

    /// Appends a complete message as the kernel sends a dump reply
    /// (`NFNL_MSG_ACCT_NEW`, `NLM_F_MULTI`), for tests and fuzz seeds.
    pub fn emit_nlmsg(&self, seq: u32, out: &mut Vec<u8>) -> Result<usize> {
        self.emit_with(NFNL_MSG_ACCT_NEW, NLM_F_MULTI, seq, out)
    }

    /// Appends a request creating this object (`NFNL_MSG_ACCT_NEW`,
    /// `NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK`), as `nfacct add` sends it.
    pub fn emit_new_request(&self, seq: u32, out: &mut Vec<u8>) -> Result<usize> {
        self.emit_with(
            NFNL_MSG_ACCT_NEW,
            NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK,
            seq,
            out,
        )
    }

    fn emit_with(&self, msg: u8, flags: u16, seq: u32, out: &mut Vec<u8>) -> Result<usize> {
        let mut attrs = Vec::new();
        self.emit_attrs(&mut attrs)?;
        nlmsg::push_nfnl_message(
            out,
            NlmsgHeader {
                len: 0,
                msg_type: nlmsg::nfnl_msg_type(NFNL_SUBSYS_ACCT, msg),
                flags,
                seq,
                pid: 0,
            },
            NfgenmsgRepr {
                family: 0,
                version: NFNETLINK_V0,
                res_id: 0,
            },
            &attrs,
        )
    }
}

/// Appends a dump request for every object: `NFNL_MSG_ACCT_GET`, or
/// `NFNL_MSG_ACCT_GET_CTRZERO` when `zero` (counters reset as they are read).
pub fn emit_dump_request(zero: bool, seq: u32, out: &mut Vec<u8>) -> Result<usize> {
    nlmsg::push_nfnl_message(
        out,
        NlmsgHeader {
            len: 0,
            msg_type: nlmsg::nfnl_msg_type(
                NFNL_SUBSYS_ACCT,
                if zero {
                    NFNL_MSG_ACCT_GET_CTRZERO
                } else {
                    NFNL_MSG_ACCT_GET
                },
            ),
            flags: NLM_F_REQUEST | NLM_F_DUMP,
            seq,
            pid: 0,
        },
        NfgenmsgRepr {
            family: 0,
            version: NFNETLINK_V0,
            res_id: 0,
        },
        &[],
    )
}

/// Appends a request deleting object `name` (`NFNL_MSG_ACCT_DEL`, with ACK).
pub fn emit_del_request(name: &[u8], seq: u32, out: &mut Vec<u8>) -> Result<usize> {
    let mut attrs = Vec::new();
    let mut n = name.to_vec();
    n.push(0);
    nla::push_attr(&mut attrs, NFACCT_NAME, &n)?;
    nlmsg::push_nfnl_message(
        out,
        NlmsgHeader {
            len: 0,
            msg_type: nlmsg::nfnl_msg_type(NFNL_SUBSYS_ACCT, NFNL_MSG_ACCT_DEL),
            flags: NLM_F_REQUEST | NLM_F_ACK,
            seq,
            pid: 0,
        },
        NfgenmsgRepr {
            family: 0,
            version: NFNETLINK_V0,
            res_id: 0,
        },
        &attrs,
    )
}

#[cfg(test)]
mod tests {
    use super::super::nlmsg::NlmsgIter;
    use super::*;
    use proptest::prelude::*;

    /// `nfacct add udp2000` then one 30-byte UDP packet counted, as a dump reply:
    /// nlmsghdr, nfgenmsg, NAME "udp2000", PKTS 1, BYTES 30, USE 1.
    fn sample() -> Vec<u8> {
        let mut v = Vec::new();
        NfacctRepr {
            name: b"udp2000",
            pkts: 1,
            bytes: 30,
            use_: Some(1),
            ..NfacctRepr::default()
        }
        .emit_nlmsg(5, &mut v)
        .unwrap();
        v
    }

    #[test]
    fn wire_layout() {
        let v = sample();
        // 16 nlmsghdr + 4 nfgenmsg + 12 name + 12 pkts + 12 bytes + 8 use
        assert_eq!(v.len(), 64);
        assert_eq!(u16::from_ne_bytes([v[4], v[5]]), 0x0700);
        assert_eq!(
            &v[20..24],
            &[12u16.to_ne_bytes(), 1u16.to_ne_bytes()].concat()[..]
        );
        assert_eq!(&v[24..32], b"udp2000\0");
        assert_eq!(&v[36..44], &1u64.to_be_bytes());
    }

    #[test]
    fn round_trip() {
        let v = sample();
        let m = NlmsgIter::new(&v).next().unwrap().unwrap();
        let r = NfacctRepr::parse_nlmsg(&m).unwrap();
        assert_eq!(
            (r.name, r.pkts, r.bytes, r.use_),
            (&b"udp2000"[..], 1, 30, Some(1))
        );
        let mut again = Vec::new();
        r.emit_nlmsg(5, &mut again).unwrap();
        assert_eq!(again, v);
    }

    #[test]
    fn errors() {
        // No name.
        assert!(NfacctRepr::parse_attrs(&[]).is_err());
        // Truncated counter.
        let mut a = Vec::new();
        nla::push_attr(&mut a, NFACCT_NAME, b"x\0").unwrap();
        nla::push_attr(&mut a, NFACCT_PKTS, &[0, 1, 2]).unwrap();
        assert!(matches!(
            NfacctRepr::parse_attrs(&a),
            Err(WireError::BadAttrValueLen { .. })
        ));
        // Another subsystem.
        let mut c = Vec::new();
        crate::wire::ctnetlink::emit_dump_request(0, 1, &mut c).unwrap();
        let m = NlmsgIter::new(&c).next().unwrap().unwrap();
        assert!(NfacctRepr::parse_nlmsg(&m).is_err());
    }

    #[test]
    fn requests() {
        let mut v = Vec::new();
        emit_dump_request(true, 9, &mut v).unwrap();
        let m = NlmsgIter::new(&v).next().unwrap().unwrap();
        assert_eq!(m.msg_type(), 0x0702);
        assert_eq!(m.flags(), NLM_F_REQUEST | NLM_F_DUMP);
        let mut d = Vec::new();
        emit_del_request(b"x", 1, &mut d).unwrap();
        assert_eq!(
            NlmsgIter::new(&d).next().unwrap().unwrap().msg_type(),
            0x0703
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256)) {
            for m in NlmsgIter::new(&data) {
                let Ok(m) = m else { break };
                let _ = NfacctRepr::parse_nlmsg(&m);
            }
            let _ = NfacctRepr::parse_attrs(&data);
        }

        #[test]
        fn mutated_sample_never_panics(i in 0usize..64, b in any::<u8>()) {
            let mut v = sample();
            v[i] = b;
            for m in NlmsgIter::new(&v) {
                let Ok(m) = m else { break };
                let _ = NfacctRepr::parse_nlmsg(&m);
            }
        }
    }
}
