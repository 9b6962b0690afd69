//! Uring mode: completion-based I/O on io_uring, the sixth server design.
//!
//! A readiness loop (poll mode) asks the kernel "which sockets are ready?"
//! and then makes a system call per read and per write. Here the loop puts
//! *submissions* in a ring shared with the kernel — accept connections on
//! this listener, receive on this socket into any of these buffers, send
//! these bytes — and later reaps *completions* from a second ring, each
//! saying what one operation did. One `io_uring_enter` submits a batch and
//! waits for the next completions, so a busy server makes far less than one
//! system call per request.
//!
//! - Accepting is one multishot accept per listener: it keeps completing,
//!   one connection each time, until it is cancelled or fails (EMFILE).
//! - Receiving is one multishot receive per connection into a provided
//!   buffer ring shared by the loop's connections (`bufring.rs`): an idle
//!   connection holds no buffer. Each completion's bytes go into the
//!   session at once and the buffer goes back in the same batch.
//! - Sending: at most one send in flight per connection, from a buffer
//!   frozen until its completion; a short send resubmits the rest.
//! - Time stays in the loop, as in poll mode: `--delay` timers, the idle and
//!   linger sweep, and the grace period only set how long the wait may last.
//! - The shutdown pipe is watched by a one-shot poll inside the ring.
//! - Every connection follows the same [`Lifecycle`](super::lifecycle::Lifecycle)
//!   and the loop the same [`LoopPolicy`](super::event_loop::LoopPolicy) as
//!   poll mode, so clients cannot tell the two apart.
//!
//! The files, by owner: `worker.rs` is the loop (read it first), `accept.rs`
//! the listener and its accept, `conn.rs` a connection and its operations,
//! `ring.rs` the ring and the only place a submission is pushed, `bufring.rs`
//! the receive buffers, `token.rs` the `user_data` layout.

mod accept;
mod bufring;
mod conn;
mod ring;
pub mod token;
mod worker;

use super::Ctx;
use crate::conn::Listener;
use io_uring::IoUring;
use std::io;
use std::sync::Arc;

/// How big each ring is. The defaults suit many connections; the
/// `NETLAB_URING_ENTRIES` (at least 2), `NETLAB_URING_BUFFERS` (a power of
/// two) and `NETLAB_URING_BUFFER_SIZE` environment variables shrink them for
/// tests (a full submission queue, running out of buffers); other values
/// are ignored. `NETLAB_URING_REFUSE=EPERM|ENOSYS|EINVAL` makes setup fail
/// as a refusing kernel would (the one-line error test).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingSize {
    /// Submission queue entries (the completion queue has 8 times as many).
    pub entries: u32,
    /// Provided receive buffers (a power of two).
    pub buffers: u16,
    /// Bytes per receive buffer.
    pub buffer_size: usize,
}

impl Default for RingSize {
    fn default() -> Self {
        RingSize {
            entries: 256,
            buffers: 512,
            buffer_size: 16 * 1024,
        }
    }
}

impl RingSize {
    /// The defaults, with any test overrides from the environment.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
        let d = RingSize::default();
        RingSize {
            entries: var("NETLAB_URING_ENTRIES")
                .and_then(|v| u32::try_from(v).ok())
                .unwrap_or(d.entries),
            buffers: var("NETLAB_URING_BUFFERS")
                .and_then(|v| u16::try_from(v).ok())
                .filter(|b| b.is_power_of_two())
                .unwrap_or(d.buffers),
            buffer_size: var("NETLAB_URING_BUFFER_SIZE")
                .and_then(|v| usize::try_from(v).ok())
                .filter(|s| *s > 0)
                .unwrap_or(d.buffer_size),
        }
    }
}

/// Builds a ring the way every worker does: one submitter thread
/// (`SINGLE_ISSUER`), kernel work run only when the loop waits
/// (`DEFER_TASKRUN`), a failing entry not stopping the batch (`SUBMIT_ALL`).
fn build(size: RingSize) -> io::Result<IoUring> {
    if let Ok(errno) = std::env::var("NETLAB_URING_REFUSE") {
        // Test hook: behave as a kernel that refuses io_uring would.
        let code = match errno.as_str() {
            "ENOSYS" => nix::errno::Errno::ENOSYS,
            "EINVAL" => nix::errno::Errno::EINVAL,
            _ => nix::errno::Errno::EPERM,
        };
        return Err(io::Error::from_raw_os_error(code as i32));
    }
    IoUring::<io_uring::squeue::Entry, io_uring::cqueue::Entry>::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_submit_all()
        .setup_cqsize(size.entries.saturating_mul(8))
        .build(size.entries)
}

/// Why the kernel refused, in words, with the sysctl that may be the reason.
fn refusal(err: &io::Error, what: &str) -> io::Error {
    use nix::errno::Errno;
    let errno = err.raw_os_error().map(Errno::from_raw);
    let cause = match errno {
        Some(Errno::ENOSYS) => format!("{what}: ENOSYS, the kernel has no io_uring or a seccomp profile hides it"),
        Some(Errno::EPERM) => {
            let sysctl = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
                .map(|v| format!(", kernel.io_uring_disabled = {}", v.trim()))
                .unwrap_or_default();
            format!("{what}: EPERM, not permitted{sysctl}")
        }
        Some(Errno::EINVAL) => format!("{what}: EINVAL, the kernel is older than this mode needs (Linux 6.1)"),
        _ => format!("{what}: {err}"),
    };
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("io_uring is not available here ({cause}): use --mode poll"),
    )
}

/// Checks once, before the server announces itself, that this kernel runs
/// everything the mode needs: the ring flags and a provided-buffer ring.
///
/// # Errors
/// `io_uring is not available here (CAUSE): use --mode poll`.
pub fn check() -> io::Result<()> {
    let size = RingSize {
        entries: 8,
        buffers: 1,
        buffer_size: 64,
    };
    let ring = build(size).map_err(|e| refusal(&e, "io_uring_setup"))?;
    let bufs = bufring::BufRing::new(&ring.submitter(), 0, size.buffers, size.buffer_size)
        .map_err(|e| refusal(&e, "registering a buffer ring"))?;
    // Nothing was submitted: the kernel gives the group back, then its
    // memory may go. Should it refuse, the memory is kept for good.
    match ring.submitter().unregister_buf_ring(bufs.bgid) {
        Ok(()) => drop(bufs),
        Err(_) => std::mem::forget(bufs),
    }
    Ok(())
}

/// Runs `--workers` rings until shutdown (this thread runs the first).
///
/// # Errors
/// When a ring cannot be set up, or a listener breaks.
pub fn run(listeners: Vec<Listener>, ctx: &Arc<Ctx>) -> io::Result<()> {
    super::workers::run_loops(listeners, ctx, "uring", |listener, ctx| {
        let size = RingSize::from_env();
        let ring = build(size).map_err(|e| refusal(&e, "io_uring_setup"))?;
        worker::Worker::new(ring::Ring::new(ring), size, listener, ctx)?.run()
    })
}
