//! The HTTP codec, whole, byte by byte and pipelined.

use super::*;
use crate::proto::Decode as _;
use crate::proto::decode::testing::three_ways;

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
fn requests_whole_byte_by_byte_pipelined_and_with_trailing_bytes() {
    let two = [POST, b"POST / HTTP/1.0\nContent-Length: 2\n\nhi"].concat();
    let reqs = three_ways(|| RequestDecoder::new(100), &two, b"GET /", |r| r);
    assert_eq!(reqs.len(), 2);
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

#[test]
fn limits_and_their_statuses() {
    let status = |wire: &[u8], max| decode_split(wire, wire.len(), max).err().map(|e| e.status);
    assert_eq!(status(POST, 4), Some(413));
    assert_eq!(status(b"POST / HTTP/1.1\r\nHost: x\r\n\r\n", 100), Some(411));
    assert_eq!(
        status(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 100),
        Some(501)
    );
    assert_eq!(
        status(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n65\r\n", 100),
        None,
        "101 bytes announced: refused only once they pass the limit"
    );
    assert_eq!(
        status(
            &[
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n65\r\n".as_slice(),
                &[b'x'; 101]
            ]
            .concat(),
            100
        ),
        Some(413)
    );
    assert_eq!(
        status(
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
            100
        ),
        Some(400),
        "both framings: the smuggling ambiguity"
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
    // Dripped one byte at a time, a 16 KiB head is scanned in linear time:
    // each call looks at the new byte and the three before it, no more.
    let head = [b"GET / HTTP/1.1\r\nX: ".as_slice(), &[b'a'; MAX_HEAD - 64], b"\r\n\r\n"].concat();
    let mut reader = HeadReader::default();
    for b in &head {
        let mut one = std::slice::from_ref(b);
        let _ = reader.take(&mut one).expect("within the limit");
    }
    assert!(
        reader.scanned <= 4 * head.len(),
        "{} bytes scanned for {}",
        reader.scanned,
        head.len()
    );
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
    let got = three_ways(|| ResponseDecoder::new(100), &wire, b"HTTP/1.1 2", |r| r);
    let (first, second) = (&got[0], &got[1]);
    assert_eq!(
        (first.status, first.keep_alive, first.body.as_slice()),
        (200, true, &b"<x/>"[..])
    );
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
