//! Protocols as sans-IO sessions: bytes in, bytes out, no sockets.
//!
//! Rules every session here keeps, so any server mode can drive any protocol:
//! - it never reads a socket, sleeps, spawns or reads the clock; what it needs
//!   from the outside world (the peer address, the time of accept) comes in a
//!   [`ConnInfo`];
//! - replies are appended to an [`Output`] that the caller owns and drains;
//! - "not enough bytes yet" is a normal return ([`Flow::Continue`] with nothing
//!   appended), never an error;
//! - every byte it holds back between calls is bounded.

pub mod answer;
pub mod decode;
pub mod frame;
pub mod framed;
pub mod handlers;
pub mod http;
pub mod output;
pub mod upper;
pub mod xmlrpc;
pub mod zlib;

pub use decode::Decode;
pub use output::Output;

use std::net::SocketAddr;
use std::time::SystemTime;

/// What the driver should do after a session call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep reading from the peer.
    Continue,
    /// Send what is pending, then close the connection.
    Close,
}

/// What a session has left to send, after [`Session::on_drain`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drain {
    /// Nothing more until the next input: stop asking.
    Done,
    /// More to come: ask again once what is pending has been sent.
    More,
    /// Send what is pending, then close (a streamed body cut short, or the
    /// last response of the connection).
    Close,
}

/// A peer broke the protocol, or asked for more than the limits allow.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// The peer sent bytes the protocol cannot accept.
    #[error("peer sent invalid data: {0}")]
    Peer(String),
    /// The peer asked for more than a configured limit.
    #[error("peer exceeded a limit: {0}")]
    Limit(String),
    /// The peer closed in the middle of a message.
    #[error("peer closed mid-message: {0}")]
    Truncated(String),
}

/// Who is on the other end, handed to a session when the connection starts.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// The peer's address; `None` for a Unix socket peer, which has no IP.
    pub peer: Option<SocketAddr>,
    /// When the connection was accepted (the driver reads the clock, not the session).
    pub accepted_at: SystemTime,
}

/// One connection's protocol state.
///
/// # The contract every server mode keeps
/// - `on_start` is called once, before any data.
/// - `on_data` is called with each chunk received, in order, however the
///   network split it, for as long as every call returned [`Flow::Continue`].
/// - `on_eof` is called once when the peer half-closes (or the server shuts
///   down), unless an earlier call returned [`Flow::Close`] or an error.
/// - **Whatever a call appended to `out` is sent before the connection
///   closes**: after `Flow::Close`, after an error, after `on_eof`, in every
///   mode. That is what lets a protocol answer its last word — an HTTP 413, an
///   XML-RPC fault, a final frame — and then hang up.
/// - **Output that streams**: after each call above, once everything pending
///   has been sent (the socket took it, so there is room), the driver calls
///   `on_drain`, and again after each piece it appended, for as long as it
///   answers [`Drain::More`]. A session with a large body (a file) appends
///   one bounded piece per call, so memory stays bounded and a client that
///   stops reading stalls only its own connection. The close that a
///   `Flow::Close`, an error or the peer's EOF asked for waits until the
///   session answers `Done` or `Close`.
/// - **Time without a clock**: a session that must give up when input stops
///   says how long it will wait (`wait_limit`); every driver then calls
///   `on_timeout` when that long passes in silence, sends what it appended
///   and closes.
/// - After `Flow::Close` or an error the session is not called again, but
///   for `on_drain` while it answers `More`.
pub trait Session: Send {
    /// Called once when the connection opens; may greet and ask to close.
    fn on_start(&mut self, _out: &mut Output) -> Flow {
        Flow::Continue
    }

    /// Takes the bytes just received and appends any reply to `out`.
    ///
    /// # Errors
    /// A [`ProtocolError`] closes this connection only, after `out` is sent.
    fn on_data(&mut self, data: &[u8], out: &mut Output) -> Result<Flow, ProtocolError>;

    /// The peer half-closed: flush whatever was held back.
    ///
    /// # Errors
    /// When the peer stopped in the middle of a message (`out` is still sent).
    fn on_eof(&mut self, out: &mut Output) -> Result<(), ProtocolError>;

    /// Everything pending has been sent: append the next piece of a body
    /// that streams, if any. Most sessions answer everything at once and
    /// keep this default.
    ///
    /// # Errors
    /// A [`ProtocolError`] closes this connection, after `out` is sent.
    fn on_drain(&mut self, _out: &mut Output) -> Result<Drain, ProtocolError> {
        Ok(Drain::Done)
    }

    /// Whether the session takes input now. A session that holds input it
    /// cannot act on yet (requests pipelined behind a body that streams)
    /// says no past a bound; the event-driven modes then stop reading from
    /// that peer until it says yes (the blocking modes read only between
    /// answers anyway).
    fn wants_input(&self) -> bool {
        true
    }

    /// How long the session will wait for more input before it gives up on
    /// its own (an HTTP head that must be whole within a deadline); `None`:
    /// no limit of its own (the server's `--idle-timeout` still applies).
    /// Asked after every call; the driver calls [`Session::on_timeout`]
    /// when that long passes with no input.
    fn wait_limit(&self) -> Option<std::time::Duration> {
        None
    }

    /// The wait limit passed with no input: append the last words (a 408);
    /// the connection then closes.
    fn on_timeout(&mut self, _out: &mut Output) {}

    /// The server is closing this connection for silence (`--idle-timeout`):
    /// the last words it may still send (TLS's close_notify), then the close.
    /// Nothing more is read.
    fn on_idle(&mut self, _out: &mut Output) {}
}

/// Makes a fresh session for each accepted connection.
pub type SessionFactory = std::sync::Arc<dyn Fn(&ConnInfo) -> Box<dyn Session> + Send + Sync>;

/// A [`SessionFactory`] from a plain function or closure, whatever session
/// type it returns: `proto::factory(|_| MySession::default())`. (A closure
/// written straight into an `Arc` type-checks only inline, with its box.)
pub fn factory<S, F>(make: F) -> SessionFactory
where
    S: Session + 'static,
    F: Fn(&ConnInfo) -> S + Send + Sync + 'static,
{
    std::sync::Arc::new(move |info: &ConnInfo| Box::new(make(info)) as Box<dyn Session>)
}
