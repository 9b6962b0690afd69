//! Counters a server keeps while it runs, and the one-line summary it prints
//! on stderr when it stops.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Shared counters; every worker adds to the same instance.
#[derive(Debug, Default)]
pub struct Stats {
    served: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
}

impl Stats {
    /// Counts one more connection or datagram served.
    pub fn add_served(&self) -> u64 {
        self.served.fetch_add(1, Relaxed) + 1
    }
    /// Adds received bytes.
    pub fn add_in(&self, n: usize) {
        self.bytes_in.fetch_add(n as u64, Relaxed);
    }
    /// Adds sent bytes.
    pub fn add_out(&self, n: usize) {
        self.bytes_out.fetch_add(n as u64, Relaxed);
    }
    /// Connections or datagrams served so far.
    pub fn served(&self) -> u64 {
        self.served.load(Relaxed)
    }
    /// Bytes received so far.
    pub fn bytes_in(&self) -> u64 {
        self.bytes_in.load(Relaxed)
    }
    /// Bytes sent so far.
    pub fn bytes_out(&self) -> u64 {
        self.bytes_out.load(Relaxed)
    }
    /// The summary line, counting `unit`s (`"connection"`, `"datagram"`;
    /// an `s` is added unless there is exactly one).
    pub fn summary<'a>(&'a self, unit: &'a str) -> Summary<'a> {
        Summary { stats: self, unit }
    }
}

/// Displays as `served 3 connections, 15 bytes in, 15 bytes out`.
pub struct Summary<'a> {
    stats: &'a Stats,
    unit: &'a str,
}

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let served = self.stats.served();
        let plural = if served == 1 { "" } else { "s" };
        write!(
            f,
            "served {served} {}{plural}, {} bytes in, {} bytes out",
            self.unit,
            self.stats.bytes_in(),
            self.stats.bytes_out()
        )
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn summary_line() {
        let s = super::Stats::default();
        s.add_served();
        s.add_in(5);
        s.add_out(7);
        assert_eq!(
            s.summary("datagram").to_string(),
            "served 1 datagram, 5 bytes in, 7 bytes out"
        );
        s.add_served();
        assert_eq!(
            s.summary("connection").to_string(),
            "served 2 connections, 5 bytes in, 7 bytes out"
        );
    }
}
