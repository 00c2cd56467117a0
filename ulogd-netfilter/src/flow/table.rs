//! The flow table: a clock-free state machine (quinn-proto style: no I/O, no clock;
//! the caller passes `now`), so every expiry path is tested with a fake clock.
//!
//! Storage is allocated once, at construction, for `max_flows` flows: a slab of
//! [`Slot`]s, a hash index sized so it never grows (twice `max_flows` buckets, so
//! hashbrown's tombstone clean-up always rehashes in place), and a queue of
//! records that ended inside [`FlowTable::handle_packet`] (emergency evictions, a
//! SYN reusing an ended TCP flow). In steady state a packet allocates nothing.
//!
//! Expiry order without scanning: every flow sits in two intrusive lists (indices
//! into the slab, no pointers):
//! - one *idle list per timeout class* (TCP, TCP after FIN/RST, UDP, ICMP, other),
//!   ordered by last packet: a packet moves its flow to the tail, so the head of
//!   each list is that class's next idle expiry;
//! - one *age list* in creation order, whose head is the next active-timeout expiry.
//!
//! So the next deadline is the minimum over six list heads ([`FlowTable::poll_timeout`]),
//! and [`FlowTable::poll_expired`] takes flows off those heads in deadline order.

use std::collections::{HashMap, VecDeque};

/// Microseconds since the epoch (or any fixed origin the caller chooses).
pub type Micros = u64;

/// Why a flow record was emitted: IPFIX `flowEndReason` (element 136) values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum EndReason {
    /// No packet for the class's idle timeout.
    Idle = 1,
    /// The flow lived longer than the active timeout.
    Active = 2,
    /// TCP FIN or RST seen (then the short `tcp_end` idle timeout ran out, or a new
    /// SYN reused the tuple).
    EndOfFlow = 3,
    /// Flushed: shutdown or SIGUSR2.
    Forced = 4,
    /// The table was full: the least recently seen flow made room.
    LackOfResources = 5,
}

/// Idle-timeout classes; each has its own idle list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Class {
    /// TCP before FIN/RST.
    Tcp = 0,
    /// TCP after FIN or RST.
    TcpEnd = 1,
    /// UDP (and UDP-Lite).
    Udp = 2,
    /// ICMP and ICMPv6.
    Icmp = 3,
    /// Everything else.
    Other = 4,
}

const CLASSES: usize = 5;

impl Class {
    /// The class of a new flow of IP protocol `proto`.
    pub fn of(proto: u8) -> Class {
        match proto {
            6 => Class::Tcp,
            17 | 136 => Class::Udp,
            1 | 58 => Class::Icmp,
            _ => Class::Other,
        }
    }
}

/// Timeouts in microseconds. The defaults are softflowd's (and pmacct nfprobe's,
/// which derives from it), so the comparison tests line up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Longest life of a flow before it is exported and restarted (softflowd `maxlife`).
    pub active: Micros,
    /// Idle timeout per [`Class`], indexed by `Class as usize`.
    pub idle: [Micros; CLASSES],
}

impl Default for Timeouts {
    fn default() -> Self {
        const S: Micros = 1_000_000;
        Timeouts {
            active: 604_800 * S,
            // tcp, tcp after FIN/RST, udp, icmp, other
            idle: [3600 * S, 120 * S, 300 * S, 300 * S, 3600 * S],
        }
    }
}

/// What identifies a flow. Fields outside the configured flow key stay zero, so
/// they do not split flows. ICMP type and code travel in `sport`/`dport`
/// (`sport` = type, `dport` = code), as NetFlow exporters do with ports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowKey {
    /// `AF_INET` (2) or `AF_INET6` (10).
    pub family: u8,
    /// IP protocol.
    pub proto: u8,
    /// IPv4 ToS / IPv6 traffic class (when part of the key).
    pub tos: u8,
    /// Source address (IPv4 in the first 4 bytes).
    pub saddr: [u8; 16],
    /// Destination address.
    pub daddr: [u8; 16],
    /// Source port (ICMP: type).
    pub sport: u16,
    /// Destination port (ICMP: code).
    pub dport: u16,
    /// Input interface (when part of the key).
    pub ifindex_in: u32,
    /// Output interface (when part of the key).
    pub ifindex_out: u32,
    /// Packet mark (when part of the key).
    pub mark: u32,
    /// 802.1Q VLAN id (when part of the key).
    pub vlan: u16,
}

impl std::hash::Hash for FlowKey {
    /// Seven words, so the hasher below mixes whole words, not one call per field.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let w = |b: &[u8]| u64::from_ne_bytes(b.try_into().expect("8 bytes"));
        state.write_u64(
            self.family as u64
                | (self.proto as u64) << 8
                | (self.tos as u64) << 16
                | (self.sport as u64) << 24
                | (self.dport as u64) << 40,
        );
        state.write_u64(w(&self.saddr[..8]));
        state.write_u64(w(&self.saddr[8..]));
        state.write_u64(w(&self.daddr[..8]));
        state.write_u64(w(&self.daddr[8..]));
        state.write_u64(self.ifindex_in as u64 | (self.ifindex_out as u64) << 32);
        state.write_u64(self.mark as u64 | (self.vlan as u64) << 32);
    }
}

/// The index's hasher: a folded 64×64→128-bit multiply per word (the construction
/// of foldhash and ahash's fallback) keyed with a per-table random seed, so
/// colliding tuples cannot be precomputed. SipHash cost a tenth of the meter's time.
#[derive(Clone, Copy)]
pub(crate) struct KeyHasher(u64);

const MUL: u64 = 0x9e37_79b9_7f4a_7c15;

#[inline]
fn fold_mul(a: u64, b: u64) -> u64 {
    let p = (a as u128) * (b as u128);
    (p as u64) ^ ((p >> 64) as u64)
}

impl std::hash::Hasher for KeyHasher {
    #[inline]
    fn write_u64(&mut self, w: u64) {
        self.0 = fold_mul(self.0 ^ w, MUL);
    }
    fn write(&mut self, bytes: &[u8]) {
        for c in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..c.len()].copy_from_slice(c);
            self.write_u64(u64::from_ne_bytes(b));
        }
    }
    #[inline]
    fn finish(&self) -> u64 {
        fold_mul(self.0, MUL ^ 0x2d35_8dcc_aa6c_78a5)
    }
}

/// Builds [`KeyHasher`]s with one random seed.
#[derive(Clone, Copy)]
pub(crate) struct SeededState(u64);

impl SeededState {
    fn random() -> SeededState {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0x5eed);
        SeededState(h.finish() | 1)
    }
}

impl std::hash::BuildHasher for SeededState {
    type Hasher = KeyHasher;
    fn build_hasher(&self) -> KeyHasher {
        KeyHasher(self.0)
    }
}

/// One packet as the meter sees it.
#[derive(Clone, Copy, Debug, Default)]
pub struct PacketInfo {
    /// The flow key, already masked to the configured fields.
    pub key: FlowKey,
    /// Bytes at layer 3 (IP total length).
    pub bytes: u64,
    /// TCP flags byte (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, URG 0x20).
    pub tcp_flags: u8,
    /// When the packet was seen (kernel timestamp, else arrival); goes into the
    /// record's start/end times.
    pub ts: Micros,
}

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const ACK: u8 = 0x10;

/// An ended flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowRecord {
    /// Its key.
    pub key: FlowKey,
    /// Timestamp of the first packet.
    pub start: Micros,
    /// Timestamp of the last packet.
    pub end: Micros,
    /// Packets counted (unscaled).
    pub packets: u64,
    /// Bytes counted (unscaled).
    pub bytes: u64,
    /// TCP flags of every packet, OR-ed.
    pub tcp_flags: u8,
    /// Why it ended.
    pub reason: EndReason,
}

/// What [`FlowTable::handle_packet`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handled {
    /// Counted in an existing flow.
    Updated,
    /// Started a new flow.
    Created,
    /// Started a new flow after evicting the least recently seen one.
    Evicted,
    /// Not counted: the table is full and the queue of ended records is full too
    /// (the exporting side is not keeping up). Counted as `packets_dropped`.
    Dropped,
}

const NIL: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
struct Slot {
    key: FlowKey,
    /// Clock times (the `now` passed in) of the first and last packet: expiry.
    first_seen: Micros,
    last_seen: Micros,
    /// Packet timestamps: the record.
    start: Micros,
    end: Micros,
    packets: u64,
    bytes: u64,
    flags: u8,
    class: u8,
    used: bool,
    iprev: u32,
    inext: u32,
    aprev: u32,
    anext: u32,
}

impl Default for Slot {
    fn default() -> Self {
        Slot {
            key: FlowKey::default(),
            first_seen: 0,
            last_seen: 0,
            start: 0,
            end: 0,
            packets: 0,
            bytes: 0,
            flags: 0,
            class: 0,
            used: false,
            iprev: NIL,
            inext: NIL,
            aprev: NIL,
            anext: NIL,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct List {
    head: u32,
    tail: u32,
}

const EMPTY: List = List {
    head: NIL,
    tail: NIL,
};

/// Counters of the table (the plugin adds them to SIGUSR1 and the final report).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableCounters {
    /// Packets counted in a flow.
    pub packets: u64,
    /// Flows started.
    pub flows_created: u64,
    /// Records emitted, by `EndReason as usize - 1`.
    pub ended: [u64; 5],
    /// Packets not counted (see [`Handled::Dropped`]).
    pub packets_dropped: u64,
}

/// The flow table. See the module documentation.
pub struct FlowTable {
    timeouts: Timeouts,
    slots: Vec<Slot>,
    free: Vec<u32>,
    index: HashMap<FlowKey, u32, SeededState>,
    idle: [List; CLASSES],
    age: List,
    ready: VecDeque<FlowRecord>,
    force: bool,
    counters: TableCounters,
}

/// Bytes of memory one flow of capacity costs: its slot, two hash buckets (the
/// index has twice `max_flows` buckets: key, value and a control byte each), its
/// free-list entry and one place in the queue of ended records.
pub const BYTES_PER_FLOW: usize = std::mem::size_of::<Slot>()
    + 2 * (std::mem::size_of::<(FlowKey, u32)>() + 1)
    + std::mem::size_of::<u32>()
    + std::mem::size_of::<FlowRecord>();

// The README states the figure; keep it small enough to mean something.
const _: () = assert!(BYTES_PER_FLOW < 512);

impl FlowTable {
    /// A table for at most `max_flows` flows (at least 1), allocated now.
    pub fn new(max_flows: usize, timeouts: Timeouts) -> FlowTable {
        let n = max_flows.clamp(1, NIL as usize - 1);
        FlowTable {
            timeouts,
            slots: vec![Slot::default(); n],
            free: (0..n as u32).rev().collect(),
            index: HashMap::with_capacity_and_hasher(2 * n, SeededState::random()),
            idle: [EMPTY; CLASSES],
            age: EMPTY,
            ready: VecDeque::with_capacity(n),
            force: false,
            counters: TableCounters::default(),
        }
    }

    /// Flows in the table.
    pub fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// Whether no flow is in the table.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Capacity (`max_flows`).
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Ended records waiting for [`FlowTable::poll_expired`].
    pub fn ready_len(&self) -> usize {
        self.ready.len()
    }

    /// Counters so far.
    pub fn counters(&self) -> TableCounters {
        self.counters
    }

    /// Counts one packet at clock time `now`.
    pub fn handle_packet(&mut self, p: &PacketInfo, now: Micros) -> Handled {
        if let Some(&i) = self.index.get(&p.key) {
            let s = &self.slots[i as usize];
            // A flow past its deadline ends here even if the timer has not run yet, so
            // records do not depend on how often the caller polls. A SYN on a tuple
            // whose TCP flow already ended is a new connection.
            let reuse = s.class == Class::TcpEnd as u8 && p.tcp_flags & (SYN | ACK) == SYN;
            let end = match self.due(s, now) {
                Some(r) => Some(r),
                None if reuse => Some(EndReason::EndOfFlow),
                None => None,
            };
            match end {
                Some(reason) if self.ready.len() < self.ready.capacity() => {
                    let rec = self.remove(i, reason);
                    self.ready.push_back(rec);
                }
                _ => {
                    self.update(i, p, now);
                    return Handled::Updated;
                }
            }
        }
        let mut how = Handled::Created;
        if self.free.is_empty() {
            if self.ready.len() >= self.ready.capacity() {
                self.counters.packets_dropped += 1;
                return Handled::Dropped;
            }
            let victim = self.least_recently_seen();
            let rec = self.remove(victim, EndReason::LackOfResources);
            self.ready.push_back(rec);
            how = Handled::Evicted;
        }
        let i = self.free.pop().expect("a slot was freed above");
        let class = Class::of(p.key.proto) as u8;
        self.slots[i as usize] = Slot {
            key: p.key,
            first_seen: now,
            last_seen: now,
            start: p.ts,
            end: p.ts,
            class,
            used: true,
            ..Slot::default()
        };
        self.index.insert(p.key, i);
        self.push_age(i);
        self.push_idle(i);
        self.counters.flows_created += 1;
        self.update(i, p, now);
        how
    }

    fn update(&mut self, i: u32, p: &PacketInfo, now: Micros) {
        self.unlink_idle(i);
        let s = &mut self.slots[i as usize];
        s.packets += 1;
        s.bytes += p.bytes;
        s.flags |= p.tcp_flags;
        s.last_seen = s.last_seen.max(now);
        s.start = s.start.min(p.ts);
        s.end = s.end.max(p.ts);
        if s.class == Class::Tcp as u8 && p.tcp_flags & (FIN | RST) != 0 {
            s.class = Class::TcpEnd as u8;
        }
        self.push_idle(i);
        self.counters.packets += 1;
    }

    /// Ends every flow: the following [`FlowTable::poll_expired`] calls return them
    /// all whatever `now` is: first those whose timeout has run out by `now` (with
    /// that reason), then the rest oldest first ([`EndReason::Forced`]); flows created
    /// meanwhile are flushed too until the table is empty once.
    pub fn flush_all(&mut self) {
        self.force = !self.is_empty();
    }

    /// When the next record is due (clock time), if any: `poll_expired` at or after
    /// it returns something. Records already waiting make it "now" (0).
    pub fn poll_timeout(&self) -> Option<Micros> {
        if !self.ready.is_empty() || self.force {
            return Some(0);
        }
        self.next_due().map(|(t, _, _)| t)
    }

    /// Takes the next record due at `now`, or `None`. Call until `None`.
    pub fn poll_expired(&mut self, now: Micros) -> Option<FlowRecord> {
        if let Some(r) = self.ready.pop_front() {
            return Some(r);
        }
        if self.force {
            // A flow whose timeout has already run out keeps that reason.
            if let Some((due, i, reason)) = self.next_due() {
                if due <= now {
                    let rec = self.remove(i, reason);
                    if self.age.head == NIL {
                        self.force = false;
                    }
                    return Some(rec);
                }
            }
            if self.age.head == NIL {
                self.force = false;
                return None;
            }
            let rec = self.remove(self.age.head, EndReason::Forced);
            if self.age.head == NIL {
                self.force = false;
            }
            return Some(rec);
        }
        let (due, i, reason) = self.next_due()?;
        if due > now {
            return None;
        }
        Some(self.remove(i, reason))
    }

    /// (deadline, slot, reason) of the earliest deadline.
    fn next_due(&self) -> Option<(Micros, u32, EndReason)> {
        let mut best: Option<(Micros, u32, EndReason)> = None;
        let mut consider = |t: Micros, i: u32, r: EndReason| {
            if best.is_none_or(|(bt, _, _)| t < bt) {
                best = Some((t, i, r));
            }
        };
        for (c, l) in self.idle.iter().enumerate() {
            if l.head != NIL {
                let s = &self.slots[l.head as usize];
                let reason = if c == Class::TcpEnd as usize {
                    EndReason::EndOfFlow
                } else {
                    EndReason::Idle
                };
                consider(
                    s.last_seen.saturating_add(self.timeouts.idle[c]),
                    l.head,
                    reason,
                );
            }
        }
        if self.age.head != NIL {
            let s = &self.slots[self.age.head as usize];
            consider(
                s.first_seen.saturating_add(self.timeouts.active),
                self.age.head,
                EndReason::Active,
            );
        }
        best
    }

    /// Why `s` has ended by `now`, if it has.
    fn due(&self, s: &Slot, now: Micros) -> Option<EndReason> {
        let c = s.class as usize;
        if s.last_seen.saturating_add(self.timeouts.idle[c]) <= now {
            Some(if c == Class::TcpEnd as usize {
                EndReason::EndOfFlow
            } else {
                EndReason::Idle
            })
        } else if s.first_seen.saturating_add(self.timeouts.active) <= now {
            Some(EndReason::Active)
        } else {
            None
        }
    }

    fn least_recently_seen(&self) -> u32 {
        self.idle
            .iter()
            .filter(|l| l.head != NIL)
            .map(|l| l.head)
            .min_by_key(|&i| self.slots[i as usize].last_seen)
            .expect("a full table has flows")
    }

    fn remove(&mut self, i: u32, reason: EndReason) -> FlowRecord {
        self.unlink_idle(i);
        self.unlink_age(i);
        let s = &mut self.slots[i as usize];
        s.used = false;
        let rec = FlowRecord {
            key: s.key,
            start: s.start,
            end: s.end,
            packets: s.packets,
            bytes: s.bytes,
            tcp_flags: s.flags,
            reason,
        };
        self.index.remove(&rec.key);
        self.free.push(i);
        self.counters.ended[reason as usize - 1] += 1;
        rec
    }

    fn push_idle(&mut self, i: u32) {
        let c = self.slots[i as usize].class as usize;
        let tail = self.idle[c].tail;
        {
            let s = &mut self.slots[i as usize];
            s.iprev = tail;
            s.inext = NIL;
        }
        if tail == NIL {
            self.idle[c].head = i;
        } else {
            self.slots[tail as usize].inext = i;
        }
        self.idle[c].tail = i;
    }

    fn unlink_idle(&mut self, i: u32) {
        let (c, p, n) = {
            let s = &self.slots[i as usize];
            (s.class as usize, s.iprev, s.inext)
        };
        if p == NIL {
            self.idle[c].head = n;
        } else {
            self.slots[p as usize].inext = n;
        }
        if n == NIL {
            self.idle[c].tail = p;
        } else {
            self.slots[n as usize].iprev = p;
        }
        let s = &mut self.slots[i as usize];
        s.iprev = NIL;
        s.inext = NIL;
    }

    fn push_age(&mut self, i: u32) {
        let tail = self.age.tail;
        {
            let s = &mut self.slots[i as usize];
            s.aprev = tail;
            s.anext = NIL;
        }
        if tail == NIL {
            self.age.head = i;
        } else {
            self.slots[tail as usize].anext = i;
        }
        self.age.tail = i;
    }

    fn unlink_age(&mut self, i: u32) {
        let (p, n) = {
            let s = &self.slots[i as usize];
            (s.aprev, s.anext)
        };
        if p == NIL {
            self.age.head = n;
        } else {
            self.slots[p as usize].anext = n;
        }
        if n == NIL {
            self.age.tail = p;
        } else {
            self.slots[n as usize].aprev = p;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Micros = 1_000_000;

    fn key(proto: u8, sport: u16) -> FlowKey {
        FlowKey {
            family: 2,
            proto,
            saddr: [10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            daddr: [10, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            sport,
            dport: 80,
            ..FlowKey::default()
        }
    }

    fn pkt(proto: u8, sport: u16, flags: u8, ts: Micros) -> PacketInfo {
        PacketInfo {
            key: key(proto, sport),
            bytes: 100,
            tcp_flags: flags,
            ts,
        }
    }

    fn small() -> Timeouts {
        Timeouts {
            active: 100 * S,
            idle: [30 * S, 5 * S, 20 * S, 10 * S, 40 * S],
        }
    }

    fn drain(t: &mut FlowTable, now: Micros) -> Vec<FlowRecord> {
        std::iter::from_fn(|| t.poll_expired(now)).collect()
    }

    #[test]
    fn counts_packets_bytes_flags_and_times() {
        let mut t = FlowTable::new(8, small());
        assert_eq!(t.handle_packet(&pkt(6, 1, SYN, S), S), Handled::Created);
        assert_eq!(
            t.handle_packet(&pkt(6, 1, ACK, 2 * S), 2 * S),
            Handled::Updated
        );
        assert_eq!(
            t.handle_packet(&pkt(6, 1, ACK | 0x08, 3 * S), 3 * S),
            Handled::Updated
        );
        assert_eq!(t.len(), 1);
        t.flush_all();
        let r = drain(&mut t, 3 * S);
        assert_eq!(r.len(), 1);
        assert_eq!(
            (
                r[0].packets,
                r[0].bytes,
                r[0].tcp_flags,
                r[0].start,
                r[0].end
            ),
            (3, 300, SYN | ACK | 0x08, S, 3 * S)
        );
        assert_eq!(r[0].reason, EndReason::Forced);
        assert!(t.is_empty());
    }

    #[test]
    fn idle_timeout_per_protocol() {
        let mut t = FlowTable::new(8, small());
        t.handle_packet(&pkt(6, 1, ACK, 0), 0); // tcp 30 s
        t.handle_packet(&pkt(17, 2, 0, 0), 0); // udp 20 s
        t.handle_packet(&pkt(1, 3, 0, 0), 0); // icmp 10 s
        t.handle_packet(&pkt(47, 4, 0, 0), 0); // other 40 s
        assert_eq!(t.poll_timeout(), Some(10 * S));
        assert!(drain(&mut t, 10 * S - 1).is_empty());
        let r = drain(&mut t, 10 * S);
        assert_eq!(
            (r.len(), r[0].key.proto, r[0].reason),
            (1, 1, EndReason::Idle)
        );
        assert_eq!(t.poll_timeout(), Some(20 * S));
        assert_eq!(drain(&mut t, 20 * S)[0].key.proto, 17);
        assert_eq!(drain(&mut t, 30 * S)[0].key.proto, 6);
        assert_eq!(drain(&mut t, 40 * S)[0].key.proto, 47);
        assert_eq!(t.poll_timeout(), None);
        assert_eq!(t.counters().ended, [4, 0, 0, 0, 0]);
    }

    #[test]
    fn packets_push_the_idle_deadline_back() {
        let mut t = FlowTable::new(8, small());
        t.handle_packet(&pkt(17, 1, 0, 0), 0);
        t.handle_packet(&pkt(17, 1, 0, 15 * S), 15 * S);
        assert!(drain(&mut t, 30 * S).is_empty());
        assert_eq!(t.poll_timeout(), Some(35 * S));
        assert_eq!(drain(&mut t, 35 * S)[0].packets, 2);
    }

    #[test]
    fn active_timeout_ends_a_busy_flow_and_restarts_it() {
        let mut t = FlowTable::new(8, small());
        let mut now = 0;
        let mut got = Vec::new();
        while now <= 150 * S {
            t.handle_packet(&pkt(17, 1, 0, now), now);
            got.extend(drain(&mut t, now));
            now += 5 * S;
        }
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].reason, EndReason::Active);
        // Packets at 0, 5, ..., 95 s: the one at 100 s starts the next flow.
        assert_eq!((got[0].packets, got[0].start, got[0].end), (20, 0, 95 * S));
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn fin_or_rst_switches_to_the_short_end_timeout() {
        for flag in [FIN | ACK, RST] {
            let mut t = FlowTable::new(8, small());
            t.handle_packet(&pkt(6, 1, SYN, 0), 0);
            t.handle_packet(&pkt(6, 1, flag, S), S);
            // The final ACK after FIN stays in the flow.
            t.handle_packet(&pkt(6, 1, ACK, 2 * S), 2 * S);
            assert_eq!(t.poll_timeout(), Some(7 * S));
            assert!(drain(&mut t, 7 * S - 1).is_empty());
            let r = drain(&mut t, 7 * S);
            assert_eq!((r[0].reason, r[0].packets), (EndReason::EndOfFlow, 3));
            assert_eq!(r[0].tcp_flags & flag, flag);
        }
    }

    #[test]
    fn a_syn_on_an_ended_tuple_starts_a_new_flow() {
        let mut t = FlowTable::new(8, small());
        t.handle_packet(&pkt(6, 1, SYN, 0), 0);
        t.handle_packet(&pkt(6, 1, FIN | ACK, S), S);
        assert_eq!(
            t.handle_packet(&pkt(6, 1, SYN, 2 * S), 2 * S),
            Handled::Created
        );
        let r = drain(&mut t, 2 * S);
        assert_eq!(
            (r.len(), r[0].reason, r[0].packets),
            (1, EndReason::EndOfFlow, 2)
        );
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn full_table_evicts_the_least_recently_seen_and_counts_it() {
        let mut t = FlowTable::new(2, small());
        t.handle_packet(&pkt(17, 1, 0, 0), 0);
        t.handle_packet(&pkt(17, 2, 0, S), S);
        t.handle_packet(&pkt(17, 1, 0, 2 * S), 2 * S); // 1 is fresher now
        assert_eq!(
            t.handle_packet(&pkt(17, 3, 0, 3 * S), 3 * S),
            Handled::Evicted
        );
        assert_eq!(t.poll_timeout(), Some(0));
        let r = drain(&mut t, 3 * S);
        assert_eq!(
            (r.len(), r[0].key.sport, r[0].reason),
            (1, 2, EndReason::LackOfResources)
        );
        assert_eq!(
            t.counters().ended[EndReason::LackOfResources as usize - 1],
            1
        );
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn drops_and_counts_when_nothing_can_make_room() {
        let mut t = FlowTable::new(1, small());
        t.handle_packet(&pkt(17, 1, 0, 0), 0);
        assert_eq!(t.handle_packet(&pkt(17, 2, 0, 0), 0), Handled::Evicted);
        // The evicted record has not been taken: the queue (1) is full.
        assert_eq!(t.handle_packet(&pkt(17, 3, 0, 0), 0), Handled::Dropped);
        assert_eq!(t.counters().packets_dropped, 1);
        assert_eq!(drain(&mut t, 0).len(), 1);
        assert_eq!(t.handle_packet(&pkt(17, 3, 0, 0), 0), Handled::Evicted);
    }

    #[test]
    fn flush_all_empties_the_table_oldest_first() {
        let mut t = FlowTable::new(8, small());
        for p in 1..=5 {
            t.handle_packet(&pkt(17, p, 0, p as Micros), p as Micros);
        }
        t.flush_all();
        assert_eq!(t.poll_timeout(), Some(0));
        let r = drain(&mut t, 0);
        let ports: Vec<u16> = r.iter().map(|r| r.key.sport).collect();
        assert_eq!(ports, [1, 2, 3, 4, 5]);
        assert!(r.iter().all(|r| r.reason == EndReason::Forced));
        assert!(t.is_empty());
        assert_eq!(t.poll_timeout(), None);
        // Flushing an empty table is a no-op.
        t.flush_all();
        assert_eq!(t.poll_expired(0), None);
    }

    #[test]
    fn flush_keeps_the_reason_of_flows_already_timed_out() {
        let mut t = FlowTable::new(8, small());
        t.handle_packet(&pkt(1, 1, 0, 0), 0); // icmp, idle after 10 s
        t.handle_packet(&pkt(17, 2, 0, 15 * S), 15 * S);
        t.flush_all();
        let r = drain(&mut t, 15 * S);
        let got: Vec<(u8, EndReason)> = r.iter().map(|r| (r.key.proto, r.reason)).collect();
        assert_eq!(got, [(1, EndReason::Idle), (17, EndReason::Forced)]);
    }

    #[test]
    fn max_flows_holds_memory_flat_under_a_flood_of_distinct_tuples() {
        let mut t = FlowTable::new(1024, Timeouts::default());
        // hashbrown's capacity() counts tombstones against it, so it moves without
        // reallocating; a reallocation would at least double it.
        let index_cap = t.index.capacity();
        let cap = (t.slots.capacity(), t.ready.capacity(), t.free.capacity());
        let mut records = 0u64;
        for n in 0..200_000u32 {
            let mut p = pkt(17, (n & 0xffff) as u16, 0, n as Micros);
            p.key.saddr[4..8].copy_from_slice(&n.to_be_bytes());
            assert_ne!(t.handle_packet(&p, n as Micros), Handled::Dropped);
            while t.poll_expired(n as Micros).is_some() {
                records += 1;
            }
            assert!(t.len() <= 1024);
            assert!(t.index.capacity() <= index_cap && t.index.capacity() >= 1024);
        }
        assert_eq!(
            cap,
            (t.slots.capacity(), t.ready.capacity(), t.free.capacity())
        );
        assert_eq!(records, 200_000 - 1024);
        assert_eq!(t.counters().ended[4], 200_000 - 1024);
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        #[derive(Debug, Clone)]
        enum Op {
            Packet {
                tuple: u16,
                proto: u8,
                flags: u8,
                dt: u64,
            },
            Poll {
                dt: u64,
            },
            Flush,
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                6 => (0u16..12, proptest::sample::select(vec![6u8, 17, 1, 47]), any::<u8>(), 0u64..20)
                    .prop_map(|(tuple, proto, flags, dt)| Op::Packet { tuple, proto, flags: flags & 0x3f, dt }),
                2 => (0u64..60).prop_map(|dt| Op::Poll { dt }),
                1 => Just(Op::Flush),
            ]
        }

        proptest! {
            /// Whatever happens, every counted packet is in exactly one record or
            /// still in the table, the table stays within max_flows, and a record's
            /// reason matches the timeouts.
            #[test]
            fn packets_are_conserved(ops in proptest::collection::vec(op(), 1..300), cap in 1usize..6) {
                let to = small();
                let mut t = FlowTable::new(cap, to);
                let mut now: Micros = 0;
                let (mut counted, mut in_records) = (0u64, 0u64);
                let check = |r: &FlowRecord, now: Micros| {
                    assert!(r.packets >= 1 && r.start <= r.end && r.end <= now);
                    if r.reason == EndReason::Idle {
                        let c = Class::of(r.key.proto) as usize;
                        assert!(r.end + to.idle[c] <= now, "{r:?} at {now}");
                    }
                    r.packets
                };
                for o in ops {
                    match o {
                        Op::Packet { tuple, proto, flags, dt } => {
                            now += dt * S;
                            let p = pkt(proto, tuple, if proto == 6 { flags } else { 0 }, now);
                            if t.handle_packet(&p, now) != Handled::Dropped {
                                counted += 1;
                            }
                        }
                        Op::Poll { dt } => {
                            now += dt * S;
                            while let Some(r) = t.poll_expired(now) {
                                in_records += check(&r, now);
                            }
                        }
                        Op::Flush => t.flush_all(),
                    }
                    prop_assert!(t.len() <= cap);
                }
                t.flush_all();
                while let Some(r) = t.poll_expired(now) {
                    in_records += check(&r, now);
                }
                prop_assert!(t.is_empty());
                prop_assert_eq!(counted, in_records);
                prop_assert_eq!(t.counters().packets, counted);
            }
        }
    }
}
