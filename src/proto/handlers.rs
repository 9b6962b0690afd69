//! The demo handlers a server can run: `upper`, `echo`, `hello`, `time`.
//!
//! `upper` and `echo` are the [`Answer`] policies over a stream; `hello` and
//! `time` show the simplest servers of all: greet, then close; the peer never
//! needs to send anything.

use super::answer::{Answer, EchoSession, UpperSession};
use super::{ConnInfo, Flow, Output, ProtocolError, Session, SessionFactory};
use std::sync::Arc;

/// Which handler a server runs for each connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    /// Uppercase echo (the default).
    Upper,
    /// Plain echo: every byte back unchanged.
    Echo,
    /// Sends `Hello IP:PORT\n` with the client's address, then closes.
    Hello,
    /// Sends the local time as ctime text, then closes.
    Time,
}

impl Handler {
    /// A factory making this handler's session for each connection.
    pub fn factory(self) -> SessionFactory {
        Arc::new(move |info: &ConnInfo| self.session(info))
    }

    /// The answer policy behind an echoing handler (`None` for the greeters).
    pub fn answer(self) -> Option<Answer> {
        match self {
            Handler::Upper => Some(Answer::Upper),
            Handler::Echo => Some(Answer::Echo),
            Handler::Hello | Handler::Time => None,
        }
    }

    /// A fresh session for one connection.
    pub fn session(self, info: &ConnInfo) -> Box<dyn Session> {
        match self {
            Handler::Upper => Box::new(UpperSession::default()),
            Handler::Echo => Box::new(EchoSession),
            Handler::Hello => Box::new(Greeting(hello_text(info))),
            Handler::Time => Box::new(Greeting(ctime_text(info))),
        }
    }
}

/// `Hello 127.0.0.1:5000\n`, `Hello [::1]:5000\n`, or for a Unix socket peer
/// (which has no address) `Hello unix socket\n`.
pub fn hello_text(info: &ConnInfo) -> Vec<u8> {
    match info.peer {
        Some(addr) => format!("Hello {addr}\n").into_bytes(),
        None => b"Hello unix socket\n".to_vec(),
    }
}

/// The accept time as C's `ctime()` prints it: `Sun Nov 22 02:33:11 2026\n`.
pub fn ctime_text(info: &ConnInfo) -> Vec<u8> {
    let local: chrono::DateTime<chrono::Local> = info.accepted_at.into();
    format!("{}\n", local.format("%a %b %e %H:%M:%S %Y")).into_bytes()
}

/// Sends one fixed text at start and asks to close; ignores input.
#[derive(Debug)]
pub struct Greeting(Vec<u8>);

impl Greeting {
    /// A session that sends `text` and closes (nothing: just closes).
    pub fn new(text: Vec<u8>) -> Self {
        Greeting(text)
    }
}

impl Session for Greeting {
    fn on_start(&mut self, out: &mut Output) -> Flow {
        out.vec_mut().append(&mut self.0);
        Flow::Close
    }
    fn on_data(&mut self, _data: &[u8], _out: &mut Output) -> Result<Flow, ProtocolError> {
        Ok(Flow::Close)
    }
    fn on_eof(&mut self, _out: &mut Output) -> Result<(), ProtocolError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    fn info(peer: &str) -> ConnInfo {
        ConnInfo {
            peer: peer.parse().ok(),
            accepted_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000),
        }
    }

    fn run(h: Handler, input: &[u8]) -> (Vec<u8>, Flow) {
        let mut s = h.session(&info("127.0.0.1:5000"));
        let mut out = Output::new();
        let mut flow = s.on_start(&mut out);
        if flow == Flow::Continue {
            flow = s.on_data(input, &mut out).unwrap_or(Flow::Close);
            s.on_eof(&mut out).ok();
        }
        (out.pending().to_vec(), flow)
    }

    /// Feeds `input` whole and one byte at a time: both must give the same bytes.
    fn whole_and_bytewise(h: Handler, input: &[u8]) -> Vec<u8> {
        let whole = run(h, input).0;
        let mut s = h.session(&info("127.0.0.1:5000"));
        let mut out = Output::new();
        if s.on_start(&mut out) == Flow::Continue {
            for b in input {
                if s.on_data(std::slice::from_ref(b), &mut out).ok() != Some(Flow::Continue) {
                    break;
                }
            }
            s.on_eof(&mut out).ok();
        }
        assert_eq!(out.pending(), whole, "{h:?}: split input changed the output");
        whole
    }

    #[test]
    fn every_handler_is_split_invariant() {
        let input = [&b"mixed "[..], "straße €😀 ".as_bytes(), b"\xff\xfe raw"].concat();
        for h in [Handler::Upper, Handler::Echo, Handler::Hello, Handler::Time] {
            whole_and_bytewise(h, &input);
        }
        assert_eq!(whole_and_bytewise(Handler::Echo, &input), input);
    }

    #[test]
    fn echo_and_upper() {
        assert_eq!(run(Handler::Echo, b"abc\xff").0, b"abc\xff");
        assert_eq!(run(Handler::Upper, "straße".as_bytes()).0, "STRASSE".as_bytes());
        assert_eq!(Handler::Upper.answer(), Some(Answer::Upper));
        assert_eq!(Handler::Hello.answer(), None);
    }

    #[test]
    fn hello_names_the_peer_and_closes() {
        assert_eq!(
            run(Handler::Hello, b"ignored"),
            (b"Hello 127.0.0.1:5000\n".to_vec(), Flow::Close)
        );
        assert_eq!(hello_text(&info("[::1]:7")), b"Hello [::1]:7\n");
        assert_eq!(hello_text(&info("unix")), b"Hello unix socket\n");
    }

    #[test]
    fn time_is_ctime_shaped_and_closes() {
        let (out, flow) = run(Handler::Time, b"");
        assert_eq!(flow, Flow::Close);
        let text = String::from_utf8(out).unwrap_or_default();
        // "Sun Nov 22 02:33:11 2026\n": 24 characters and a newline.
        assert_eq!(text.len(), 25, "{text:?}");
        assert!(text.ends_with(" 2026\n"), "{text:?}");
        assert_eq!(text.split_whitespace().count(), 5, "{text:?}");
    }
}
