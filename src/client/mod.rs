//! Clients and the pure policies they follow.

pub mod backoff;
pub mod framed;
pub mod http;
pub mod rpc;
pub mod stream;
pub mod udp;

/// A connection's bytes both ways, plain or through TLS.
pub(crate) trait Wire: std::io::Read + std::io::Write + Send {}
impl<T: std::io::Read + std::io::Write + Send> Wire for T {}
