//! NFLOG options, checked once at build time.

use ulogd_core::{OptionDef, Options, PluginError};

use super::super::{cfg_err, rcvbuf_option_defs, rcvbuf_options};
use crate::wire::nflog::{NFULNL_CFG_F_CONNTRACK, NFULNL_CFG_F_SEQ, NFULNL_CFG_F_SEQ_GLOBAL};

/// Smallest accepted `bufsize`: one full-size NFLOG message must fit.
pub(crate) const MIN_BUFSIZE: usize = 8192;

/// Validated NFLOG options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NflogConfig {
    pub(crate) group: u16,
    pub(crate) bufsize: usize,
    pub(crate) bind: bool,
    pub(crate) unbind: bool,
    /// `NFULNL_CFG_F_*` asked for.
    pub(crate) flags: u16,
    pub(crate) label: u8,
    pub(crate) rcvbuf: u32,
    pub(crate) rcvbuf_max: u32,
    pub(crate) qthresh: u32,
    pub(crate) qtimeout: u32,
    pub(crate) netns: String,
}

impl NflogConfig {
    pub(crate) fn options() -> Vec<OptionDef> {
        vec![
            OptionDef::int("bufsize", "150000", "bytes read per recv() (at least 8192)"),
            OptionDef::int(
                "group",
                "0",
                "NFLOG group (nft log group N, iptables --nflog-group N), 0 to 65535",
            ),
            OptionDef::int(
                "unbind",
                "1",
                "unbind the protocol family handler before binding it (pre-2.6.29 kernels)",
            ),
            OptionDef::int(
                "bind",
                "0",
                "bind the protocol family handlers for AF_INET/INET6/BRIDGE (done anyway for group 0)",
            ),
            OptionDef::int(
                "seq_local",
                "0",
                "set oob.seq.local (per-group sequence numbers; lost packets are counted either way)",
            ),
            OptionDef::int(
                "seq_global",
                "0",
                "ask for global sequence numbers (oob.seq.global)",
            ),
            OptionDef::int("numeric_label", "0", "value of raw.label (0 to 255)"),
        ]
        .into_iter()
        .chain(rcvbuf_option_defs())
        .chain([
            OptionDef::int(
                "netlink_qthreshold",
                "0",
                "packets the kernel batches per message (0 = kernel default, 100: with the 1 s \
                 default timeout a lone packet's line can lag ~1 s; 1 = every packet at once)",
            ),
            OptionDef::int(
                "netlink_qtimeout",
                "0",
                "kernel flush timeout in 1/100 s (0 = kernel default, 100 = 1 s)",
            ),
            OptionDef::int(
                "attach_conntrack",
                "0",
                "ask the kernel to attach the packet's conntrack entry (NFULA_CT)",
            ),
            OptionDef::string(
                "network_namespace_path",
                "",
                "open the socket in this network namespace (e.g. /var/run/netns/NAME)",
            ),
        ])
        .collect()
    }

    pub(crate) fn from_options(o: &Options) -> Result<NflogConfig, PluginError> {
        // Straight from the i64: `group=-1` and `group=99999999999` get NFLOG's own
        // range too, not u32's.
        let group = u16::try_from(o.int("group"))
            .map_err(|_| cfg_err(o.error("group", "must be between 0 and 65535")))?;
        let label = u8::try_from(o.int("numeric_label"))
            .map_err(|_| cfg_err(o.error("numeric_label", "must be between 0 and 255")))?;
        let bufsize = o.u32("bufsize").map_err(cfg_err)? as usize;
        if bufsize < MIN_BUFSIZE {
            return Err(cfg_err(o.error(
                "bufsize",
                format_args!("must be at least {MIN_BUFSIZE} (one NFLOG message must fit)"),
            )));
        }
        let mut flags = 0;
        if o.bool("seq_local") {
            flags |= NFULNL_CFG_F_SEQ;
        }
        if o.bool("seq_global") {
            flags |= NFULNL_CFG_F_SEQ_GLOBAL;
        }
        if o.bool("attach_conntrack") {
            flags |= NFULNL_CFG_F_CONNTRACK;
        }
        let (rcvbuf, rcvbuf_max) = rcvbuf_options(o)?;
        Ok(NflogConfig {
            group,
            bufsize,
            bind: o.bool("bind"),
            unbind: o.bool("unbind"),
            flags,
            label,
            rcvbuf,
            rcvbuf_max,
            qthresh: o.u32("netlink_qthreshold").map_err(cfg_err)?,
            qtimeout: o.u32("netlink_qtimeout").map_err(cfg_err)?,
            netns: o.str("network_namespace_path").to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<NflogConfig, String> {
        let defs = NflogConfig::options();
        crate::sources::parse_config("NFLOG", "log1", &defs, pairs, NflogConfig::from_options)
    }

    #[test]
    fn defaults_are_ulogd2s() {
        let c = parse(&[]).unwrap();
        assert_eq!(
            c,
            NflogConfig {
                group: 0,
                bufsize: 150_000,
                bind: false,
                unbind: true,
                flags: 0,
                label: 0,
                rcvbuf: 0,
                rcvbuf_max: 0,
                qthresh: 0,
                qtimeout: 0,
                netns: String::new(),
            }
        );
    }

    #[test]
    fn every_option_is_read() {
        let c = parse(&[
            ("group", "5"),
            ("bufsize", "0x10000"),
            ("bind", "1"),
            ("unbind", "0"),
            ("seq_local", "1"),
            ("seq_global", "1"),
            ("attach_conntrack", "1"),
            ("numeric_label", "7"),
            ("netlink_socket_buffer_size", "8192"),
            ("netlink_socket_buffer_maxsize", "1048576"),
            ("netlink_qthreshold", "20"),
            ("netlink_qtimeout", "50"),
            ("network_namespace_path", "/var/run/netns/x"),
        ])
        .unwrap();
        assert_eq!(c.group, 5);
        assert_eq!(c.bufsize, 65536);
        assert!(c.bind && !c.unbind);
        assert_eq!(
            c.flags,
            NFULNL_CFG_F_SEQ | NFULNL_CFG_F_SEQ_GLOBAL | NFULNL_CFG_F_CONNTRACK
        );
        assert_eq!(c.label, 7);
        assert_eq!((c.rcvbuf, c.rcvbuf_max), (8192, 1_048_576));
        assert_eq!((c.qthresh, c.qtimeout), (20, 50));
        assert_eq!(c.netns, "/var/run/netns/x");
    }

    #[test]
    fn out_of_range_values_are_refused_by_name() {
        for (k, v) in [
            ("group", "65536"),
            ("group", "-1"),
            ("numeric_label", "256"),
            ("bufsize", "100"),
        ] {
            let e = parse(&[(k, v)]).unwrap_err();
            assert!(e.contains(k), "{k}={v}: {e}");
        }
        let e = parse(&[
            ("netlink_socket_buffer_size", "1000000"),
            ("netlink_socket_buffer_maxsize", "1000"),
        ])
        .unwrap_err();
        assert!(e.contains("netlink_socket_buffer_maxsize"), "{e}");
    }
}
