//! The streaming uppercase transform: for any bytes cut anywhere, the
//! output equals the one-shot transform of the whole, and nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netlab::proto::upper::{Upper, upper_once};

fuzz_target!(|data: &[u8]| {
    // The first byte chooses how many cuts; the next ones where they fall.
    let Some((&n, rest)) = data.split_first() else { return };
    let n = usize::from(n % 8).min(rest.len());
    let (cuts, text) = rest.split_at(n);
    let mut at: Vec<usize> = cuts.iter().map(|c| usize::from(*c) * text.len() / 256).collect();
    at.sort_unstable();
    let mut t = Upper::new();
    let mut streamed = Vec::new();
    let mut start = 0;
    for cut in at {
        t.feed(&text[start..cut], &mut streamed);
        assert!(t.held() <= 3);
        start = cut;
    }
    t.feed(&text[start..], &mut streamed);
    t.finish(&mut streamed);
    let mut whole = Vec::new();
    upper_once(text, &mut whole);
    assert_eq!(streamed, whole);
});
