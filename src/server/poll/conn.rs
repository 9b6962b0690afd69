//! One client of the event loop: its socket, and the read and write steps
//! that move bytes between the socket and its [`Core`] (which holds the
//! session, the pending replies and the phase of the connection's life).

use crate::conn::EventStream;
use crate::server::Ctx;
use crate::server::core::{Core, Phase, Timer};
use mio::{Interest, Registry, Token};
use std::collections::VecDeque;
use std::io;
use std::time::Instant;

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

/// One client's socket and state in the loop.
pub(super) struct Conn {
    pub(super) sock: EventStream,
    pub(super) core: Core,
    /// WRITABLE interest is registered (only while replies are pending).
    want_write: bool,
    /// Distinguishes a reused slab slot from the connection a timer was set for.
    pub(super) id: u64,
}

impl Conn {
    pub(super) fn new(sock: EventStream, core: Core, id: u64) -> Self {
        Conn {
            sock,
            core,
            want_write: false,
            id,
        }
    }

    fn set_timer(&self, env: &mut Env<'_>, at: Option<Instant>) {
        if let Some(at) = at {
            env.timers.push_back((at, env.key, self.id));
        }
    }

    /// No more input (the peer's EOF, or shutdown): the session flushes what
    /// it held back and that last reply is queued and sent.
    pub(super) fn end_input(&mut self, env: &mut Env<'_>) {
        let timer = self.core.input_ended(Instant::now());
        self.set_timer(env, timer);
        self.flush(env);
    }

    /// Reads while the connection wants input.
    ///
    /// A stream socket that returns less than the buffer has been drained
    /// (epoll(7)): edge-triggered readiness will report the next bytes, so the
    /// loop stops there and saves the read that would only say `WouldBlock`.
    /// With `drain` it reads on to `WouldBlock` instead: at open and after a
    /// back-pressure pause (no edge is owed for bytes already queued), and when
    /// the event also reported the peer's FIN (the EOF must be read now, as no
    /// later edge will announce it).
    pub(super) fn read(&mut self, env: &mut Env<'_>, drain: bool) {
        loop {
            self.core.update_pause();
            if !self.core.wants_read() {
                return;
            }
            let n = match self.sock.read(env.buf) {
                Ok(0) => {
                    tracing::debug!(peer = %self.core.peer, "recv 0 bytes (EOF)");
                    self.end_input(env);
                    return;
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::debug!(peer = %self.core.peer, error = %e, "recv failed");
                    self.core.break_off();
                    return;
                }
            };
            env.ctx.stats.add_in(n);
            tracing::debug!(peer = %self.core.peer, bytes = n, "recv");
            let timer = self.core.received(env.buf.get(..n).unwrap_or_default(), Instant::now());
            self.set_timer(env, timer);
            self.flush(env);
            if n < env.buf.len() && !drain {
                return;
            }
        }
    }

    /// Writes pending bytes until `WouldBlock` (one write per boundary the
    /// session marked); keeps WRITABLE interest only while some remain.
    pub(super) fn flush(&mut self, env: &mut Env<'_>) {
        while !self.core.out.is_empty() && self.core.phase() != Phase::Broken {
            match self.sock.write(self.core.out.next_write()) {
                Ok(0) => self.core.break_off(),
                Ok(n) => {
                    self.core.sent(n, Instant::now());
                    env.ctx.stats.add_out(n);
                    tracing::debug!(peer = %self.core.peer, bytes = n, "send");
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::debug!(peer = %self.core.peer, error = %e, "send failed");
                    self.core.break_off();
                }
            }
        }
        let want_write = !self.core.out.is_empty();
        if want_write != self.want_write && self.core.phase() != Phase::Broken {
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
                self.core.break_off();
            }
            self.want_write = want_write;
        }
        if self.core.update_pause() == Some(false) {
            // Bytes that queued while paused announce no new edge: drain them.
            self.read(env, true);
        }
    }
}
