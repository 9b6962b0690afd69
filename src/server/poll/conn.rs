//! One client of the event loop: its pending output, its delayed replies,
//! and the read and write steps that drain readiness until `WouldBlock`.

use super::HIGH_WATER;
use crate::conn::EventStream;
use crate::proto::{Flow, Session};
use crate::server::Ctx;
use mio::{Interest, Registry, Token};
use std::collections::VecDeque;
use std::io;
use std::time::Instant;

/// A delayed reply's timer: when, which slab slot, which connection.
pub(super) type Timer = (Instant, usize, u64);

/// What a connection's I/O steps need from the loop around it.
pub(super) struct Env<'a> {
    /// To change the connection's interest.
    pub registry: &'a Registry,
    /// Settings and counters.
    pub ctx: &'a Ctx,
    /// The loop's read buffer, shared by its connections.
    pub buf: &'a mut [u8],
    /// The loop's delay timers.
    pub timers: &'a mut VecDeque<Timer>,
    /// This connection's slab key (its token).
    pub key: usize,
}

/// One client's state in the loop.
pub(super) struct Conn {
    pub(super) sock: EventStream,
    pub(super) session: Box<dyn Session>,
    pub(super) peer: String,
    /// Reply bytes not yet written; `out[sent..]` is pending.
    pub(super) out: Vec<u8>,
    pub(super) sent: usize,
    /// Replies held back by `--delay`, with the time each may go.
    pub(super) delayed: VecDeque<(Instant, Vec<u8>)>,
    pub(super) delayed_bytes: usize,
    /// The peer may still send (no EOF seen, not stopped).
    pub(super) reading: bool,
    /// Not reading because too many replies wait (back-pressure).
    pub(super) paused: bool,
    /// The session asked to close: flush, half-close, then linger.
    pub(super) closing: bool,
    /// Our write side is shut; only the lingering read remains.
    pub(super) write_shut: bool,
    /// WRITABLE interest is registered.
    pub(super) want_write: bool,
    /// Set when the connection must go now (I/O error, protocol error).
    pub(super) broken: bool,
    pub(super) last_active: Instant,
    pub(super) linger_until: Option<Instant>,
    pub(super) opened: Instant,
    pub(super) bytes_in: u64,
    pub(super) bytes_out: u64,
    /// Distinguishes a reused slab slot from the connection a timer was set for.
    pub(super) id: u64,
}

impl Conn {
    pub(super) fn backlog(&self) -> usize {
        self.out.len() - self.sent + self.delayed_bytes
    }
    pub(super) fn done(&self) -> bool {
        self.broken || (self.out.len() == self.sent && self.delayed.is_empty() && (!self.reading || self.closing))
    }

    /// Adds reply bytes, now or after `--delay`.
    pub(super) fn queue(&mut self, env: &mut Env<'_>, bytes: Vec<u8>) {
        if bytes.is_empty() {
            return;
        }
        let delay = env.ctx.cfg.delay;
        if delay.is_zero() {
            compact(&mut self.out, &mut self.sent).extend_from_slice(&bytes);
        } else {
            let at = Instant::now() + delay;
            self.delayed_bytes += bytes.len();
            self.delayed.push_back((at, bytes));
            env.timers.push_back((at, env.key, self.id));
        }
    }

    /// No more input (the peer's EOF, or shutdown): the session flushes what
    /// it held back and that last reply is queued and sent.
    pub(super) fn end_input(&mut self, env: &mut Env<'_>) {
        if !self.reading {
            return;
        }
        self.reading = false;
        if self.closing {
            return;
        }
        let mut tail = Vec::new();
        if let Err(e) = self.session.on_eof(&mut tail) {
            tracing::warn!(peer = %self.peer, error = %e, "connection error");
        }
        self.queue(env, tail);
        self.flush(env);
    }

    /// Reads until `WouldBlock`, EOF, or the back-pressure limit.
    pub(super) fn read(&mut self, env: &mut Env<'_>) {
        loop {
            if !self.reading || self.paused || self.broken {
                return;
            }
            if self.backlog() >= HIGH_WATER {
                tracing::debug!(peer = %self.peer, backlog = self.backlog(), "pausing reads");
                self.paused = true;
                return;
            }
            let n = match self.sock.read(env.buf) {
                Ok(0) => {
                    tracing::debug!(peer = %self.peer, "recv 0 bytes (EOF)");
                    self.end_input(env);
                    return;
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::debug!(peer = %self.peer, error = %e, "recv failed");
                    self.broken = true;
                    return;
                }
            };
            self.bytes_in += n as u64;
            self.last_active = Instant::now();
            env.ctx.stats.add_in(n);
            tracing::debug!(peer = %self.peer, bytes = n, "recv");
            if self.closing {
                continue; // lingering: discard
            }
            let data = env.buf.get(..n).unwrap_or_default();
            let delayed = !env.ctx.cfg.delay.is_zero();
            // Without --delay the session appends straight to the pending
            // output: no buffer per read.
            let mut held = Vec::new();
            let sink = if delayed {
                &mut held
            } else {
                compact(&mut self.out, &mut self.sent)
            };
            match self.session.on_data(data, sink) {
                Ok(Flow::Continue) => {}
                Ok(Flow::Close) => self.closing = true,
                Err(e) => {
                    tracing::warn!(peer = %self.peer, error = %e, "connection error");
                    self.closing = true;
                }
            }
            self.queue(env, held);
            self.flush(env);
        }
    }

    /// Writes pending bytes until `WouldBlock`; keeps WRITABLE interest only while some remain.
    pub(super) fn flush(&mut self, env: &mut Env<'_>) {
        while self.sent < self.out.len() && !self.broken {
            match self.sock.write(self.out.get(self.sent..).unwrap_or_default()) {
                Ok(0) => self.broken = true,
                Ok(n) => {
                    self.sent += n;
                    self.bytes_out += n as u64;
                    self.last_active = Instant::now();
                    env.ctx.stats.add_out(n);
                    tracing::debug!(peer = %self.peer, bytes = n, "send");
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::debug!(peer = %self.peer, error = %e, "send failed");
                    self.broken = true;
                }
            }
        }
        if self.sent == self.out.len() {
            self.out.clear();
            self.sent = 0;
        }
        let want_write = self.sent < self.out.len();
        if want_write != self.want_write && !self.broken {
            let interest = if want_write {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            if env
                .registry
                .reregister(self.sock.source(), Token(env.key), interest)
                .is_err()
            {
                self.broken = true;
            }
            self.want_write = want_write;
        }
        if self.paused && self.backlog() < HIGH_WATER / 2 {
            self.paused = false;
            tracing::debug!(peer = %self.peer, "resuming reads");
            self.read(env);
        }
    }
}

/// Drops already-sent bytes from the front of a pending output buffer
/// (cheaply: only when all of it was sent, or more than half).
fn compact<'a>(out: &'a mut Vec<u8>, sent: &mut usize) -> &'a mut Vec<u8> {
    if *sent == out.len() {
        out.clear();
        *sent = 0;
    } else if *sent > out.len() / 2 {
        out.drain(..*sent);
        *sent = 0;
    }
    out
}
