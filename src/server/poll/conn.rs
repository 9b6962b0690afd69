//! One client of the event loop: its socket, and the read and write steps
//! that move bytes between the socket and its [`Lifecycle`] (which holds the
//! session, the pending replies and the phase of the connection's life).

use crate::conn::EventStream;
use crate::server::event_loop::LoopPolicy;
use crate::server::lifecycle::{Lifecycle, Phase};
use mio::{Interest, Registry, Token};
use std::io;
use std::time::Instant;

/// What a connection's I/O steps need from the loop around it.
pub(super) struct Env<'a, 'p> {
    /// To change the connection's interest.
    pub registry: &'a Registry,
    /// The loop's timers, settings and counters.
    pub policy: &'a mut LoopPolicy<'p>,
    /// The loop's read buffer, shared by its connections.
    pub buf: &'a mut [u8],
    /// This connection's slab key (its token).
    pub key: usize,
}

/// One client's socket and state in the loop.
pub(super) struct Conn {
    pub(super) sock: EventStream,
    pub(super) life: Lifecycle,
    /// WRITABLE interest is registered (only while replies are pending).
    want_write: bool,
    /// Distinguishes a reused slab slot from the connection a timer was set for.
    pub(super) generation: u64,
}

impl Conn {
    pub(super) fn new(sock: EventStream, life: Lifecycle, generation: u64) -> Self {
        Conn {
            sock,
            life,
            want_write: false,
            generation,
        }
    }

    fn set_timer(&self, env: &mut Env<'_, '_>, at: Option<Instant>) {
        env.policy.set_timer(at, env.key, self.generation);
    }

    /// No more input (the peer's EOF, or shutdown): the session flushes what
    /// it held back and that last reply is queued and sent.
    pub(super) fn end_input(&mut self, env: &mut Env<'_, '_>) {
        let timer = self.life.input_ended(Instant::now());
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
    pub(super) fn read(&mut self, env: &mut Env<'_, '_>, drain: bool) {
        loop {
            self.life.update_pause();
            if !self.life.wants_read() {
                return;
            }
            let n = match self.sock.read(env.buf) {
                Ok(0) => {
                    tracing::debug!(peer = %self.life.peer, "recv 0 bytes (EOF)");
                    self.end_input(env);
                    return;
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::debug!(peer = %self.life.peer, error = %e, "recv failed");
                    self.life.break_off();
                    return;
                }
            };
            env.policy.ctx.stats.add_in(n);
            tracing::debug!(peer = %self.life.peer, bytes = n, "recv");
            let timer = self.life.received(crate::net::filled(env.buf, n), Instant::now());
            self.set_timer(env, timer);
            self.flush(env);
            if n < env.buf.len() && !drain {
                return;
            }
        }
    }

    /// Writes pending bytes until `WouldBlock` (one write per boundary the
    /// session marked), asking the session for more whenever all was sent;
    /// keeps WRITABLE interest only while some remain.
    pub(super) fn flush(&mut self, env: &mut Env<'_, '_>) {
        loop {
            if self.life.phase() == Phase::Broken {
                break;
            }
            // All sent: the next piece of a body that streams, if any.
            if self.life.out.is_empty() && !self.life.refill() {
                break;
            }
            let file = self.life.out.file().cloned();
            let written = match &file {
                // A file region: from the page cache to the socket (zero copy).
                Some(region) => crate::net::sendfile(self.sock.as_fd(), region),
                None => self.sock.write(self.life.out.next_write()),
            };
            match written {
                Ok(0) => self.life.break_off(),
                Ok(n) if file.is_some() => {
                    self.life.sent_file(n, Instant::now());
                    env.policy.ctx.stats.add_out(n);
                    tracing::debug!(peer = %self.life.peer, bytes = n, "sendfile");
                }
                Ok(n) => {
                    self.life.sent(n, Instant::now());
                    env.policy.ctx.stats.add_out(n);
                    tracing::debug!(peer = %self.life.peer, bytes = n, "send");
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::debug!(peer = %self.life.peer, error = %e, "send failed");
                    self.life.break_off();
                }
            }
        }
        let want_write = !self.life.out.is_empty();
        if want_write != self.want_write && self.life.phase() != Phase::Broken {
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
                self.life.break_off();
            }
            self.want_write = want_write;
        }
        if self.life.update_pause() == Some(false) {
            // Bytes that queued while paused announce no new edge: drain them.
            self.read(env, true);
        }
    }
}
