//! The one shape every streaming decoder has (frames, HTTP requests, HTTP
//! responses): take bytes from the front of the input, return the next
//! whole item or `None` ("not enough yet": what was taken is kept), and
//! leave the bytes after an item in the input for the next call.
//!
//! [`testing::three_ways`] checks a decoder the way h11's tests do: whole,
//! one byte at a time (nothing comes out before an item's last byte), and
//! with trailing bytes that must stay in the input.

/// Takes up to `n` bytes off the front of `input` and returns them: the
/// decoders' one way to consume input. Taking what is there when fewer
/// than `n` are is the point (a body arrives in pieces), so there is no
/// index that could panic and no silent default.
pub fn take<'a>(input: &mut &'a [u8], n: usize) -> &'a [u8] {
    let (now, rest) = input.split_at(n.min(input.len()));
    *input = rest;
    now
}

/// A streaming decoder.
pub trait Decode {
    /// What comes out: it may borrow the input (a frame that arrived whole).
    type Item<'a>;
    /// Why the input cannot be decoded.
    type Error;

    /// Takes bytes from the front of `input`; returns the next whole item,
    /// or `None` when `input` ran out first (everything taken is kept).
    /// After an item, what follows it is still in `input`.
    ///
    /// # Errors
    /// When the input breaks the protocol or a limit.
    fn decode<'a>(&mut self, input: &mut &'a [u8]) -> Result<Option<Self::Item<'a>>, Self::Error>;
}

/// The three-ways check, for the decoders' unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::Decode;
    use std::fmt::Debug;

    /// Decodes `wire` (whole items only) three ways and returns the items
    /// (as `own` makes them), after checking that:
    /// - fed whole, each item leaves exactly the bytes after it in the input;
    /// - fed one byte at a time, the same items come, each at its last byte;
    /// - with `tail` (the start of a next item) after it, the same items
    ///   come and the tail is taken without an item.
    pub(crate) fn three_ways<D, T>(
        make: impl Fn() -> D,
        wire: &[u8],
        tail: &[u8],
        own: impl Fn(D::Item<'_>) -> T,
    ) -> Vec<T>
    where
        D: Decode,
        D::Error: Debug,
        T: PartialEq + Debug,
    {
        let mut whole = Vec::new();
        let mut dec = make();
        let mut input = wire;
        while let Some(item) = dec.decode(&mut input).expect("decode whole") {
            whole.push(own(item));
            assert!(wire.ends_with(input), "the bytes after an item stay in the input");
        }
        assert!(input.is_empty(), "whole items only");

        let mut bytewise = Vec::new();
        let mut dec = make();
        let mut ends = Vec::new();
        for (i, b) in wire.iter().enumerate() {
            let mut one = std::slice::from_ref(b);
            while let Some(item) = dec.decode(&mut one).expect("decode byte by byte") {
                bytewise.push(own(item));
                ends.push(i);
            }
        }
        assert_eq!(whole, bytewise, "byte by byte");
        if let Some(&last) = ends.last() {
            assert_eq!(last, wire.len() - 1, "the last item came before its last byte");
        }

        let mut dec = make();
        let joined = [wire, tail].concat();
        let mut input = joined.as_slice();
        let mut with_tail = Vec::new();
        while let Some(item) = dec.decode(&mut input).expect("decode with a tail") {
            with_tail.push(own(item));
        }
        assert!(input.is_empty(), "a partial tail is taken and kept by the decoder");
        assert_eq!(whole, with_tail, "with trailing bytes");
        whole
    }
}
