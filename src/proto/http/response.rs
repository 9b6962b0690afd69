//! Responses: the client side's streaming decoder.

use super::{HeadReader, HttpError, MAX_HEADERS, content_length, header_text, lists};

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
                RespState::Head(reader) => {
                    let Some(head) = reader.take(input)? else {
                        return Ok(None);
                    };
                    let (resp, want) = parse_response(&head, self.max_body)?;
                    self.state = RespState::Body { resp, want };
                }
                RespState::Body { resp, want } => {
                    let limit = want.unwrap_or(self.max_body + 1);
                    resp.body
                        .extend_from_slice(crate::proto::decode::take(input, limit - resp.body.len()));
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
