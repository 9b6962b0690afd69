//! The live connections of the blocking modes: how many there are (the
//! thread mode's cap) and a way to wake them all at shutdown.
//!
//! A thread blocked in `read()` does not see a shutdown flag. Shutting down
//! the read side of its socket (`shutdown(SHUT_RD)`) makes that `read` return
//! 0 at once, as if the peer had finished: the handler then flushes its reply
//! and closes, which is exactly "let in-flight replies finish".
//!
//! The registry keeps each connection's descriptor *number*, not a second
//! descriptor: a client costs one file descriptor, not two. A number is only
//! safe to use while its socket is open, so the registry's lock orders the
//! two: a connection leaves the registry (under the lock) before its socket
//! is closed, and the shutdown sweep holds the lock, so every number it
//! sees still names that connection's socket.

use crate::conn::Stream;
use crate::shutdown::Shutdown;
use slab::Slab;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The registry; shared by every worker.
#[derive(Debug, Default)]
pub struct Live {
    /// Each live connection's descriptor number, used only to `shutdown(Read)` it.
    conns: Mutex<Slab<RawFd>>,
    /// Signalled whenever a connection leaves.
    left: Condvar,
}

/// A connection counted as live until this is dropped.
#[derive(Debug)]
pub struct Tracked {
    /// The connection itself (closed after it has left the registry: fields
    /// drop after `Drop::drop` has run).
    pub conn: Stream,
    live: Arc<Live>,
    key: usize,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let mut conns = self.live.lock();
        if conns.contains(self.key) {
            conns.remove(self.key);
        }
        drop(conns);
        self.live.left.notify_all();
    }
}

impl Live {
    fn lock(&self) -> MutexGuard<'_, Slab<RawFd>> {
        // A panic elsewhere cannot leave the slab half-updated; keep serving.
        self.conns.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts `conn` as live until the returned [`Tracked`] is dropped.
    pub fn track(self: &Arc<Self>, conn: Stream) -> Tracked {
        let key = self.lock().insert(conn.as_fd().as_raw_fd());
        Tracked {
            conn,
            live: Arc::clone(self),
            key,
        }
    }

    /// Live connections now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no connection is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Blocks while `max` or more connections are live; false if shutdown
    /// started while it waited.
    pub fn wait_below(&self, max: usize, shutdown: &Shutdown) -> bool {
        let mut conns = self.lock();
        while conns.len() >= max {
            if shutdown.is_triggered() {
                return false;
            }
            conns = match self.left.wait_timeout(conns, Duration::from_millis(100)) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        true
    }

    /// Ends the read side of every live connection, waking blocked readers.
    pub fn stop_reading_all(&self) {
        let conns = self.lock();
        for (_, &fd) in conns.iter() {
            // The lock is held: this number still names the tracked socket.
            let _ = nix::sys::socket::shutdown(fd, nix::sys::socket::Shutdown::Read);
        }
    }

    /// Waits up to `limit` for every connection to leave; true if they did.
    pub fn wait_empty(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut conns = self.lock();
        while !conns.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            conns = match self.left.wait_timeout(conns, left) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        true
    }
}
