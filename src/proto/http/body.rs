//! Message bodies as they arrive: a `Content-Length` count, `chunked`
//! transfer coding, or everything until the peer closes. One decoder for
//! request bodies (the server) and response bodies (the clients), handing
//! out the body bytes as slices of the input, so a body never has to be held
//! whole: a client can write a 1 GiB download straight to a file.
//!
//! Chunked coding (RFC 9112 §7.1): `SIZE-IN-HEX[;ext]\r\n DATA \r\n` repeated,
//! a `0` chunk, optional trailer lines, an empty line. Size lines and
//! trailers are bounded; a size that does not fit 64 bits is refused.

use super::{HttpError, MAX_HEAD};
use crate::proto::decode::take;

/// How a body's end is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length`: this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// A response without either: the body ends when the server closes.
    UntilClose,
}

/// What [`BodyDecoder::next`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Body bytes (never empty).
    Data(&'a [u8]),
    /// The input ran out first; call again with more.
    NeedMore,
    /// The body is complete; bytes after it stay in the input.
    Done,
}

/// The longest chunk-size line (with extensions) accepted.
const MAX_SIZE_LINE: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Counted {
        left: u64,
    },
    Size {
        line: Vec<u8>,
    },
    Data {
        left: u64,
    },
    /// The CRLF after a chunk's data; `lf_only` once the CR was seen.
    DataEnd {
        cr_seen: bool,
    },
    /// Trailer lines after the last chunk; `line` is the current one.
    Trailer {
        line: Vec<u8>,
        total: usize,
    },
    UntilClose,
    Done,
}

/// A streaming body decoder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyDecoder {
    state: State,
}

fn bad(detail: &str) -> HttpError {
    HttpError::new(400, "Bad Request", format!("chunked body: {detail}"))
}

impl BodyDecoder {
    /// A decoder for a body framed as `framing`.
    pub fn new(framing: Framing) -> Self {
        let state = match framing {
            Framing::Length(0) => State::Done,
            Framing::Length(left) => State::Counted { left },
            Framing::Chunked => State::Size { line: Vec::new() },
            Framing::UntilClose => State::UntilClose,
        };
        BodyDecoder { state }
    }

    /// Whether the whole body has been taken.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The peer closed: complete for a body read until the close.
    ///
    /// # Errors
    /// When the close cut a counted or chunked body short.
    pub fn eof(&mut self) -> Result<(), HttpError> {
        match self.state {
            State::UntilClose | State::Done => {
                self.state = State::Done;
                Ok(())
            }
            _ => Err(HttpError::new(
                400,
                "Bad Request",
                "the peer closed in the middle of a body",
            )),
        }
    }

    /// Takes the next body bytes from the front of `input`.
    ///
    /// # Errors
    /// A chunked body that breaks its syntax (400).
    pub fn next<'a>(&mut self, input: &mut &'a [u8]) -> Result<Piece<'a>, HttpError> {
        loop {
            if input.is_empty() && self.state != State::Done {
                return Ok(Piece::NeedMore);
            }
            match &mut self.state {
                State::Done => return Ok(Piece::Done),
                State::UntilClose => return Ok(Piece::Data(take(input, usize::MAX))),
                State::Counted { left } | State::Data { left } => {
                    let now = take(input, usize::try_from(*left).unwrap_or(usize::MAX));
                    *left -= now.len() as u64;
                    if *left == 0 {
                        self.state = match self.state {
                            State::Counted { .. } => State::Done,
                            _ => State::DataEnd { cr_seen: false },
                        };
                    }
                    return Ok(Piece::Data(now));
                }
                State::DataEnd { cr_seen } => match (take(input, 1), *cr_seen) {
                    (b"\r", false) => *cr_seen = true,
                    (b"\n", _) => self.state = State::Size { line: Vec::new() },
                    _ => return Err(bad("no line end after a chunk's data")),
                },
                State::Size { line } => {
                    let Some(line) = take_line(line, input, MAX_SIZE_LINE)? else {
                        return Ok(Piece::NeedMore);
                    };
                    self.state = match chunk_size(&line)? {
                        0 => State::Trailer {
                            line: Vec::new(),
                            total: 0,
                        },
                        left => State::Data { left },
                    };
                }
                State::Trailer { line, total } => {
                    let before = line.len();
                    let got = take_line(line, input, MAX_HEAD)?;
                    *total += line.len().saturating_sub(before);
                    if *total > MAX_HEAD {
                        return Err(bad("trailers over 16 KiB"));
                    }
                    match got {
                        None => return Ok(Piece::NeedMore),
                        Some(l) if l.is_empty() => self.state = State::Done,
                        Some(_) => {
                            *total += 2;
                        }
                    }
                }
            }
        }
    }
}

/// Accumulates one line (without its `\n` or `\r\n`) up to `max` bytes.
fn take_line(line: &mut Vec<u8>, input: &mut &[u8], max: usize) -> Result<Option<Vec<u8>>, HttpError> {
    let newline = input.iter().position(|&b| b == b'\n');
    let upto = newline.map_or(input.len(), |i| i + 1);
    line.extend_from_slice(take(input, upto));
    if line.len() > max {
        return Err(bad("a line too long"));
    }
    if newline.is_none() {
        return Ok(None);
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(Some(std::mem::take(line)))
}

/// The size of a chunk-size line (`1a;name=value` → 26).
fn chunk_size(line: &[u8]) -> Result<u64, HttpError> {
    let digits = line.split(|&b| b == b';').next().unwrap_or_default();
    let digits = digits.trim_ascii();
    if digits.is_empty() {
        return Err(bad("an empty chunk size"));
    }
    let mut size: u64 = 0;
    for &d in digits {
        let v = char::from(d)
            .to_digit(16)
            .ok_or_else(|| bad("a chunk size that is not hex"))?;
        size = size
            .checked_mul(16)
            .and_then(|s| s.checked_add(u64::from(v)))
            .ok_or_else(|| bad("a chunk size over 64 bits"))?;
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `wire` in `step`-byte pieces; returns the body and the bytes left after it.
    fn decode(framing: Framing, wire: &[u8], step: usize) -> Result<(Vec<u8>, Vec<u8>), HttpError> {
        let mut dec = BodyDecoder::new(framing);
        let mut body = Vec::new();
        let mut rest = Vec::new();
        for piece in wire.chunks(step.max(1)) {
            let mut input = piece;
            if dec.is_done() {
                rest.extend_from_slice(input);
                continue;
            }
            loop {
                match dec.next(&mut input)? {
                    Piece::Data(d) => body.extend_from_slice(d),
                    Piece::NeedMore => break,
                    Piece::Done => {
                        rest.extend_from_slice(input);
                        break;
                    }
                }
            }
        }
        if !dec.is_done() {
            dec.eof()?;
        }
        Ok((body, rest))
    }

    const CHUNKED: &[u8] = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT";

    #[test]
    fn chunked_whole_byte_by_byte_and_with_what_follows() {
        for step in [CHUNKED.len(), 1, 2, 7] {
            let (body, rest) = decode(Framing::Chunked, CHUNKED, step).expect("decodes");
            assert_eq!(body, b"Wikipedia in\r\n\r\nchunks.", "step {step}");
            assert_eq!(rest, b"NEXT", "step {step}");
        }
        let bare_lf = b"3\nabc\n0\n\n";
        assert_eq!(decode(Framing::Chunked, bare_lf, 1).expect("lf").0, b"abc");
    }

    #[test]
    fn counted_and_until_close() {
        assert_eq!(
            decode(Framing::Length(3), b"abcdef", 1).expect("len"),
            (b"abc".to_vec(), b"def".to_vec())
        );
        assert_eq!(decode(Framing::Length(0), b"x", 1).expect("empty").0, b"");
        assert_eq!(
            decode(Framing::UntilClose, b"all of it", 4).expect("close").0,
            b"all of it"
        );
        assert!(decode(Framing::Length(10), b"short", 2).is_err(), "cut short");
    }

    #[test]
    fn broken_chunked_bodies_are_400() {
        for wire in [
            &b"zz\r\nab\r\n0\r\n\r\n"[..],
            b"\r\n",
            b"2\r\nabX0\r\n\r\n",
            b"ffffffffffffffffff\r\n",
            &[b'1'; MAX_SIZE_LINE + 2],
        ] {
            let e = decode(Framing::Chunked, wire, 3).expect_err("refused");
            assert_eq!(e.status, 400, "{:?}", String::from_utf8_lossy(wire));
        }
        let endless_trailer = [b"0\r\n".as_slice(), &b"X: y\r\n".repeat(4000)].concat();
        assert!(decode(Framing::Chunked, &endless_trailer, 100).is_err());
    }
}
