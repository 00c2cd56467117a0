//! Structure-aware IPFIX / NetFlow v9 fuzzing: the input chooses templates
//! (element ids, lengths, enterprise numbers, options scopes, withdrawals) and
//! then messages of template and data sets whose records match them, serialised
//! with the wire codec, so the fuzzer spends its time in template handling and
//! record filling instead of failing the header checks. A model of what an
//! exporter defined checks the decoder: well-formed messages decode without an
//! error, every record of a known template comes out (options records do not),
//! resuming after a refused record gives the same records, and correct sequence
//! numbers show no gap.
#![no_main]

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use ulogd_export::ipfix::collector::{fill, output_keys, Decoder, KeySink, Limits};
use ulogd_export::ipfix::wire::{
    emit_varlen, FieldSpec, HeaderRepr, Protocol, TemplateRepr, VARLEN,
};

struct Sink {
    n: usize,
}

impl KeySink for Sink {
    fn set_u64(&mut self, o: usize, _: u64) {
        assert!(o < self.n)
    }
    fn set_u32(&mut self, o: usize, _: u32) {
        assert!(o < self.n)
    }
    fn set_u16(&mut self, o: usize, _: u16) {
        assert!(o < self.n)
    }
    fn set_addr(&mut self, o: usize, _: IpAddr) {
        assert!(o < self.n)
    }
    fn set_bytes(&mut self, o: usize, _: &[u8]) {
        assert!(o < self.n)
    }
}

/// Elements the collector maps to keys, and a few it does not.
const IDS: &[u16] = &[
    1, 2, 4, 7, 8, 10, 11, 12, 14, 21, 22, 27, 28, 85, 86, 150, 151, 152, 153, 176, 177, 225, 226,
    227, 228, 230, 281, 282, 3, 5, 6, 144, 41,
];
const LENS: &[u16] = &[1, 2, 3, 4, 8, 9, 16, 5, 0];
const PENS: &[u32] = &[0, 0, 0, 29305, 21373];

fn field(u: &mut Unstructured<'_>, p: Protocol) -> Result<FieldSpec> {
    let id = if u.ratio(1, 8)? {
        u.int_in_range(0..=0x7fff)?
    } else {
        *u.choose(IDS)?
    };
    let len = if p == Protocol::Ipfix && u.ratio(1, 6)? {
        VARLEN
    } else if u.ratio(1, 10)? {
        u.int_in_range(1..=64)?
    } else {
        *u.choose(LENS)?
    };
    let pen = if p == Protocol::Ipfix {
        *u.choose(PENS)?
    } else {
        0
    };
    Ok(FieldSpec { id, len, pen })
}

fn template(u: &mut Unstructured<'_>, p: Protocol) -> Result<TemplateRepr> {
    let id = u.int_in_range(256..=263)?;
    let n = u.int_in_range(1..=10)?;
    let mut fields = Vec::with_capacity(n);
    for _ in 0..n {
        fields.push(field(u, p)?);
    }
    // Records must advance.
    if fields.iter().all(|f| f.len == 0) {
        fields[0].len = 1;
    }
    let scope_count = if u.ratio(1, 4)? {
        u.int_in_range(1..=n as u16)?
    } else {
        0
    };
    Ok(TemplateRepr {
        id,
        scope_count,
        fields,
    })
}

fn record(u: &mut Unstructured<'_>, t: &TemplateRepr, out: &mut Vec<u8>) -> Result<()> {
    for f in &t.fields {
        if f.len == VARLEN {
            let l = if u.ratio(1, 8)? {
                u.int_in_range(255..=400)?
            } else {
                u.int_in_range(0..=20)?
            };
            let v = u.bytes(l)?;
            emit_varlen(out, v);
        } else {
            out.extend_from_slice(u.bytes(f.len as usize)?);
        }
    }
    Ok(())
}

fn set(out: &mut Vec<u8>, id: u16, body: &[u8]) {
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&((body.len() + 4) as u16).to_be_bytes());
    out.extend_from_slice(body);
}

/// Per domain: the templates an exporter defined, as the collector must know them.
type Model = HashMap<u32, HashMap<u16, TemplateRepr>>;

struct Msg {
    bytes: Vec<u8>,
    /// Flow records of known templates.
    expected: usize,
    /// Whether the expectation is exact (no padding that could read as records).
    exact: bool,
}

fn message(
    u: &mut Unstructured<'_>,
    p: Protocol,
    model: &mut Model,
    seq: &mut HashMap<u32, u32>,
) -> Result<Msg> {
    let domain = u.int_in_range(0..=1)?;
    let mut body = Vec::new();
    let mut count: u16 = 0;
    let mut expected = 0usize;
    let mut seq_n = 0u32;
    let mut exact = true;
    let nsets = u.int_in_range(1..=6)?;
    for _ in 0..nsets {
        if body.len() > 30_000 {
            break;
        }
        let known = model.entry(domain).or_default();
        match u.int_in_range(0..=9)? {
            0..=2 => {
                let t = template(u, p)?;
                t.emit_set(p, &mut body);
                count += 1;
                known.insert(t.id, t);
            }
            3 if p == Protocol::Ipfix && !known.is_empty() => {
                // Withdraw one template.
                let ids: Vec<u16> = known.keys().copied().collect();
                let id = *u.choose(&ids)?;
                let opt = known[&id].is_options();
                let mut rec = id.to_be_bytes().to_vec();
                rec.extend_from_slice(&[0, 0]);
                set(&mut body, p.template_set_id() + opt as u16, &rec);
                known.remove(&id);
            }
            _ => {
                let ids: Vec<u16> = known.keys().copied().collect();
                if ids.is_empty() {
                    continue;
                }
                let id = *u.choose(&ids)?;
                let t = known[&id].clone();
                let k = u.int_in_range(0..=4)?;
                let mut recs = Vec::new();
                for _ in 0..k {
                    record(u, &t, &mut recs)?;
                }
                if k == 0 {
                    continue;
                }
                // Pad to 4 bytes; padding shorter than a record is unambiguous.
                let pad = (4 - recs.len() % 4) % 4;
                if pad > 0 && pad >= t.min_record_len() {
                    exact = false;
                }
                recs.resize(recs.len() + pad, 0);
                set(&mut body, id, &recs);
                count += k as u16;
                seq_n += k as u32;
                if !t.is_options() {
                    expected += k;
                }
            }
        }
    }
    let s = seq.entry(domain).or_insert(0);
    let mut m = vec![0u8; p.header_len()];
    m.extend_from_slice(&body);
    HeaderRepr {
        protocol: p,
        length_or_count: match p {
            Protocol::Ipfix => m.len() as u16,
            Protocol::V9 => count,
        },
        sys_uptime_ms: 1000,
        export_time: 1_700_000_000,
        sequence: *s,
        domain,
    }
    .emit(&mut m);
    *s = match p {
        Protocol::Ipfix => s.wrapping_add(seq_n),
        Protocol::V9 => s.wrapping_add(1),
    };
    Ok(Msg {
        bytes: m,
        expected,
        exact,
    })
}

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    let p = if u.arbitrary::<bool>()? {
        Protocol::Ipfix
    } else {
        Protocol::V9
    };
    let now = Instant::now();
    let peer = SocketAddr::from(([192, 0, 2, 9], 4739));
    let mut d = Decoder::new(Limits {
        template_timeout: std::time::Duration::ZERO,
        max_templates: 64,
        max_exporters: 8,
    });
    let mut sink = Sink {
        n: output_keys().len(),
    };
    let mut model = Model::new();
    let mut seq = HashMap::new();
    let mut all_exact = true;
    let n = u.int_in_range(1..=8)?;
    for _ in 0..n {
        let m = message(u, p, &mut model, &mut seq)?;
        all_exact &= m.exact;
        // Sometimes the pool runs out after `stop` records: resume with skip.
        let stop = if u.ratio(1, 3)? {
            Some(u.int_in_range(0..=3)?)
        } else {
            None
        };
        let mut taken = 0usize;
        let r = d.process(peer, &m.bytes, None, now, &mut |h, rec| {
            if stop == Some(taken) {
                return false;
            }
            fill(&mut sink, h, peer, rec);
            taken += 1;
            true
        });
        let r = if let Some(resume) = r.blocked {
            assert_eq!(Some(r.records), stop);
            d.process(peer, &m.bytes, Some(resume), now, &mut |h, rec| {
                fill(&mut sink, h, peer, rec);
                taken += 1;
                true
            })
        } else {
            r
        };
        assert!(r.blocked.is_none());
        assert_eq!(r.error, None, "well-formed message: {:?}", m.bytes);
        assert_eq!(r.records, taken);
        if m.exact {
            assert_eq!(r.records, m.expected, "{:?}", m.bytes);
        } else {
            assert!(r.records >= m.expected);
        }
    }
    if all_exact {
        assert_eq!(d.stats().get("seq_gaps"), Some(0));
        assert_eq!(d.stats().get("records_missed"), Some(0));
        assert_eq!(d.stats().get("no_template"), Some(0));
    }
    assert_eq!(d.stats().get("bad_messages"), Some(0));
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let _ = run(&mut u);
});
