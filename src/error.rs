//! The failures that decide a command's exit code: the network ones a script
//! must tell apart ([`NetError`]: an unknown host, a server that refuses, a
//! server that never answers), a value the command line accepted that makes
//! no sense ([`UsageError`]), a reader of stdout that went away
//! ([`StdoutClosed`], not a failure for the user), and a failure the command
//! already reported in its own words ([`Reported`]).
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
    #[error("server seems down: no reply after {}", crate::words::count(*tries, "try", "tries"))]
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

/// A value the command line accepted but that makes no sense (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

impl From<UsageError> for io::Error {
    fn from(err: UsageError) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidInput, err)
    }
}

/// Standard output was closed by its reader (`| head`): exit 0, quietly.
#[derive(Debug, thiserror::Error)]
#[error("standard output closed")]
pub struct StdoutClosed;

/// A failure the command has already told the user about in its own words
/// (`rpc call` prints `fault CODE: STRING`): exit 1 with no further line.
#[derive(Debug, thiserror::Error)]
#[error("already reported")]
pub struct Reported;
