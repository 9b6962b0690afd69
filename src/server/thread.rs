//! Thread mode: a new thread for every client, at most `--max-conns` at once.
//! Past the cap the accept loop stops accepting, so new clients wait in the
//! listen backlog instead of each costing a thread (and its stack).

use super::Ctx;
use super::accept::{Dispatch, accept_loop};
use super::drive;
use crate::conn::{Listener, Stream};
use crate::proto::ConnInfo;
use std::io;
use std::sync::Arc;

/// Stack size of a connection thread. Address space only: the kernel
/// commits the pages a thread touches, so a thousand idle clients cost a
/// thousand small stacks, not a gigabyte. It must hold the deepest session
/// call: a zlib compressor builds ~300 KiB of tables on the stack in debug
/// builds, so the 256 KiB that the plain handlers need is not enough.
const STACK: usize = 1 << 20;

struct Spawn;

impl Dispatch for Spawn {
    fn before_accept(&mut self, ctx: &Arc<Ctx>) -> bool {
        let cap = ctx.cfg.max_conns();
        if ctx.live.len() < cap {
            return true;
        }
        super::log_cap(true, cap);
        let go_on = ctx.live.wait_below(cap, &ctx.shutdown);
        if go_on {
            super::log_cap(false, cap);
        }
        go_on
    }

    fn dispatch(&mut self, ctx: &Arc<Ctx>, conn: Stream, info: ConnInfo) -> Option<(Stream, ConnInfo)> {
        // Tracked before the thread starts, so the cap counts it at once.
        let tracked = ctx.live.track(conn);
        let worker = Arc::clone(ctx);
        let spawned = std::thread::Builder::new()
            .name("conn".into())
            .stack_size(STACK)
            .spawn(move || drive::serve_and_finish(tracked, info, &worker));
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start a thread for a connection");
            ctx.finish_connection();
        }
        None
    }
}

/// Runs the thread-per-connection server until shutdown.
///
/// # Errors
/// When the listener breaks.
pub fn run(listener: &Listener, ctx: &Arc<Ctx>) -> io::Result<()> {
    accept_loop(listener, ctx, &mut Spawn).map(|_| ())
}
