//! nf_tables notifications: what the kernel multicasts to `NFNLGRP_NFTABLES` when the
//! ruleset changes (the messages `nft monitor` prints), and the set-element requests
//! the NFT output sends.
//!
//! Numbers from `include/uapi/linux/netfilter/nf_tables.h` (`enum nf_tables_msg_types`,
//! `enum nft_table_attributes`, `nft_chain_attributes`, `nft_rule_attributes`,
//! `nft_set_attributes`, `nft_set_elem_list_attributes`, `nft_set_elem_attributes`,
//! `nft_object_attributes`, `nft_flowtable_attributes`, `nft_gen_attributes`) and, for
//! comments, libnftnl's user-data TLVs (`NFTNL_UDATA_*_COMMENT` = 0: one byte type,
//! one byte length, the NUL-terminated text).
//!
//! [`NftRepr::parse_nlmsg`] reads one notification into borrowed slices; a set-element
//! notification carries a list of elements, walked by [`NftRepr::elements`].

use super::nla::{self, NlaIter};
use super::nlmsg::{
    self, NfgenmsgRepr, NfgenmsgView, NlmsgHeader, NlmsgView, NFNETLINK_V0, NFNL_SUBSYS_NFTABLES,
    NLM_F_ACK, NLM_F_CREATE, NLM_F_REQUEST,
};
use super::{Result, WireError};

/// `NFNLGRP_NFTABLES`: the multicast group of ruleset notifications.
pub const NFNLGRP_NFTABLES: u32 = 7;
/// `NLM_F_REPLACE`: a NEWRULE that replaces a rule.
pub const NLM_F_REPLACE: u16 = 0x100;
/// `NFNL_MSG_BATCH_BEGIN` / `_END`: the envelope of an nf_tables transaction.
pub const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
/// See [`NFNL_MSG_BATCH_BEGIN`].
pub const NFNL_MSG_BATCH_END: u16 = 0x11;

/// Message types (`NFT_MSG_*`).
#[allow(missing_docs)]
pub mod msg {
    pub const NEWTABLE: u8 = 0;
    pub const DELTABLE: u8 = 2;
    pub const NEWCHAIN: u8 = 3;
    pub const DELCHAIN: u8 = 5;
    pub const NEWRULE: u8 = 6;
    pub const DELRULE: u8 = 8;
    pub const NEWSET: u8 = 9;
    pub const DELSET: u8 = 11;
    pub const NEWSETELEM: u8 = 12;
    pub const DELSETELEM: u8 = 14;
    pub const NEWGEN: u8 = 15;
    pub const NEWOBJ: u8 = 18;
    pub const DELOBJ: u8 = 20;
    pub const NEWFLOWTABLE: u8 = 22;
    pub const DELFLOWTABLE: u8 = 24;
    pub const DESTROYTABLE: u8 = 26;
    pub const DESTROYCHAIN: u8 = 27;
    pub const DESTROYRULE: u8 = 28;
    pub const DESTROYSET: u8 = 29;
    pub const DESTROYSETELEM: u8 = 30;
    pub const DESTROYOBJ: u8 = 31;
    pub const DESTROYFLOWTABLE: u8 = 32;
}

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NftObject {
    /// A table.
    Table,
    /// A chain.
    Chain,
    /// A rule.
    Rule,
    /// A set or map.
    Set,
    /// Set elements.
    Element,
    /// A stateful object (counter, quota, limit, ...).
    Object,
    /// A flowtable.
    Flowtable,
    /// The end of a transaction: the new generation and who made it.
    Generation,
}

impl NftObject {
    /// The word `nft monitor` uses.
    pub fn name(self) -> &'static str {
        match self {
            NftObject::Table => "table",
            NftObject::Chain => "chain",
            NftObject::Rule => "rule",
            NftObject::Set => "set",
            NftObject::Element => "element",
            NftObject::Object => "object",
            NftObject::Flowtable => "flowtable",
            NftObject::Generation => "generation",
        }
    }
}

/// Added, deleted or replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NftChange {
    /// `NFT_MSG_NEW*`.
    Add,
    /// `NFT_MSG_NEWRULE` with `NLM_F_REPLACE`.
    Replace,
    /// `NFT_MSG_DEL*` / `NFT_MSG_DESTROY*`.
    Delete,
}

impl NftChange {
    /// The word `nft monitor` uses.
    pub fn name(self) -> &'static str {
        match self {
            NftChange::Add => "add",
            NftChange::Replace => "replace",
            NftChange::Delete => "delete",
        }
    }
}

/// The `nft` name of an nfproto family.
pub fn family_name(f: u8) -> &'static str {
    match f {
        1 => "inet",
        2 => "ip",
        3 => "arp",
        5 => "netdev",
        7 => "bridge",
        10 => "ip6",
        _ => "unknown",
    }
}

/// One notification, borrowing the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NftRepr<'a> {
    /// What changed.
    pub object: NftObject,
    /// How.
    pub change: NftChange,
    /// nfproto family of the table (`nfgen_family`).
    pub family: u8,
    /// The table's name.
    pub table: Option<&'a [u8]>,
    /// The chain's name (chain and rule messages).
    pub chain: Option<&'a [u8]>,
    /// The set's, object's or flowtable's name (set, element, object, flowtable).
    pub name: Option<&'a [u8]>,
    /// The kernel's handle of the table, chain, rule, set, object or flowtable.
    pub handle: Option<u64>,
    /// The comment from the user data, when there is one.
    pub comment: Option<&'a [u8]>,
    /// Set elements (`NFTA_SET_ELEM_LIST_ELEMENTS`), walked by [`Self::elements`].
    pub elements: Option<&'a [u8]>,
    /// `NEWGEN`: generation id, process id and name of who committed the change.
    pub gen_id: Option<u32>,
    /// See [`Self::gen_id`].
    pub proc_pid: Option<u32>,
    /// See [`Self::gen_id`].
    pub proc_name: Option<&'a [u8]>,
    /// `NFTA_SET_KEY_LEN` of a set: 4 for `ipv4_addr`, 16 for `ipv6_addr`.
    pub key_len: Option<u32>,
    /// Attributes not represented (saturating).
    pub unknown: u16,
}

/// One element of a set-element notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NftElem<'a> {
    /// The key's bytes (`NFTA_SET_ELEM_KEY` / `NFTA_DATA_VALUE`).
    pub key: &'a [u8],
    /// The interval end of a range element, when there is one.
    pub key_end: Option<&'a [u8]>,
    /// Timeout in milliseconds (`NFTA_SET_ELEM_TIMEOUT`).
    pub timeout_ms: Option<u64>,
    /// Time left in milliseconds (`NFTA_SET_ELEM_EXPIRATION`).
    pub expires_ms: Option<u64>,
    /// The element's comment.
    pub comment: Option<&'a [u8]>,
    /// `NFTA_SET_ELEM_FLAGS` (1: interval end).
    pub flags: u32,
}

/// The comment in libnftnl user data: TLVs of one byte type, one byte length.
pub fn udata_comment(ud: &[u8]) -> Option<&[u8]> {
    let mut at = 0;
    while at + 2 <= ud.len() {
        let (t, l) = (ud[at], usize::from(ud[at + 1]));
        let v = ud.get(at + 2..at + 2 + l)?;
        if t == 0 {
            return Some(match v.iter().position(|&b| b == 0) {
                Some(n) => &v[..n],
                None => v,
            });
        }
        at += 2 + l;
    }
    None
}

fn classify(m: u8, flags: u16) -> Option<(NftObject, NftChange)> {
    use NftChange::*;
    use NftObject::*;
    Some(match m {
        msg::NEWTABLE => (Table, Add),
        msg::DELTABLE | msg::DESTROYTABLE => (Table, Delete),
        msg::NEWCHAIN => (Chain, Add),
        msg::DELCHAIN | msg::DESTROYCHAIN => (Chain, Delete),
        msg::NEWRULE if flags & NLM_F_REPLACE != 0 => (Rule, Replace),
        msg::NEWRULE => (Rule, Add),
        msg::DELRULE | msg::DESTROYRULE => (Rule, Delete),
        msg::NEWSET => (Set, Add),
        msg::DELSET | msg::DESTROYSET => (Set, Delete),
        msg::NEWSETELEM => (Element, Add),
        msg::DELSETELEM | msg::DESTROYSETELEM => (Element, Delete),
        msg::NEWOBJ => (Object, Add),
        msg::DELOBJ | msg::DESTROYOBJ => (Object, Delete),
        msg::NEWFLOWTABLE => (Flowtable, Add),
        msg::DELFLOWTABLE | msg::DESTROYFLOWTABLE => (Flowtable, Delete),
        msg::NEWGEN => (Generation, Add),
        _ => return None,
    })
}

/// Attribute numbers per object: (table, chain, name, handle, userdata).
fn layout(o: NftObject) -> [u16; 5] {
    match o {
        // NFTA_TABLE_NAME, -, -, NFTA_TABLE_HANDLE, NFTA_TABLE_USERDATA
        NftObject::Table => [1, 0, 0, 4, 6],
        // NFTA_CHAIN_TABLE, NFTA_CHAIN_NAME, -, NFTA_CHAIN_HANDLE, NFTA_CHAIN_USERDATA
        NftObject::Chain => [1, 3, 0, 2, 12],
        // NFTA_RULE_TABLE, NFTA_RULE_CHAIN, -, NFTA_RULE_HANDLE, NFTA_RULE_USERDATA
        NftObject::Rule => [1, 2, 0, 3, 7],
        // NFTA_SET_TABLE, -, NFTA_SET_NAME, NFTA_SET_HANDLE, NFTA_SET_USERDATA
        NftObject::Set => [1, 0, 2, 16, 13],
        // NFTA_SET_ELEM_LIST_TABLE, -, NFTA_SET_ELEM_LIST_SET, -, -
        NftObject::Element => [1, 0, 2, 0, 0],
        // NFTA_OBJ_TABLE, -, NFTA_OBJ_NAME, NFTA_OBJ_HANDLE, NFTA_OBJ_USERDATA
        NftObject::Object => [1, 0, 2, 6, 8],
        // NFTA_FLOWTABLE_TABLE, -, NFTA_FLOWTABLE_NAME, NFTA_FLOWTABLE_HANDLE, -
        NftObject::Flowtable => [1, 0, 2, 5, 0],
        NftObject::Generation => [0; 5],
    }
}

impl<'a> NftRepr<'a> {
    /// Parses one nf_tables notification. Messages of other subsystems, and
    /// nf_tables messages that are not notifications of a change (GET replies,
    /// traces), are [`WireError::NotNftablesNotification`]-style errors the caller
    /// skips.
    pub fn parse_nlmsg<T: AsRef<[u8]> + ?Sized>(msg: &NlmsgView<&'a T>) -> Result<Self> {
        let not = WireError::NotCtnetlinkMessage {
            msg_type: msg.msg_type(),
        };
        if msg.subsys() != NFNL_SUBSYS_NFTABLES {
            return Err(not);
        }
        let (object, change) = classify(msg.nfnl_msg(), msg.flags()).ok_or(not)?;
        let gen = NfgenmsgView::new_checked(msg.payload())?;
        let mut r = NftRepr {
            object,
            change,
            family: gen.family(),
            table: None,
            chain: None,
            name: None,
            handle: None,
            comment: None,
            elements: None,
            gen_id: None,
            proc_pid: None,
            proc_name: None,
            key_len: None,
            unknown: 0,
        };
        let [t_table, t_chain, t_name, t_handle, t_udata] = layout(object);
        for a in NlaIter::new(gen.attrs()) {
            let a = a?;
            let k = a.kind();
            if object == NftObject::Generation {
                match k {
                    1 => r.gen_id = Some(a.be_u32()?),
                    2 => r.proc_pid = Some(a.be_u32()?),
                    3 => r.proc_name = Some(a.cstr()),
                    _ => r.unknown = r.unknown.saturating_add(1),
                }
                continue;
            }
            if k == t_table {
                r.table = Some(a.cstr());
            } else if k != 0 && k == t_chain {
                r.chain = Some(a.cstr());
            } else if k != 0 && k == t_name {
                r.name = Some(a.cstr());
            } else if k != 0 && k == t_handle {
                r.handle = Some(a.be_u64()?);
            } else if k != 0 && k == t_udata {
                r.comment = udata_comment(a.value());
            } else if object == NftObject::Set && k == 5 {
                r.key_len = Some(a.be_u32()?);
            } else if object == NftObject::Element && k == 3 {
                r.elements = Some(a.value());
            } else {
                // Expressions, hooks, flags...: not turned into keys.
            }
        }
        Ok(r)
    }

    /// The elements of a set-element notification (empty for other objects). An
    /// element that does not parse ends the walk with its error.
    pub fn elements(&self) -> impl Iterator<Item = Result<NftElem<'a>>> + 'a {
        NlaIter::new(self.elements.unwrap_or(&[])).map(|e| {
            let e = e?;
            let mut el = NftElem::default();
            for a in NlaIter::new(e.value()) {
                let a = a?;
                match a.kind() {
                    // NFTA_SET_ELEM_KEY / _KEY_END: nested NFTA_DATA_VALUE.
                    1 | 10 => {
                        let mut v = None;
                        for d in NlaIter::new(a.value()) {
                            let d = d?;
                            if d.kind() == 1 {
                                v = Some(d.value());
                            }
                        }
                        if a.kind() == 1 {
                            el.key = v.unwrap_or(&[]);
                        } else {
                            el.key_end = v;
                        }
                    }
                    3 => el.flags = a.be_u32()?,
                    4 => el.timeout_ms = Some(a.be_u64()?),
                    5 => el.expires_ms = Some(a.be_u64()?),
                    6 => el.comment = udata_comment(a.value()),
                    _ => {}
                }
            }
            Ok(el)
        })
    }
}

/// Writes a key the way `nft` shows it, guessing the type from its length (the
/// notification does not carry the set's type): 4 bytes an IPv4 address, 16 an IPv6
/// address, 2 a port, 6 a MAC address, otherwise hex.
pub fn format_key(key: &[u8], out: &mut String) {
    use std::fmt::Write;
    match key.len() {
        4 => {
            let _ = write!(
                out,
                "{}",
                std::net::Ipv4Addr::new(key[0], key[1], key[2], key[3])
            );
        }
        16 => {
            let mut b = [0u8; 16];
            b.copy_from_slice(key);
            let _ = write!(out, "{}", std::net::Ipv6Addr::from(b));
        }
        2 => {
            let _ = write!(out, "{}", u16::from_be_bytes([key[0], key[1]]));
        }
        6 => {
            for (i, b) in key.iter().enumerate() {
                let _ = write!(out, "{}{b:02x}", if i > 0 { ":" } else { "" });
            }
        }
        _ => {
            out.push_str("0x");
            for b in key {
                let _ = write!(out, "{b:02x}");
            }
        }
    }
}

fn nested(out: &mut Vec<u8>, kind: u16, inner: &[u8]) -> Result<usize> {
    nla::push_nested_with_order(out, kind, super::ByteOrder::NATIVE, |o| {
        o.extend_from_slice(inner);
        Ok(())
    })
}

/// Appends a request for one set's description (`NFT_MSG_GETSET` with its table and
/// name, `NLM_F_ACK`): the answer is a `NEWSET` message, then the ACK.
pub fn emit_get_set(
    family: u8,
    table: &[u8],
    set: &[u8],
    seq: u32,
    out: &mut Vec<u8>,
) -> Result<()> {
    let mut attrs = Vec::new();
    for (k, v) in [(1u16, table), (2, set)] {
        let mut z = v.to_vec();
        z.push(0);
        nla::push_attr(&mut attrs, k, &z)?;
    }
    nlmsg::push_nfnl_message(
        out,
        NlmsgHeader {
            len: 0,
            msg_type: nlmsg::nfnl_msg_type(NFNL_SUBSYS_NFTABLES, 10),
            flags: NLM_F_REQUEST | NLM_F_ACK,
            seq,
            pid: 0,
        },
        NfgenmsgRepr {
            family,
            version: NFNETLINK_V0,
            res_id: 0,
        },
        &attrs,
    )?;
    Ok(())
}

/// One element to add to a set (the NFT output's request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewElem<'a> {
    /// The key's bytes (4 for an IPv4 address, 16 for IPv6).
    pub key: &'a [u8],
    /// Timeout in milliseconds; `None` for the set's default.
    pub timeout_ms: Option<u64>,
}

/// Appends one transaction adding `elems` to set `set` of table `table` (family
/// `family`): `NFNL_MSG_BATCH_BEGIN`, one `NFT_MSG_NEWSETELEM` (`NLM_F_CREATE`, so an
/// element already there is not an error, and `NLM_F_ACK`), `NFNL_MSG_BATCH_END`,
/// with sequence numbers `seq`, `seq + 1`, `seq + 2`.
pub fn emit_add_elements(
    family: u8,
    table: &[u8],
    set: &[u8],
    elems: &[NewElem<'_>],
    seq: u32,
    out: &mut Vec<u8>,
) -> Result<()> {
    let with_nul = |s: &[u8]| {
        let mut v = s.to_vec();
        v.push(0);
        v
    };
    let batch = |out: &mut Vec<u8>, t: u16, seq: u32| {
        nlmsg::push_nfnl_message(
            out,
            NlmsgHeader {
                len: 0,
                msg_type: t,
                flags: NLM_F_REQUEST,
                seq,
                pid: 0,
            },
            NfgenmsgRepr {
                family: 0,
                version: NFNETLINK_V0,
                // res_id of a batch message is the subsystem it is for.
                res_id: u16::from(NFNL_SUBSYS_NFTABLES),
            },
            &[],
        )
    };
    batch(out, NFNL_MSG_BATCH_BEGIN, seq)?;
    let mut list = Vec::new();
    for e in elems {
        let mut data = Vec::new();
        nla::push_attr(&mut data, 1, e.key)?; // NFTA_DATA_VALUE
        let mut el = Vec::new();
        nested(&mut el, 1, &data)?; // NFTA_SET_ELEM_KEY
        if let Some(t) = e.timeout_ms {
            nla::push_attr(&mut el, 4, &t.to_be_bytes())?; // NFTA_SET_ELEM_TIMEOUT
        }
        nested(&mut list, 1, &el)?; // NFTA_LIST_ELEM
    }
    let mut attrs = Vec::new();
    nla::push_attr(&mut attrs, 1, &with_nul(table))?; // NFTA_SET_ELEM_LIST_TABLE
    nla::push_attr(&mut attrs, 2, &with_nul(set))?; // NFTA_SET_ELEM_LIST_SET
    nested(&mut attrs, 3, &list)?; // NFTA_SET_ELEM_LIST_ELEMENTS
    nlmsg::push_nfnl_message(
        out,
        NlmsgHeader {
            len: 0,
            msg_type: nlmsg::nfnl_msg_type(NFNL_SUBSYS_NFTABLES, msg::NEWSETELEM),
            flags: NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK,
            seq: seq.wrapping_add(1),
            pid: 0,
        },
        NfgenmsgRepr {
            family,
            version: NFNETLINK_V0,
            res_id: 0,
        },
        &attrs,
    )?;
    batch(out, NFNL_MSG_BATCH_END, seq.wrapping_add(2))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::NlmsgIter;

    fn note(m: u8, flags: u16, family: u8, attrs: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        nlmsg::push_nfnl_message(
            &mut out,
            NlmsgHeader {
                len: 0,
                msg_type: nlmsg::nfnl_msg_type(NFNL_SUBSYS_NFTABLES, m),
                flags,
                seq: 0,
                pid: 0,
            },
            NfgenmsgRepr {
                family,
                version: 0,
                res_id: 0,
            },
            attrs,
        )
        .unwrap();
        out
    }

    #[test]
    fn rule_with_comment_and_handle() {
        let mut a = Vec::new();
        nla::push_attr(&mut a, 1, b"filter\0").unwrap();
        nla::push_attr(&mut a, 2, b"input\0").unwrap();
        nla::push_attr(&mut a, 3, &7u64.to_be_bytes()).unwrap();
        nla::push_attr(&mut a, 7, b"\x00\x0bblock evil\0").unwrap();
        let buf = note(msg::NEWRULE, NLM_F_REPLACE, 1, &a);
        let m = NlmsgIter::new(&buf).next().unwrap().unwrap();
        let r = NftRepr::parse_nlmsg(&m).unwrap();
        assert_eq!((r.object, r.change), (NftObject::Rule, NftChange::Replace));
        assert_eq!(family_name(r.family), "inet");
        assert_eq!(r.table, Some(&b"filter"[..]));
        assert_eq!(r.chain, Some(&b"input"[..]));
        assert_eq!(r.handle, Some(7));
        assert_eq!(r.comment, Some(&b"block evil"[..]));
    }

    #[test]
    fn elements_are_walked() {
        let mut req = Vec::new();
        let elems = [
            NewElem {
                key: &[192, 0, 2, 1],
                timeout_ms: Some(60_000),
            },
            NewElem {
                key: &[192, 0, 2, 2],
                timeout_ms: None,
            },
        ];
        emit_add_elements(2, b"t", b"blocked", &elems, 100, &mut req).unwrap();
        let msgs: Vec<_> = NlmsgIter::new(&req).map(|m| m.unwrap()).collect();
        assert_eq!(msgs.len(), 3);
        assert_eq!(msgs[0].msg_type(), NFNL_MSG_BATCH_BEGIN);
        assert_eq!(msgs[2].msg_type(), NFNL_MSG_BATCH_END);
        assert_eq!(msgs[1].seq(), 101);
        // The request reads back like the kernel's notification of the same change.
        let r = NftRepr::parse_nlmsg(&msgs[1]).unwrap();
        assert_eq!((r.object, r.change), (NftObject::Element, NftChange::Add));
        assert_eq!(r.name, Some(&b"blocked"[..]));
        let got: Vec<NftElem<'_>> = r.elements().map(|e| e.unwrap()).collect();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].key, &[192, 0, 2, 1]);
        assert_eq!(got[0].timeout_ms, Some(60_000));
        assert_eq!(got[1].timeout_ms, None);
        let mut s = String::new();
        format_key(got[1].key, &mut s);
        assert_eq!(s, "192.0.2.2");
    }

    #[test]
    fn keys_are_shown_as_nft_shows_them() {
        let f = |k: &[u8]| {
            let mut s = String::new();
            format_key(k, &mut s);
            s
        };
        assert_eq!(f(&[0, 22]), "22");
        assert_eq!(
            f(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
            "2001:db8::1"
        );
        assert_eq!(f(&[2, 0, 0, 0, 0, 1]), "02:00:00:00:00:01");
        assert_eq!(f(&[1, 2, 3]), "0x010203");
    }

    #[test]
    fn generation_and_other_messages() {
        let mut a = Vec::new();
        nla::push_attr(&mut a, 1, &5u32.to_be_bytes()).unwrap();
        nla::push_attr(&mut a, 2, &4242u32.to_be_bytes()).unwrap();
        nla::push_attr(&mut a, 3, b"nft\0").unwrap();
        let buf = note(msg::NEWGEN, 0, 0, &a);
        let m = NlmsgIter::new(&buf).next().unwrap().unwrap();
        let r = NftRepr::parse_nlmsg(&m).unwrap();
        assert_eq!(r.object, NftObject::Generation);
        assert_eq!(
            (r.gen_id, r.proc_pid, r.proc_name),
            (Some(5), Some(4242), Some(&b"nft"[..]))
        );
        // A GET request is not a change.
        let buf = note(1, 0, 2, &[]);
        let m = NlmsgIter::new(&buf).next().unwrap().unwrap();
        assert!(NftRepr::parse_nlmsg(&m).is_err());
    }

    #[test]
    fn udata_is_bounds_checked() {
        assert_eq!(udata_comment(b"\x00\x03ab\0"), Some(&b"ab"[..]));
        assert_eq!(udata_comment(b"\x01\x01x\x00\x02hi"), Some(&b"hi"[..]));
        assert_eq!(udata_comment(b"\x00\x09ab"), None);
        assert_eq!(udata_comment(b"\x00"), None);
    }
}
