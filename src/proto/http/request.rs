//! Requests: the server side's streaming decoder.

use super::body::{BodyDecoder, Framing, Piece};
use super::{HeadReader, HttpError, MAX_HEADERS, accepts_gzip, content_length, header_text, lists};

/// One request, head and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method, as sent (`POST`, `GET`...).
    pub method: String,
    /// The request target, as sent (`/RPC2`, `/a%20b?q=1`).
    pub path: String,
    /// 1 for HTTP/1.1, 0 for HTTP/1.0.
    pub minor: u8,
    /// The client wants the connection kept after the response.
    pub keep_alive: bool,
    /// `Accept-Encoding` lists `gzip` with a non-zero q.
    pub accept_gzip: bool,
    /// `Content-Encoding` of the body, if any (lowercase).
    pub content_encoding: Option<String>,
    /// Every header as sent: the name as spelled, the value trimmed (bytes
    /// that are not UTF-8 replaced). Look them up with [`Request::header`].
    pub headers: Vec<(String, String)>,
    /// The body (a chunked one decoded).
    pub body: Vec<u8>,
}

impl Request {
    /// The first header called `name`, whatever its case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the method is `HEAD` (the response gets no body).
    pub fn is_head(&self) -> bool {
        self.method.eq_ignore_ascii_case("HEAD")
    }
}

#[derive(Debug)]
enum ReqState {
    Head(HeadReader),
    Body { req: Request, body: BodyDecoder },
}

/// The streaming request decoder of one connection.
#[derive(Debug)]
pub struct RequestDecoder {
    state: ReqState,
    max_body: usize,
    /// A head asked for `100 Continue` and its body has not come yet.
    continue_due: bool,
}

impl RequestDecoder {
    /// A decoder refusing bodies over `max_body` bytes.
    pub fn new(max_body: usize) -> Self {
        RequestDecoder {
            state: ReqState::Head(HeadReader::default()),
            max_body,
            continue_due: false,
        }
    }

    /// Whether the decoder is between requests (nothing of a next one taken).
    pub fn is_idle(&self) -> bool {
        matches!(&self.state, ReqState::Head(r) if r.is_empty())
    }

    /// Whether part of a head has arrived and its end has not.
    pub fn in_head(&self) -> bool {
        matches!(&self.state, ReqState::Head(r) if !r.is_empty())
    }

    /// Whether the client waits for `100 Continue` before it sends the body
    /// (`Expect: 100-continue`); true once per such request.
    pub fn take_continue(&mut self) -> bool {
        std::mem::take(&mut self.continue_due)
    }
}

impl crate::proto::Decode for RequestDecoder {
    type Item<'a> = Request;
    type Error = HttpError;

    /// Takes bytes from the front of `input`; returns the next whole request,
    /// or `None` when `input` ran out first (what was taken is kept).
    ///
    /// # Errors
    /// An [`HttpError`] whose status is the answer; the connection should
    /// then be answered and closed.
    fn decode(&mut self, input: &mut &[u8]) -> Result<Option<Request>, HttpError> {
        loop {
            match &mut self.state {
                ReqState::Head(reader) => {
                    if reader.is_empty() {
                        not_a_request(input)?;
                    }
                    let Some(head) = reader.take(input)? else {
                        return Ok(None);
                    };
                    let (req, framing) = parse_request(&head, self.max_body)?;
                    self.continue_due = req.minor >= 1
                        && framing != Framing::Length(0)
                        && req
                            .header("expect")
                            .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"));
                    let body = BodyDecoder::new(framing);
                    self.state = ReqState::Body { req, body };
                }
                ReqState::Body { req, body } => {
                    match body.next(input)? {
                        Piece::Data(d) => {
                            if req.body.len() + d.len() > self.max_body {
                                return Err(too_large(
                                    format!("a chunked body past --max-body {}", self.max_body),
                                    u64::MAX,
                                ));
                            }
                            req.body.extend_from_slice(d);
                            continue;
                        }
                        Piece::NeedMore => return Ok(None),
                        Piece::Done => {}
                    }
                    self.continue_due = false;
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
}

/// A request starts with its method (a token) or a stray line end: any
/// other first byte (a TLS ClientHello's 0x16, binary) is refused at once
/// instead of waiting for a blank line that will never come.
fn not_a_request(input: &[u8]) -> Result<(), HttpError> {
    match input.first() {
        Some(&b) if !(b.is_ascii_alphabetic() || b == b'\r' || b == b'\n') => Err(HttpError::new(
            400,
            "Bad Request",
            if b == 0x16 {
                "a TLS handshake sent to a plain HTTP server".to_string()
            } else {
                format!("not an HTTP request (it began with byte {b:#04x})")
            },
        )),
        _ => Ok(()),
    }
}

fn too_large(detail: String, discard: u64) -> HttpError {
    let mut e = HttpError::new(413, "Payload Too Large", detail);
    e.discard = discard;
    e
}

fn parse_request(head: &[u8], max_body: usize) -> Result<(Request, Framing), HttpError> {
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
    let framing = framing(headers, &method, max_body)?;
    if minor == 0 && framing == Framing::Chunked {
        // HTTP/1.0 has no transfer codings (RFC 9112 §6.1): the framing is in doubt.
        return Err(HttpError::new(
            400,
            "Bad Request",
            "Transfer-Encoding in an HTTP/1.0 request",
        ));
    }
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
    let capacity = match framing {
        Framing::Length(n) => usize::try_from(n).unwrap_or(0).min(64 * 1024),
        _ => 0,
    };
    let req = Request {
        method,
        path: parsed.path.unwrap_or_default().to_string(),
        minor,
        keep_alive,
        accept_gzip: accepts_gzip(headers),
        content_encoding,
        headers: headers
            .iter()
            .map(|h| (h.name.to_string(), String::from_utf8_lossy(h.value).trim().to_string()))
            .collect(),
        body: Vec::with_capacity(capacity),
    };
    Ok((req, framing))
}

/// How the request's body is framed: chunked (the last transfer coding),
/// a length within `max_body`, or none.
fn framing(headers: &[httparse::Header<'_>], method: &str, max_body: usize) -> Result<Framing, HttpError> {
    let codings: Vec<String> = headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("transfer-encoding"))
        .flat_map(|h| {
            header_text(h.value)
                .split(',')
                .map(|t| t.trim().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    let length = content_length(headers)?;
    if !codings.is_empty() {
        if length.is_some() {
            // Both: the classic request-smuggling ambiguity (RFC 9112 §6.3).
            return Err(HttpError::new(
                400,
                "Bad Request",
                "both Transfer-Encoding and Content-Length",
            ));
        }
        if codings.iter().map(String::as_str).ne(["chunked"]) {
            return Err(HttpError::new(
                501,
                "Not Implemented",
                format!("transfer coding '{}' is not supported", codings.join(", ")),
            ));
        }
        return Ok(Framing::Chunked);
    }
    match length {
        Some(n) if usize::try_from(n).is_ok_and(|n| n <= max_body) => Ok(Framing::Length(n)),
        Some(n) => Err(too_large(
            format!("a body of {n} bytes, above --max-body {max_body}"),
            n,
        )),
        None if method.eq_ignore_ascii_case("POST") => {
            Err(HttpError::new(411, "Length Required", "a POST without Content-Length"))
        }
        None => Ok(Framing::Length(0)),
    }
}
