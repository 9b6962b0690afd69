//! What the scripted server (`tests/scripted_server.rs`) and the tests that
//! check it (`tests/conformance.rs`) must agree on.
#![allow(dead_code)]

/// The `LargeReply` script's reply: bigger than any socket buffer, so it
/// takes many short writes.
pub const LARGE: usize = 4 << 20;

/// The `LargeReply` script's reply bytes.
pub fn large_reply() -> impl Iterator<Item = u8> {
    (0..LARGE).map(|i| b'a' + (i % 26) as u8)
}

/// The `Streamed` script sends the same bytes one piece of this size per
/// `on_drain` call.
pub const PIECE: usize = 64 * 1024;
