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
//! - a connection's own rules (back-pressure, lingering, last words) are its
//!   [`Lifecycle`]'s, and the loop-wide ones (timers, the sweep, the stop
//!   sequence, the cap) the [`LoopPolicy`]'s: both shared with the uring mode;
//! - the connection table is a slab, capped at `--max-conns`.
//!
//! A request's path: [`Worker::run`] gets a readable event → [`Conn::read`]
//! → [`Lifecycle::received`] (the session answers) → [`Conn::flush`] writes
//! the reply → [`Worker::settle`] asks the policy whether to close.
//!
//! `--workers N` runs N loops, each with its own listener on the same port
//! (`SO_REUSEPORT`: the kernel spreads new connections) or, for Unix sockets,
//! a shared one.

mod conn;

use super::event_loop::{AcceptFailed, LoopPolicy, Settle};
use super::lifecycle::{Lifecycle, Phase};
use super::{Ctx, READ_BUF, peer_label};
use crate::conn::{EventStream, Listener};
use crate::proto::ConnInfo;
use conn::{Conn, Env};
use mio::net::{TcpListener, UnixListener};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use slab::Slab;
use std::io;
use std::net::{Shutdown as How, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

const LISTENER: Token = Token(usize::MAX - 1);
const SHUTDOWN: Token = Token(usize::MAX - 2);

/// Runs `--workers` event loops until shutdown (this thread runs the first).
///
/// # Errors
/// When a listener or the poller breaks.
pub fn run(listeners: Vec<Listener>, ctx: &Arc<Ctx>) -> io::Result<()> {
    super::workers::run_loops(listeners, ctx, "poll", |listener, ctx| {
        Worker::new(listener, ctx)?.run()
    })
}

enum Lsn {
    Tcp(TcpListener),
    Unix(UnixListener),
}

struct Worker<'a> {
    /// Timers, sweep, stop sequence, cap: the rules shared with uring.
    policy: LoopPolicy<'a>,
    poll: Poll,
    /// `None` once accepting stopped for good.
    listener: Option<Lsn>,
    conns: Slab<Conn>,
    /// The read buffer every connection of the loop shares.
    buf: Vec<u8>,
    /// The generation the next connection gets (its timers carry it).
    next_generation: u64,
}

impl<'a> Worker<'a> {
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
            policy: LoopPolicy::new(ctx, Instant::now()),
            poll,
            listener: Some(lsn),
            conns: Slab::new(),
            buf: vec![0; READ_BUF],
            next_generation: 0,
        })
    }

    /// Runs one I/O step of connection `key` with the loop's shared state.
    fn io(&mut self, key: usize, step: impl FnOnce(&mut Conn, &mut Env<'_, '_>)) {
        let Some(conn) = self.conns.get_mut(key) else { return };
        let mut env = Env {
            registry: self.poll.registry(),
            policy: &mut self.policy,
            buf: &mut self.buf,
            key,
        };
        step(conn, &mut env);
    }

    fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        loop {
            let timeout = self.policy.timeout(Instant::now());
            match self.poll.poll(&mut events, Some(timeout)) {
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
            let now = Instant::now();
            self.on_time(now)?;
            if self.policy.done(now, self.conns.len()) {
                let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
                for key in keys {
                    self.close(key, "grace period over");
                }
                return Ok(());
            }
        }
    }

    /// Accepts until `WouldBlock`, the cap, or the `--exit-after` budget.
    fn accept_all(&mut self) -> io::Result<()> {
        while self.policy.may_accept(self.conns.len()) {
            let Some(listener) = &self.listener else { return Ok(()) };
            if !self.policy.ctx.claim_accept() {
                self.drop_listener();
                return Ok(());
            }
            let nodelay = self.policy.ctx.cfg.nodelay;
            let accepted = match listener {
                Lsn::Tcp(l) => l.accept().map(|(s, a)| {
                    if nodelay {
                        let _ = s.set_nodelay(true);
                    }
                    (EventStream::Tcp(s), Some(crate::conn::canonical(a)))
                }),
                Lsn::Unix(l) => l.accept().map(|(s, _)| (EventStream::Unix(s), None)),
            };
            match accepted {
                Ok((sock, peer)) => self.open(sock, peer)?,
                Err(e) => {
                    self.policy.ctx.unclaim_accept();
                    match self.policy.accept_failed(e, Instant::now())? {
                        AcceptFailed::Retry => {}
                        AcceptFailed::Drained | AcceptFailed::Paused => return Ok(()),
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
        self.next_generation += 1;
        let peer = peer_label(peer);
        tracing::debug!(%peer, "accept");
        tracing::info!(%peer, "connection opened");
        let ctx = self.policy.ctx;
        let (life, timer) = Lifecycle::start((ctx.factory)(&info), peer, ctx.cfg.delay, Instant::now());
        entry.insert(Conn::new(sock, life, self.next_generation));
        self.policy.set_timer(timer, key, self.next_generation);
        self.io(key, |c, env| c.flush(env));
        // Data may already be waiting; edge-triggered readiness will not repeat it.
        self.io(key, |c, env| c.read(env, true));
        self.settle(key);
        Ok(())
    }

    /// Half-closes or closes a connection whose work is done.
    fn settle(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else { return };
        match self.policy.settle(&mut conn.life, Instant::now()) {
            Settle::Keep => {}
            Settle::HalfClose => {
                let _ = conn.sock.shutdown(How::Write);
            }
            Settle::Close(why) => self.close(key, why),
        }
    }

    fn close(&mut self, key: usize, why: &str) {
        if !self.conns.contains(key) {
            return;
        }
        let mut conn = self.conns.remove(key);
        let _ = self.poll.registry().deregister(conn.sock.source());
        if !matches!(conn.life.phase(), Phase::Lingering { .. }) {
            tracing::debug!(peer = %conn.life.peer, "shutdown(write)");
            let _ = conn.sock.shutdown(How::Write);
        }
        self.policy.closed(&conn.life, why);
        drop(conn);
        if self.policy.left(self.conns.len())
            && let Err(e) = self.accept_all()
        {
            tracing::error!(error = %e, "accept failed");
            self.policy.ctx.shutdown.trigger();
        }
    }

    /// Shutdown: stop accepting; every connection finishes its replies within the grace period.
    fn begin_stop(&mut self) {
        if !self.policy.begin_stop(Instant::now()) {
            return;
        }
        self.drop_listener();
        let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for key in keys {
            self.io(key, |c, env| c.end_input(env));
            self.settle(key);
        }
    }

    /// Due delay timers, the idle and linger sweep, and the end of an accept pause.
    fn on_time(&mut self, now: Instant) -> io::Result<()> {
        for (key, generation) in self.policy.due_timers(now) {
            let Some(conn) = self.conns.get_mut(key).filter(|c| c.generation == generation) else {
                continue;
            };
            if conn.life.release_due(now) {
                self.io(key, |c, env| c.flush(env));
            }
            self.settle(key);
        }
        if self.policy.resume_due(now) {
            self.accept_all()?;
        }
        let lives = self.conns.iter().map(|(k, c)| (k, &c.life));
        for (key, why) in self.policy.sweep(now, lives) {
            if self.conns.get_mut(key).is_some_and(|c| c.life.last_words(why)) {
                self.io(key, |c, env| c.flush(env));
                self.settle(key);
            } else {
                self.close(key, why);
            }
        }
        Ok(())
    }
}
