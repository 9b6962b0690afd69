//! HTTP/1.1 messages without sockets, on `httparse`: request heads and
//! `Content-Length` bodies for servers, response heads and bodies for
//! clients, and the writer of responses and requests.
//!
//! Limits and rules:
//! - a head is at most [`MAX_HEAD`] bytes (431 past it) and at most
//!   [`MAX_HEADERS`] headers; `httparse` cannot resume a partial parse, so
//!   the head is parsed once, when its blank line has arrived — a head
//!   dripped one byte at a time costs linear time, not quadratic;
//! - a body is read only with a `Content-Length`, and only up to the limit:
//!   a larger one is refused (413) before a byte of it is stored; chunked
//!   request bodies are not supported (501);
//! - pipelined requests come out one at a time, in order; the bytes of the
//!   next one stay in the input.

use std::fmt::Write as _;

/// The largest request or response head accepted.
pub const MAX_HEAD: usize = 16 * 1024;
/// The most headers accepted in one head.
pub const MAX_HEADERS: usize = 64;

/// A message that cannot be accepted, with the status that says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("HTTP {status} {reason}: {detail}")]
pub struct HttpError {
    /// The status to answer with (400, 411, 413, 431, 501, 505).
    pub status: u16,
    /// Its reason phrase.
    pub reason: &'static str,
    /// What was wrong, for the log.
    pub detail: String,
    /// Body bytes that follow the head and should be read and dropped
    /// before closing, so the peer's send completes and it sees the answer.
    pub discard: u64,
}

impl HttpError {
    fn new(status: u16, reason: &'static str, detail: impl Into<String>) -> Self {
        HttpError {
            status,
            reason,
            detail: detail.into(),
            discard: 0,
        }
    }
}

/// Accumulates a head until its blank line, scanning each new byte once.
#[derive(Debug, Default)]
struct HeadReader {
    buf: Vec<u8>,
}

impl HeadReader {
    /// Takes bytes from `input` up to the end of the head; returns the whole
    /// head (blank line included) once it is there.
    fn take(&mut self, input: &mut &[u8]) -> Result<Option<Vec<u8>>, HttpError> {
        let scan_from = self.buf.len().saturating_sub(3);
        let room = (MAX_HEAD + 1).saturating_sub(self.buf.len());
        let n = room.min(input.len());
        self.buf.extend_from_slice(input.get(..n).unwrap_or_default());
        let Some(end) = head_end(&self.buf, scan_from) else {
            *input = input.get(n..).unwrap_or_default();
            if self.buf.len() > MAX_HEAD {
                return Err(HttpError::new(
                    431,
                    "Request Header Fields Too Large",
                    "head over 16 KiB",
                ));
            }
            return Ok(None);
        };
        // Give back what was taken beyond the head.
        let extra = self.buf.len() - end;
        *input = input.get(n - extra..).unwrap_or_default();
        self.buf.truncate(end);
        Ok(Some(std::mem::take(&mut self.buf)))
    }

    fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

/// Where the head ends (just past `\r\n\r\n` or `\n\n`), looking from `from`.
fn head_end(buf: &[u8], from: usize) -> Option<usize> {
    let tail = buf.get(from..)?;
    let mut i = 0;
    while i < tail.len() {
        if tail.get(i) == Some(&b'\n') {
            if tail.get(i + 1) == Some(&b'\n') {
                return Some(from + i + 2);
            }
            if tail.get(i + 1) == Some(&b'\r') && tail.get(i + 2) == Some(&b'\n') {
                return Some(from + i + 3);
            }
        }
        i += 1;
    }
    None
}

/// One request, head and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method, as sent (`POST`, `GET`...).
    pub method: String,
    /// The request target (`/RPC2`).
    pub path: String,
    /// 1 for HTTP/1.1, 0 for HTTP/1.0.
    pub minor: u8,
    /// The client wants the connection kept after the response.
    pub keep_alive: bool,
    /// `Accept-Encoding` lists `gzip` with a non-zero q.
    pub accept_gzip: bool,
    /// `Content-Encoding` of the body, if any (lowercase).
    pub content_encoding: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

#[derive(Debug)]
enum ReqState {
    Head(HeadReader),
    Body { req: Request, want: usize },
}

/// The streaming request decoder of one connection.
#[derive(Debug)]
pub struct RequestDecoder {
    state: ReqState,
    max_body: usize,
}

impl RequestDecoder {
    /// A decoder refusing bodies over `max_body` bytes.
    pub fn new(max_body: usize) -> Self {
        RequestDecoder {
            state: ReqState::Head(HeadReader::default()),
            max_body,
        }
    }

    /// Takes bytes from the front of `input`; returns the next whole request,
    /// or `None` when `input` ran out first (what was taken is kept).
    ///
    /// # Errors
    /// An [`HttpError`] whose status is the answer; the connection should
    /// then be answered and closed.
    pub fn decode(&mut self, input: &mut &[u8]) -> Result<Option<Request>, HttpError> {
        loop {
            match &mut self.state {
                ReqState::Head(reader) => {
                    let Some(head) = reader.take(input)? else {
                        return Ok(None);
                    };
                    let (req, want) = parse_request(&head, self.max_body)?;
                    self.state = ReqState::Body { req, want };
                }
                ReqState::Body { req, want } => {
                    let n = (*want - req.body.len()).min(input.len());
                    req.body.extend_from_slice(input.get(..n).unwrap_or_default());
                    *input = input.get(n..).unwrap_or_default();
                    if req.body.len() < *want {
                        return Ok(None);
                    }
                    let ReqState::Body { req, .. } =
                        std::mem::replace(&mut self.state, ReqState::Head(HeadReader::default()))
                    else {
                        return Ok(None);
                    };
                    return Ok(Some(req));
                }
            }
        }
    }

    /// Whether the decoder is between requests (nothing of a next one taken).
    pub fn is_idle(&self) -> bool {
        matches!(&self.state, ReqState::Head(r) if r.is_empty())
    }
}

fn header_text(value: &[u8]) -> String {
    String::from_utf8_lossy(value).trim().to_ascii_lowercase()
}

/// The announced body length: `None` without the header.
fn content_length(headers: &[httparse::Header<'_>]) -> Result<Option<u64>, HttpError> {
    let mut found = None;
    for h in headers.iter().filter(|h| h.name.eq_ignore_ascii_case("content-length")) {
        let n: u64 = header_text(h.value)
            .parse()
            .map_err(|_| HttpError::new(400, "Bad Request", "a Content-Length that is not a number"))?;
        if found.is_some_and(|f| f != n) {
            return Err(HttpError::new(400, "Bad Request", "two different Content-Lengths"));
        }
        found = Some(n);
    }
    Ok(found)
}

/// Whether a comma-separated header lists `token` (case-insensitively).
fn lists(headers: &[httparse::Header<'_>], name: &str, token: &str) -> bool {
    headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case(name))
        .any(|h| header_text(h.value).split(',').any(|t| t.trim() == token))
}

/// Whether `Accept-Encoding` accepts gzip (listed, and not with q=0).
fn accepts_gzip(headers: &[httparse::Header<'_>]) -> bool {
    headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("accept-encoding"))
        .flat_map(|h| header_text(h.value).split(',').map(str::to_string).collect::<Vec<_>>())
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            parts.next() == Some("gzip")
                && parts.all(|p| {
                    p.strip_prefix("q=")
                        .is_none_or(|q| q.parse::<f64>().is_ok_and(|q| q > 0.0))
                })
        })
}

fn parse_request(head: &[u8], max_body: usize) -> Result<(Request, usize), HttpError> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut slots);
    match parsed.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(HttpError::new(400, "Bad Request", "an incomplete head")),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(HttpError::new(
                431,
                "Request Header Fields Too Large",
                "too many headers",
            ));
        }
        Err(httparse::Error::Version) => {
            return Err(HttpError::new(
                505,
                "HTTP Version Not Supported",
                "only HTTP/1.0 and 1.1",
            ));
        }
        Err(e) => return Err(HttpError::new(400, "Bad Request", e.to_string())),
    }
    let headers = &*parsed.headers;
    let minor = parsed.version.unwrap_or(0);
    let method = parsed.method.unwrap_or_default().to_string();
    if headers.iter().any(|h| h.name.eq_ignore_ascii_case("transfer-encoding")) {
        return Err(HttpError::new(
            501,
            "Not Implemented",
            "chunked request bodies are not supported",
        ));
    }
    let length = match content_length(headers)? {
        Some(n) => n,
        None if method.eq_ignore_ascii_case("POST") => {
            return Err(HttpError::new(411, "Length Required", "a POST without Content-Length"));
        }
        None => 0,
    };
    let want = match usize::try_from(length) {
        Ok(n) if n <= max_body => n,
        _ => {
            let mut e = HttpError::new(
                413,
                "Payload Too Large",
                format!("a body of {length} bytes, above --max-body {max_body}"),
            );
            e.discard = length;
            return Err(e);
        }
    };
    let keep_alive = if minor == 1 {
        !lists(headers, "connection", "close")
    } else {
        lists(headers, "connection", "keep-alive")
    };
    let content_encoding = headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-encoding"))
        .map(|h| header_text(h.value))
        .filter(|e| e != "identity");
    let req = Request {
        method,
        path: parsed.path.unwrap_or_default().to_string(),
        minor,
        keep_alive,
        accept_gzip: accepts_gzip(headers),
        content_encoding,
        body: Vec::with_capacity(want.min(64 * 1024)),
    };
    Ok((req, want))
}

/// Appends a response: status line, `Content-Length`, the extra headers,
/// `Connection: close` when `close`, then the body.
pub fn write_response(
    out: &mut Vec<u8>,
    minor: u8,
    status: u16,
    reason: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    close: bool,
) {
    let mut head = String::with_capacity(128);
    let _ = write!(
        head,
        "HTTP/1.{} {status} {reason}\r\nServer: netlab/{}\r\n",
        minor.min(1),
        env!("CARGO_PKG_VERSION")
    );
    for (name, value) in headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    let _ = write!(head, "Content-Length: {}\r\n", body.len());
    if close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(body);
}

/// Appends a POST request with a body.
pub fn write_post(out: &mut Vec<u8>, host: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) {
    let mut head = String::with_capacity(160);
    let _ = write!(head, "POST {path} HTTP/1.1\r\nHost: {host}\r\n");
    for (name, value) in headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    let _ = write!(head, "Content-Length: {}\r\n\r\n", body.len());
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(body);
}

/// One response, head and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The reason phrase.
    pub reason: String,
    /// The server keeps the connection.
    pub keep_alive: bool,
    /// `Content-Encoding` of the body, if any (lowercase).
    pub content_encoding: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

#[derive(Debug)]
enum RespState {
    Head(HeadReader),
    /// `want`: the body's length, or `None` to read until the server closes.
    Body {
        resp: Response,
        want: Option<usize>,
    },
}

/// The streaming response decoder of one client connection.
#[derive(Debug)]
pub struct ResponseDecoder {
    state: RespState,
    max_body: usize,
}

impl ResponseDecoder {
    /// A decoder refusing bodies over `max_body` bytes.
    pub fn new(max_body: usize) -> Self {
        ResponseDecoder {
            state: RespState::Head(HeadReader::default()),
            max_body,
        }
    }

    /// Takes bytes from `input`; returns the response once whole.
    ///
    /// # Errors
    /// A head that does not parse, or a body over the limit.
    pub fn decode(&mut self, input: &mut &[u8]) -> Result<Option<Response>, HttpError> {
        loop {
            match &mut self.state {
                RespState::Head(reader) => {
                    let Some(head) = reader.take(input)? else {
                        return Ok(None);
                    };
                    let (resp, want) = parse_response(&head, self.max_body)?;
                    self.state = RespState::Body { resp, want };
                }
                RespState::Body { resp, want } => {
                    let limit = want.unwrap_or(self.max_body + 1);
                    let n = (limit - resp.body.len()).min(input.len());
                    resp.body.extend_from_slice(input.get(..n).unwrap_or_default());
                    *input = input.get(n..).unwrap_or_default();
                    if want.is_none() && resp.body.len() > self.max_body {
                        return Err(HttpError::new(413, "Payload Too Large", "a response over the limit"));
                    }
                    if want.is_none_or(|w| resp.body.len() < w) {
                        return Ok(None);
                    }
                    return Ok(self.finish());
                }
            }
        }
    }

    /// The server closed: a response read until EOF is now complete.
    ///
    /// # Errors
    /// When the close cut a head or a sized body short.
    pub fn eof(&mut self) -> Result<Option<Response>, HttpError> {
        match &self.state {
            RespState::Body { want: None, .. } => Ok(self.finish()),
            RespState::Head(r) if r.is_empty() => Ok(None),
            _ => Err(HttpError::new(
                502,
                "Bad Gateway",
                "the server closed in the middle of its response",
            )),
        }
    }

    fn finish(&mut self) -> Option<Response> {
        match std::mem::replace(&mut self.state, RespState::Head(HeadReader::default())) {
            RespState::Body { resp, .. } => Some(resp),
            RespState::Head(_) => None,
        }
    }
}

fn parse_response(head: &[u8], max_body: usize) -> Result<(Response, Option<usize>), HttpError> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut slots);
    match parsed.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(HttpError::new(502, "Bad Gateway", "an incomplete response head")),
        Err(e) => {
            return Err(HttpError::new(
                502,
                "Bad Gateway",
                format!("a response head that does not parse: {e}"),
            ));
        }
    }
    let headers = &*parsed.headers;
    let minor = parsed.version.unwrap_or(0);
    let want = match content_length(headers)? {
        Some(n) => Some(usize::try_from(n).ok().filter(|n| *n <= max_body).ok_or_else(|| {
            HttpError::new(
                413,
                "Payload Too Large",
                format!("a response of {n} bytes, over the limit"),
            )
        })?),
        None if headers.iter().any(|h| h.name.eq_ignore_ascii_case("transfer-encoding")) => {
            return Err(HttpError::new(
                502,
                "Bad Gateway",
                "chunked responses are not supported",
            ));
        }
        None => None,
    };
    let keep_alive = want.is_some()
        && if minor == 1 {
            !lists(headers, "connection", "close")
        } else {
            lists(headers, "connection", "keep-alive")
        };
    let resp = Response {
        status: parsed.code.unwrap_or(0),
        reason: parsed.reason.unwrap_or_default().to_string(),
        keep_alive,
        content_encoding: headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("content-encoding"))
            .map(|h| header_text(h.value)),
        body: Vec::new(),
    };
    Ok((resp, want))
}

#[cfg(test)]
mod tests {
    use super::*;

    const POST: &[u8] = b"POST /RPC2 HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nContent-Length: 5\r\n\r\nhello";

    fn decode_split(wire: &[u8], step: usize, max: usize) -> Result<(Vec<Request>, usize), HttpError> {
        let mut dec = RequestDecoder::new(max);
        let mut got = Vec::new();
        for piece in wire.chunks(step.max(1)) {
            let mut input = piece;
            while let Some(r) = dec.decode(&mut input)? {
                got.push(r);
            }
            assert!(input.is_empty());
        }
        Ok((got, usize::from(!dec.is_idle())))
    }

    #[test]
    fn a_request_whole_byte_by_byte_and_pipelined() {
        let two = [POST, b"POST / HTTP/1.0\nContent-Length: 2\n\nhi"].concat();
        for step in [two.len(), 1, 7] {
            let (reqs, pending) = decode_split(&two, step, 100).expect("decode");
            assert_eq!((reqs.len(), pending), (2, 0), "step {step}");
            assert_eq!(reqs[0].body, b"hello");
            assert_eq!(
                (reqs[0].path.as_str(), reqs[0].minor, reqs[0].keep_alive),
                ("/RPC2", 1, true)
            );
            assert!(reqs[0].accept_gzip);
            assert_eq!(
                (reqs[1].body.as_slice(), reqs[1].minor, reqs[1].keep_alive),
                (&b"hi"[..], 0, false)
            );
        }
    }

    #[test]
    fn trailing_bytes_stay_in_the_input() {
        let mut dec = RequestDecoder::new(100);
        let wire = [POST, b"GET /"].concat();
        let mut input = wire.as_slice();
        assert!(dec.decode(&mut input).expect("decode").is_some());
        assert_eq!(input, b"GET /");
    }

    #[test]
    fn limits_and_their_statuses() {
        let status = |wire: &[u8], max| decode_split(wire, wire.len(), max).err().map(|e| e.status);
        assert_eq!(status(POST, 4), Some(413));
        assert_eq!(status(b"POST / HTTP/1.1\r\nHost: x\r\n\r\n", 100), Some(411));
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 100),
            Some(501)
        );
        assert_eq!(status(b"POST / HTTP/2.0\r\n\r\n", 100), Some(505));
        assert_eq!(status(b"\x16\x03\x01 garbage\r\n\r\n", 100), Some(400));
        assert_eq!(status(b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n", 100), Some(400));
        let huge = [b"POST / HTTP/1.1\r\nX: ".as_slice(), &[b'a'; MAX_HEAD], b"\r\n\r\n"].concat();
        assert_eq!(status(&huge, 100), Some(431));
        let many: Vec<u8> = [
            b"GET / HTTP/1.1\r\n".to_vec(),
            b"A: b\r\n".repeat(MAX_HEADERS + 1),
            b"\r\n".to_vec(),
        ]
        .concat();
        assert_eq!(status(&many, 100), Some(431));
        let e = decode_split(POST, POST.len(), 4).err();
        assert_eq!(e.map(|e| e.discard), Some(5), "the body to drop before closing");
    }

    #[test]
    fn a_slow_head_is_scanned_once() {
        // Dripped one byte at a time: the terminator is found, nothing more.
        let (reqs, _) = decode_split(POST, 1, 100).expect("decode");
        assert_eq!(reqs.len(), 1);
        assert_eq!(head_end(b"a\r\n\r\nb", 0), Some(5));
        assert_eq!(head_end(b"a\n\nb", 0), Some(3));
        assert_eq!(head_end(b"a\r\nb", 0), None);
    }

    #[test]
    fn connection_and_encoding_headers() {
        let wire = b"POST / HTTP/1.1\r\nConnection: Close\r\nAccept-Encoding: deflate, gzip;q=0\r\nContent-Encoding: gzip\r\nContent-Length: 0\r\n\r\n";
        let (reqs, _) = decode_split(wire, wire.len(), 10).expect("decode");
        assert!(!reqs[0].keep_alive && !reqs[0].accept_gzip);
        assert_eq!(reqs[0].content_encoding.as_deref(), Some("gzip"));
        let ka = b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
        assert!(decode_split(ka, 3, 10).expect("decode").0[0].keep_alive);
    }

    #[test]
    fn responses_written_and_read_back() {
        let mut wire = Vec::new();
        write_response(&mut wire, 1, 200, "OK", &[("Content-Type", "text/xml")], b"<x/>", false);
        write_response(&mut wire, 1, 413, "Payload Too Large", &[], b"", true);
        let mut dec = ResponseDecoder::new(100);
        let mut input = wire.as_slice();
        let first = dec.decode(&mut input).expect("decode").expect("first");
        assert_eq!(
            (first.status, first.keep_alive, first.body.as_slice()),
            (200, true, &b"<x/>"[..])
        );
        let second = dec.decode(&mut input).expect("decode").expect("second");
        assert_eq!((second.status, second.keep_alive), (413, false));
        let mut until_eof = ResponseDecoder::new(100);
        let mut input: &[u8] = b"HTTP/1.0 200 OK\r\n\r\nbody";
        assert_eq!(until_eof.decode(&mut input), Ok(None));
        assert_eq!(until_eof.eof().expect("eof").map(|r| r.body), Some(b"body".to_vec()));
        let mut post = Vec::new();
        write_post(&mut post, "h:1", "/RPC2", &[("Content-Type", "text/xml")], b"<b/>");
        let mut reqs = RequestDecoder::new(100);
        let mut input = post.as_slice();
        assert_eq!(
            reqs.decode(&mut input).expect("decode").map(|r| r.body),
            Some(b"<b/>".to_vec())
        );
    }
}
