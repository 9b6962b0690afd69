//! The HTTP request decoder: any bytes, whole or split at any point, decode
//! to the same requests and the same error, and nothing panics; the
//! XML-RPC session answers whatever comes without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netlab::proto::http::{Request, RequestDecoder};
use netlab::proto::{Output, Session};
use netlab::rpc::{RpcOptions, RpcSession};

fn decode(wire: &[u8], cut: usize) -> (Vec<Request>, Option<u16>) {
    let mut dec = RequestDecoder::new(4096);
    let mut got = Vec::new();
    for piece in [&wire[..cut], &wire[cut..]] {
        let mut input = piece;
        loop {
            match dec.decode(&mut input) {
                Ok(Some(r)) => got.push(r),
                Ok(None) => break,
                Err(e) => return (got, Some(e.status)),
            }
        }
    }
    (got, None)
}

fuzz_target!(|data: &[u8]| {
    let Some((&c, wire)) = data.split_first() else { return };
    let cut = usize::from(c) * wire.len() / 256;
    assert_eq!(decode(wire, 0), decode(wire, cut));
    let mut session = RpcSession::new(RpcOptions { max_body: 4096 });
    let mut out = Output::new();
    for piece in wire.chunks(7) {
        if session.on_data(piece, &mut out).is_err() {
            break;
        }
    }
});
