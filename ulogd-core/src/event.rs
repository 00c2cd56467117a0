//! Per-event storage: the pooled [`Bundle`] and the [`Event`] view plugins work on.
//!
//! A bundle holds one flat array of value slots for a source and every stack hanging
//! off it, plus one byte arena for strings and raw data. Slot indices are resolved
//! when the stacks are built; at run time a plugin names its keys by the position in
//! its own declared input/output list, and the [`Event`] maps that position to a slot
//! through the element's binding: an array index, never a hash or a string compare.
//! Strings and raw bytes are copied into the arena, whose capacity is kept between
//! events, so a steady stream of events allocates nothing.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::catalogue::{Key, KeyValue};
use crate::key::{KeyDef, KeyType};

/// Marks an input that no upstream plugin produces (optional or inactive inputs).
pub(crate) const UNBOUND: u32 = u32::MAX;

/// One slot's value. `Copy` so clearing a bundle is a fill.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub(crate) enum Val {
    #[default]
    Unset,
    U(u64),
    I(i64),
    B(bool),
    Ip(IpAddr),
    /// Range in the bundle's arena.
    Bytes(u32, u32),
}

/// A value read from a key.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    /// Any unsigned integer type, widened.
    Uint(u64),
    /// Any signed integer type, widened.
    Int(i64),
    /// Boolean.
    Bool(bool),
    /// IPv4 or IPv6 address.
    Addr(IpAddr),
    /// String, raw or raw-string bytes (the key's type tells which).
    Bytes(&'a [u8]),
}

/// What a stack decided about a queued packet (NFQUEUE). Set by a filter or sink with
/// [`Event::set_verdict`]; read by the source when every stack has run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The decision.
    pub action: VerdictAction,
    /// New packet mark, if any.
    pub mark: Option<u32>,
    /// New conntrack mark, if any.
    pub connmark: Option<u32>,
}

/// The possible NFQUEUE decisions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerdictAction {
    /// Let the packet continue.
    Accept,
    /// Drop the packet.
    Drop,
    /// Re-inject at the start of the hook.
    Repeat,
    /// Send to another queue.
    Queue(u16),
}

/// All per-event storage of one source and its stacks. Pooled and reused.
#[derive(Debug)]
pub struct Bundle {
    pub(crate) vals: Vec<Val>,
    pub(crate) arena: Vec<u8>,
    pub(crate) scratch: Vec<u8>,
    pub(crate) seq: u64,
    pub(crate) verdict: Option<Verdict>,
    pub(crate) verdict_final: bool,
    pub(crate) verdict_payload: Option<(u32, u32)>,
}

impl Bundle {
    /// A bundle with `slots` value slots and an arena sized for a typical packet.
    pub(crate) fn new(slots: usize) -> Bundle {
        Bundle {
            vals: vec![Val::Unset; slots],
            arena: Vec::with_capacity(4096),
            scratch: Vec::with_capacity(1024),
            seq: 0,
            verdict: None,
            verdict_final: false,
            verdict_payload: None,
        }
    }

    /// Clears every value for reuse, keeping capacity.
    pub(crate) fn clear(&mut self) {
        self.vals.fill(Val::Unset);
        self.arena.clear();
        self.verdict = None;
        self.verdict_final = false;
        self.verdict_payload = None;
    }
}

/// How one stack element sees the bundle: its inputs and outputs as slot indices.
#[derive(Debug, Clone, Default)]
pub(crate) struct Binding {
    /// Slot of each declared input, or [`UNBOUND`].
    pub inputs: Box<[u32]>,
    /// First slot of this element's outputs (they are contiguous).
    pub out_base: u32,
    /// Number of outputs.
    pub out_len: u32,
    /// For wildcard inputs: every upstream output slot, in stack order.
    pub wildcard: Box<[u32]>,
    /// What the stage derived for this stack in [`crate::Stage::bind`].
    pub state: BindState,
}

/// State a stage derives once per stack it stands in ([`crate::Stage::bind`]): a
/// plan from the key names and types, say. The engine keeps it with the stack's
/// binding and hands it back on every event ([`Event::bind_state`]), so a stage
/// shared by several stacks needs no lookup table of its own. Cheap to clone.
#[derive(Clone, Default)]
pub struct BindState(Option<std::sync::Arc<dyn std::any::Any + Send + Sync>>);

impl BindState {
    /// No state (what [`crate::Stage::bind`] returns by default).
    pub fn none() -> BindState {
        BindState(None)
    }
    /// Keeps `state`.
    pub fn new<T: std::any::Any + Send + Sync>(state: T) -> BindState {
        BindState(Some(std::sync::Arc::new(state)))
    }
    /// The state, if there is one of type `T`.
    pub fn get<T: std::any::Any>(&self) -> Option<&T> {
        self.0.as_deref()?.downcast_ref()
    }
}

impl std::fmt::Debug for BindState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "BindState(..)"
        } else {
            "BindState(none)"
        })
    }
}

/// The view of one event that a plugin reads and writes.
///
/// Inputs are addressed by their position in the plugin's declared input list, outputs
/// by their position in its output list. Reading an unset or unbound input gives
/// `None`. Setting a value of the wrong type is a plugin bug, caught in debug builds.
pub struct Event<'a> {
    pub(crate) vals: &'a mut [Val],
    pub(crate) arena: &'a mut Vec<u8>,
    pub(crate) scratch: &'a mut Vec<u8>,
    pub(crate) binding: &'a Binding,
    pub(crate) defs: &'a [KeyDef],
    pub(crate) verdict: &'a mut Option<Verdict>,
    pub(crate) verdict_final: &'a mut bool,
    pub(crate) verdict_payload: &'a mut Option<(u32, u32)>,
}

impl<'a> Event<'a> {
    #[inline]
    fn in_val(&self, input: usize) -> Val {
        match self.binding.inputs.get(input) {
            Some(&slot) if slot != UNBOUND => self.vals[slot as usize],
            _ => Val::Unset,
        }
    }

    #[inline]
    fn decode(&self, v: Val) -> Option<Value<'_>> {
        Some(match v {
            Val::Unset => return None,
            Val::U(x) => Value::Uint(x),
            Val::I(x) => Value::Int(x),
            Val::B(x) => Value::Bool(x),
            Val::Ip(x) => Value::Addr(x),
            Val::Bytes(s, l) => Value::Bytes(&self.arena[s as usize..(s + l) as usize]),
        })
    }

    /// The value of input `input`, if bound and set.
    #[inline]
    pub fn get(&self, input: usize) -> Option<Value<'_>> {
        self.decode(self.in_val(input))
    }

    /// Whether input `input` is bound and set.
    #[inline]
    pub fn is_set(&self, input: usize) -> bool {
        !matches!(self.in_val(input), Val::Unset)
    }

    /// Whether input `input` is bound to an upstream producer at all.
    #[inline]
    pub fn is_bound(&self, input: usize) -> bool {
        self.binding
            .inputs
            .get(input)
            .is_some_and(|&s| s != UNBOUND)
    }

    /// Input as an unsigned integer (bools give 0/1, signed values are reinterpreted).
    #[inline]
    pub fn u64(&self, input: usize) -> Option<u64> {
        match self.in_val(input) {
            Val::U(x) => Some(x),
            Val::I(x) => Some(x as u64),
            Val::B(b) => Some(b as u64),
            _ => None,
        }
    }

    /// Input as `u32` (truncating wider values).
    #[inline]
    pub fn u32(&self, input: usize) -> Option<u32> {
        self.u64(input).map(|x| x as u32)
    }

    /// Input as `u16` (truncating).
    #[inline]
    pub fn u16(&self, input: usize) -> Option<u16> {
        self.u64(input).map(|x| x as u16)
    }

    /// Input as `u8` (truncating).
    #[inline]
    pub fn u8(&self, input: usize) -> Option<u8> {
        self.u64(input).map(|x| x as u8)
    }

    /// Input as a signed integer.
    #[inline]
    pub fn i64(&self, input: usize) -> Option<i64> {
        match self.in_val(input) {
            Val::I(x) => Some(x),
            Val::U(x) => Some(x as i64),
            Val::B(b) => Some(b as i64),
            _ => None,
        }
    }

    /// Input as a boolean (non-zero integers are true).
    #[inline]
    pub fn bool(&self, input: usize) -> Option<bool> {
        match self.in_val(input) {
            Val::B(b) => Some(b),
            Val::U(x) => Some(x != 0),
            Val::I(x) => Some(x != 0),
            _ => None,
        }
    }

    /// Input as an address.
    #[inline]
    pub fn addr(&self, input: usize) -> Option<IpAddr> {
        match self.in_val(input) {
            Val::Ip(a) => Some(a),
            _ => None,
        }
    }

    /// Input as bytes (string, raw or raw string).
    #[inline]
    pub fn bytes(&self, input: usize) -> Option<&[u8]> {
        match self.in_val(input) {
            Val::Bytes(s, l) => Some(&self.arena[s as usize..(s + l) as usize]),
            _ => None,
        }
    }

    /// Input as text, if it is valid UTF-8.
    #[inline]
    pub fn str(&self, input: usize) -> Option<&str> {
        self.bytes(input).and_then(|b| std::str::from_utf8(b).ok())
    }

    /// The declaration of the producer an input is bound to (its real type and
    /// annotations), if bound.
    pub fn input_def(&self, input: usize) -> Option<&KeyDef> {
        match self.binding.inputs.get(input) {
            Some(&slot) if slot != UNBOUND => self.defs.get(slot as usize),
            _ => None,
        }
    }

    /// For wildcard sinks: every upstream key in stack order (duplicates included,
    /// as in ulogd2), with its value when set.
    pub fn wildcard(&self) -> impl Iterator<Item = (&KeyDef, Option<Value<'_>>)> + '_ {
        self.binding.wildcard.iter().map(move |&slot| {
            (
                &self.defs[slot as usize],
                self.decode(self.vals[slot as usize]),
            )
        })
    }

    /// Number of keys a wildcard input sees.
    pub fn wildcard_len(&self) -> usize {
        self.binding.wildcard.len()
    }

    /// The declaration of wildcard key `pos` (`pos < wildcard_len()`).
    pub fn wildcard_def(&self, pos: usize) -> Option<&KeyDef> {
        let slot = *self.binding.wildcard.get(pos)?;
        self.defs.get(slot as usize)
    }

    /// The positions of the wildcard keys that are set, in stack order. A sink that
    /// prints only what is set walks these instead of `wildcard_get` for every
    /// position: most keys of a stack are unset for any one event (the TCP keys of a
    /// UDP packet, the IPv6 keys of an IPv4 one), and an unset one costs a tag test here.
    #[inline]
    pub fn wildcard_set_positions(&self) -> impl Iterator<Item = usize> + '_ {
        self.binding
            .wildcard
            .iter()
            .enumerate()
            .filter(move |&(_, &slot)| !matches!(self.vals[slot as usize], Val::Unset))
            .map(|(pos, _)| pos)
    }

    /// The value of wildcard key `pos`, if set.
    #[inline]
    pub fn wildcard_get(&self, pos: usize) -> Option<Value<'_>> {
        let slot = *self.binding.wildcard.get(pos)?;
        self.decode(self.vals[slot as usize])
    }

    /// What this stage's [`crate::Stage::bind`] returned for this stack, if it is a `T`.
    #[inline]
    pub fn bind_state<T: std::any::Any>(&self) -> Option<&T> {
        self.binding.state.get()
    }

    #[inline]
    fn out_slot(&self, output: usize) -> usize {
        debug_assert!(
            (output as u32) < self.binding.out_len,
            "output index {output} out of range"
        );
        (self.binding.out_base as usize) + output
    }

    #[inline]
    fn put(&mut self, output: usize, v: Val) {
        let slot = self.out_slot(output);
        self.vals[slot] = v;
    }

    /// Declared type of output `output` (for generic code such as decoders of keys).
    pub fn output_type(&self, output: usize) -> KeyType {
        self.defs[self.out_slot(output)].ty
    }

    /// Sets an unsigned integer output (any width, and `Bool`).
    #[inline]
    pub fn set_u64(&mut self, output: usize, v: u64) {
        debug_assert!(self.output_type(output).is_numeric());
        self.put(output, Val::U(v));
    }
    /// Sets a `u32` output.
    #[inline]
    pub fn set_u32(&mut self, output: usize, v: u32) {
        self.set_u64(output, v as u64)
    }
    /// Sets a `u16` output.
    #[inline]
    pub fn set_u16(&mut self, output: usize, v: u16) {
        self.set_u64(output, v as u64)
    }
    /// Sets a `u8` output.
    #[inline]
    pub fn set_u8(&mut self, output: usize, v: u8) {
        self.set_u64(output, v as u64)
    }
    /// Sets a signed output.
    #[inline]
    pub fn set_i64(&mut self, output: usize, v: i64) {
        debug_assert!(self.output_type(output).is_numeric());
        self.put(output, Val::I(v));
    }
    /// Sets a boolean output.
    #[inline]
    pub fn set_bool(&mut self, output: usize, v: bool) {
        debug_assert!(self.output_type(output) == KeyType::Bool);
        self.put(output, Val::B(v));
    }
    /// Sets an address output.
    #[inline]
    pub fn set_addr(&mut self, output: usize, v: IpAddr) {
        debug_assert!(self.output_type(output) == KeyType::IpAddr);
        self.put(output, Val::Ip(v));
    }
    /// Sets an IPv4 address output.
    #[inline]
    pub fn set_v4(&mut self, output: usize, v: Ipv4Addr) {
        self.set_addr(output, IpAddr::V4(v))
    }
    /// Sets an IPv6 address output.
    #[inline]
    pub fn set_v6(&mut self, output: usize, v: Ipv6Addr) {
        self.set_addr(output, IpAddr::V6(v))
    }
    /// Sets a string / raw output by copying `v` into the bundle's arena.
    #[inline]
    pub fn set_bytes(&mut self, output: usize, v: &[u8]) {
        debug_assert!(self.output_type(output).is_bytes());
        let start = self.arena.len() as u32;
        self.arena.extend_from_slice(v);
        self.put(output, Val::Bytes(start, v.len() as u32));
    }
    /// Sets a string output.
    #[inline]
    pub fn set_str(&mut self, output: usize, v: &str) {
        self.set_bytes(output, v.as_bytes())
    }
    /// Writes a string/raw output built by `f`, which may read this event's inputs
    /// while writing into a reused buffer (no allocation in steady state).
    pub fn set_with<F>(&mut self, output: usize, f: F)
    where
        F: FnOnce(&Event<'_>, &mut Vec<u8>),
    {
        let mut buf = std::mem::take(self.scratch);
        buf.clear();
        f(self, &mut buf);
        self.set_bytes(output, &buf);
        *self.scratch = buf;
    }
    /// Clears an output.
    #[inline]
    pub fn unset(&mut self, output: usize) {
        self.put(output, Val::Unset);
    }

    /// Typed read of an input through a handle made by
    /// [`key_list!`](crate::key_list): the same array indexing as [`Event::get`],
    /// with the value's type fixed by the handle. In debug builds, checks that the
    /// input is bound to a key of the handle's name (a handle into another list
    /// would otherwise read a wrong slot or `None` silently).
    #[inline]
    pub fn key<T: KeyValue>(&self, k: Key<T>) -> Option<T::Ref<'_>> {
        debug_assert!(
            self.input_def(k.pos()).is_none_or(|d| d.name == k.name()),
            "input {} is bound to {:?}, not {}",
            k.pos(),
            self.input_def(k.pos()).map(|d| d.name.clone()),
            k.name()
        );
        T::read(self, k.pos())
    }

    /// Typed write of an output through a handle made by
    /// [`key_list!`](crate::key_list). In debug builds, checks that the output slot
    /// is declared under the handle's name.
    #[inline]
    pub fn set<T: KeyValue>(&mut self, k: Key<T>, v: T::Ref<'_>) {
        debug_assert!(
            self.defs.get(self.out_slot(k.pos())).map(|d| &*d.name) == Some(k.name()),
            "output {} is not {}",
            k.pos(),
            k.name()
        );
        T::write(self, k.pos(), v)
    }

    /// [`Event::set`] when `v` is `Some`; leaves the output unset otherwise.
    #[inline]
    pub fn set_some<T: KeyValue>(&mut self, k: Key<T>, v: Option<T::Ref<'_>>) {
        if let Some(v) = v {
            self.set(k, v)
        }
    }

    /// Whether the input of handle `k` is bound and set.
    #[inline]
    pub fn has<T>(&self, k: Key<T>) -> bool {
        self.is_set(k.pos())
    }

    /// Sets the packet verdict (NFQUEUE). The first verdict set in a stack wins unless
    /// `overrides` is true; later stacks of the same packet do not change a verdict
    /// that an earlier stack made final.
    pub fn set_verdict(&mut self, v: Verdict, overrides: bool) {
        if *self.verdict_final {
            return;
        }
        if self.verdict.is_none() || overrides {
            *self.verdict = Some(v);
        }
    }

    /// Replaces the queued packet's payload with `bytes` when the verdict is issued
    /// (NFQUEUE). Like the verdict, ignored once an earlier stack made its decision
    /// final. The bytes are copied into the bundle's arena (no allocation).
    pub fn set_verdict_payload(&mut self, bytes: &[u8]) {
        if *self.verdict_final {
            return;
        }
        let start = self.arena.len() as u32;
        self.arena.extend_from_slice(bytes);
        *self.verdict_payload = Some((start, bytes.len() as u32));
    }

    /// The replacement payload set with [`Event::set_verdict_payload`], if any.
    pub fn verdict_payload(&self) -> Option<&[u8]> {
        self.verdict_payload
            .map(|(s, l)| &self.arena[s as usize..(s + l) as usize])
    }

    /// The verdict set so far, if any.
    pub fn verdict(&self) -> Option<Verdict> {
        *self.verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_and_read_through_binding() {
        let defs = vec![
            KeyDef::new("a", KeyType::U32),
            KeyDef::new("b", KeyType::String),
            KeyDef::new("c", KeyType::String),
        ];
        let mut b = Bundle::new(3);
        let src = Binding {
            inputs: Box::new([]),
            out_base: 0,
            out_len: 2,
            wildcard: Box::new([]),
            ..Default::default()
        };
        let filt = Binding {
            inputs: Box::new([1, 0, UNBOUND]),
            out_base: 2,
            out_len: 1,
            wildcard: Box::new([0, 1, 2]),
            ..Default::default()
        };
        let (mut v, mut vf, mut vp) = (None, false, None);
        {
            let mut ev = Event {
                vals: &mut b.vals,
                arena: &mut b.arena,
                scratch: &mut b.scratch,
                binding: &src,
                defs: &defs,
                verdict: &mut v,
                verdict_final: &mut vf,
                verdict_payload: &mut vp,
            };
            ev.set_u32(0, 7);
            ev.set_str(1, "hello");
        }
        let mut ev = Event {
            vals: &mut b.vals,
            arena: &mut b.arena,
            scratch: &mut b.scratch,
            binding: &filt,
            defs: &defs,
            verdict: &mut v,
            verdict_final: &mut vf,
            verdict_payload: &mut vp,
        };
        assert_eq!(ev.str(0), Some("hello"));
        assert_eq!(ev.u32(1), Some(7));
        assert_eq!(ev.get(2), None);
        assert!(!ev.is_bound(2));
        ev.set_with(0, |e, buf| {
            buf.extend_from_slice(e.bytes(0).unwrap());
            buf.extend_from_slice(b" world");
        });
        let all: Vec<_> = ev
            .wildcard()
            .map(|(d, v)| (d.name.to_string(), v.is_some()))
            .collect();
        assert_eq!(all.len(), 3);
        assert!(all.iter().all(|x| x.1));
        match ev.wildcard().nth(2).unwrap().1 {
            Some(Value::Bytes(s)) => assert_eq!(s, b"hello world"),
            other => panic!("{other:?}"),
        }
        b.clear();
        assert!(b.vals.iter().all(|v| *v == Val::Unset));
    }
}
