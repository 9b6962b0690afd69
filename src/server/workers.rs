//! `--workers` event loops: one per thread, each on its own listener when
//! the port is shared through `SO_REUSEPORT`, else on a clone of the first.

use super::ctx::Ctx;
use crate::conn::Listener;
use std::io;
use std::sync::Arc;

/// Runs one event loop per worker (`--workers`), each on its own listener
/// when the port is shared through `SO_REUSEPORT`, else on a clone of the
/// first; this thread runs the first loop. A loop that fails stops them all.
pub(super) fn run_loops(
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
