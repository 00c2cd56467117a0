//! Compiles the accept filters to a classic BPF program for the event socket, so
//! the kernel drops what the filters reject before it reaches our buffer. Pure; the
//! tests run the program in a small interpreter against real ctnetlink messages.

use super::filter::{Cidr, FlowFilter};
use crate::nl::Insn;
use crate::wire::ctnetlink::{
    CTA_IP_V4_DST, CTA_IP_V4_SRC, CTA_IP_V6_DST, CTA_IP_V6_SRC, CTA_PROTO_NUM, CTA_TUPLE_IP,
    CTA_TUPLE_ORIG, CTA_TUPLE_PROTO,
};
use crate::wire::nlmsg::NLMSG_HDRLEN;

/// The kernel's limit on a socket filter's length.
pub(crate) const BPF_MAXINSNS: usize = 4096;

const BPF_LD: u16 = 0x00;
const BPF_LDX: u16 = 0x01;
const BPF_ALU: u16 = 0x04;
const BPF_JMP: u16 = 0x05;
const BPF_RET: u16 = 0x06;
const BPF_MISC: u16 = 0x07;
const BPF_W: u16 = 0x00;
const BPF_B: u16 = 0x10;
const BPF_IMM: u16 = 0x00;
const BPF_ABS: u16 = 0x20;
const BPF_IND: u16 = 0x40;
const BPF_AND: u16 = 0x50;
const BPF_K: u16 = 0x00;
const BPF_JA: u16 = 0x00;
const BPF_JEQ: u16 = 0x10;
const BPF_TAX: u16 = 0x00;
/// `SKF_AD_OFF + SKF_AD_NLATTR`: A = offset of the attribute of type X found in
/// the attribute stream starting at offset A (0 if none).
const AD_NLATTR: u32 = (-0x1000i32 + 12) as u32;
/// `SKF_AD_OFF + SKF_AD_NLATTR_NEST`: A = offset of the attribute of type X inside
/// the nested attribute at offset A (0 if none).
const AD_NLATTR_NEST: u32 = (-0x1000i32 + 16) as u32;
/// Where a ctnetlink message's attributes start: nlmsghdr + nfgenmsg.
const ATTRS_OFF: u32 = (NLMSG_HDRLEN + 4) as u32;

fn stmt(code: u16, k: u32) -> Insn {
    Insn {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jeq(k: u32, jt: u8, jf: u8) -> Insn {
    Insn {
        code: BPF_JMP | BPF_JEQ | BPF_K,
        jt,
        jf,
        k,
    }
}

/// Builds one block of the program: find the leaf attribute `path` of the original
/// tuple; if absent, pass; else run `body` (which jumps to "pass" via the returned
/// JA slots) and reject if no entry matched.
struct Block {
    insns: Vec<Insn>,
    to_pass: Vec<usize>,
}

impl Block {
    fn new(path: [u16; 3]) -> Block {
        let mut b = Block {
            insns: vec![stmt(BPF_LD | BPF_W | BPF_IMM, ATTRS_OFF)],
            to_pass: Vec::new(),
        };
        for (i, kind) in path.iter().enumerate() {
            b.insns
                .push(stmt(BPF_LDX | BPF_W | BPF_IMM, u32::from(*kind)));
            let ad = if i == 0 { AD_NLATTR } else { AD_NLATTR_NEST };
            b.insns.push(stmt(BPF_LD | BPF_B | BPF_ABS, ad));
            // Not found: this block does not judge the message.
            b.insns.push(jeq(0, 0, 1));
            b.ja_pass();
        }
        b.insns.push(stmt(BPF_MISC | BPF_TAX, 0));
        b
    }

    fn ja_pass(&mut self) {
        self.to_pass.push(self.insns.len());
        self.insns.push(stmt(BPF_JMP | BPF_JA, 0));
    }

    fn finish(mut self, out: &mut Vec<Insn>) {
        self.insns.push(stmt(BPF_RET | BPF_K, 0));
        let end = self.insns.len();
        for i in self.to_pass {
            self.insns[i].k = (end - i - 1) as u32;
        }
        out.extend(self.insns);
    }
}

/// Compiles `f` to a classic BPF program for the event socket, or `None` when there
/// is nothing to filter. The userspace check in [`FlowFilter::accepts`] has the same
/// meaning (and is applied anyway).
pub(crate) fn compile_filter(f: &FlowFilter) -> Option<Vec<Insn>> {
    if f.is_empty() {
        return None;
    }
    let mut prog = Vec::new();
    for (list, v4, v6) in [
        (&f.src, CTA_IP_V4_SRC, CTA_IP_V6_SRC),
        (&f.dst, CTA_IP_V4_DST, CTA_IP_V6_DST),
    ] {
        if list.is_empty() {
            continue;
        }
        // One block per family; a family without networks in the list gets a block
        // with no entry, which rejects every message carrying such an address.
        for (is_v4, kind) in [(true, v4), (false, v6)] {
            let nets: Vec<&Cidr> = list.iter().filter(|c| c.net.is_ipv4() == is_v4).collect();
            let mut b = Block::new([CTA_TUPLE_ORIG, CTA_TUPLE_IP, kind]);
            for c in nets {
                let words: Vec<(usize, u32, u32)> = c
                    .mask_words()
                    .into_iter()
                    .zip(c.net_words())
                    .enumerate()
                    .filter(|(_, (m, _))| *m != 0)
                    .map(|(i, (m, n))| (i, m, n))
                    .collect();
                let n = words.len();
                for (j, (i, m, net)) in words.into_iter().enumerate() {
                    b.insns
                        .push(stmt(BPF_LD | BPF_W | BPF_IND, 4 + 4 * i as u32));
                    b.insns.push(stmt(BPF_ALU | BPF_AND | BPF_K, m));
                    let rest = 3 * (n - 1 - j) + 1;
                    b.insns.push(jeq(net, 0, rest as u8));
                }
                b.ja_pass();
            }
            b.finish(&mut prog);
        }
    }
    if !f.proto.is_empty() {
        let mut b = Block::new([CTA_TUPLE_ORIG, CTA_TUPLE_PROTO, CTA_PROTO_NUM]);
        b.insns.push(stmt(BPF_LD | BPF_B | BPF_IND, 4));
        for p in &f.proto {
            b.insns.push(jeq(u32::from(*p), 0, 1));
            b.ja_pass();
        }
        b.finish(&mut prog);
    }
    prog.push(stmt(BPF_RET | BPF_K, u32::MAX));
    Some(prog)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    use crate::wire::ctnetlink::{AF_INET, AF_INET6};
    use crate::wire::{CtEvent, CtRepr, TupleRepr};

    fn filter(src: &str, dst: &str, proto: &[u8]) -> FlowFilter {
        let nets = |s: &str| -> Vec<Cidr> {
            s.split(',')
                .filter(|x| !x.trim().is_empty())
                .map(|x| Cidr::parse(x).unwrap())
                .collect()
        };
        FlowFilter {
            src: nets(src),
            dst: nets(dst),
            proto: proto.to_vec(),
        }
    }

    /// A conntrack event for a flow `s -> d` of protocol `p`: its tuple and the
    /// ctnetlink message the kernel would send.
    fn flow_msg(s: IpAddr, d: IpAddr, p: u8) -> (TupleRepr, Vec<u8>) {
        let t = TupleRepr {
            src: Some(s),
            dst: Some(d),
            proto: Some(p),
            sport: Some(1),
            dport: Some(2),
            ..TupleRepr::default()
        };
        let r = CtRepr {
            family: if s.is_ipv4() { AF_INET } else { AF_INET6 },
            event: CtEvent::Destroy,
            orig: Some(t),
            reply: Some(t),
            id: Some(1),
            ..CtRepr::default()
        };
        let mut buf = Vec::new();
        r.emit_nlmsg(0, &mut buf).unwrap();
        (t, buf)
    }

    /// A classic BPF interpreter with the two netlink ancillary loads, enough to run
    /// what [`compile_filter`] generates against real messages.
    fn run_bpf(prog: &[Insn], pkt: &[u8]) -> u32 {
        let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
        let rd = |off: usize, n: usize| -> Option<u32> {
            let b = pkt.get(off..off + n)?;
            Some(b.iter().fold(0u32, |acc, &v| (acc << 8) | u32::from(v)))
        };
        let nla_find = |start: usize, end: usize, kind: u32| -> u32 {
            let mut off = start;
            while off + 4 <= end {
                let len = u16::from_ne_bytes([pkt[off], pkt[off + 1]]) as usize;
                let ty = u16::from_ne_bytes([pkt[off + 2], pkt[off + 3]]) & 0x3fff;
                if len < 4 || off + len > end {
                    return 0;
                }
                if u32::from(ty) == kind {
                    return off as u32;
                }
                off += (len + 3) & !3;
            }
            0
        };
        loop {
            let i = prog[pc];
            pc += 1;
            match i.code {
                c if c == BPF_LD | BPF_W | BPF_IMM => a = i.k,
                c if c == BPF_LDX | BPF_W | BPF_IMM => x = i.k,
                c if c == BPF_LD | BPF_B | BPF_ABS && i.k == AD_NLATTR => {
                    a = nla_find(a as usize, pkt.len(), x)
                }
                c if c == BPF_LD | BPF_B | BPF_ABS && i.k == AD_NLATTR_NEST => {
                    let off = a as usize;
                    let len = u16::from_ne_bytes([pkt[off], pkt[off + 1]]) as usize;
                    a = nla_find(off + 4, off + len, x);
                }
                c if c == BPF_LD | BPF_W | BPF_IND => {
                    let Some(v) = rd(x as usize + i.k as usize, 4) else {
                        return 0;
                    };
                    a = v;
                }
                c if c == BPF_LD | BPF_B | BPF_IND => {
                    let Some(v) = rd(x as usize + i.k as usize, 1) else {
                        return 0;
                    };
                    a = v;
                }
                c if c == BPF_ALU | BPF_AND | BPF_K => a &= i.k,
                c if c == BPF_MISC | BPF_TAX => x = a,
                c if c == BPF_JMP | BPF_JA => pc += i.k as usize,
                c if c == BPF_JMP | BPF_JEQ | BPF_K => {
                    pc += if a == i.k { i.jt } else { i.jf } as usize
                }
                c if c == BPF_RET | BPF_K => return i.k,
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
    }

    #[test]
    fn kernel_filter_program_agrees_with_the_userspace_check() {
        let f = filter(
            "10.0.0.0/8,192.168.1.7,fd00::/12",
            "0.0.0.0/0,2001:db8::/33",
            &[6, 17, 58],
        );
        let prog = compile_filter(&f).unwrap();
        let srcs = [
            "10.9.9.9",
            "11.0.0.1",
            "192.168.1.7",
            "192.168.1.6",
            "fd01::1",
            "fd10::1",
            "2001:db8::1",
        ];
        let dsts = ["1.2.3.4", "2001:db8:7fff::1", "2001:db8:8000::1", "fd00::9"];
        let mut checked = 0;
        for s in srcs {
            for d in dsts {
                let (s, d): (IpAddr, IpAddr) = (s.parse().unwrap(), d.parse().unwrap());
                if s.is_ipv4() != d.is_ipv4() {
                    continue;
                }
                for p in [6u8, 17, 1, 58] {
                    let (t, buf) = flow_msg(s, d, p);
                    let want = f.accepts(&t);
                    let got = run_bpf(&prog, &buf) != 0;
                    assert_eq!(got, want, "{s} -> {d} proto {p}");
                    checked += 1;
                }
            }
        }
        assert!(checked > 40);
        // Messages without a tuple pass the kernel filter (userspace decides).
        let mut done = Vec::new();
        CtRepr::default().emit_nlmsg(0, &mut done).unwrap();
        assert_ne!(run_bpf(&prog, &done), 0);
        assert_eq!(compile_filter(&FlowFilter::default()), None);
    }

    fn ct_msg(s: &str, d: &str) -> Vec<u8> {
        flow_msg(s.parse().unwrap(), d.parse().unwrap(), 17).1
    }

    /// compat-review §3: `accept_dst_filter=192.168.1.0/24` (IPv4 only) must drop
    /// IPv6 flows, in the kernel program and in the userspace check, as ulogd2.
    #[test]
    fn a_list_of_one_family_rejects_the_other() {
        for (src, dst) in [("", "192.168.1.0/24"), ("10.0.0.0/8", "")] {
            let f = filter(src, dst, &[]);
            let prog = compile_filter(&f).unwrap();
            let v4 = if dst.is_empty() {
                ("10.1.1.1", "8.8.8.8")
            } else {
                ("8.8.8.8", "192.168.1.9")
            };
            assert_ne!(run_bpf(&prog, &ct_msg(v4.0, v4.1)), 0, "{src} {dst}");
            assert_eq!(
                run_bpf(&prog, &ct_msg("fd99::2", "fd99::1")),
                0,
                "{src} {dst}"
            );
            assert_eq!(run_bpf(&prog, &ct_msg("11.2.2.2", "192.168.2.1")), 0);
        }
        // IPv6 only: IPv4 flows go.
        let f = filter("fd00::/8", "", &[]);
        let prog = compile_filter(&f).unwrap();
        assert_ne!(run_bpf(&prog, &ct_msg("fd99::2", "fd99::1")), 0);
        assert_eq!(run_bpf(&prog, &ct_msg("10.1.1.1", "10.1.1.2")), 0);
    }
}
