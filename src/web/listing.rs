//! The directory listing page: the lesson that a file name is untrusted input, escaped for HTML where it
//! is shown and percent-encoded where it is a link (a file named `<img src=x onerror=alert(1)>` is text).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// Everything but the unreserved characters of RFC 3986 (`A-Za-z0-9 - . _ ~`).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// One name in a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The file name as stored (not a path).
    pub name: String,
    /// Whether it is a directory (listed first, with a trailing `/`).
    pub is_dir: bool,
}

/// The HTML page for directory `url_path` (already a safe URL path ending in '/', as
/// [`Target::url_path`](super::target::Target::url_path) gives), entries in any order.
pub fn listing(url_path: &str, entries: &[Entry]) -> String {
    let shown = html_escape(&percent_decode_str(url_path).decode_utf8_lossy());
    let mut sorted: Vec<&Entry> = entries.iter().collect();
    sorted.sort_by(|a, b| b.is_dir.cmp(&a.is_dir).then_with(|| a.name.cmp(&b.name)));
    let mut page = format!(
        "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n\
         <title>Directory listing for {shown}</title>\n</head>\n<body>\n\
         <h1>Directory listing for {shown}</h1>\n<hr>\n<ul>\n"
    );
    for entry in sorted {
        let slash = if entry.is_dir { "/" } else { "" };
        page.push_str(&format!(
            "<li><a href=\"{}{slash}\">{}{slash}</a></li>\n",
            encode_segment(&entry.name),
            html_escape(&entry.name)
        ));
    }
    page.push_str("</ul>\n<hr>\n</body>\n</html>\n");
    page
}

/// `text` safe inside HTML text and quoted attributes: `& < > " '` replaced by entities.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            _ => out.push(c),
        }
    }
    out
}

/// `name` as one URL path segment: every byte but the unreserved characters (`A-Za-z0-9 - . _ ~`)
/// percent-encoded (UTF-8), so `/`, `?`, `#`, `%` and `:` can never change what a link means.
pub fn encode_segment(name: &str) -> String {
    utf8_percent_encode(name, SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, is_dir: bool) -> Entry {
        Entry {
            name: name.into(),
            is_dir,
        }
    }

    #[test]
    fn a_hostile_name_is_text() {
        let page = listing("/", &[entry("<img src=x onerror=alert(1)>", false)]);
        assert!(!page.contains("<img"), "{page}");
        assert!(page.contains(
            "<li><a href=\"%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E\">&lt;img src=x onerror=alert(1)&gt;</a></li>"
        ));
        let page = listing("/", &[entry("\"><script>x</script>", true)]);
        assert!(!page.contains("<script"), "{page}");
        assert!(page.contains("&quot;&gt;&lt;script&gt;x&lt;/script&gt;/</a>"));
    }

    #[test]
    fn directories_first_then_sorted() {
        let entries = [
            entry("b.txt", false),
            entry("z", true),
            entry("a.txt", false),
            entry("c", true),
        ];
        let page = listing("/docs/", &entries);
        let order: Vec<usize> = ["\"c/\"", "\"z/\"", "\"a.txt\"", "\"b.txt\""]
            .iter()
            .map(|href| page.find(href).unwrap())
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{page}");
        assert!(page.contains("<li><a href=\"c/\">c/</a></li>"));
        assert!(page.contains("<li><a href=\"a.txt\">a.txt</a></li>"));
    }

    #[test]
    fn awkward_names_are_encoded_in_links() {
        let page = listing("/", &[entry("50% off #1? yes.txt", false), entry("café", true)]);
        assert!(page.contains("<a href=\"50%25%20off%20%231%3F%20yes.txt\">50% off #1? yes.txt</a>"));
        assert!(page.contains("<a href=\"caf%C3%A9/\">café/</a>"));
        assert_eq!(encode_segment("a-b.c_d~e:f/g"), "a-b.c_d~e%3Af%2Fg");
    }

    #[test]
    fn the_heading_shows_the_decoded_path_escaped() {
        let page = listing("/caf%C3%A9/%3Cb%3E/", &[]);
        assert!(page.starts_with("<!DOCTYPE html>\n"));
        assert!(page.contains("<meta charset=\"utf-8\">"));
        assert!(page.contains("<title>Directory listing for /café/&lt;b&gt;/</title>"));
        assert!(page.contains("<h1>Directory listing for /café/&lt;b&gt;/</h1>"));
        assert!(page.contains("<ul>\n</ul>"));
    }

    #[test]
    fn escapes_all_five() {
        assert_eq!(html_escape("&<>\"'x"), "&amp;&lt;&gt;&quot;&#x27;x");
    }
}
