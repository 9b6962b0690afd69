//! Content-Type from a file name's extension: the lesson that the server, not the browser, says what
//! bytes are (with `nosniff`, a wrong type is a bug; unknown types are `application/octet-stream`).

/// The Content-Type for `file_name` (a name or a path), chosen by its extension, case-insensitively;
/// `application/octet-stream` when the extension is unknown or missing.
pub fn content_type(file_name: &str) -> &'static str {
    let name = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
    let Some((stem, ext)) = name.rsplit_once('.') else {
        return OCTET_STREAM;
    };
    if stem.is_empty() {
        // `.bashrc`, `.env`: a hidden name, not an extension.
        return OCTET_STREAM;
    }
    match ext.to_ascii_lowercase().as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "txt" | "text" | "md" | "markdown" | "rst" | "rs" | "py" | "toml" | "yaml" | "yml" | "ini" | "cfg" | "conf"
        | "log" | "sh" | "c" | "h" | "cc" | "cpp" | "hpp" | "go" | "java" | "rb" | "lock" => {
            "text/plain; charset=utf-8"
        }
        "css" => "text/css",
        "js" | "mjs" => "text/javascript",
        "json" | "map" => "application/json",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "ico" => "image/x-icon",
        "wasm" => "application/wasm",
        "pdf" => "application/pdf",
        "xml" => "application/xml",
        "csv" => "text/csv",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        "tar" => "application/x-tar",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "mp3" => "audio/mpeg",
        "ogg" => "audio/ogg",
        "wav" => "audio/wav",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "otf" => "font/otf",
        _ => OCTET_STREAM,
    }
}

/// The type of bytes nobody has named.
const OCTET_STREAM: &str = "application/octet-stream";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_table() {
        let table = [
            ("index.html", "text/html; charset=utf-8"),
            ("old.htm", "text/html; charset=utf-8"),
            ("notes.txt", "text/plain; charset=utf-8"),
            ("README.md", "text/plain; charset=utf-8"),
            ("main.rs", "text/plain; charset=utf-8"),
            ("x.py", "text/plain; charset=utf-8"),
            ("Cargo.toml", "text/plain; charset=utf-8"),
            ("a.css", "text/css"),
            ("a.js", "text/javascript"),
            ("a.mjs", "text/javascript"),
            ("a.json", "application/json"),
            ("a.png", "image/png"),
            ("a.jpg", "image/jpeg"),
            ("a.jpeg", "image/jpeg"),
            ("a.gif", "image/gif"),
            ("a.svg", "image/svg+xml"),
            ("a.webp", "image/webp"),
            ("favicon.ico", "image/x-icon"),
            ("a.wasm", "application/wasm"),
            ("a.pdf", "application/pdf"),
            ("a.xml", "application/xml"),
            ("a.csv", "text/csv"),
            ("a.zip", "application/zip"),
            ("a.tar.gz", "application/gzip"),
            ("a.mp4", "video/mp4"),
            ("a.mp3", "audio/mpeg"),
            ("a.woff2", "font/woff2"),
        ];
        for (name, want) in table {
            assert_eq!(content_type(name), want, "{name}");
        }
    }

    #[test]
    fn case_insensitive() {
        assert_eq!(content_type("PHOTO.JPG"), "image/jpeg");
        assert_eq!(content_type("Index.HtMl"), "text/html; charset=utf-8");
    }

    #[test]
    fn unknown_or_missing_extensions() {
        for name in [
            "a.exe",
            "Makefile",
            "a.",
            ".bashrc",
            "",
            "dir.html/file",
            "a.tar.gz.bin",
        ] {
            assert_eq!(content_type(name), "application/octet-stream", "{name}");
        }
        assert_eq!(content_type("dir.d/page.html"), "text/html; charset=utf-8");
    }
}
