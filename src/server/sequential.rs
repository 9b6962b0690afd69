//! Sequential mode: one client at a time, served to the end in the accept
//! loop itself. A slow client holds everyone else in the listen backlog —
//! head-of-line blocking, the reason the other modes exist.

use super::Ctx;
use super::accept::{Dispatch, accept_loop};
use super::drive;
use crate::conn::{Listener, Stream};
use crate::proto::ConnInfo;
use std::io;
use std::sync::Arc;

/// Serves each connection inline, then accepts the next.
pub struct Inline;

impl Dispatch for Inline {
    fn dispatch(&mut self, ctx: &Arc<Ctx>, conn: Stream, info: ConnInfo) -> Option<(Stream, ConnInfo)> {
        drive::serve_and_finish(ctx.live.track(conn), info, ctx);
        None
    }
}

/// Runs the sequential server until shutdown.
///
/// # Errors
/// When the listener breaks.
pub fn run(listener: &Listener, ctx: &Arc<Ctx>) -> io::Result<()> {
    accept_loop(listener, ctx, &mut Inline).map(|_| ())
}
