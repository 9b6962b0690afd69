//! What one bench connection says and what it expects back, per protocol,
//! without sockets: the request's bytes (streamed from a repeating pattern,
//! so a 1 GiB request never sits in memory) and a check of every reply byte
//! as it arrives.

use crate::proto::Decode as _;
use crate::proto::answer::Answer;
use crate::proto::frame;
use crate::proto::http::{self, BodyDecoder, HeadDecoder, Piece, ResponseDecoder};
use crate::proto::xmlrpc;
use std::sync::Arc;

/// Length of the repeating request pattern.
pub const PATTERN: usize = 64 * 1024;

/// Byte `i` of the request pattern: the alphabet, over and over.
pub fn pattern_byte(i: usize) -> u8 {
    b'a' + (i % 26) as u8
}

/// What a reply's bytes amounted to so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// Right so far; more to come.
    More,
    /// The reply is complete and right; it used `used` bytes of the input.
    Done {
        /// Bytes of the input that belonged to this reply.
        used: usize,
        /// The server keeps the connection for the next request.
        keep_alive: bool,
    },
}

/// A reply that is not what the protocol answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("wrong reply: {0}")]
pub struct Wrong(pub String);

/// One connection's side of the conversation.
pub trait Dialog: Send {
    /// The request's bytes from offset `from` on (at most one pattern's worth);
    /// empty once all are sent.
    fn request_from(&self, from: u64) -> &[u8];
    /// The request's length.
    fn request_len(&self) -> u64;
    /// Checks reply bytes as they arrive.
    ///
    /// # Errors
    /// [`Wrong`] at the first byte that is not what the server should send.
    fn take_reply(&mut self, data: &[u8]) -> Result<Reply, Wrong>;
    /// Starts the next request.
    fn reset(&mut self);
}

/// A request that is the same bytes every time (a frame, an HTTP POST).
#[derive(Debug, Clone)]
struct Fixed(Arc<[u8]>);

impl Fixed {
    fn from(&self, from: u64) -> &[u8] {
        let from = usize::try_from(from).unwrap_or(usize::MAX);
        // Past the end: nothing is left to send, which is what empty says.
        self.0.get(from..).unwrap_or_default()
    }
    fn len(&self) -> u64 {
        self.0.len() as u64
    }
}

/// Compares reply bytes with an expected stream that repeats `expected`
/// every [`PATTERN`] bytes (or is `expected` itself, when shorter).
#[derive(Debug, Clone)]
struct Expected {
    bytes: Arc<[u8]>,
    len: u64,
    got: u64,
}

/// A short, printable view of some reply bytes: `"ABCD…" (64 bytes)`.
pub fn preview(bytes: &[u8]) -> String {
    const SHOWN: usize = 24;
    let shown = bytes.split_at(bytes.len().min(SHOWN)).0;
    let text: String = String::from_utf8_lossy(shown).escape_debug().collect();
    if bytes.len() > SHOWN {
        format!("\"{text}…\" ({} bytes)", bytes.len())
    } else {
        format!("\"{text}\"")
    }
}

/// A wrong reply in words: what came, what was expected, and which
/// `--reply` would have expected it, when another answer policy explains it.
pub fn describe_wrong(request: &[u8], got: &[u8], expected: &[u8], policy: Answer) -> String {
    let mut text = format!(
        "wrong reply: got {} where {} was expected",
        preview(got),
        preview(expected)
    );
    let other = Answer::ALL.into_iter().find(|a| {
        *a != policy && {
            let theirs = a.reply_to(request);
            !got.is_empty() && theirs.starts_with(got)
        }
    });
    if let Some(a) = other {
        let name = a.name();
        text.push_str(&format!(
            " (the server answers {name}: check for that with --reply {name}, or run it with --handler/--reply {})",
            policy.name()
        ));
    }
    text
}

impl Expected {
    fn check(&mut self, mut data: &[u8]) -> Result<Reply, Wrong> {
        let total = data.len();
        while !data.is_empty() && self.got < self.len {
            let period = self.bytes.len().max(1) as u64;
            let off = usize::try_from(self.got % period).unwrap_or(0);
            // off < period = bytes.len(): a remainder.
            let want = self.bytes.split_at(off.min(self.bytes.len())).1;
            let left = usize::try_from(self.len - self.got).unwrap_or(usize::MAX);
            let n = want.len().min(data.len()).min(left);
            // n is at most both lengths: the splits take exactly n bytes.
            let (want, _) = want.split_at(n);
            let (got, rest) = data.split_at(n);
            if got != want {
                return Err(Wrong(format!(
                    "byte {} differs: got {} where {} was expected",
                    self.got,
                    preview(data),
                    preview(want)
                )));
            }
            data = rest;
            self.got += n as u64;
        }
        if self.got < self.len {
            return Ok(Reply::More);
        }
        Ok(Reply::Done {
            used: total - data.len(),
            keep_alive: true,
        })
    }
}

/// Raw TCP: `size` pattern bytes out, the answer policy's bytes back.
#[derive(Debug, Clone)]
pub struct StreamDialog {
    pattern: Arc<[u8]>,
    size: u64,
    expected: Expected,
    answer: Answer,
}

impl StreamDialog {
    /// A dialog of `size`-byte requests answered by `answer` (upper or echo).
    pub fn new(size: u64, answer: Answer) -> Self {
        let pattern: Arc<[u8]> = (0..PATTERN).map(pattern_byte).collect();
        let expected = Expected {
            bytes: answer.reply_to(&pattern).into(),
            len: size,
            got: 0,
        };
        StreamDialog {
            pattern,
            size,
            expected,
            answer,
        }
    }
}

impl Dialog for StreamDialog {
    fn request_from(&self, from: u64) -> &[u8] {
        let off = usize::try_from(from % PATTERN as u64).unwrap_or(0);
        let left = usize::try_from(self.size.saturating_sub(from)).unwrap_or(usize::MAX);
        // off is a remainder of the pattern's length; left bounds the request.
        let chunk = self.pattern.split_at(off.min(self.pattern.len())).1;
        chunk.split_at(chunk.len().min(left)).0
    }
    fn request_len(&self) -> u64 {
        self.size
    }
    fn take_reply(&mut self, data: &[u8]) -> Result<Reply, Wrong> {
        let at = self.expected.got;
        self.expected.check(data).map_err(|_| {
            let request = self.request_from(at);
            let want = self.expected_from(at, data.len());
            Wrong(describe_wrong(request, data, &want, self.answer))
        })
    }
    fn reset(&mut self) {
        self.expected.got = 0;
    }
}

impl StreamDialog {
    /// Up to `n` bytes of the expected reply from offset `at`.
    fn expected_from(&self, at: u64, n: usize) -> Vec<u8> {
        let period = self.expected.bytes.len().max(1) as u64;
        let off = usize::try_from(at % period).unwrap_or(0);
        let bytes = &self.expected.bytes;
        let rest = bytes.split_at(off.min(bytes.len())).1;
        rest.split_at(rest.len().min(n)).0.to_vec()
    }
}

/// Length-prefixed blocks: one block of `size` pattern bytes out, one block
/// of its uppercase back.
#[derive(Debug, Clone)]
pub struct FramedDialog {
    request: Fixed,
    expected: Expected,
}

impl FramedDialog {
    /// A dialog of blocks with `size`-byte payloads.
    ///
    /// # Errors
    /// When `size` does not fit a block's 4-byte head.
    pub fn new(size: u64) -> Result<Self, frame::FrameError> {
        let len = usize::try_from(size).unwrap_or(usize::MAX);
        let payload: Vec<u8> = (0..len).map(pattern_byte).collect();
        let mut request = Vec::with_capacity(len + frame::HEAD);
        frame::encode(&payload, &mut request)?;
        let mut reply = Vec::with_capacity(len + frame::HEAD);
        frame::encode(&Answer::Upper.reply_to(&payload), &mut reply)?;
        let reply_len = reply.len() as u64;
        Ok(FramedDialog {
            request: Fixed(request.into()),
            expected: Expected {
                bytes: reply.into(),
                len: reply_len,
                got: 0,
            },
        })
    }
}

impl Dialog for FramedDialog {
    fn request_from(&self, from: u64) -> &[u8] {
        self.request.from(from)
    }
    fn request_len(&self) -> u64 {
        self.request.len()
    }
    fn take_reply(&mut self, data: &[u8]) -> Result<Reply, Wrong> {
        self.expected.check(data)
    }
    fn reset(&mut self) {
        self.expected.got = 0;
    }
}

/// XML-RPC: `addtogether(1, 2, 3, 4, 5)` POSTed, `15` expected back; the
/// connection is reused while the server keeps it alive.
#[derive(Debug)]
pub struct RpcDialog {
    request: Fixed,
    decoder: ResponseDecoder,
    /// The body Python's server (and netlab's) sends for the result: a
    /// byte comparison checks it without parsing XML.
    usual: Arc<[u8]>,
}

impl RpcDialog {
    /// A dialog with a server whose `Host` is `host`.
    pub fn new(host: &str) -> Self {
        let args: Vec<dxr::Value> = (1..=5).map(dxr::Value::Integer).collect();
        let body = xmlrpc::call("addtogether", &args);
        let mut request = Vec::new();
        http::write_post(
            &mut request,
            host,
            "/RPC2",
            &[("Content-Type", "text/xml")],
            body.as_bytes(),
        );
        RpcDialog {
            request: Fixed(request.into()),
            decoder: ResponseDecoder::new(1 << 20),
            usual: xmlrpc::response(&dxr::Value::Integer(15)).into_bytes().into(),
        }
    }
}

impl Dialog for RpcDialog {
    fn request_from(&self, from: u64) -> &[u8] {
        self.request.from(from)
    }
    fn request_len(&self) -> u64 {
        self.request.len()
    }
    fn take_reply(&mut self, data: &[u8]) -> Result<Reply, Wrong> {
        let mut input = data;
        let Some(resp) = self.decoder.decode(&mut input).map_err(|e| Wrong(e.to_string()))? else {
            return Ok(Reply::More);
        };
        if resp.status != 200 {
            return Err(Wrong(format!("HTTP {} {}", resp.status, resp.reason)));
        }
        let done = Reply::Done {
            used: data.len() - input.len(),
            keep_alive: resp.keep_alive,
        };
        if resp.body.as_slice() == &*self.usual {
            return Ok(done);
        }
        match xmlrpc::parse_response(&resp.body) {
            Ok(Ok(dxr::Value::Integer(15))) => Ok(Reply::Done {
                used: data.len() - input.len(),
                keep_alive: resp.keep_alive,
            }),
            other => Err(Wrong(format!("addtogether(1..5) answered {other:?}"))),
        }
    }
    fn reset(&mut self) {
        self.decoder = ResponseDecoder::new(1 << 20);
    }
}

/// HTTP: keep-alive GETs of one path, each answer checked for status 200
/// and a body as long as it announced (counted as it arrives, never kept,
/// so a large file costs nothing but the count).
#[derive(Debug)]
pub struct HttpDialog {
    request: Fixed,
    head: HeadDecoder,
    /// The body being counted, once its head is in, with its length so far.
    body: Option<(BodyDecoder, bool, u64)>,
    /// The first answer's body length: every later one must match it.
    expected: Option<u64>,
}

impl HttpDialog {
    /// GETs of `path` from a server whose `Host` is `host`.
    pub fn new(host: &str, path: &str) -> Self {
        let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: netlab-bench\r\n\r\n");
        HttpDialog {
            request: Fixed(request.into_bytes().into()),
            head: HeadDecoder::default(),
            body: None,
            expected: None,
        }
    }
}

impl Dialog for HttpDialog {
    fn request_from(&self, from: u64) -> &[u8] {
        self.request.from(from)
    }
    fn request_len(&self) -> u64 {
        self.request.len()
    }
    fn take_reply(&mut self, data: &[u8]) -> Result<Reply, Wrong> {
        let mut input = data;
        if self.body.is_none() {
            let Some(head) = self.head.decode(&mut input).map_err(|e| Wrong(e.to_string()))? else {
                return Ok(Reply::More);
            };
            if head.status != 200 {
                return Err(Wrong(format!("HTTP {} {}", head.status, head.reason)));
            }
            self.body = Some((BodyDecoder::new(head.framing), head.keep_alive, 0));
        }
        let Some((body, keep_alive, got)) = &mut self.body else {
            return Ok(Reply::More);
        };
        loop {
            match body.next(&mut input).map_err(|e| Wrong(e.to_string()))? {
                Piece::Data(d) => *got += d.len() as u64,
                Piece::NeedMore => return Ok(Reply::More),
                Piece::Done => break,
            }
        }
        let (got, keep_alive) = (*got, *keep_alive);
        match self.expected {
            Some(want) if want != got => {
                return Err(Wrong(format!("a body of {got} bytes where the first was {want}")));
            }
            _ => self.expected = Some(got),
        }
        Ok(Reply::Done {
            used: data.len() - input.len(),
            keep_alive,
        })
    }
    fn reset(&mut self) {
        self.head = HeadDecoder::default();
        self.body = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(d: &dyn Dialog) -> Vec<u8> {
        let mut all = Vec::new();
        while (all.len() as u64) < d.request_len() {
            let chunk = d.request_from(all.len() as u64);
            assert!(!chunk.is_empty());
            all.extend_from_slice(chunk);
        }
        assert!(d.request_from(all.len() as u64).is_empty());
        all
    }

    #[test]
    fn stream_requests_repeat_the_pattern_and_replies_are_checked_bytewise() {
        let mut d = StreamDialog::new(PATTERN as u64 + 10, Answer::Upper);
        let req = request(&d);
        assert_eq!(req.len(), PATTERN + 10);
        let reply = req.to_ascii_uppercase();
        for b in reply.iter().take(reply.len() - 1) {
            assert_eq!(d.take_reply(std::slice::from_ref(b)), Ok(Reply::More));
        }
        assert_eq!(
            d.take_reply(&[reply[reply.len() - 1], b'x']),
            Ok(Reply::Done {
                used: 1,
                keep_alive: true
            })
        );
        d.reset();
        assert!(d.take_reply(b"abc").is_err(), "echo is not upper");
    }

    #[test]
    fn rpc_requests_are_posts_and_replies_are_checked() {
        let mut d = RpcDialog::new("h:1");
        assert!(request(&d).starts_with(b"POST /RPC2 HTTP/1.1\r\nHost: h:1\r\n"));
        let mut wire = Vec::new();
        let body = xmlrpc::response(&dxr::Value::Integer(15));
        http::write_response(&mut wire, 1, 200, "OK", &[], body.as_bytes(), false);
        let (a, b) = wire.split_at(30);
        assert_eq!(d.take_reply(a), Ok(Reply::More));
        assert_eq!(
            d.take_reply(b),
            Ok(Reply::Done {
                used: b.len(),
                keep_alive: true
            })
        );
        d.reset();
        let mut wrong = Vec::new();
        http::write_response(
            &mut wrong,
            1,
            200,
            "OK",
            &[],
            xmlrpc::response(&dxr::Value::Integer(14)).as_bytes(),
            true,
        );
        assert!(d.take_reply(&wrong).is_err());
    }

    #[test]
    fn framed_requests_are_blocks_and_replies_blocks_of_the_uppercase() {
        let mut d = FramedDialog::new(5).expect("dialog");
        assert_eq!(request(&d), b"\0\0\0\x05abcde");
        assert_eq!(d.take_reply(b"\0\0\0\x05AB"), Ok(Reply::More));
        assert_eq!(
            d.take_reply(b"CDE"),
            Ok(Reply::Done {
                used: 3,
                keep_alive: true
            })
        );
        d.reset();
        assert!(d.take_reply(b"\0\0\0\x06").is_err());
    }
}
