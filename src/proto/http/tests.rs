//! The HTTP codec, whole, byte by byte and pipelined.

use super::*;

const POST: &[u8] = b"POST /RPC2 HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nContent-Length: 5\r\n\r\nhello";

fn decode_split(wire: &[u8], step: usize, max: usize) -> Result<(Vec<Request>, usize), HttpError> {
    let mut dec = RequestDecoder::new(max);
    let mut got = Vec::new();
    for piece in wire.chunks(step.max(1)) {
        let mut input = piece;
        while let Some(r) = dec.decode(&mut input)? {
            got.push(r);
        }
        assert!(input.is_empty());
    }
    Ok((got, usize::from(!dec.is_idle())))
}

#[test]
fn a_request_whole_byte_by_byte_and_pipelined() {
    let two = [POST, b"POST / HTTP/1.0\nContent-Length: 2\n\nhi"].concat();
    for step in [two.len(), 1, 7] {
        let (reqs, pending) = decode_split(&two, step, 100).expect("decode");
        assert_eq!((reqs.len(), pending), (2, 0), "step {step}");
        assert_eq!(reqs[0].body, b"hello");
        assert_eq!(
            (reqs[0].path.as_str(), reqs[0].minor, reqs[0].keep_alive),
            ("/RPC2", 1, true)
        );
        assert!(reqs[0].accept_gzip);
        assert_eq!(
            (reqs[1].body.as_slice(), reqs[1].minor, reqs[1].keep_alive),
            (&b"hi"[..], 0, false)
        );
    }
}

#[test]
fn trailing_bytes_stay_in_the_input() {
    let mut dec = RequestDecoder::new(100);
    let wire = [POST, b"GET /"].concat();
    let mut input = wire.as_slice();
    assert!(dec.decode(&mut input).expect("decode").is_some());
    assert_eq!(input, b"GET /");
}

#[test]
fn limits_and_their_statuses() {
    let status = |wire: &[u8], max| decode_split(wire, wire.len(), max).err().map(|e| e.status);
    assert_eq!(status(POST, 4), Some(413));
    assert_eq!(status(b"POST / HTTP/1.1\r\nHost: x\r\n\r\n", 100), Some(411));
    assert_eq!(
        status(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 100),
        Some(501)
    );
    assert_eq!(status(b"POST / HTTP/2.0\r\n\r\n", 100), Some(505));
    assert_eq!(status(b"\x16\x03\x01 garbage\r\n\r\n", 100), Some(400));
    assert_eq!(status(b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n", 100), Some(400));
    let huge = [b"POST / HTTP/1.1\r\nX: ".as_slice(), &[b'a'; MAX_HEAD], b"\r\n\r\n"].concat();
    assert_eq!(status(&huge, 100), Some(431));
    let many: Vec<u8> = [
        b"GET / HTTP/1.1\r\n".to_vec(),
        b"A: b\r\n".repeat(MAX_HEADERS + 1),
        b"\r\n".to_vec(),
    ]
    .concat();
    assert_eq!(status(&many, 100), Some(431));
    let e = decode_split(POST, POST.len(), 4).err();
    assert_eq!(e.map(|e| e.discard), Some(5), "the body to drop before closing");
}

#[test]
fn a_slow_head_is_scanned_once() {
    // Dripped one byte at a time: the terminator is found, nothing more.
    let (reqs, _) = decode_split(POST, 1, 100).expect("decode");
    assert_eq!(reqs.len(), 1);
    assert_eq!(head_end(b"a\r\n\r\nb", 0), Some(5));
    assert_eq!(head_end(b"a\n\nb", 0), Some(3));
    assert_eq!(head_end(b"a\r\nb", 0), None);
}

#[test]
fn connection_and_encoding_headers() {
    let wire = b"POST / HTTP/1.1\r\nConnection: Close\r\nAccept-Encoding: deflate, gzip;q=0\r\nContent-Encoding: gzip\r\nContent-Length: 0\r\n\r\n";
    let (reqs, _) = decode_split(wire, wire.len(), 10).expect("decode");
    assert!(!reqs[0].keep_alive && !reqs[0].accept_gzip);
    assert_eq!(reqs[0].content_encoding.as_deref(), Some("gzip"));
    let ka = b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    assert!(decode_split(ka, 3, 10).expect("decode").0[0].keep_alive);
}

#[test]
fn responses_written_and_read_back() {
    let mut wire = Vec::new();
    write_response(&mut wire, 1, 200, "OK", &[("Content-Type", "text/xml")], b"<x/>", false);
    write_response(&mut wire, 1, 413, "Payload Too Large", &[], b"", true);
    let mut dec = ResponseDecoder::new(100);
    let mut input = wire.as_slice();
    let first = dec.decode(&mut input).expect("decode").expect("first");
    assert_eq!(
        (first.status, first.keep_alive, first.body.as_slice()),
        (200, true, &b"<x/>"[..])
    );
    let second = dec.decode(&mut input).expect("decode").expect("second");
    assert_eq!((second.status, second.keep_alive), (413, false));
    let mut until_eof = ResponseDecoder::new(100);
    let mut input: &[u8] = b"HTTP/1.0 200 OK\r\n\r\nbody";
    assert_eq!(until_eof.decode(&mut input), Ok(None));
    assert_eq!(until_eof.eof().expect("eof").map(|r| r.body), Some(b"body".to_vec()));
    let mut post = Vec::new();
    write_post(&mut post, "h:1", "/RPC2", &[("Content-Type", "text/xml")], b"<b/>");
    let mut reqs = RequestDecoder::new(100);
    let mut input = post.as_slice();
    assert_eq!(
        reqs.decode(&mut input).expect("decode").map(|r| r.body),
        Some(b"<b/>".to_vec())
    );
}
