//! The pure summary of a load run: counts, throughput and latency percentiles.

use serde::Serialize;
use std::time::Duration;

/// What a run measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Requests answered correctly.
    pub requests: u64,
    /// Wrong replies, resets and failed connects.
    pub errors: u64,
    /// Requests per second.
    pub rps: f64,
    /// Megabytes (10^6) per second, request and reply bytes counted once.
    pub mbps: f64,
    /// Median latency, microseconds.
    pub p50_us: u64,
    /// 99th percentile latency, microseconds.
    pub p99_us: u64,
    /// Slowest request, microseconds.
    pub max_us: u64,
}

/// The value below which `q` (0..=1) of the sorted samples fall (nearest rank).
pub fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied().unwrap_or(0)
}

impl Summary {
    /// Summarises latencies (microseconds, any order), errors, bytes per request and elapsed time.
    pub fn new(mut latencies_us: Vec<u64>, errors: u64, size: usize, elapsed: Duration) -> Self {
        latencies_us.sort_unstable();
        let requests = latencies_us.len() as u64;
        let secs = elapsed.as_secs_f64().max(1e-9);
        Summary {
            requests,
            errors,
            rps: requests as f64 / secs,
            mbps: (requests as f64 * size as f64) / secs / 1e6,
            p50_us: percentile(&latencies_us, 0.50),
            p99_us: percentile(&latencies_us, 0.99),
            max_us: latencies_us.last().copied().unwrap_or(0),
        }
    }

    /// One human line.
    pub fn line(&self) -> String {
        let ms = |us: u64| us as f64 / 1000.0;
        format!(
            "requests {}  errors {}  rps {:.1}  MB/s {:.1}  p50 {:.3} ms  p99 {:.3} ms  max {:.3} ms",
            self.requests,
            self.errors,
            self.rps,
            self.mbps,
            ms(self.p50_us),
            ms(self.p99_us),
            ms(self.max_us)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.5), 50);
        assert_eq!(percentile(&v, 0.99), 99);
        assert_eq!(percentile(&v, 1.0), 100);
        assert_eq!(percentile(&[7], 0.99), 7);
        assert_eq!(percentile(&[], 0.5), 0);
    }

    #[test]
    fn summary() {
        let s = Summary::new(vec![300, 100, 200], 1, 1000, Duration::from_secs(1));
        assert_eq!((s.requests, s.errors, s.p50_us, s.max_us), (3, 1, 200, 300));
        assert!((s.rps - 3.0).abs() < 1e-9);
        assert!((s.mbps - 0.003).abs() < 1e-9);
        assert!(s.line().contains("requests 3  errors 1"));
    }
}
