//! The framed session (frame decoder, with and without zlib): any bytes, fed
//! whole or one byte at a time, give the same replies and the same verdict,
//! and nothing panics or allocates past the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netlab::proto::framed::{FramedOptions, FramedSession};
use netlab::proto::{Output, Session};

fn serve(opts: FramedOptions, wire: &[u8], step: usize) -> (Vec<u8>, String) {
    let mut s = FramedSession::new(opts);
    let mut out = Output::new();
    for piece in wire.chunks(step) {
        if let Err(e) = s.on_data(piece, &mut out) {
            return (out.pending().to_vec(), e.to_string());
        }
    }
    let end = s.on_eof(&mut out).map_or_else(|e| e.to_string(), |()| String::new());
    (out.pending().to_vec(), end)
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, wire)) = data.split_first() else { return };
    let opts = FramedOptions {
        max_frame: 1 << 16,
        zlib: flags & 1 == 1,
        split_writes: flags & 2 == 2,
        ..FramedOptions::default()
    };
    let whole = serve(opts, wire, wire.len().max(1));
    let bytewise = serve(opts, wire, 1);
    assert_eq!(whole, bytewise);
});
