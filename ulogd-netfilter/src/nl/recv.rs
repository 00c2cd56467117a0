//! [`RecvBuf`]: the reused receive buffer and its resumable cursor.

use std::io;

use ulogd_core::Flow;

use super::{NlSocket, Recv};
use crate::sources::nflog_keys::now;
use crate::wire::{NlmsgIter, NlmsgView, WireError};

/// Seconds and microseconds, as the `oob.time.*` keys.
pub(crate) type Ts = (u32, u32);

/// What the walker hands a source's closure.
#[derive(Debug)]
pub(crate) enum Input<'a> {
    /// One well-framed message (its payload is still unchecked).
    Msg(NlmsgView<&'a [u8]>),
    /// A bad `nlmsg_len`: the rest of this read is dropped (the position of the next
    /// message is unknowable).
    Malformed(WireError),
    /// `recv()` said ENOBUFS: the kernel dropped messages for this socket.
    Overrun,
}

/// What the closure wants after one input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Walk {
    /// Consumed; go on.
    Next,
    /// Consumed; end the run with this flow.
    Stop(Flow),
    /// Not consumed (the pool ran empty): end the run; the same message comes
    /// again at the next walk.
    Keep(Flow),
}

/// A receive buffer with the unprocessed bytes `buf[pos..len]` and the time they
/// were read (for messages without a kernel timestamp).
///
/// A batched buffer ([`RecvBuf::batched`]) is cut into slots, one datagram each, and
/// filled by one `recvmmsg(2)`; `segs[seg..]` are the datagrams not yet walked after
/// the current one. A plain buffer is one slot read by `recv(2)`.
#[derive(Debug)]
pub(crate) struct RecvBuf {
    buf: Vec<u8>,
    pos: usize,
    len: usize,
    time: Ts,
    /// Slot size of a batched buffer (0: one datagram per read).
    slot: usize,
    /// (length, truncated) of each datagram of the last batched read.
    segs: Vec<(usize, bool)>,
    /// The next datagram of `segs` to walk.
    seg: usize,
    /// A batched read returned fewer datagrams than it had room for: the socket was
    /// empty then, so the next read can be skipped (the poller wakes us for more).
    drained: bool,
}

impl RecvBuf {
    /// A buffer of `size` bytes (the largest datagram that can be read whole).
    pub(crate) fn new(size: usize) -> RecvBuf {
        RecvBuf {
            buf: vec![0; size],
            pos: 0,
            len: 0,
            time: (0, 0),
            slot: 0,
            segs: Vec::new(),
            seg: 0,
            drained: false,
        }
    }

    /// A buffer reading up to `count` datagrams of at most `slot` bytes at once.
    pub(crate) fn batched(slot: usize, count: usize) -> RecvBuf {
        let count = count.clamp(1, super::socket::MAX_BATCH);
        let mut rx = RecvBuf::new(slot * count);
        rx.slot = slot;
        rx.segs = Vec::with_capacity(count);
        rx
    }

    /// Whether read bytes wait to be walked.
    pub(crate) fn pending(&self) -> bool {
        self.pos < self.len || self.seg < self.segs.len()
    }

    /// Bytes still to walk.
    pub(crate) fn remaining(&self) -> usize {
        self.len - self.pos
            + self.segs[self.seg.min(self.segs.len())..]
                .iter()
                .map(|s| s.0)
                .sum::<usize>()
    }

    /// Moves to the next datagram of a batched read, if any. A truncated datagram
    /// is walked as far as it is whole (its cut message reads as malformed).
    fn next_seg(&mut self) -> bool {
        let Some(&(len, _)) = self.segs.get(self.seg) else {
            return false;
        };
        self.pos = self.seg * self.slot;
        self.len = self.pos + len;
        self.seg += 1;
        true
    }

    /// Loads `data` as if it had been read (tests, and replay of captured buffers).
    #[cfg(test)]
    pub(crate) fn load(&mut self, data: &[u8], time: Ts) {
        self.buf.clear();
        self.buf.extend_from_slice(data);
        self.pos = 0;
        self.len = data.len();
        self.time = time;
        self.segs.clear();
        self.seg = 0;
    }

    /// Loads `datagrams` as if one batched read had returned them (tests).
    #[cfg(test)]
    pub(crate) fn load_batch(&mut self, datagrams: &[&[u8]], time: Ts) {
        assert!(self.slot > 0 && datagrams.len() <= self.buf.len() / self.slot);
        self.segs.clear();
        for (i, d) in datagrams.iter().enumerate() {
            let n = d.len().min(self.slot);
            self.buf[i * self.slot..i * self.slot + n].copy_from_slice(&d[..n]);
            self.segs.push((n, n < d.len()));
        }
        self.seg = 0;
        self.pos = 0;
        self.len = 0;
        self.time = time;
        self.next_seg();
    }

    /// Reads one datagram (a batched buffer: up to its slot count) into the buffer,
    /// dropping what was pending.
    pub(crate) fn fill(&mut self, sock: &NlSocket) -> io::Result<Recv> {
        if self.slot == 0 {
            let r = sock.recv(&mut self.buf)?;
            if let Recv::Data(n) = r {
                self.pos = 0;
                self.len = n;
                self.time = now();
            }
            return Ok(r);
        }
        if std::mem::take(&mut self.drained) {
            return Ok(Recv::Again);
        }
        let r = sock.recv_many(&mut self.buf, self.slot, &mut self.segs)?;
        self.seg = 0;
        self.pos = 0;
        self.len = 0;
        if let Recv::Data(n) = r {
            self.drained = n < self.buf.len() / self.slot;
            self.time = now();
            self.next_seg();
            let bytes = self.segs.iter().map(|s| s.0).sum();
            return Ok(Recv::Data(bytes));
        }
        Ok(r)
    }

    /// Walks the pending messages, handing each to `f`, without reading. `budget` is
    /// decremented per message consumed; at 0 the walk ends with `Some(Flow::Again)`.
    /// `None` when everything read was consumed.
    pub(crate) fn walk(
        &mut self,
        budget: &mut usize,
        mut f: impl FnMut(Input<'_>, Ts) -> Walk,
    ) -> Option<Flow> {
        loop {
            if self.pos >= self.len && !self.next_seg() {
                break;
            }
            if *budget == 0 {
                return Some(Flow::Again);
            }
            let mut it = NlmsgIter::new(&self.buf[self.pos..self.len]);
            let Some(m) = it.next() else {
                self.pos = self.len;
                continue;
            };
            let step = it.consumed();
            let w = match m {
                Ok(m) => f(Input::Msg(m), self.time),
                Err(e) => f(Input::Malformed(e), self.time),
            };
            match w {
                Walk::Keep(flow) => return Some(flow),
                Walk::Next => {}
                Walk::Stop(_) => {}
            }
            self.pos = (self.pos + step.max(1)).min(self.len);
            *budget -= 1;
            if let Walk::Stop(flow) = w {
                return Some(flow);
            }
        }
        None
    }

    /// Walks what is pending, then reads and walks until the socket has nothing more
    /// (`Ok(Flow::Idle)`), the budget is spent (`Ok(Flow::Again)`) or `f` ends the run.
    /// ENOBUFS reaches `f` as [`Input::Overrun`]; other receive errors are returned.
    pub(crate) fn pump(
        &mut self,
        sock: &NlSocket,
        budget: &mut usize,
        mut f: impl FnMut(Input<'_>, Ts) -> Walk,
    ) -> io::Result<Flow> {
        loop {
            if let Some(flow) = self.walk(budget, &mut f) {
                return Ok(flow);
            }
            match self.fill(sock)? {
                Recv::Data(_) => {}
                Recv::Again => return Ok(Flow::Idle),
                Recv::Overrun => {
                    if let Walk::Stop(flow) | Walk::Keep(flow) = f(Input::Overrun, self.time) {
                        return Ok(flow);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::nlmsg::{NlmsgHeader, NLMSG_HDRLEN};

    fn msg(seq: u32, payload: usize) -> Vec<u8> {
        let mut v = vec![0u8; NLMSG_HDRLEN];
        NlmsgHeader {
            len: (NLMSG_HDRLEN + payload) as u32,
            msg_type: 0x400,
            seq,
            ..NlmsgHeader::default()
        }
        .emit(&mut v)
        .unwrap();
        v.resize((NLMSG_HDRLEN + payload + 3) & !3, 0);
        v
    }

    fn three() -> RecvBuf {
        let mut data = msg(1, 3);
        data.extend(msg(2, 0));
        data.extend(msg(3, 9));
        let mut rx = RecvBuf::new(0);
        rx.load(&data, (5, 6));
        rx
    }

    fn seqs(
        rx: &mut RecvBuf,
        budget: &mut usize,
        keep_at: Option<u32>,
    ) -> (Vec<u32>, Option<Flow>) {
        let mut seen = Vec::new();
        let flow = rx.walk(budget, |i, t| {
            assert_eq!(t, (5, 6));
            let Input::Msg(m) = i else { panic!("{i:?}") };
            if Some(m.seq()) == keep_at {
                return Walk::Keep(Flow::Idle);
            }
            seen.push(m.seq());
            Walk::Next
        });
        (seen, flow)
    }

    #[test]
    fn a_kept_message_comes_again() {
        let mut rx = three();
        let mut budget = 100;
        assert_eq!(
            seqs(&mut rx, &mut budget, Some(2)),
            (vec![1], Some(Flow::Idle))
        );
        assert!(rx.pending());
        assert_eq!(seqs(&mut rx, &mut budget, None), (vec![2, 3], None));
        assert!(!rx.pending());
        assert_eq!(budget, 97);
    }

    #[test]
    fn the_budget_ends_a_walk_and_it_resumes() {
        let mut rx = three();
        let mut budget = 2;
        assert_eq!(
            seqs(&mut rx, &mut budget, None),
            (vec![1, 2], Some(Flow::Again))
        );
        let mut budget = 2;
        assert_eq!(seqs(&mut rx, &mut budget, None), (vec![3], None));
    }

    #[test]
    fn stop_consumes_the_message() {
        let mut rx = three();
        let mut budget = 10;
        let mut n = 0;
        let f = rx.walk(&mut budget, |_, _| {
            n += 1;
            Walk::Stop(Flow::Idle)
        });
        assert_eq!((f, n), (Some(Flow::Idle), 1));
        assert_eq!(seqs(&mut rx, &mut budget, None), (vec![2, 3], None));
    }

    #[test]
    fn malformed_data_drops_the_rest_of_the_read() {
        let mut data = msg(1, 0);
        data.extend([8, 0, 0, 0, 0, 0, 0, 0]); // nlmsg_len 8 < header
        data.extend(msg(2, 0));
        let mut rx = RecvBuf::new(0);
        rx.load(&data, (0, 0));
        let mut got = Vec::new();
        rx.walk(&mut 10, |i, _| {
            got.push(match i {
                Input::Msg(m) => format!("msg {}", m.seq()),
                Input::Malformed(_) => "malformed".into(),
                Input::Overrun => "overrun".into(),
            });
            Walk::Next
        });
        assert_eq!(got, ["msg 1", "malformed"]);
        assert!(!rx.pending());
    }

    #[test]
    fn a_batched_read_walks_every_datagram_in_order() {
        let mut rx = RecvBuf::batched(64, 4);
        let mut d1 = msg(1, 3);
        d1.extend(msg(2, 0));
        let d2 = msg(3, 9);
        let d3 = msg(4, 1);
        rx.load_batch(&[&d1, &d2, &d3], (5, 6));
        assert!(rx.pending());
        assert_eq!(rx.remaining(), d1.len() + d2.len() + d3.len());
        // Keep the message with seq 3 (first of the second datagram): resumes there.
        let mut budget = 10;
        let (seen, flow) = seqs(&mut rx, &mut budget, Some(3));
        assert_eq!((seen, flow), (vec![1, 2], Some(Flow::Idle)));
        let (seen, flow) = seqs(&mut rx, &mut budget, None);
        assert_eq!((seen, flow), (vec![3, 4], None));
        assert!(!rx.pending());
        assert_eq!(budget, 6);
        // A budget ending between datagrams resumes at the next one.
        rx.load_batch(&[&d2, &d3], (5, 6));
        let mut budget = 1;
        let (seen, flow) = seqs(&mut rx, &mut budget, None);
        assert_eq!((seen, flow), (vec![3], Some(Flow::Again)));
        let mut budget = 1;
        assert_eq!(seqs(&mut rx, &mut budget, None).0, vec![4]);
    }

    #[test]
    fn a_truncated_datagram_reads_as_malformed_and_the_next_one_is_walked() {
        let mut rx = RecvBuf::batched(16, 2);
        let long = msg(7, 40);
        let short = msg(8, 0);
        rx.load_batch(&[&long, &short], (0, 0));
        let mut got = Vec::new();
        let mut budget = 10;
        rx.walk(&mut budget, |i, _| {
            got.push(match i {
                Input::Msg(m) => format!("msg {}", m.seq()),
                Input::Malformed(_) => "malformed".to_string(),
                Input::Overrun => "overrun".to_string(),
            });
            Walk::Next
        });
        assert_eq!(got, ["malformed", "msg 8"]);
    }
}
