//! Poll mode: non-blocking event loops on epoll, through mio.
//!
//! Rules of the loop (mio's contract), and where each one is kept:
//! - readiness is edge-triggered, so accept and write are drained until
//!   `WouldBlock` (`Worker::accept_all`, `Conn::flush` in `conn.rs`), and reads
//!   until the socket is drained: a read shorter than the buffer says so
//!   (epoll(7)), which saves one `recv` per request (`Conn::read`);
//!   `Interrupted` is retried; a 0-byte read is EOF;
//! - unsent bytes are kept per connection, and WRITABLE interest is registered
//!   only while some are pending (`Conn::flush`);
//! - a peer whose pending replies pass [`HIGH_WATER`](super::HIGH_WATER) is not read from until
//!   they drain below half of it: a client that never reads costs at most that
//!   much memory, never the server (the rules of a connection's life are
//!   [`Core`]'s, shared with the uring mode);
//! - `--delay` is a timer, never a sleep: one client's delay never holds up another;
//! - the connection table is a slab, capped at `--max-conns`.
//!
//! `--workers N` runs N loops, each with its own listener on the same port
//! (`SO_REUSEPORT`: the kernel spreads new connections) or, for Unix sockets,
//! a shared one.

mod conn;

use super::accept::{AcceptError, PAUSE, classify};
use super::core::{Core, Next, Phase};
use super::core::{Timer, due_timers, expired, sweep_every};
use super::{Ctx, LINGER, READ_BUF, peer_label};
use crate::conn::{EventStream, Listener};
use crate::proto::ConnInfo;
use crate::shutdown::GRACE;
use conn::{Conn, Env};
use mio::net::{TcpListener, UnixListener};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use slab::Slab;
use std::collections::VecDeque;
use std::io;
use std::net::{Shutdown as How, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

const LISTENER: Token = Token(usize::MAX - 1);
const SHUTDOWN: Token = Token(usize::MAX - 2);

/// Runs `--workers` event loops until shutdown (this thread runs the first).
///
/// # Errors
/// When a listener or the poller breaks.
pub fn run(listeners: Vec<Listener>, ctx: &Arc<Ctx>) -> io::Result<()> {
    super::run_loops(listeners, ctx, "poll", |listener, ctx| {
        Worker::new(listener, ctx)?.run()
    })
}

enum Lsn {
    Tcp(TcpListener),
    Unix(UnixListener),
}

struct Worker<'a> {
    ctx: &'a Ctx,
    poll: Poll,
    listener: Option<Lsn>,
    conns: Slab<Conn>,
    /// Delay timers in deadline order (every delay is the same length).
    timers: VecDeque<Timer>,
    buf: Vec<u8>,
    next_id: u64,
    /// Accepting waits: the slab is full, or accept ran out of descriptors.
    accept_blocked: bool,
    accept_resume: Option<Instant>,
    next_sweep: Instant,
    stop_by: Option<Instant>,
}

impl<'a> Worker<'a> {
    /// Runs one I/O step of connection `key` with the loop's shared state.
    fn io(&mut self, key: usize, step: impl FnOnce(&mut Conn, &mut Env<'_>)) {
        let Some(conn) = self.conns.get_mut(key) else { return };
        let mut env = Env {
            registry: self.poll.registry(),
            ctx: self.ctx,
            buf: &mut self.buf,
            timers: &mut self.timers,
            key,
        };
        step(conn, &mut env);
    }

    fn new(listener: Listener, ctx: &'a Ctx) -> io::Result<Self> {
        listener.set_nonblocking(true)?;
        let poll = Poll::new()?;
        let mut lsn = match listener {
            Listener::Tcp(l) => Lsn::Tcp(TcpListener::from_std(l)),
            Listener::Unix(l) => Lsn::Unix(UnixListener::from_std(l)),
        };
        match &mut lsn {
            Lsn::Tcp(l) => poll.registry().register(l, LISTENER, Interest::READABLE)?,
            Lsn::Unix(l) => poll.registry().register(l, LISTENER, Interest::READABLE)?,
        }
        let pipe = ctx.shutdown.fd().as_raw_fd();
        poll.registry()
            .register(&mut SourceFd(&pipe), SHUTDOWN, Interest::READABLE)?;
        Ok(Worker {
            ctx,
            poll,
            listener: Some(lsn),
            conns: Slab::new(),
            timers: VecDeque::new(),
            buf: vec![0; READ_BUF],
            next_id: 0,
            accept_blocked: false,
            accept_resume: None,
            next_sweep: Instant::now() + sweep_every(ctx.cfg.idle_timeout),
            stop_by: None,
        })
    }

    fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        loop {
            let timeout = self.next_timeout();
            match self.poll.poll(&mut events, timeout) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
                Ok(()) => {}
            }
            for event in &events {
                match event.token() {
                    LISTENER => self.accept_all()?,
                    SHUTDOWN => self.begin_stop(),
                    Token(key) => {
                        if event.is_writable() || event.is_error() {
                            self.io(key, |c, env| c.flush(env));
                        }
                        if event.is_readable() || event.is_read_closed() || event.is_error() {
                            let drain = event.is_read_closed() || event.is_error();
                            self.io(key, |c, env| c.read(env, drain));
                        }
                        self.settle(key);
                    }
                }
            }
            self.on_time(Instant::now())?;
            if let Some(by) = self.stop_by
                && (self.conns.is_empty() || Instant::now() >= by)
            {
                let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
                for key in keys {
                    self.close(key, "grace period over");
                }
                return Ok(());
            }
        }
    }

    fn next_timeout(&self) -> Option<Duration> {
        let now = Instant::now();
        let mut next = self.next_sweep;
        if let Some(&(at, _, _)) = self.timers.front() {
            next = next.min(at);
        }
        if let Some(at) = self.accept_resume {
            next = next.min(at);
        }
        if let Some(at) = self.stop_by {
            next = next.min(at);
        }
        Some(next.saturating_duration_since(now))
    }

    /// Accepts until `WouldBlock`, the slab cap, or the `--exit-after` budget.
    fn accept_all(&mut self) -> io::Result<()> {
        while self.stop_by.is_none() && self.accept_resume.is_none() {
            if self.conns.len() >= self.ctx.cfg.max_conns_per_worker() {
                if !self.accept_blocked {
                    super::log_cap(true, self.ctx.cfg.max_conns_per_worker());
                }
                self.accept_blocked = true;
                return Ok(());
            }
            let Some(listener) = &self.listener else { return Ok(()) };
            if !self.ctx.claim_accept() {
                self.drop_listener();
                return Ok(());
            }
            let accepted = match listener {
                Lsn::Tcp(l) => l.accept().map(|(s, a)| {
                    if self.ctx.cfg.nodelay {
                        let _ = s.set_nodelay(true);
                    }
                    (EventStream::Tcp(s), Some(crate::conn::canonical(a)))
                }),
                Lsn::Unix(l) => l.accept().map(|(s, _)| (EventStream::Unix(s), None)),
            };
            match accepted {
                Ok((sock, peer)) => self.open(sock, peer)?,
                Err(e) => {
                    self.ctx.unclaim_accept();
                    match classify(&e) {
                        AcceptError::Skip if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                        AcceptError::Skip => tracing::debug!(error = %e, "accept skipped"),
                        AcceptError::Pause => {
                            tracing::warn!(error = %e, "accept failed, pausing");
                            self.accept_resume = Some(Instant::now() + PAUSE);
                        }
                        AcceptError::Fatal => return Err(e),
                    }
                }
            }
        }
        Ok(())
    }

    fn drop_listener(&mut self) {
        if let Some(mut l) = self.listener.take() {
            let registry = self.poll.registry();
            let _ = match &mut l {
                Lsn::Tcp(l) => registry.deregister(l),
                Lsn::Unix(l) => registry.deregister(l),
            };
        }
    }

    fn open(&mut self, mut sock: EventStream, peer: Option<SocketAddr>) -> io::Result<()> {
        let info = ConnInfo {
            peer,
            accepted_at: SystemTime::now(),
        };
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        self.poll
            .registry()
            .register(sock.source(), Token(key), Interest::READABLE)?;
        self.next_id += 1;
        let peer = peer_label(peer);
        tracing::debug!(%peer, "accept");
        tracing::info!(%peer, "connection opened");
        let (core, timer) = Core::start((self.ctx.factory)(&info), peer, self.ctx.cfg.delay, Instant::now());
        entry.insert(Conn::new(sock, core, self.next_id));
        if let Some(at) = timer {
            self.timers.push_back((at, key, self.next_id));
        }
        self.io(key, |c, env| c.flush(env));
        // Data may already be waiting; edge-triggered readiness will not repeat it.
        self.io(key, |c, env| c.read(env, true));
        self.settle(key);
        Ok(())
    }

    /// Half-closes or closes a connection whose work is done.
    fn settle(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else { return };
        let now = Instant::now();
        match conn.core.next(now) {
            Next::Keep => {}
            Next::HalfClose => {
                // The session closed first while the peer may still send: linger.
                tracing::debug!(peer = %conn.core.peer, "shutdown(write)");
                let _ = conn.sock.shutdown(How::Write);
                self.next_sweep = self.next_sweep.min(now + LINGER);
            }
            Next::Close => {
                let why = if conn.core.phase() == Phase::Broken {
                    "error"
                } else {
                    "done"
                };
                self.close(key, why);
            }
        }
    }

    fn close(&mut self, key: usize, why: &str) {
        if !self.conns.contains(key) {
            return;
        }
        let mut conn = self.conns.remove(key);
        let _ = self.poll.registry().deregister(conn.sock.source());
        let core = &conn.core;
        if !matches!(core.phase(), Phase::Lingering { .. }) {
            tracing::debug!(peer = %core.peer, "shutdown(write)");
            let _ = conn.sock.shutdown(How::Write);
        }
        tracing::debug!(peer = %core.peer, "close");
        tracing::info!(
            peer = %core.peer,
            bytes_in = core.bytes_in,
            bytes_out = core.bytes_out,
            duration = ?core.opened.elapsed(),
            why,
            "connection closed"
        );
        drop(conn);
        self.ctx.finish_connection();
        if self.accept_blocked {
            self.accept_blocked = false;
            super::log_cap(false, self.ctx.cfg.max_conns_per_worker());
            if let Err(e) = self.accept_all() {
                tracing::error!(error = %e, "accept failed");
                self.ctx.shutdown.trigger();
            }
        }
    }

    /// Shutdown: stop accepting; every connection finishes its replies within the grace period.
    fn begin_stop(&mut self) {
        if self.stop_by.is_some() {
            return;
        }
        self.stop_by = Some(Instant::now() + GRACE);
        self.drop_listener();
        let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for key in keys {
            self.io(key, |c, env| c.end_input(env));
            self.settle(key);
        }
    }

    /// Due delay timers, the idle and linger sweep, and the accept pause.
    fn on_time(&mut self, now: Instant) -> io::Result<()> {
        let mut due = Vec::new();
        due_timers(&mut self.timers, now, |key, id| due.push((key, id)));
        for (key, id) in due {
            let Some(conn) = self.conns.get_mut(key).filter(|c| c.id == id) else {
                continue;
            };
            if conn.core.release_due(now) {
                self.io(key, |c, env| c.flush(env));
            }
            self.settle(key);
        }
        if self.accept_resume.is_some_and(|at| at <= now) {
            self.accept_resume = None;
            self.accept_all()?;
        }
        if now >= self.next_sweep {
            self.next_sweep = now + sweep_every(self.ctx.cfg.idle_timeout);
            let idle = self.ctx.cfg.idle_timeout;
            for (key, why) in expired(self.conns.iter().map(|(k, c)| (k, &c.core)), now, idle) {
                self.close(key, why);
            }
        }
        Ok(())
    }
}
