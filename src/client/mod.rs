//! Clients and the pure policies they follow.

pub mod backoff;
pub mod framed;
pub mod http;
pub mod rpc;
pub mod stream;
pub mod udp;
