//! The live connections of the blocking modes: how many there are (the
//! thread mode's cap) and a way to wake them all at shutdown.
//!
//! A thread blocked in `read()` does not see a shutdown flag. Shutting down
//! the read side of its socket (`shutdown(SHUT_RD)`) makes that `read` return
//! 0 at once, as if the peer had finished: the handler then flushes its reply
//! and closes, which is exactly "let in-flight replies finish".

use crate::conn::Stream;
use crate::shutdown::Shutdown;
use slab::Slab;
use std::net::Shutdown as How;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The registry; shared by every worker.
#[derive(Debug, Default)]
pub struct Live {
    /// A second handle to each connection, used only to `shutdown(Read)` it.
    conns: Mutex<Slab<Option<Stream>>>,
    /// Signalled whenever a connection leaves.
    left: Condvar,
}

/// A connection counted as live until this is dropped.
#[derive(Debug)]
pub struct Tracked {
    /// The connection itself.
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
    fn lock(&self) -> MutexGuard<'_, Slab<Option<Stream>>> {
        // A panic elsewhere cannot leave the slab half-updated; keep serving.
        self.conns.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts `conn` as live until the returned [`Tracked`] is dropped.
    pub fn track(self: &Arc<Self>, conn: Stream) -> Tracked {
        let handle = conn.try_clone().ok();
        let key = self.lock().insert(handle);
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
        for (_, handle) in self.lock().iter() {
            if let Some(conn) = handle {
                let _ = conn.shutdown(How::Read);
            }
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
