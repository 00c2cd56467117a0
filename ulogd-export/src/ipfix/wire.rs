//! IPFIX (RFC 7011) and NetFlow v9 (RFC 3954) wire codec, in smoltcp's style:
//! checked views borrow received bytes ([`MessageView`], [`SetIter`],
//! [`TemplateIter`], [`RecordIter`]) and `Repr` structs emit ([`HeaderRepr`],
//! [`TemplateRepr`]). Both protocols share the set layout (id, length, records) and
//! field specifiers (type, length); they differ in the message header, the set ids
//! of (options) templates, enterprise-specific fields and variable-length fields
//! (IPFIX only), which the [`Protocol`] parameter selects.
//!
//! ```text
//! IPFIX header (16):  version=10 | length | export time | sequence | domain id
//! NFv9 header  (20):  version=9  | count  | sysUptime ms | unix secs | sequence | source id
//! set header (4):     set id | set length (header included, padding included)
//! ```
//!
//! Nothing here panics on hostile input: every length is checked, iterators stop at
//! the first bad length and report it as a [`WireError`].

use thiserror::Error;

/// Errors of the IPFIX / NetFlow v9 codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum WireError {
    /// Fewer bytes than a message header.
    #[error("truncated message header: {available} bytes, need {need}")]
    TruncatedHeader {
        /// Bytes available.
        available: usize,
        /// Header size of the protocol.
        need: usize,
    },
    /// The version field is neither 9 nor 10.
    #[error("unsupported version {0} (expected 9 or 10)")]
    BadVersion(u16),
    /// The IPFIX length field is below 16 or beyond the buffer.
    #[error("message length {len} invalid ({available} bytes available)")]
    BadLength {
        /// The length field.
        len: u16,
        /// Bytes available.
        available: usize,
    },
    /// A set header does not fit, or its length is below 4 or past the message.
    #[error("bad set length {len} at offset {offset}")]
    BadSetLength {
        /// The set length field (0 when the header itself is cut).
        len: u16,
        /// Offset of the set in the message.
        offset: usize,
    },
    /// A (options) template record is cut short.
    #[error("truncated template record in set at offset {offset}")]
    TruncatedTemplate {
        /// Offset of the set.
        offset: usize,
    },
    /// An options template declares more scope fields than fields, or none.
    #[error("bad options template scope count {scope} of {fields} fields")]
    BadScope {
        /// Scope field count.
        scope: u16,
        /// Field count.
        fields: u16,
    },
    /// A template has more fields than this implementation keeps (512).
    #[error("template with {0} fields (limit 512)")]
    TooManyFields(u16),
    /// A data record's variable-length field runs past the set.
    #[error("truncated data record")]
    TruncatedRecord,
    /// A template's fields add up to zero bytes (records could never advance).
    #[error("template {0} has zero-length records")]
    EmptyRecord(u16),
}

/// Result alias.
pub type Result<T> = core::result::Result<T, WireError>;

/// Which protocol a message speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// IPFIX, version 10 (RFC 7011).
    Ipfix,
    /// NetFlow version 9 (RFC 3954).
    V9,
}

impl Protocol {
    /// The version number in the header.
    pub const fn version(self) -> u16 {
        match self {
            Protocol::Ipfix => 10,
            Protocol::V9 => 9,
        }
    }
    /// Size of the message header.
    pub const fn header_len(self) -> usize {
        match self {
            Protocol::Ipfix => 16,
            Protocol::V9 => 20,
        }
    }
    /// Set id of template sets.
    pub const fn template_set_id(self) -> u16 {
        match self {
            Protocol::Ipfix => 2,
            Protocol::V9 => 0,
        }
    }
    /// Set id of options template sets.
    pub const fn options_set_id(self) -> u16 {
        match self {
            Protocol::Ipfix => 3,
            Protocol::V9 => 1,
        }
    }
    /// Name for messages.
    pub const fn name(self) -> &'static str {
        match self {
            Protocol::Ipfix => "IPFIX",
            Protocol::V9 => "NetFlow v9",
        }
    }
}

/// Length value of an IPFIX variable-length field (RFC 7011 §7).
pub const VARLEN: u16 = 0xffff;
/// Smallest data set id (template ids start here).
pub const MIN_DATA_SET_ID: u16 = 256;
/// Set header size.
pub const SET_HEADER_LEN: usize = 4;

#[inline]
fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
#[inline]
fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// A message header (both protocols).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderRepr {
    /// Protocol (from the version field).
    pub protocol: Protocol,
    /// IPFIX: message length in bytes; NFv9: number of records (templates included).
    pub length_or_count: u16,
    /// NFv9 only: milliseconds since the exporter started (0 for IPFIX).
    pub sys_uptime_ms: u32,
    /// Export time, seconds since the Unix epoch.
    pub export_time: u32,
    /// IPFIX: data records sent before this message; NFv9: packets sent before it.
    pub sequence: u32,
    /// Observation domain id (IPFIX) / source id (NFv9).
    pub domain: u32,
}

impl HeaderRepr {
    /// Parses the header at the start of `buf`.
    pub fn parse(buf: &[u8]) -> Result<HeaderRepr> {
        let version = be16(buf, 0).ok_or(WireError::TruncatedHeader {
            available: buf.len(),
            need: 16,
        })?;
        let protocol = match version {
            10 => Protocol::Ipfix,
            9 => Protocol::V9,
            v => return Err(WireError::BadVersion(v)),
        };
        let need = protocol.header_len();
        if buf.len() < need {
            return Err(WireError::TruncatedHeader {
                available: buf.len(),
                need,
            });
        }
        let g16 = |at| be16(buf, at).unwrap_or(0);
        let g32 = |at| be32(buf, at).unwrap_or(0);
        Ok(match protocol {
            Protocol::Ipfix => HeaderRepr {
                protocol,
                length_or_count: g16(2),
                sys_uptime_ms: 0,
                export_time: g32(4),
                sequence: g32(8),
                domain: g32(12),
            },
            Protocol::V9 => HeaderRepr {
                protocol,
                length_or_count: g16(2),
                sys_uptime_ms: g32(4),
                export_time: g32(8),
                sequence: g32(12),
                domain: g32(16),
            },
        })
    }

    /// Writes the header into the first [`Protocol::header_len`] bytes of `buf`.
    /// `buf` must be at least that long (the caller reserved it).
    pub fn emit(&self, buf: &mut [u8]) {
        let mut put16 = |at: usize, v: u16| buf[at..at + 2].copy_from_slice(&v.to_be_bytes());
        put16(0, self.protocol.version());
        put16(2, self.length_or_count);
        let vals: &[u32] = match self.protocol {
            Protocol::Ipfix => &[self.export_time, self.sequence, self.domain],
            Protocol::V9 => &[
                self.sys_uptime_ms,
                self.export_time,
                self.sequence,
                self.domain,
            ],
        };
        for (i, v) in vals.iter().enumerate() {
            buf[4 + 4 * i..8 + 4 * i].copy_from_slice(&v.to_be_bytes());
        }
    }
}

/// A checked view of a whole message.
#[derive(Clone, Copy, Debug)]
pub struct MessageView<'a> {
    /// The header.
    pub header: HeaderRepr,
    /// The bytes after the header, up to the message's end.
    body: &'a [u8],
    /// Total bytes of the message (IPFIX: its length field; NFv9: the datagram).
    len: usize,
}

impl<'a> MessageView<'a> {
    /// Checks the header of the message at the start of `buf`. For IPFIX the message
    /// ends at its length field (a stream may hold more behind it); a NetFlow v9
    /// message has no length and takes the whole buffer (one datagram).
    pub fn new_checked(buf: &'a [u8]) -> Result<MessageView<'a>> {
        let header = HeaderRepr::parse(buf)?;
        let hl = header.protocol.header_len();
        let len = match header.protocol {
            Protocol::Ipfix => {
                let l = header.length_or_count as usize;
                if l < hl || l > buf.len() {
                    return Err(WireError::BadLength {
                        len: header.length_or_count,
                        available: buf.len(),
                    });
                }
                l
            }
            Protocol::V9 => buf.len(),
        };
        Ok(MessageView {
            header,
            body: &buf[hl..len],
            len,
        })
    }

    /// Bytes of the message (header included).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the message has no sets.
    pub fn is_empty(&self) -> bool {
        self.body.is_empty()
    }

    /// The sets of the message.
    pub fn sets(&self) -> SetIter<'a> {
        SetIter {
            body: self.body,
            pos: 0,
            base: self.header.protocol.header_len(),
            protocol: self.header.protocol,
            failed: false,
        }
    }
}

/// One set: its id and its records (padding included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetView<'a> {
    /// Set id: template, options template or a data set's template id.
    pub id: u16,
    /// Bytes after the set header.
    pub body: &'a [u8],
    /// Offset of the set in its message (for messages).
    pub offset: usize,
}

/// Iterates over the sets of a message; stops after the first bad length.
#[derive(Clone, Debug)]
pub struct SetIter<'a> {
    body: &'a [u8],
    pos: usize,
    base: usize,
    protocol: Protocol,
    failed: bool,
}

impl<'a> Iterator for SetIter<'a> {
    type Item = Result<SetView<'a>>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.body.len() {
            return None;
        }
        let rest = &self.body[self.pos..];
        let offset = self.base + self.pos;
        // NFv9 exporters may pad the datagram after the last set.
        if self.protocol == Protocol::V9 && rest.len() < SET_HEADER_LEN {
            return None;
        }
        let (Some(id), Some(len)) = (be16(rest, 0), be16(rest, 2)) else {
            self.failed = true;
            return Some(Err(WireError::BadSetLength { len: 0, offset }));
        };
        let l = len as usize;
        if l < SET_HEADER_LEN || l > rest.len() {
            self.failed = true;
            return Some(Err(WireError::BadSetLength { len, offset }));
        }
        self.pos += l;
        Some(Ok(SetView {
            id,
            body: &rest[SET_HEADER_LEN..l],
            offset,
        }))
    }
}

/// A field specifier: information element id, length and enterprise number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct FieldSpec {
    /// Element id (without the enterprise bit).
    pub id: u16,
    /// Length in bytes, or [`VARLEN`].
    pub len: u16,
    /// Private enterprise number; 0 for IANA elements.
    pub pen: u32,
}

impl FieldSpec {
    /// An IANA element.
    pub const fn iana(id: u16, len: u16) -> FieldSpec {
        FieldSpec { id, len, pen: 0 }
    }
    /// Bytes the specifier takes on the wire.
    pub const fn wire_len(&self, p: Protocol) -> usize {
        match (p, self.pen) {
            (Protocol::Ipfix, 0) | (Protocol::V9, _) => 4,
            (Protocol::Ipfix, _) => 8,
        }
    }
    /// Appends the specifier.
    pub fn emit(&self, p: Protocol, out: &mut Vec<u8>) {
        let ent = p == Protocol::Ipfix && self.pen != 0;
        let id = if ent { self.id | 0x8000 } else { self.id };
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&self.len.to_be_bytes());
        if ent {
            out.extend_from_slice(&self.pen.to_be_bytes());
        }
    }
}

/// Maximum fields per template this codec accepts.
pub const MAX_FIELDS: u16 = 512;

/// A (options) template record, owned, for emitting and for a collector's cache.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TemplateRepr {
    /// Template id (≥ 256).
    pub id: u16,
    /// Number of leading scope fields (options templates; 0 for plain templates).
    pub scope_count: u16,
    /// Every field, scope fields first.
    pub fields: Vec<FieldSpec>,
}

impl TemplateRepr {
    /// Whether the record is a withdrawal (IPFIX: zero fields).
    pub fn is_withdrawal(&self) -> bool {
        self.fields.is_empty()
    }

    /// Whether this is an options template.
    pub fn is_options(&self) -> bool {
        self.scope_count > 0
    }

    /// Fixed record length, or `None` if a field is variable-length.
    pub fn fixed_len(&self) -> Option<usize> {
        self.fields.iter().try_fold(0usize, |a, f| {
            (f.len != VARLEN).then_some(a + f.len as usize)
        })
    }

    /// Minimum length of a data record (variable fields count 1 byte).
    pub fn min_record_len(&self) -> usize {
        self.fields
            .iter()
            .map(|f| if f.len == VARLEN { 1 } else { f.len as usize })
            .sum()
    }

    /// Bytes the record takes inside its set.
    pub fn wire_len(&self, p: Protocol) -> usize {
        let head = if self.is_options() {
            match p {
                Protocol::Ipfix => 6,
                Protocol::V9 => 6,
            }
        } else {
            4
        };
        head + self.fields.iter().map(|f| f.wire_len(p)).sum::<usize>()
    }

    /// Appends the record (without set header).
    pub fn emit(&self, p: Protocol, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.id.to_be_bytes());
        if !self.is_options() {
            out.extend_from_slice(&(self.fields.len() as u16).to_be_bytes());
        } else {
            match p {
                Protocol::Ipfix => {
                    out.extend_from_slice(&(self.fields.len() as u16).to_be_bytes());
                    out.extend_from_slice(&self.scope_count.to_be_bytes());
                }
                Protocol::V9 => {
                    let s = self.scope_count as usize;
                    let scope_bytes = (s * 4) as u16;
                    let opt_bytes = ((self.fields.len() - s) * 4) as u16;
                    out.extend_from_slice(&scope_bytes.to_be_bytes());
                    out.extend_from_slice(&opt_bytes.to_be_bytes());
                }
            }
        }
        for f in &self.fields {
            f.emit(p, out);
        }
    }

    /// Appends a whole set (header, this record, padding to 4 bytes) for template
    /// set `set_id`.
    pub fn emit_set(&self, p: Protocol, out: &mut Vec<u8>) {
        let set_id = if self.is_options() {
            p.options_set_id()
        } else {
            p.template_set_id()
        };
        let start = out.len();
        out.extend_from_slice(&set_id.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        self.emit(p, out);
        while (out.len() - start) & 3 != 0 {
            out.push(0);
        }
        let l = (out.len() - start) as u16;
        out[start + 2..start + 4].copy_from_slice(&l.to_be_bytes());
    }
}

/// Iterates over the template records of a template or options template set.
#[derive(Clone, Debug)]
pub struct TemplateIter<'a> {
    body: &'a [u8],
    pos: usize,
    protocol: Protocol,
    options: bool,
    offset: usize,
    failed: bool,
}

impl<'a> TemplateIter<'a> {
    /// The records of `set`, which must be a template set (`options` false) or an
    /// options template set (`options` true) of protocol `protocol`.
    pub fn new(set: &SetView<'a>, protocol: Protocol, options: bool) -> TemplateIter<'a> {
        TemplateIter {
            body: set.body,
            pos: 0,
            protocol,
            options,
            offset: set.offset,
            failed: false,
        }
    }

    fn parse_one(&mut self) -> Result<TemplateRepr> {
        let b = &self.body[self.pos..];
        let trunc = WireError::TruncatedTemplate {
            offset: self.offset,
        };
        let id = be16(b, 0).ok_or(trunc)?;
        let (count, scope, mut at) = match (self.protocol, self.options) {
            (_, false) => (be16(b, 2).ok_or(trunc)?, 0u16, 4usize),
            (Protocol::Ipfix, true) => {
                let count = be16(b, 2).ok_or(trunc)?;
                if count == 0 {
                    // Options template withdrawal: id + count only.
                    (0, 0, 4)
                } else {
                    let scope = be16(b, 4).ok_or(trunc)?;
                    if scope == 0 || scope > count {
                        return Err(WireError::BadScope {
                            scope,
                            fields: count,
                        });
                    }
                    (count, scope, 6)
                }
            }
            (Protocol::V9, true) => {
                let sb = be16(b, 2).ok_or(trunc)?;
                let ob = be16(b, 4).ok_or(trunc)?;
                let (scope, opts) = (sb / 4, ob / 4);
                if scope == 0 {
                    return Err(WireError::BadScope {
                        scope,
                        fields: scope.saturating_add(opts),
                    });
                }
                (scope.saturating_add(opts), scope, 6)
            }
        };
        if count > MAX_FIELDS {
            return Err(WireError::TooManyFields(count));
        }
        let mut fields = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let raw = be16(b, at).ok_or(trunc)?;
            let len = be16(b, at + 2).ok_or(trunc)?;
            at += 4;
            let (id, pen) = if self.protocol == Protocol::Ipfix && raw & 0x8000 != 0 {
                let pen = be32(b, at).ok_or(trunc)?;
                at += 4;
                (raw & 0x7fff, pen)
            } else {
                (raw, 0)
            };
            if self.protocol == Protocol::V9 && len == VARLEN {
                return Err(trunc);
            }
            fields.push(FieldSpec { id, len, pen });
        }
        self.pos += at;
        let t = TemplateRepr {
            id,
            scope_count: scope,
            fields,
        };
        if !t.is_withdrawal() && t.min_record_len() == 0 {
            return Err(WireError::EmptyRecord(id));
        }
        Ok(t)
    }
}

impl<'a> Iterator for TemplateIter<'a> {
    type Item = Result<TemplateRepr>;
    fn next(&mut self) -> Option<Self::Item> {
        // Fewer than 4 bytes left: padding (RFC 7011 §3.3.1).
        if self.failed || self.body.len().saturating_sub(self.pos) < 4 {
            return None;
        }
        let r = self.parse_one();
        if r.is_err() {
            self.failed = true;
        }
        Some(r)
    }
}

/// Iterates over the data records of a data set described by a template; yields,
/// per record, the value bytes of each field in template order through
/// [`RecordView::fields`].
#[derive(Clone, Debug)]
pub struct RecordIter<'a, 't> {
    body: &'a [u8],
    pos: usize,
    tmpl: &'t TemplateRepr,
    min: usize,
    failed: bool,
}

impl<'a, 't> RecordIter<'a, 't> {
    /// The records of data set `set` under template `tmpl`.
    pub fn new(set: &SetView<'a>, tmpl: &'t TemplateRepr) -> RecordIter<'a, 't> {
        RecordIter {
            body: set.body,
            pos: 0,
            tmpl,
            min: tmpl.min_record_len().max(1),
            failed: false,
        }
    }
}

/// One data record: its bytes, already checked against the template.
#[derive(Clone, Copy, Debug)]
pub struct RecordView<'a, 't> {
    bytes: &'a [u8],
    tmpl: &'t TemplateRepr,
}

impl<'a, 't> RecordView<'a, 't> {
    /// (field specifier, value bytes) of every field, in template order.
    pub fn fields(&self) -> impl Iterator<Item = (FieldSpec, &'a [u8])> + 't
    where
        'a: 't,
    {
        let bytes = self.bytes;
        let mut at = 0usize;
        self.tmpl.fields.iter().map(move |f| {
            let (off, len) = field_extent(bytes, at, f.len).unwrap_or((at, 0));
            at = off + len;
            (*f, bytes.get(off..off + len).unwrap_or(&[]))
        })
    }

    /// The record's bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

/// Offset and length of a field's value starting at `at`.
fn field_extent(b: &[u8], at: usize, len: u16) -> Option<(usize, usize)> {
    if len != VARLEN {
        let l = len as usize;
        return (at + l <= b.len()).then_some((at, l));
    }
    let first = *b.get(at)? as usize;
    if first < 255 {
        let off = at + 1;
        (off + first <= b.len()).then_some((off, first))
    } else {
        let l = be16(b, at + 1)? as usize;
        let off = at + 3;
        (off + l <= b.len()).then_some((off, l))
    }
}

impl<'a, 't> Iterator for RecordIter<'a, 't> {
    type Item = Result<RecordView<'a, 't>>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let rest = &self.body[self.pos..];
        // Less than one minimal record: padding.
        if rest.len() < self.min {
            return None;
        }
        let mut at = 0;
        for f in &self.tmpl.fields {
            match field_extent(rest, at, f.len) {
                Some((off, len)) => at = off + len,
                None => {
                    // Trailing bytes shorter than a record are padding when all
                    // zero; anything else is a broken record.
                    self.failed = true;
                    if rest.iter().all(|&b| b == 0) {
                        return None;
                    }
                    return Some(Err(WireError::TruncatedRecord));
                }
            }
        }
        if at == 0 {
            self.failed = true;
            return None;
        }
        self.pos += at;
        Some(Ok(RecordView {
            bytes: &rest[..at],
            tmpl: self.tmpl,
        }))
    }
}

/// Appends a variable-length value (IPFIX): 1-byte length below 255, otherwise 255
/// and a 2-byte length. Values beyond 65535 bytes are cut at 65535.
pub fn emit_varlen(out: &mut Vec<u8>, v: &[u8]) {
    let v = &v[..v.len().min(65535)];
    if v.len() < 255 {
        out.push(v.len() as u8);
    } else {
        out.push(255);
        out.extend_from_slice(&(v.len() as u16).to_be_bytes());
    }
    out.extend_from_slice(v);
}

/// Reads a big-endian unsigned integer of 1 to 8 bytes (reduced-size encoding).
pub fn read_uint(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 8 {
        return None;
    }
    Some(b.iter().fold(0u64, |a, &x| (a << 8) | x as u64))
}

/// Walks a whole message the way a collector does, with the templates it defines
/// itself: every set, every (options) template, every data record of a known
/// template, every field. Returns the number of data records; used by the fuzz
/// target and tests.
pub fn walk(buf: &[u8]) -> Result<usize> {
    let m = MessageView::new_checked(buf)?;
    let p = m.header.protocol;
    let mut templates: Vec<TemplateRepr> = Vec::new();
    let mut n = 0;
    for set in m.sets() {
        let set = set?;
        if set.id == p.template_set_id() || set.id == p.options_set_id() {
            for t in TemplateIter::new(&set, p, set.id == p.options_set_id()) {
                let t = t?;
                templates.retain(|x| x.id != t.id);
                if !t.is_withdrawal() {
                    templates.push(t);
                }
            }
        } else if let Some(t) = templates.iter().find(|t| t.id == set.id) {
            for r in RecordIter::new(&set, t) {
                let r = r?;
                for (f, v) in r.fields() {
                    if f.len != VARLEN && v.len() != f.len as usize {
                        return Err(WireError::TruncatedRecord);
                    }
                }
                n += 1;
            }
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpl() -> TemplateRepr {
        TemplateRepr {
            id: 300,
            scope_count: 0,
            fields: vec![
                FieldSpec::iana(8, 4),
                FieldSpec::iana(7, 2),
                FieldSpec {
                    id: 3,
                    len: VARLEN,
                    pen: 21373,
                },
                FieldSpec::iana(1, 8),
            ],
        }
    }

    fn message(p: Protocol, sets: &[u8], count: u16) -> Vec<u8> {
        let mut m = vec![0u8; p.header_len()];
        m.extend_from_slice(sets);
        let h = HeaderRepr {
            protocol: p,
            length_or_count: if p == Protocol::Ipfix {
                m.len() as u16
            } else {
                count
            },
            sys_uptime_ms: 77,
            export_time: 1_700_000_000,
            sequence: 42,
            domain: 5,
        };
        h.emit(&mut m);
        m
    }

    #[test]
    fn header_round_trip_both() {
        for p in [Protocol::Ipfix, Protocol::V9] {
            let m = message(p, &[], 0);
            let h = HeaderRepr::parse(&m).unwrap();
            assert_eq!(h.protocol, p);
            assert_eq!(
                (h.export_time, h.sequence, h.domain),
                (1_700_000_000, 42, 5)
            );
            if p == Protocol::V9 {
                assert_eq!(h.sys_uptime_ms, 77);
            }
            let v = MessageView::new_checked(&m).unwrap();
            assert!(v.is_empty());
        }
    }

    #[test]
    fn template_and_data_round_trip() {
        let t = tmpl();
        let mut sets = Vec::new();
        t.emit_set(Protocol::Ipfix, &mut sets);
        // Data set with two records, the second with a long varlen.
        let ds = sets.len();
        sets.extend_from_slice(&300u16.to_be_bytes());
        sets.extend_from_slice(&[0, 0]);
        for (prefix, n) in [(b"hi".to_vec(), 1u64), (vec![b'x'; 300], 2)] {
            sets.extend_from_slice(&[10, 0, 0, 1]);
            sets.extend_from_slice(&80u16.to_be_bytes());
            emit_varlen(&mut sets, &prefix);
            sets.extend_from_slice(&n.to_be_bytes());
        }
        while (sets.len() - ds) & 3 != 0 {
            sets.push(0);
        }
        let l = (sets.len() - ds) as u16;
        sets[ds + 2..ds + 4].copy_from_slice(&l.to_be_bytes());
        let m = message(Protocol::Ipfix, &sets, 0);
        let v = MessageView::new_checked(&m).unwrap();
        let all: Vec<_> = v.sets().collect::<Result<_>>().unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].id, 2);
        let ts: Vec<_> = TemplateIter::new(&all[0], Protocol::Ipfix, false)
            .collect::<Result<_>>()
            .unwrap();
        assert_eq!(ts, vec![t.clone()]);
        let recs: Vec<_> = RecordIter::new(&all[1], &t).collect::<Result<_>>().unwrap();
        assert_eq!(recs.len(), 2);
        let f: Vec<_> = recs[1].fields().collect();
        assert_eq!(f[0].1, &[10, 0, 0, 1]);
        assert_eq!(read_uint(f[1].1), Some(80));
        assert_eq!(f[2].1.len(), 300);
        assert_eq!(read_uint(f[3].1), Some(2));
    }

    #[test]
    fn options_template_both_protocols() {
        let t = TemplateRepr {
            id: 256,
            scope_count: 1,
            fields: vec![
                FieldSpec::iana(144, 4),
                FieldSpec::iana(41, 8),
                FieldSpec::iana(42, 8),
            ],
        };
        for p in [Protocol::Ipfix, Protocol::V9] {
            let mut sets = Vec::new();
            t.emit_set(p, &mut sets);
            let m = message(p, &sets, 1);
            let v = MessageView::new_checked(&m).unwrap();
            let s = v.sets().next().unwrap().unwrap();
            assert_eq!(s.id, p.options_set_id());
            let got: Vec<_> = TemplateIter::new(&s, p, true)
                .collect::<Result<_>>()
                .unwrap();
            assert_eq!(got, vec![t.clone()]);
        }
    }

    #[test]
    fn v9_template_no_enterprise() {
        let t = TemplateRepr {
            id: 260,
            scope_count: 0,
            fields: vec![FieldSpec::iana(27, 16), FieldSpec::iana(2, 8)],
        };
        let mut sets = Vec::new();
        t.emit_set(Protocol::V9, &mut sets);
        assert_eq!(&sets[..2], &[0, 0]);
        let m = message(Protocol::V9, &sets, 1);
        let v = MessageView::new_checked(&m).unwrap();
        let s = v.sets().next().unwrap().unwrap();
        let got: Vec<_> = TemplateIter::new(&s, Protocol::V9, false)
            .collect::<Result<_>>()
            .unwrap();
        assert_eq!(got, vec![t]);
    }

    #[test]
    fn hostile_inputs_are_errors() {
        assert!(matches!(
            HeaderRepr::parse(&[0, 10, 0]),
            Err(WireError::TruncatedHeader { .. })
        ));
        assert_eq!(
            HeaderRepr::parse(&[0, 5, 0, 0]).unwrap_err(),
            WireError::BadVersion(5)
        );
        let mut m = message(Protocol::Ipfix, &[0, 2, 0, 200], 0);
        assert!(matches!(
            MessageView::new_checked(&m[..10]),
            Err(WireError::TruncatedHeader { .. })
        ));
        let v = MessageView::new_checked(&m).unwrap();
        assert!(matches!(
            v.sets().next(),
            Some(Err(WireError::BadSetLength { len: 200, .. }))
        ));
        m[3] = 200;
        assert!(matches!(
            MessageView::new_checked(&m),
            Err(WireError::BadLength { .. })
        ));
        // Template claiming 3 fields with bytes for one.
        let set = SetView {
            id: 2,
            body: &[1, 0, 0, 3, 0, 8, 0, 4],
            offset: 16,
        };
        let r: Vec<_> = TemplateIter::new(&set, Protocol::Ipfix, false).collect();
        assert!(matches!(r[0], Err(WireError::TruncatedTemplate { .. })));
        // Zero-length fields only.
        let set = SetView {
            id: 2,
            body: &[1, 0, 0, 1, 0, 8, 0, 0],
            offset: 16,
        };
        let r: Vec<_> = TemplateIter::new(&set, Protocol::Ipfix, false).collect();
        assert_eq!(r[0], Err(WireError::EmptyRecord(256)));
        // Varlen running past the set.
        let t = TemplateRepr {
            id: 256,
            scope_count: 0,
            fields: vec![FieldSpec::iana(82, VARLEN)],
        };
        let set = SetView {
            id: 256,
            body: &[9, 1, 2],
            offset: 16,
        };
        let r: Vec<_> = RecordIter::new(&set, &t).collect();
        assert!(matches!(r[0], Err(WireError::TruncatedRecord)));
    }
}
