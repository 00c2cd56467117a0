//! IPFIX (RFC 7011) and NetFlow v9 (RFC 3954): the codec, the IPFIX and NFLOW9
//! outputs and the IPFIXCOL collector source.

pub mod collector;
pub(crate) mod exporter;
pub(crate) mod template;
pub mod wire;
