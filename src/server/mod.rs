//! Servers: I/O schedulers that drive the sans-IO sessions of [`crate::proto`].
//!
//! Every server receives sockets that are already bound and a
//! [`Shutdown`] handle; only the binary binds, so tests and
//! examples can hand in sockets of their own. The TCP modes share one accept
//! loop ([`accept`]), one blocking connection driver ([`drive`]) and one
//! shutdown path ([`run`]): they differ only in how a connection is dispatched.
//!
//! | mode | what it shows | file |
//! |---|---|---|
//! | sequential | one client at a time; the next waits in the backlog (head-of-line blocking) | [`sequential`] |
//! | thread | a thread per client, capped by `--max-conns` | [`thread`] |
//! | pool | N threads each accepting on the shared listener | [`pool`] |
//! | poll | one non-blocking event loop (epoll through mio) per worker | [`poll`] |
//! | fork | a process per client, children reaped | [`fork`] |
//! | uring | completion-based I/O on io_uring, one ring per worker (Linux) | `uring` |

pub mod accept;
pub mod core;
pub mod drive;
pub mod edge;
pub mod fork;
pub mod live;
pub mod pktinfo;
pub mod poll;
pub mod pool;
pub mod sequential;
pub mod thread;
pub mod udp;
#[cfg(target_os = "linux")]
pub mod uring;

use crate::conn::Listener;
use crate::proto::SessionFactory;
use crate::shutdown::{GRACE, Shutdown};
use crate::stats::Stats;
use live::Live;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Bytes read per call, in every mode; also bounds what one read hands a session.
pub const READ_BUF: usize = 64 * 1024;
/// After our side is done, the peer's leftover input is discarded this long
/// at most (the lingering close), so the kernel does not reset the reply away.
pub const LINGER: Duration = Duration::from_millis(500);
/// At most this much leftover input is discarded during a lingering close.
pub const LINGER_BYTES: usize = 1 << 20;
/// The event-driven modes stop reading a peer once this many reply bytes
/// wait for it, and read again below half: a client that never reads costs
/// at most this much memory. (The blocking modes write each reply whole
/// before reading again, which bounds them by the socket buffers.)
pub const HIGH_WATER: usize = 1 << 20;
/// Most clients served at once by default in the thread and fork modes:
/// what a thread (or a process) per client can afford on a small machine.
pub const DEFAULT_MAX_CONNS: usize = 1024;
/// The event-driven modes (poll, uring) serve as many clients as there are
/// file descriptors, less this many kept for listeners, the shutdown pipe,
/// the poller or ring, logging and standard I/O.
pub const FD_RESERVE: usize = 64;
/// A client silent this long is closed, by default.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// Says, once per episode, that the connection cap was reached and when it
/// is left (both at the default level, so an episode always has its end),
/// instead of a line per client turned away.
pub fn log_cap(reached: bool, cap: usize) {
    if reached {
        tracing::warn!(
            max_conns = cap,
            "at the connection cap: new clients wait in the listen backlog"
        );
    } else {
        tracing::warn!(max_conns = cap, "below the connection cap again: accepting");
    }
}

/// How a peer appears in every log line: `127.0.0.1:5000`, `[::1]:5000`, or
/// `unix` for a Unix socket peer (which has no address).
pub fn peer_label(peer: Option<SocketAddr>) -> String {
    peer.map_or_else(|| "unix".to_string(), |p| p.to_string())
}

/// How a TCP server schedules its clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One client at a time.
    Sequential,
    /// One thread per client.
    Thread,
    /// A fixed pool of worker threads.
    Pool,
    /// Non-blocking event loops.
    Poll,
    /// One process per client.
    Fork,
    /// Completion-based I/O on io_uring (Linux).
    Uring,
}

impl Mode {
    /// Every mode, in the order of the lessons.
    pub const ALL: [Mode; 6] = [
        Mode::Sequential,
        Mode::Thread,
        Mode::Pool,
        Mode::Poll,
        Mode::Fork,
        Mode::Uring,
    ];

    /// `--workers` when not given: the pool's four threads, one event loop.
    pub fn default_workers(self) -> usize {
        match self {
            Mode::Pool => 4,
            _ => 1,
        }
    }

    /// Whether each worker has a listener of its own on the shared port
    /// (`SO_REUSEPORT`), rather than all sharing one.
    pub fn listener_per_worker(self) -> bool {
        matches!(self, Mode::Poll | Mode::Uring)
    }

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Sequential => "sequential",
            Mode::Thread => "thread",
            Mode::Pool => "pool",
            Mode::Poll => "poll",
            Mode::Fork => "fork",
            Mode::Uring => "uring",
        }
    }
}

/// Settings shared by every mode; `Default` holds every default of the
/// server flags.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The scheduler.
    pub mode: Mode,
    /// Pool threads, or event loops; `None`: [`Mode::default_workers`].
    pub workers: Option<usize>,
    /// Most clients served at once (thread, poll, fork and uring modes);
    /// the rest wait in the backlog. `None`: [`ServerConfig::max_conns`] says.
    pub max_conns: Option<usize>,
    /// Wait this long before each reply.
    pub delay: Duration,
    /// Close a client silent for this long (`None`: never).
    pub idle_timeout: Option<Duration>,
    /// Stop after this many connections.
    pub exit_after: Option<u64>,
    /// Set `TCP_NODELAY` on accepted connections (Nagle's algorithm off).
    pub nodelay: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            mode: Mode::Thread,
            workers: None,
            max_conns: None,
            delay: Duration::ZERO,
            idle_timeout: Some(DEFAULT_IDLE_TIMEOUT),
            exit_after: None,
            nodelay: true,
        }
    }
}

impl ServerConfig {
    /// Worker threads or event loops, at least one.
    pub fn workers(&self) -> usize {
        self.workers.unwrap_or_else(|| self.mode.default_workers()).max(1)
    }

    /// One event loop's share of [`ServerConfig::max_conns`] (each of the
    /// `--workers` loops counts only its own connections).
    pub fn max_conns_per_worker(&self) -> usize {
        let workers = if self.mode.listener_per_worker() {
            self.workers()
        } else {
            1
        };
        self.max_conns().div_ceil(workers).max(1)
    }

    /// The cap on live connections, at least one: `--max-conns`, or by
    /// default [`DEFAULT_MAX_CONNS`] for the thread and fork modes and the
    /// file-descriptor limit less [`FD_RESERVE`] for poll and uring (an
    /// event loop's client costs a descriptor and a few hundred bytes).
    pub fn max_conns(&self) -> usize {
        let default = match self.mode {
            Mode::Poll | Mode::Uring => crate::net::fd_limit().saturating_sub(FD_RESERVE),
            _ => DEFAULT_MAX_CONNS,
        };
        self.max_conns.unwrap_or(default).max(1)
    }
}

/// What every worker of a server shares.
pub struct Ctx {
    /// The settings.
    pub cfg: ServerConfig,
    /// Makes each connection's session.
    pub factory: SessionFactory,
    /// SIGINT/SIGTERM/`--exit-after`.
    pub shutdown: Shutdown,
    /// Counters for the summary.
    pub stats: Arc<Stats>,
    /// Live connections of the blocking modes.
    pub live: Arc<Live>,
    /// Connections accepted (or claimed by a worker about to accept).
    accepted: AtomicU64,
    /// Connections finished.
    finished: AtomicU64,
}

impl Ctx {
    /// A context for one server run.
    pub fn new(cfg: ServerConfig, factory: SessionFactory, shutdown: Shutdown) -> Self {
        Ctx {
            cfg,
            factory,
            shutdown,
            stats: Arc::default(),
            live: Arc::default(),
            accepted: AtomicU64::new(0),
            finished: AtomicU64::new(0),
        }
    }

    /// Reserves one accept under `--exit-after`; false when all are taken.
    pub fn claim_accept(&self) -> bool {
        let Some(max) = self.cfg.exit_after else { return true };
        if self.accepted.fetch_add(1, Ordering::SeqCst) < max {
            return true;
        }
        self.accepted.fetch_sub(1, Ordering::SeqCst);
        false
    }

    /// Gives back a reservation whose accept did not happen.
    pub fn unclaim_accept(&self) {
        if self.cfg.exit_after.is_some() {
            self.accepted.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Counts a finished connection; the last one of `--exit-after` starts the shutdown.
    pub fn finish_connection(&self) {
        self.stats.add_served();
        let done = self.finished.fetch_add(1, Ordering::SeqCst) + 1;
        if self.cfg.exit_after == Some(done) {
            self.shutdown.trigger();
        }
    }
}

/// A thread blocked in `read()` serving a client never sees the shutdown: this
/// watcher waits for it and ends the read side of every live connection, so
/// each handler flushes its reply and returns. (Not in the fork parent, which
/// must stay single-threaded, but in each child; nor in poll mode, whose loop
/// watches the pipe itself.)
fn wake_readers_on_shutdown(ctx: &Arc<Ctx>) -> io::Result<()> {
    let ctx = Arc::clone(ctx);
    std::thread::Builder::new().name("shutdown".into()).spawn(move || {
        if ctx.shutdown.wait(ctx.shutdown.fd(), None).is_ok() {
            ctx.live.stop_reading_all();
        }
    })?;
    Ok(())
}

/// Runs one event loop per worker (`--workers`), each on its own listener
/// when the port is shared through `SO_REUSEPORT`, else on a clone of the
/// first; this thread runs the first loop. A loop that fails stops them all.
fn run_loops(
    listeners: Vec<Listener>,
    ctx: &Arc<Ctx>,
    name: &str,
    run_loop: fn(Listener, &Ctx) -> io::Result<()>,
) -> io::Result<()> {
    let workers = ctx.cfg.workers();
    let mut mine = Vec::with_capacity(workers);
    for n in 0..workers {
        let l = listeners
            .get(n)
            .or(listeners.first())
            .ok_or(io::ErrorKind::InvalidInput)?;
        mine.push(l.try_clone()?);
    }
    drop(listeners);
    let mut mine = mine.into_iter();
    let first = mine.next().ok_or(io::ErrorKind::InvalidInput)?;
    let mut handles = Vec::new();
    for (n, listener) in mine.enumerate() {
        let ctx = Arc::clone(ctx);
        handles.push(
            std::thread::Builder::new()
                .name(format!("{name}-{}", n + 1))
                .spawn(move || {
                    if let Err(e) = run_loop(listener, &ctx) {
                        tracing::error!(error = %e, "event loop stopped");
                        ctx.shutdown.trigger();
                    }
                })?,
        );
    }
    let result = run_loop(first, ctx);
    if result.is_err() {
        ctx.shutdown.trigger();
    }
    for h in handles {
        let _ = h.join();
    }
    result
}

/// Serves on `listeners` in the configured mode until shutdown, then lets
/// in-flight replies finish (at most [`GRACE`]) and returns the counters.
///
/// `listeners` holds one socket, or one per event loop (poll or uring worker) when they share a
/// port through `SO_REUSEPORT`.
///
/// # Errors
/// When the listener breaks (not for any client's misbehaviour).
pub fn run(
    listeners: Vec<Listener>,
    cfg: ServerConfig,
    factory: SessionFactory,
    shutdown: Shutdown,
) -> io::Result<Arc<Stats>> {
    let ctx = Arc::new(Ctx::new(cfg, factory, shutdown));
    if matches!(ctx.cfg.mode, Mode::Sequential | Mode::Thread | Mode::Pool) {
        wake_readers_on_shutdown(&ctx)?;
    }
    let mut listeners = listeners.into_iter();
    let first = listeners
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no listener"))?;
    match ctx.cfg.mode {
        Mode::Sequential => sequential::run(&first, &ctx)?,
        Mode::Thread => thread::run(&first, &ctx)?,
        Mode::Pool => pool::run(&first, &ctx)?,
        Mode::Poll => poll::run(std::iter::once(first).chain(listeners).collect(), &ctx)?,
        Mode::Fork => fork::run(first, &ctx)?,
        #[cfg(target_os = "linux")]
        Mode::Uring => uring::run(std::iter::once(first).chain(listeners).collect(), &ctx)?,
        #[cfg(not(target_os = "linux"))]
        Mode::Uring => {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "io_uring is Linux only: use --mode poll",
            ));
        }
    }
    ctx.live.stop_reading_all();
    if !ctx.live.wait_empty(GRACE) {
        tracing::warn!(
            open = ctx.live.len(),
            "grace period over, closing the remaining connections"
        );
    }
    Ok(Arc::clone(&ctx.stats))
}
