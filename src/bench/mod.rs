//! A load generator for every protocol: `--threads` event loops (mio), each
//! driving its share of `--conns` connections, every reply checked.
//!
//! - **Closed loop** (the default): each connection sends its next request
//!   when the reply arrives; a slow server gets fewer requests.
//! - **Open loop** (`--rate R`): requests fall due at R per second in all,
//!   whatever the server does, and each latency is measured from when its
//!   request was *due*, not when a connection got round to sending it (wrk2's
//!   correction of coordinated omission): a server that stalls shows up as
//!   latency, not as fewer requests.
//!
//! The per-protocol conversation (what to send, what a right reply is) is a
//! sans-IO [`dialog::Dialog`]; the loops here only move bytes and keep time.

pub mod dialog;
pub mod picture;
mod schedule;
pub mod stats;
mod stream;
mod udp;
mod wire;

use crate::error::NetError;
use crate::proto::answer::Answer;
use stats::{Load, Summary, Tally};
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Where the load goes.
#[derive(Debug, Clone)]
pub enum Target {
    /// A TCP (or UDP) server, at every address its name resolved to (TCP
    /// tries them in turn; UDP uses the first).
    Tcp(Vec<SocketAddr>),
    /// A Unix stream socket.
    Unix(PathBuf),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Tcp(addrs) => match addrs.first() {
                Some(a) => write!(f, "{a}"),
                None => f.write_str("(no address)"),
            },
            Target::Unix(p) => write!(f, "{}", p.display()),
        }
    }
}

/// The protocol spoken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// Raw TCP request/reply (tcp-server).
    Tcp,
    /// Length-prefixed blocks (framed server).
    Framed,
    /// UDP datagrams (udp-server).
    Udp,
    /// XML-RPC calls over HTTP (rpc server): `addtogether(1, 2, 3, 4, 5)`.
    Rpc,
    /// Keep-alive GETs (http server) of [`BenchConfig::path`].
    Http,
}

impl Proto {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Framed => "framed",
            Proto::Udp => "udp",
            Proto::Rpc => "rpc",
            Proto::Http => "http",
        }
    }
}

/// When a run ends.
#[derive(Debug, Clone, Copy)]
pub enum Stop {
    /// After this long.
    After(Duration),
    /// After this many requests in all.
    Requests(u64),
}

/// A load run's settings.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// The server.
    pub target: Target,
    /// The protocol.
    pub proto: Proto,
    /// Connections (UDP: sockets) kept busy at once.
    pub conns: usize,
    /// Event-loop threads.
    pub threads: usize,
    /// Request payload size in bytes.
    pub size: u64,
    /// When to stop.
    pub stop: Stop,
    /// What a correct reply is (tcp and udp).
    pub expect: Answer,
    /// Open loop at this many requests per second in all; `None`: closed loop.
    pub rate: Option<f64>,
    /// Report every interval this long.
    pub interval: Option<Duration>,
    /// How long a request waits for its reply before it is an error (UDP:
    /// lost), and how long a connection may take to open.
    pub timeout: Duration,
    /// One request per connection, then every connection held open, idle,
    /// until the run ends (how many idle clients can a server hold?).
    pub hold: bool,
    /// What `--proto http` GETs.
    pub path: String,
    /// `--tls`: the client configuration and the name the server's certificate must carry.
    pub tls: Option<BenchTls>,
    /// `--new-conn`: a new connection (and under TLS a handshake) for every request.
    pub new_conn: bool,
}

/// How `bench --tls` connects.
#[derive(Debug, Clone)]
pub struct BenchTls {
    /// Whom it trusts.
    pub config: Arc<rustls::ClientConfig>,
    /// The server's name (SNI, and the certificate's).
    pub host: String,
}

/// What every worker thread shares.
struct Shared {
    cfg: BenchConfig,
    started: Instant,
    /// Requests started, for [`Stop::Requests`].
    issued: AtomicU64,
    /// Requests answered, for the progress display.
    answered: AtomicU64,
    /// Errors so far, for the progress display.
    errors: AtomicU64,
    /// Set by [`Stopper::stop`]: end the run now.
    stopped: Arc<AtomicBool>,
    /// The first error seen, in words, for the report.
    first_error: std::sync::Mutex<Option<String>>,
}

impl Shared {
    /// Reserves one more request, if the run allows another.
    fn claim(&self, now: Instant) -> bool {
        if self.stopped.load(Ordering::Relaxed) {
            return false;
        }
        match self.cfg.stop {
            Stop::After(d) => now < self.started + d,
            Stop::Requests(n) => self.issued.fetch_add(1, Ordering::Relaxed) < n,
        }
    }

    /// Whether the run is over for every thread (time up, or stopped).
    fn over(&self, now: Instant) -> bool {
        self.stopped.load(Ordering::Relaxed) || matches!(self.cfg.stop, Stop::After(d) if now >= self.started + d)
    }

    /// Remembers the first error of the run, in words (`what` runs only for the first).
    fn note_error(&self, what: impl FnOnce() -> String) {
        if let Ok(mut first) = self.first_error.lock()
            && first.is_none()
        {
            *first = Some(what());
        }
    }

    /// Remembers the first wrong reply: what came and what was expected, with
    /// a hint when the server answers with another policy (`--reply`).
    fn note_wrong(&self, request: &[u8], got: &[u8], expected: &[u8]) {
        self.note_error(|| dialog::describe_wrong(request, got, expected, self.cfg.expect));
    }

    /// When the run ends by time, if it does.
    fn deadline(&self) -> Option<Instant> {
        match self.cfg.stop {
            Stop::After(d) => Some(self.started + d),
            Stop::Requests(_) => None,
        }
    }
}

/// Ends a run early from another thread (Ctrl-C).
#[derive(Debug, Clone, Default)]
pub struct Stopper(Arc<AtomicBool>);

impl Stopper {
    /// Asks the run to stop now; what was measured so far is reported.
    pub fn stop(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether a stop was asked for.
    pub fn is_stopped(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// The flag itself, for a signal handler to set (`signal_hook::flag::register`).
    pub fn flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.0)
    }
}

/// How far a run has got, for a progress display.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Fraction done, 0.0 to 1.0 (of the duration, or of the requests).
    pub done: f64,
    /// Requests answered so far.
    pub requests: u64,
    /// Errors so far.
    pub errors: u64,
}

/// What a worker thread hands back.
struct WorkerResult {
    tally: Tally,
    served: usize,
    /// Why connecting failed, when it did.
    connect_error: Option<io::Error>,
    connected: usize,
    /// UDP: an ICMP port-unreachable came back (nobody listens there).
    refused: bool,
    /// When the thread had opened all of its connections.
    set_up: Instant,
}

/// One interval's figures from one worker.
struct Snapshot {
    index: u32,
    tally: Tally,
}

/// Runs the load and summarises it. `on_progress` is called about five
/// times a second; `on_interval` once per `--interval` with the merged
/// figures of every thread.
///
/// # Errors
/// [`NetError::Refused`] (or the connect error) when no connection could be
/// made at all; a thread or poller failure.
pub fn run(
    cfg: &BenchConfig,
    stopper: &Stopper,
    mut on_progress: impl FnMut(Progress),
    mut on_interval: impl FnMut(Duration, &Tally, Duration),
) -> io::Result<Summary> {
    let threads = cfg.threads.clamp(1, cfg.conns.max(1));
    let shared = Arc::new(Shared {
        cfg: cfg.clone(),
        started: Instant::now(),
        issued: AtomicU64::new(0),
        answered: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        stopped: Arc::clone(&stopper.0),
        first_error: std::sync::Mutex::new(None),
    });
    let (snap_tx, snap_rx) = mpsc::channel::<Snapshot>();
    let mut handles = Vec::with_capacity(threads);
    for t in 0..threads {
        let share = conns_of(cfg.conns.max(1), threads, t);
        let rate = cfg.rate.map(|r| r * share as f64 / cfg.conns.max(1) as f64);
        let (shared, tx) = (Arc::clone(&shared), snap_tx.clone());
        let handle = std::thread::Builder::new()
            .name(format!("bench-{t}"))
            .spawn(move || worker(&shared, share, rate, &tx))?;
        handles.push(handle);
    }
    drop(snap_tx);
    watch(&shared, threads, &snap_rx, &mut on_progress, &mut on_interval);
    let mut total = Tally::default();
    let (mut served, mut connected, mut first_error, mut refused) = (0, 0, None, false);
    let mut set_up = shared.started;
    for h in handles {
        let r = h.join().map_err(|_| io::Error::other("a bench thread failed"))??;
        total.add(&r.tally);
        served += r.served;
        connected += r.connected;
        first_error = first_error.or(r.connect_error);
        refused |= r.refused;
        set_up = set_up.max(r.set_up);
    }
    if connected == 0 || (refused && total.latencies.count() == 0) {
        return Err(first_error.unwrap_or_else(|| NetError::Refused.into()));
    }
    let mut summary = summarise(cfg, threads, served, &total, shared.started.elapsed());
    summary.setup_ms = set_up.duration_since(shared.started).as_secs_f64() * 1e3;
    summary.first_error = shared.first_error.lock().ok().and_then(|mut f| f.take());
    Ok(summary)
}

/// The summary of a run that has not started: what the report header shows.
pub fn preview(cfg: &BenchConfig) -> Summary {
    let threads = cfg.threads.clamp(1, cfg.conns.max(1));
    summarise(cfg, threads, 0, &Tally::default(), Duration::ZERO)
}

/// Connections thread `t` of `threads` drives: an even share, the remainder to the first.
fn conns_of(conns: usize, threads: usize, t: usize) -> usize {
    conns / threads + usize::from(t < conns % threads)
}

fn worker(shared: &Shared, conns: usize, rate: Option<f64>, tx: &mpsc::Sender<Snapshot>) -> io::Result<WorkerResult> {
    match shared.cfg.proto {
        Proto::Udp => udp::run(shared, conns, rate, tx),
        Proto::Tcp | Proto::Framed | Proto::Rpc | Proto::Http => stream::run(shared, conns, rate, tx),
    }
}

/// The calling thread's part while the workers run: progress, and merging
/// each interval's snapshots once every thread has sent its own.
fn watch(
    shared: &Shared,
    threads: usize,
    snaps: &mpsc::Receiver<Snapshot>,
    on_progress: &mut impl FnMut(Progress),
    on_interval: &mut impl FnMut(Duration, &Tally, Duration),
) {
    let mut pending: std::collections::BTreeMap<u32, (usize, Tally)> = Default::default();
    loop {
        match snaps.recv_timeout(Duration::from_millis(200)) {
            Ok(snap) => {
                let entry = pending.entry(snap.index).or_default();
                entry.0 += 1;
                entry.1.add(&snap.tally);
                if entry.0 == threads
                    && let (Some(span), Some((_, tally))) = (shared.cfg.interval, pending.remove(&snap.index))
                {
                    on_interval(span * (snap.index + 1), &tally, span);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        on_progress(progress(shared));
    }
}

fn progress(shared: &Shared) -> Progress {
    let requests = shared.answered.load(Ordering::Relaxed);
    let done = match shared.cfg.stop {
        Stop::After(d) => shared.started.elapsed().as_secs_f64() / d.as_secs_f64().max(1e-9),
        Stop::Requests(n) => requests as f64 / n.max(1) as f64,
    };
    Progress {
        done: done.min(1.0),
        requests,
        errors: shared.errors.load(Ordering::Relaxed),
    }
}

fn summarise(cfg: &BenchConfig, threads: usize, served: usize, total: &Tally, elapsed: Duration) -> Summary {
    let load = if cfg.rate.is_some() { Load::Open } else { Load::Closed };
    let mut s = Summary::empty(cfg.proto.name(), &cfg.target.to_string(), cfg.conns, threads, cfg.size);
    s.conns_served = served;
    s.load = load;
    s.rate = cfg.rate;
    s.fill(total, elapsed);
    if cfg.proto == Proto::Udp {
        let asked = s.requests + total.lost;
        s.loss = Some(if asked == 0 {
            0.0
        } else {
            total.lost as f64 / asked as f64
        });
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_shared_out_evenly() {
        let shares: Vec<usize> = (0..3).map(|t| conns_of(10, 3, t)).collect();
        assert_eq!(shares, vec![4, 3, 3]);
        assert_eq!((0..2).map(|t| conns_of(1, 2, t)).sum::<usize>(), 1);
    }
}
