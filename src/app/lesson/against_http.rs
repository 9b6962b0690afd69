//! `--against` for the HTTP lessons: the XML-RPC methods (`rpc`) and the
//! file server (`web-server`), spoken as raw HTTP/1.1 over a socket so that
//! nothing between the check and the server tidies a request up.

use super::against::{CAP, CHECK_LIMIT, addr, check, connect, grade};
use super::kit::Run;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// An HTTP answer: status and body (read by its Content-Length, or to the close).
struct Answer {
    status: u16,
    body: Vec<u8>,
}

/// One read before `deadline` (and at most `PATIENCE` of silence).
fn read_some(s: &mut TcpStream, chunk: &mut [u8], deadline: Instant) -> Result<usize, String> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(format!("the answer did not end within {} s", CHECK_LIMIT.as_secs()));
    }
    s.set_read_timeout(Some(left.min(Duration::from_secs(3))))
        .map_err(|e| e.to_string())?;
    s.read(chunk).map_err(|e| format!("no answer: {e}"))
}

/// Reads one response; `head_only` for HEAD (no body follows whatever the
/// headers say). Interim 1xx answers are skipped; a chunked body is read to
/// its last chunk and kept as it came; at most `CAP` bytes in `CHECK_LIMIT`.
fn response(s: &mut TcpStream, head_only: bool) -> Result<Answer, String> {
    let deadline = Instant::now() + CHECK_LIMIT;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut r = httparse::Response::new(&mut headers);
        if let Ok(httparse::Status::Complete(at)) = r.parse(&buf) {
            let status = r.code.unwrap_or(0);
            let header = |name: &str| {
                r.headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case(name))
                    .and_then(|h| std::str::from_utf8(h.value).ok())
                    .map(str::trim)
            };
            let length = header("content-length").and_then(|v| v.parse::<usize>().ok());
            let chunked = header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
            let mut body = buf.split_off(at);
            if (100..200).contains(&status) {
                buf = body; // an interim answer: the real one follows
                continue;
            }
            if head_only {
                return Ok(Answer {
                    status,
                    body: Vec::new(),
                });
            }
            let done = |b: &[u8]| match (length, chunked) {
                (_, true) => b.ends_with(b"0\r\n\r\n"),
                (Some(n), false) => b.len() >= n,
                (None, false) => false,
            };
            if length.is_some_and(|n| n > CAP) {
                return Err(format!(
                    "Content-Length {} is more than this check reads",
                    length.unwrap_or(0)
                ));
            }
            while !done(&body) {
                if body.len() > CAP {
                    return Err(format!("more than {} MiB of body and no end", CAP >> 20));
                }
                let n = read_some(s, &mut chunk, deadline)?;
                if n == 0 && (length.is_some() || chunked) {
                    return Err(format!("closed after {} body bytes, before the body's end", body.len()));
                }
                if n == 0 {
                    break; // the body ends with the connection
                }
                body.extend_from_slice(chunk.get(..n).unwrap_or_default());
            }
            body.truncate(length.unwrap_or(body.len()));
            return Ok(Answer { status, body });
        }
        if buf.len() > 64 * 1024 {
            return Err("a response head over 64 KiB".into());
        }
        match read_some(s, &mut chunk, deadline)? {
            0 if buf.is_empty() => return Err("the server closed without answering".into()),
            0 => return Err("the server closed in the middle of a response head".into()),
            n => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
        }
    }
}

fn request(s: &mut TcpStream, text: &str, body: &[u8]) -> Result<(), String> {
    s.write_all(&[text.as_bytes(), body].concat())
        .map_err(|e| format!("send: {e}"))
}

/// One XML-RPC call over `s`; the response body as text.
fn rpc_call(s: &mut TcpStream, method: &str, params: &[&str]) -> Result<String, String> {
    let params: String = params
        .iter()
        .map(|p| format!("<param><value>{p}</value></param>"))
        .collect();
    let body = format!(
        "<?xml version=\"1.0\"?><methodCall><methodName>{method}</methodName><params>{params}</params></methodCall>"
    );
    let head = format!(
        "POST /RPC2 HTTP/1.1\r\nHost: lesson\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    request(s, &head, body.as_bytes())?;
    let answer = response(s, false)?;
    Ok(String::from_utf8_lossy(&answer.body).into_owned())
}

fn contains_all(text: &str, parts: &[&str]) -> Result<(), String> {
    let mut rest = text;
    for p in parts {
        let at = rest
            .find(p)
            .ok_or_else(|| format!("no {p} in the answer: {}", shorten(text)))?;
        rest = rest.get(at + p.len()..).unwrap_or_default();
    }
    Ok(())
}

fn shorten(text: &str) -> String {
    text.chars().take(160).collect()
}

/// The XML-RPC methods.
pub fn rpc(run: &mut Run, target: &str) -> anyhow::Result<bool> {
    let to = addr(target)?;
    let int = |n: i32| format!("<int>{n}</int>");
    let one = |method: &str, params: &[String], want: &[&str]| -> Result<(), String> {
        let params: Vec<&str> = params.iter().map(String::as_str).collect();
        let text = rpc_call(&mut connect(to)?, method, &params)?;
        if want == ["<int>6</int>"] && text.contains("<i4>6</i4>") {
            return Ok(());
        }
        contains_all(&text, want)
    };
    let checks = vec![
        check(
            "addtogether",
            "the tutorial's first method: three ints in, their sum out",
            || one("addtogether", &[int(1), int(2), int(3)], &["<int>6</int>"]),
        ),
        check(
            "quadratic",
            "(-b ± √d) / (2a): the tutorial's `/2.0*a` divides by 2 and multiplies by a",
            || {
                one(
                    "quadratic",
                    &[int(2), int(-6), int(4)],
                    &["<double>2.0</double>", "<double>1.0</double>"],
                )
            },
        ),
        check(
            "fault",
            "an error in a method travels back as a fault the caller can read, not as a dropped connection",
            || one("quadratic", &[int(1), int(0), int(1)], &["<fault>"]),
        ),
        check(
            "malformed",
            "a body that is not XML-RPC gets an answer (a fault or a 400), not a crash",
            || malformed(to),
        ),
        check(
            "keep-alive",
            "HTTP/1.1 keeps the connection for the next call: no handshake and no TIME_WAIT per call",
            || keep_alive(to),
        ),
    ];
    Ok(grade(run, checks))
}

fn malformed(to: SocketAddr) -> Result<(), String> {
    let mut s = connect(to)?;
    let body = "<methodCall><oops";
    let head = format!(
        "POST /RPC2 HTTP/1.1\r\nHost: lesson\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    request(&mut s, &head, body.as_bytes())?;
    let answer = response(&mut s, false)?;
    let fault = String::from_utf8_lossy(&answer.body).contains("<fault>");
    if fault || (400..500).contains(&answer.status) {
        Ok(())
    } else {
        Err(format!("status {} with no fault", answer.status))
    }
}

fn keep_alive(to: SocketAddr) -> Result<(), String> {
    let mut s = connect(to)?;
    let int = |n: i32| format!("<int>{n}</int>");
    rpc_call(&mut s, "addtogether", &[&int(1), &int(1)])?;
    rpc_call(&mut s, "addtogether", &[&int(2), &int(2)])
        .map_err(|e| format!("the second call on the same connection: {e}"))
        .map(|_| ())
}

/// The file server.
pub fn http(run: &mut Run, target: &str) -> anyhow::Result<bool> {
    let to = addr(target)?;
    let get = |path: &str, method: &str| -> Result<Answer, String> {
        let mut s = connect(to)?;
        request(
            &mut s,
            &format!("{method} {path} HTTP/1.1\r\nHost: lesson\r\nConnection: close\r\n\r\n"),
            b"",
        )?;
        response(&mut s, method == "HEAD")
    };
    let status = |path: &str, method: &str, want: u16| -> Result<(), String> {
        let a = get(path, method)?;
        if a.status != want {
            return Err(format!("{method} {path} answered {}", a.status));
        }
        if method == "HEAD" && !a.body.is_empty() {
            return Err(format!("HEAD sent {} body bytes", a.body.len()));
        }
        Ok(())
    };
    let checks = vec![
        check("get", "GET / answers 200 with the listing or the index page", || {
            status("/", "GET", 200)
        }),
        check(
            "head",
            "HEAD is GET without the body: the same head, nothing after it",
            || status("/", "HEAD", 200),
        ),
        check("not-found", "a missing file is 404, not a crash or a 200", || {
            status("/no-such-file-here.txt", "GET", 404)
        }),
        check(
            "dotdot",
            "'..' (however it is encoded) must never climb out of the served directory",
            || dotdot(&get),
        ),
        check(
            "keep-alive",
            "HTTP/1.1 keeps the connection: a page and its images without a handshake each",
            || http_twice(to),
        ),
        check(
            "bad-request",
            "a request that is not HTTP gets 400 and the server goes on",
            || bad_request(to),
        ),
    ];
    Ok(grade(run, checks))
}

fn dotdot(get: &dyn Fn(&str, &str) -> Result<Answer, String>) -> Result<(), String> {
    for path in [
        "/../../../../../../etc/passwd",
        "/..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
        "/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    ] {
        let a = get(path, "GET")?;
        if a.status == 200 || String::from_utf8_lossy(&a.body).contains("root:") {
            return Err(format!("GET {path} answered {} with the file", a.status));
        }
    }
    Ok(())
}

fn http_twice(to: SocketAddr) -> Result<(), String> {
    let mut s = connect(to)?;
    for i in 1..=2 {
        request(&mut s, "GET / HTTP/1.1\r\nHost: lesson\r\n\r\n", b"")?;
        response(&mut s, false).map_err(|e| format!("request {i} on one connection: {e}"))?;
    }
    Ok(())
}

fn bad_request(to: SocketAddr) -> Result<(), String> {
    let mut s = connect(to)?;
    request(&mut s, "\u{1}\u{2} not http at all\r\n\r\n", b"")?;
    match response(&mut s, false) {
        Ok(a) if a.status == 400 => {}
        Ok(a) => return Err(format!("answered {}", a.status)),
        Err(e) => return Err(e),
    }
    let mut next = connect(to)?;
    request(
        &mut next,
        "GET / HTTP/1.1\r\nHost: lesson\r\nConnection: close\r\n\r\n",
        b"",
    )?;
    response(&mut next, false)
        .map(|_| ())
        .map_err(|e| format!("after the bad request: {e}"))
}
