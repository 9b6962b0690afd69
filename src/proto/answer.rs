//! The answer policy: what a server replies to a request. The servers (UDP,
//! TCP, framed), the load generator that checks their replies and the UDP
//! client that spots late replies all ask this one place.

use super::output::Output;
use super::upper::{Upper, upper_once};
use super::{Flow, ProtocolError, Session};

/// What a server answers to each request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// The request uppercased as Unicode; invalid UTF-8 unchanged (the default).
    Upper,
    /// The request unchanged.
    Echo,
    /// `PONG`, whatever came in (round-trip time estimation).
    Pong,
}

impl Answer {
    /// Every policy, for a client that does not know which one the server runs.
    pub const ALL: [Answer; 3] = [Answer::Upper, Answer::Echo, Answer::Pong];

    /// The name used on the command line (`--reply upper`).
    pub fn name(self) -> &'static str {
        match self {
            Answer::Upper => "upper",
            Answer::Echo => "echo",
            Answer::Pong => "pong",
        }
    }

    /// Appends the answer to one whole request (a datagram, a frame payload)
    /// to `out`. An incomplete character at its end is sent as it is.
    pub fn reply_once(self, request: &[u8], out: &mut Vec<u8>) {
        match self {
            Answer::Upper => upper_once(request, out),
            Answer::Echo => out.extend_from_slice(request),
            Answer::Pong => out.extend_from_slice(b"PONG"),
        }
    }

    /// The answer to one whole request, as a new vector.
    pub fn reply_to(self, request: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(request.len());
        self.reply_once(request, &mut out);
        out
    }

    /// Whether `reply` is what this policy answers to `request`.
    pub fn answers(self, request: &[u8], reply: &[u8]) -> bool {
        match self {
            Answer::Upper => reply == self.reply_to(request).as_slice(),
            Answer::Echo => reply == request,
            Answer::Pong => reply == b"PONG",
        }
    }

    /// Whether any policy answers `request` with `reply`.
    pub fn any_answers(request: &[u8], reply: &[u8]) -> bool {
        Answer::ALL.iter().any(|a| a.answers(request, reply))
    }

    /// This policy over a byte stream, where a request has no end but EOF:
    /// `Upper` and `Echo` answer every byte as it comes (a split character
    /// waits for its last byte); `Pong` has no stream form.
    pub fn stream_session(self) -> Option<Box<dyn Session>> {
        match self {
            Answer::Upper => Some(Box::new(UpperSession::default())),
            Answer::Echo => Some(Box::new(EchoSession)),
            Answer::Pong => None,
        }
    }
}

/// Uppercase echo of a stream.
#[derive(Debug, Default)]
pub struct UpperSession {
    upper: Upper,
}

impl Session for UpperSession {
    fn on_data(&mut self, data: &[u8], out: &mut Output) -> Result<Flow, ProtocolError> {
        self.upper.feed(data, out.vec_mut());
        Ok(Flow::Continue)
    }

    fn on_eof(&mut self, out: &mut Output) -> Result<(), ProtocolError> {
        self.upper.finish(out.vec_mut());
        Ok(())
    }
}

/// Echo: bytes back unchanged.
#[derive(Debug, Default)]
pub struct EchoSession;

impl Session for EchoSession {
    fn on_data(&mut self, data: &[u8], out: &mut Output) -> Result<Flow, ProtocolError> {
        out.extend_from_slice(data);
        Ok(Flow::Continue)
    }
    fn on_eof(&mut self, _out: &mut Output) -> Result<(), ProtocolError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_shot_answers() {
        assert_eq!(
            Answer::Upper.reply_to(&["straße".as_bytes(), b"\xff"].concat()),
            b"STRASSE\xff"
        );
        assert_eq!(Answer::Echo.reply_to(b"abc"), b"abc");
        assert_eq!(Answer::Pong.reply_to(b"anything"), b"PONG");
        assert_eq!(Answer::Upper.reply_to(b""), b"");
    }

    #[test]
    fn answers_checks_what_reply_once_makes() {
        for a in Answer::ALL {
            for req in [&b"hello"[..], "straße".as_bytes(), b"", b"\xff\xfe"] {
                assert!(a.answers(req, &a.reply_to(req)), "{a:?} {req:?}");
            }
        }
        assert!(!Answer::Upper.answers(b"abc", b"abc"));
        assert!(Answer::any_answers(b"abc", b"abc"));
        assert!(!Answer::any_answers(b"abc", b"5 bytes"));
    }

    #[test]
    fn session_flushes_held_bytes_at_eof() {
        let mut s = UpperSession::default();
        let mut out = Output::new();
        assert_eq!(s.on_data(b"ok\xc3", &mut out).ok(), Some(Flow::Continue));
        assert_eq!(out.pending(), b"OK");
        s.on_eof(&mut out).ok();
        assert_eq!(out.pending(), b"OK\xc3");
        assert!(Answer::Pong.stream_session().is_none());
    }
}
