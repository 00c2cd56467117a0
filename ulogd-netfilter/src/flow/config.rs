//! FLOW's options, checked into a typed [`FlowConfig`] (vector style: components are
//! built from typed config, the plugin never reads option text).

use ulogd_core::{OptionDef, Options, PluginError};

use super::table::{Micros, Timeouts};

/// Which optional fields split flows (the 5-tuple and `oob.family` always do).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyFields {
    /// `oob.ifindex_in`.
    pub ifindex_in: bool,
    /// `oob.ifindex_out`.
    pub ifindex_out: bool,
    /// `oob.mark`.
    pub mark: bool,
    /// `ip.tos` (IPv4) / `ip6.priority` (IPv6), the whole byte.
    pub tos: bool,
    /// Only the DSCP bits of it (ECN changes do not split flows).
    pub dscp: bool,
    /// `oob.vlan.id`: the 802.1Q VLAN of a bridged frame (NFLOG of the bridge family).
    pub vlan: bool,
}

/// Whose time drives expiry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// The system clock: flows expire in real time, also while no packet arrives.
    System,
    /// The packets' own timestamps (`oob.time.*`): time advances only with packets,
    /// as softflowd's `-r`; for replaying captures as fast as they can be read.
    Packet,
}

/// FLOW's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowConfig {
    /// Most flows in the table (memory: `max_flows` × [`super::table::BYTES_PER_FLOW`]).
    pub max_flows: usize,
    /// Timeouts.
    pub timeouts: Timeouts,
    /// Optional key fields.
    pub key: KeyFields,
    /// Counters are multiplied by this (1 in N packets sampled by the rule).
    pub sampling_rate: u64,
    /// Expiry clock.
    pub clock: Clock,
    /// How often expired flows are looked for, in milliseconds.
    pub expiry_interval_ms: u64,
}

const OPTS: &[OptionDef] = &[
    OptionDef::int(
        "max_flows",
        "65536",
        "most flows kept, allocated at start: 350 bytes per flow on x86-64 (the 'bytes_per_flow' counter and the start-up log say it), 21.9 MiB for 65536; when full, the least recently seen flow is exported early (flowEndReason 5, counted as 'evicted')",
    ),
    OptionDef::int(
        "active_timeout",
        "604800",
        "seconds: a flow older than this is exported and restarted (softflowd maxlife, nProbe -t)",
    ),
    OptionDef::int("tcp_timeout", "3600", "seconds without packets before a TCP flow ends"),
    OptionDef::int(
        "tcp_end_timeout",
        "120",
        "seconds without packets before a TCP flow that saw FIN or RST ends (flowEndReason 3)",
    ),
    OptionDef::int("udp_timeout", "300", "seconds without packets before a UDP flow ends"),
    OptionDef::int("icmp_timeout", "300", "seconds without packets before an ICMP flow ends"),
    OptionDef::int(
        "other_timeout",
        "3600",
        "seconds without packets before a flow of any other protocol ends",
    ),
    OptionDef::string(
        "flow_key",
        "",
        "extra fields that split flows, comma separated: ifindex_in, ifindex_out, mark, tos, dscp, vlan (the 5-tuple and family always do)",
    ),
    OptionDef::int(
        "sampling_rate",
        "1",
        "the rule logs 1 packet in N (nft numgen): packet and byte counts are multiplied by N",
    ),
    OptionDef::string(
        "clock",
        "system",
        "system: flows expire in real time; packet: time is the packets' timestamps (fast replay of captures)",
    ),
    OptionDef::int(
        "expiry_interval",
        "1000",
        "milliseconds between looks for expired flows",
    ),
];

impl FlowConfig {
    /// The option declarations.
    pub fn options() -> Vec<OptionDef> {
        OPTS.to_vec()
    }

    /// Checks the options.
    pub fn from_options(o: &Options) -> Result<FlowConfig, PluginError> {
        let err = |k: &str, m: String| PluginError::new(o.error(k, m).to_string());
        let secs = |k: &str| -> Result<Micros, PluginError> {
            let v = o.int(k);
            if !(1..=100 * 365 * 86_400).contains(&v) {
                return Err(err(k, format!("{v} is not a number of seconds from 1")));
            }
            Ok(v as Micros * 1_000_000)
        };
        let max_flows = o.int("max_flows");
        if !(1..=1 << 26).contains(&max_flows) {
            return Err(err(
                "max_flows",
                format!("{max_flows} is out of range (1 to 67108864)"),
            ));
        }
        let sampling_rate = o.int("sampling_rate");
        if !(1..=1 << 24).contains(&sampling_rate) {
            return Err(err(
                "sampling_rate",
                format!("{sampling_rate} is out of range (1 to 16777216)"),
            ));
        }
        let mut key = KeyFields::default();
        for f in o
            .str("flow_key")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            match f {
                "ifindex_in" | "oob.ifindex_in" => key.ifindex_in = true,
                "ifindex_out" | "oob.ifindex_out" => key.ifindex_out = true,
                "mark" | "oob.mark" => key.mark = true,
                "tos" | "ip.tos" => key.tos = true,
                "dscp" => key.dscp = true,
                "vlan" | "oob.vlan.id" => key.vlan = true,
                other => {
                    return Err(err(
                        "flow_key",
                        format!(
                        "unknown field '{other}' (known: ifindex_in, ifindex_out, mark, tos, dscp, vlan)"
                    ),
                    ))
                }
            }
        }
        if key.tos && key.dscp {
            return Err(err(
                "flow_key",
                "give tos or dscp, not both (dscp is the upper 6 bits of tos)".into(),
            ));
        }
        let clock = match o.str("clock") {
            "system" => Clock::System,
            "packet" => Clock::Packet,
            other => return Err(err("clock", format!("'{other}': use system or packet"))),
        };
        let expiry_interval_ms = o.int("expiry_interval");
        if !(1..=3_600_000).contains(&expiry_interval_ms) {
            return Err(err(
                "expiry_interval",
                format!("{expiry_interval_ms} is out of range (1 to 3600000 ms)"),
            ));
        }
        Ok(FlowConfig {
            max_flows: max_flows as usize,
            timeouts: Timeouts {
                active: secs("active_timeout")?,
                idle: [
                    secs("tcp_timeout")?,
                    secs("tcp_end_timeout")?,
                    secs("udp_timeout")?,
                    secs("icmp_timeout")?,
                    secs("other_timeout")?,
                ],
            },
            key,
            sampling_rate: sampling_rate as u64,
            clock,
            expiry_interval_ms: expiry_interval_ms as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<FlowConfig, String> {
        let o = Options::from_pairs("FLOW", "m", &FlowConfig::options(), pairs)
            .map_err(|e| format!("{e:?}"))?;
        FlowConfig::from_options(&o).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_are_softflowds() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.timeouts, Timeouts::default());
        assert_eq!(
            (c.max_flows, c.sampling_rate, c.clock),
            (65536, 1, Clock::System)
        );
        assert_eq!(c.key, KeyFields::default());
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn the_help_states_the_real_bytes_per_flow() {
        let help = OPTS.iter().find(|o| o.name == "max_flows").unwrap().help;
        let n = super::super::table::BYTES_PER_FLOW;
        assert!(help.contains(&format!("{n} bytes per flow")), "{n}: {help}");
        let mib = (65536 * n) as f64 / (1 << 20) as f64;
        assert!(
            help.contains(&format!("{mib:.1} MiB for 65536")),
            "{mib}: {help}"
        );
    }

    #[test]
    fn options_are_checked_with_their_names() {
        let c = parse(&[("flow_key", "ifindex_in, mark,dscp"), ("udp_timeout", "15")]).unwrap();
        assert!(c.key.ifindex_in && c.key.mark && c.key.dscp && !c.key.tos && !c.key.vlan);
        assert!(parse(&[("flow_key", "vlan")]).unwrap().key.vlan);
        assert_eq!(c.timeouts.idle[2], 15_000_000);
        let e = parse(&[("flow_key", "vlan9")]).unwrap_err();
        assert!(e.contains("flow_key") && e.contains("vlan9"), "{e}");
        let e = parse(&[("tcp_timeout", "0")]).unwrap_err();
        assert!(e.contains("tcp_timeout"), "{e}");
        let e = parse(&[("max_flows", "0")]).unwrap_err();
        assert!(e.contains("max_flows"), "{e}");
        let e = parse(&[("clock", "wall")]).unwrap_err();
        assert!(e.contains("clock") && e.contains("wall"), "{e}");
        assert!(parse(&[("flow_key", "tos,dscp")]).is_err());
    }
}
