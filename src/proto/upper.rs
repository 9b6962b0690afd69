//! The uppercase-echo transform over a byte stream.
//!
//! Valid UTF-8 is uppercased as Unicode, like Python's `str.upper()` (`ß` → `SS`).
//! Bytes that are not UTF-8 pass through unchanged. A character cut between two
//! reads is held back (at most 3 bytes) and uppercased whole once its last byte
//! arrives, so the output never depends on how the stream was split; at the end
//! of the stream an incomplete character is sent as it is.

/// The longest incomplete UTF-8 sequence: a 4-byte character missing its last byte.
const MAX_HELD: usize = 3;

/// Streaming uppercase state: the bytes of a character split between chunks.
#[derive(Debug, Default, Clone)]
pub struct Upper {
    held: [u8; MAX_HELD],
    held_len: usize,
}

impl Upper {
    /// A transform with nothing held back.
    pub fn new() -> Self {
        Self::default()
    }

    /// Uppercases `input` into `out`, holding back a trailing split character.
    pub fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        if self.held_len > 0 {
            // Complete the held character from the front of `input`. At most
            // MAX_HELD more bytes can matter, so the scratch stays on the stack.
            let held = self.held();
            let take = input.len().min(MAX_HELD);
            let mut scratch = [0u8; 2 * MAX_HELD];
            let bytes = self.held.iter().take(held).chain(input.iter().take(take));
            for (dst, src) in scratch.iter_mut().zip(bytes) {
                *dst = *src;
            }
            // held ≤ MAX_HELD and take ≤ MAX_HELD: within the scratch.
            let joined = scratch.split_at(held + take).0;
            let done = upper_complete(joined, out);
            if done < held {
                // Still incomplete: `input` was too short to finish it.
                self.hold(joined, out);
                return;
            }
            self.held_len = 0;
            // `done` counts the held bytes first and never passes what was
            // joined, so done - held ≤ take ≤ input.len().
            input = input.split_at((done - held).min(input.len())).1;
        }
        let done = upper_complete(input, out);
        // `upper_complete` reports at most the bytes it was given.
        self.hold(input.split_at(done.min(input.len())).1, out);
    }

    /// Keeps an incomplete trailing character. `upper_complete` leaves at most
    /// 3 bytes unconsumed; were it ever more, they would pass through unchanged.
    fn hold(&mut self, tail: &[u8], out: &mut Vec<u8>) {
        match self.held.get_mut(..tail.len()) {
            Some(slot) => {
                slot.copy_from_slice(tail);
                self.held_len = tail.len();
            }
            None => {
                out.extend_from_slice(tail);
                self.held_len = 0;
            }
        }
    }

    /// End of stream: sends a held incomplete character as it is.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        // held_len ≤ MAX_HELD: `hold` sets it only to a length that fit.
        out.extend_from_slice(self.held.split_at(self.held_len.min(MAX_HELD)).0);
        self.held_len = 0;
    }

    /// Bytes currently held back (never more than 3).
    pub fn held(&self) -> usize {
        self.held_len
    }
}

/// Uppercases a whole message (a datagram): split characters at the end pass as they are.
///
/// ```
/// let mut out = Vec::new();
/// netlab::proto::upper::upper_once(&[b"caf\xc3\xa9 ", &b"\xff"[..]].concat(), &mut out);
/// assert_eq!(out, b"CAF\xc3\x89 \xff"); // "CAFÉ " and the invalid byte unchanged
/// ```
pub fn upper_once(input: &[u8], out: &mut Vec<u8>) {
    let mut t = Upper::new();
    t.feed(input, out);
    t.finish(out);
}

/// Uppercases every complete character of `input` into `out` and passes invalid
/// bytes through; returns how many bytes were consumed. Only a trailing,
/// possibly-incomplete sequence (at most 3 bytes) is left unconsumed.
fn upper_complete(input: &[u8], out: &mut Vec<u8>) -> usize {
    if input.is_ascii() {
        push_ascii_upper(input, out);
        return input.len();
    }
    out.reserve(input.len());
    let mut rest = input;
    loop {
        // SIMD validation; the common failure is a character cut at the end.
        let err = match simdutf8::compat::from_utf8(rest) {
            Ok(text) => {
                upper_str(text, out);
                return input.len();
            }
            Err(err) => err,
        };
        let (valid, after) = rest.split_at(err.valid_up_to());
        if let Ok(text) = simdutf8::basic::from_utf8(valid) {
            upper_str(text, out);
        }
        match err.error_len() {
            // Invalid bytes pass through unchanged.
            Some(n) => {
                let (bad, more) = after.split_at(n.min(after.len()));
                out.extend_from_slice(bad);
                rest = more;
            }
            // A character cut at the end: hold it for the next chunk.
            None => return input.len() - after.len(),
        }
    }
}

/// Appends one character's UTF-8 bytes; cheaper than a slice copy for 1 to 4 bytes.
fn push_char(c: char, out: &mut Vec<u8>) {
    let mut buf = [0u8; 4];
    for &b in c.encode_utf8(&mut buf).as_bytes() {
        out.push(b);
    }
}

fn push_ascii_upper(ascii: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(ascii);
    if let Some(tail) = out.get_mut(start..) {
        tail.make_ascii_uppercase();
    }
}

/// Marks a Basic Multilingual Plane code point whose uppercase is several characters.
const MULTI: u32 = u32::MAX;

/// Uppercase of every BMP code point, built once on first non-ASCII use
/// (65,536 entries, about 1 ms): a direct lookup instead of the binary search
/// behind `char::to_uppercase`, which made mixed-script text 40% slower.
fn bmp_upper() -> &'static [u32] {
    static TABLE: std::sync::OnceLock<Box<[u32]>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        (0..=0xFFFFu32)
            .map(|cp| match char::from_u32(cp) {
                None => cp,
                Some(c) => {
                    let mut up = c.to_uppercase();
                    match (up.next(), up.next()) {
                        (Some(u), None) => u as u32,
                        _ => MULTI,
                    }
                }
            })
            .collect()
    })
}

/// Uppercases valid text. Bytes that stay the same (ASCII, and every caseless
/// character such as CJK or emoji) are copied in runs; only characters whose
/// uppercase differs are encoded one by one.
fn upper_str(s: &str, out: &mut Vec<u8>) {
    let table = bmp_upper();
    let bytes = s.as_bytes();
    let mut copy_from = 0;
    for (i, c) in s.char_indices() {
        if c.is_ascii() {
            continue;
        }
        let mapped = table.get(c as usize).copied().unwrap_or(MULTI);
        if mapped == c as u32 {
            continue;
        }
        if copy_from < i {
            // copy_from ≤ i < bytes.len(): both are char boundaries met in order.
            push_ascii_upper(bytes.get(copy_from..i).unwrap_or_default(), out);
        }
        match char::from_u32(mapped) {
            Some(u) if mapped != MULTI => push_char(u, out),
            _ => c.to_uppercase().for_each(|u| push_char(u, out)),
        }
        copy_from = i + c.len_utf8();
    }
    // copy_from ≤ bytes.len(): it only ever moves to the end of a char.
    push_ascii_upper(bytes.get(copy_from..).unwrap_or_default(), out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn once(input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        upper_once(input, &mut out);
        out
    }

    fn split_feed(input: &[u8], cuts: &[usize]) -> Vec<u8> {
        let mut t = Upper::new();
        let mut out = Vec::new();
        let mut start = 0;
        for &cut in cuts {
            let cut = cut.clamp(start, input.len());
            t.feed(&input[start..cut], &mut out);
            assert!(t.held() <= MAX_HELD);
            start = cut;
        }
        t.feed(&input[start..], &mut out);
        t.finish(&mut out);
        out
    }

    #[test]
    fn unicode_like_python() {
        assert_eq!(once("straße".as_bytes()), "STRASSE".as_bytes());
        assert_eq!(once("é".as_bytes()), "É".as_bytes());
        assert_eq!(
            once("hello, мир! ﬃ ΐ".as_bytes()),
            "HELLO, МИР! FFI \u{399}\u{308}\u{301}".as_bytes()
        );
        assert_eq!(once("日本 😀 abc".as_bytes()), "日本 😀 ABC".as_bytes());
        assert_eq!(once(b""), b"");
    }

    #[test]
    fn invalid_bytes_pass_through_and_text_around_them_is_uppercased() {
        assert_eq!(once(b"ab\xffcd"), b"AB\xffCD");
        assert_eq!(once(b"\xc3(x"), b"\xc3(X");
        assert_eq!(once(b"\xed\xa0\x80z"), b"\xed\xa0\x80Z");
        assert_eq!(once(b"\xf0\x9fq"), b"\xf0\x9fQ");
    }

    #[test]
    fn incomplete_character_at_the_end_is_sent_as_is() {
        assert_eq!(once(b"abc\xe2\x82"), b"ABC\xe2\x82");
        assert_eq!(once(b"\xf0"), b"\xf0");
    }

    #[test]
    fn every_split_of_multibyte_characters() {
        for text in ["é", "€", "😀", "aßb", "x😀€éy"] {
            let bytes = text.as_bytes();
            let want = text.to_uppercase().into_bytes();
            for cut in 0..=bytes.len() {
                assert_eq!(split_feed(bytes, &[cut]), want, "{text:?} cut at {cut}");
            }
        }
    }

    #[test]
    fn one_byte_at_a_time_emits_each_character_when_complete() {
        let mut t = Upper::new();
        let mut out = Vec::new();
        for &b in "€".as_bytes() {
            assert!(out.is_empty(), "output before the last byte");
            t.feed(&[b], &mut out);
        }
        assert_eq!(out, "€".as_bytes());
        assert_eq!(t.held(), 0);
    }

    proptest! {
        #[test]
        fn any_split_of_any_bytes_gives_the_same_output(
            input in proptest::collection::vec(any::<u8>(), 0..64),
            cuts in proptest::collection::vec(0usize..64, 0..8),
        ) {
            let mut cuts = cuts;
            cuts.sort_unstable();
            prop_assert_eq!(split_feed(&input, &cuts), once(&input));
        }

        #[test]
        fn any_split_of_text_equals_to_uppercase(
            text in "\\PC{0,40}",
            cuts in proptest::collection::vec(0usize..160, 0..8),
        ) {
            let mut cuts = cuts;
            cuts.sort_unstable();
            let want = text.to_uppercase().into_bytes();
            prop_assert_eq!(split_feed(text.as_bytes(), &cuts), want);
        }

        #[test]
        fn valid_utf8_in_one_call_equals_to_uppercase(text in "\\PC{0,80}") {
            prop_assert_eq!(once(text.as_bytes()), text.to_uppercase().into_bytes());
        }
    }
}
