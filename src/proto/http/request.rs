//! Requests: the server side's streaming decoder.

use super::{HeadReader, HttpError, MAX_HEADERS, accepts_gzip, content_length, header_text, lists};

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

    /// Whether the decoder is between requests (nothing of a next one taken).
    pub fn is_idle(&self) -> bool {
        matches!(&self.state, ReqState::Head(r) if r.is_empty())
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
                    let Some(head) = reader.take(input)? else {
                        return Ok(None);
                    };
                    let (req, want) = parse_request(&head, self.max_body)?;
                    self.state = ReqState::Body { req, want };
                }
                ReqState::Body { req, want } => {
                    req.body
                        .extend_from_slice(crate::proto::decode::take(input, *want - req.body.len()));
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
