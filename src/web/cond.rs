//! Validators, conditional requests and byte ranges (RFC 9110 §8.8, §13, §14): the lesson that a header
//! the server does not understand is ignored (the whole file, 200), never a panic or a wrong slice.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The last instant an IMF-fixdate can show (9999-12-31T23:59:59Z); `httpdate` panics after it.
const LAST_DATE_SECS: u64 = 253_402_300_799;

/// A strong entity tag for a file of `len` bytes modified at `mtime`, quoted: `"{secs:x}.{nanos:x}-{len:x}"`.
/// Deterministic; a time before 1970 counts as 1970.
pub fn etag(len: u64, mtime: SystemTime) -> String {
    let since = mtime.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!("\"{:x}.{:x}-{len:x}\"", since.as_secs(), since.subsec_nanos())
}

/// `t` as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), clamped to 1970..=9999.
pub fn http_date(t: SystemTime) -> String {
    httpdate::fmt_http_date(clamp_secs(t))
}

/// `t` truncated to whole seconds and clamped to what an HTTP date can show.
fn clamp_secs(t: SystemTime) -> SystemTime {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        .min(LAST_DATE_SECS);
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// Whether the client's copy is current: If-None-Match (a list, `*`, weak `W/` tags compare weakly)
/// takes precedence; else If-Modified-Since (unparseable: ignored) compared at one-second resolution
/// (mtime truncated to seconds <= since).
pub fn not_modified(
    if_none_match: Option<&str>,
    if_modified_since: Option<&str>,
    etag: &str,
    mtime: SystemTime,
) -> bool {
    if let Some(list) = if_none_match {
        if list.trim() == "*" {
            return true;
        }
        let ours = opaque(etag);
        return tags(list).iter().any(|tag| opaque(tag) == ours);
    }
    match if_modified_since.map(|since| httpdate::parse_http_date(since.trim())) {
        Some(Ok(since)) => clamp_secs(mtime) <= since,
        _ => false,
    }
}

/// An entity tag without its weakness marker, for weak comparison.
fn opaque(tag: &str) -> &str {
    tag.strip_prefix("W/").unwrap_or(tag)
}

/// The entity tags of a comma-separated list, each as sent (`W/"x"` or `"x"`); parsing stops at
/// the first thing that is not a tag, keeping those before it.
fn tags(list: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = list;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        let start = rest;
        let body = rest.strip_prefix("W/").unwrap_or(rest);
        let Some(inner) = body.strip_prefix('"') else { break };
        let Some(close) = inner.find('"') else { break };
        let len = start.len() - inner.len() + close + 1;
        let (Some(tag), Some(after)) = (start.get(..len), start.get(len..)) else {
            break;
        };
        found.push(tag);
        rest = after;
    }
    found
}

/// What to send for a Range header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeAnswer {
    /// The whole file, 200 (no Range, or one the server ignores).
    Whole,
    /// Bytes `start..=end`, 206 with `Content-Range: bytes start-end/len`.
    Partial {
        /// First byte sent.
        start: u64,
        /// Last byte sent (inclusive).
        end: u64,
    },
    /// 416 with `Content-Range: bytes */len`.
    Unsatisfiable,
}

/// The answer to a Range header for a file of `len` bytes: one `bytes=` range -> Partial (end clamped to
/// len-1); `-N` the last N bytes (N > len: the whole file as Partial 0..len-1; N = 0: Unsatisfiable);
/// A >= len: Unsatisfiable; several ranges, another unit, or syntax errors: Whole (RFC 9110: a server may
/// ignore a Range it does not understand). len 0 with a range: Unsatisfiable.
pub fn range(header: Option<&str>, len: u64) -> RangeAnswer {
    let Some(header) = header else {
        return RangeAnswer::Whole;
    };
    let header = header.trim();
    let Some(set) = header
        .get(..6)
        .filter(|unit| unit.eq_ignore_ascii_case("bytes="))
        .and(header.get(6..))
    else {
        return RangeAnswer::Whole;
    };
    let mut specs = set.split(',').map(str::trim).filter(|s| !s.is_empty());
    let (Some(spec), None) = (specs.next(), specs.next()) else {
        return RangeAnswer::Whole;
    };
    let Some((first, last)) = spec.split_once('-') else {
        return RangeAnswer::Whole;
    };
    match (number(first), number(last)) {
        (None, Some(suffix)) if first.is_empty() => {
            if suffix == 0 || len == 0 {
                RangeAnswer::Unsatisfiable
            } else {
                RangeAnswer::Partial {
                    start: len.saturating_sub(suffix),
                    end: len - 1,
                }
            }
        }
        (Some(start), None) if last.is_empty() => from(start, u64::MAX, len),
        (Some(start), Some(end)) if start <= end => from(start, end, len),
        _ => RangeAnswer::Whole,
    }
}

/// The range `start..=end` of a file of `len` bytes, `end` clamped.
fn from(start: u64, end: u64, len: u64) -> RangeAnswer {
    if start >= len {
        RangeAnswer::Unsatisfiable
    } else {
        RangeAnswer::Partial {
            start,
            end: end.min(len - 1),
        }
    }
}

/// A run of ASCII digits as a number, saturating at `u64::MAX` (a huge position means "past the end").
fn number(digits: &str) -> Option<u64> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(
        digits
            .bytes()
            .fold(0u64, |n, d| n.saturating_mul(10).saturating_add(u64::from(d - b'0'))),
    )
}

/// If-Range: the range applies only when the validator (an ETag or a date) matches; pass the header value.
/// No header: true. An entity tag must match strongly (a weak one never does); a date must equal the
/// file's modification time to the second; anything else: false (send the whole file).
pub fn if_range_holds(if_range: Option<&str>, etag: &str, mtime: SystemTime) -> bool {
    let Some(value) = if_range.map(str::trim) else {
        return true;
    };
    if value.starts_with('"') || value.starts_with("W/") {
        return value == etag && !etag.starts_with("W/");
    }
    httpdate::parse_http_date(value).is_ok_and(|date| date == clamp_secs(mtime))
}

#[cfg(test)]
mod tests {
    use super::*;
    use RangeAnswer::{Partial, Unsatisfiable, Whole};

    fn at(secs: u64, nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(secs, nanos)
    }

    #[test]
    fn etag_and_date_are_deterministic() {
        assert_eq!(etag(255, at(0x10, 0x20)), "\"10.20-ff\"");
        assert_eq!(etag(1, at(784111777, 5)), etag(1, at(784111777, 5)));
        assert_ne!(etag(1, at(784111777, 5)), etag(1, at(784111777, 6)));
        assert_eq!(http_date(at(784111777, 999)), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(
            http_date(UNIX_EPOCH - Duration::from_secs(9)),
            "Thu, 01 Jan 1970 00:00:00 GMT"
        );
        assert_eq!(http_date(at(u64::MAX / 4, 0)), "Fri, 31 Dec 9999 23:59:59 GMT");
    }

    #[test]
    fn if_none_match_takes_precedence() {
        let (mtime, tag) = (at(784111777, 500), etag(3, at(784111777, 500)));
        let date = Some("Sun, 06 Nov 1994 08:49:37 GMT");
        assert!(not_modified(Some(&tag), None, &tag, mtime));
        assert!(not_modified(Some("*"), None, &tag, mtime));
        assert!(not_modified(Some(&format!("\"a\", W/{tag} ,\"b\"")), None, &tag, mtime));
        assert!(not_modified(Some(&format!("\"x,y\",{tag}")), None, &tag, mtime));
        assert!(
            !not_modified(Some("\"other\""), date, &tag, mtime),
            "a current date must not win"
        );
        assert!(!not_modified(Some(&tag[1..]), None, &tag, mtime), "unquoted");
        assert!(!not_modified(Some(""), date, &tag, mtime));
    }

    #[test]
    fn if_modified_since_at_one_second() {
        let (mtime, tag) = (at(784111777, 500), "\"t\"");
        assert!(not_modified(None, Some("Sun, 06 Nov 1994 08:49:37 GMT"), tag, mtime));
        assert!(not_modified(None, Some("Sunday, 06-Nov-94 08:49:38 GMT"), tag, mtime));
        assert!(!not_modified(None, Some("Sun, 06 Nov 1994 08:49:36 GMT"), tag, mtime));
        assert!(!not_modified(None, Some("yesterday"), tag, mtime));
        assert!(!not_modified(None, None, tag, mtime));
    }

    #[test]
    fn one_range() {
        let r = |h: &str| range(Some(h), 100);
        assert_eq!(range(None, 100), Whole);
        assert_eq!(r("bytes=0-9"), Partial { start: 0, end: 9 });
        assert_eq!(r("Bytes=10-"), Partial { start: 10, end: 99 });
        assert_eq!(r("bytes=90-200"), Partial { start: 90, end: 99 });
        assert_eq!(r("bytes=-10"), Partial { start: 90, end: 99 });
        assert_eq!(r("bytes=-1000"), Partial { start: 0, end: 99 });
        assert_eq!(r("bytes=5-5"), Partial { start: 5, end: 5 });
        assert_eq!(r(" bytes=0-0, "), Partial { start: 0, end: 0 });
        assert_eq!(r("bytes=0-99999999999999999999999"), Partial { start: 0, end: 99 });
        assert_eq!(r("bytes=-99999999999999999999999"), Partial { start: 0, end: 99 });
    }

    #[test]
    fn unsatisfiable_ranges() {
        assert_eq!(range(Some("bytes=100-"), 100), Unsatisfiable);
        assert_eq!(range(Some("bytes=100-200"), 100), Unsatisfiable);
        assert_eq!(range(Some("bytes=99999999999999999999999-"), 100), Unsatisfiable);
        assert_eq!(range(Some("bytes=-0"), 100), Unsatisfiable);
        assert_eq!(range(Some("bytes=0-"), 0), Unsatisfiable);
        assert_eq!(range(Some("bytes=-5"), 0), Unsatisfiable);
    }

    #[test]
    fn ranges_ignored() {
        for h in [
            "bytes=0-1,5-6",
            "bytes=5-3",
            "items=0-1",
            "bytes=",
            "bytes=-",
            "bytes=a-b",
            "bytes=+1-2",
            "bytes=0-1-2",
            "bytes 0-1",
            "bytes=1 -2",
            "bytes=-+3",
            "",
            "bytes=é-",
        ] {
            assert_eq!(range(Some(h), 100), Whole, "{h:?}");
        }
    }

    #[test]
    fn if_range() {
        let (mtime, tag) = (at(784111777, 500), etag(3, at(784111777, 500)));
        assert!(if_range_holds(None, &tag, mtime));
        assert!(if_range_holds(Some(&tag), &tag, mtime));
        assert!(!if_range_holds(Some(&format!("W/{tag}")), &tag, mtime));
        assert!(!if_range_holds(Some("W/\"t\""), "W/\"t\"", mtime));
        assert!(!if_range_holds(Some("\"old\""), &tag, mtime));
        assert!(if_range_holds(Some("Sun, 06 Nov 1994 08:49:37 GMT"), &tag, mtime));
        assert!(!if_range_holds(Some("Sun, 06 Nov 1994 08:49:38 GMT"), &tag, mtime));
        assert!(!if_range_holds(Some("soon"), &tag, mtime));
    }
}
