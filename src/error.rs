//! The network failures a script must be able to tell apart: an unknown host,
//! a server that refuses, a server that never answers.
//!
//! Library code returns these (inside an `io::Error` where the signature is
//! `io::Result`); [`crate::exit::classify`] turns them into exit codes.

use std::io;

/// A failure to reach a server.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// Name resolution failed (`getaddrinfo` said no).
    #[error("{host}: this host does not seem to exist ({reason})")]
    UnknownHost {
        /// The name that was looked up.
        host: String,
        /// What the resolver said.
        reason: String,
    },
    /// Every address refused the connection, or answered with ICMP port unreachable.
    #[error("connection refused: is the server running?")]
    Refused,
    /// UDP retries ran out without an answer.
    #[error("server seems down: no reply after {tries} tries")]
    ServerDown {
        /// How many datagrams were sent.
        tries: u32,
    },
}

impl From<NetError> for io::Error {
    fn from(err: NetError) -> io::Error {
        let kind = match err {
            NetError::Refused => io::ErrorKind::ConnectionRefused,
            NetError::ServerDown { .. } => io::ErrorKind::TimedOut,
            NetError::UnknownHost { .. } => io::ErrorKind::NotFound,
        };
        io::Error::new(kind, err)
    }
}
