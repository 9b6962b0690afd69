//! Poll mode: non-blocking event loops on epoll, through mio.
//!
//! Rules of the loop (mio's contract), and where each one is kept:
//! - readiness is edge-triggered, so accept, read and write are each drained
//!   until `WouldBlock` (`Worker::accept_all`, `Conn::read`, `Conn::flush` in `conn.rs`);
//!   `Interrupted` is retried; a 0-byte read is EOF;
//! - unsent bytes are kept per connection, and WRITABLE interest is registered
//!   only while some are pending (`Conn::flush`);
//! - a peer whose pending replies pass [`HIGH_WATER`] is not read from until
//!   they drain below half of it: a client that never reads costs at most that
//!   much memory, never the server;
//! - `--delay` is a timer, never a sleep: one client's delay never holds up another;
//! - the connection table is a slab, capped at `--max-conns`.
//!
//! `--workers N` runs N loops, each with its own listener on the same port
//! (`SO_REUSEPORT`: the kernel spreads new connections) or, for Unix sockets,
//! a shared one.

mod conn;

use super::Ctx;
use super::accept::{AcceptError, PAUSE, classify};
use crate::conn::{EventStream, Listener};
use crate::proto::{ConnInfo, Flow};
use crate::shutdown::GRACE;
use conn::{Conn, Env, Timer};
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
/// Stop reading a peer once this many reply bytes wait for it.
pub const HIGH_WATER: usize = 1 << 20;
/// Bytes read per call; one buffer per loop, shared by its connections.
const READ_BUF: usize = 64 * 1024;
/// After our side closes, the peer's leftover input is discarded this long.
const LINGER: Duration = Duration::from_millis(500);

/// Runs `--workers` event loops until shutdown (this thread runs the first).
///
/// # Errors
/// When a listener or the poller breaks.
pub fn run(listeners: Vec<Listener>, ctx: &Arc<Ctx>) -> io::Result<()> {
    let workers = ctx.cfg.workers.max(1);
    let mut mine = Vec::with_capacity(workers);
    for n in 0..workers {
        let l = match listeners.get(n) {
            Some(l) => l.try_clone()?,
            None => listeners.first().ok_or(io::ErrorKind::InvalidInput)?.try_clone()?,
        };
        mine.push(l);
    }
    drop(listeners);
    let mut handles = Vec::new();
    let mut mine = mine.into_iter();
    let first = mine.next().ok_or(io::ErrorKind::InvalidInput)?;
    for (n, listener) in mine.enumerate() {
        let ctx = Arc::clone(ctx);
        handles.push(
            std::thread::Builder::new()
                .name(format!("poll-{}", n + 1))
                .spawn(move || {
                    let result = Worker::new(listener, &ctx).and_then(|mut w| w.run());
                    if let Err(e) = &result {
                        tracing::error!(error = %e, "event loop stopped");
                        ctx.shutdown.trigger();
                    }
                })?,
        );
    }
    let result = Worker::new(first, ctx).and_then(|mut w| w.run());
    if result.is_err() {
        ctx.shutdown.trigger();
    }
    for h in handles {
        let _ = h.join();
    }
    result
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
            next_sweep: Instant::now() + sweep_every(ctx),
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
                            self.io(key, |c, env| c.read(env));
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
            if self.conns.len() >= self.ctx.cfg.max_conns.max(1) {
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
                    let _ = s.set_nodelay(true);
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
        let now = Instant::now();
        self.next_id += 1;
        let peer = peer.map_or_else(|| "unix".to_string(), |p| p.to_string());
        tracing::debug!(%peer, "accept");
        tracing::info!(%peer, "connection opened");
        let mut conn = Conn {
            sock,
            session: (self.ctx.factory)(&info),
            peer,
            out: Vec::new(),
            sent: 0,
            delayed: VecDeque::new(),
            delayed_bytes: 0,
            reading: true,
            paused: false,
            closing: false,
            write_shut: false,
            want_write: false,
            broken: false,
            last_active: now,
            linger_until: None,
            opened: now,
            bytes_in: 0,
            bytes_out: 0,
            id: self.next_id,
        };
        let mut greeting = Vec::new();
        if conn.session.on_start(&mut greeting) == Flow::Close {
            conn.closing = true;
        }
        entry.insert(conn);
        self.io(key, |c, env| c.queue(env, greeting));
        self.io(key, |c, env| c.flush(env));
        // Data may already be waiting; edge-triggered readiness will not repeat it.
        self.io(key, |c, env| c.read(env));
        self.settle(key);
        Ok(())
    }

    /// Half-closes or closes a connection whose work is done.
    fn settle(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else { return };
        if conn.broken {
            self.close(key, "error");
            return;
        }
        if !conn.done() {
            return;
        }
        if !conn.reading {
            self.close(key, "done");
            return;
        }
        // The session closed first while the peer may still send: linger.
        if !conn.write_shut {
            tracing::debug!(peer = %conn.peer, "shutdown(write)");
            let _ = conn.sock.shutdown(How::Write);
            conn.write_shut = true;
            conn.linger_until = Some(Instant::now() + LINGER);
            self.next_sweep = self.next_sweep.min(Instant::now() + LINGER);
        }
    }

    fn close(&mut self, key: usize, why: &str) {
        if !self.conns.contains(key) {
            return;
        }
        let mut conn = self.conns.remove(key);
        let _ = self.poll.registry().deregister(conn.sock.source());
        if !conn.write_shut {
            tracing::debug!(peer = %conn.peer, "shutdown(write)");
            let _ = conn.sock.shutdown(How::Write);
        }
        tracing::debug!(peer = %conn.peer, "close");
        tracing::info!(
            peer = %conn.peer,
            bytes_in = conn.bytes_in,
            bytes_out = conn.bytes_out,
            duration = ?conn.opened.elapsed(),
            why,
            "connection closed"
        );
        drop(conn);
        self.ctx.finish_connection();
        if self.accept_blocked {
            self.accept_blocked = false;
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
        while let Some(&(at, key, id)) = self.timers.front() {
            if at > now {
                break;
            }
            self.timers.pop_front();
            let Some(conn) = self.conns.get_mut(key).filter(|c| c.id == id) else {
                continue;
            };
            while let Some((due, _)) = conn.delayed.front() {
                if *due > now {
                    break;
                }
                let Some((_, bytes)) = conn.delayed.pop_front() else {
                    break;
                };
                conn.delayed_bytes -= bytes.len();
                conn.out.extend_from_slice(&bytes);
            }
            self.io(key, |c, env| c.flush(env));
            self.settle(key);
        }
        if self.accept_resume.is_some_and(|at| at <= now) {
            self.accept_resume = None;
            self.accept_all()?;
        }
        if now >= self.next_sweep {
            self.next_sweep = now + sweep_every(self.ctx);
            let idle = self.ctx.cfg.idle_timeout;
            let expired: Vec<(usize, &str)> = self
                .conns
                .iter()
                .filter_map(|(k, c)| {
                    if c.linger_until.is_some_and(|t| t <= now) {
                        Some((k, "linger over"))
                    } else if idle.is_some_and(|d| now.duration_since(c.last_active) >= d) && c.delayed.is_empty() {
                        Some((k, "idle timeout"))
                    } else {
                        None
                    }
                })
                .collect();
            for (key, why) in expired {
                self.close(key, why);
            }
        }
        Ok(())
    }
}

/// How often idle connections are looked for: a quarter of the idle timeout, at most 1 s.
fn sweep_every(ctx: &Ctx) -> Duration {
    ctx.cfg.idle_timeout.map_or(Duration::from_secs(1), |d| {
        (d / 4).clamp(Duration::from_millis(10), Duration::from_secs(1))
    })
}
