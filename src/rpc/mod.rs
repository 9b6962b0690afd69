//! The XML-RPC server: a [`Handler`] on the one HTTP server session
//! ([`crate::proto::http::server`]), so every server mode serves it: calls
//! parsed and answered ([`crate::proto::xmlrpc`], [`methods`]).
//!
//! Unlike Python's `SimpleXMLRPCServer` (HTTP/1.0, a connection per call) it
//! keeps connections alive and answers pipelined requests in order (the
//! session's work). Every error is an answer: a fault on HTTP 200 for
//! anything about the call (malformed XML, a DOCTYPE, an entity, an unknown
//! method, bad arguments), an HTTP status for anything about the request
//! (404, 405, and the session's 408, 411, 413, 431).

pub mod methods;

use crate::proto::ConnInfo;
use crate::proto::http::server::{Clock, Handler, HttpOptions, HttpSession, Reply};
use crate::proto::http::{HttpError, Request};
use crate::proto::xmlrpc::{self, Fault};
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use std::io::{Read, Write};

/// The largest body accepted by default (`--max-body`).
pub const DEFAULT_MAX_BODY: usize = 1 << 20;
/// Responses longer than this are gzipped for clients that accept it (as Python's server does).
pub const GZIP_ABOVE: usize = 1400;
/// How much of a request or response body `-vv` shows.
const DUMP: usize = 4096;

/// How the server treats requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RpcOptions {
    /// The largest request body, before and after gzip.
    pub max_body: usize,
}

impl Default for RpcOptions {
    fn default() -> Self {
        RpcOptions {
            max_body: DEFAULT_MAX_BODY,
        }
    }
}

/// One connection of the XML-RPC server.
pub type RpcSession = HttpSession<RpcHandler>;

/// A session of the XML-RPC server for the client `info` describes.
pub fn session(opts: RpcOptions, clock: Clock, info: &ConnInfo) -> RpcSession {
    let http = HttpOptions {
        max_body: opts.max_body,
        ..HttpOptions::default()
    };
    HttpSession::new(RpcHandler { opts }, http, clock, info)
}

/// Answers XML-RPC calls POSTed to `/` or `/RPC2`.
#[derive(Debug, Clone, Copy)]
pub struct RpcHandler {
    opts: RpcOptions,
}

impl Handler for RpcHandler {
    fn handle(&mut self, req: &Request) -> Reply {
        if req.path != "/" && req.path != "/RPC2" {
            return Reply::new(
                404,
                "Not Found",
                vec![("Content-Type", "text/plain".into())],
                b"No such page".to_vec(),
            );
        }
        if !req.method.eq_ignore_ascii_case("POST") {
            let body = format!("{} is not supported here: XML-RPC calls are POSTed\n", req.method);
            let headers = vec![("Allow", "POST".into()), ("Content-Type", "text/plain".into())];
            return Reply::new(405, "Method Not Allowed", headers, body.into_bytes());
        }
        let body = match self.decoded_body(req) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(status = e.status, "{}", e.detail);
                let mut reply = Reply::new(e.status, e.reason, Vec::new(), Vec::new());
                reply.close = true;
                return reply;
            }
        };
        tracing::debug!(request = %dump(&body), "xml-rpc request");
        let xml = match xmlrpc::parse_call(&body) {
            Ok(call) => match methods::dispatch(&call.method, &call.params) {
                Ok(v) => xmlrpc::response(&v),
                Err(f) => xmlrpc::fault_response(&f),
            },
            Err(m) => xmlrpc::fault_response(&Fault::python("xml.parsers.expat.ExpatError", m)),
        };
        tracing::debug!(response = %dump(xml.as_bytes()), "xml-rpc response");
        if req.accept_gzip && xml.len() > GZIP_ABOVE {
            let headers = vec![("Content-Type", "text/xml".into()), ("Content-Encoding", "gzip".into())];
            Reply::new(200, "OK", headers, gzip(xml.as_bytes()))
        } else {
            Reply::new(200, "OK", vec![("Content-Type", "text/xml".into())], xml.into_bytes())
        }
    }
}

impl RpcHandler {
    /// The body, inflated when it came gzipped (with the same limit).
    fn decoded_body(&self, req: &Request) -> Result<Vec<u8>, HttpError> {
        match req.content_encoding.as_deref() {
            None => Ok(req.body.clone()),
            Some("gzip") => {
                let mut plain = Vec::new();
                let ceiling = self.opts.max_body as u64 + 1;
                let ok = GzDecoder::new(req.body.as_slice())
                    .take(ceiling)
                    .read_to_end(&mut plain)
                    .is_ok();
                if plain.len() > self.opts.max_body {
                    return Err(error(413, "Payload Too Large", "a gzip body inflating past --max-body"));
                }
                if !ok {
                    return Err(error(400, "Bad Request", "error decoding gzip content"));
                }
                Ok(plain)
            }
            Some(other) => Err(error(
                501,
                "Not Implemented",
                &format!("encoding '{other}' not supported"),
            )),
        }
    }
}

fn error(status: u16, reason: &'static str, detail: &str) -> HttpError {
    HttpError {
        status,
        reason,
        detail: detail.to_string(),
        discard: 0,
    }
}

/// Gzip at level 1, as Python's server does.
fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::with_capacity(data.len() / 3), Compression::fast());
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

fn dump(body: &[u8]) -> String {
    let shown = body.split_at(DUMP.min(body.len())).0;
    let mut text = String::from_utf8_lossy(shown).into_owned();
    if body.len() > DUMP {
        text.push_str(&format!("… ({} bytes)", body.len()));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::http::{self, ResponseDecoder};
    use crate::proto::{Decode as _, Flow, Output, Session};
    use dxr::Value;

    fn post(body: &str, extra: &str) -> Vec<u8> {
        format!(
            "POST /RPC2 HTTP/1.1\r\nHost: t\r\nContent-Type: text/xml\r\n{extra}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    /// Feeds `wire` in `step`-byte pieces; returns the responses and whether the session closed.
    fn serve(wire: &[u8], step: usize) -> (Vec<http::Response>, bool) {
        let info = ConnInfo {
            peer: None,
            accepted_at: std::time::SystemTime::UNIX_EPOCH,
        };
        let mut s = session(
            RpcOptions { max_body: 4096 },
            || std::time::SystemTime::UNIX_EPOCH,
            &info,
        );
        let mut out = Output::new();
        let mut closed = false;
        for piece in wire.chunks(step.max(1)) {
            if s.on_data(piece, &mut out).ok() != Some(Flow::Continue) {
                closed = true;
                break;
            }
        }
        let mut dec = ResponseDecoder::new(1 << 20);
        let mut input = out.pending();
        let mut got = Vec::new();
        while let Ok(Some(r)) = dec.decode(&mut input) {
            got.push(r);
        }
        (got, closed)
    }

    fn result(r: &http::Response) -> Result<Value, Fault> {
        xmlrpc::parse_response(&r.body).unwrap_or_else(|m| Err(Fault::python("Malformed", m)))
    }

    #[test]
    fn calls_answered_on_one_connection_whole_or_byte_by_byte() {
        let call = xmlrpc::call("addtogether", &[Value::Integer(2), Value::Integer(3)]);
        let wire = [
            post(&call, ""),
            post(&xmlrpc::call("upper", &[Value::String("ß".into())]), ""),
        ]
        .concat();
        for step in [wire.len(), 1, 13] {
            let (resps, closed) = serve(&wire, step);
            assert!(!closed, "kept alive");
            assert_eq!(resps.len(), 2, "step {step}");
            assert_eq!(result(&resps[0]), Ok(Value::Integer(5)));
            assert_eq!(result(&resps[1]), Ok(Value::String("SS".into())));
            assert!(resps[0].keep_alive);
        }
    }

    #[test]
    fn call_errors_are_faults_on_200_and_the_connection_stays() {
        let wire = [
            post("<methodCall><methodName>x", ""),
            post(
                r#"<!DOCTYPE a [<!ENTITY e "x">]><methodCall><methodName>&e;</methodName></methodCall>"#,
                "",
            ),
            post(&xmlrpc::call("nosuch", &[]), ""),
            post(&xmlrpc::call("upper", &[Value::String("still here".into())]), ""),
        ]
        .concat();
        let (resps, closed) = serve(&wire, wire.len());
        assert!(!closed);
        assert_eq!(resps.iter().map(|r| r.status).collect::<Vec<_>>(), vec![200; 4]);
        assert!(result(&resps[0]).is_err_and(|f| f.string.contains("ExpatError")));
        assert!(result(&resps[1]).is_err_and(|f| f.string.contains("DOCTYPE")));
        assert!(result(&resps[2]).is_err_and(|f| f.string.contains("is not supported")));
        assert_eq!(result(&resps[3]), Ok(Value::String("STILL HERE".into())));
    }

    #[test]
    fn http_errors_have_their_status() {
        let (r, _) = serve(b"GET /RPC2 HTTP/1.1\r\nHost: t\r\n\r\n", 100);
        assert_eq!(r[0].status, 405);
        let wire = post(&xmlrpc::call("upper", &[]), "");
        let wrong_path = String::from_utf8_lossy(&wire).replace("/RPC2", "/nope").into_bytes();
        assert_eq!(serve(&wrong_path, 100).0[0].status, 404);
        let (r, closed) = serve(b"POST / HTTP/1.1\r\n\r\n", 100);
        assert_eq!((r[0].status, closed), (411, true));
        let big = post(&"x".repeat(5000), "");
        let (r, closed) = serve(&big, 100);
        assert_eq!(
            (r[0].status, r[0].keep_alive, closed),
            (413, false, true),
            "after the body was dropped"
        );
        let (r, closed) = serve(&big[..200], 100);
        assert_eq!((r[0].status, closed), (413, false), "still dropping the body");
    }

    #[test]
    fn gzip_both_ways_and_http_1_0_closes() {
        let long = Value::String("é".repeat(1000));
        let call = xmlrpc::call("addtogether", std::slice::from_ref(&long));
        let (r, _) = serve(&post(&call, "Accept-Encoding: gzip\r\n"), 4096);
        assert_eq!(r[0].content_encoding.as_deref(), Some("gzip"));
        let mut plain = Vec::new();
        GzDecoder::new(r[0].body.as_slice())
            .read_to_end(&mut plain)
            .expect("gunzip");
        assert_eq!(xmlrpc::parse_response(&plain), Ok(Ok(long)));
        let zipped = gzip(xmlrpc::call("upper", &[Value::String("z".into())]).as_bytes());
        let mut wire = format!(
            "POST /RPC2 HTTP/1.0\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
            zipped.len()
        )
        .into_bytes();
        wire.extend_from_slice(&zipped);
        let (r, closed) = serve(&wire, 7);
        assert_eq!(
            (result(&r[0]), r[0].keep_alive, closed),
            (Ok(Value::String("Z".into())), false, true)
        );
    }
}
