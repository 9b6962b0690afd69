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
use super::token::{GENERATION_MASK, Kind, Token};
use crate::conn::{Listener, Stream, canonical};
use crate::proto::ConnInfo;
use crate::server::accept::{AcceptError, PAUSE, classify};
use crate::server::core::{Core, Timer, due_timers, expired, sweep_every};
use crate::server::{Ctx, peer_label};
use crate::shutdown::GRACE;
use io_uring::types::{Fd, SubmitArgs, Timespec};
use io_uring::{IoUring, cqueue, opcode, squeue};
use nix::errno::Errno;
use slab::Slab;
use std::collections::VecDeque;
use std::io;
use std::mem::ManuallyDrop;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, RawFd};
use std::time::{Duration, Instant, SystemTime};

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
    pub(super) sock: Stream,
    pub(super) fd: RawFd,
    pub(super) core: Core,
    pub(super) generation: u32,
    pub(super) recv: Recv,
    /// The bytes of the send in flight (frozen until its completion).
    pub(super) send_buf: Vec<u8>,
    /// How much of `send_buf` the kernel has sent.
    pub(super) send_off: usize,
    pub(super) sending: bool,
    /// The connection is done; it goes once its operations have completed.
    pub(super) closing: Option<&'static str>,
}

/// One ring and its connections.
pub(super) struct Worker<'a> {
    pub(super) ctx: &'a Ctx,
    pub(super) ring: IoUring,
    /// Dropped after `ring` (which unregisters it), or leaked: see the module doc.
    pub(super) bufs: ManuallyDrop<BufRing>,
    pub(super) listener: Option<Listener>,
    pub(super) unix: bool,
    pub(super) accept_armed: bool,
    /// A cancel of the armed accept is on its way.
    pub(super) accept_cancelled: bool,
    pub(super) conns: Slab<UConn>,
    pub(super) timers: VecDeque<Timer>,
    pub(super) cqes: Vec<cqueue::Entry>,
    pub(super) next_generation: u32,
    /// Connections whose receive ran out of buffers, re-armed after the batch.
    pub(super) rearm: Vec<(usize, u32)>,
    /// Operations whose last completion has not come (receives, sends, the accept).
    pub(super) ops: usize,
    /// Submissions that found the queue full and the kernel busy; queued first thing next turn.
    pub(super) deferred: VecDeque<squeue::Entry>,
    pub(super) accept_blocked: bool,
    pub(super) accept_resume: Option<Instant>,
    pub(super) next_sweep: Instant,
    pub(super) stop_by: Option<Instant>,
    pub(super) shutdown_polled: bool,
    /// The time of the batch being handled (one clock read per batch).
    pub(super) now: Instant,
}

impl Drop for Worker<'_> {
    fn drop(&mut self) {
        if self.ops == 0 {
            // SAFETY: no operation is outstanding, so the kernel holds no
            // receive buffer; `bufs` is not used again.
            unsafe { ManuallyDrop::drop(&mut self.bufs) };
        }
        // Else the buffers are leaked: a receive may still write into them.
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
        })
    }

    /// Queues one submission; a full queue is submitted first, and when the
    /// kernel is too busy to take it (its completion queue overflowing), the
    /// entry waits in `deferred` for the next turn of the loop.
    ///
    /// # Safety
    /// Everything `entry` points to must stay valid until its last completion.
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
            // SAFETY: each deferred entry was pushed under `push`'s contract,
            // which its owner still keeps (the operation has not completed:
            // it was never submitted).
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

    /// Moves the completions that are there into `cqes`.
    fn reap(&mut self) {
        self.cqes.clear();
        self.cqes.extend(self.ring.completion());
    }

    /// Submits what is queued and waits for a completion or the next deadline.
    fn wait(&mut self) -> io::Result<()> {
        let ts = Timespec::from(self.next_timeout());
        let args = SubmitArgs::new().timespec(&ts);
        match self.ring.submitter().submit_with_args(1, &args) {
            Ok(_) => Ok(()),
            // A timeout, a signal, or a full completion queue to reap: all normal.
            Err(e)
                if matches!(
                    e.raw_os_error().map(Errno::from_raw),
                    Some(Errno::ETIME | Errno::EINTR | Errno::EBUSY)
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
    // ----- accepting -----

    fn may_accept(&self) -> bool {
        self.listener.is_some() && self.stop_by.is_none() && self.accept_resume.is_none() && !self.accept_blocked
    }

    /// Arms the multishot accept, when accepting is allowed and it is not armed.
    pub(super) fn arm_accept(&mut self) -> io::Result<()> {
        let Some(fd) = self.listener.as_ref().map(|l| l.as_fd().as_raw_fd()) else {
            return Ok(());
        };
        if self.accept_armed || !self.may_accept() {
            return Ok(());
        }
        tracing::debug!("submit accept (multishot)");
        let entry = opcode::AcceptMulti::new(Fd(fd))
            .build()
            .user_data(token(Kind::Accept, 0, 0));
        self.push_plain(&entry)?;
        self.accept_armed = true;
        self.ops += 1;
        Ok(())
    }

    /// Stops the multishot accept (its last completion comes later).
    fn cancel_accept(&mut self) -> io::Result<()> {
        if self.accept_armed && !self.accept_cancelled {
            self.accept_cancelled = true;
            tracing::debug!("submit cancel (accept)");
            let entry = opcode::AsyncCancel::new(token(Kind::Accept, 0, 0))
                .build()
                .user_data(token(Kind::Cancel, 0, 0));
            self.push_plain(&entry)?;
        }
        Ok(())
    }

    fn on_accept(&mut self, res: i32, more: bool) -> io::Result<()> {
        if !more {
            self.accept_armed = false;
            self.accept_cancelled = false;
            self.ops -= 1;
        }
        if res >= 0 {
            // SAFETY: a successful accept completion hands over a new
            // descriptor that nothing else owns.
            let sock = unsafe {
                if self.unix {
                    Stream::Unix(std::os::unix::net::UnixStream::from_raw_fd(res))
                } else {
                    Stream::Tcp(std::net::TcpStream::from_raw_fd(res))
                }
            };
            self.accepted(sock)?;
        } else if errno(res) != Errno::ECANCELED {
            let e = io::Error::from_raw_os_error(-res);
            match classify(&e) {
                AcceptError::Skip => tracing::debug!(error = %e, "accept skipped"),
                AcceptError::Pause => {
                    tracing::warn!(error = %e, "accept failed, pausing");
                    self.accept_resume = Some(Instant::now() + PAUSE);
                    self.cancel_accept()?;
                }
                AcceptError::Fatal => return Err(e),
            }
        }
        self.arm_accept()
    }

    fn accepted(&mut self, sock: Stream) -> io::Result<()> {
        if self.stop_by.is_some() || !self.ctx.claim_accept() {
            // --exit-after is used up (or shutting down): this one is turned away.
            self.listener = None;
            return self.cancel_accept();
        }
        let peer = match &sock {
            Stream::Tcp(s) => s.peer_addr().ok().map(canonical),
            Stream::Unix(_) => None,
        };
        if self.ctx.cfg.nodelay {
            let _ = sock.set_nodelay();
        }
        self.open(sock, peer)?;
        if self.conns.len() >= self.ctx.cfg.max_conns() {
            crate::server::log_cap(true, self.ctx.cfg.max_conns());
            self.accept_blocked = true;
            self.cancel_accept()?;
        }
        Ok(())
    }

    fn open(&mut self, sock: Stream, peer: Option<std::net::SocketAddr>) -> io::Result<()> {
        let info = ConnInfo {
            peer,
            accepted_at: SystemTime::now(),
        };
        let label = peer_label(peer);
        tracing::debug!(peer = %label, fd = sock.as_fd().as_raw_fd(), "complete accept");
        tracing::info!(peer = %label, "connection opened");
        self.next_generation = (self.next_generation + 1) & GENERATION_MASK;
        let generation = self.next_generation;
        let (core, timer) = Core::start((self.ctx.factory)(&info), label, self.ctx.cfg.delay, self.now);
        let key = self.conns.insert(UConn {
            fd: sock.as_fd().as_raw_fd(),
            sock,
            core,
            generation,
            recv: Recv::Idle,
            send_buf: Vec::new(),
            send_off: 0,
            sending: false,
            closing: None,
        });
        if let Some(at) = timer {
            self.timers.push_back((at, key, u64::from(generation)));
        }
        self.step_done(key)
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
            self.wait()?;
            self.reap();
            let cqes = std::mem::take(&mut self.cqes);
            for cqe in &cqes {
                self.complete(cqe)?;
            }
            self.cqes = cqes;
            self.bufs.publish();
        }
        if self.ops > 0 {
            tracing::warn!(
                operations = self.ops,
                "the kernel still holds buffers at exit: leaking them"
            );
            for (_, c) in std::mem::take(&mut self.conns) {
                std::mem::forget(c);
            }
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
