//! The static file server: a [`Handler`] that answers GET and HEAD from a
//! directory (the lectures' "simplest web server", done as the field learned
//! to: decode once, refuse what climbs, check containment after the OS has
//! resolved links, escape what strangers named).
//!
//! What was learned of a file is kept for a second ([`super::cache`]), so a
//! hot small file costs no system call but the socket's. Small files are
//! read whole, so head and body leave in one write; larger
//! ones stream in bounded pieces as the client takes them
//! ([`crate::proto::http::server::Source`]). A cold disk makes each piece's
//! read block the loop that serves it (poll and uring modes) for as long as
//! the disk takes: pieces are bounded, so other clients wait at most one
//! read, not one file.

use super::cache::{FileMeta, MetaCache};
use super::cond::{self, RangeAnswer};
use super::listing::{self, Entry};
use super::mime;
use super::target::{Target, parse_target};
use crate::proto::http::Request;
use crate::proto::http::server::{Body, Handler, Reply, Source};
use std::fs::{File, Metadata};
use std::io;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// Files up to this size are read whole into the response.
const INLINE_MAX: u64 = 64 * 1024;

/// What the file server serves and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileOptions {
    /// The directory served.
    pub root: PathBuf,
    /// An HTML listing for a directory without `index.html` (else 404).
    pub listing: bool,
    /// Serve symlinks that resolve outside the root (else 404).
    pub follow_symlinks: bool,
}

/// The file server; one per connection, sharing the root and the cache.
#[derive(Debug, Clone)]
pub struct FileServer {
    /// The root, resolved (links and `..` gone): what every path must stay under.
    root: Arc<PathBuf>,
    listing: bool,
    follow_symlinks: bool,
    /// What was learned of each file, for a second.
    cache: Arc<MetaCache>,
}

impl FileServer {
    /// A server for `opts.root`.
    ///
    /// # Errors
    /// When the root does not exist or is not a directory.
    pub fn new(opts: &FileOptions) -> io::Result<Self> {
        let root = opts.root.canonicalize()?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("{} is not a directory", root.display()),
            ));
        }
        Ok(FileServer {
            root: Arc::new(root),
            listing: opts.listing,
            follow_symlinks: opts.follow_symlinks,
            cache: Arc::default(),
        })
    }

    /// The root served.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file a target names, if it stays under the root once links are resolved.
    fn locate(&self, target: &Target) -> Result<(PathBuf, Metadata), Reply> {
        let mut path = PathBuf::clone(&self.root);
        path.extend(&target.segments);
        let meta = std::fs::metadata(&path).map_err(|e| io_reply(&e))?;
        if !self.follow_symlinks {
            let real = path.canonicalize().map_err(|e| io_reply(&e))?;
            if !real.starts_with(self.root.as_path()) {
                tracing::info!(path = %path.display(), "a link that leads outside the root: 404");
                return Err(not_found());
            }
            // The checked path is the one opened: a link changed after the
            // check is not followed again.
            return Ok((real, meta));
        }
        Ok((path, meta))
    }

    fn directory(&self, target: &Target, path: &Path, req: &Request) -> Reply {
        if !target.trailing_slash {
            let to = format!("{}/", target.url_path());
            let mut reply = Reply::text(301, "Moved Permanently", &format!("moved to {to}\n"));
            reply.headers.push(("Location", to));
            return reply;
        }
        let index = path.join("index.html");
        if let Ok(meta) = std::fs::metadata(&index)
            && meta.is_file()
        {
            return describe(&index, &meta).map_or_else(|e| io_reply(&e), |f| file(&f, req));
        }
        if !self.listing {
            return not_found();
        }
        match std::fs::read_dir(path) {
            Ok(dir) => {
                let entries: Vec<Entry> = dir
                    .filter_map(Result::ok)
                    .map(|e| Entry {
                        name: e.file_name().to_string_lossy().into_owned(),
                        is_dir: e.path().is_dir(),
                    })
                    .collect();
                let page = listing::listing(&target.url_path(), &entries);
                let headers = vec![("Content-Type", "text/html; charset=utf-8".to_string())];
                Reply::new(200, "OK", headers, page.into_bytes())
            }
            Err(e) => io_reply(&e),
        }
    }
}

impl Handler for FileServer {
    fn handle(&mut self, req: &Request) -> Reply {
        if !req.method.eq_ignore_ascii_case("GET") && !req.is_head() {
            let mut reply = Reply::text(
                405,
                "Method Not Allowed",
                &format!("{} is not served here: only GET and HEAD\n", req.method),
            );
            reply.headers.push(("Allow", "GET, HEAD".to_string()));
            return reply;
        }
        let target = match parse_target(&req.path, req.header("host")) {
            Ok(t) => t,
            Err(e) if e.status() == 400 => return Reply::text(400, "Bad Request", &format!("{e}\n")),
            Err(e) => {
                tracing::info!(target = %crate::proto::http::server::escape_controls(&req.path), "refused: {e}");
                return not_found();
            }
        };
        let key = target.segments.join("/");
        let now = Instant::now();
        if !target.trailing_slash
            && let Some(f) = self.cache.get(&key, now)
        {
            return file(&f, req);
        }
        let (path, meta) = match self.locate(&target) {
            Ok(found) => found,
            Err(reply) => return reply,
        };
        if meta.is_dir() {
            return self.directory(&target, &path, req);
        }
        if target.trailing_slash || !meta.is_file() {
            return not_found();
        }
        match describe(&path, &meta) {
            Ok(f) => {
                let f = Arc::new(f);
                self.cache.put(key, Arc::clone(&f), now);
                file(&f, req)
            }
            Err(e) => io_reply(&e),
        }
    }
}

fn not_found() -> Reply {
    Reply::text(404, "Not Found", "File not found\n")
}

fn io_reply(e: &io::Error) -> Reply {
    match e.kind() {
        io::ErrorKind::PermissionDenied => Reply::text(403, "Forbidden", "Permission denied\n"),
        _ => not_found(),
    }
}

/// What the server needs to know of a regular file (its bytes too when small).
fn describe(path: &Path, meta: &Metadata) -> io::Result<FileMeta> {
    let len = meta.len();
    let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    let bytes = if len <= INLINE_MAX {
        let mut bytes = vec![0u8; usize::try_from(len).unwrap_or(0)];
        File::open(path)?.read_exact_at(&mut bytes, 0)?;
        Some(bytes)
    } else {
        None
    };
    Ok(FileMeta {
        path: path.to_path_buf(),
        len,
        mtime,
        etag: cond::etag(len, mtime),
        last_modified: cond::http_date(mtime),
        content_type: mime::content_type(&name),
        bytes,
    })
}

/// The answer for a regular file: 304, 206, 416 or 200.
fn file(f: &FileMeta, req: &Request) -> Reply {
    let mut headers = vec![("Last-Modified", f.last_modified.clone()), ("ETag", f.etag.clone())];
    if cond::not_modified(
        req.header("if-none-match"),
        req.header("if-modified-since"),
        &f.etag,
        f.mtime,
    ) {
        return Reply::new(304, "Not Modified", headers, Vec::new());
    }
    headers.push(("Content-Type", f.content_type.to_string()));
    headers.push(("Accept-Ranges", "bytes".to_string()));
    let range = if cond::if_range_holds(req.header("if-range"), &f.etag, f.mtime) {
        cond::range(req.header("range"), f.len)
    } else {
        RangeAnswer::Whole
    };
    let (status, reason, start, count) = match range {
        RangeAnswer::Whole => (200, "OK", 0, f.len),
        RangeAnswer::Partial { start, end } => {
            headers.push(("Content-Range", format!("bytes {start}-{end}/{}", f.len)));
            (206, "Partial Content", start, end - start + 1)
        }
        RangeAnswer::Unsatisfiable => {
            headers.push(("Content-Range", format!("bytes */{}", f.len)));
            return Reply::new(416, "Range Not Satisfiable", headers, Vec::new());
        }
    };
    let body = match body(f, start, count, req.is_head()) {
        Ok(b) => b,
        Err(e) => return io_reply(&e),
    };
    Reply {
        status,
        reason,
        headers,
        body,
        close: false,
    }
}

/// `count` bytes of the file from `start`: from memory when it is kept,
/// else streamed from the file (HEAD: the length only).
fn body(f: &FileMeta, start: u64, count: u64, head: bool) -> io::Result<Body> {
    if head {
        return Ok(Body::Stream(Box::new(Unread(count))));
    }
    if let Some(bytes) = &f.bytes {
        let from = usize::try_from(start).unwrap_or(usize::MAX);
        let n = usize::try_from(count).unwrap_or(usize::MAX);
        // A range is within the file's length (cond::range clamps it).
        return Ok(Body::Bytes(bytes.iter().skip(from).take(n).copied().collect()));
    }
    Ok(Body::Stream(Box::new(FileSource {
        file: Arc::new(File::open(&f.path)?),
        offset: start,
        len: count,
        left: count,
    })))
}

/// A HEAD response's body: its length, never read.
struct Unread(u64);

impl Source for Unread {
    fn len(&self) -> u64 {
        self.0
    }
    fn read(&mut self, _buf: &mut [u8]) -> io::Result<usize> {
        Ok(0)
    }
}

/// A byte range of a file, read at its offsets as the body goes out.
struct FileSource {
    file: Arc<File>,
    offset: u64,
    len: u64,
    left: u64,
}

impl Source for FileSource {
    fn len(&self) -> u64 {
        self.len
    }

    fn file(&self) -> Option<(Arc<File>, u64)> {
        Some((Arc::clone(&self.file), self.offset))
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = usize::try_from(self.left).unwrap_or(usize::MAX).min(buf.len());
        let n = self
            .file
            .read_at(buf.get_mut(..want).unwrap_or_default(), self.offset)?;
        self.offset += n as u64;
        self.left -= n as u64;
        Ok(n)
    }
}
