//! Responses: the client side's streaming decoders. [`HeadDecoder`] gives a
//! response's head and how its body is framed, for a client that streams the
//! body on (`http get`); [`ResponseDecoder`] gives whole responses (`rpc call`,
//! `bench`).

use super::body::{BodyDecoder, Framing, Piece};
use super::{HeadReader, HttpError, MAX_HEADERS, content_length, header_text, lists};

/// A response's status line and headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// The status code.
    pub status: u16,
    /// The reason phrase.
    pub reason: String,
    /// 1 for HTTP/1.1, 0 for HTTP/1.0.
    pub minor: u8,
    /// Every header, the name as spelled and the value trimmed.
    pub headers: Vec<(String, String)>,
    /// How the body's end is found.
    pub framing: Framing,
    /// The server keeps the connection after the body.
    pub keep_alive: bool,
}

impl ResponseHead {
    /// The first header called `name`, whatever its case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads response heads, skipping interim `1xx` ones.
#[derive(Debug, Default)]
pub struct HeadDecoder {
    reader: HeadReader,
    /// The request was HEAD: whatever the headers say, no body follows.
    for_head: bool,
}

impl HeadDecoder {
    /// A decoder for the response to a request; `for_head` when it was HEAD.
    pub fn new(for_head: bool) -> Self {
        HeadDecoder {
            reader: HeadReader::default(),
            for_head,
        }
    }

    /// Whether nothing of a head has been taken.
    pub fn is_idle(&self) -> bool {
        self.reader.is_empty()
    }

    /// Takes bytes from `input`; returns the final head once whole.
    ///
    /// # Errors
    /// Bytes that are not an HTTP response (checked from the first byte, so
    /// a server speaking another protocol fails at once), or a bad head.
    pub fn decode(&mut self, input: &mut &[u8]) -> Result<Option<ResponseHead>, HttpError> {
        loop {
            not_http(self.reader.bytes(), input)?;
            let Some(head) = self.reader.take(input)? else {
                return Ok(None);
            };
            let head = parse_head(&head, self.for_head)?;
            if (100..200).contains(&head.status) {
                continue; // 100 Continue and friends: the real answer follows
            }
            return Ok(Some(head));
        }
    }
}

/// Fails when the first bytes of a response (`held`, then `input`) are not
/// the start of `HTTP/`: a server speaking another protocol (an SSH banner,
/// TLS) is told apart at once instead of waiting for a blank line.
fn not_http(held: &[u8], input: &[u8]) -> Result<(), HttpError> {
    if held.len() >= 5 {
        return Ok(());
    }
    let seen: Vec<u8> = held.iter().chain(input.iter()).take(40).copied().collect();
    let n = seen.len().min(5);
    if seen.get(..n) == b"HTTP/".get(..n) {
        return Ok(());
    }
    let shown: String = String::from_utf8_lossy(&seen)
        .chars()
        .map(|c| if c.is_control() { '.' } else { c })
        .collect();
    Err(HttpError::new(
        502,
        "Bad Gateway",
        format!("the server does not speak HTTP (it sent '{shown}')"),
    ))
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
    Head(HeadDecoder),
    Body { resp: Response, body: BodyDecoder },
}

/// The streaming decoder of whole responses on one client connection.
#[derive(Debug)]
pub struct ResponseDecoder {
    state: RespState,
    max_body: usize,
}

impl ResponseDecoder {
    /// A decoder refusing bodies over `max_body` bytes.
    pub fn new(max_body: usize) -> Self {
        ResponseDecoder {
            state: RespState::Head(HeadDecoder::default()),
            max_body,
        }
    }

    /// The server closed: a response read until EOF is now complete.
    ///
    /// # Errors
    /// When the close cut a head or a sized body short.
    pub fn eof(&mut self) -> Result<Option<Response>, HttpError> {
        let complete = match &mut self.state {
            RespState::Head(h) if h.is_idle() => return Ok(None),
            RespState::Head(_) => false,
            RespState::Body { body, .. } => body.eof().is_ok(),
        };
        match complete {
            true => Ok(self.finish()),
            false => Err(HttpError::new(
                502,
                "Bad Gateway",
                "the server closed in the middle of its response",
            )),
        }
    }

    fn finish(&mut self) -> Option<Response> {
        match std::mem::replace(&mut self.state, RespState::Head(HeadDecoder::default())) {
            RespState::Body { resp, .. } => Some(resp),
            RespState::Head(_) => None,
        }
    }
}

impl crate::proto::Decode for ResponseDecoder {
    type Item<'a> = Response;
    type Error = HttpError;

    /// Takes bytes from `input`; returns the response once whole.
    ///
    /// # Errors
    /// A head that does not parse, or a body over the limit.
    fn decode(&mut self, input: &mut &[u8]) -> Result<Option<Response>, HttpError> {
        loop {
            match &mut self.state {
                RespState::Head(decoder) => {
                    let Some(head) = decoder.decode(input)? else {
                        return Ok(None);
                    };
                    if let Framing::Length(n) = head.framing
                        && usize::try_from(n).is_ok_and(|n| n > self.max_body)
                    {
                        return Err(over_limit(n));
                    }
                    let content_encoding = head.header("content-encoding").map(str::to_ascii_lowercase);
                    let resp = Response {
                        status: head.status,
                        reason: head.reason,
                        keep_alive: head.keep_alive,
                        content_encoding,
                        body: Vec::new(),
                    };
                    let body = BodyDecoder::new(head.framing);
                    self.state = RespState::Body { resp, body };
                }
                RespState::Body { resp, body } => match body.next(input)? {
                    Piece::Data(d) => {
                        if resp.body.len() + d.len() > self.max_body {
                            return Err(over_limit((resp.body.len() + d.len()) as u64));
                        }
                        resp.body.extend_from_slice(d);
                    }
                    Piece::NeedMore => return Ok(None),
                    Piece::Done => return Ok(self.finish()),
                },
            }
        }
    }
}

fn over_limit(n: u64) -> HttpError {
    HttpError::new(
        413,
        "Payload Too Large",
        format!("a response of {n} bytes, over the limit"),
    )
}

/// Parses a response head; `for_head`: the request was HEAD (no body).
fn parse_head(head: &[u8], for_head: bool) -> Result<ResponseHead, HttpError> {
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
    let status = parsed.code.unwrap_or(0);
    let chunked = headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("transfer-encoding"))
        .any(|h| header_text(h.value).ends_with("chunked"));
    let framing = if for_head || (100..200).contains(&status) || status == 204 || status == 304 {
        Framing::Length(0)
    } else if chunked {
        Framing::Chunked
    } else {
        content_length(headers)?.map_or(Framing::UntilClose, Framing::Length)
    };
    let keep_alive = framing != Framing::UntilClose
        && if minor == 1 {
            !lists(headers, "connection", "close")
        } else {
            lists(headers, "connection", "keep-alive")
        };
    Ok(ResponseHead {
        status,
        reason: parsed.reason.unwrap_or_default().to_string(),
        minor,
        headers: headers
            .iter()
            .map(|h| (h.name.to_string(), String::from_utf8_lossy(h.value).trim().to_string()))
            .collect(),
        framing,
        keep_alive,
    })
}
