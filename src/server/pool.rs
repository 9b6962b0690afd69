//! Pool mode: exactly N worker threads, each accepting on the shared
//! listener and serving its client to the end. Clients beyond N wait in the
//! listen backlog, which is the lesson: a fixed pool bounds the work, not the queue.

use super::Ctx;
use super::accept::accept_loop;
use super::sequential::Inline;
use crate::conn::Listener;
use std::io;
use std::sync::Arc;

/// Runs `--workers` accept-and-serve threads (this thread is one of them).
///
/// # Errors
/// When the listener breaks or a worker cannot be started.
pub fn run(listener: &Listener, ctx: &Arc<Ctx>) -> io::Result<()> {
    for n in 1..ctx.cfg.workers() {
        let listener = listener.try_clone()?;
        let ctx = Arc::clone(ctx);
        std::thread::Builder::new().name(format!("pool-{n}")).spawn(move || {
            if let Err(e) = accept_loop(&listener, &ctx, &mut Inline) {
                tracing::error!(error = %e, "pool worker stopped");
                ctx.shutdown.trigger();
            }
        })?;
    }
    // Workers still serving a client finish it during the grace period of `run`.
    accept_loop(listener, ctx, &mut Inline).map(|_| ())
}
