//! One ring's event loop: submissions out, completions in, and the same
//! connection rules as poll mode (`server::core`).
//!
//! Who owns what while the kernel works (the contract of every `unsafe`
//! push below):
//! - a connection's send buffer (`UConn::send_buf`) is frozen from the send's
//!   submission to its completion: nothing appends to it, nothing frees it
//!   (a connection with a send in flight is not dropped; at exit, one whose
//!   send never completed is leaked rather than freed);
//! - the receive buffers belong to the buffer ring, which outlives every
//!   receive (dropped after the ring, or leaked if a receive is still armed);
//! - the shutdown pipe and listener outlive their operations (owned by the
//!   server context and this worker).

use super::RingSize;
use super::bufring::BufRing;
use super::token::{Kind, Token};
use crate::conn::{Listener, Stream};
use crate::server::Ctx;
use crate::server::core::{Core, Timer, due_timers, expired, sweep_every};
use crate::shutdown::GRACE;
use io_uring::types::{Fd, SubmitArgs, Timespec};
use io_uring::{IoUring, cqueue, opcode, squeue};
use nix::errno::Errno;
use slab::Slab;
use std::collections::VecDeque;
use std::io;
use std::mem::ManuallyDrop;
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

/// How long the loop waits at most for the last operations at exit.
const DRAIN: Duration = Duration::from_secs(1);

/// A connection's multishot receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Recv {
    /// None armed.
    Idle,
    /// Armed: completions keep coming until one without `F_MORE`.
    Armed,
    /// Armed, and a cancel is on its way.
    Cancelling,
}

/// One client of the ring.
pub(super) struct UConn {
    /// The socket (closed when the connection is dropped, after its operations).
    pub(super) sock: Stream,
    /// Its descriptor, as submissions name it.
    pub(super) fd: RawFd,
    /// The session, pending replies and phase: the rules poll mode follows too.
    pub(super) core: Core,
    /// Tells this connection's completions from those of a slot's earlier tenant.
    pub(super) generation: u32,
    /// The state of its multishot receive.
    pub(super) recv: Recv,
    /// The bytes of the send in flight (frozen until its completion).
    pub(super) send_buf: Vec<u8>,
    /// How much of `send_buf` the kernel has sent.
    pub(super) send_off: usize,
    /// A send is in flight: `send_buf` must not change.
    pub(super) sending: bool,
    /// The connection is done (and why); it goes once its operations have completed.
    pub(super) closing: Option<&'static str>,
}

/// One ring and its connections.
pub(super) struct Worker<'a> {
    /// Settings, counters, the session factory, the shutdown handle.
    pub(super) ctx: &'a Ctx,
    /// The submission and completion queues shared with the kernel.
    pub(super) ring: IoUring,
    /// The receive buffers: freed after their group is unregistered, or leaked
    /// while a receive may still write into them (see `Drop`).
    pub(super) bufs: ManuallyDrop<BufRing>,
    /// The listening socket; `None` once accepting has stopped for good.
    pub(super) listener: Option<Listener>,
    /// The listener is a Unix socket (accepted sockets are Unix streams).
    pub(super) unix: bool,
    /// The multishot accept is armed.
    pub(super) accept_armed: bool,
    /// A cancel of the armed accept is on its way.
    pub(super) accept_cancelled: bool,
    /// The connections, keyed by slot (the `slot` of their tokens).
    pub(super) conns: Slab<UConn>,
    /// `--delay` timers in deadline order.
    pub(super) timers: VecDeque<Timer>,
    /// The completions of one batch (kept to reuse its memory).
    pub(super) cqes: Vec<cqueue::Entry>,
    /// The generation the next connection gets.
    pub(super) next_generation: u32,
    /// Connections whose receive ran out of buffers, re-armed after the batch.
    pub(super) rearm: Vec<(usize, u32)>,
    /// Operations whose last completion has not come (receives, sends, the accept).
    pub(super) ops: usize,
    /// Submissions that found the queue full and the kernel busy; queued first thing next turn.
    pub(super) deferred: VecDeque<squeue::Entry>,
    /// Accepting waits for a connection to close (this ring's share of the cap is reached).
    pub(super) accept_blocked: bool,
    /// Accepting waits until then (it ran out of descriptors).
    pub(super) accept_resume: Option<Instant>,
    /// When the idle and linger sweep runs next.
    pub(super) next_sweep: Instant,
    /// Shutting down: the grace period ends then.
    pub(super) stop_by: Option<Instant>,
    /// The shutdown pipe's poll has completed.
    pub(super) shutdown_polled: bool,
    /// The time of the batch being handled (one clock read per batch).
    pub(super) now: Instant,
    /// Receives that found the buffer ring empty (the ring is small for the load).
    pub(super) enobufs: u64,
    /// Completions the kernel had to hold back because the completion queue was full.
    pub(super) overflowed: u64,
    /// This ring's share of `--max-conns`.
    pub(super) cap: usize,
}

impl Drop for Worker<'_> {
    fn drop(&mut self) {
        if self.ops > 0 {
            // The loop ended (an error) with operations the kernel has not
            // completed: whatever they point at stays allocated. The buffer
            // ring is left alone (ManuallyDrop) and the connections, whose
            // send buffers may be in flight, are forgotten.
            tracing::warn!(
                operations = self.ops,
                "operations in flight at exit: leaking their buffers"
            );
            for (_, c) in std::mem::take(&mut self.conns) {
                std::mem::forget(c);
            }
            return;
        }
        // Nothing is outstanding: take the buffer group back from the
        // kernel, then free it (the ring itself is dropped after this).
        let _ = self.ring.submitter().unregister_buf_ring(self.bufs.bgid);
        // SAFETY: no operation is outstanding and the group is unregistered,
        // so the kernel holds no pointer into `bufs`; it is not used again.
        unsafe { ManuallyDrop::drop(&mut self.bufs) };
    }
}

pub(super) fn errno(res: i32) -> Errno {
    Errno::from_raw(-res)
}

impl<'a> Worker<'a> {
    pub(super) fn new(ring: IoUring, size: RingSize, listener: Listener, ctx: &'a Ctx) -> io::Result<Self> {
        let bufs = BufRing::new(&ring.submitter(), 0, size.buffers, size.buffer_size)
            .map_err(|e| super::refusal(&e, "registering a buffer ring"))?;
        Ok(Worker {
            ctx,
            ring,
            bufs: ManuallyDrop::new(bufs),
            unix: matches!(listener, Listener::Unix(_)),
            listener: Some(listener),
            accept_armed: false,
            accept_cancelled: false,
            conns: Slab::new(),
            timers: VecDeque::new(),
            cqes: Vec::with_capacity(256),
            next_generation: 0,
            rearm: Vec::new(),
            ops: 0,
            deferred: VecDeque::new(),
            accept_blocked: false,
            accept_resume: None,
            next_sweep: Instant::now() + sweep_every(ctx.cfg.idle_timeout),
            stop_by: None,
            shutdown_polled: false,
            now: Instant::now(),
            enobufs: 0,
            overflowed: 0,
            cap: ctx.cfg.max_conns_per_worker(),
        })
    }

    /// Queues one submission; a full queue is submitted first, and when the
    /// kernel is too busy to take it (its completion queue overflowing), the
    /// entry waits in `deferred` for the next turn of the loop.
    ///
    /// # Safety
    /// Everything `entry` points to must stay valid until its last completion.
    // SAFETY: callers own what `entry` points to (a connection's send buffer,
    // the worker's buffer group) and keep it valid until the last completion.
    pub(super) unsafe fn push(&mut self, entry: &squeue::Entry) -> io::Result<()> {
        if self.deferred.is_empty() {
            // SAFETY: the caller keeps the entry's buffers alive.
            if unsafe { self.ring.submission().push(entry) }.is_ok() {
                return Ok(());
            }
            tracing::debug!("submission queue full: submitting");
            match self.ring.submit() {
                Ok(_) => {
                    // SAFETY: as above.
                    if unsafe { self.ring.submission().push(entry) }.is_ok() {
                        return Ok(());
                    }
                }
                Err(e)
                    if matches!(
                        e.raw_os_error().map(Errno::from_raw),
                        Some(Errno::EBUSY | Errno::EINTR | Errno::EAGAIN)
                    ) => {}
                Err(e) => return Err(e),
            }
        }
        self.deferred.push_back(entry.clone());
        Ok(())
    }

    /// Queues the submissions that were deferred, as far as they fit.
    fn push_deferred(&mut self) {
        while let Some(entry) = self.deferred.front() {
            // The operation has not completed: it was never submitted.
            // SAFETY: each deferred entry came through `push`, whose contract its owner still keeps.
            if unsafe { self.ring.submission().push(entry) }.is_err() {
                return;
            }
            self.deferred.pop_front();
        }
    }

    /// Queues an operation that points at nothing of ours but file descriptors
    /// that outlive it (accept, cancel, poll, a multishot receive into the
    /// buffer ring).
    pub(super) fn push_plain(&mut self, entry: &squeue::Entry) -> io::Result<()> {
        // SAFETY: the entry references no memory of ours; the buffer ring
        // and the fds it names outlive it (see the module doc).
        unsafe { self.push(entry) }
    }

    pub(super) fn run(&mut self) -> io::Result<()> {
        let pipe = self.ctx.shutdown.fd().as_raw_fd();
        let poll = opcode::PollAdd::new(Fd(pipe), nix::poll::PollFlags::POLLIN.bits() as u32)
            .build()
            .user_data(token(Kind::Shutdown, 0, 0));
        self.push_plain(&poll)?;
        self.arm_accept()?;
        loop {
            self.push_deferred();
            self.wait()?;
            self.reap();
            self.now = Instant::now();
            let cqes = std::mem::take(&mut self.cqes);
            for cqe in &cqes {
                self.complete(cqe)?;
            }
            self.cqes = cqes;
            self.bufs.publish();
            self.rearm_after_batch()?;
            self.on_time(self.now)?;
            if let Some(by) = self.stop_by
                && (self.conns.is_empty() || self.now >= by)
            {
                return self.finish();
            }
        }
    }

    /// Moves the completions that are there into `cqes`, and notes when the
    /// completion queue overflowed (the kernel keeps those completions and
    /// hands them over later, but the queue is too small for the load).
    fn reap(&mut self) {
        self.cqes.clear();
        let mut cq = self.ring.completion();
        let overflow = u64::from(cq.overflow());
        self.cqes.extend(&mut cq);
        drop(cq);
        if overflow > self.overflowed {
            tracing::warn!(total = overflow, "the completion queue overflowed");
            self.overflowed = overflow;
        }
    }

    /// Submits what is queued and waits for a completion or the next deadline.
    fn wait(&mut self) -> io::Result<()> {
        self.wait_for(self.next_timeout())
    }

    /// Submits what is queued and waits for a completion or `timeout`.
    fn wait_for(&mut self, timeout: Duration) -> io::Result<()> {
        let ts = Timespec::from(timeout);
        let args = SubmitArgs::new().timespec(&ts);
        match self.ring.submitter().submit_with_args(1, &args) {
            Ok(_) => Ok(()),
            // A timeout, a signal, or a full completion queue to reap: all normal.
            Err(e)
                if matches!(
                    e.raw_os_error().map(Errno::from_raw),
                    Some(Errno::ETIME | Errno::EINTR | Errno::EBUSY | Errno::EAGAIN)
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    fn next_timeout(&self) -> Duration {
        let now = Instant::now();
        let mut next = self.next_sweep;
        if let Some(&(at, _, _)) = self.timers.front() {
            next = next.min(at);
        }
        for at in [self.accept_resume, self.stop_by].into_iter().flatten() {
            next = next.min(at);
        }
        next.saturating_duration_since(now)
    }

    fn complete(&mut self, cqe: &cqueue::Entry) -> io::Result<()> {
        let (res, flags) = (cqe.result(), cqe.flags());
        let bid = cqueue::buffer_select(flags);
        let more = cqueue::more(flags);
        match Token::decode(cqe.user_data()) {
            Some(t) if t.kind == Kind::Accept => self.on_accept(res, more)?,
            Some(t) if t.kind == Kind::Recv => self.on_recv(t, res, more, bid)?,
            Some(t) if t.kind == Kind::Send => self.on_send(t, res)?,
            Some(t) if t.kind == Kind::Shutdown => self.begin_stop(),
            _ => {}
        }
        // Whoever the completion was for (even a connection long gone), a
        // buffer it carries goes back to the ring.
        if let Some(bid) = bid {
            self.bufs.give_back(bid);
        }
        Ok(())
    }
}

impl Worker<'_> {
    // ----- time and shutdown -----

    /// Due delay timers, the idle and linger sweep, and the accept pause.
    fn on_time(&mut self, now: Instant) -> io::Result<()> {
        let mut due = Vec::new();
        due_timers(&mut self.timers, now, |key, id| due.push((key, id)));
        for (key, id) in due {
            let Some(c) = self.conns.get_mut(key).filter(|c| u64::from(c.generation) == id) else {
                continue;
            };
            c.core.release_due(now);
            self.step_done(key)?;
        }
        if self.accept_resume.is_some_and(|at| at <= now) {
            self.accept_resume = None;
            self.arm_accept()?;
        }
        if now >= self.next_sweep {
            self.next_sweep = now + sweep_every(self.ctx.cfg.idle_timeout);
            let idle = self.ctx.cfg.idle_timeout;
            let live = self.conns.iter().filter(|(_, c)| c.closing.is_none());
            for (key, why) in expired(live.map(|(k, c)| (k, &c.core)), now, idle) {
                self.close(key, why)?;
            }
        }
        Ok(())
    }

    /// Shutdown: stop accepting; every connection finishes its replies within the grace period.
    fn begin_stop(&mut self) {
        self.shutdown_polled = true;
        if self.stop_by.is_some() {
            return;
        }
        self.stop_by = Some(Instant::now() + GRACE);
        if let Err(e) = self.cancel_accept() {
            tracing::warn!(error = %e, "cannot cancel the accept");
        }
        self.listener = None;
        let now = Instant::now();
        let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for key in keys {
            if let Some(c) = self.conns.get_mut(key) {
                let timer = c.core.input_ended(now);
                self.set_timer_at(key, timer);
            }
            if let Err(e) = self.step_done(key) {
                tracing::warn!(error = %e, "cannot finish a connection");
            }
        }
    }

    fn set_timer_at(&mut self, key: usize, at: Option<Instant>) {
        if let (Some(at), Some(c)) = (at, self.conns.get(key)) {
            self.timers.push_back((at, key, u64::from(c.generation)));
        }
    }

    /// The end: every connection left is closed, and the loop waits (briefly)
    /// for the kernel to finish each operation that still names our memory.
    fn finish(&mut self) -> io::Result<()> {
        let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for key in keys {
            self.close(key, "grace period over")?;
        }
        self.cancel_accept()?;
        let deadline = Instant::now() + DRAIN;
        while (self.ops > 0 || !self.conns.is_empty()) && Instant::now() < deadline {
            self.push_deferred();
            // The deadlines are past: a short wait for the cancels, not a spin.
            self.wait_for(Duration::from_millis(10))?;
            self.reap();
            let cqes = std::mem::take(&mut self.cqes);
            for cqe in &cqes {
                self.complete(cqe)?;
            }
            self.cqes = cqes;
            self.bufs.publish();
        }
        // Operations still outstanding now are the Drop's business (it leaks their buffers).
        if self.enobufs > 0 || self.overflowed > 0 {
            tracing::info!(
                enobufs = self.enobufs,
                overflowed = self.overflowed,
                "ring pressure during the run"
            );
        }
        Ok(())
    }
}

pub(super) fn token(kind: Kind, generation: u32, slot: usize) -> u64 {
    Token {
        kind,
        generation,
        slot: u32::try_from(slot).unwrap_or(u32::MAX),
    }
    .encode()
}
