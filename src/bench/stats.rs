//! What a load run measured: latencies in an HdrHistogram (microseconds, 3
//! significant digits, from 1 µs to an hour), counts, throughput, and the
//! report a person reads at a glance (labelled, aligned, like wrk's) or a
//! script reads (`--json`).

use hdrhistogram::Histogram;
use serde::Serialize;
use std::fmt::Write as _;
use std::time::Duration;

/// The slowest latency the histogram holds, in microseconds (an hour).
const MAX_US: u64 = 3_600_000_000;

/// Latencies of answered requests, in microseconds.
#[derive(Debug, Clone)]
pub struct Latencies(Histogram<u64>);

impl Default for Latencies {
    fn default() -> Self {
        Self::new()
    }
}

impl Latencies {
    /// An empty histogram.
    pub fn new() -> Self {
        // Constant bounds (low 1, high above 2 × low, 3 digits): always valid.
        #[allow(clippy::expect_used)]
        let h = Histogram::new_with_bounds(1, MAX_US, 3).expect("constant histogram bounds are valid");
        Latencies(h)
    }

    /// Records one latency (clamped into the histogram's range).
    pub fn record(&mut self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(MAX_US).clamp(1, MAX_US);
        self.0.saturating_record(us);
    }

    /// Adds another histogram's counts.
    pub fn add(&mut self, other: &Latencies) {
        let _ = self.0.add(&other.0);
    }

    /// Requests recorded.
    pub fn count(&self) -> u64 {
        self.0.len()
    }

    /// The latency below which `q` (0..=1) of the requests fall, in µs.
    pub fn percentile_us(&self, q: f64) -> u64 {
        if self.0.is_empty() {
            return 0;
        }
        self.0.value_at_quantile(q)
    }

    /// The slowest latency, in µs.
    pub fn max_us(&self) -> u64 {
        if self.0.is_empty() { 0 } else { self.0.max() }
    }

    /// Forgets every sample (a new interval).
    pub fn clear(&mut self) {
        self.0.reset();
    }

    /// The fastest latency, in µs.
    pub fn min_us(&self) -> u64 {
        if self.0.is_empty() { 0 } else { self.0.min().max(1) }
    }

    /// The mean latency, µs.
    pub fn mean_us(&self) -> f64 {
        self.0.mean()
    }

    /// The standard deviation of the latencies, µs.
    pub fn stdev_us(&self) -> f64 {
        self.0.stdev()
    }

    /// Every distinct value recorded (µs, at the histogram's resolution) and its count.
    pub fn recorded(&self) -> Vec<(u64, u64)> {
        self.0
            .iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect()
    }

    /// The percentile distribution as HdrHistogram prints it: steps that
    /// halve the distance to 100% five at a time; each is (value µs,
    /// quantile, requests since the step before).
    pub fn quantile_steps(&self) -> Vec<(u64, f64, u64)> {
        if self.0.is_empty() {
            return Vec::new();
        }
        self.0
            .iter_quantiles(5)
            .map(|v| {
                (
                    v.value_iterated_to(),
                    v.quantile_iterated_to(),
                    v.count_since_last_iteration(),
                )
            })
            .collect()
    }

    /// The histogram's buckets and sub-buckets (the `.hgrm` footer).
    pub fn layout(&self) -> (u8, u32) {
        (self.0.buckets(), self.0.distinct_values() as u32)
    }
}

impl PartialEq for Latencies {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

/// How the load was offered.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Load {
    /// Each connection sends its next request when the reply arrives.
    Closed,
    /// Requests are due at a fixed total rate, whatever the replies do.
    Open,
}

/// The whole run's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// `tcp`, `framed`, `udp` or `rpc`.
    pub proto: String,
    /// Where the load went.
    pub target: String,
    /// Connections (or UDP sockets).
    pub conns: usize,
    /// Connections that got at least one reply.
    pub conns_served: usize,
    /// Event-loop threads.
    pub threads: usize,
    /// Request payload size in bytes.
    pub size: u64,
    /// Closed or open loop.
    pub load: Load,
    /// The asked rate (open loop), requests per second.
    pub rate: Option<f64>,
    /// Requests answered correctly.
    pub requests: u64,
    /// Wrong replies, resets and failed connects.
    pub errors: u64,
    /// UDP: the fraction of requests that got no reply in time (0 to 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loss: Option<f64>,
    /// Seconds the run took.
    pub duration_s: f64,
    /// Requests per second.
    pub rps: f64,
    /// Megabytes (10^6) per second, request and reply bytes together.
    pub mbps: f64,
    /// Median latency, µs.
    pub p50_us: u64,
    /// 90th percentile, µs.
    pub p90_us: u64,
    /// 99th percentile, µs.
    pub p99_us: u64,
    /// 99.9th percentile, µs.
    pub p999_us: u64,
    /// Slowest request, µs.
    pub max_us: u64,
    /// Milliseconds until every connection was open.
    pub setup_ms: f64,
    /// The first error of the run, in words (a wrong reply with what came
    /// and what was expected, a timeout, a refused connection).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
    /// Every answered request's latency (for the histogram, `.hgrm` and plot).
    #[serde(skip)]
    pub latencies: Latencies,
}

/// Counts for one run or one interval, before they are turned into rates.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Latencies of answered requests.
    pub latencies: Latencies,
    /// Wrong replies, resets, failed connects.
    pub errors: u64,
    /// UDP requests that timed out.
    pub lost: u64,
    /// Request and reply bytes moved.
    pub bytes: u64,
}

impl Tally {
    /// Adds another tally.
    pub fn add(&mut self, other: &Tally) {
        self.latencies.add(&other.latencies);
        self.errors += other.errors;
        self.lost += other.lost;
        self.bytes += other.bytes;
    }

    /// Empties it for the next interval.
    pub fn clear(&mut self) {
        self.latencies.clear();
        self.errors = 0;
        self.lost = 0;
        self.bytes = 0;
    }
}

/// A latency as a person reads it: `45us`, `1.23ms`, `2.50s`.
pub fn human_us(us: u64) -> String {
    match us {
        0..1_000 => format!("{us}us"),
        1_000..1_000_000 => format!("{:.2}ms", us as f64 / 1e3),
        _ => format!("{:.2}s", us as f64 / 1e6),
    }
}

/// Bytes per second as a person reads them.
pub fn human_rate(bytes_per_s: f64) -> String {
    match bytes_per_s {
        b if b >= 1e9 => format!("{:.2}GB", b / 1e9),
        b if b >= 1e6 => format!("{:.2}MB", b / 1e6),
        b if b >= 1e3 => format!("{:.2}KB", b / 1e3),
        b => format!("{b:.0}B"),
    }
}

impl Summary {
    /// A closed-loop run of nothing yet: what the figures start from.
    pub fn empty(proto: &str, target: &str, conns: usize, threads: usize, size: u64) -> Self {
        Summary {
            proto: proto.into(),
            target: target.into(),
            conns,
            conns_served: 0,
            threads,
            size,
            load: Load::Closed,
            rate: None,
            requests: 0,
            errors: 0,
            loss: None,
            duration_s: 0.0,
            rps: 0.0,
            mbps: 0.0,
            p50_us: 0,
            p90_us: 0,
            p99_us: 0,
            p999_us: 0,
            max_us: 0,
            setup_ms: 0.0,
            first_error: None,
            latencies: Latencies::new(),
        }
    }

    /// Fills in the rates and percentiles of `tally` over `elapsed`.
    pub fn fill(&mut self, tally: &Tally, elapsed: Duration) {
        let secs = elapsed.as_secs_f64().max(1e-9);
        let l = &tally.latencies;
        self.latencies = l.clone();
        self.requests = l.count();
        self.errors = tally.errors;
        self.duration_s = elapsed.as_secs_f64();
        self.rps = self.requests as f64 / secs;
        self.mbps = tally.bytes as f64 / secs / 1e6;
        self.p50_us = l.percentile_us(0.50);
        self.p90_us = l.percentile_us(0.90);
        self.p99_us = l.percentile_us(0.99);
        self.p999_us = l.percentile_us(0.999);
        self.max_us = l.max_us();
    }

    /// The header printed before the run.
    pub fn header(&self) -> String {
        let load = match (self.load, self.rate) {
            (Load::Open, Some(r)) => {
                format!("open loop at {r:.0} requests/s in all (latency measured from when each request was due)")
            }
            _ => "closed loop: each connection sends its next request when the reply arrives".to_string(),
        };
        let what = match self.proto.as_str() {
            "http" => "keep-alive GETs".to_string(),
            "rpc" => "addtogether(1, 2, 3, 4, 5) calls".to_string(),
            _ => format!("{}-byte requests", self.size),
        };
        format!(
            "Bench @ {}: {}, {what}\n  {} on {}, {load}",
            self.target,
            self.proto,
            crate::words::count(self.conns as u64, "connection", "connections"),
            crate::words::count(self.threads as u64, "thread", "threads")
        )
    }

    /// The report: labelled, aligned lines.
    pub fn report(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "  Latency       p50       p90       p99     p99.9       max");
        let _ = writeln!(
            s,
            "            {:>9} {:>9} {:>9} {:>9} {:>9}",
            human_us(self.p50_us),
            human_us(self.p90_us),
            human_us(self.p99_us),
            human_us(self.p999_us),
            human_us(self.max_us)
        );
        let _ = writeln!(
            s,
            "  Requests      {} in {:.2}s ({} of {} served, all open after {:.0} ms)",
            self.requests,
            self.duration_s,
            self.conns_served,
            crate::words::count(self.conns as u64, "connection", "connections"),
            self.setup_ms
        );
        let _ = writeln!(s, "  Requests/sec  {:.2}", self.rps);
        let _ = writeln!(s, "  Transfer/sec  {}", human_rate(self.mbps * 1e6));
        if let Some(loss) = self.loss {
            let _ = writeln!(s, "  Lost          {:.2}%", loss * 100.0);
        }
        let _ = write!(s, "  Errors        {}", self.errors);
        s
    }

    /// One interval's line.
    pub fn interval_line(at: Duration, tally: &Tally, span: Duration) -> String {
        let l = &tally.latencies;
        format!(
            "  [{:>6.1}s]  {:>10.1} req/s  p50 {:>8}  p99 {:>8}  errors {}",
            at.as_secs_f64(),
            l.count() as f64 / span.as_secs_f64().max(1e-9),
            human_us(l.percentile_us(0.5)),
            human_us(l.percentile_us(0.99)),
            tally.errors
        )
    }

    /// One interval as a JSON object.
    pub fn interval_json(at: Duration, tally: &Tally, span: Duration) -> serde_json::Value {
        let l = &tally.latencies;
        serde_json::json!({
            "t": at.as_secs_f64(),
            "requests": l.count(),
            "rps": l.count() as f64 / span.as_secs_f64().max(1e-9),
            "p50_us": l.percentile_us(0.5),
            "p99_us": l.percentile_us(0.99),
            "max_us": l.max_us(),
            "errors": tally.errors,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_from_the_histogram() {
        let mut l = Latencies::new();
        for us in 1..=1000u64 {
            l.record(Duration::from_micros(us));
        }
        assert_eq!(l.count(), 1000);
        assert_eq!(l.percentile_us(0.5), 500);
        assert!(
            (989..=991).contains(&l.percentile_us(0.99)),
            "{}",
            l.percentile_us(0.99)
        );
        assert_eq!(l.max_us(), 1000);
        let mut other = Latencies::new();
        other.record(Duration::from_secs(2));
        l.add(&other);
        assert!(l.max_us() >= 1_999_000);
        assert_eq!(Latencies::new().percentile_us(0.5), 0);
    }

    #[test]
    fn summary_and_report() {
        let mut tally = Tally::default();
        for us in [100, 200, 300] {
            tally.latencies.record(Duration::from_micros(us));
        }
        tally.errors = 1;
        tally.bytes = 3000;
        let mut s = Summary::empty("tcp", "127.0.0.1:1234", 2, 1, 500);
        s.conns_served = 2;
        s.fill(&tally, Duration::from_secs(1));
        assert_eq!((s.requests, s.errors, s.p50_us, s.max_us), (3, 1, 200, 300));
        assert!((s.rps - 3.0).abs() < 1e-9);
        assert!((s.mbps - 0.003).abs() < 1e-9);
        let report = s.report();
        assert!(report.contains("Requests/sec  3.00"), "{report}");
        assert!(report.contains("Errors        1"), "{report}");
        assert!(s.header().contains("closed loop"));
        let v = serde_json::to_value(&s).unwrap_or_default();
        for key in [
            "requests", "errors", "rps", "mbps", "p50_us", "p90_us", "p99_us", "p999_us", "max_us",
        ] {
            assert!(v[key].is_number(), "{key}");
        }
        assert!(v.get("loss").is_none());
    }

    #[test]
    fn human_units() {
        assert_eq!(human_us(45), "45us");
        assert_eq!(human_us(1_230), "1.23ms");
        assert_eq!(human_us(2_500_000), "2.50s");
        assert_eq!(human_rate(3_160_000.0), "3.16MB");
    }
}
