//! The collector's template cache: per exporter (address and port) and observation
//! domain, the (options) templates it announced, with IPFIX withdrawal (RFC 7011
//! §8.1), expiry of UDP templates not refreshed within `timeout` (§8.4) and two
//! bounds, so hostile or broken exporters cannot grow memory without limit:
//! `max_templates` per exporter and domain and `max_exporters` exporter/domain
//! pairs. The caller passes the time in; nothing here reads a clock.
//!
//! Memory is therefore at most `max_exporters × max_templates` templates (each at
//! most 512 fields of 8 bytes); templates that expire are swept by [`TemplateCache::
//! expire`], not only when a data set looks them up, and an exporter whose last
//! template went is forgotten, so its slot is free again.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::super::wire::TemplateRepr;

/// Default bound of templates per exporter and domain: far above what routers
/// and flow meters use (a handful to a few dozen), far below a flood.
pub(crate) const DEFAULT_MAX_TEMPLATES: usize = 512;
/// Default bound of exporter/domain pairs.
pub(crate) const DEFAULT_MAX_EXPORTERS: usize = 256;

/// Who sent a template: the transport peer and the observation domain.
pub(crate) type Source = (SocketAddr, u32);

struct Entry {
    t: TemplateRepr,
    /// Last (re)announcement.
    seen: Instant,
}

/// Templates of one exporter and domain.
#[derive(Default)]
struct Domain {
    by_id: HashMap<u16, Entry>,
}

/// What [`TemplateCache::learn`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Learnt {
    /// A new template id.
    New,
    /// An id seen before: refreshed (and replaced if its fields changed).
    Refreshed,
    /// Refused: the exporter and domain already hold `max_templates`.
    TooManyTemplates,
    /// Refused: `max_exporters` exporter/domain pairs are known already.
    TooManyExporters,
}

/// What [`TemplateCache::get`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Lookup<'a> {
    Found(&'a TemplateRepr),
    /// Never announced, withdrawn, or refused by a bound.
    Missing,
    /// Known but not refreshed within the timeout: now removed.
    Expired,
}

/// The cache; see the module documentation.
pub(crate) struct TemplateCache {
    domains: HashMap<Source, Domain>,
    /// Zero: templates never expire (TCP, where they live as long as the connection).
    timeout: Duration,
    max_templates: usize,
    max_exporters: usize,
    /// Templates held, all domains.
    len: usize,
}

impl TemplateCache {
    pub(crate) fn new(timeout: Duration, max_templates: usize, max_exporters: usize) -> Self {
        TemplateCache {
            domains: HashMap::new(),
            timeout,
            max_templates: max_templates.max(1),
            max_exporters: max_exporters.max(1),
            len: 0,
        }
    }

    /// Templates held.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Exporter/domain pairs holding at least one template.
    pub(crate) fn exporters(&self) -> usize {
        self.domains.len()
    }

    /// The bound of templates per exporter and domain.
    pub(crate) fn max_templates(&self) -> usize {
        self.max_templates
    }

    /// The bound of exporter/domain pairs.
    pub(crate) fn max_exporters(&self) -> usize {
        self.max_exporters
    }

    fn expired(&self, e: &Entry, now: Instant) -> bool {
        !self.timeout.is_zero() && now.saturating_duration_since(e.seen) > self.timeout
    }

    /// Stores (or refreshes) template `t` of `src` at `now`, within the bounds.
    pub(crate) fn learn(&mut self, src: Source, t: TemplateRepr, now: Instant) -> Learnt {
        if !self.domains.contains_key(&src) && self.domains.len() >= self.max_exporters {
            // Make room from expired templates before refusing.
            self.expire(now);
            if self.domains.len() >= self.max_exporters {
                return Learnt::TooManyExporters;
            }
        }
        let max = self.max_templates;
        let d = self.domains.entry(src).or_default();
        if let Some(e) = d.by_id.get_mut(&t.id) {
            e.t = t;
            e.seen = now;
            return Learnt::Refreshed;
        }
        if d.by_id.len() >= max {
            // Expired ones of this domain first.
            let timeout = self.timeout;
            let before = d.by_id.len();
            if !timeout.is_zero() {
                d.by_id
                    .retain(|_, e| now.saturating_duration_since(e.seen) <= timeout);
            }
            self.len -= before - d.by_id.len();
            if d.by_id.len() >= max {
                return Learnt::TooManyTemplates;
            }
        }
        d.by_id.insert(t.id, Entry { t, seen: now });
        self.len += 1;
        Learnt::New
    }

    /// The template `id` of `src`, unless it expired (then it is removed).
    pub(crate) fn get(&mut self, src: Source, id: u16, now: Instant) -> Lookup<'_> {
        let expired = match self.domains.get(&src).and_then(|d| d.by_id.get(&id)) {
            None => return Lookup::Missing,
            Some(e) => self.expired(e, now),
        };
        if expired {
            self.remove(src, id);
            return Lookup::Expired;
        }
        match self.domains.get(&src).and_then(|d| d.by_id.get(&id)) {
            Some(e) => Lookup::Found(&e.t),
            None => Lookup::Missing,
        }
    }

    fn remove(&mut self, src: Source, id: u16) -> bool {
        let Some(d) = self.domains.get_mut(&src) else {
            return false;
        };
        let gone = d.by_id.remove(&id).is_some();
        if gone {
            self.len -= 1;
        }
        if d.by_id.is_empty() {
            self.domains.remove(&src);
        }
        gone
    }

    /// Withdraws template `id` of `src`; whether it was known.
    pub(crate) fn withdraw(&mut self, src: Source, id: u16) -> bool {
        self.remove(src, id)
    }

    /// Withdraws every template (`options` false: set id 2 withdrawal) or every
    /// options template (`options` true: set id 3) of `src`; how many went.
    pub(crate) fn withdraw_all(&mut self, src: Source, options: bool) -> usize {
        let Some(d) = self.domains.get_mut(&src) else {
            return 0;
        };
        let before = d.by_id.len();
        d.by_id.retain(|_, e| e.t.is_options() != options);
        let n = before - d.by_id.len();
        self.len -= n;
        if d.by_id.is_empty() {
            self.domains.remove(&src);
        }
        n
    }

    /// Removes every template not refreshed within the timeout; how many went.
    pub(crate) fn expire(&mut self, now: Instant) -> usize {
        if self.timeout.is_zero() {
            return 0;
        }
        let timeout = self.timeout;
        let mut n = 0;
        self.domains.retain(|_, d| {
            let before = d.by_id.len();
            d.by_id
                .retain(|_, e| now.saturating_duration_since(e.seen) <= timeout);
            n += before - d.by_id.len();
            !d.by_id.is_empty()
        });
        self.len -= n;
        n
    }

    /// Forgets every template of `peer`, all domains (a closed TCP connection).
    pub(crate) fn forget(&mut self, peer: SocketAddr) {
        let mut n = 0;
        self.domains.retain(|k, d| {
            if k.0 == peer {
                n += d.by_id.len();
                false
            } else {
                true
            }
        });
        self.len -= n;
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::wire::FieldSpec;
    use super::*;

    fn t(id: u16, scope: u16) -> TemplateRepr {
        TemplateRepr {
            id,
            scope_count: scope,
            fields: vec![FieldSpec::iana(8, 4), FieldSpec::iana(1, 8)],
        }
    }

    fn src(port: u16, domain: u32) -> Source {
        (SocketAddr::from(([192, 0, 2, 1], port)), domain)
    }

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn templates_are_kept_per_exporter_and_domain() {
        let now = Instant::now();
        let mut c = TemplateCache::new(Duration::ZERO, 8, 8);
        assert_eq!(c.learn(src(1, 1), t(256, 0), now), Learnt::New);
        assert_eq!(c.learn(src(1, 2), t(256, 0), now), Learnt::New);
        assert_eq!(c.learn(src(2, 1), t(256, 0), now), Learnt::New);
        assert_eq!(c.learn(src(1, 1), t(256, 0), now), Learnt::Refreshed);
        assert_eq!((c.len(), c.exporters()), (3, 3));
        assert!(matches!(c.get(src(1, 1), 256, now), Lookup::Found(_)));
        assert_eq!(c.get(src(1, 3), 256, now), Lookup::Missing);
        assert_eq!(c.get(src(1, 1), 257, now), Lookup::Missing);
        // Redefinition replaces the fields.
        let mut t2 = t(256, 0);
        t2.fields.push(FieldSpec::iana(2, 8));
        c.learn(src(1, 1), t2.clone(), now);
        assert_eq!(c.get(src(1, 1), 256, now), Lookup::Found(&t2));
        assert_eq!(c.len(), 3);
    }

    #[test]
    fn withdrawal_of_one_and_of_all() {
        let now = Instant::now();
        let mut c = TemplateCache::new(Duration::ZERO, 8, 8);
        for id in 256..260 {
            c.learn(src(1, 1), t(id, 0), now);
        }
        c.learn(src(1, 1), t(300, 1), now);
        c.learn(src(1, 2), t(256, 0), now);
        assert!(c.withdraw(src(1, 1), 257));
        assert!(!c.withdraw(src(1, 1), 257));
        assert_eq!(c.get(src(1, 1), 257, now), Lookup::Missing);
        // "All templates" (set id 2) keeps the options templates, and the domain.
        assert_eq!(c.withdraw_all(src(1, 1), false), 3);
        assert!(matches!(c.get(src(1, 1), 300, now), Lookup::Found(_)));
        assert!(matches!(c.get(src(1, 2), 256, now), Lookup::Found(_)));
        assert_eq!(c.withdraw_all(src(1, 1), true), 1);
        assert_eq!((c.len(), c.exporters()), (1, 1));
    }

    #[test]
    fn expiry_on_lookup_and_by_sweep() {
        let t0 = Instant::now();
        let mut c = TemplateCache::new(10 * S, 8, 8);
        c.learn(src(1, 1), t(256, 0), t0);
        c.learn(src(1, 1), t(257, 0), t0);
        c.learn(src(2, 1), t(256, 0), t0);
        // Refreshed at 8 s: lives to 18 s.
        c.learn(src(1, 1), t(257, 0), t0 + 8 * S);
        assert!(matches!(
            c.get(src(1, 1), 256, t0 + 10 * S),
            Lookup::Found(_)
        ));
        assert_eq!(c.get(src(1, 1), 256, t0 + 11 * S), Lookup::Expired);
        assert_eq!(c.get(src(1, 1), 256, t0 + 11 * S), Lookup::Missing);
        // The sweep frees what nobody looks up, and empty exporters.
        assert_eq!(c.expire(t0 + 11 * S), 1);
        assert_eq!((c.len(), c.exporters()), (1, 1));
        assert_eq!(c.expire(t0 + 19 * S), 1);
        assert_eq!((c.len(), c.exporters()), (0, 0));
        // Timeout zero: never.
        let mut c = TemplateCache::new(Duration::ZERO, 8, 8);
        c.learn(src(1, 1), t(256, 0), t0);
        assert_eq!(c.expire(t0 + 1_000_000 * S), 0);
        assert!(matches!(
            c.get(src(1, 1), 256, t0 + 1_000_000 * S),
            Lookup::Found(_)
        ));
    }

    #[test]
    fn template_flood_stays_at_the_bound() {
        let t0 = Instant::now();
        let mut c = TemplateCache::new(60 * S, 100, 4);
        let mut refused = 0;
        for id in 256..=u16::MAX {
            match c.learn(src(1, 1), t(id, 0), t0) {
                Learnt::New => {}
                Learnt::TooManyTemplates => refused += 1,
                other => panic!("{other:?}"),
            }
            assert!(c.len() <= 100);
        }
        assert_eq!(c.len(), 100);
        assert_eq!(refused, (u16::MAX as usize - 256 + 1) - 100);
        // Known ids are still refreshed at the bound.
        assert_eq!(c.learn(src(1, 1), t(256, 0), t0), Learnt::Refreshed);
        // Once they expire, there is room again.
        assert_eq!(
            c.learn(src(1, 1), t(256, 0), t0 + 61 * S),
            Learnt::Refreshed
        );
        assert_eq!(c.learn(src(1, 1), t(40000, 0), t0 + 61 * S), Learnt::New);
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn exporter_flood_stays_at_the_bound() {
        let t0 = Instant::now();
        let mut c = TemplateCache::new(60 * S, 10, 4);
        let mut refused = 0;
        for domain in 0..10_000u32 {
            for port in [1, 2] {
                if c.learn(src(port, domain), t(256, 0), t0) == Learnt::TooManyExporters {
                    refused += 1;
                }
            }
        }
        assert_eq!(c.exporters(), 4);
        assert_eq!(c.len(), 4);
        assert_eq!(refused, 20_000 - 4);
        // A known exporter still gets new templates.
        assert_eq!(c.learn(src(1, 0), t(257, 0), t0), Learnt::New);
        // Expired exporters free their slots.
        assert_eq!(c.learn(src(9, 9), t(256, 0), t0 + 61 * S), Learnt::New);
        assert_eq!(c.exporters(), 1);
    }

    #[test]
    fn forget_drops_every_domain_of_a_peer() {
        let now = Instant::now();
        let mut c = TemplateCache::new(Duration::ZERO, 8, 8);
        c.learn(src(1, 1), t(256, 0), now);
        c.learn(src(1, 2), t(256, 0), now);
        c.learn(src(2, 1), t(256, 0), now);
        c.forget(src(1, 0).0);
        assert_eq!((c.len(), c.exporters()), (1, 1));
    }
}
