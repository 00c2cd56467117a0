//! Sources: NFLOG, NFCT, NFACCT, NFQ, MTNFQ, REPLAY, UNIXSOCK, NFCTST and NFT.

mod nfacct;
mod nfct;
pub mod nfct_keys;
mod nfctst;
mod nflog;
pub mod nflog_keys;
mod nfq;
mod nft;
// File replay memory-maps its capture (SAFETY comments at each site).
#[allow(unsafe_code)]
mod replay;
mod unixsock;

pub(crate) use nfct::Cidr;
pub use nfq::{nfq_keys, K_NFQ_HW_PROTOCOL, K_NFQ_ID, K_NFQ_QUEUE};
pub use replay::{bare_packet, BarePacket};

/// Registers every source.
pub fn register(reg: &mut ulogd_core::Registry) {
    reg.add(nflog::spec());
    reg.add(replay::spec());
    reg.add(nfct::spec());
    reg.add(nfacct::spec());
    reg.add(nfq::spec());
    reg.add(nfq::mt_spec());
    reg.add(unixsock::spec());
    reg.add(nfctst::spec());
    reg.add(nft::spec());
}

/// A configuration error as a plugin error (the message already names file, line
/// and key).
pub(crate) fn cfg_err(e: ulogd_core::ConfigError) -> ulogd_core::PluginError {
    ulogd_core::PluginError::from(e)
}

/// The declarations of `netlink_socket_buffer_size` and
/// `netlink_socket_buffer_maxsize` (NFLOG, NFCT).
pub(crate) fn rcvbuf_option_defs() -> [ulogd_core::OptionDef; 2] {
    use ulogd_core::OptionDef;
    [
        OptionDef::int(
            "netlink_socket_buffer_size",
            "0",
            "socket receive buffer in bytes (SO_RCVBUFFORCE; 0 = kernel default)",
        ),
        OptionDef::int(
            "netlink_socket_buffer_maxsize",
            "0",
            "on overrun, double the socket buffer up to this size (0 = never grow)",
        ),
    ]
}

/// `netlink_socket_buffer_size` and `netlink_socket_buffer_maxsize`, shared by every
/// netlink source (see [`crate::nl::RcvbufPolicy`]): the maximum, when set, may not
/// be below the size.
pub(crate) fn rcvbuf_options(
    o: &ulogd_core::Options,
) -> Result<(u32, u32), ulogd_core::PluginError> {
    let rcvbuf = o.u32("netlink_socket_buffer_size").map_err(cfg_err)?;
    let rcvbuf_max = o.u32("netlink_socket_buffer_maxsize").map_err(cfg_err)?;
    if rcvbuf_max != 0 && rcvbuf_max < rcvbuf {
        return Err(cfg_err(o.error(
            "netlink_socket_buffer_maxsize",
            "must not be smaller than netlink_socket_buffer_size",
        )));
    }
    Ok((rcvbuf, rcvbuf_max))
}

/// Test helper: `pairs` as the section `[id]` of plugin `plugin`, checked against
/// `defs`, then read into a config by `read`; every error as text.
#[cfg(test)]
pub(crate) fn parse_config<T>(
    plugin: &str,
    id: &str,
    defs: &[ulogd_core::OptionDef],
    pairs: &[(&str, &str)],
    read: impl FnOnce(&ulogd_core::Options) -> Result<T, ulogd_core::PluginError>,
) -> Result<T, String> {
    let o = ulogd_core::Options::from_pairs(plugin, id, defs, pairs).map_err(|e| {
        e.iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    })?;
    read(&o).map_err(|e| e.to_string())
}
