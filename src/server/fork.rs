//! Fork mode: one process per client, as the classic Unix servers did.
//!
//! The parent only accepts and forks; the child closes its copy of the
//! listener, serves its one client and exits. The parent reaps finished
//! children with `waitpid(WNOHANG)` before each accept and on a short tick,
//! so it never blocks on a child and no zombie outlives its connection. Each
//! child reports its byte counts to the parent over a datagram socket pair
//! (one small atomic message), so the summary covers every child.
//!
//! Forking is only sound while the parent has a single thread: the child
//! gets a copy of every lock, but only the forking thread, so a lock another
//! thread held (the allocator's, a logger's) would stay locked in the child
//! for ever. This mode starts no other thread in the parent, and refuses to
//! start in a process that has one (a library user's program, say).

use super::Ctx;
use super::accept::{Dispatch, accept_loop};
use super::drive::{self, Report};
use crate::conn::{Listener, Stream};
use crate::proto::ConnInfo;
use crate::shutdown::GRACE;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};
use std::collections::HashSet;
use std::io;
use std::os::unix::net::UnixDatagram;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Forker {
    /// This process, the parent of every child.
    parent: Pid,
    children: HashSet<Pid>,
    /// Children send their [`Report`] here.
    reports_tx: UnixDatagram,
    reports_rx: UnixDatagram,
}

impl Forker {
    /// Collects every finished child without blocking.
    fn reap(&mut self, ctx: &Ctx) {
        while !self.children.is_empty() {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, _) | WaitStatus::Signaled(pid, _, _)) => {
                    if self.children.remove(&pid) {
                        tracing::debug!(child = pid.as_raw(), "reaped");
                        ctx.finish_connection();
                    }
                }
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => {}
            }
        }
        let mut msg = [0u8; 16];
        while let Ok(16) = self.reports_rx.recv(&mut msg) {
            let (a, b) = msg.split_at(8);
            let word = |s: &[u8]| s.try_into().map(u64::from_le_bytes).unwrap_or(0);
            ctx.stats.add_in(usize::try_from(word(a)).unwrap_or(usize::MAX));
            ctx.stats.add_out(usize::try_from(word(b)).unwrap_or(usize::MAX));
        }
    }
}

impl Dispatch for Forker {
    fn housekeeping(&mut self, ctx: &Arc<Ctx>) {
        self.reap(ctx);
    }

    fn before_accept(&mut self, ctx: &Arc<Ctx>) -> bool {
        self.reap(ctx);
        let cap = ctx.cfg.max_conns();
        if self.children.len() < cap {
            return true;
        }
        super::log_cap(true, cap);
        while self.children.len() >= cap {
            if ctx.shutdown.sleep(Duration::from_millis(20)) {
                return false;
            }
            self.reap(ctx);
        }
        super::log_cap(false, cap);
        true
    }

    fn dispatch(&mut self, ctx: &Arc<Ctx>, conn: Stream, info: ConnInfo) -> Option<(Stream, ConnInfo)> {
        // `run` checked that this process runs one thread, and the
        // parent starts no other, so the child starts with no lock held by a
        // thread that does not exist in it.
        // SAFETY: a single-threaded process: the child inherits no lock held by a missing thread.
        match unsafe { fork() } {
            Ok(ForkResult::Child) => {
                // A parent killed outright (SIGKILL) cannot stop its children:
                // the kernel then sends them SIGTERM, and each finishes its reply.
                if nix::sys::prctl::set_pdeathsig(Signal::SIGTERM).is_err() || nix::unistd::getppid() != self.parent {
                    ctx.shutdown.trigger();
                }
                Some((conn, info))
            }
            Ok(ForkResult::Parent { child }) => {
                tracing::debug!(child = child.as_raw(), "fork");
                self.children.insert(child);
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "fork failed, dropping the connection");
                ctx.finish_connection();
                None
            }
        }
    }
}

/// How many threads this process runs (from `/proc/self/task`; 1 where that is not there).
pub fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(1, Iterator::count)
}

/// Fork mode may start only in a process with one thread.
///
/// # Errors
/// `Unsupported`, saying how many threads there are and what to do.
fn single_threaded() -> io::Result<()> {
    match threads() {
        1 => Ok(()),
        n => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!(
                "fork mode needs a process with one thread, and this one has {n}: a forked child gets \
                 only the forking thread, and any lock another thread holds stays locked in it; \
                 serve before starting other threads, or use --mode thread"
            ),
        )),
    }
}

/// The child's last act: its byte counts to the parent, then exit. The
/// send is bounded: a parent that is gone (killed) never drains the queue,
/// and a child must not wait for it forever.
fn report_and_exit(forker: &Forker, bytes_in: u64, bytes_out: u64) -> ! {
    let mut msg = [0u8; 16];
    for (dst, src) in msg
        .iter_mut()
        .zip(bytes_in.to_le_bytes().into_iter().chain(bytes_out.to_le_bytes()))
    {
        *dst = src;
    }
    let _ = forker.reports_tx.set_write_timeout(Some(GRACE));
    if let Err(e) = forker.reports_tx.send(&msg) {
        tracing::debug!(error = %e, "byte counts not reported to the parent");
    }
    std::process::exit(0);
}

/// Runs the fork-per-connection server until shutdown. In a child this
/// serves the connection and exits the process; it never returns there.
///
/// # Errors
/// When the listener breaks or the report channel cannot be made.
pub fn run(listener: Listener, ctx: &Arc<Ctx>) -> io::Result<()> {
    single_threaded()?;
    let (reports_tx, reports_rx) = UnixDatagram::pair()?;
    reports_rx.set_nonblocking(true)?;
    let mut forker = Forker {
        parent: nix::unistd::getpid(),
        children: HashSet::new(),
        reports_tx,
        reports_rx,
    };
    if let Some((conn, info)) = accept_loop(&listener, ctx, &mut forker)? {
        // The child: the listening socket belongs to the parent alone. It is a
        // new process with one thread, so it may start its own shutdown
        // watcher: the pipe is shared, and the parent's shutdown wakes it too.
        drop(listener);
        let tracked = ctx.live.track(conn);
        if let Err(e) = super::ctx::wake_readers_on_shutdown(ctx) {
            tracing::warn!(error = %e, "no shutdown watcher in the child");
        }
        let Report { bytes_in, bytes_out } = drive::serve(&tracked.conn, info, ctx);
        report_and_exit(&forker, bytes_in, bytes_out);
    }
    let deadline = Instant::now() + GRACE;
    while !forker.children.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        forker.reap(ctx);
    }
    for child in &forker.children {
        tracing::warn!(child = child.as_raw(), "grace period over, killing the child");
        let _ = kill(*child, Signal::SIGKILL);
    }
    while !forker.children.is_empty() {
        match waitpid(None, None) {
            Ok(WaitStatus::Exited(pid, _) | WaitStatus::Signaled(pid, _, _)) => {
                if forker.children.remove(&pid) {
                    ctx.finish_connection();
                }
            }
            Err(_) => break,
            Ok(_) => {}
        }
    }
    forker.reap(ctx);
    Ok(())
}

#[cfg(test)]
mod tests {
    /// The unit-test harness runs this test on a thread of its own, beside
    /// the main one: exactly the process fork mode must refuse.
    #[test]
    fn a_process_with_other_threads_is_refused() {
        assert!(super::threads() > 1);
        let err = super::single_threaded()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("fork mode needs a process with one thread"), "{err}");
    }
}
