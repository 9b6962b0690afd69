//! The exit codes of the contract, and the typed errors that choose them.
//!
//! Library code returns [`NetError`] for the failures a script must be able to
//! tell apart (unknown host, server unreachable, bad usage); the binary walks the
//! error chain once with [`classify`] and exits with the matching [`Exit`].

use std::error::Error as StdError;
use std::io;

/// A process exit status, as listed in the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything worked.
    Success,
    /// A runtime failure: a peer closed mid-message, a timeout, a protocol error.
    Runtime,
    /// A bad flag or value on the command line.
    Usage,
    /// The host name does not resolve.
    UnknownHost,
    /// The server refused, or never answered (UDP retries exhausted).
    Unreachable,
}

impl Exit {
    /// The numeric status handed to the operating system.
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Runtime => 1,
            Exit::Usage => 2,
            Exit::UnknownHost => 68,
            Exit::Unreachable => 69,
        }
    }
}

/// Failures that decide the exit code.
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
    /// A value the command line accepted but that makes no sense.
    #[error("{0}")]
    Usage(String),
    /// Standard output was closed by the reader (`| head`): not an error for the user.
    #[error("standard output closed")]
    StdoutClosed,
}

/// Finds the exit status for an error by walking its cause chain.
///
/// A [`NetError`] anywhere in the chain decides; an I/O `BrokenPipe` that comes
/// from stdout is wrapped as [`NetError::StdoutClosed`] by the writer, so any other
/// error is a runtime failure.
pub fn classify<'a>(chain: impl IntoIterator<Item = &'a (dyn StdError + 'static)>) -> Exit {
    for cause in chain {
        if let Some(err) = cause.downcast_ref::<NetError>() {
            return match err {
                NetError::UnknownHost { .. } => Exit::UnknownHost,
                NetError::Refused | NetError::ServerDown { .. } => Exit::Unreachable,
                NetError::Usage(_) => Exit::Usage,
                NetError::StdoutClosed => Exit::Success,
            };
        }
        if let Some(io) = cause.downcast_ref::<io::Error>() {
            // Library code carries a NetError inside an io::Error; io::Error's
            // `source()` skips its payload, so look at it here.
            if let Some(inner) = io.get_ref().and_then(|e| e.downcast_ref::<NetError>()) {
                return classify([inner as &(dyn StdError + 'static)]);
            }
            if io.kind() == io::ErrorKind::ConnectionRefused {
                return Exit::Unreachable;
            }
        }
    }
    Exit::Runtime
}

impl From<NetError> for io::Error {
    fn from(err: NetError) -> io::Error {
        let kind = match err {
            NetError::Refused => io::ErrorKind::ConnectionRefused,
            NetError::ServerDown { .. } => io::ErrorKind::TimedOut,
            NetError::StdoutClosed => io::ErrorKind::BrokenPipe,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, err)
    }
}

/// Maps a write error on stdout: a closed pipe becomes [`NetError::StdoutClosed`].
pub fn stdout_error(err: io::Error) -> io::Error {
    if err.kind() == io::ErrorKind::BrokenPipe {
        NetError::StdoutClosed.into()
    } else {
        err
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exit_of(err: &(dyn StdError + 'static)) -> Exit {
        let mut chain = vec![err];
        let mut cur = err;
        while let Some(next) = cur.source() {
            chain.push(next);
            cur = next;
        }
        classify(chain)
    }

    #[test]
    fn codes_match_the_contract() {
        let table = [
            (Exit::Success, 0),
            (Exit::Runtime, 1),
            (Exit::Usage, 2),
            (Exit::UnknownHost, 68),
            (Exit::Unreachable, 69),
        ];
        for (exit, code) in table {
            assert_eq!(exit.code(), code, "{exit:?}");
        }
    }

    #[test]
    fn errors_choose_their_exit() {
        let unknown = NetError::UnknownHost {
            host: "x.invalid".into(),
            reason: "Name or service not known".into(),
        };
        assert_eq!(exit_of(&unknown), Exit::UnknownHost);
        assert!(unknown.to_string().contains("this host does not seem to exist"));
        assert_eq!(exit_of(&NetError::Refused), Exit::Unreachable);
        assert_eq!(exit_of(&NetError::ServerDown { tries: 5 }), Exit::Unreachable);
        assert!(
            NetError::ServerDown { tries: 5 }
                .to_string()
                .contains("server seems down")
        );
        assert_eq!(exit_of(&NetError::Usage("bad".into())), Exit::Usage);
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(exit_of(&refused), Exit::Unreachable);
        let eof = io::Error::from(io::ErrorKind::UnexpectedEof);
        assert_eq!(exit_of(&eof), Exit::Runtime);
    }

    #[test]
    fn a_closed_stdout_is_success_even_when_wrapped() {
        let wrapped = stdout_error(io::Error::from(io::ErrorKind::BrokenPipe));
        assert_eq!(exit_of(&wrapped), Exit::Success);
        let down: io::Error = NetError::ServerDown { tries: 5 }.into();
        assert_eq!(exit_of(&down), Exit::Unreachable);
        let other = stdout_error(io::Error::from(io::ErrorKind::TimedOut));
        assert_eq!(exit_of(&other), Exit::Runtime);
    }
}
