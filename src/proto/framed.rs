//! The framed server session: every request block is answered with one
//! block carrying its payload uppercased, any number per connection, in
//! order (pipelined blocks too).
//!
//! Each reply block goes out as one write (head and payload together), so
//! Nagle's algorithm never holds a payload back. `--split-writes` marks a
//! write boundary between head and payload instead, reproducing the
//! tutorial's two `sendall` calls: with Nagle on, every reply then waits for
//! the peer's delayed ACK (~40 ms), the lesson `--nodelay` answers.

use super::Decode as _;
use super::answer::Answer;
use super::frame::{self, Decoder, HEAD};
use super::zlib;
use super::{Flow, Output, ProtocolError, Session};

/// How a framed server treats its blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FramedOptions {
    /// The largest payload accepted (and, with zlib, inflated).
    pub max_frame: usize,
    /// Payloads are zlib-compressed on the wire, both ways.
    pub zlib: bool,
    /// Head and payload of each reply in separate writes (the Nagle lesson).
    pub split_writes: bool,
    /// What each payload is answered with.
    pub answer: Answer,
}

impl Default for FramedOptions {
    fn default() -> Self {
        FramedOptions {
            max_frame: frame::DEFAULT_MAX_FRAME,
            zlib: false,
            split_writes: false,
            answer: Answer::Upper,
        }
    }
}

/// One connection of a framed server.
#[derive(Debug)]
pub struct FramedSession {
    decoder: Decoder,
    opts: FramedOptions,
}

impl FramedSession {
    /// A session with nothing received yet.
    pub fn new(opts: FramedOptions) -> Self {
        FramedSession {
            decoder: Decoder::new(opts.max_frame),
            opts,
        }
    }

    /// Appends the reply block for one request payload.
    fn answer(&self, payload: &[u8], out: &mut Output) -> Result<(), ProtocolError> {
        if self.opts.zlib {
            let plain = zlib::inflate(payload, self.opts.max_frame).map_err(|e| match e {
                zlib::ZlibError::TooLarge { .. } => ProtocolError::Limit(e.to_string()),
                zlib::ZlibError::Corrupt(_) => ProtocolError::Peer(e.to_string()),
            })?;
            let wire = zlib::deflate(&self.opts.answer.reply_to(&plain));
            let head = frame::head(wire.len()).map_err(|e| ProtocolError::Limit(e.to_string()))?;
            self.push_block(out, head, |v| v.extend_from_slice(&wire));
            return Ok(());
        }
        // The reply is written straight after a placeholder head, whose
        // length is filled in once known (uppercase may change it: ß → SS).
        let buf = out.vec_mut();
        let at = buf.len();
        self.push_block(out, [0; HEAD], |v| self.opts.answer.reply_once(payload, v));
        let buf = out.vec_mut();
        let len = buf.len() - at - HEAD;
        let head = match frame::head(len) {
            Ok(head) => head,
            Err(e) => {
                // Nothing of this block may go out: its head cannot say its length.
                buf.truncate(at);
                return Err(ProtocolError::Limit(e.to_string()));
            }
        };
        for (dst, src) in buf.iter_mut().skip(at).zip(head) {
            *dst = src;
        }
        Ok(())
    }

    /// Appends `head`, then what `body` writes, as one write or (with
    /// `--split-writes`) as two.
    fn push_block(&self, out: &mut Output, head: [u8; HEAD], body: impl FnOnce(&mut Vec<u8>)) {
        out.extend_from_slice(&head);
        if self.opts.split_writes {
            out.cut();
        }
        body(out.vec_mut());
        if self.opts.split_writes {
            out.cut();
        }
    }
}

impl Session for FramedSession {
    fn on_data(&mut self, mut data: &[u8], out: &mut Output) -> Result<Flow, ProtocolError> {
        loop {
            match self.decoder.decode(&mut data) {
                Ok(Some(payload)) => self.answer(&payload, out)?,
                Ok(None) => return Ok(Flow::Continue),
                Err(e) => return Err(ProtocolError::Limit(e.to_string())),
            }
        }
    }

    fn on_eof(&mut self, _out: &mut Output) -> Result<(), ProtocolError> {
        match self.decoder.missing() {
            None => Ok(()),
            Some(left) => Err(ProtocolError::Truncated(format!(
                "socket closed with {left} bytes left in this block"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        frame::encode(payload, &mut v).expect("encode");
        v
    }

    fn serve(opts: FramedOptions, wire: &[u8], step: usize) -> (Vec<u8>, Result<(), String>) {
        let mut s = FramedSession::new(opts);
        let mut out = Output::new();
        for piece in wire.chunks(step.max(1)) {
            if let Err(e) = s.on_data(piece, &mut out) {
                return (out.pending().to_vec(), Err(e.to_string()));
            }
        }
        let end = s.on_eof(&mut out).map_err(|e| e.to_string());
        (out.pending().to_vec(), end)
    }

    #[test]
    fn each_block_gets_one_uppercased_block_whole_or_byte_by_byte() {
        let wire = [block(b"hello"), block(b""), block("straße".as_bytes())].concat();
        let want = [block(b"HELLO"), block(b""), block("STRASSE".as_bytes())].concat();
        for step in [wire.len(), 1, 3, 7] {
            assert_eq!(
                serve(FramedOptions::default(), &wire, step),
                (want.clone(), Ok(())),
                "step {step}"
            );
        }
    }

    #[test]
    fn a_block_cut_short_is_reported_like_recvall() {
        let mut wire = block(b"abcdef");
        wire.truncate(7);
        let (out, end) = serve(FramedOptions::default(), &wire, 1);
        assert!(out.is_empty());
        assert_eq!(
            end,
            Err("peer closed mid-message: socket closed with 3 bytes left in this block".into())
        );
        let (_, end) = serve(FramedOptions::default(), &[0, 0], 1);
        assert!(end.is_err_and(|e| e.contains("2 bytes left")));
    }

    #[test]
    fn an_oversized_claim_is_refused_after_earlier_replies() {
        let opts = FramedOptions {
            max_frame: 8,
            ..FramedOptions::default()
        };
        let wire = [block(b"ok"), vec![0xff; 4]].concat();
        let (out, end) = serve(opts, &wire, wire.len());
        assert_eq!(out, block(b"OK"), "the reply before the bad head still goes out");
        assert!(end.is_err_and(|e| e.contains("4294967295 bytes was announced")));
    }

    #[test]
    fn zlib_both_ways_and_bombs_refused() {
        let opts = FramedOptions {
            zlib: true,
            max_frame: 1 << 16,
            ..FramedOptions::default()
        };
        let wire = block(&zlib::deflate("straße".as_bytes()));
        let (out, end) = serve(opts, &wire, 1);
        assert_eq!(end, Ok(()));
        let mut reply = out.as_slice();
        let payload = Decoder::new(1 << 16)
            .decode(&mut reply)
            .ok()
            .flatten()
            .unwrap_or_default();
        assert_eq!(zlib::inflate(&payload, 100).as_deref(), Ok("STRASSE".as_bytes()));
        let bomb = block(&zlib::deflate(&vec![b'a'; 1 << 20]));
        assert!(
            serve(opts, &bomb, bomb.len())
                .1
                .is_err_and(|e| e.contains("inflates past"))
        );
        assert!(
            serve(opts, &block(b"junk"), 4)
                .1
                .is_err_and(|e| e.contains("not valid zlib"))
        );
    }

    #[test]
    fn split_writes_put_head_and_payload_in_separate_writes() {
        let opts = FramedOptions {
            split_writes: true,
            ..FramedOptions::default()
        };
        let mut s = FramedSession::new(opts);
        let mut out = Output::new();
        let _ = s.on_data(&[block(b"ab"), block(b"c")].concat(), &mut out);
        let mut writes = Vec::new();
        while !out.is_empty() {
            let w = out.next_write().to_vec();
            out.consume(w.len());
            writes.push(w);
        }
        assert_eq!(
            writes,
            vec![vec![0, 0, 0, 2], b"AB".to_vec(), vec![0, 0, 0, 1], b"C".to_vec()]
        );
    }
}
