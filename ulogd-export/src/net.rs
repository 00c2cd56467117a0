//! Where the IPFIX exporter finds its endpoint and blocking socket (kept here so its
//! imports stay as they are; the code is in [`crate::transport::net`]).

pub(crate) use crate::transport::net::{Endpoint, Sock};
