//! HTTP/1.1 without sockets, on `httparse`: request heads and bodies for
//! servers, response heads and bodies for clients ([`body`]: counted,
//! chunked, until close), the writer of responses and requests, and the one
//! server session every HTTP server here runs ([`server`]).
//!
//! Limits and rules:
//! - a head is at most [`MAX_HEAD`] bytes (431 past it) and at most
//!   [`MAX_HEADERS`] headers; `httparse` cannot resume a partial parse, so
//!   the head is parsed once, when its blank line has arrived — a head
//!   dripped one byte at a time costs linear time, not quadratic;
//! - a request body is read only up to the limit: a larger `Content-Length`
//!   is refused (413) before a byte of it is stored, a chunked body as soon
//!   as it passes the limit; `Transfer-Encoding` beside `Content-Length` is
//!   400 (the request-smuggling ambiguity), a coding other than chunked 501;
//! - pipelined requests come out one at a time, in order; the bytes of the
//!   next one stay in the input.

pub mod body;
mod request;
mod response;
pub mod server;

pub use body::{BodyDecoder, Framing, Piece};
pub use request::{Request, RequestDecoder};
pub use response::{HeadDecoder, Response, ResponseDecoder, ResponseHead};

use crate::proto::decode::take;
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
    pub(crate) fn new(status: u16, reason: &'static str, detail: impl Into<String>) -> Self {
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
pub(crate) struct HeadReader {
    buf: Vec<u8>,
    /// Bytes looked at while searching for the blank line, in all (the
    /// work a head dripped in costs: linear, not quadratic).
    pub(crate) scanned: usize,
}

impl HeadReader {
    /// Takes bytes from `input` up to the end of the head; returns the whole
    /// head (blank line included) once it is there.
    pub(crate) fn take(&mut self, input: &mut &[u8]) -> Result<Option<Vec<u8>>, HttpError> {
        let scan_from = self.buf.len().saturating_sub(3);
        let room = (MAX_HEAD + 1).saturating_sub(self.buf.len());
        let before = *input;
        self.buf.extend_from_slice(take(input, room));
        self.scanned += self.buf.len() - scan_from;
        let Some(end) = head_end(&self.buf, scan_from) else {
            if self.buf.len() > MAX_HEAD {
                return Err(HttpError::new(
                    431,
                    "Request Header Fields Too Large",
                    "head over 16 KiB",
                ));
            }
            return Ok(None);
        };
        // Give back what was taken beyond the head: the head ends within
        // the bytes just taken (the earlier ones held no blank line).
        let taken = before.len() - input.len();
        let extra = self.buf.len() - end;
        *input = before;
        take(input, taken - extra);
        self.buf.truncate(end);
        Ok(Some(std::mem::take(&mut self.buf)))
    }

    /// The bytes of the head taken so far.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf
    }

    pub(crate) fn is_empty(&self) -> bool {
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

pub(crate) fn header_text(value: &[u8]) -> String {
    String::from_utf8_lossy(value).trim().to_ascii_lowercase()
}

/// The announced body length: `None` without the header.
pub(crate) fn content_length(headers: &[httparse::Header<'_>]) -> Result<Option<u64>, HttpError> {
    let mut found = None;
    for h in headers.iter().filter(|h| h.name.eq_ignore_ascii_case("content-length")) {
        let text = header_text(h.value);
        // Digits only: `u64::parse` would take a `+5`, which other parsers on
        // the path may read differently (a smuggling ambiguity).
        let n: u64 = Some(text.as_str())
            .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| HttpError::new(400, "Bad Request", "a Content-Length that is not a number"))?;
        if found.is_some_and(|f| f != n) {
            return Err(HttpError::new(400, "Bad Request", "two different Content-Lengths"));
        }
        found = Some(n);
    }
    Ok(found)
}

/// Whether a comma-separated header lists `token` (case-insensitively).
pub(crate) fn lists(headers: &[httparse::Header<'_>], name: &str, token: &str) -> bool {
    headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case(name))
        .any(|h| header_text(h.value).split(',').any(|t| t.trim() == token))
}

/// Whether `Accept-Encoding` accepts gzip (listed, and not with q=0).
pub(crate) fn accepts_gzip(headers: &[httparse::Header<'_>]) -> bool {
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
    let _ = write!(head, "HTTP/1.{} {status} {reason}\r\nServer: netlab\r\n", minor.min(1),);
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

#[cfg(test)]
mod tests;
