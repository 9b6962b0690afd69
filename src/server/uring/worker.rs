//! One ring's event loop: submissions out, completions in, the same
//! connection rules as poll mode ([`Lifecycle`]) and the same loop policy
//! ([`LoopPolicy`]).
//!
//! A request's path: [`Worker::run`] reaps a receive completion →
//! [`Worker::on_recv`] lends its buffer to [`Lifecycle::received`] (the
//! session answers; the buffer goes back when the guard drops) →
//! [`Worker::step_done`] has the connection submit its send ([`UConn::sync`])
//! and asks the policy whether to close → the send's completion comes back
//! to [`Worker::on_send`].
//!
//! Who owns what while the kernel works: the ring's typed submissions and
//! their contract are [`Ring`]'s, a send's bytes its connection's
//! [`super::ring::SendBuf`], the receive buffers the [`BufRing`] (freed only
//! after their group is unregistered with nothing in flight, else leaked).

use super::RingSize;
use super::accept::Acceptor;
use super::bufring::BufRing;
use super::conn::Conns;
use super::ring::{Completion, Ring};
use super::token::{Kind, Token};
use crate::conn::{Listener, Stream, canonical};
use crate::proto::ConnInfo;
use crate::server::event_loop::{LoopPolicy, Settle};
use crate::server::lifecycle::Lifecycle;
use crate::server::{Ctx, peer_label};
use nix::errno::Errno;
use std::io;
use std::mem::ManuallyDrop;
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant, SystemTime};

/// How long the loop waits at most for the last operations at exit.
const DRAIN: Duration = Duration::from_secs(1);

const SHUTDOWN: Token = Token {
    kind: Kind::Shutdown,
    generation: 0,
    slot: 0,
};

/// One ring and its connections.
pub(super) struct Worker<'a> {
    /// Timers, sweep, stop sequence, cap: the rules shared with poll mode.
    policy: LoopPolicy<'a>,
    /// The submission and completion queues shared with the kernel.
    ring: Ring,
    /// The receive buffers: freed after their group is unregistered, or leaked
    /// while a receive may still write into them (see `Drop`).
    bufs: ManuallyDrop<BufRing>,
    /// The listener and its multishot accept.
    acceptor: Acceptor,
    /// The connections, keyed by slot (the `slot` of their tokens).
    conns: Conns,
    /// The completions of one batch (kept to reuse its memory).
    completions: Vec<Completion>,
    /// Connections whose receive ran out of buffers, re-armed after the batch.
    starved: Vec<(usize, u32)>,
    /// The time of the batch being handled (one clock read per batch).
    now: Instant,
    /// Receives that found the buffer ring empty (the ring is small for the load).
    enobufs: u64,
}

impl Drop for Worker<'_> {
    fn drop(&mut self) {
        if self.ring.in_flight() > 0 {
            // The loop ended (an error) with operations the kernel has not
            // completed: whatever they point at stays allocated. The buffer
            // ring is left alone (ManuallyDrop) and the connections' send
            // buffers leak themselves while frozen.
            tracing::warn!(
                operations = self.ring.in_flight(),
                "operations in flight at exit: leaking their buffers"
            );
            return;
        }
        // Nothing is outstanding: take the buffer group back from the kernel,
        // and free it only if the kernel gave it back.
        match self.ring.submitter().unregister_buf_ring(self.bufs.bgid) {
            // No operation is outstanding and the group is
            // unregistered, so the kernel holds no pointer into `bufs`; it is
            // not used again.
            // SAFETY: nothing in flight and the group unregistered: `bufs` is ours alone, dropped once.
            Ok(()) => unsafe { ManuallyDrop::drop(&mut self.bufs) },
            Err(e) => tracing::warn!(error = %e, "the buffer ring stays registered: leaking it"),
        }
    }
}

fn errno(res: i32) -> Errno {
    Errno::from_raw(-res)
}

impl<'a> Worker<'a> {
    pub(super) fn new(ring: Ring, size: RingSize, listener: Listener, ctx: &'a Ctx) -> io::Result<Self> {
        let bufs = BufRing::new(&ring.submitter(), 0, size.buffers, size.buffer_size)
            .map_err(|e| super::refusal(&e, "registering a buffer ring"))?;
        let now = Instant::now();
        Ok(Worker {
            policy: LoopPolicy::new(ctx, now),
            ring,
            bufs: ManuallyDrop::new(bufs),
            acceptor: Acceptor::new(listener),
            conns: Conns::default(),
            completions: Vec::with_capacity(256),
            starved: Vec::new(),
            now,
            enobufs: 0,
        })
    }

    pub(super) fn run(&mut self) -> io::Result<()> {
        let pipe = self.policy.ctx.shutdown.fd().as_raw_fd();
        self.ring.poll_add(pipe, SHUTDOWN)?;
        self.acceptor.arm(&mut self.ring, &mut self.policy, 0)?;
        loop {
            self.ring.submit_and_wait(self.policy.timeout(Instant::now()))?;
            self.batch()?;
            self.rearm_starved()?;
            self.on_time(self.now)?;
            if self.policy.done(self.now, self.conns.len()) {
                return self.finish();
            }
        }
    }

    /// Handles the completions that are there, then publishes the buffers they gave back.
    fn batch(&mut self) -> io::Result<()> {
        let mut completions = std::mem::take(&mut self.completions);
        self.ring.reap(&mut completions);
        self.now = Instant::now();
        for c in &completions {
            self.complete(c)?;
        }
        self.completions = completions;
        self.bufs.publish();
        Ok(())
    }

    fn complete(&mut self, c: &Completion) -> io::Result<()> {
        match c.token {
            Some(t) if t.kind == Kind::Accept => self.on_accept(c),
            Some(t) if t.kind == Kind::Recv => self.on_recv(t, c),
            Some(t) if t.kind == Kind::Send => self.on_send(t, c),
            Some(t) if t.kind == Kind::Shutdown => {
                self.begin_stop();
                Ok(())
            }
            _ => {
                // A cancel's own completion (or one for nobody): a buffer it
                // carries still goes back to the ring.
                drop(c.buffer.and_then(|bid| self.bufs.lend(bid, 0)));
                Ok(())
            }
        }
    }

    /// The connection a completion is for, if it is still the one it was submitted for.
    fn conn_for(&self, t: Token) -> Option<usize> {
        self.conns.slot_for(t)
    }

    fn on_accept(&mut self, c: &Completion) -> io::Result<()> {
        let accepted = self.acceptor.completed(c, &mut self.ring, &mut self.policy, self.now)?;
        if let Some(sock) = accepted {
            if self.policy.stopping() || !self.policy.ctx.claim_accept() {
                // --exit-after is used up (or shutting down): this one is turned away.
                self.acceptor.stop(&mut self.ring)?;
            } else {
                self.open(sock)?;
                if !self.policy.may_accept(self.conns.len()) {
                    self.acceptor.cancel(&mut self.ring)?;
                }
            }
        }
        self.acceptor.arm(&mut self.ring, &mut self.policy, self.conns.len())
    }

    fn open(&mut self, sock: Stream) -> io::Result<()> {
        let ctx = self.policy.ctx;
        let peer = match &sock {
            Stream::Tcp(s) => s.peer_addr().ok().map(canonical),
            Stream::Unix(_) => None,
        };
        if ctx.cfg.nodelay {
            let _ = sock.set_nodelay();
        }
        let info = ConnInfo {
            peer,
            accepted_at: SystemTime::now(),
        };
        let label = peer_label(peer);
        tracing::debug!(peer = %label, fd = sock.as_fd().as_raw_fd(), "complete accept");
        tracing::info!(peer = %label, "connection opened");
        let (life, timer) = Lifecycle::start((ctx.factory)(&info), label, ctx.cfg.delay, self.now);
        let (key, generation) = self.conns.insert(sock, life);
        self.policy.set_timer(timer, key, u64::from(generation));
        self.step_done(key)
    }

    fn on_recv(&mut self, t: Token, c: &Completion) -> io::Result<()> {
        let now = self.now;
        let len = usize::try_from(c.res).unwrap_or(0);
        let key = self.conn_for(t);
        // The buffer goes back to the ring when `lent` drops, whatever happens here.
        let lent = c.buffer.and_then(|bid| self.bufs.lend(bid, len));
        let Some((key, conn)) = key.and_then(|k| self.conns.get_mut(k).map(|c| (k, c))) else {
            return Ok(());
        };
        conn.recv_completed(c.more);
        let timer = match (c.res, lent) {
            (n, Some(data)) if n > 0 => {
                self.policy.ctx.stats.add_in(data.len());
                tracing::debug!(peer = %conn.life.peer, bytes = n, "complete recv");
                conn.life.received(&data, now)
            }
            (0, _) => {
                tracing::debug!(peer = %conn.life.peer, "complete recv: 0 bytes (EOF)");
                conn.life.input_ended(now)
            }
            (n, _) if n < 0 && errno(n) == Errno::ENOBUFS => {
                // The ring is short of buffers for this batch: re-armed after it.
                self.enobufs += 1;
                conn.starved = true;
                self.starved.push((key, t.generation));
                None
            }
            (n, _) if n < 0 && errno(n) == Errno::ECANCELED => None,
            (n, _) => {
                tracing::debug!(peer = %conn.life.peer, error = %io::Error::from_raw_os_error(-n), "recv failed");
                conn.life.break_off();
                None
            }
        };
        self.policy.set_timer(timer, key, u64::from(t.generation));
        self.step_done(key)
    }

    fn on_send(&mut self, t: Token, c: &Completion) -> io::Result<()> {
        let Some(key) = self.conn_for(t) else { return Ok(()) };
        let Some(conn) = self.conns.get_mut(key) else {
            return Ok(());
        };
        let sent = conn.send_completed(&mut self.ring, key, c.res, self.now)?;
        self.policy.ctx.stats.add_out(sent);
        self.step_done(key)
    }

    /// After any step: the connection syncs its operations with its
    /// lifecycle, then the policy says whether to half-close or close it.
    fn step_done(&mut self, key: usize) -> io::Result<()> {
        let group = self.bufs.bgid;
        let Some(conn) = self.conns.get_mut(key) else {
            return Ok(());
        };
        conn.sync(&mut self.ring, key, group)?;
        if conn.closing().is_none() {
            match self.policy.settle(&mut conn.life, self.now) {
                Settle::Keep => return Ok(()),
                Settle::HalfClose => {
                    conn.half_close();
                    return Ok(());
                }
                Settle::Close(why) => return self.close(key, why),
            }
        }
        self.finalize_if_idle(key)
    }

    /// Ends the connection: its operations are stopped, and it goes once
    /// the last of their completions has come.
    fn close(&mut self, key: usize, why: &'static str) -> io::Result<()> {
        let Some(conn) = self.conns.get_mut(key) else {
            return Ok(());
        };
        conn.begin_close(&mut self.ring, key, why)?;
        self.finalize_if_idle(key)
    }

    /// Drops a closing connection whose operations are all over.
    fn finalize_if_idle(&mut self, key: usize) -> io::Result<()> {
        let Some(conn) = self.conns.remove_if_idle(key) else {
            return Ok(());
        };
        self.policy.closed(&conn.life, conn.closing().unwrap_or("done"));
        drop(conn);
        if self.policy.left(self.conns.len()) {
            self.acceptor.arm(&mut self.ring, &mut self.policy, self.conns.len())?;
        }
        Ok(())
    }

    /// Re-arms the receives that found no buffer, now that the batch gave them back.
    fn rearm_starved(&mut self) -> io::Result<()> {
        for (key, generation) in std::mem::take(&mut self.starved) {
            if let Some(conn) = self.conns.of_generation(key, u64::from(generation)) {
                tracing::debug!(peer = %conn.life.peer, "out of receive buffers for a moment (ENOBUFS): re-arming");
                conn.starved = false;
                self.step_done(key)?;
            }
        }
        Ok(())
    }

    /// Due delay timers, the idle and linger sweep, and the end of an accept pause.
    fn on_time(&mut self, now: Instant) -> io::Result<()> {
        for (key, generation) in self.policy.due_timers(now) {
            let Some(conn) = self.conns.of_generation(key, generation) else {
                continue;
            };
            conn.life.release_due(now);
            self.step_done(key)?;
        }
        if self.policy.resume_due(now) {
            self.acceptor.arm(&mut self.ring, &mut self.policy, self.conns.len())?;
        }
        let live = self.conns.live().map(|(k, c)| (k, &c.life));
        for (key, why) in self.policy.sweep(now, live) {
            if self.conns.get_mut(key).is_some_and(|c| c.life.last_words(why)) {
                self.step_done(key)?;
            } else {
                self.close(key, why)?;
            }
        }
        Ok(())
    }

    /// Shutdown: stop accepting; every connection finishes its replies within the grace period.
    fn begin_stop(&mut self) {
        if !self.policy.begin_stop(self.now) {
            return;
        }
        if let Err(e) = self.acceptor.stop(&mut self.ring) {
            tracing::warn!(error = %e, "cannot cancel the accept");
        }
        let keys = self.conns.keys();
        for key in keys {
            if let Some(conn) = self.conns.get_mut(key) {
                let timer = conn.life.input_ended(self.now);
                let generation = u64::from(conn.generation);
                self.policy.set_timer(timer, key, generation);
            }
            if let Err(e) = self.step_done(key) {
                tracing::warn!(error = %e, "cannot finish a connection");
            }
        }
    }

    /// The end: every connection left is closed, and the loop waits (briefly)
    /// for the kernel to finish each operation that still names our memory.
    fn finish(&mut self) -> io::Result<()> {
        let keys = self.conns.keys();
        for key in keys {
            self.close(key, "grace period over")?;
        }
        self.acceptor.stop(&mut self.ring)?;
        let deadline = Instant::now() + DRAIN;
        // (The shutdown pipe's poll has completed: its completion began the stop.)
        while (self.ring.in_flight() > 0 || !self.conns.is_empty()) && Instant::now() < deadline {
            // The deadlines are past: a short wait for the cancels, not a spin.
            self.ring.submit_and_wait(Duration::from_millis(10))?;
            self.batch()?;
            if !self.acceptor.is_armed() {
                self.acceptor.stop(&mut self.ring)?;
            }
        }
        // Operations still outstanding now are the Drop's business (it leaks their buffers).
        if self.enobufs > 0 || self.ring.overflowed() > 0 {
            tracing::info!(
                enobufs = self.enobufs,
                overflowed = self.ring.overflowed(),
                "ring pressure during the run"
            );
        }
        Ok(())
    }
}
