//! NFQ and MTNFQ options, checked once at build time.

use ulogd_core::{OptionDef, Options, PluginError};

use super::super::{cfg_err, rcvbuf_options};
use crate::wire::nfqueue::{
    NFQA_CFG_F_CONNTRACK, NFQA_CFG_F_FAIL_OPEN, NFQA_CFG_F_GSO, NFQA_CFG_F_SECCTX,
    NFQA_CFG_F_UID_GID, NFQNL_COPY_META, NFQNL_COPY_PACKET, NF_ACCEPT, NF_DROP,
};

/// The boolean options that are `NFQA_CFG_F_*` queue flags.
pub(crate) const QUEUE_FLAGS: &[(&str, u32)] = &[
    ("fail_open", NFQA_CFG_F_FAIL_OPEN),
    ("gso", NFQA_CFG_F_GSO),
    ("conntrack", NFQA_CFG_F_CONNTRACK),
    ("uid_gid", NFQA_CFG_F_UID_GID),
    ("secctx", NFQA_CFG_F_SECCTX),
];

/// Validated options shared by NFQ and MTNFQ.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NfqConfig {
    pub(crate) queue: u16,
    pub(crate) count: u16,
    pub(crate) copy_mode: u8,
    pub(crate) copy_range: u32,
    pub(crate) maxlen: u32,
    pub(crate) flags: u32,
    pub(crate) rcvbuf: u32,
    pub(crate) rcvbuf_max: u32,
    pub(crate) default: u32,
    pub(crate) bufsize: usize,
    pub(crate) netns: String,
}

pub(crate) fn options(mt: bool) -> Vec<OptionDef> {
    let mut v = vec![
        OptionDef::int(
            "queue_num",
            "0",
            "NFQUEUE number (iptables -j NFQUEUE --queue-num N)",
        ),
        OptionDef::string(
            "copy_mode",
            "packet",
            "packet (metadata and payload) or meta",
        ),
        OptionDef::int(
            "copy_range",
            "65535",
            "bytes of each packet copied to userspace",
        ),
        OptionDef::int(
            "queue_maxlen",
            "0",
            "packets the kernel queues (0 = kernel default, 1024)",
        ),
        OptionDef::boolean(
            "fail_open",
            "0",
            "accept instead of drop when the queue is full",
        ),
        OptionDef::boolean("gso", "0", "queue GSO packets whole (NFQA_CFG_F_GSO)"),
        OptionDef::boolean("conntrack", "0", "attach the conntrack entry (ct.* keys)"),
        OptionDef::boolean(
            "uid_gid",
            "0",
            "attach the socket's uid/gid (oob.uid, oob.gid)",
        ),
        OptionDef::boolean("secctx", "0", "attach the security context"),
        OptionDef::int(
            "netlink_socket_buffer_size",
            "0",
            "socket receive buffer (0 = kernel default)",
        ),
        OptionDef::int(
            "netlink_socket_buffer_maxsize",
            "0",
            "on overrun, double the buffer up to this (0 = never)",
        ),
        OptionDef::string(
            "default_verdict",
            "accept",
            "verdict when no stack decides: accept or drop",
        ),
        OptionDef::int(
            "bufsize",
            "262144",
            "bytes read per recv() (at least 70000)",
        ),
        OptionDef::string(
            "network_namespace_path",
            "",
            "open the socket in this network namespace",
        ),
    ];
    if mt {
        v.push(OptionDef::int(
            "queue_count",
            "2",
            "queues queue_num .. queue_num+queue_count-1, one socket and thread each (--queue-balance)",
        ));
    }
    v
}

impl NfqConfig {
    pub(crate) fn from_options(o: &Options, mt: bool) -> Result<NfqConfig, PluginError> {
        let queue = u16::try_from(o.u32("queue_num").map_err(cfg_err)?)
            .map_err(|_| cfg_err(o.error("queue_num", "must be between 0 and 65535")))?;
        let count = if mt {
            let c = o.u32("queue_count").map_err(cfg_err)?;
            if c == 0 || c > 64 || u32::from(queue) + c > 65536 {
                return Err(cfg_err(
                    o.error("queue_count", "must be 1 to 64, within queue 65535"),
                ));
            }
            c as u16
        } else {
            1
        };
        let copy_mode = match o.str("copy_mode") {
            "packet" => NFQNL_COPY_PACKET,
            "meta" => NFQNL_COPY_META,
            _ => return Err(cfg_err(o.error("copy_mode", "must be 'packet' or 'meta'"))),
        };
        let default = match o.str("default_verdict") {
            "accept" => NF_ACCEPT,
            "drop" => NF_DROP,
            _ => {
                return Err(cfg_err(
                    o.error("default_verdict", "must be 'accept' or 'drop'"),
                ))
            }
        };
        let bufsize = o.u32("bufsize").map_err(cfg_err)? as usize;
        if bufsize < 70_000 {
            return Err(cfg_err(o.error(
                "bufsize",
                "must be at least 70000 (one full packet must fit)",
            )));
        }
        let mut flags = 0;
        for &(name, f) in QUEUE_FLAGS {
            if o.bool(name) {
                flags |= f;
            }
        }
        let (rcvbuf, rcvbuf_max) = rcvbuf_options(o)?;
        Ok(NfqConfig {
            queue,
            count,
            copy_mode,
            copy_range: o.u32("copy_range").map_err(cfg_err)?.min(65535),
            maxlen: o.u32("queue_maxlen").map_err(cfg_err)?,
            flags,
            rcvbuf,
            rcvbuf_max,
            default,
            bufsize,
            netns: o.str("network_namespace_path").to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)], mt: bool) -> Result<NfqConfig, String> {
        crate::sources::parse_config("NFQ", "q", &options(mt), pairs, |o| {
            NfqConfig::from_options(o, mt)
        })
    }

    #[test]
    fn options_are_validated_by_name() {
        let c = parse(
            &[
                ("queue_num", "3"),
                ("fail_open", "1"),
                ("default_verdict", "drop"),
            ],
            false,
        )
        .unwrap();
        assert_eq!(
            (c.queue, c.default, c.flags),
            (3, NF_DROP, NFQA_CFG_F_FAIL_OPEN)
        );
        assert!(parse(&[("copy_mode", "all")], false)
            .unwrap_err()
            .contains("copy_mode"));
        assert!(parse(&[("default_verdict", "maybe")], false)
            .unwrap_err()
            .contains("default_verdict"));
        assert!(parse(&[("queue_num", "70000")], false)
            .unwrap_err()
            .contains("queue_num"));
        assert!(parse(&[("queue_count", "0")], true)
            .unwrap_err()
            .contains("queue_count"));
        assert_eq!(
            parse(&[("queue_num", "4"), ("queue_count", "3")], true)
                .unwrap()
                .count,
            3
        );
    }
}
