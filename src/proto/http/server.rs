//! The one HTTP/1.1 server session: the connection's rules, apart from what
//! any one server answers (h11's split of connection and state). A
//! [`Handler`] turns a request into a [`Reply`]; the session does the rest:
//! - decoding, pipelined requests answered in order, keep-alive and close
//!   (HTTP/1.0 keeps the connection only when asked, and then says so);
//! - the head and body limits (431/413), a refused body read and dropped
//!   boundedly before the close, so the client sees the answer;
//! - `Expect: 100-continue` answered with `100 Continue` (a body that will be
//!   refused gets the final status at once instead);
//! - a head that does not finish within its deadline: 408, then close;
//! - HEAD: the same head, no body; `Date` and `Server` on every response;
//! - bodies that stream: a [`Source`] is read in bounded pieces only when the
//!   driver has sent the last one ([`Session::on_drain`]), so a 1 GiB file
//!   costs a connection one piece of memory, and a client that stops reading
//!   stalls only itself. Requests pipelined behind a streaming body wait,
//!   boundedly, until it is done.
//!
//! Time comes from a [`Clock`] the server passes in: the session never reads
//! the clock itself, so tests fix it.

use super::{HttpError, Request, RequestDecoder};
use crate::proto::Decode as _;
use crate::proto::output::FileRegion;
use crate::proto::{ConnInfo, Drain, Flow, Output, ProtocolError, Session};
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

/// Where the session gets the time (the system clock, in a server).
pub type Clock = fn() -> SystemTime;

/// How long a request head may take to arrive whole by default.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(30);
/// A streamed body is read and sent in pieces of at most this many bytes.
pub const PIECE: usize = 32 * 1024;
/// Requests pipelined behind a streaming body: past this many bytes held,
/// the session asks not to be read from ([`Session::wants_input`]).
const QUEUED_ENOUGH: usize = 64 * 1024;
/// ... and past this many (input already on its way when reading stopped),
/// the connection is closed.
const MAX_QUEUED: usize = 1 << 20;
/// At most this much of a refused body is read and dropped before closing.
const DISCARD_MAX: u64 = 64 << 20;
/// A refused body is dropped until it stops coming for this long.
const DISCARD_WAIT: Duration = Duration::from_secs(2);

/// A body that is read as it is sent (a file).
pub trait Source: Send {
    /// The bytes it gives in all (the `Content-Length`).
    fn len(&self) -> u64;
    /// Whether it gives nothing.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The open file and offset the bytes come from, when they are a file's:
    /// the driver then sends them without reading them (`sendfile`).
    fn file(&self) -> Option<(std::sync::Arc<std::fs::File>, u64)> {
        None
    }
    /// Reads the next bytes; 0 means it ended before `len` (the file shrank).
    ///
    /// # Errors
    /// A failed read; the response is then cut short and the connection closed.
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize>;
}

/// A response body.
pub enum Body {
    /// Bytes in memory.
    Bytes(Vec<u8>),
    /// Bytes read piece by piece while they are sent.
    Stream(Box<dyn Source>),
}

impl Body {
    fn len(&self) -> u64 {
        match self {
            Body::Bytes(b) => b.len() as u64,
            Body::Stream(s) => s.len(),
        }
    }
}

/// What a handler answers.
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// Its reason phrase.
    pub reason: &'static str,
    /// Headers besides `Server`, `Date`, `Content-Length` and `Connection`.
    pub headers: Vec<(&'static str, String)>,
    /// The body (not sent for HEAD, 1xx, 204 and 304).
    pub body: Body,
    /// Close the connection after this response, whatever the request asked.
    pub close: bool,
}

impl Reply {
    /// A reply with an in-memory body.
    pub fn new(status: u16, reason: &'static str, headers: Vec<(&'static str, String)>, body: Vec<u8>) -> Self {
        Reply {
            status,
            reason,
            headers,
            body: Body::Bytes(body),
            close: false,
        }
    }

    /// A short plain-text reply (errors).
    pub fn text(status: u16, reason: &'static str, text: &str) -> Self {
        let headers = vec![("Content-Type", "text/plain; charset=utf-8".to_string())];
        Reply::new(status, reason, headers, text.as_bytes().to_vec())
    }
}

/// What a server answers: a request in, a reply out.
pub trait Handler: Send {
    /// The reply to `req` (its body already read whole).
    fn handle(&mut self, req: &Request) -> Reply;
}

/// The limits of an HTTP server session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpOptions {
    /// The largest request body (413 past it).
    pub max_body: usize,
    /// How long a request head may take from its first byte to its last (408 past it).
    pub head_timeout: Duration,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            max_body: 1 << 20,
            head_timeout: HEAD_TIMEOUT,
        }
    }
}

/// A body being sent.
struct Streaming {
    src: Box<dyn Source>,
    left: u64,
}

/// One connection of an HTTP server.
pub struct HttpSession<H> {
    handler: H,
    decoder: RequestDecoder,
    opts: HttpOptions,
    clock: Clock,
    /// The client, for the access line.
    peer: String,
    /// Bytes of a refused body still to drop before closing.
    discard: u64,
    /// The body being sent, if any.
    stream: Option<Streaming>,
    /// Input that arrived while a body was streaming.
    queued: Vec<u8>,
    /// When the current, incomplete head began.
    head_since: Option<SystemTime>,
    /// The session has answered its last request.
    done: bool,
}

impl<H: Handler> HttpSession<H> {
    /// A session for the client `info` describes.
    pub fn new(handler: H, opts: HttpOptions, clock: Clock, info: &ConnInfo) -> Self {
        HttpSession {
            handler,
            decoder: RequestDecoder::new(opts.max_body),
            opts,
            clock,
            peer: info.peer.map_or_else(|| "unix".to_string(), |p| p.to_string()),
            discard: 0,
            stream: None,
            queued: Vec::new(),
            head_since: None,
            done: false,
        }
    }

    /// Decodes and answers the requests in `input`, in order, until it runs
    /// out, a response closes, or a body starts streaming (the rest waits).
    fn process(&mut self, mut input: &[u8], out: &mut Output) -> Result<Flow, ProtocolError> {
        loop {
            match self.decoder.decode(&mut input) {
                Ok(Some(req)) => {
                    self.head_since = None;
                    if self.respond(&req, out) {
                        self.done = true;
                        return Ok(Flow::Close);
                    }
                    if self.stream.is_some() {
                        self.queue(input)?;
                        return Ok(Flow::Continue);
                    }
                }
                Ok(None) => {
                    if self.decoder.take_continue() {
                        out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                    }
                    return Ok(self.head_deadline(out));
                }
                Err(e) => return Ok(self.refuse(&e, &mut input, out)),
            }
        }
    }

    /// A head that began too long ago and is still not whole: 408.
    fn head_deadline(&mut self, out: &mut Output) -> Flow {
        if !self.decoder.in_head() {
            return Flow::Continue;
        }
        let now = (self.clock)();
        let since = *self.head_since.get_or_insert(now);
        if now.duration_since(since).unwrap_or_default() <= self.opts.head_timeout {
            return Flow::Continue;
        }
        let e = HttpError::new(408, "Request Timeout", "a request head not whole in time");
        self.refuse(&e, &mut &b""[..], out)
    }

    fn queue(&mut self, input: &[u8]) -> Result<(), ProtocolError> {
        if self.queued.len() + input.len() > MAX_QUEUED {
            return Err(ProtocolError::Limit(
                "over 1 MiB of pipelined requests while a body streams".into(),
            ));
        }
        self.queued.extend_from_slice(input);
        Ok(())
    }

    /// Answers one request; returns whether the connection closes after it.
    fn respond(&mut self, req: &Request, out: &mut Output) -> bool {
        if tracing::enabled!(tracing::Level::DEBUG) {
            // -vv: what the client sent, head line by head line (what a browser sends).
            tracing::debug!(
                "< {} {} HTTP/1.{}",
                escape_controls(&req.method),
                escape_controls(&req.path),
                req.minor
            );
            for (name, value) in &req.headers {
                tracing::debug!("< {}: {}", escape_controls(name), escape_controls(value));
            }
        }
        let reply = self.handler.handle(req);
        let close = reply.close || !req.keep_alive;
        let bodiless = matches!(reply.status, 100..=199 | 204 | 304);
        let len = reply.body.len();
        self.head(
            out,
            req.minor,
            &reply,
            (!bodiless).then_some(len),
            close,
            req.keep_alive,
        );
        let sent = if bodiless || req.is_head() { 0 } else { len };
        if sent > 0 {
            match reply.body {
                Body::Bytes(b) => out.extend_from_slice(&b),
                Body::Stream(src) => self.stream = Some(Streaming { src, left: len }),
            }
        }
        tracing::info!(
            "{} \"{} {} HTTP/1.{}\" {} {}",
            self.peer,
            escape_controls(&req.method),
            escape_controls(&req.path),
            req.minor,
            reply.status,
            sent
        );
        close
    }

    /// Appends a response head.
    fn head(&self, out: &mut Output, minor: u8, reply: &Reply, len: Option<u64>, close: bool, asked: bool) {
        let mut head = String::with_capacity(256);
        let _ = write!(
            head,
            "HTTP/1.{} {} {}\r\nServer: netlab\r\nDate: {}\r\n",
            minor.min(1),
            reply.status,
            reply.reason,
            httpdate::fmt_http_date((self.clock)())
        );
        for (name, value) in &reply.headers {
            let _ = write!(head, "{name}: {value}\r\n");
        }
        if let Some(len) = len {
            let _ = write!(head, "Content-Length: {len}\r\n");
        }
        if close {
            head.push_str("Connection: close\r\n");
        } else if minor == 0 && asked {
            // HTTP/1.0 closes unless both sides say otherwise: say it.
            head.push_str("Connection: keep-alive\r\n");
        }
        head.push_str("\r\n");
        out.extend_from_slice(head.as_bytes());
    }

    /// A request refused before its body was read: answer, then drop what
    /// of the body is still coming.
    fn refuse(&mut self, e: &HttpError, input: &mut &[u8], out: &mut Output) -> Flow {
        tracing::warn!(peer = %self.peer, status = e.status, "{}", e.detail);
        let answer = Reply::new(e.status, e.reason, Vec::new(), Vec::new());
        self.head(out, 1, &answer, Some(0), true, false);
        self.done = true;
        self.discard = e.discard.min(DISCARD_MAX);
        self.drop_input(input)
    }

    fn drop_input(&mut self, input: &mut &[u8]) -> Flow {
        let dropped = crate::proto::decode::take(input, usize::try_from(self.discard).unwrap_or(usize::MAX));
        self.discard -= dropped.len() as u64;
        if self.discard == 0 { Flow::Close } else { Flow::Continue }
    }

    /// Sends the next piece of the streaming body.
    fn next_piece(&mut self, out: &mut Output) -> Drain {
        let Some(s) = &mut self.stream else {
            return Drain::Done;
        };
        if out.accepts_files()
            && let Some((file, offset)) = s.src.file()
        {
            // All of it at once: the driver sends it from the file.
            out.push_file(FileRegion {
                file,
                offset,
                len: s.left,
            });
            s.left = 0;
            return Drain::More;
        }
        let want = usize::try_from(s.left).unwrap_or(PIECE).min(PIECE);
        let buf = out.vec_mut();
        let start = buf.len();
        buf.resize(start + want, 0);
        let got = buf.get_mut(start..).map_or(Ok(0), |b| s.src.read(b));
        let n = got.as_ref().map_or(0, |n| (*n).min(want));
        buf.truncate(start + n);
        if n == 0 {
            // The head promised more than there is: only a close tells the client.
            let why = got
                .err()
                .map_or_else(|| "the file shrank".to_string(), |e| e.to_string());
            tracing::warn!(peer = %self.peer, left = s.left, "body cut short: {why}");
            self.stream = None;
            self.done = true;
            return Drain::Close;
        }
        s.left -= n as u64;
        if s.left == 0 {
            self.stream = None;
        }
        Drain::More
    }
}

/// Control characters as `\x1b`, so a request line cannot drive the
/// operator's terminal through the log.
pub fn escape_controls(text: &str) -> String {
    let mut shown = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            let _ = write!(shown, "\\x{:02x}", u32::from(c));
        } else {
            shown.push(c);
        }
    }
    shown
}

impl<H: Handler> Session for HttpSession<H> {
    fn on_data(&mut self, mut data: &[u8], out: &mut Output) -> Result<Flow, ProtocolError> {
        if self.discard > 0 {
            return Ok(self.drop_input(&mut data));
        }
        if self.done {
            return Ok(Flow::Close);
        }
        if self.stream.is_some() || !self.queued.is_empty() {
            self.queue(data)?;
            return Ok(Flow::Continue);
        }
        if self.head_deadline(out) == Flow::Close {
            return Ok(Flow::Close);
        }
        self.process(data, out)
    }

    fn on_drain(&mut self, out: &mut Output) -> Result<Drain, ProtocolError> {
        match &self.stream {
            Some(s) if s.left > 0 => return Ok(self.next_piece(out)),
            // A file region given whole has been sent: the body is done.
            Some(_) => self.stream = None,
            None => {}
        }
        if self.done || self.queued.is_empty() {
            return Ok(Drain::Done);
        }
        let queued = std::mem::take(&mut self.queued);
        match self.process(&queued, out)? {
            Flow::Close => Ok(Drain::Close),
            Flow::Continue if self.stream.is_some() => Ok(Drain::More),
            Flow::Continue => Ok(Drain::Done),
        }
    }

    fn wants_input(&self) -> bool {
        self.queued.len() < QUEUED_ENOUGH
    }

    fn wait_limit(&self) -> Option<Duration> {
        if self.discard > 0 {
            // A refused body still coming: dropped for a while, not forever.
            return Some(DISCARD_WAIT);
        }
        if !self.decoder.in_head() {
            return None;
        }
        let since = self.head_since?;
        let waited = (self.clock)().duration_since(since).unwrap_or_default();
        Some(self.opts.head_timeout.saturating_sub(waited))
    }

    fn on_timeout(&mut self, out: &mut Output) {
        if self.discard > 0 || self.done {
            self.discard = 0;
            return;
        }
        let e = HttpError::new(408, "Request Timeout", "a request head not whole in time");
        self.refuse(&e, &mut &b""[..], out);
    }

    fn on_eof(&mut self, _out: &mut Output) -> Result<(), ProtocolError> {
        if self.decoder.is_idle() || self.discard > 0 || self.stream.is_some() || !self.queued.is_empty() {
            return Ok(());
        }
        Err(ProtocolError::Truncated(
            "the client closed in the middle of a request".into(),
        ))
    }
}

#[cfg(test)]
mod tests;
