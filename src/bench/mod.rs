//! A load generator: many connections from one mio event loop, each sending
//! a request of `size` bytes and checking every byte of the reply before the
//! next, for a duration or a number of requests.
//!
//! Requests and replies stream: a connection writes its request as fast as
//! the socket takes it while reading the reply, so a 1 GiB request never sits
//! in memory (its bytes repeat a 64 KiB pattern) and never deadlocks against
//! a server that answers while it reads.

pub mod stats;

use crate::conn::{EventStream, Stream};
use crate::proto::answer::Answer;
use mio::net::{TcpStream, UnixStream};
use mio::{Events, Interest, Poll, Token};
use stats::Summary;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Length of the repeating request pattern.
const PATTERN: usize = 64 * 1024;

/// Where the load goes.
#[derive(Debug, Clone)]
pub enum Target {
    /// A TCP server.
    Tcp(SocketAddr),
    /// A Unix stream socket.
    Unix(PathBuf),
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
    /// Connections kept busy at once.
    pub conns: usize,
    /// Request size in bytes.
    pub size: u64,
    /// When to stop.
    pub stop: Stop,
    /// What a correct reply is.
    pub expect: Answer,
}

/// One connection's progress through its current request.
struct Client {
    sock: EventStream,
    sent: u64,
    received: u64,
    started: Instant,
    /// Still has a request in flight.
    busy: bool,
}

/// Connects the way `tcp-client` does (same errors), then hands the socket to mio.
fn connect(target: &Target) -> io::Result<EventStream> {
    let stream = match target {
        Target::Tcp(addr) => crate::client::stream::connect_tcp(std::slice::from_ref(addr), None)?,
        Target::Unix(path) => crate::client::stream::connect_unix(path)?,
    };
    stream.set_nonblocking(true)?;
    Ok(match stream {
        Stream::Tcp(s) => EventStream::Tcp(TcpStream::from_std(s)),
        Stream::Unix(s) => EventStream::Unix(UnixStream::from_std(s)),
    })
}

/// The whole run's state: the loop, its clients, and what they measured.
struct Run<'a> {
    cfg: &'a BenchConfig,
    pattern: Vec<u8>,
    expected: Vec<u8>,
    buf: Vec<u8>,
    latencies: Vec<u64>,
    errors: u64,
    issued: u64,
    /// Requests started and not yet answered (or failed).
    in_flight: usize,
}

impl Run<'_> {
    /// Whether another request may start.
    fn may_issue(&self, started: Instant) -> bool {
        match self.cfg.stop {
            Stop::Requests(n) => self.issued < n,
            Stop::After(d) => started.elapsed() < d,
        }
    }

    fn begin(&mut self, c: &mut Client) {
        self.issued += 1;
        self.in_flight += 1;
        c.sent = 0;
        c.received = 0;
        c.busy = true;
        c.started = Instant::now();
    }

    /// Writes request bytes until done or `WouldBlock`; false when the connection died.
    fn write_more(&mut self, c: &mut Client) -> bool {
        while c.busy && c.sent < self.cfg.size {
            let off = (c.sent % PATTERN as u64) as usize;
            let left = usize::try_from(self.cfg.size - c.sent).unwrap_or(usize::MAX);
            let chunk = self.pattern.get(off..).unwrap_or_default();
            let chunk = chunk.get(..chunk.len().min(left)).unwrap_or_default();
            match c.sock.write(chunk) {
                Ok(0) => return false,
                Ok(n) => c.sent += n as u64,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        true
    }

    /// Reads and checks reply bytes until `WouldBlock`; false when the connection died or lied.
    fn read_more(&mut self, c: &mut Client, run_started: Instant) -> bool {
        loop {
            let n = match c.sock.read(&mut self.buf) {
                Ok(0) => return false,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return false,
            };
            if !c.busy || c.received + n as u64 > c.sent {
                return false; // bytes nobody asked for
            }
            let mut got = self.buf.get(..n).unwrap_or_default();
            while !got.is_empty() {
                let off = (c.received % PATTERN as u64) as usize;
                let want = self.expected.get(off..).unwrap_or_default();
                let len = want.len().min(got.len());
                if got.get(..len) != want.get(..len) {
                    return false;
                }
                got = got.get(len..).unwrap_or_default();
                c.received += len as u64;
            }
            if c.received == self.cfg.size {
                c.busy = false;
                self.in_flight -= 1;
                self.latencies
                    .push(u64::try_from(c.started.elapsed().as_micros()).unwrap_or(u64::MAX));
                if self.may_issue(run_started) {
                    self.begin(c);
                    if !self.write_more(c) {
                        return false;
                    }
                }
            }
        }
    }
}

/// Runs the load and summarises it.
///
/// # Errors
/// [`crate::error::NetError::Refused`] when no connection could be made, or a poller failure.
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

/// How often `on_progress` is called.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

/// Runs the load and summarises it, calling `on_progress` about five times a second.
///
/// # Errors
/// [`crate::error::NetError::Refused`] when no connection could be made, or a poller failure.
pub fn run_with_progress(cfg: &BenchConfig, mut on_progress: impl FnMut(Progress)) -> io::Result<Summary> {
    let pattern: Vec<u8> = (0..PATTERN).map(|i| b"abcdefghijklmnopqrstuvwxyz"[i % 26]).collect();
    let expected = cfg.expect.reply_to(&pattern);
    let mut state = Run {
        in_flight: 0,
        cfg,
        pattern,
        expected,
        buf: vec![0; PATTERN],
        latencies: Vec::new(),
        errors: 0,
        issued: 0,
    };
    let mut poll = Poll::new()?;
    let mut clients: Vec<Option<Client>> = Vec::with_capacity(cfg.conns);
    let mut last_error = None;
    for k in 0..cfg.conns.max(1) {
        match connect(&cfg.target) {
            Ok(mut sock) => {
                poll.registry()
                    .register(sock.source(), Token(k), Interest::READABLE | Interest::WRITABLE)?;
                clients.push(Some(Client {
                    sock,
                    sent: 0,
                    received: 0,
                    started: Instant::now(),
                    busy: false,
                }));
            }
            Err(e) => {
                state.errors += 1;
                last_error = Some(e);
                clients.push(None);
            }
        }
    }
    if clients.iter().all(Option::is_none) {
        return Err(last_error.unwrap_or_else(|| io::ErrorKind::NotConnected.into()));
    }
    let started = Instant::now();
    for slot in &mut clients {
        if let Some(c) = slot
            && state.may_issue(started)
        {
            state.begin(c);
            if !state.write_more(c) {
                state.errors += 1;
                state.in_flight -= 1;
                *slot = None;
            }
        }
    }
    let mut events = Events::with_capacity(1024);
    let mut next_progress = started + PROGRESS_EVERY;
    loop {
        let out_of_time = matches!(cfg.stop, Stop::After(d) if started.elapsed() >= d);
        if state.in_flight == 0 || out_of_time {
            break;
        }
        if Instant::now() >= next_progress {
            next_progress += PROGRESS_EVERY;
            let done = match cfg.stop {
                Stop::After(d) => started.elapsed().as_secs_f64() / d.as_secs_f64().max(1e-9),
                Stop::Requests(n) => state.latencies.len() as f64 / n.max(1) as f64,
            };
            on_progress(Progress {
                done: done.min(1.0),
                requests: state.latencies.len() as u64,
                errors: state.errors,
            });
        }
        match poll.poll(&mut events, Some(Duration::from_millis(100))) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
            Ok(()) => {}
        }
        for event in &events {
            let Some(slot) = clients.get_mut(event.token().0) else {
                continue;
            };
            let Some(c) = slot.as_mut() else { continue };
            let mut alive = true;
            if event.is_writable() {
                alive = state.write_more(c);
            }
            if alive && (event.is_readable() || event.is_read_closed() || event.is_error()) {
                alive = state.read_more(c, started);
            }
            if !alive {
                state.errors += 1;
                if c.busy {
                    state.in_flight -= 1;
                }
                *slot = None;
            }
        }
    }
    let elapsed = started.elapsed();
    Ok(Summary::new(
        state.latencies,
        state.errors,
        usize::try_from(cfg.size).unwrap_or(usize::MAX),
        elapsed,
    ))
}

/// Runs the load and summarises it.
///
/// # Errors
/// As [`run_with_progress`].
pub fn run(cfg: &BenchConfig) -> io::Result<Summary> {
    run_with_progress(cfg, |_| {})
}
