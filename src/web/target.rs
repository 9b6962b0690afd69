//! The request target as a list of safe path segments: the lesson of every path-traversal CVE in a
//! static file server (decode each segment once, then refuse `..`, separators and NUL, never a prefix check).

use std::fmt;

/// Why a request target was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetError {
    /// Not a target this server can read (bad `%` escape, not UTF-8, asterisk-form): 400.
    Malformed(&'static str),
    /// A target that would leave the served directory or names another host: 404.
    Outside(&'static str),
}

impl TargetError {
    /// The HTTP status that answers this refusal.
    pub fn status(&self) -> u16 {
        match self {
            Self::Malformed(_) => 400,
            Self::Outside(_) => 404,
        }
    }
}

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(why) => write!(f, "malformed target: {why}"),
            Self::Outside(why) => write!(f, "target outside the served directory: {why}"),
        }
    }
}

impl std::error::Error for TargetError {}

/// A decoded request path: segments that are plain names (never empty, `.`, `..`, or holding a separator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The decoded names, outermost first; empty for the root.
    pub segments: Vec<String>,
    /// Whether the path ended with `/` (true for `/`).
    pub trailing_slash: bool,
}

impl Target {
    /// The path as a URL path ("/", "/a/b/", "/a%20b") re-encoded for links and redirects
    /// (each segment percent-encoded; trailing slash kept).
    pub fn url_path(&self) -> String {
        let mut out = String::from("/");
        let encoded: Vec<String> = self
            .segments
            .iter()
            .map(|s| super::listing::encode_segment(s))
            .collect();
        out.push_str(&encoded.join("/"));
        if self.trailing_slash && !self.segments.is_empty() {
            out.push('/');
        }
        out
    }
}

/// Parses a request target into safe segments.
///
/// `raw`: the request target as sent; `host`: the request's Host header value if any.
///
/// # Errors
/// [`TargetError::Malformed`] for a target that cannot be read, [`TargetError::Outside`] for one that
/// would leave the served directory or names another host.
pub fn parse_target(raw: &str, host: Option<&str>) -> Result<Target, TargetError> {
    let raw = raw.split_once('#').map_or(raw, |(before, _)| before);
    let raw = raw.split_once('?').map_or(raw, |(before, _)| before);
    let path = if raw.starts_with("//") {
        return Err(TargetError::Outside("network-path reference"));
    } else if raw.starts_with('/') {
        raw
    } else if let Some(rest) = strip_scheme(raw) {
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        match host {
            Some(host) if !authority.is_empty() && authority.eq_ignore_ascii_case(host.trim()) => {}
            _ => return Err(TargetError::Outside("absolute-form naming another host")),
        }
        if path.is_empty() { "/" } else { path }
    } else if raw == "*" {
        return Err(TargetError::Malformed("asterisk-form"));
    } else {
        return Err(TargetError::Malformed("target does not start with '/'"));
    };
    let mut segments = Vec::new();
    for seg in path.split('/').skip(1) {
        if seg.contains('\\') {
            return Err(TargetError::Outside("backslash in path"));
        }
        let bytes = decode(seg)?;
        if bytes.contains(&b'/') || bytes.contains(&b'\\') {
            return Err(TargetError::Outside("encoded separator"));
        }
        if bytes.iter().any(|b| b.is_ascii_control()) {
            return Err(TargetError::Outside("control character"));
        }
        let name = String::from_utf8(bytes).map_err(|_| TargetError::Malformed("path is not UTF-8"))?;
        match name.as_str() {
            ".." => return Err(TargetError::Outside("'..' segment")),
            "" | "." => {}
            _ => segments.push(name),
        }
    }
    Ok(Target {
        segments,
        trailing_slash: path.ends_with('/'),
    })
}

/// The part after `http://` or `https://` (scheme case-insensitive), if `raw` is absolute-form.
fn strip_scheme(raw: &str) -> Option<&str> {
    ["http://", "https://"].iter().find_map(|scheme| {
        let head = raw.get(..scheme.len())?;
        head.eq_ignore_ascii_case(scheme)
            .then(|| raw.get(scheme.len()..))
            .flatten()
    })
}

/// Strict percent-decoding: every `%` must start two hex digits.
fn decode(seg: &str) -> Result<Vec<u8>, TargetError> {
    let mut out = Vec::with_capacity(seg.len());
    let mut bytes = seg.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = |d: Option<u8>| d.and_then(|d| char::from(d).to_digit(16));
            match (hex(bytes.next()), hex(bytes.next())) {
                (Some(hi), Some(lo)) => out.push(u8::try_from(hi * 16 + lo).unwrap_or(0)),
                _ => return Err(TargetError::Malformed("invalid percent escape")),
            }
        } else {
            out.push(b);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use TargetError::{Malformed as M, Outside as O};

    fn outcome(raw: &str) -> Result<Vec<String>, u16> {
        parse_target(raw, Some("example.org:8000"))
            .map(|t| t.segments)
            .map_err(|e| e.status())
    }

    #[test]
    fn hostile_targets_are_refused() {
        let table: &[(&str, u16)] = &[
            ("/..", 404),
            ("/../etc/passwd", 404),
            ("/a/../../etc/passwd", 404),
            ("/%2e%2e/etc/passwd", 404),
            ("/%2E%2E/etc/passwd", 404),
            ("/.%2e/etc/passwd", 404),
            ("/%2e./etc/passwd", 404),
            ("/..%2f..%2fetc/passwd", 404), // simple-http-server
            ("/%2e%2e%2f%2e%2e%2fetc/passwd", 404),
            ("/%2e%2e%5c%2e%2e%5cetc/passwd", 404),
            ("/..\\..\\etc/passwd", 404),
            ("/a\\b", 404),
            ("/etc%2fpasswd", 404),
            ("/passwd%00.txt", 404),
            ("/%00", 404),
            ("/a%0d%0aSet-Cookie:x", 404),
            ("/a%7f", 404),
            ("/..%00/x", 404),
            ("//etc/passwd", 404), // Python http.server open redirect
            ("//evil.example/", 404),
            ("http://evil.example/etc/passwd", 404),
            ("http://example.org:8000@evil.example/", 404),
            ("/%zz", 400),
            ("/%4", 400),
            ("/%", 400),
            ("/%c3%28", 400),
            ("*", 400),
            ("etc/passwd", 400),
            ("", 400),
            ("?x", 400),
        ];
        for (raw, status) in table {
            assert_eq!(outcome(raw), Err(*status), "target {raw:?}");
        }
    }

    #[test]
    fn good_targets_are_decoded() {
        assert_eq!(
            parse_target("/", None),
            Ok(Target {
                segments: vec![],
                trailing_slash: true
            })
        );
        assert_eq!(outcome("/a/b.txt"), Ok(vec!["a".into(), "b.txt".into()]));
        assert_eq!(outcome("/a%20b/"), Ok(vec!["a b".into()]));
        assert_eq!(outcome("/caf%C3%A9.txt"), Ok(vec!["café.txt".into()]));
        assert_eq!(outcome("/x?y=1#z"), Ok(vec!["x".into()]));
        assert_eq!(outcome("/x#z?y=/../.."), Ok(vec!["x".into()]));
        assert_eq!(outcome("/x?../.."), Ok(vec!["x".into()]));
        assert_eq!(outcome("/a//b/./c/%2e/"), Ok(vec!["a".into(), "b".into(), "c".into()]));
        assert_eq!(outcome("/..;/x"), Ok(vec!["..;".into(), "x".into()])); // a plain name
        assert_eq!(outcome("/...txt"), Ok(vec!["...txt".into()]));
        assert_eq!(outcome("/%25"), Ok(vec!["%".into()]));
    }

    #[test]
    fn absolute_form_only_for_this_host() {
        let host = Some("Example.ORG:8000");
        let t = parse_target("HTTP://example.org:8000/a/", host).unwrap();
        assert_eq!(
            t,
            Target {
                segments: vec!["a".into()],
                trailing_slash: true
            }
        );
        let t = parse_target("https://example.org:8000", host).unwrap();
        assert_eq!(
            t,
            Target {
                segments: vec![],
                trailing_slash: true
            }
        );
        let t = parse_target("http://example.org:8000?q", host).unwrap();
        assert_eq!(t.segments, Vec::<String>::new());
        assert_eq!(
            parse_target("http://example.org/", host),
            Err(O("absolute-form naming another host"))
        );
        assert_eq!(
            parse_target("http:///etc/passwd", host),
            Err(O("absolute-form naming another host"))
        );
        assert!(matches!(parse_target("http://example.org:8000/", None), Err(O(_))));
        assert!(matches!(
            parse_target("http://example.org:8000/%2e%2e/x", host),
            Err(O(_))
        ));
        assert!(matches!(parse_target("ftp://example.org:8000/", host), Err(M(_))));
    }

    #[test]
    fn trailing_slash_and_url_path() {
        let t = parse_target("/a%20b/c", None).unwrap();
        assert!(!t.trailing_slash);
        assert_eq!(t.url_path(), "/a%20b/c");
        let t = parse_target("/a%20b/caf%c3%a9/", None).unwrap();
        assert!(t.trailing_slash);
        assert_eq!(t.url_path(), "/a%20b/caf%C3%A9/");
        assert_eq!(parse_target("/", None).unwrap().url_path(), "/");
        assert_eq!(
            parse_target("/%3Cx%3E%23%3F", None).unwrap().url_path(),
            "/%3Cx%3E%23%3F"
        );
    }

    #[test]
    fn errors_name_their_status() {
        assert_eq!(M("x").status(), 400);
        assert_eq!(O("x").status(), 404);
        assert_eq!(
            O("'..' segment").to_string(),
            "target outside the served directory: '..' segment"
        );
    }
}
