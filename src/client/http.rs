//! `http get`: the urllib lesson. One GET (or HEAD) per connection, the
//! response head read with the same codec the servers use, the body written
//! on as it arrives (counted, chunked or until the server closes), so a
//! download of any size costs one buffer. Redirects are followed on request,
//! at most [`MAX_REDIRECTS`] of them.

use super::rpc::Url;
use super::stream;
use crate::proto::http::{BodyDecoder, Framing, HeadDecoder, HttpError, Piece, ResponseHead};
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

/// The most redirects `-L` follows.
pub const MAX_REDIRECTS: usize = 10;

/// How to get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetOptions {
    /// Send HEAD: the head only.
    pub head: bool,
    /// Follow redirects (3xx with a `Location`).
    pub follow: bool,
    /// The largest body accepted.
    pub max_size: u64,
    /// Bounds the connect and every wait for the server.
    pub timeout: Duration,
    /// Whom an `https://` server must be vouched for by.
    pub trust: crate::tls::Trust,
}

/// What came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The last response's head.
    pub head: ResponseHead,
    /// Body bytes received (and written).
    pub body_bytes: u64,
    /// From the first connect to the end of the last body.
    pub elapsed: Duration,
}

/// Why a get failed.
#[derive(Debug, thiserror::Error)]
pub enum GetError {
    /// Connecting, sending or receiving failed (refused, timed out, unknown host...).
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The server's answer is not acceptable HTTP (said once: the detail, not its status too).
    #[error("{}", .0.detail)]
    Protocol(HttpError),
    /// The body is larger than `--max-size`.
    #[error("the body is over --max-size ({limit} bytes): {what}")]
    TooLarge {
        /// The limit.
        limit: u64,
        /// What the server said or sent.
        what: String,
    },
    /// A redirect that cannot be followed.
    #[error("{0}")]
    Redirect(String),
    /// The TLS handshake failed (an untrusted certificate, a plain server).
    #[error("{0}")]
    Tls(String),
}

impl From<HttpError> for GetError {
    fn from(e: HttpError) -> Self {
        GetError::Protocol(e)
    }
}

/// Gets `url`: each response head goes to `on_head` (redirects included),
/// the final body to `body`.
///
/// # Errors
/// [`GetError`]: the connection, the protocol, the size limit, or a redirect.
pub fn get(
    url: &Url,
    opts: &GetOptions,
    on_head: &mut dyn FnMut(&ResponseHead) -> io::Result<()>,
    body: &mut dyn Write,
) -> Result<Fetched, GetError> {
    let started = Instant::now();
    let mut url = url.clone();
    for _ in 0..=MAX_REDIRECTS {
        let mut conn = Exchange::open(&url, opts)?;
        let head = conn.head()?;
        on_head(&head)?;
        let location = head.header("location").filter(|_| is_redirect(head.status));
        if let (true, Some(to)) = (opts.follow, location) {
            url = follow(&url, to)?;
            tracing::info!(to = %to, status = head.status, "redirected");
            continue;
        }
        let body_bytes = conn.body(&head, opts.max_size, body)?;
        return Ok(Fetched {
            head,
            body_bytes,
            elapsed: started.elapsed(),
        });
    }
    Err(GetError::Redirect(format!("more than {MAX_REDIRECTS} redirects")))
}

fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// The URL a `Location` names, relative to `base`.
///
/// # Errors
/// A location with another scheme.
pub fn follow(base: &Url, location: &str) -> Result<Url, GetError> {
    let scheme = location
        .split_once("://")
        .map(|(s, _)| s)
        .filter(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)));
    if scheme.is_some() {
        return Url::parse_with_path(location, "/").map_err(GetError::Redirect);
    }
    if let Some(rest) = location.strip_prefix("//") {
        let scheme = if base.tls { "https" } else { "http" };
        return Url::parse_with_path(&format!("{scheme}://{rest}"), "/").map_err(GetError::Redirect);
    }
    let (path, query) = location.split_once('?').map_or((location, None), |(p, q)| (p, Some(q)));
    let joined = if path.starts_with('/') {
        path.to_string()
    } else {
        let dir = base.path.split('?').next().unwrap_or_default();
        let dir = dir.rsplit_once('/').map_or("", |(d, _)| d);
        format!("{dir}/{path}")
    };
    let mut path = remove_dot_segments(&joined);
    if let Some(q) = query {
        path.push('?');
        path.push_str(q);
    }
    Ok(Url { path, ..base.clone() })
}

/// `/a/b/../c/./d` → `/a/c/d` (RFC 3986 §5.2.4), never above the root.
fn remove_dot_segments(path: &str) -> String {
    let mut kept: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let last = segments.len().saturating_sub(1);
    let mut trailing = false;
    for (i, seg) in segments.iter().enumerate() {
        match *seg {
            "." => trailing = i == last,
            ".." => {
                kept.pop();
                trailing = i == last;
            }
            other => {
                kept.push(other);
                trailing = false;
            }
        }
    }
    let mut out = format!("/{}", kept.join("/"));
    if trailing && !out.ends_with('/') {
        out.push('/');
    }
    out
}

/// One request on its own connection.
struct Exchange {
    conn: Box<dyn super::Wire>,
    buf: Vec<u8>,
    /// Bytes of `buf` received after the head, not yet taken.
    start: usize,
    end: usize,
    head_request: bool,
}

impl Exchange {
    fn open(url: &Url, opts: &GetOptions) -> Result<Self, GetError> {
        let addrs = crate::net::resolve(&url.host, url.port).map_err(io::Error::other)?;
        let conn = stream::connect_tcp(&addrs, Some(opts.timeout))?;
        conn.set_read_timeout(Some(opts.timeout))?;
        conn.set_write_timeout(Some(opts.timeout))?;
        let mut conn: Box<dyn super::Wire> = match (url.tls, conn) {
            (true, crate::conn::Stream::Tcp(tcp)) => Box::new(
                crate::tls::client::connect(tcp, &url.host, &opts.trust).map_err(|e| match e {
                    crate::tls::client::HandshakeError::Io(io) => GetError::Io(io),
                    other => GetError::Tls(other.to_string()),
                })?,
            ),
            (_, plain) => Box::new(plain),
        };
        let request = request(url, opts.head);
        for line in request.lines().filter(|l| !l.is_empty()) {
            tracing::debug!("> {line}");
        }
        conn.write_all(request.as_bytes())?;
        Ok(Exchange {
            conn,
            buf: vec![0u8; 64 * 1024],
            start: 0,
            end: 0,
            head_request: opts.head,
        })
    }

    /// Reads into the buffer; 0 at EOF.
    fn fill(&mut self) -> io::Result<usize> {
        loop {
            match self.conn.read(&mut self.buf) {
                Ok(n) => {
                    (self.start, self.end) = (0, n);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "timed out waiting for the server",
                    ));
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn pending(&self) -> &[u8] {
        self.buf.get(self.start..self.end).unwrap_or_default()
    }

    fn head(&mut self) -> Result<ResponseHead, GetError> {
        let mut decoder = HeadDecoder::new(self.head_request);
        loop {
            if self.fill()? == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the server closed without answering").into());
            }
            let mut input = self.pending();
            let got = decoder.decode(&mut input)?;
            self.start = self.end - input.len();
            if let Some(head) = got {
                tracing::debug!("< HTTP/1.{} {} {}", head.minor, head.status, head.reason);
                for (name, value) in &head.headers {
                    tracing::debug!("< {name}: {value}");
                }
                return Ok(head);
            }
        }
    }

    /// Writes the body to `sink` as it arrives; returns its length.
    fn body(&mut self, head: &ResponseHead, max: u64, sink: &mut dyn Write) -> Result<u64, GetError> {
        if let Framing::Length(n) = head.framing
            && n > max
        {
            return Err(GetError::TooLarge {
                limit: max,
                what: format!("Content-Length: {n}"),
            });
        }
        let mut decoder = BodyDecoder::new(head.framing);
        let mut total: u64 = 0;
        loop {
            let mut input = self.pending();
            while let Piece::Data(d) = decoder.next(&mut input)? {
                total += d.len() as u64;
                if total > max {
                    return Err(GetError::TooLarge {
                        limit: max,
                        what: format!("{total} bytes so far"),
                    });
                }
                sink.write_all(d)?;
            }
            if decoder.is_done() {
                return Ok(total);
            }
            if self.fill()? == 0 {
                decoder.eof()?;
                return Ok(total);
            }
        }
    }
}

/// A path as a request line may carry it: spaces, controls and bytes past
/// ASCII percent-encoded (what is encoded already stays as it is).
fn on_the_wire(path: &str) -> String {
    let mut wire = String::with_capacity(path.len());
    for b in path.bytes() {
        if b <= b' ' || b >= 0x7f || b == b'"' {
            wire.push_str(&format!("%{b:02X}"));
        } else {
            wire.push(char::from(b));
        }
    }
    wire
}

/// The request head: `Connection: close`, as urllib sends it.
fn request(url: &Url, head: bool) -> String {
    let mut text = String::with_capacity(160);
    let method = if head { "HEAD" } else { "GET" };
    let _ = write!(
        text,
        "{method} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: netlab/{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        on_the_wire(&url.path),
        url.host_header(),
        env!("CARGO_PKG_VERSION")
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse_with_path(text, "/").expect("url")
    }

    #[test]
    fn locations_relative_to_the_url() {
        let base = url("http://h:8000/a/b.html");
        assert_eq!(follow(&base, "/x").expect("abs").path, "/x");
        assert_eq!(follow(&base, "c/").expect("rel").path, "/a/c/");
        let other = follow(&base, "http://o:81/y").expect("full");
        assert_eq!((other.host.as_str(), other.port, other.path.as_str()), ("o", 81, "/y"));
        assert_eq!(follow(&base, "//p/z").expect("scheme-relative").host, "p");
        assert!(follow(&base, "ftp://h/").is_err());
        assert_eq!(
            follow(&base, "/ok?next=http://evil:1/").expect("query").path,
            "/ok?next=http://evil:1/"
        );
        assert_eq!(follow(&base, "../x").expect("up").path, "/x");
        assert_eq!(follow(&base, "../../../x/./y/").expect("clamped").path, "/x/y/");
        assert_eq!(on_the_wire("/a b/é"), "/a%20b/%C3%A9");
    }

    #[test]
    fn the_request_head() {
        let r = request(&url("http://[::1]:8000/a%20b"), true);
        assert!(r.starts_with("HEAD /a%20b HTTP/1.1\r\nHost: [::1]:8000\r\n"));
        assert!(r.ends_with("Connection: close\r\n\r\n"));
    }
}
