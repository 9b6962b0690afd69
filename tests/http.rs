//! `http server DIR` on raw sockets and against Python 3's `urllib`,
//! `http.client` and `html.parser`; `http get URL` against Python's
//! `http.server`, against netlab's own server and against peers that answer
//! badly.

use crate::util::*;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tempfile::TempDir;

/// What must never leave the server: the contents of the files outside DIR.
const SECRET: &str = "TOP-SECRET-5b7e1c";
/// Every socket read waits at most this long.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Every exchange on a [`Conn`] is over within this long, or fails.
const EXCHANGE_LIMIT: Duration = Duration::from_secs(60);
/// Modification time given to files whose `Last-Modified` is checked.
const MTIME_SECS: u64 = 1_000_000_000;
const MTIME_HTTP: &str = "Sun, 09 Sep 2001 01:46:40 GMT";

/// A served directory `site/` in a temporary parent that also holds `secret`
/// and `outside/secret`, which must never be served.
struct Site {
    parent: TempDir,
}

impl Site {
    fn new() -> Site {
        let parent = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(parent.path().join("site")).expect("site");
        std::fs::create_dir(parent.path().join("outside")).expect("outside");
        std::fs::write(parent.path().join("secret"), SECRET).expect("secret");
        std::fs::write(parent.path().join("outside/secret"), SECRET).expect("outside/secret");
        Site { parent }
    }

    fn dir(&self) -> PathBuf {
        self.parent.path().join("site")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir().join(name)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, bytes).expect("write");
        path
    }

    fn mkdir(&self, name: &str) {
        std::fs::create_dir_all(self.path(name)).expect("mkdir");
    }

    /// `netlab http server site/ EXTRA... -p 0`.
    fn serve(&self, extra: &[&str]) -> Server {
        let dir = self.dir();
        let mut args = vec!["http", "server", dir.to_str().expect("utf-8 path")];
        args.extend_from_slice(extra);
        Server::start(&args)
    }
}

/// Stops the server and checks it exited cleanly, with no panic on its stderr.
fn finish(server: Server) -> String {
    let (status, stderr) = server.terminate();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(status.success(), "{status}: {stderr}");
    stderr
}

/// `len` bytes that repeat only after a long time (misplaced pieces show).
fn pattern(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x.to_le_bytes()[0]
        })
        .collect()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// One parsed response.
#[derive(Debug)]
struct Response {
    /// The status line.
    line: String,
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn has(&self, name: &str, value: &str) -> bool {
        self.header(name) == Some(value)
    }

    fn text(&self) -> String {
        text(&self.body)
    }
}

/// A raw client connection reading responses one at a time (pipelined ones too).
struct Conn {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    fn open(server: &Server) -> Conn {
        let s = TcpStream::connect(server.socket_addr()).expect("connect");
        s.set_read_timeout(Some(READ_TIMEOUT)).expect("timeout");
        s.set_write_timeout(Some(READ_TIMEOUT)).expect("timeout");
        Conn { s, buf: Vec::new() }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).expect("send");
    }

    /// Reads what is there; false at EOF. A read that waits out the timeout fails the test.
    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 64 * 1024];
        // A read with a timeout is not restarted after a signal (socket(7)).
        let n = loop {
            match self.s.read(&mut chunk) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        }
        .unwrap_or_else(|e| panic!("read: {e}; so far: {:?}", text(&self.buf)));
        self.buf.extend_from_slice(&chunk[..n]);
        n > 0
    }

    /// The next response; `head_request`: it answers a HEAD (no body whatever it says).
    fn response(&mut self, head_request: bool) -> Response {
        let started = Instant::now();
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            assert!(started.elapsed() < EXCHANGE_LIMIT, "no head in time");
            assert!(self.fill(), "EOF before a whole head: {:?}", text(&self.buf));
        };
        let head = text(&self.buf[..head_end]);
        let mut lines = head.split("\r\n");
        let line = lines.next().expect("status line").to_string();
        let status: u16 = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("status line {line:?}"));
        let headers: Vec<(String, String)> = lines
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (n, v) = l.split_once(':').unwrap_or_else(|| panic!("header {l:?}"));
                (n.to_string(), v.trim().to_string())
            })
            .collect();
        let bodiless = head_request || matches!(status, 100..=199 | 204 | 304);
        let len = if bodiless {
            0
        } else {
            let value = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .unwrap_or_else(|| panic!("no Content-Length: {head}"));
            value.1.parse::<usize>().expect("Content-Length")
        };
        while self.buf.len() < head_end + len {
            assert!(started.elapsed() < EXCHANGE_LIMIT, "no body in time");
            assert!(self.fill(), "EOF in the body: {} of {len}", self.buf.len() - head_end);
        }
        let rest = self.buf.split_off(head_end + len);
        let body = std::mem::replace(&mut self.buf, rest).split_off(head_end);
        Response {
            line,
            status,
            headers,
            body,
        }
    }

    /// The server closes with nothing more to say.
    fn expect_eof(&mut self) {
        assert!(self.buf.is_empty(), "unexpected bytes: {:?}", text(&self.buf));
        let mut rest = Vec::new();
        self.s.read_to_end(&mut rest).expect("EOF within the read timeout");
        assert!(rest.is_empty(), "unexpected bytes: {:?}", text(&rest));
    }
}

/// One request on its own connection, and its response.
fn request(server: &Server, raw: &str) -> Response {
    let mut c = Conn::open(server);
    c.send(raw.as_bytes());
    c.response(raw.starts_with("HEAD "))
}

fn get(server: &Server, path: &str, headers: &str) -> Response {
    request(server, &format!("GET {path} HTTP/1.1\r\nHost: t\r\n{headers}\r\n"))
}

/// Sends raw bytes, half-closes, returns everything the server sent until it closed.
fn raw_exchange(server: &Server, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(server.socket_addr()).expect("connect");
    s.set_read_timeout(Some(READ_TIMEOUT)).expect("timeout");
    let _ = s.write_all(bytes);
    let _ = s.shutdown(Shutdown::Write);
    let mut got = Vec::new();
    s.read_to_end(&mut got)
        .expect("the server closes within the read timeout");
    got
}

// ---------------------------------------------------------------- containment

/// The site with the links that lead outside it.
fn site_with_links() -> Site {
    let site = Site::new();
    site.write("a.txt", b"hello\n");
    site.write("%2e%2e.txt", b"a literal name\n");
    std::os::unix::fs::symlink("../secret", site.path("link-to-secret")).expect("symlink");
    std::os::unix::fs::symlink("../outside", site.path("linkdir")).expect("symlink");
    site
}

#[test]
fn nothing_outside_dir_is_ever_served() {
    let site = site_with_links();
    let server = site.serve(&[]);
    let port = server.port();
    let absolute =
        format!("GET http://evil.example/secret HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    let mut requests: Vec<(String, Vec<u8>)> = [
        "/../secret",
        "/..%2fsecret",
        "/%2e%2e/secret",
        "/%2e%2e%2fsecret",
        "/..%5csecret",
        "/..\\secret",
        "/a/../../secret",
        "/%00",
        "/x%00.txt",
        "//evil.example/secret",
        "/link-to-secret",
        "/linkdir/secret",
        "/.%2e/secret",
        "/%252e%252e/secret",
        "/..;/secret",
        "/%2E%2E/%2E%2E/secret",
        "/linkdir/../secret",
        "/a.txt/../../secret",
        "/%zz",
    ]
    .iter()
    .map(|t| {
        let raw = format!("GET {t} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
        (t.to_string(), raw.into_bytes())
    })
    .collect();
    requests.push(("absolute form".into(), absolute.into_bytes()));
    for (what, raw) in &requests {
        let reply = text(&raw_exchange(&server, raw));
        // Per SPEC: a target that would leave DIR is 404, a malformed one 400.
        let status = if what == "/%zz" { "HTTP/1.1 400" } else { "HTTP/1.1 404" };
        assert!(reply.starts_with(status), "{what}: {status}, not: {reply}");
        assert!(!reply.contains(SECRET), "{what}: leaked: {reply}");
        // HEAD too: the same answer, and no body at all.
        let head = String::from_utf8(raw.clone())
            .expect("ascii")
            .replacen("GET ", "HEAD ", 1);
        let reply = text(&raw_exchange(&server, head.as_bytes()));
        assert!(reply.starts_with(status), "{what} by HEAD: {reply}");
        assert!(reply.ends_with("\r\n\r\n"), "{what} by HEAD: a body: {reply}");
        assert!(!reply.contains(SECRET), "{what} by HEAD: leaked: {reply}");
    }
    // A double-encoded name is decoded once: a literal name, served when it exists.
    let literal = get(&server, "/%252e%252e.txt", "");
    assert_eq!((literal.status, literal.text().as_str()), (200, "a literal name\n"));
    // What is inside is served: absolute form naming this server, a query that climbs (ignored).
    let this_host = format!("Host: 127.0.0.1:{port}\r\n");
    let absolute = request(
        &server,
        &format!("GET http://127.0.0.1:{port}/a.txt HTTP/1.1\r\n{this_host}\r\n"),
    );
    assert_eq!((absolute.status, absolute.text().as_str()), (200, "hello\n"));
    let query = get(&server, "/a.txt?f=../../secret#/../secret", "");
    assert_eq!((query.status, query.text().as_str()), (200, "hello\n"));
    finish(server);
}

#[test]
fn follow_symlinks_serves_links_outside() {
    let site = site_with_links();
    let server = site.serve(&["--follow-symlinks"]);
    for path in ["/link-to-secret", "/linkdir/secret"] {
        let r = get(&server, path, "");
        assert_eq!(r.status, 200, "{path}: {r:?}");
        assert_eq!(r.text(), SECRET, "{path}");
    }
    // Following links never makes `..` mean anything.
    for path in ["/../secret", "/%2e%2e/secret", "/linkdir/../secret"] {
        let r = get(&server, path, "");
        assert_eq!(r.status, 404, "{path}");
        assert!(!r.text().contains(SECRET), "{path}");
    }
    finish(server);
}

// ---------------------------------------------------------------- listings

/// Python's `html.parser` reads the listing: each link's href and text, and
/// for each file the body its href (joined to the page's URL) fetches.
const PY_LISTING: &str = r#"
import json, sys, urllib.parse, urllib.request
from html.parser import HTMLParser
class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.href, self.text = [], None, ''
    def handle_starttag(self, tag, attrs):
        if tag == 'a':
            self.href, self.text = dict(attrs)['href'], ''
    def handle_data(self, data):
        if self.href is not None:
            self.text += data
    def handle_endtag(self, tag):
        if tag == 'a' and self.href is not None:
            self.links.append([self.href, self.text])
            self.href = None
url = sys.argv[1]
with urllib.request.urlopen(url, timeout=10) as r:
    ctype = r.headers['Content-Type']
    page = r.read().decode('utf-8')
parser = Links()
parser.feed(page)
bodies = {}
for href, shown in parser.links:
    if not href.endswith('/'):
        with urllib.request.urlopen(urllib.parse.urljoin(url, href), timeout=10) as r:
            bodies[shown] = r.read().decode('utf-8')
print(json.dumps({'type': ctype, 'links': parser.links,
                  'unquoted': [urllib.parse.unquote(h) for h, _ in parser.links], 'bodies': bodies}))
"#;

#[test]
fn listing_escapes_names_and_lists_directories_first() {
    let site = Site::new();
    let hostile = "<img src=x onerror=alert(1)>";
    let files = [hostile, "a&b \"q\" 'x'.txt", "100% café?#.txt", "b.txt", "A.txt"];
    for name in files {
        site.write(name, name.as_bytes());
    }
    let dirs = ["zdir", "adir", "d<i>r"];
    for name in dirs {
        site.mkdir(name);
    }
    let server = site.serve(&[]);
    let raw = get(&server, "/", "");
    assert_eq!(raw.status, 200);
    assert!(raw.has("Content-Type", "text/html; charset=utf-8"), "{raw:?}");
    let page = raw.text();
    assert!(!page.contains("<img"), "a name is never markup: {page}");
    assert!(!page.contains("<i>"), "a name is never markup: {page}");
    assert!(
        page.contains("href=\"%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E\""),
        "the link is percent-encoded: {page}"
    );
    assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;"), "{page}");

    let out = python(PY_LISTING, &[&format!("http://{}/", server.addr)], b"");
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let shown: Vec<&str> = v["links"]
        .as_array()
        .expect("links")
        .iter()
        .map(|l| l[1].as_str().expect("text"))
        .collect();
    let mut expected_dirs: Vec<String> = dirs.iter().map(|d| format!("{d}/")).collect();
    expected_dirs.sort();
    let mut expected_files: Vec<String> = files.iter().map(|f| f.to_string()).collect();
    expected_files.sort();
    let expected: Vec<String> = expected_dirs.into_iter().chain(expected_files).collect();
    assert_eq!(shown, expected, "sorted, directories first with '/'");
    let unquoted: Vec<&str> = v["unquoted"]
        .as_array()
        .expect("unquoted")
        .iter()
        .map(|h| h.as_str().expect("href"))
        .collect();
    assert_eq!(unquoted, expected, "each href decodes to its name");
    for name in files {
        assert_eq!(v["bodies"][name], name, "the link to {name:?} fetches that file");
    }
    finish(server);
}

#[test]
fn directories_redirect_serve_index_and_obey_no_listing() {
    let site = Site::new();
    site.mkdir("docs");
    site.write("docs/index.html", b"<p>docs</p>\n");
    site.mkdir("my dir");
    site.write("my dir/x.txt", b"x\n");
    site.mkdir("empty");
    let server = site.serve(&[]);
    let moved = get(&server, "/docs", "");
    assert_eq!(moved.status, 301, "{moved:?}");
    assert!(moved.has("Location", "/docs/"), "{moved:?}");
    let moved = get(&server, "/my%20dir?q=1", "");
    assert_eq!(moved.status, 301, "{moved:?}");
    assert!(moved.has("Location", "/my%20dir/"), "{moved:?}");
    let index = get(&server, "/docs/", "");
    assert_eq!((index.status, index.text().as_str()), (200, "<p>docs</p>\n"));
    assert!(index.has("Content-Type", "text/html; charset=utf-8"));
    let listing = get(&server, "/my%20dir/", "");
    assert_eq!(listing.status, 200);
    assert!(listing.text().contains("href=\"x.txt\""), "{}", listing.text());
    let file_with_slash = get(&server, "/my%20dir/x.txt/", "");
    assert_eq!(file_with_slash.status, 404, "a file is not a directory");
    finish(server);

    let server = site.serve(&["--no-listing"]);
    assert_eq!(get(&server, "/empty/", "").status, 404);
    assert_eq!(get(&server, "/", "").status, 404);
    assert_eq!(
        get(&server, "/docs/", "").text(),
        "<p>docs</p>\n",
        "index.html still served"
    );
    assert_eq!(get(&server, "/my%20dir/x.txt", "").text(), "x\n", "files still served");
    finish(server);
}

// ---------------------------------------------------------------- headers

fn set_mtime(path: &Path, secs: u64) {
    let file = std::fs::File::options().write(true).open(path).expect("open");
    file.set_modified(UNIX_EPOCH + Duration::from_secs(secs))
        .expect("set mtime");
}

#[test]
fn file_headers() {
    let site = Site::new();
    let table = [
        ("index.html", "text/html; charset=utf-8"),
        ("a.txt", "text/plain; charset=utf-8"),
        ("pic.png", "image/png"),
        ("style.css", "text/css"),
        ("data.json", "application/json"),
        ("blob.xyz", "application/octet-stream"),
        ("noext", "application/octet-stream"),
    ];
    for (i, (name, _)) in table.iter().enumerate() {
        let path = site.write(name, &pattern(100 + i));
        set_mtime(&path, MTIME_SECS);
    }
    let server = site.serve(&[]);
    for (i, (name, ctype)) in table.iter().enumerate() {
        let r = get(&server, &format!("/{name}"), "");
        assert_eq!(r.status, 200, "{name}");
        assert!(r.has("Content-Type", ctype), "{name}: {r:?}");
        assert!(r.has("Content-Length", &(100 + i).to_string()), "{name}: {r:?}");
        assert_eq!(r.body, pattern(100 + i), "{name}");
        assert!(r.has("Last-Modified", MTIME_HTTP), "{name}: {r:?}");
        assert!(r.has("Accept-Ranges", "bytes"), "{name}: {r:?}");
        let etag = r.header("ETag").expect("ETag");
        assert!(etag.len() > 2 && etag.starts_with('"') && etag.ends_with('"'), "{etag}");
        let date = r.header("Date").expect("Date");
        let date = httpdate::parse_http_date(date).expect("an HTTP date");
        let skew = date
            .duration_since(SystemTime::now())
            .or_else(|e| Ok::<_, ()>(e.duration()))
            .expect("skew");
        assert!(skew < Duration::from_secs(3600), "Date is now: {r:?}");
        assert!(r.header("Server").is_some_and(|s| s.starts_with("netlab")), "{r:?}");
    }
    let etags: std::collections::HashSet<String> = table
        .iter()
        .map(|(name, _)| {
            get(&server, &format!("/{name}"), "")
                .header("ETag")
                .expect("ETag")
                .to_string()
        })
        .collect();
    assert_eq!(etags.len(), table.len(), "files of other sizes have other tags");
    finish(server);
}

#[test]
fn conditional_requests() {
    let site = Site::new();
    let path = site.write("a.txt", b"version one\n");
    set_mtime(&path, MTIME_SECS);
    let server = site.serve(&[]);
    let first = get(&server, "/a.txt", "");
    let etag = first.header("ETag").expect("ETag").to_string();
    let weak = format!("W/{etag}");
    let before = "Sat, 08 Sep 2001 01:46:40 GMT";
    let cases: [(String, u16); 9] = [
        (format!("If-None-Match: {etag}\r\n"), 304),
        (format!("If-None-Match: \"other\", {etag}\r\n"), 304),
        (format!("If-None-Match: {weak}\r\n"), 304),
        ("If-None-Match: *\r\n".to_string(), 304),
        (format!("If-Modified-Since: {MTIME_HTTP}\r\n"), 304),
        ("If-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT\r\n".to_string(), 304),
        (format!("If-Modified-Since: {before}\r\n"), 200),
        ("If-Modified-Since: not a date\r\n".to_string(), 200),
        // If-None-Match takes precedence: no match means 200 whatever the date says.
        (
            format!("If-None-Match: \"other\"\r\nIf-Modified-Since: {MTIME_HTTP}\r\n"),
            200,
        ),
    ];
    for (headers, status) in &cases {
        // The answer, then a plain GET on the same connection: a 304 carried no body.
        let mut c = Conn::open(&server);
        c.send(
            format!("GET /a.txt HTTP/1.1\r\nHost: t\r\n{headers}\r\nGET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes(),
        );
        let r = c.response(false);
        assert_eq!(r.status, *status, "{headers:?}: {r:?}");
        if *status == 304 {
            assert!(r.body.is_empty());
            assert!(r.has("ETag", &etag), "{r:?}");
        } else {
            assert_eq!(r.text(), "version one\n");
        }
        let next = c.response(false);
        assert_eq!(
            (next.status, next.text().as_str()),
            (200, "version one\n"),
            "{headers:?}"
        );
    }
    finish(server);
    // A changed file has a new tag: the old one no longer matches. (A new
    // server, so that what this one may still remember of the file for a
    // moment does not enter into it.)
    std::fs::write(&path, b"version two, longer\n").expect("rewrite");
    set_mtime(&path, MTIME_SECS + 60);
    let server = site.serve(&[]);
    let r = get(&server, "/a.txt", &format!("If-None-Match: {etag}\r\n"));
    assert_eq!((r.status, r.text().as_str()), (200, "version two, longer\n"));
    assert_ne!(r.header("ETag"), Some(etag.as_str()));
    finish(server);
}

// ---------------------------------------------------------------- ranges

#[test]
fn byte_ranges() {
    let site = Site::new();
    let alphabet = b"abcdefghijklmnopqrstuvwxyz";
    site.write("abc.txt", alphabet);
    let big = pattern(300_000);
    site.write("big.bin", &big);
    let server = site.serve(&[]);
    let cases: [(&str, u16, Option<&str>, &[u8]); 7] = [
        ("bytes=0-4", 206, Some("bytes 0-4/26"), b"abcde"),
        ("bytes=-3", 206, Some("bytes 23-25/26"), b"xyz"),
        ("bytes=5-", 206, Some("bytes 5-25/26"), b"fghijklmnopqrstuvwxyz"),
        ("bytes=20-100", 206, Some("bytes 20-25/26"), b"uvwxyz"),
        ("bytes=26-", 416, Some("bytes */26"), b""),
        ("bytes=0-1,3-4", 200, None, alphabet),
        ("lines=0-4", 200, None, alphabet),
    ];
    for (range, status, content_range, body) in cases {
        let r = get(&server, "/abc.txt", &format!("Range: {range}\r\n"));
        assert_eq!(r.status, status, "{range}: {r:?}");
        assert_eq!(r.header("Content-Range"), content_range, "{range}: {r:?}");
        assert_same(body, &r.body, range);
        if status != 416 {
            assert!(r.has("Content-Length", &body.len().to_string()), "{range}: {r:?}");
        }
    }
    // A range of a file large enough to stream.
    let r = get(&server, "/big.bin", "Range: bytes=100000-199999\r\n");
    assert_eq!(r.status, 206);
    assert!(r.has("Content-Range", "bytes 100000-199999/300000"), "{r:?}");
    assert!(r.body == big[100_000..200_000], "the bytes of the range");
    finish(server);
}

/// urllib reads part of a download, drops the connection, and resumes it with a Range.
const PY_RESUME: &str = r#"
import sys, urllib.request
url, path = sys.argv[1], sys.argv[2]
whole = open(path, 'rb').read()
with urllib.request.urlopen(url, timeout=10) as r:
    assert r.status == 200 and r.headers['Accept-Ranges'] == 'bytes', r.headers
    part = r.read(100000)
req = urllib.request.Request(url, headers={'Range': 'bytes=%d-' % len(part)})
with urllib.request.urlopen(req, timeout=10) as r:
    assert r.status == 206, r.status
    content_range = r.headers['Content-Range']
    rest = r.read()
assert content_range == 'bytes %d-%d/%d' % (len(part), len(whole) - 1, len(whole)), content_range
assert part + rest == whole, 'resumed download differs'
print('ok')
"#;

#[test]
fn python_resumes_a_download_with_range() {
    let site = Site::new();
    let path = site.write("big.bin", &pattern(1 << 20));
    let server = site.serve(&["--mode", "poll"]);
    let url = format!("http://{}/big.bin", server.addr);
    let out = python(PY_RESUME, &[&url, path.to_str().expect("path")], b"");
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "ok\n");
    finish(server);
}

// ---------------------------------------------------------------- methods

#[test]
fn other_methods_are_405_and_head_matches_get() {
    let site = Site::new();
    site.write("a.txt", b"hello\n");
    site.write("big.bin", &pattern(200_000));
    let server = site.serve(&[]);
    let mut c = Conn::open(&server);
    let refused = [
        "POST /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
        "PUT /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc",
        "DELETE /a.txt HTTP/1.1\r\nHost: t\r\n\r\n",
        "OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n",
        "PATCH /a.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    ];
    c.send(refused.concat().as_bytes());
    for req in refused {
        let r = c.response(false);
        assert_eq!(r.status, 405, "{req:?}: {r:?}");
        assert!(r.has("Allow", "GET, HEAD"), "{req:?}: {r:?}");
    }
    // HEAD then GET, pipelined: the same head, and only the GET has a body.
    for (path, len) in [("/a.txt", 6), ("/big.bin", 200_000)] {
        c.send(format!("HEAD {path} HTTP/1.1\r\nHost: t\r\n\r\nGET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        let head = c.response(true);
        let full = c.response(false);
        assert_eq!((head.status, full.status), (200, 200));
        assert!(head.has("Content-Length", &len.to_string()), "{head:?}");
        assert_eq!(full.body.len(), len);
        let without_date = |r: &Response| {
            r.headers
                .iter()
                .filter(|(n, _)| !n.eq_ignore_ascii_case("date"))
                .cloned()
                .collect::<Vec<_>>()
        };
        assert_eq!(without_date(&head), without_date(&full), "{path}");
    }
    c.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let last = c.response(false);
    assert_eq!(last.text(), "hello\n", "the body of no HEAD leaked into the stream");
    c.expect_eof();
    finish(server);
}

// ---------------------------------------------------------------- connections

#[test]
fn keep_alive_and_pipelining_in_order() {
    let site = Site::new();
    site.write("a.txt", b"alpha\n");
    site.write("b.txt", b"bravo\n");
    site.write("c.txt", b"charlie\n");
    let big = pattern(300_000);
    site.write("big.bin", &big);
    let server = site.serve(&["--mode", "poll"]);
    let mut c = Conn::open(&server);
    c.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\nGET /b.txt HTTP/1.1\r\nHost: t\r\n\r\nGET /c.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    for body in ["alpha\n", "bravo\n", "charlie\n"] {
        let r = c.response(false);
        assert_eq!((r.status, r.text().as_str()), (200, body));
        assert!(r.header("Connection").is_none(), "{r:?}");
    }
    // Requests pipelined behind a streaming body wait for it, in order.
    c.send(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\nGET /missing HTTP/1.1\r\nHost: t\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.response(false);
    assert!(r.status == 200 && r.body == big, "the big body whole");
    assert_eq!(c.response(false).status, 404);
    assert_eq!(c.response(false).text(), "alpha\n");
    c.send(b"GET /b.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let r = c.response(false);
    assert_eq!(r.text(), "bravo\n");
    assert!(r.has("Connection", "close"), "{r:?}");
    c.expect_eof();
    finish(server);
}

#[test]
fn http_1_0_closes_unless_keep_alive() {
    let site = Site::new();
    site.write("a.txt", b"alpha\n");
    let server = site.serve(&[]);
    let mut c = Conn::open(&server);
    c.send(b"GET /a.txt HTTP/1.0\r\n\r\n");
    let r = c.response(false);
    assert!(r.line.starts_with("HTTP/1.0 200"), "{r:?}");
    assert!(r.has("Connection", "close"), "{r:?}");
    assert_eq!(r.text(), "alpha\n");
    c.expect_eof();

    let mut c = Conn::open(&server);
    c.send(b"GET /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let r = c.response(false);
    assert!(r.has("Connection", "keep-alive"), "{r:?}");
    assert_eq!(r.text(), "alpha\n");
    c.send(b"HEAD /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let r = c.response(true);
    assert!(
        r.has("Connection", "keep-alive") && r.has("Content-Length", "6"),
        "{r:?}"
    );
    c.send(b"GET /missing HTTP/1.0\r\n\r\n");
    let r = c.response(false);
    assert!(r.status == 404 && r.has("Connection", "close"), "{r:?}");
    c.expect_eof();
    finish(server);
}

/// http.client: several requests on one kept-alive connection (one local port throughout).
const PY_HTTP_CLIENT: &str = r#"
import sys, http.client
host, port = sys.argv[1].rsplit(':', 1)
size = int(sys.argv[2])
c = http.client.HTTPConnection(host, int(port), timeout=10)
ports = set()
def req(method, path, body=None, headers={}):
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse()
    data = r.read()
    ports.add(c.sock.getsockname()[1])
    return r, data
r, b = req('GET', '/a.txt'); assert (r.status, b) == (200, b'alpha\n'), (r.status, b)
etag = r.getheader('ETag')
r, b = req('HEAD', '/big.bin'); assert (r.status, b) == (200, b''), r.status
assert r.getheader('Content-Length') == str(size), r.getheader('Content-Length')
r, b = req('GET', '/big.bin'); assert r.status == 200 and len(b) == size, (r.status, len(b))
r, b = req('GET', '/a.txt', headers={'If-None-Match': etag}); assert (r.status, b) == (304, b''), r.status
r, b = req('GET', '/missing'); assert r.status == 404, r.status
r, b = req('GET', '/a.txt', headers={'Range': 'bytes=1-3'}); assert (r.status, b) == (206, b'lph'), (r.status, b)
r, b = req('POST', '/a.txt', body=b'x' * 1000); assert r.status == 405, r.status
r, b = req('GET', '/a.txt', body=b'dropped', headers={'Content-Type': 'text/plain'}); assert b == b'alpha\n', b
r, b = req('GET', '/a.txt'); assert b == b'alpha\n'
assert len(ports) == 1, 'one connection throughout: %r' % ports
print('ok')
"#;

#[test]
fn python_http_client_reuses_one_connection() {
    let site = Site::new();
    site.write("a.txt", b"alpha\n");
    site.write("big.bin", &pattern(500_000));
    let server = site.serve(&["--mode", "poll", "-v"]);
    let out = python(PY_HTTP_CLIENT, &[&server.addr, "500000"], b"");
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "ok\n");
    let stderr = finish(server);
    assert_eq!(
        stderr.matches("connection opened").count(),
        1,
        "one connection: {stderr}"
    );
}

#[test]
fn request_bodies_chunked_and_expect_continue() {
    let site = Site::new();
    site.write("a.txt", b"alpha\n");
    let server = site.serve(&["--max-body", "1KiB"]);
    // Chunked bodies on a GET and a POST are read whole: the next request still works.
    let mut c = Conn::open(&server);
    c.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;ext=1\r\n xy\r\n0\r\nTrailer: x\r\n\r\n");
    c.send(b"POST /a.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n");
    c.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nbody!");
    c.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.response(false).text(), "alpha\n");
    assert_eq!(c.response(false).status, 405);
    assert_eq!(c.response(false).text(), "alpha\n");
    assert_eq!(
        c.response(false).text(),
        "alpha\n",
        "the connection survived the bodies"
    );

    // Expect: 100-continue with a body within the limit: 100 first, then the answer.
    let mut c = Conn::open(&server);
    c.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    let cont = c.response(false);
    assert!(cont.line.starts_with("HTTP/1.1 100 Continue"), "{cont:?}");
    c.send(b"12345GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.response(false).text(), "alpha\n");
    assert_eq!(c.response(false).text(), "alpha\n");

    // A body that will be refused: the final status at once, no 100.
    let mut c = Conn::open(&server);
    c.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n");
    let r = c.response(false);
    assert_eq!(r.status, 413, "{r:?}");
    assert!(r.has("Connection", "close"), "{r:?}");

    // Past --max-body without Expect: 413 and close, chunked or counted.
    let chunked_big = format!(
        "GET /a.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n{0}\r\n800\r\n{0}\r\n0\r\n\r\n",
        "z".repeat(0x800)
    );
    let reply = text(&raw_exchange(&server, chunked_big.as_bytes()));
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    let counted_big = format!(
        "GET /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 2000\r\n\r\n{}GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n",
        "z".repeat(2000)
    );
    let reply = text(&raw_exchange(&server, counted_big.as_bytes()));
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    assert!(!reply.contains("alpha"), "nothing answered after a 413: {reply}");
    finish(server);
}

// ---------------------------------------------------------------- big bodies

const BIG: usize = 20 << 20;

fn big_file_streams(mode: &str) {
    let site = Site::new();
    let big = pattern(BIG);
    site.write("big.bin", &big);
    let server = site.serve(&["--mode", mode]);
    let out_dir = tempfile::tempdir().expect("tempdir");
    let out_path = out_dir.path().join("got.bin");
    let got = netlab_out(&[
        "http",
        "get",
        &format!("http://{}/big.bin", server.addr),
        "-o",
        out_path.to_str().expect("path"),
    ]);
    assert_eq!(code(&got), 0, "{mode}: {}", text(&got.stderr));
    assert!(got.stdout.is_empty(), "the body went to the file");
    let fetched = std::fs::read(&out_path).expect("output file");
    assert_eq!(fetched.len(), BIG, "{mode}");
    assert!(fetched == big, "{mode}: the bytes differ");
    finish(server);
}

/// A client that reads 64 KiB of a big body and stops: another client is
/// served meanwhile (a read that waited out its timeout would fail the
/// test), then the first resumes and gets every byte.
fn stalled_reader_stalls_only_itself(mode: &str) {
    let site = Site::new();
    // More than loopback's socket buffers hold: a server that blocked on
    // this client could never answer the next one.
    let big = pattern(32 << 20);
    site.write("big.bin", &big);
    site.write("a.txt", b"alpha\n");
    let server = site.serve(&["--mode", mode, "--workers", "1"]);
    let rss_before = crate::util::tcp::rss_tree_kib(server.pid());
    let mut stalled = Conn::open(&server);
    stalled.send(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
    for _ in 0..10_000 {
        if stalled.buf.len() >= 64 * 1024 {
            break;
        }
        assert!(stalled.fill(), "EOF");
    }
    assert!(stalled.buf.len() >= 64 * 1024);
    for _ in 0..3 {
        let r = get(&server, "/a.txt", "");
        assert_eq!((r.status, r.text().as_str()), (200, "alpha\n"), "{mode}");
    }
    // Memory stays bounded: nowhere near the file's size is held for the stalled client.
    let grew_mib = crate::util::tcp::rss_tree_kib(server.pid()).saturating_sub(rss_before) / 1024;
    assert!(grew_mib < 16, "{mode}: grew {grew_mib} MiB while serving a 32 MiB file");
    let r = stalled.response(false);
    assert_eq!(r.status, 200);
    assert!(r.body == big, "{mode}: the stalled download resumes whole");
    finish(server);
}

every_mode!([sequential, thread, pool, poll, fork, uring] => big_file_streams);
every_mode!([poll, uring] => stalled_reader_stalls_only_itself);

// ---------------------------------------------------------------- http get

/// Python's `http.server` serving argv[1], quietly, printing its port.
const PY_HTTP_SERVER: &str = r#"
import functools, http.server, sys
class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(Quiet, directory=sys.argv[1]))
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

#[test]
fn http_get_against_python_http_server() {
    let site = Site::new();
    let data: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    site.write("data.bin", &data);
    site.mkdir("sub");
    site.write("sub/index.html", b"<p>sub</p>\n");
    let py = PyServer::start(PY_HTTP_SERVER, &[site.dir().to_str().expect("path")]);
    let base = format!("http://127.0.0.1:{}", py.port);
    let url = format!("{base}/data.bin");

    let plain = netlab_out(&["http", "get", &url]);
    assert_eq!(code(&plain), 0, "{}", text(&plain.stderr));
    assert!(plain.stdout == data, "byte for byte on stdout");

    let include = netlab_out(&["http", "get", &url, "-i"]);
    assert_eq!(code(&include), 0, "{}", text(&include.stderr));
    let split = find(&include.stdout, b"\r\n\r\n").expect("a head") + 4;
    let head = text(&include.stdout[..split]);
    assert!(head.starts_with("HTTP/1.0 200 OK\r\n"), "{head}");
    assert!(head.contains("Content-Length: 100000\r\n"), "{head}");
    assert!(include.stdout[split..] == data[..], "the body after the head");

    let head_only = netlab_out(&["http", "get", &url, "--head"]);
    assert_eq!(code(&head_only), 0, "{}", text(&head_only.stderr));
    let shown = text(&head_only.stdout);
    assert!(
        shown.starts_with("HTTP/1.0 200 OK\r\n") && shown.ends_with("\r\n\r\n"),
        "{shown}"
    );
    assert!(shown.contains("Content-Length: 100000\r\n"), "{shown}");
    assert_eq!(shown.matches("\r\n\r\n").count(), 1, "no body: {shown}");

    let json = netlab_out(&["http", "get", &url, "--json"]);
    assert_eq!(code(&json), 0, "{}", text(&json.stderr));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("one JSON object");
    assert_eq!(v["status"], 200);
    assert_eq!(v["reason"], "OK");
    assert_eq!(v["body_bytes"], 100_000);
    assert!(v["elapsed_us"].is_u64(), "{v}");
    let headers = v["headers"].as_array().expect("headers");
    assert!(
        headers.iter().all(|h| h
            .as_array()
            .is_some_and(|p| p.len() == 2 && p.iter().all(|s| s.is_string()))),
        "{v}"
    );
    assert!(
        headers
            .iter()
            .any(|h| h[0].as_str().is_some_and(|n| n.eq_ignore_ascii_case("content-length")) && h[1] == "100000"),
        "{v}"
    );

    let moved = netlab_out(&["http", "get", &format!("{base}/sub"), "-i"]);
    assert_eq!(code(&moved), 0, "a 3xx exits 0: {}", text(&moved.stderr));
    assert!(
        text(&moved.stdout).starts_with("HTTP/1.0 301"),
        "{}",
        text(&moved.stdout)
    );
    let followed = netlab_out(&["http", "get", &format!("{base}/sub"), "-L"]);
    assert_eq!(code(&followed), 0, "{}", text(&followed.stderr));
    assert_eq!(text(&followed.stdout), "<p>sub</p>\n");

    let missing = netlab_out(&["http", "get", &format!("{base}/missing")]);
    assert_eq!(code(&missing), 1);
    assert!(
        text(&missing.stdout).contains("404"),
        "the error page: {}",
        text(&missing.stdout)
    );
    assert!(
        text(&missing.stderr).contains("netlab: error: HTTP 404"),
        "{}",
        text(&missing.stderr)
    );

    let too_big = netlab_out(&["http", "get", &url, "--max-size", "10"]);
    assert_eq!(code(&too_big), 1, "{}", text(&too_big.stderr));
    assert!(text(&too_big.stderr).contains("max-size"), "{}", text(&too_big.stderr));
    assert!(too_big.stdout.is_empty(), "nothing of a refused body");
}

#[test]
fn http_get_errors_and_exit_codes() {
    let site = Site::new();
    site.mkdir("docs");
    site.write("docs/index.html", b"<p>docs</p>\n");
    let server = site.serve(&[]);
    let missing = netlab_out(&["http", "get", &format!("http://{}/nope", server.addr)]);
    assert_eq!(code(&missing), 1);
    let page = get(&server, "/nope", "");
    assert_eq!(page.status, 404);
    assert!(
        missing.stdout == page.body,
        "the body is printed: {}",
        text(&missing.stdout)
    );
    assert_eq!(text(&missing.stderr), "netlab: error: HTTP 404 Not Found\n");
    let followed = netlab_out(&["http", "get", &format!("http://{}/docs", server.addr), "-L"]);
    assert_eq!(code(&followed), 0, "{}", text(&followed.stderr));
    assert_eq!(text(&followed.stdout), "<p>docs</p>\n");

    // https to a server that speaks plain HTTP: exit 1, said plainly.
    let https = netlab_out(&["http", "get", &format!("https://{}/", server.addr)]);
    assert_eq!(code(&https), 1, "{}", text(&https.stderr));
    assert!(
        text(&https.stderr).contains("the server does not speak TLS"),
        "{}",
        text(&https.stderr)
    );

    let gone = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = gone.local_addr().expect("addr").port();
    drop(gone);
    let refused = netlab_out(&["http", "get", &format!("http://127.0.0.1:{port}/")]);
    assert_eq!(code(&refused), 69, "{}", text(&refused.stderr));
    finish(server);
}

/// Serves two connections: the first a chunked body, the second one delimited by the close.
const PY_FRAMINGS: &str = r#"
import socket
listener = socket.socket()
listener.bind(('127.0.0.1', 0))
listener.listen(8)
print(listener.getsockname()[1], flush=True)
listener.settimeout(20)
for answer in [
    b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7;x=y\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n',
    b'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the close\n',
]:
    sock, _ = listener.accept()
    sock.settimeout(20)
    request = b''
    while b'\r\n\r\n' not in request:
        more = sock.recv(4096)
        if not more:
            break
        request += more
    sock.sendall(answer)
    sock.close()
"#;

#[test]
fn http_get_reads_chunked_and_close_delimited_bodies() {
    let py = PyServer::start(PY_FRAMINGS, &[]);
    let url = format!("http://127.0.0.1:{}/", py.port);
    let chunked = netlab_out(&["http", "get", &url]);
    assert_eq!(code(&chunked), 0, "{}", text(&chunked.stderr));
    assert_eq!(text(&chunked.stdout), "hello, world");
    let closed = netlab_out(&["http", "get", &url]);
    assert_eq!(code(&closed), 0, "{}", text(&closed.stderr));
    assert_eq!(text(&closed.stdout), "until the close\n");
}

/// Answers two connections with an SSH banner and keeps them open.
const PY_SSH: &str = r#"
import socket, time
listener = socket.socket()
listener.bind(('127.0.0.1', 0))
listener.listen(8)
print(listener.getsockname()[1], flush=True)
listener.settimeout(20)
kept = []
for _ in range(2):
    sock, _ = listener.accept()
    sock.sendall(b'SSH-2.0-OpenSSH_9.6\r\n')
    kept.append(sock)
time.sleep(30)
"#;

#[test]
fn a_server_that_does_not_speak_http_fails_at_once() {
    let py = PyServer::start(PY_SSH, &[]);
    let url = format!("http://127.0.0.1:{}", py.port);
    for args in [
        vec!["http", "get", url.as_str(), "--timeout", "20s"],
        vec!["rpc", "call", url.as_str(), "upper", "x", "--timeout", "20s"],
    ] {
        let started = Instant::now();
        let out = netlab_out(&args);
        let took = started.elapsed();
        assert_eq!(code(&out), 1, "{args:?}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("does not speak HTTP"),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            took < Duration::from_secs(10),
            "{args:?}: not at once but after {took:?}"
        );
    }
}

// ---------------------------------------------------------------- access log

#[test]
fn access_log_lines_escape_control_characters() {
    let site = Site::new();
    site.write("a.txt", b"alpha\n");
    let server = site.serve(&["-v"]);
    let exchange = |raw: &[u8]| -> (String, Response) {
        let mut c = Conn::open(&server);
        let peer = c.s.local_addr().expect("local").to_string();
        c.send(raw);
        let r = c.response(raw.starts_with(b"HEAD "));
        (peer, r)
    };
    let (peer_get, get_a) = exchange(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    let (peer_head, _) = exchange(b"HEAD /a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    let (peer_encoded, encoded) = exchange(b"GET /%1b[31mred HTTP/1.1\r\nHost: t\r\n\r\n");
    // U+009B, the 8-bit CSI, as UTF-8: a control character httparse lets through.
    let (peer_csi, csi) = exchange(b"GET /a\xc2\x9b31m HTTP/1.1\r\nHost: t\r\n\r\n");
    let (peer_esc, esc) = exchange(b"GET /a\x1b[31mred HTTP/1.1\r\nHost: t\r\n\r\n");
    let _ = exchange(b"GET /a.txt HTTP/1.1\r\nHost: t\r\nUser-Agent: \x1b]0;pwned\x07\r\n\r\n");
    let stderr = finish(server);
    let line = |peer: &str, rest: &str| format!("{peer} \"{rest}");
    let expect = [
        line(&peer_get, &format!("GET /a.txt HTTP/1.1\" 200 {}", get_a.body.len())),
        line(&peer_head, "HEAD /a.txt HTTP/1.1\" 200 0"),
        line(
            &peer_encoded,
            &format!("GET /%1b[31mred HTTP/1.1\" {} {}", encoded.status, encoded.body.len()),
        ),
        line(
            &peer_csi,
            &format!("GET /a\\x9b31m HTTP/1.1\" {} {}", csi.status, csi.body.len()),
        ),
    ];
    for want in &expect {
        assert!(
            stderr.lines().any(|l| l.ends_with(want.as_str())),
            "no line ending {want:?} in {stderr}"
        );
    }
    assert_eq!(encoded.status, 404);
    assert_eq!(csi.status, 404);
    if esc.status != 400 {
        // Were the raw byte accepted, the line would show it escaped.
        let want = line(&peer_esc, "GET /a\\x1b[31mred HTTP/1.1\"");
        assert!(stderr.contains(&want), "no {want:?} in {stderr}");
    }
    for c in ['\u{1b}', '\u{9b}', '\u{7}'] {
        assert!(!stderr.contains(c), "a raw {c:?} reached the log: {stderr:?}");
    }
}

/// A head that stops arriving half-way gets 408 when `--head-timeout`
/// passes, in silence as well as trickled, in every mode; a refused body
/// that never comes (Expect: 100-continue) does not hold the connection.
fn silent_half_head_gets_408(mode: &str) {
    if skip_mode(mode) {
        return;
    }
    let site = Site::new();
    site.write("a.txt", b"alpha\n");
    let server = site.serve(&["--mode", mode, "--head-timeout", "1s", "--max-body", "1KiB"]);
    let started = Instant::now();
    let mut c = Conn::open(&server);
    c.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n");
    let r = c.response(false);
    assert_eq!(r.status, 408, "{mode}: {r:?}");
    c.expect_eof();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900),
        "{mode}: 408 after {took:?}, before the timeout"
    );
    let mut c = Conn::open(&server);
    c.send(b"POST /a.txt HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 100000\r\n\r\n");
    assert_eq!(c.response(false).status, 413, "{mode}");
    c.expect_eof();
    finish(server);
}

every_mode!([sequential, thread, pool, poll, fork, uring] => silent_half_head_gets_408);

/// 3,000 GETs (over 100 KiB) pipelined behind a body that streams are all
/// answered, in order, in every mode: the server stops reading while they
/// wait instead of dropping the connection.
fn many_requests_pipelined_behind_a_stream(mode: &str) {
    if skip_mode(mode) {
        return;
    }
    let site = Site::new();
    site.write("a.txt", b"alpha\n");
    site.write("big.bin", &pattern(2_000_000));
    let server = site.serve(&["--mode", mode]);
    let mut c = Conn::open(&server);
    let mut wire = b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n".to_vec();
    wire.extend(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n".repeat(3000));
    let mut writer = c.s.try_clone().expect("clone");
    let sender = std::thread::spawn(move || writer.write_all(&wire));
    let big = c.response(false);
    assert_eq!((big.status, big.body.len()), (200, 2_000_000), "{mode}");
    for i in 0..3000 {
        let r = c.response(false);
        assert_eq!((r.status, r.text().as_str()), (200, "alpha\n"), "{mode}: request {i}");
    }
    sender.join().expect("join").expect("all sent");
    finish(server);
}

every_mode!([thread, poll, fork, uring] => many_requests_pipelined_behind_a_stream);
