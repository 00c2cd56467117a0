//! NFCT options, checked once at build time.

use ulogd_core::{OptionDef, Options, PluginError};

use super::super::{cfg_err, rcvbuf_option_defs, rcvbuf_options};
use super::filter::{proto_number, Cidr, FlowFilter};

/// Validated NFCT options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NfctConfig {
    pub(crate) pollinterval: u32,
    pub(crate) hash: bool,
    pub(crate) hash_buckets: usize,
    pub(crate) hash_max: usize,
    pub(crate) event_mask: u32,
    pub(crate) rcvbuf: u32,
    pub(crate) rcvbuf_max: u32,
    pub(crate) resync_timeout: u32,
    pub(crate) reliable: bool,
    pub(crate) filter: FlowFilter,
    pub(crate) netns: String,
}

impl NfctConfig {
    pub(crate) fn options() -> Vec<OptionDef> {
        vec![
            OptionDef::int(
                "pollinterval",
                "0",
                "0 = event mode; N > 0 = dump the table every N seconds (needs hash_enable=1)",
            ),
            OptionDef::int(
                "hash_enable",
                "1",
                "keep a flow cache; then only flow ends (DESTROY) are emitted, with start and end times",
            ),
            OptionDef::int("hash_buckets", "8192", "initial size of the flow cache"),
            OptionDef::int(
                "hash_max_entries",
                "32768",
                "flows the cache holds at most (more are counted as dropped)",
            ),
            OptionDef::int(
                "event_mask",
                "5",
                "conntrack events to listen to: 1 NEW, 2 UPDATE, 4 DESTROY (sum them)",
            ),
        ]
        .into_iter()
        .chain(rcvbuf_option_defs())
        .chain([
            OptionDef::int(
                "netlink_resync_timeout",
                "60",
                "seconds after an overrun before the table is dumped again (hash mode)",
            ),
            OptionDef::int(
                "reliable",
                "0",
                "reliable event delivery (NETLINK_BROADCAST_SEND_ERROR + NETLINK_NO_ENOBUFS)",
            ),
            OptionDef::string(
                "accept_src_filter",
                "",
                "only flows from these networks, e.g. 10.0.0.0/8,fd00::/8",
            ),
            OptionDef::string(
                "accept_dst_filter",
                "",
                "only flows to these networks, e.g. 192.168.1.0/24",
            ),
            OptionDef::string(
                "accept_proto_filter",
                "",
                "only these layer-4 protocols, e.g. tcp,udp,icmp,icmpv6,sctp or numbers",
            ),
            OptionDef::string(
                "network_namespace_path",
                "",
                "open the sockets in this network namespace (e.g. /var/run/netns/NAME)",
            ),
        ])
        .collect()
    }

    fn cidrs(o: &Options, name: &str) -> Result<Vec<Cidr>, PluginError> {
        let mut v = Vec::new();
        for part in o
            .str(name)
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let c = Cidr::parse(part).ok_or_else(|| {
                cfg_err(o.error(
                    name,
                    format_args!("\"{part}\" is not an address or network (e.g. 10.0.0.0/8)"),
                ))
            })?;
            v.push(c);
        }
        Ok(v)
    }

    pub(crate) fn from_options(o: &Options) -> Result<NfctConfig, PluginError> {
        let pollinterval = o.u32("pollinterval").map_err(cfg_err)?;
        let hash = o.bool("hash_enable");
        if pollinterval > 0 && !hash {
            return Err(cfg_err(o.error(
                "pollinterval",
                "polling mode needs hash_enable=1 (flows that vanish are found in the cache)",
            )));
        }
        let event_mask = o.u32("event_mask").map_err(cfg_err)?;
        if event_mask == 0 || event_mask & !7 != 0 {
            return Err(cfg_err(o.error(
                "event_mask",
                "must be a sum of 1 (NEW), 2 (UPDATE) and 4 (DESTROY)",
            )));
        }
        if hash && pollinterval == 0 && event_mask & 4 == 0 {
            return Err(cfg_err(o.error(
                "event_mask",
                "with hash_enable=1 only flow ends are emitted, so the mask must include 4 (DESTROY)",
            )));
        }
        let hash_max = o.u32("hash_max_entries").map_err(cfg_err)? as usize;
        if hash && hash_max == 0 {
            return Err(cfg_err(o.error("hash_max_entries", "must be at least 1")));
        }
        let (rcvbuf, rcvbuf_max) = rcvbuf_options(o)?;
        let mut proto = Vec::new();
        for p in o
            .str("accept_proto_filter")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            proto.push(proto_number(p).ok_or_else(|| {
                cfg_err(o.error(
                    "accept_proto_filter",
                    format_args!(
                        "unknown protocol \"{p}\" (use tcp, udp, icmp, icmpv6, sctp, dccp, \
                         udplite, gre, esp, ah or a number)"
                    ),
                ))
            })?);
        }
        Ok(NfctConfig {
            pollinterval,
            hash,
            hash_buckets: o.u32("hash_buckets").map_err(cfg_err)? as usize,
            hash_max,
            event_mask,
            rcvbuf,
            rcvbuf_max,
            resync_timeout: o.u32("netlink_resync_timeout").map_err(cfg_err)?,
            reliable: o.bool("reliable"),
            filter: FlowFilter {
                src: Self::cidrs(o, "accept_src_filter")?,
                dst: Self::cidrs(o, "accept_dst_filter")?,
                proto,
            },
            netns: o.str("network_namespace_path").to_string(),
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::wire::TupleRepr;

    pub(crate) fn parse(pairs: &[(&str, &str)]) -> Result<NfctConfig, String> {
        let defs = NfctConfig::options();
        crate::sources::parse_config("NFCT", "ct1", &defs, pairs, NfctConfig::from_options)
    }

    #[test]
    fn defaults_are_ulogd2s() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.pollinterval, 0);
        assert!(c.hash);
        assert_eq!((c.hash_buckets, c.hash_max), (8192, 32768));
        assert_eq!(c.event_mask, 5);
        assert_eq!(c.resync_timeout, 60);
        assert!(!c.reliable);
        assert!(c.filter.is_empty());
    }

    #[test]
    fn bad_options_are_refused_by_name() {
        for (pairs, key) in [
            (
                vec![("pollinterval", "10"), ("hash_enable", "0")],
                "pollinterval",
            ),
            (vec![("event_mask", "8")], "event_mask"),
            (vec![("event_mask", "3")], "event_mask"),
            (
                vec![("accept_src_filter", "10.0.0.0/33")],
                "accept_src_filter",
            ),
            (vec![("accept_dst_filter", "nonsense")], "accept_dst_filter"),
            (
                vec![("accept_proto_filter", "tcp,bogus")],
                "accept_proto_filter",
            ),
            (
                vec![
                    ("netlink_socket_buffer_size", "100000"),
                    ("netlink_socket_buffer_maxsize", "100"),
                ],
                "netlink_socket_buffer_maxsize",
            ),
        ] {
            let e = parse(&pairs).unwrap_err();
            assert!(e.contains(key), "{pairs:?}: {e}");
        }
        // Without the hash, any mask is fine.
        assert!(parse(&[("hash_enable", "0"), ("event_mask", "3")]).is_ok());
    }

    #[test]
    fn filters_parse_and_match() {
        let c = parse(&[
            ("accept_src_filter", "10.0.0.0/8, 192.168.1.7"),
            ("accept_dst_filter", "fd00::/8, 0.0.0.0/0"),
            ("accept_proto_filter", "tcp,ICMPv6,132"),
        ])
        .unwrap();
        assert_eq!(c.filter.proto, vec![6, 58, 132]);
        let t = |s: &str, d: &str, p: u8| TupleRepr {
            src: Some(s.parse().unwrap()),
            dst: Some(d.parse().unwrap()),
            proto: Some(p),
            ..TupleRepr::default()
        };
        let f = &c.filter;
        assert!(f.accepts(&t("10.1.2.3", "8.8.8.8", 6)));
        assert!(f.accepts(&t("192.168.1.7", "8.8.8.8", 132)));
        assert!(!f.accepts(&t("192.168.1.8", "8.8.8.8", 6)));
        assert!(!f.accepts(&t("10.1.2.3", "8.8.8.8", 17)));
        // IPv6: the src list names only IPv4 networks, so it rejects every IPv6 flow
        // (ulogd2's rule, compat-review §3); with src in the list the dst list judges.
        assert!(!f.accepts(&t("2001:db8::1", "fd12::1", 58)));
        let only_dst = parse(&[("accept_dst_filter", "fd00::/8")]).unwrap().filter;
        assert!(only_dst.accepts(&t("2001:db8::1", "fd12::1", 58)));
        assert!(!only_dst.accepts(&t("2001:db8::1", "2001:db8::2", 58)));
        assert!(!only_dst.accepts(&t("10.1.2.3", "10.1.2.4", 6)));
    }
}
