//! One spool / channel record of a delivery sink: destination, optional key and
//! payload in one buffer, so the pump sends it without re-encoding and a spool
//! record replays to the same topic or subject after a restart.
//!
//! ```text
//! dest_len: u16 LE | dest | key_len: u16 LE (0xFFFF: no key) | key | payload
//! ```

const NO_KEY: u16 = u16::MAX;

/// A decoded record, borrowing its buffer.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct Envelope<'a> {
    /// Topic or subject.
    pub dest: &'a [u8],
    /// Message key, if the sink has a key template.
    pub key: Option<&'a [u8]>,
    /// The message (the JSON object).
    pub payload: &'a [u8],
}

/// Packs a record. Destination and key are cut to 65,534 bytes (Kafka and NATS
/// refuse far shorter names anyway).
pub fn encode(dest: &[u8], key: Option<&[u8]>, payload: &[u8]) -> Vec<u8> {
    let dest = &dest[..dest.len().min(NO_KEY as usize - 1)];
    let key = key.map(|k| &k[..k.len().min(NO_KEY as usize - 1)]);
    let mut v = Vec::with_capacity(4 + dest.len() + key.map_or(0, |k| k.len()) + payload.len());
    v.extend_from_slice(&(dest.len() as u16).to_le_bytes());
    v.extend_from_slice(dest);
    match key {
        Some(k) => {
            v.extend_from_slice(&(k.len() as u16).to_le_bytes());
            v.extend_from_slice(k);
        }
        None => v.extend_from_slice(&NO_KEY.to_le_bytes()),
    }
    v.extend_from_slice(payload);
    v
}

/// Unpacks a record; `None` when its lengths do not fit (never panics).
pub fn decode(b: &[u8]) -> Option<Envelope<'_>> {
    let dl = u16::from_le_bytes(b.get(0..2)?.try_into().ok()?) as usize;
    let dest = b.get(2..2 + dl)?;
    let rest = &b[2 + dl..];
    let kl = u16::from_le_bytes(rest.get(0..2)?.try_into().ok()?);
    let (key, payload) = if kl == NO_KEY {
        (None, &rest[2..])
    } else {
        let kl = kl as usize;
        (Some(rest.get(2..2 + kl)?), &rest[2 + kl..])
    };
    Some(Envelope { dest, key, payload })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation() {
        let e = encode(b"ulogd.x", Some(b"10.0.0.1"), b"{}");
        assert_eq!(
            decode(&e),
            Some(Envelope {
                dest: b"ulogd.x",
                key: Some(b"10.0.0.1"),
                payload: b"{}"
            })
        );
        let e = encode(b"t", None, b"");
        assert_eq!(decode(&e).unwrap().key, None);
        for cut in 0..3 {
            assert_eq!(decode(&e[..cut]), None);
        }
        assert_eq!(decode(&[5, 0, 1]), None);
    }
}
