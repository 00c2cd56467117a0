//! The key catalogue: every key family that more than one plugin produces or reads,
//! declared once, with typed handles.
//!
//! Why: ulogd2's names, types and IPFIX annotations used to be written out again in
//! each plugin's table (BASE kept four parallel lists, NFLOG/NFQ/REPLAY a fifth, the
//! conntrack table was copied into the IPFIX collector and the benches) and the
//! copies drifted (`orig.raw.pktlen` was element 85 in one and 1 in another). Here a
//! key is one [`Def`] constant (name, type, flags, IPFIX element, CIM alias), grouped
//! by family: [`oob`], [`raw`], [`ct`], [`flow`] (`orig.*`, `reply.*`, `flow.*`,
//! `nat.*`), [`packet`] (BASE's `ip.*`, `tcp.*`, ...) and [`ipfix`]. IETF elements are
//! named by an [`ie`] constant carrying the IANA name beside the id, and
//! `tests/catalogue_iana.rs` checks both against IANA's registry.
//!
//! A plugin builds its declared list from these with [`key_list!`], which yields the
//! `static` `&[KeyDef]` table *and* a module of [`Key`] handles whose positions are
//! counted by the macro, so position and name cannot disagree; the handle's type
//! parameter makes `ev.key(k)` / `ev.set(k, v)` ([`Event::key`], [`Event::set`])
//! typed, and in debug builds both check that the slot really holds the key of that
//! name (a handle of another plugin's list panics in tests instead of silently
//! reading `None`). The position-based `ev.u32(i)` accessors stay as they are.

use std::marker::PhantomData;
use std::net::IpAddr;

use crate::event::Event;
use crate::key::{Ipfix, KeyDef, KeyFlags, KeyType};

pub mod ct;
pub mod flow;
pub mod ie;
pub mod ipfix;
pub mod oob;
pub mod packet;
pub mod raw;

pub use ie::Ie;

/// Marker type of `String` keys (the value is bytes: kernel prefixes need not be UTF-8).
#[derive(Debug, Clone, Copy)]
pub enum Str {}
/// Marker type of `Raw` keys (packets, hardware headers).
#[derive(Debug, Clone, Copy)]
pub enum Raw {}
/// Marker type of `RawStr` keys (text pasted unquoted into SQL).
#[derive(Debug, Clone, Copy)]
pub enum RawStr {}

/// A Rust type standing for a [`KeyType`]: how a typed handle reads and writes its
/// slot through the position-based accessors of [`Event`].
pub trait KeyValue: 'static {
    /// The key type.
    const TYPE: KeyType;
    /// What reading gives and writing takes (`&[u8]` for the byte types).
    type Ref<'a>;
    /// Reads input `input` of `ev`.
    fn read<'a>(ev: &'a Event<'_>, input: usize) -> Option<Self::Ref<'a>>;
    /// Writes output `output` of `ev`.
    fn write(ev: &mut Event<'_>, output: usize, v: Self::Ref<'_>);
}

macro_rules! uint_value {
    ($($t:ty => $kt:ident, $get:ident;)*) => {$(
        impl KeyValue for $t {
            const TYPE: KeyType = KeyType::$kt;
            type Ref<'a> = $t;
            #[inline]
            fn read(ev: &Event<'_>, input: usize) -> Option<$t> {
                ev.$get(input)
            }
            #[inline]
            fn write(ev: &mut Event<'_>, output: usize, v: $t) {
                ev.set_u64(output, v as u64)
            }
        }
    )*};
}
uint_value! {
    u8 => U8, u8;
    u16 => U16, u16;
    u32 => U32, u32;
    u64 => U64, u64;
}

macro_rules! int_value {
    ($($t:ty => $kt:ident;)*) => {$(
        impl KeyValue for $t {
            const TYPE: KeyType = KeyType::$kt;
            type Ref<'a> = $t;
            #[inline]
            fn read(ev: &Event<'_>, input: usize) -> Option<$t> {
                ev.i64(input).map(|v| v as $t)
            }
            #[inline]
            fn write(ev: &mut Event<'_>, output: usize, v: $t) {
                ev.set_i64(output, v as i64)
            }
        }
    )*};
}
int_value! {
    i8 => I8;
    i16 => I16;
    i32 => I32;
    i64 => I64;
}

impl KeyValue for bool {
    const TYPE: KeyType = KeyType::Bool;
    type Ref<'a> = bool;
    #[inline]
    fn read(ev: &Event<'_>, input: usize) -> Option<bool> {
        ev.bool(input)
    }
    #[inline]
    fn write(ev: &mut Event<'_>, output: usize, v: bool) {
        ev.set_bool(output, v)
    }
}

impl KeyValue for IpAddr {
    const TYPE: KeyType = KeyType::IpAddr;
    type Ref<'a> = IpAddr;
    #[inline]
    fn read(ev: &Event<'_>, input: usize) -> Option<IpAddr> {
        ev.addr(input)
    }
    #[inline]
    fn write(ev: &mut Event<'_>, output: usize, v: IpAddr) {
        ev.set_addr(output, v)
    }
}

macro_rules! bytes_value {
    ($($t:ty => $kt:ident;)*) => {$(
        impl KeyValue for $t {
            const TYPE: KeyType = KeyType::$kt;
            type Ref<'a> = &'a [u8];
            #[inline]
            fn read<'a>(ev: &'a Event<'_>, input: usize) -> Option<&'a [u8]> {
                ev.bytes(input)
            }
            #[inline]
            fn write(ev: &mut Event<'_>, output: usize, v: &[u8]) {
                ev.set_bytes(output, v)
            }
        }
    )*};
}
bytes_value! {
    Str => String;
    Raw => Raw;
    RawStr => RawStr;
}

/// The declaration of one catalogued key, typed by the Rust type of its value.
/// `Copy` and built by `const fn`s, so families are plain `const` items.
pub struct Def<T> {
    name: &'static str,
    ty: KeyType,
    flags: KeyFlags,
    ipfix: Option<Ipfix>,
    ie_name: Option<&'static str>,
    cim: Option<&'static str>,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for Def<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Def<T> {}

impl<T: KeyValue> Def<T> {
    /// A key named `name` of `T`'s type, without flags or annotations.
    pub const fn new(name: &'static str) -> Def<T> {
        Def {
            name,
            ty: T::TYPE,
            flags: KeyFlags::NONE,
            ipfix: None,
            ie_name: None,
            cim: None,
            _t: PhantomData,
        }
    }
}

impl<T> Def<T> {
    /// Annotates with an IETF information element (enterprise 0).
    pub const fn ie(mut self, ie: Ie) -> Def<T> {
        self.ipfix = Some(Ipfix {
            enterprise: 0,
            id: ie.id,
        });
        self.ie_name = Some(ie.name);
        self
    }

    /// Annotates with the RFC 5103 reverse of an IETF element (PEN 29305).
    pub const fn reverse(mut self, ie: Ie) -> Def<T> {
        self.ipfix = Some(Ipfix {
            enterprise: crate::key::PEN_REVERSE,
            id: ie.id,
        });
        self.ie_name = Some(ie.name);
        self
    }

    /// Annotates with an element of the netfilter enterprise (PEN 21373), which
    /// has no public registry.
    pub const fn netfilter(mut self, id: u16) -> Def<T> {
        self.ipfix = Some(Ipfix {
            enterprise: crate::key::PEN_NETFILTER,
            id,
        });
        self.ie_name = None;
        self
    }

    /// Annotates with a CIM alias (the name JSON prints).
    pub const fn cim(mut self, alias: &'static str) -> Def<T> {
        self.cim = Some(alias);
        self
    }

    /// Marks an input optional.
    pub const fn optional(mut self) -> Def<T> {
        self.flags = self.flags.union(KeyFlags::OPTIONAL);
        self
    }

    /// Marks an input inactive.
    pub const fn inactive(mut self) -> Def<T> {
        self.flags = self.flags.union(KeyFlags::INACTIVE);
        self
    }

    /// The key name.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The key type.
    pub const fn ty(&self) -> KeyType {
        self.ty
    }

    /// The IPFIX annotation.
    pub const fn ipfix_element(&self) -> Option<Ipfix> {
        self.ipfix
    }

    /// The IANA name of the IETF (or reversed IETF) element, when annotated with one.
    pub const fn ie_name(&self) -> Option<&'static str> {
        self.ie_name
    }

    /// The untyped declaration plugins hand to the engine.
    pub const fn key_def(&self) -> KeyDef {
        KeyDef {
            name: std::borrow::Cow::Borrowed(self.name),
            ty: self.ty,
            flags: self.flags,
            ipfix: self.ipfix,
            cim: self.cim,
        }
    }

    /// The handle of this key at position `pos` of a declared list (used by
    /// [`key_list!`], which counts the positions).
    pub const fn at(&self, pos: usize) -> Key<T> {
        Key {
            pos,
            name: self.name,
            _t: PhantomData,
        }
    }

    /// The type-erased description, for checks over whole families.
    pub const fn info(&self) -> Info {
        Info {
            def: self.key_def(),
            ie_name: self.ie_name,
        }
    }
}

/// A catalogued key with its type erased: the declaration and the IANA name of its
/// element (what `tests/catalogue_iana.rs` checks).
#[derive(Debug, Clone)]
pub struct Info {
    /// The declaration.
    pub def: KeyDef,
    /// IANA name of the element, for IETF and reversed IETF annotations.
    pub ie_name: Option<&'static str>,
}

/// A typed position in one plugin's declared input or output list, made by
/// [`key_list!`]. Reading and writing through it ([`Event::key`], [`Event::set`])
/// is the same array indexing as the `usize` accessors.
pub struct Key<T> {
    pos: usize,
    name: &'static str,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for Key<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Key<T> {}

impl<T> std::fmt::Debug for Key<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({} @ {})", self.name, self.pos)
    }
}

impl<T> Key<T> {
    /// The position in the declared list (what `ev.u32(i)` and friends take).
    pub const fn pos(self) -> usize {
        self.pos
    }
    /// The key name.
    pub const fn name(self) -> &'static str {
        self.name
    }
    /// The handle `n` positions further, for runs of keys of the same type that
    /// are declared together (`orig.*` then `reply.*`).
    pub const fn offset(self, n: usize, name: &'static str) -> Key<T> {
        Key {
            pos: self.pos + n,
            name,
            _t: PhantomData,
        }
    }
}

/// Declares a plugin's key list from catalogue [`Def`]s (or any `Def` expression):
/// a `static` `&[KeyDef]` table and a module of typed [`Key`] handles whose
/// positions follow the list order.
///
/// ```
/// use ulogd_core::catalogue::{oob, raw, Raw};
/// ulogd_core::key_list! {
///     /// Handles into `INPUTS`.
///     pub mod inp;
///     /// The inputs.
///     pub static INPUTS = {
///         PKT: Raw = raw::PKT,
///         PKTLEN: u32 = raw::PKTLEN,
///         FAMILY: u8 = oob::FAMILY,
///     };
/// }
/// fn main() {
///     assert_eq!(inp::PKTLEN.pos(), 1);
///     assert_eq!(INPUTS[inp::FAMILY.pos()].name, "oob.family");
/// }
/// ```
#[macro_export]
macro_rules! key_list {
    (
        $(#[$mm:meta])* $mvis:vis mod $module:ident;
        $(#[$sm:meta])* $svis:vis static $table:ident = {
            $( $(#[$km:meta])* $h:ident : $t:ty = $e:expr ),* $(,)?
        };
    ) => {
        $(#[$mm])*
        #[allow(missing_docs)]
        $mvis mod $module {
            #[allow(unused_imports)]
            use super::*;
            #[allow(non_camel_case_types, dead_code, clippy::upper_case_acronyms)]
            #[repr(usize)]
            enum Pos { $($h),* }
            /// Number of keys in the list.
            #[allow(dead_code)]
            pub const LEN: usize = [$(Pos::$h as usize),*].len();
            $( $(#[$km])* #[allow(dead_code)] pub const $h: $crate::catalogue::Key<$t> =
                $crate::catalogue::Def::<$t>::at(&$e, Pos::$h as usize); )*
        }
        $(#[$sm])*
        $svis static $table: &[$crate::KeyDef] = &[ $( $crate::catalogue::Def::<$t>::key_def(&$e) ),* ];
    };
}

/// Declares the keys of one family as `const` [`Def`]s plus `ALL`, every one of them
/// (for the catalogue-wide checks).
macro_rules! family {
    ($( $(#[$m:meta])* $id:ident : $t:ty = $e:expr; )*) => {
        $( $(#[$m])* pub const $id: $crate::catalogue::Def<$t> = $e; )*
        /// Every key of this family.
        pub const ALL: &[$crate::catalogue::Info] = &[$( $id.info() ),*];
    };
}
pub(crate) use family;

/// Every catalogued key, family by family.
pub fn all() -> impl Iterator<Item = &'static Info> {
    [
        oob::ALL,
        raw::ALL,
        ct::ALL,
        flow::ALL,
        packet::ALL,
        ipfix::ALL,
    ]
    .into_iter()
    .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::key_list! {
        mod h;
        static LIST = {
            A: u32 = oob::MARK,
            B: Str = oob::PREFIX,
            C: IpAddr = flow::ORIG_IP_SADDR,
        };
    }

    #[test]
    fn positions_follow_the_list() {
        assert_eq!((h::A.pos(), h::B.pos(), h::C.pos(), h::LEN), (0, 1, 2, 3));
        for (i, name) in [h::A.name(), h::B.name(), h::C.name()].iter().enumerate() {
            assert_eq!(LIST[i].name, *name);
        }
        assert_eq!(LIST[1].ty, KeyType::String);
    }

    #[test]
    fn names_are_unique_across_families() {
        let mut names: Vec<&str> = all().map(|i| &*i.def.name).collect();
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n, "a key is declared twice in the catalogue");
    }
}
