//! The one line every server prints on stdout once it listens.
//!
//! Scripts and tests wait for `server ready on ADDR` instead of sleeping; with
//! `--port 0` the kernel picks the port and this line is the only way to learn it.

use std::fmt::Display;
use std::io::{self, Write};

const PREFIX: &str = "server ready on ";

/// Prints `server ready on ADDR` to stdout and flushes it at once.
///
/// # Errors
/// When stdout cannot be written.
pub fn announce(addr: impl Display) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "{PREFIX}{addr}")?;
    out.flush()
}

/// Returns the ADDR of a ready line, or `None` when the line is something else.
pub fn parse(line: &str) -> Option<&str> {
    line.trim_end().strip_prefix(PREFIX)
}

#[cfg(test)]
mod tests {
    #[test]
    fn parse_reads_what_announce_writes() {
        assert_eq!(super::parse("server ready on 127.0.0.1:4000\n"), Some("127.0.0.1:4000"));
        assert_eq!(super::parse("server ready on [::1]:80"), Some("[::1]:80"));
        assert_eq!(super::parse("hello"), None);
    }
}
