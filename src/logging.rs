//! Tracing to stderr, so stdout carries only data.
//!
//! Levels: by default warnings, errors and the shutdown summary; `-v` adds a line
//! per connection or datagram (info); `-vv` adds every socket call (debug);
//! `-q` keeps errors only. `RUST_LOG` overrides all of that.

use tracing_subscriber::EnvFilter;

/// The target of the one-line summary a server prints when it stops.
pub const SUMMARY: &str = "netlab::summary";

/// How chatty stderr is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    /// `-q`: errors only.
    Quiet,
    /// No flag: warnings, errors and summaries.
    Normal,
    /// `-v`: one line per connection or datagram.
    Info,
    /// `-vv`: every socket call.
    Debug,
}

impl Verbosity {
    /// From the count of `-v` flags and the `-q` flag.
    pub fn from_flags(verbose: u8, quiet: bool) -> Self {
        match (quiet, verbose) {
            (true, _) => Verbosity::Quiet,
            (false, 0) => Verbosity::Normal,
            (false, 1) => Verbosity::Info,
            (false, _) => Verbosity::Debug,
        }
    }

    fn directives(self) -> String {
        match self {
            Verbosity::Quiet => "error".into(),
            Verbosity::Normal => format!("warn,{SUMMARY}=info"),
            Verbosity::Info => "info".into(),
            Verbosity::Debug => "debug".into(),
        }
    }
}

/// Prints a server's one-line shutdown summary on stderr, as it is, with no
/// level in front (`served 3 connections, 15 bytes in, 15 bytes out`);
/// hidden by `-q` (and by a `RUST_LOG` that leaves out the summary target).
pub fn summary(line: impl std::fmt::Display) {
    if tracing::enabled!(target: SUMMARY, tracing::Level::INFO) {
        stderr_line(line);
    }
}

/// One line on stderr; a closed stderr is ignored (a panic is not an option).
pub fn stderr_line(line: impl std::fmt::Display) {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}

/// Installs the stderr subscriber; `RUST_LOG`, when set, wins over `verbosity`.
pub fn init(verbosity: Verbosity) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => EnvFilter::new(spec),
        _ => EnvFilter::new(verbosity.directives()),
    };
    // A second init (tests, embedding) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .without_time()
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_map_to_levels() {
        assert_eq!(Verbosity::from_flags(0, false), Verbosity::Normal);
        assert_eq!(Verbosity::from_flags(1, false), Verbosity::Info);
        assert_eq!(Verbosity::from_flags(2, false), Verbosity::Debug);
        assert_eq!(Verbosity::from_flags(3, false), Verbosity::Debug);
        assert_eq!(Verbosity::from_flags(2, true), Verbosity::Quiet);
        assert!(Verbosity::Normal.directives().contains(SUMMARY));
    }
}
