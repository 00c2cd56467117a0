//! ulogd-rs netfilter plugins: sources on netlink (NFLOG, NFCT, NFQUEUE, NFACCT), file
//! replay, and the packet decoders and filters (BASE, IFINDEX, IP2STR, ...).
#![warn(missing_docs)]
