//! The server side of TLS as a session around a session: TLS records in
//! (`read_tls`, `process_new_packets`), plaintext to the inner session, its
//! answer encrypted (`writer`, `write_tls`) into the driver's output. No
//! socket, no clock: every server mode drives it as it drives any session.
//!
//! - A client that starts with anything but a TLS handshake record (plain
//!   text) gets one log line and its connection closed.
//! - The inner session's greeting and a close it asks for wait until the
//!   handshake is done; both ends send `close_notify` at the end.
//! - Buffers stay bounded: input is taken a record's worth at a time and its
//!   plaintext handed on at once; the inner session's output is as bounded
//!   as it is without TLS. Bodies cannot leave by `sendfile` (they must be
//!   encrypted), so the inner output refuses file regions.
//! - `-v` logs each connection's version, cipher suite, ALPN and SNI; `-vv`
//!   names the handshake records as they cross.

use super::narrate::Records;
use crate::proto::{Drain, Flow, Output, ProtocolError, Session};
use rustls::ServerConnection;
use std::io::{Read as _, Write as _};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Where the session gets the time (the server passes the system clock).
pub type Clock = fn() -> SystemTime;

/// A handshake must be done this long after its first byte.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Plaintext is read out of rustls this much at a time.
const PLAIN_CHUNK: usize = 16 * 1024;

/// One TLS connection around an inner session.
pub struct TlsServerSession {
    conn: ServerConnection,
    inner: Box<dyn Session>,
    /// What the inner session wrote, before it is encrypted.
    inner_out: Output,
    /// The peer, for the log.
    peer: String,
    /// Bytes received so far (the first tells TLS from plain text).
    received: u64,
    /// The handshake's outcome has been logged.
    announced: bool,
    /// The inner session asked to close (or failed): close once the handshake allows.
    closing: bool,
    /// The inner session has had its `on_eof`.
    inner_ended: bool,
    /// Our close_notify has been sent.
    notified: bool,
    /// The handshake failed (an alert went out): nothing more but the close.
    failed: bool,
    /// The clock (the server's), for the handshake's deadline.
    clock: Clock,
    /// When the first handshake byte came.
    started: Option<SystemTime>,
    /// `-vv`: the records each way, told as they cross.
    story: (Records, Records),
}

impl TlsServerSession {
    /// A TLS session for `inner` with the server's `config`.
    ///
    /// # Errors
    /// When rustls refuses the configuration.
    pub fn new(
        config: Arc<rustls::ServerConfig>,
        inner: Box<dyn Session>,
        peer: String,
        clock: Clock,
    ) -> Result<Self, rustls::Error> {
        let mut conn = ServerConnection::new(config)?;
        // The inner session's output is bounded by the driver's back-pressure;
        // a limit here would make rustls refuse (and lose) a large reply.
        conn.set_buffer_limit(None);
        Ok(TlsServerSession {
            conn,
            inner,
            inner_out: Output::without_files(),
            peer,
            received: 0,
            announced: false,
            closing: false,
            inner_ended: false,
            notified: false,
            failed: false,
            clock,
            started: None,
            story: (Records::default(), Records::default()),
        })
    }

    /// Encrypts what the inner session wrote and moves every record rustls
    /// has to send into `out`.
    fn flush(&mut self, out: &mut Output) {
        if !self.inner_out.is_empty() {
            let _ = self.conn.writer().write_all(self.inner_out.pending());
            self.inner_out.clear();
        }
        while self.conn.wants_write() {
            let before = out.len();
            if self.conn.write_tls(out.vec_mut()).is_err() {
                break;
            }
            self.story
                .1
                .feed("send", out.pending().get(before..).unwrap_or_default(), &self.peer);
        }
    }

    /// The inner session is done and has nothing more to stream: close_notify.
    fn notify(&mut self, out: &mut Output) {
        // The inner session's last words go first: rustls takes nothing after close_notify.
        self.flush(out);
        if !self.notified {
            self.notified = true;
            self.conn.send_close_notify();
        }
        self.flush(out);
    }

    fn announce(&mut self) {
        if self.announced || self.conn.is_handshaking() {
            return;
        }
        self.announced = true;
        if tracing::enabled!(tracing::Level::DEBUG) {
            // What the encrypted records carried, which -vv cannot show one by one.
            let story = match self.conn.protocol_version() {
                Some(rustls::ProtocolVersion::TLSv1_3) => {
                    "TLS 1.3: ClientHello (key share, suites, SNI) → ServerHello (key share), then encrypted: \
                     EncryptedExtensions (ALPN), Certificate, CertificateVerify (proof of the key), Finished → \
                     the client's Finished: one round trip before data"
                }
                _ => {
                    "TLS 1.2: ClientHello → ServerHello, Certificate, ServerKeyExchange, ServerHelloDone → \
                     ClientKeyExchange, ChangeCipherSpec, Finished → ChangeCipherSpec, Finished: two round trips"
                }
            };
            tracing::debug!(peer = %self.peer, "handshake done: {story}");
        }
        let alpn = self
            .conn
            .alpn_protocol()
            .map(|a| String::from_utf8_lossy(a).into_owned());
        tracing::info!(
            peer = %self.peer,
            version = self.conn.protocol_version().map_or_else(|| "-".into(), |v| format!("{v:?}")),
            cipher = self.conn.negotiated_cipher_suite().map_or_else(|| "-".into(), |c| format!("{:?}", c.suite())),
            alpn = alpn.as_deref().unwrap_or("-"),
            sni = self.conn.server_name().unwrap_or("-"),
            "TLS established"
        );
    }

    /// Hands the plaintext rustls has decrypted to the inner session.
    fn pump(&mut self, out: &mut Output) -> Result<(), ProtocolError> {
        let mut plain = [0u8; PLAIN_CHUNK];
        loop {
            let n = match self.conn.reader().read(&mut plain) {
                Ok(0) => {
                    if !self.closing {
                        tracing::debug!(peer = %self.peer, "TLS close_notify from the client");
                    }
                    // close_notify: the peer is done sending; ours follows
                    // once the inner session has said its last.
                    let ended = self.end_inner(out);
                    self.closing = true;
                    return ended;
                }
                Ok(n) => n,
                Err(_) => return Ok(()), // none buffered now
            };
            if self.closing {
                continue; // the inner session is done: dropped
            }
            match self.inner.on_data(crate::net::filled(&plain, n), &mut self.inner_out) {
                Ok(Flow::Continue) => {}
                Ok(Flow::Close) => self.closing = true,
                Err(e) => {
                    self.notify(out);
                    return Err(e);
                }
            }
        }
    }

    fn end_inner(&mut self, out: &mut Output) -> Result<(), ProtocolError> {
        if self.inner_ended || self.closing {
            return Ok(());
        }
        self.inner_ended = true;
        let ended = self.inner.on_eof(&mut self.inner_out);
        self.flush(out);
        ended
    }
}

impl Session for TlsServerSession {
    fn on_start(&mut self, _out: &mut Output) -> Flow {
        // A greeting waits, encrypted, until the handshake is done.
        if self.inner.on_start(&mut self.inner_out) == Flow::Close {
            self.closing = true;
        }
        Flow::Continue
    }

    fn on_data(&mut self, data: &[u8], out: &mut Output) -> Result<Flow, ProtocolError> {
        if self.received == 0 && data.first().is_some_and(|&b| b != 22) {
            tracing::warn!(peer = %self.peer, "not TLS: the client sent plain text");
            return Ok(Flow::Close);
        }
        self.received += data.len() as u64;
        self.started.get_or_insert_with(self.clock);
        self.story.0.feed("recv", data, &self.peer);
        let mut input = data;
        while !input.is_empty() {
            match self.conn.read_tls(&mut input) {
                // After the peer's close_notify rustls takes nothing more.
                Ok(0) => return Ok(Flow::Close),
                Ok(_) => {}
                Err(_) => return Err(ProtocolError::Peer("TLS records past rustls' buffer".into())),
            }
            if let Err(e) = self.conn.process_new_packets() {
                // rustls queued an alert saying why: it goes out first.
                self.failed = true;
                self.flush(out);
                tracing::warn!(peer = %self.peer, error = %e, "TLS failed");
                return Ok(Flow::Close);
            }
            self.announce();
            self.pump(out)?;
            self.flush(out);
        }
        // The close_notify follows in on_drain, once a body the inner
        // session may still stream has gone.
        if self.closing && !self.conn.is_handshaking() {
            return Ok(Flow::Close);
        }
        Ok(Flow::Continue)
    }

    fn on_idle(&mut self, out: &mut Output) {
        // A silent connection closed by the server still ends its TLS properly.
        if !self.failed && !self.conn.is_handshaking() {
            if !self.closing {
                self.inner.on_idle(&mut self.inner_out);
            }
            self.closing = true;
            self.notify(out);
        }
    }

    fn on_eof(&mut self, out: &mut Output) -> Result<(), ProtocolError> {
        let ended = self.end_inner(out);
        // The close_notify follows in on_drain (a body may still stream).
        self.closing = true;
        ended
    }

    fn wants_input(&self) -> bool {
        self.inner.wants_input()
    }

    fn wait_limit(&self) -> Option<Duration> {
        if self.conn.is_handshaking() {
            // The handshake must end in time, however slowly its bytes drip.
            let waited = self
                .started
                .map(|t| (self.clock)().duration_since(t).unwrap_or_default())
                .unwrap_or_default();
            return Some(HANDSHAKE_TIMEOUT.saturating_sub(waited));
        }
        self.inner.wait_limit()
    }

    fn on_timeout(&mut self, out: &mut Output) {
        if self.conn.is_handshaking() {
            tracing::info!(peer = %self.peer, "TLS handshake not done in time: closing");
            return;
        }
        self.inner.on_timeout(&mut self.inner_out);
        self.notify(out);
    }

    fn on_drain(&mut self, out: &mut Output) -> Result<Drain, ProtocolError> {
        if self.failed {
            return Ok(Drain::Close);
        }
        if self.conn.is_handshaking() {
            return Ok(Drain::Done);
        }
        let drained = self.inner.on_drain(&mut self.inner_out);
        self.flush(out);
        match drained {
            Ok(Drain::More) => Ok(Drain::More),
            Ok(Drain::Done) if !self.closing => Ok(Drain::Done),
            other => {
                self.notify(out);
                other
            }
        }
    }
}
