//! What every worker of one server run shares: its settings, the session
//! factory, the shutdown handle, the counters, and the `--exit-after` budget;
//! and how a peer and the connection cap appear in the logs.

use super::config::ServerConfig;
use super::live::Live;
use crate::proto::SessionFactory;
use crate::shutdown::Shutdown;
use crate::stats::Stats;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

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
pub(super) fn wake_readers_on_shutdown(ctx: &Arc<Ctx>) -> io::Result<()> {
    let ctx = Arc::clone(ctx);
    std::thread::Builder::new().name("shutdown".into()).spawn(move || {
        if ctx.shutdown.wait(ctx.shutdown.fd(), None).is_ok() {
            ctx.live.stop_reading_all();
        }
    })?;
    Ok(())
}
