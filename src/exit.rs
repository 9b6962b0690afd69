//! The exit codes of the contract, and the walk over an error's cause chain
//! that picks one.
//!
//! The errors that decide it are in [`crate::error`].

use crate::error::{NetError, Reported, StdoutClosed, UsageError};
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

/// Whether the error was [`Reported`] already, so nothing more is printed.
pub fn is_reported<'a>(mut chain: impl Iterator<Item = &'a (dyn StdError + 'static)>) -> bool {
    chain.any(|cause| cause.is::<Reported>())
}

/// Finds the exit status for an error by walking its cause chain.
///
/// A [`NetError`], [`UsageError`] or [`StdoutClosed`] anywhere in the chain
/// decides (also when carried inside an `io::Error`); a refused connection
/// is unreachable; anything else is a runtime failure.
pub fn classify<'a>(chain: impl IntoIterator<Item = &'a (dyn StdError + 'static)>) -> Exit {
    for cause in chain {
        if let Some(exit) = decide(cause) {
            return exit;
        }
        if let Some(io) = cause.downcast_ref::<io::Error>() {
            // io::Error's `source()` skips its payload, so look at it here.
            if let Some(exit) = io.get_ref().and_then(|inner| decide(inner)) {
                return exit;
            }
            if io.kind() == io::ErrorKind::ConnectionRefused {
                return Exit::Unreachable;
            }
        }
    }
    Exit::Runtime
}

fn decide(cause: &(dyn StdError + 'static)) -> Option<Exit> {
    if let Some(err) = cause.downcast_ref::<NetError>() {
        return Some(match err {
            NetError::UnknownHost { .. } => Exit::UnknownHost,
            NetError::Refused | NetError::ServerDown { .. } => Exit::Unreachable,
        });
    }
    if cause.is::<UsageError>() {
        return Some(Exit::Usage);
    }
    if cause.is::<StdoutClosed>() {
        return Some(Exit::Success);
    }
    None
}

/// Maps a write error on stdout: a closed pipe becomes [`StdoutClosed`].
pub fn stdout_error(err: io::Error) -> io::Error {
    if err.kind() == io::ErrorKind::BrokenPipe {
        io::Error::new(io::ErrorKind::BrokenPipe, StdoutClosed)
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
        assert_eq!(exit_of(&UsageError("bad".into())), Exit::Usage);
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(exit_of(&refused), Exit::Unreachable);
        let eof = io::Error::from(io::ErrorKind::UnexpectedEof);
        assert_eq!(exit_of(&eof), Exit::Runtime);
        let unknown_io: io::Error = NetError::UnknownHost {
            host: "h".into(),
            reason: "r".into(),
        }
        .into();
        assert_eq!(exit_of(&unknown_io), Exit::UnknownHost);
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
