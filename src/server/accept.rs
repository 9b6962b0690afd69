//! The one blocking accept loop, shared by the sequential, thread, pool and
//! fork modes (which differ only in what they do with a connection), and the
//! accept-error policy that the event loops use too (through
//! [`super::event_loop::LoopPolicy::accept_failed`]).
//!
//! `accept` fails for reasons that are not the server's fault: a client that
//! reset its connection while it sat in the backlog (`ECONNABORTED`) is
//! skipped; running out of descriptors (`EMFILE`) pauses accepting briefly
//! instead of spinning or dying. Only a broken listener is fatal.

use super::Ctx;
use crate::conn::{Listener, Stream};
use crate::proto::ConnInfo;
use crate::shutdown::Wake;
use std::io;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// How long to stop accepting after running out of descriptors.
pub const PAUSE: Duration = Duration::from_millis(100);
/// How often an idle accept loop wakes to run its housekeeping (fork reaping).
const TICK: Duration = Duration::from_millis(200);

/// What to do about an `accept` error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptError {
    /// Not ours (the peer gave up, a signal, a spurious wake-up): go on.
    Skip,
    /// Out of a resource: wait a little, then go on.
    Pause,
    /// The listener itself is broken.
    Fatal,
}

/// Sorts an `accept` error into skip, pause or fatal.
pub fn classify(err: &io::Error) -> AcceptError {
    use nix::errno::Errno;
    match err.raw_os_error().map(Errno::from_raw) {
        Some(Errno::EMFILE | Errno::ENFILE | Errno::ENOBUFS | Errno::ENOMEM) => AcceptError::Pause,
        Some(Errno::EBADF | Errno::EINVAL | Errno::ENOTSOCK | Errno::EOPNOTSUPP | Errno::EFAULT) => AcceptError::Fatal,
        Some(_) => AcceptError::Skip,
        None if err.kind() == io::ErrorKind::WouldBlock => AcceptError::Skip,
        None => AcceptError::Pause,
    }
}

/// Classifies an `accept` error and logs it the one way every loop does:
/// a skip at debug, a pause as a warning (a fatal error is the caller's to return).
pub fn note(err: &io::Error) -> AcceptError {
    let what = classify(err);
    match what {
        AcceptError::Skip => tracing::debug!(error = %err, "accept skipped"),
        AcceptError::Pause => tracing::warn!(error = %err, "accept failed, pausing"),
        AcceptError::Fatal => {}
    }
    what
}

/// What a mode does with each accepted connection.
pub trait Dispatch {
    /// Runs before each accept: wait for capacity, reap children...
    /// Returns false to stop accepting.
    fn before_accept(&mut self, _ctx: &Arc<Ctx>) -> bool {
        true
    }
    /// Runs on every tick while the loop waits (fork reaps children here).
    fn housekeeping(&mut self, _ctx: &Arc<Ctx>) {}
    /// Takes the connection. `Some` hands it back to the caller of
    /// [`accept_loop`], which then returns it (a forked child does this).
    fn dispatch(&mut self, ctx: &Arc<Ctx>, conn: Stream, info: ConnInfo) -> Option<(Stream, ConnInfo)>;
}

/// Accepts until shutdown, handing each connection to `dispatch`.
///
/// The listener is polled beside the shutdown pipe, so SIGTERM wakes it at once.
///
/// # Errors
/// Only a fatal accept error (the listener is broken).
pub fn accept_loop(
    listener: &Listener,
    ctx: &Arc<Ctx>,
    dispatch: &mut dyn Dispatch,
) -> io::Result<Option<(Stream, ConnInfo)>> {
    listener.set_nonblocking(true)?;
    loop {
        // No separate shutdown check here: the wait below sees the pipe first.
        if !dispatch.before_accept(ctx) {
            return Ok(None);
        }
        if !ctx.claim_accept() {
            // --exit-after: every connection is accepted; wait for them to finish.
            while !ctx.shutdown.sleep(TICK) {
                dispatch.housekeeping(ctx);
            }
            return Ok(None);
        }
        let accepted = match ctx.shutdown.wait(listener.as_fd(), Some(TICK))? {
            Wake::Shutdown => {
                ctx.unclaim_accept();
                return Ok(None);
            }
            Wake::Timeout => {
                ctx.unclaim_accept();
                continue;
            }
            Wake::Ready => listener.accept(),
        };
        let (conn, peer) = match accepted {
            Ok(got) => got,
            Err(e) => {
                ctx.unclaim_accept();
                match note(&e) {
                    AcceptError::Skip => {}
                    AcceptError::Pause => {
                        ctx.shutdown.sleep(PAUSE);
                    }
                    AcceptError::Fatal => return Err(e),
                }
                continue;
            }
        };
        tracing::debug!(peer = %super::peer_label(peer), "accept");
        // Accepted sockets do not inherit O_NONBLOCK on Linux, but be explicit.
        if let Err(e) = conn.set_nonblocking(false) {
            tracing::warn!(error = %e, "cannot set up connection");
            ctx.finish_connection();
            continue;
        }
        let info = ConnInfo {
            peer,
            accepted_at: SystemTime::now(),
        };
        if let Some(handoff) = dispatch.dispatch(ctx, conn, info) {
            return Ok(Some(handoff));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::errno::Errno;

    #[test]
    fn classification() {
        let os = |e: Errno| io::Error::from_raw_os_error(e as i32);
        assert_eq!(classify(&os(Errno::ECONNABORTED)), AcceptError::Skip);
        assert_eq!(classify(&os(Errno::EINTR)), AcceptError::Skip);
        assert_eq!(classify(&os(Errno::EAGAIN)), AcceptError::Skip);
        assert_eq!(classify(&os(Errno::EPROTO)), AcceptError::Skip);
        assert_eq!(classify(&os(Errno::EMFILE)), AcceptError::Pause);
        assert_eq!(classify(&os(Errno::ENFILE)), AcceptError::Pause);
        assert_eq!(classify(&os(Errno::EBADF)), AcceptError::Fatal);
        assert_eq!(classify(&io::Error::from(io::ErrorKind::WouldBlock)), AcceptError::Skip);
    }
}
