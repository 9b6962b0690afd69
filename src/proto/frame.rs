//! Length-prefixed frames ("blocks"): a 4-byte big-endian unsigned length
//! (Python's `struct.pack('!I', n)`), then that many bytes of payload.
//!
//! The decoder has two states, reading the head and reading the body, and
//! three rules learned the hard way:
//! - a stream gives bytes in whatever pieces it likes (the `recvall` lesson):
//!   "not enough yet" is `Ok(None)`, and a frame split anywhere decodes the same;
//! - the announced length is checked against the limit *before* anything is
//!   reserved, so a peer announcing 4 GiB gets an error, not an allocation;
//! - the body buffer grows with the bytes that arrive, never with the number
//!   announced: a peer that announces 16 MiB and sends 10 bytes costs 10 bytes.

use std::borrow::Cow;

/// Bytes of the length prefix.
pub const HEAD: usize = 4;
/// The largest payload accepted by default (`--max-frame`).
pub const DEFAULT_MAX_FRAME: usize = 16 << 20;

/// A frame the decoder refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The head announced more than the limit.
    #[error("a block of {announced} bytes was announced, above the {limit}-byte limit (--max-frame)")]
    TooLarge {
        /// The announced length.
        announced: u64,
        /// The limit.
        limit: usize,
    },
}

#[derive(Debug)]
enum State {
    /// Reading the 4-byte head; `have` bytes of it so far.
    Head { head: [u8; HEAD], have: usize },
    /// Reading a body of `want` bytes.
    Body { want: usize, body: Vec<u8> },
}

/// The streaming frame decoder.
#[derive(Debug)]
pub struct Decoder {
    state: State,
    max: usize,
}

impl Decoder {
    /// A decoder refusing payloads over `max` bytes.
    pub fn new(max: usize) -> Self {
        Decoder {
            state: State::Head {
                head: [0; HEAD],
                have: 0,
            },
            max,
        }
    }
}

impl super::Decode for Decoder {
    type Item<'a> = Cow<'a, [u8]>;
    type Error = FrameError;

    /// Takes bytes from the front of `input` and returns the next whole
    /// payload, or `None` when `input` ran out first (everything taken is
    /// kept). A frame that arrives whole is returned borrowed, with no copy.
    ///
    /// # Errors
    /// [`FrameError::TooLarge`] when a head announces more than the limit;
    /// the decoder is then of no further use for this stream.
    fn decode<'a>(&mut self, input: &mut &'a [u8]) -> Result<Option<Cow<'a, [u8]>>, FrameError> {
        if matches!(self.state, State::Head { have: 0, .. })
            && let Some(frame) = whole_frame(input, self.max)?
        {
            return Ok(Some(Cow::Borrowed(frame)));
        }
        loop {
            match &mut self.state {
                State::Head { head, have } => {
                    let take = (HEAD - *have).min(input.len());
                    let (now, rest) = input.split_at(take);
                    for (dst, src) in head.iter_mut().skip(*have).zip(now) {
                        *dst = *src;
                    }
                    *have += take;
                    *input = rest;
                    if *have < HEAD {
                        return Ok(None);
                    }
                    let want = check(u32::from_be_bytes(*head), self.max)?;
                    self.state = State::Body { want, body: Vec::new() };
                }
                State::Body { want, body } => {
                    let take = (*want - body.len()).min(input.len());
                    let (now, rest) = input.split_at(take);
                    body.extend_from_slice(now);
                    *input = rest;
                    if body.len() < *want {
                        return Ok(None);
                    }
                    let done = std::mem::take(body);
                    self.state = State::Head {
                        head: [0; HEAD],
                        have: 0,
                    };
                    return Ok(Some(Cow::Owned(done)));
                }
            }
        }
    }
}

impl Decoder {
    /// Bytes still missing from the frame in progress: `None` between
    /// frames, else what a `recvall` would report as "N bytes left in this block".
    pub fn missing(&self) -> Option<usize> {
        match &self.state {
            State::Head { have: 0, .. } => None,
            State::Head { have, .. } => Some(HEAD - have),
            State::Body { want, body } => Some(want - body.len()),
        }
    }
}

/// A whole frame at the front of `input`, taken without copying.
fn whole_frame<'a>(input: &mut &'a [u8], max: usize) -> Result<Option<&'a [u8]>, FrameError> {
    let Some((head, rest)) = input.split_first_chunk::<HEAD>() else {
        return Ok(None);
    };
    let want = check(u32::from_be_bytes(*head), max)?;
    let Some((frame, after)) = rest.split_at_checked(want) else {
        return Ok(None);
    };
    *input = after;
    Ok(Some(frame))
}

/// The announced length as a `usize`, if it is within `max`.
fn check(announced: u32, max: usize) -> Result<usize, FrameError> {
    match usize::try_from(announced) {
        Ok(n) if n <= max => Ok(n),
        _ => Err(FrameError::TooLarge {
            announced: u64::from(announced),
            limit: max,
        }),
    }
}

/// The head for a payload of `len` bytes.
///
/// # Errors
/// When `len` does not fit the 4-byte prefix.
pub fn head(len: usize) -> Result<[u8; HEAD], FrameError> {
    u32::try_from(len)
        .map(u32::to_be_bytes)
        .map_err(|_| FrameError::TooLarge {
            announced: len as u64,
            limit: u32::MAX as usize,
        })
}

/// Appends one frame carrying `payload` to `out`.
///
/// # Errors
/// When the payload does not fit the 4-byte prefix.
pub fn encode(payload: &[u8], out: &mut Vec<u8>) -> Result<(), FrameError> {
    out.extend_from_slice(&head(payload.len())?);
    out.extend_from_slice(payload);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::Decode as _;
    use crate::proto::decode::testing::three_ways;
    use proptest::prelude::*;

    fn frames(payloads: &[&[u8]]) -> Vec<u8> {
        let mut wire = Vec::new();
        for p in payloads {
            encode(p, &mut wire).expect("encode");
        }
        wire
    }

    /// Decodes `wire` fed in the pieces `cuts` makes; returns the payloads
    /// and what was left over.
    fn decode_split(wire: &[u8], cuts: &[usize], max: usize) -> (Vec<Vec<u8>>, Option<usize>) {
        let mut dec = Decoder::new(max);
        let mut got = Vec::new();
        let mut start = 0;
        let mut ends: Vec<usize> = cuts.iter().map(|c| (*c).min(wire.len())).collect();
        ends.sort_unstable();
        ends.push(wire.len());
        for end in ends {
            let mut piece = wire.get(start..end.max(start)).unwrap_or_default();
            start = end.max(start);
            while let Some(p) = dec.decode(&mut piece).expect("decode") {
                got.push(p.into_owned());
            }
            assert!(piece.is_empty(), "input left unconsumed");
        }
        (got, dec.missing())
    }

    #[test]
    fn whole_byte_by_byte_with_trailing_bytes_and_every_split() {
        let wire = frames(&[b"hello", b"", "straße".as_bytes()]);
        let want = vec![b"hello".to_vec(), Vec::new(), "straße".as_bytes().to_vec()];
        let got = three_ways(|| Decoder::new(100), &wire, &[0, 0, 0], |p| p.into_owned());
        assert_eq!(got, want);
        for cut in 0..=wire.len() {
            assert_eq!(decode_split(&wire, &[cut], 100), (want.clone(), None), "cut at {cut}");
        }
        let mut dec = Decoder::new(100);
        let mut input: &[u8] = &[0, 0, 0, 3, b'o', b'n', b'e', 0, 0];
        assert!(matches!(dec.decode(&mut input), Ok(Some(Cow::Borrowed(b"one")))));
        assert_eq!(input, &[0, 0], "a whole frame is borrowed, the rest left");
    }

    #[test]
    fn the_limit_is_checked_before_anything_is_reserved() {
        let mut dec = Decoder::new(16);
        let mut claim: &[u8] = &[0xff, 0xff, 0xff, 0xff];
        assert_eq!(
            dec.decode(&mut claim),
            Err(FrameError::TooLarge {
                announced: u64::from(u32::MAX),
                limit: 16
            })
        );
        // Exactly at the limit is fine; one more is not, even dripped in.
        let ok = frames(&[&[7u8; 16]]);
        assert_eq!(decode_split(&ok, &[1, 2, 3], 16).0.len(), 1);
        let mut dec = Decoder::new(16);
        for b in [0u8, 0, 0] {
            assert_eq!(dec.decode(&mut &[b][..]), Ok(None));
        }
        assert!(dec.decode(&mut &[17u8][..]).is_err());
    }

    #[test]
    fn the_body_grows_with_what_arrives() {
        let mut dec = Decoder::new(DEFAULT_MAX_FRAME);
        let mut input: &[u8] = &[0x01, 0, 0, 0, b'x', b'y'];
        assert_eq!(dec.decode(&mut input), Ok(None));
        let State::Body { body, want } = &dec.state else {
            panic!("in the body")
        };
        assert_eq!((*want, body.len()), (1 << 24, 2));
        assert!(body.capacity() < 1024, "reserved {} bytes", body.capacity());
        assert_eq!(dec.missing(), Some((1 << 24) - 2));
    }

    #[test]
    fn head_rejects_what_four_bytes_cannot_say() {
        assert_eq!(head(1234), Ok([0, 0, 4, 210]));
        assert!(head(usize::MAX).is_err());
    }

    proptest! {
        #[test]
        fn any_split_of_any_frames_decodes_the_same(
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..6),
            cuts in proptest::collection::vec(0usize..300, 0..10),
        ) {
            let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
            let wire = frames(&refs);
            prop_assert_eq!(decode_split(&wire, &cuts, 64), (payloads, None));
        }
    }
}
