//! The framed client: `put_block` / `get_block` over any stream, built on
//! `recvall`, the lesson's answer to "`recv` returns less than you asked for".
//!
//! - `recvall(n)` loops until `n` bytes came or the peer closed; a close in
//!   the middle is "socket closed with N bytes left in this block".
//! - `get_block` reads the 4-byte head, checks the announced length against
//!   the limit before reading (or allocating) anything more, then reads the body.
//! - `put_block` sends head and payload in one write: two small writes would
//!   meet Nagle's algorithm and the peer's delayed ACK (~40 ms each).

use crate::proto::Decode as _;
use crate::proto::frame::{self, HEAD};
use crate::proto::zlib;
use std::io::{self, Read, Write};

/// Bytes asked of one `read` while receiving a block.
const CHUNK: usize = 64 * 1024;

/// Why a block could not be received.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    /// The peer closed before the block was complete (Python's `EOFError`).
    #[error("socket closed with {left} bytes left in this block")]
    Closed {
        /// Bytes still expected.
        left: usize,
    },
    /// The head announced more than the limit.
    #[error(transparent)]
    Frame(#[from] frame::FrameError),
    /// A zlib payload that does not inflate.
    #[error(transparent)]
    Zlib(#[from] zlib::ZlibError),
    /// The server hung up while a block was still being sent to it.
    #[error(
        "the server closed the connection while this {len}-byte block was being sent: \
         it probably refuses blocks over its --max-frame (16 MiB unless set)"
    )]
    ClosedWhileSending {
        /// The block's payload size.
        len: usize,
    },
    /// The server closed without a byte of an answer.
    #[error(
        "the server closed the connection without answering this {len}-byte block: a block over its \
         --max-frame (16 MiB unless set) is refused, and so is {}",
        no_answer_hint(*zlib)
    )]
    NoAnswer {
        /// The block's size on the wire.
        len: usize,
        /// This client compresses its payloads.
        zlib: bool,
    },
    /// The socket failed (a timeout, a reset).
    #[error(transparent)]
    Io(#[from] io::Error),
}

fn no_answer_hint(zlib: bool) -> &'static str {
    if zlib {
        "a compressed block sent to a plain server (leave out --zlib)"
    } else {
        "a plain block sent to a --zlib server (add --zlib)"
    }
}

impl From<BlockError> for io::Error {
    fn from(err: BlockError) -> io::Error {
        match err {
            BlockError::Io(e) => e,
            BlockError::Closed { .. } | BlockError::NoAnswer { .. } | BlockError::ClosedWhileSending { .. } => {
                io::Error::new(io::ErrorKind::UnexpectedEof, err)
            }
            other => io::Error::new(io::ErrorKind::InvalidData, other),
        }
    }
}

/// Reads exactly `n` bytes, appending them to `into`; the buffer grows with
/// what arrives, at most 64 KiB at a time.
///
/// # Errors
/// [`BlockError::Closed`] when the peer closes first; an I/O error (a timeout) otherwise.
pub fn recvall(sock: &mut impl Read, n: usize, into: &mut Vec<u8>) -> Result<(), BlockError> {
    let mut left = n;
    while left > 0 {
        let start = into.len();
        into.resize(start + left.min(CHUNK), 0);
        // `start` is the length before the resize just above: the range is in bounds.
        let got = match sock.read(into.get_mut(start..).unwrap_or_default()) {
            Ok(got) => got,
            Err(e) => {
                into.truncate(start);
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(timeout_text(e).into());
            }
        };
        into.truncate(start + got);
        if got == 0 {
            return Err(BlockError::Closed { left });
        }
        left -= got;
    }
    Ok(())
}

fn timeout_text(e: io::Error) -> io::Error {
    if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) {
        io::Error::new(io::ErrorKind::TimedOut, "timed out waiting for the server")
    } else {
        e
    }
}

/// Receives one block's payload, refusing one announced above `max`.
///
/// # Errors
/// As [`recvall`], and [`BlockError::Frame`] for an oversized claim.
pub fn get_block(sock: &mut impl Read, max: usize) -> Result<Vec<u8>, BlockError> {
    let mut head = Vec::with_capacity(HEAD);
    recvall(sock, HEAD, &mut head)?;
    let mut decoder = frame::Decoder::new(max);
    let mut input = head.as_slice();
    if let Some(empty) = decoder.decode(&mut input)? {
        return Ok(empty.into_owned());
    }
    let want = decoder.missing().unwrap_or(0);
    let mut body = Vec::new();
    recvall(sock, want, &mut body)?;
    Ok(body)
}

/// Sends one block (head and payload in a single write).
///
/// # Errors
/// When the payload does not fit the head, or the socket fails.
pub fn put_block(sock: &mut impl Write, payload: &[u8]) -> Result<(), BlockError> {
    let mut wire = Vec::with_capacity(HEAD + payload.len());
    frame::encode(payload, &mut wire)?;
    sock.write_all(&wire)?;
    Ok(())
}

/// A reset or a closed pipe: the peer hung up.
fn is_hang_up(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
    )
}

/// A request/response client over one connection: one block out, one block back.
#[derive(Debug)]
pub struct BlockClient<S> {
    sock: S,
    /// The largest reply accepted (and inflated).
    max: usize,
    /// Payloads are zlib-compressed on the wire.
    zlib: bool,
}

impl<S: Read + Write> BlockClient<S> {
    /// A client over a connected stream.
    pub fn new(sock: S, max: usize, zlib: bool) -> Self {
        BlockClient { sock, max, zlib }
    }

    /// Sends `payload` as one block and returns the payload of the reply block.
    ///
    /// # Errors
    /// As [`get_block`] and [`put_block`], and zlib errors with `--zlib`.
    pub fn call(&mut self, payload: &[u8]) -> Result<Vec<u8>, BlockError> {
        let packed;
        let wire = if self.zlib {
            packed = zlib::deflate(payload);
            packed.as_slice()
        } else {
            payload
        };
        put_block(&mut self.sock, wire).map_err(|e| match e {
            BlockError::Io(io) if is_hang_up(&io) => BlockError::ClosedWhileSending { len: wire.len() },
            other => other,
        })?;
        let reply = get_block(&mut self.sock, self.max).map_err(|e| match e {
            // Not a byte of the head: the server refused the block, not the network.
            BlockError::Closed { left: HEAD } => BlockError::NoAnswer {
                len: wire.len(),
                zlib: self.zlib,
            },
            BlockError::Io(io) if is_hang_up(&io) => BlockError::NoAnswer {
                len: wire.len(),
                zlib: self.zlib,
            },
            other => other,
        })?;
        if self.zlib {
            return Ok(zlib::inflate(&reply, self.max)?);
        }
        Ok(reply)
    }

    /// The stream, to half-close it when done.
    pub fn stream(&self) -> &S {
        &self.sock
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out at most `step` bytes per read.
    struct Drip<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Drip<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len());
            let (now, rest) = self.data.split_at(n);
            buf.get_mut(..n).unwrap_or_default().copy_from_slice(now);
            self.data = rest;
            Ok(n)
        }
    }

    #[test]
    fn get_block_survives_any_read_size() {
        let mut wire = Vec::new();
        frame::encode(b"hello world", &mut wire).expect("encode");
        frame::encode(b"", &mut wire).expect("encode");
        for step in [1, 2, 3, 5, 100] {
            let mut r = Drip { data: &wire, step };
            assert_eq!(get_block(&mut r, 100).ok().as_deref(), Some(&b"hello world"[..]));
            assert_eq!(get_block(&mut r, 100).ok().as_deref(), Some(&b""[..]));
            let closed = get_block(&mut r, 100).err().map(|e| e.to_string());
            assert_eq!(closed.as_deref(), Some("socket closed with 4 bytes left in this block"));
        }
    }

    #[test]
    fn a_close_mid_body_says_how_much_was_missing() {
        let mut wire = Vec::new();
        frame::encode(b"abcdef", &mut wire).expect("encode");
        wire.truncate(6);
        let err = get_block(&mut Drip { data: &wire, step: 1 }, 100)
            .err()
            .map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("socket closed with 4 bytes left in this block"));
    }

    #[test]
    fn an_oversized_claim_reads_no_further() {
        let mut r = Drip {
            data: &[0xff, 0xff, 0xff, 0xff, 1, 2, 3],
            step: 100,
        };
        assert!(matches!(get_block(&mut r, 1024), Err(BlockError::Frame(_))));
        assert_eq!(r.data, &[1, 2, 3][..], "nothing read past the head");
    }

    #[test]
    fn put_block_is_one_write() {
        struct Writes(Vec<Vec<u8>>);
        impl Write for Writes {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.0.push(buf.to_vec());
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut w = Writes(Vec::new());
        put_block(&mut w, b"hi").expect("put");
        assert_eq!(w.0, vec![vec![0, 0, 0, 2, b'h', b'i']]);
    }
}
