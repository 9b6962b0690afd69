//! The HTTP server session, byte by byte, with a streaming body and a fixed clock.

use super::*;
use crate::proto::http::ResponseDecoder;
use std::cell::Cell;
use std::time::UNIX_EPOCH;

thread_local! {
    static NOW: Cell<u64> = const { Cell::new(1_000_000_000) };
}

fn clock() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW.with(Cell::get))
}

/// A body of `len` bytes `a`..`z`, read in whatever pieces are asked.
struct Letters {
    len: u64,
    at: u64,
}

impl Source for Letters {
    fn len(&self) -> u64 {
        self.len
    }
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min((self.len - self.at) as usize);
        for (i, b) in buf.iter_mut().take(n).enumerate() {
            *b = b'a' + ((self.at as usize + i) % 26) as u8;
        }
        self.at += n as u64;
        Ok(n)
    }
}

struct Test;

impl Handler for Test {
    fn handle(&mut self, req: &Request) -> Reply {
        match req.path.as_str() {
            "/big" => Reply {
                status: 200,
                reason: "OK",
                headers: vec![],
                body: Body::Stream(Box::new(Letters { len: 600_000, at: 0 })),
                close: false,
            },
            "/echo" => Reply::new(200, "OK", vec![], req.body.clone()),
            "/gone" => Reply::new(304, "Not Modified", vec![], b"never sent".to_vec()),
            _ => Reply::text(404, "Not Found", "no"),
        }
    }
}

fn session() -> HttpSession<Test> {
    let info = ConnInfo {
        peer: None,
        accepted_at: UNIX_EPOCH,
    };
    HttpSession::new(Test, HttpOptions::default(), clock, &info)
}

/// Drives a session as a server mode does: each piece in, then everything
/// drained; returns the wire and whether the session closed.
fn serve(wire: &[u8], step: usize) -> (Vec<u8>, bool) {
    let mut s = session();
    let mut out = Output::new();
    let mut sent = Vec::new();
    let drain = |s: &mut HttpSession<Test>, out: &mut Output, sent: &mut Vec<u8>| loop {
        sent.extend_from_slice(out.pending());
        out.clear();
        match s.on_drain(out).expect("drain") {
            Drain::More => {}
            Drain::Done => {
                sent.extend_from_slice(out.pending());
                out.clear();
                return false;
            }
            Drain::Close => {
                sent.extend_from_slice(out.pending());
                return true;
            }
        }
    };
    for piece in wire.chunks(step.max(1)) {
        let flow = s.on_data(piece, &mut out).expect("on_data");
        let closed = drain(&mut s, &mut out, &mut sent);
        if flow == Flow::Close || closed {
            return (sent, true);
        }
    }
    (sent, false)
}

fn responses(wire: &[u8]) -> Vec<crate::proto::http::Response> {
    let mut dec = ResponseDecoder::new(1 << 30);
    let mut input = wire;
    let mut got = Vec::new();
    while let Ok(Some(r)) = dec.decode(&mut input) {
        got.push(r);
    }
    got
}

#[test]
fn a_streamed_body_and_pipelined_requests_come_out_in_order_however_split() {
    let wire = b"GET /big HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\n\r\nHEAD /big HTTP/1.1\r\n\r\n";
    let (whole, closed) = serve(wire, wire.len());
    assert!(!closed);
    for step in [1, 7] {
        let (split, _) = serve(wire, step);
        assert_eq!(split.len(), whole.len(), "step {step}");
        assert!(split == whole, "step {step}");
    }
    // HEAD: no body, so the decoder must be told; read the two GETs first.
    let text = String::from_utf8_lossy(&whole);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\nServer: netlab\r\n"));
    assert!(text.contains("Date: Sun, 09 Sep 2001 01:46:40 GMT\r\n"));
    let got = responses(&whole);
    assert_eq!(got[0].body.len(), 600_000);
    assert_eq!(&got[0].body[..3], b"abc");
    assert_eq!(got[1].status, 404);
    let head_resp = text.rsplit("HTTP/1.1 ").next().unwrap_or_default();
    assert!(
        head_resp.starts_with("200 OK")
            && head_resp.contains("Content-Length: 600000")
            && head_resp.ends_with("\r\n\r\n")
    );
}

#[test]
fn http_1_0_keep_alive_is_said_or_the_connection_closes() {
    let (wire, closed) = serve(b"GET /echo HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 100);
    assert!(!closed);
    assert!(String::from_utf8_lossy(&wire).contains("\r\nConnection: keep-alive\r\n"));
    let (wire, closed) = serve(b"GET /echo HTTP/1.0\r\n\r\n", 100);
    assert!(closed);
    assert!(String::from_utf8_lossy(&wire).contains("\r\nConnection: close\r\n"));
}

#[test]
fn chunked_bodies_are_decoded_and_304_has_no_body() {
    let wire = b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\nGET /gone HTTP/1.1\r\n\r\n";
    for step in [wire.len(), 1] {
        let (out, _) = serve(wire, step);
        let got = responses(&out);
        assert_eq!(got[0].body, b"abcde");
        assert_eq!((got[1].status, got[1].body.len()), (304, 0));
        assert!(!String::from_utf8_lossy(&out).contains("never sent"));
    }
}

#[test]
fn expect_100_continue_or_the_final_status_at_once() {
    let (out, _) = serve(
        b"POST /echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n",
        100,
    );
    assert_eq!(out, b"HTTP/1.1 100 Continue\r\n\r\n");
    let (out, closed) = serve(
        b"POST /echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 99999999\r\n\r\n",
        100,
    );
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.starts_with("HTTP/1.1 413 ") && !text.contains("100 Continue"),
        "{text}"
    );
    assert!(!closed, "the refused body is still being dropped");
}

#[test]
fn a_head_that_takes_too_long_gets_408() {
    let mut s = session();
    let mut out = Output::new();
    assert_eq!(s.on_data(b"GET / HT", &mut out).ok(), Some(Flow::Continue));
    NOW.with(|n| n.set(n.get() + 29));
    assert_eq!(s.on_data(b"T", &mut out).ok(), Some(Flow::Continue));
    NOW.with(|n| n.set(n.get() + 2));
    assert_eq!(s.on_data(b"P", &mut out).ok(), Some(Flow::Close));
    assert!(out.pending().starts_with(b"HTTP/1.1 408 Request Timeout\r\n"));
}

#[test]
fn control_characters_are_escaped_for_the_log() {
    assert_eq!(escape_controls("/a\u{1b}[31mb\n"), "/a\\x1b[31mb\\x0a");
}
