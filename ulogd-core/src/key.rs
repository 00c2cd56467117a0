//! Typed keys: the named, typed values that flow through a stack.
//!
//! A key is declared once by the plugin that produces or consumes it ([`KeyDef`]),
//! with ulogd2's name (`ip.saddr`, `oob.prefix`, ...), its type and flags, and two
//! annotations: an IPFIX information element (used by the IPFIX / NetFlow v9
//! exporters to build templates from what a stack really carries) and a CIM alias
//! (`src_ip`, `dest_port`, ...) that the JSON output prints instead of the name,
//! as ulogd2 does.

use std::borrow::Cow;
use std::fmt;

/// The type of a key's value (ulogd2's `ULOGD_RET_*` set).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// Signed 8-bit integer.
    I8,
    /// Signed 16-bit integer.
    I16,
    /// Signed 32-bit integer.
    I32,
    /// Signed 64-bit integer.
    I64,
    /// Unsigned 8-bit integer.
    U8,
    /// Unsigned 16-bit integer.
    U16,
    /// Unsigned 32-bit integer.
    U32,
    /// Unsigned 64-bit integer.
    U64,
    /// Boolean.
    Bool,
    /// An IPv4 or IPv6 address (ulogd2 keeps both in one `IPADDR` type).
    IpAddr,
    /// A text string (bytes; usually UTF-8 but kernel prefixes need not be).
    String,
    /// Raw bytes (packets, hardware headers).
    Raw,
    /// Raw text meant to be pasted unquoted into SQL (IP2BIN's `0x...`).
    RawStr,
    /// Untyped input: binds to a producer of any type (PRINTPKT's inputs are untyped
    /// in ulogd2). Never used for outputs.
    Any,
}

impl KeyType {
    /// ulogd2's numeric code for this type (`ULOGD_RET_*`), as printed by `-i` and used
    /// by the Python API.
    pub const fn code(self) -> u16 {
        match self {
            KeyType::I8 => 0x01,
            KeyType::I16 => 0x02,
            KeyType::I32 => 0x03,
            KeyType::I64 => 0x04,
            KeyType::U8 => 0x11,
            KeyType::U16 => 0x12,
            KeyType::U32 => 0x13,
            KeyType::U64 => 0x14,
            KeyType::Bool => 0x50,
            KeyType::IpAddr => 0x100,
            KeyType::String => 0x8020,
            KeyType::Raw => 0x8030,
            KeyType::RawStr => 0x8040,
            KeyType::Any => 0,
        }
    }

    /// The type's name as ulogd2's `-i` prints it.
    pub const fn name(self) -> &'static str {
        match self {
            KeyType::I8 => "int8_t",
            KeyType::I16 => "int16_t",
            KeyType::I32 => "int32_t",
            KeyType::I64 => "int64_t",
            KeyType::U8 => "u_int8_t",
            KeyType::U16 => "u_int16_t",
            KeyType::U32 => "u_int32_t",
            KeyType::U64 => "u_int64_t",
            KeyType::Bool => "boolean",
            KeyType::IpAddr => "IP address",
            KeyType::String => "string",
            KeyType::Raw => "raw data",
            KeyType::RawStr => "raw string",
            KeyType::Any => "any",
        }
    }

    /// True for the integer and boolean types.
    pub const fn is_numeric(self) -> bool {
        !matches!(
            self,
            KeyType::IpAddr | KeyType::String | KeyType::Raw | KeyType::RawStr | KeyType::Any
        )
    }

    /// True for signed integers.
    pub const fn is_signed(self) -> bool {
        matches!(
            self,
            KeyType::I8 | KeyType::I16 | KeyType::I32 | KeyType::I64
        )
    }

    /// True when the value is kept as bytes (string, raw, raw string).
    pub const fn is_bytes(self) -> bool {
        matches!(self, KeyType::String | KeyType::Raw | KeyType::RawStr)
    }

    /// Whether an input declared with type `self` may bind to an output of type `out`.
    pub fn accepts(self, out: KeyType) -> bool {
        self == KeyType::Any || self == out
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Key flags (ulogd2's `ULOGD_KEYF_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct KeyFlags(u16);

impl KeyFlags {
    /// No flags.
    pub const NONE: KeyFlags = KeyFlags(0);
    /// Input may stay unbound when no upstream plugin produces it.
    pub const OPTIONAL: KeyFlags = KeyFlags(0x0100);
    /// Input is declared but never bound (ulogd2's SQL `_id` columns).
    pub const INACTIVE: KeyFlags = KeyFlags(0x0200);

    /// Raw bits, with ulogd2's values.
    pub const fn bits(self) -> u16 {
        self.0
    }
    /// From raw bits (unknown bits are kept).
    pub const fn from_bits(bits: u16) -> KeyFlags {
        KeyFlags(bits)
    }
    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: KeyFlags) -> bool {
        self.0 & other.0 == other.0
    }
    /// Union.
    pub const fn union(self, other: KeyFlags) -> KeyFlags {
        KeyFlags(self.0 | other.0)
    }
}

/// IANA private enterprise number of the netfilter project, used for keys that have
/// no IETF information element (as ulogd2 and the fork do).
pub const PEN_NETFILTER: u32 = 21373;
/// RFC 5103 reverse-direction enterprise number.
pub const PEN_REVERSE: u32 = 29305;

/// An IPFIX information element: enterprise number (0 = IETF) and element id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipfix {
    /// Private enterprise number; 0 for IANA/IETF elements.
    pub enterprise: u32,
    /// Element id.
    pub id: u16,
}

/// The declaration of a key: what a plugin produces or consumes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyDef {
    /// ulogd2 key name, e.g. `ip.saddr`.
    pub name: Cow<'static, str>,
    /// Value type.
    pub ty: KeyType,
    /// Flags.
    pub flags: KeyFlags,
    /// IPFIX information element, when the key has one.
    pub ipfix: Option<Ipfix>,
    /// CIM field name used by JSON instead of `name` (`src_ip`, ...).
    pub cim: Option<&'static str>,
}

impl KeyDef {
    /// A key with a static name, no flags and no annotations. `const` so plugins can
    /// declare their keys in `static` tables.
    pub const fn new(name: &'static str, ty: KeyType) -> KeyDef {
        KeyDef {
            name: Cow::Borrowed(name),
            ty,
            flags: KeyFlags::NONE,
            ipfix: None,
            cim: None,
        }
    }

    /// A key whose name is only known at run time (SQL columns, Python plugins).
    pub fn dynamic(name: String, ty: KeyType) -> KeyDef {
        KeyDef {
            name: Cow::Owned(name),
            ty,
            flags: KeyFlags::NONE,
            ipfix: None,
            cim: None,
        }
    }

    /// Marks an input optional.
    pub const fn optional(mut self) -> KeyDef {
        self.flags = self.flags.union(KeyFlags::OPTIONAL);
        self
    }

    /// Marks an input inactive (never bound).
    pub const fn inactive(mut self) -> KeyDef {
        self.flags = self.flags.union(KeyFlags::INACTIVE);
        self
    }

    /// Annotates with an IETF (enterprise 0) information element id.
    pub const fn ietf(mut self, id: u16) -> KeyDef {
        self.ipfix = Some(Ipfix { enterprise: 0, id });
        self
    }

    /// Annotates with an information element of an enterprise.
    pub const fn ipfix(mut self, enterprise: u32, id: u16) -> KeyDef {
        self.ipfix = Some(Ipfix { enterprise, id });
        self
    }

    /// Annotates with a CIM alias.
    pub const fn cim(mut self, alias: &'static str) -> KeyDef {
        self.cim = Some(alias);
        self
    }

    /// Whether the key is optional.
    pub const fn is_optional(&self) -> bool {
        self.flags.contains(KeyFlags::OPTIONAL)
    }

    /// Whether the key is inactive.
    pub const fn is_inactive(&self) -> bool {
        self.flags.contains(KeyFlags::INACTIVE)
    }

    /// The name JSON prints: the CIM alias if any, else the key name.
    pub fn json_name(&self) -> &str {
        self.cim.unwrap_or(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static KEYS: &[KeyDef] = &[
        KeyDef::new("ip.saddr.str", KeyType::String).cim("src_ip"),
        KeyDef::new("oob.uid", KeyType::U32).optional(),
        KeyDef::new("raw.pktlen", KeyType::U32).ipfix(PEN_NETFILTER, 2),
    ];

    #[test]
    fn static_declarations() {
        assert_eq!(KEYS[0].json_name(), "src_ip");
        assert!(KEYS[1].is_optional());
        assert!(!KEYS[1].is_inactive());
        assert_eq!(
            KEYS[2].ipfix,
            Some(Ipfix {
                enterprise: 21373,
                id: 2
            })
        );
        assert_eq!(KEYS[2].json_name(), "raw.pktlen");
    }

    #[test]
    fn type_rules() {
        assert!(KeyType::Any.accepts(KeyType::IpAddr));
        assert!(!KeyType::U16.accepts(KeyType::U32));
        assert_eq!(KeyType::String.code(), 0x8020);
        assert!(KeyType::U8.is_numeric() && !KeyType::Raw.is_numeric());
    }
}
