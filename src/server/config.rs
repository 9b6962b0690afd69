//! What a server is configured with: the scheduler ([`Mode`]), its limits
//! ([`ServerConfig`]), and the constants behind their defaults, each with
//! its reason.

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

    /// Whether this machine can run the mode: io_uring can be refused by the
    /// kernel (a seccomp profile, `kernel.io_uring_disabled`), and is Linux only.
    ///
    /// # Errors
    /// `io_uring is not available here (CAUSE): use --mode poll`.
    pub fn available(self) -> std::io::Result<()> {
        #[cfg(target_os = "linux")]
        if self == Mode::Uring {
            return super::uring::check();
        }
        #[cfg(not(target_os = "linux"))]
        if self == Mode::Uring {
            return Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "io_uring is not available here (Linux only): use --mode poll",
            ));
        }
        Ok(())
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
