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
pub mod config;
pub mod ctx;
pub mod drive;
pub mod edge;
pub mod event_loop;
pub mod fork;
pub mod lifecycle;
pub mod live;
pub mod pktinfo;
pub mod poll;
pub mod pool;
pub mod sequential;
pub mod thread;
pub mod udp;
#[cfg(target_os = "linux")]
pub mod uring;
mod workers;

pub use config::{
    DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNS, FD_RESERVE, HIGH_WATER, LINGER, LINGER_BYTES, Mode, READ_BUF, ServerConfig,
};
pub use ctx::{Ctx, log_cap, peer_label};

use crate::conn::Listener;
use crate::proto::SessionFactory;
use crate::shutdown::{GRACE, Shutdown};
use crate::stats::Stats;
use std::io;
use std::sync::Arc;

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
        ctx::wake_readers_on_shutdown(&ctx)?;
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
        Mode::Uring => Mode::Uring.available()?,
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
