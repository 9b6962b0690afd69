//! One client of the ring: its socket, its [`Lifecycle`], its multishot
//! receive and its one send in flight, kept in line with what the lifecycle
//! wants after every step:
//! - a receive is armed exactly while the lifecycle wants input (not paused
//!   by back-pressure, not done) and the ring has buffers for it;
//! - a send is in flight while replies are pending, one at a time, so
//!   replies never reorder (a short send resubmits the rest);
//! - a closing connection cancels both and goes only once the last of
//!   their completions has come, so the socket (and the descriptor number
//!   the operations name) outlives every operation.

use super::ring::{Ring, SendBuf};
use super::token::{GENERATION_MASK, Kind, Token};
use crate::conn::Stream;
use crate::server::lifecycle::{Lifecycle, Phase};
use slab::Slab;
use std::io;
use std::net::Shutdown as How;
use std::os::fd::{AsFd, AsRawFd, RawFd};

/// A connection's multishot receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recv {
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
    sock: Stream,
    /// Its descriptor, as submissions name it.
    fd: RawFd,
    /// The session, pending replies and phase: the rules poll mode follows too.
    pub(super) life: Lifecycle,
    /// Tells this connection's completions from those of a slot's earlier tenant.
    pub(super) generation: u32,
    recv: Recv,
    /// The bytes of the send in flight (frozen until its completion).
    send: SendBuf,
    /// The connection is done (and why); it goes once its operations have completed.
    closing: Option<&'static str>,
    /// Its receive ran out of buffers: armed again after the batch gave some back.
    pub(super) starved: bool,
}

impl UConn {
    pub(super) fn new(sock: Stream, life: Lifecycle, generation: u32) -> Self {
        UConn {
            fd: sock.as_fd().as_raw_fd(),
            sock,
            life,
            generation,
            recv: Recv::Idle,
            send: SendBuf::default(),
            closing: None,
            starved: false,
        }
    }

    fn token(&self, kind: Kind, slot: usize) -> Token {
        Token {
            kind,
            generation: self.generation,
            slot: u32::try_from(slot).unwrap_or(u32::MAX),
        }
    }

    /// Whether the connection is closing (its lifecycle is not asked again).
    pub(super) fn closing(&self) -> Option<&'static str> {
        self.closing
    }

    /// Sends what is pending, and arms or cancels the receive as the
    /// lifecycle now wants.
    pub(super) fn sync(&mut self, ring: &mut Ring, slot: usize, group: u16) -> io::Result<()> {
        if self.closing.is_none() && !self.send.is_frozen() {
            // All sent: the next piece of a body that streams (one piece
            // per connection at a time, however many connections stream).
            self.life.refill();
        }
        if self.life.phase() != Phase::Broken
            && !self.life.out.is_empty()
            && self.send.refill(|into| self.life.take_send(into))
        {
            let token = self.token(Kind::Send, slot);
            ring.send(self.fd, &mut self.send, token)?;
        }
        self.life.update_pause();
        let wants = self.life.wants_read() && self.closing.is_none();
        match (wants, self.recv) {
            (true, Recv::Idle) if !self.starved => {
                tracing::debug!(peer = %self.life.peer, "submit recv (multishot)");
                self.recv = Recv::Armed;
                ring.recv_multi(self.fd, group, self.token(Kind::Recv, slot))?;
            }
            (false, Recv::Armed) => self.cancel_recv(ring, slot)?,
            _ => {}
        }
        Ok(())
    }

    /// Asks the kernel to end the receive; data it already took still comes.
    fn cancel_recv(&mut self, ring: &mut Ring, slot: usize) -> io::Result<()> {
        if self.recv != Recv::Armed {
            return Ok(());
        }
        tracing::debug!(peer = %self.life.peer, "submit cancel (recv)");
        self.recv = Recv::Cancelling;
        ring.cancel(self.token(Kind::Recv, slot))
    }

    /// A receive completion came; without `more` the receive has ended.
    pub(super) fn recv_completed(&mut self, more: bool) {
        if !more {
            self.recv = Recv::Idle;
        }
    }

    /// A send completed with result `res`: the rest of a short send goes
    /// out from the same bytes; a failure breaks the connection.
    pub(super) fn send_completed(
        &mut self,
        ring: &mut Ring,
        slot: usize,
        res: i32,
        now: std::time::Instant,
    ) -> io::Result<usize> {
        match usize::try_from(res) {
            Ok(n) if n > 0 => {
                tracing::debug!(peer = %self.life.peer, bytes = n, "complete send");
                self.life.send_done(n, now);
                // The rest of a short send, unless the connection is closing.
                if self.send.completed(n) && self.closing.is_none() {
                    let token = self.token(Kind::Send, slot);
                    ring.send(self.fd, &mut self.send, token)?;
                }
                Ok(n)
            }
            _ => {
                tracing::debug!(peer = %self.life.peer, result = res, "send failed");
                self.send.failed();
                self.life.send_lost();
                self.life.break_off();
                Ok(0)
            }
        }
    }

    /// Our side is done with the peer: shut the write side (the lifecycle
    /// lingers, or the connection is closing).
    pub(super) fn half_close(&self) {
        let _ = self.sock.shutdown(How::Write);
    }

    /// Starts the close: stops both operations (their final completions come later).
    pub(super) fn begin_close(&mut self, ring: &mut Ring, slot: usize, why: &'static str) -> io::Result<()> {
        if self.closing.is_none() {
            self.closing = Some(why);
            if !matches!(self.life.phase(), Phase::Lingering { .. }) {
                tracing::debug!(peer = %self.life.peer, "shutdown(write)");
                self.half_close();
            }
            if self.send.is_frozen() {
                ring.cancel(self.token(Kind::Send, slot))?;
            }
        }
        self.cancel_recv(ring, slot)
    }

    /// Whether a closing connection may go: no operation of its own is in flight.
    pub(super) fn may_go(&self) -> bool {
        self.closing.is_some() && !self.send.is_frozen() && self.recv == Recv::Idle
    }
}

/// The ring's connections, keyed by slot (the `slot` of their tokens), each
/// with the generation that tells it from a slot's earlier tenant.
#[derive(Default)]
pub(super) struct Conns {
    slab: Slab<UConn>,
    /// The generation the next connection gets.
    next_generation: u32,
}

impl Conns {
    /// Adds a connection; returns its slot and generation.
    pub(super) fn insert(&mut self, sock: Stream, life: Lifecycle) -> (usize, u32) {
        self.next_generation = (self.next_generation + 1) & GENERATION_MASK;
        let generation = self.next_generation;
        (self.slab.insert(UConn::new(sock, life, generation)), generation)
    }

    /// The slot a completion is for, if it still holds the connection it was submitted for.
    pub(super) fn slot_for(&self, t: Token) -> Option<usize> {
        let key = usize::try_from(t.slot).ok()?;
        self.slab.get(key).filter(|c| c.generation == t.generation).map(|_| key)
    }

    /// The connection in `key`, if it is of `generation`.
    pub(super) fn of_generation(&mut self, key: usize, generation: u64) -> Option<&mut UConn> {
        self.slab.get_mut(key).filter(|c| u64::from(c.generation) == generation)
    }

    /// The connection in `key`.
    pub(super) fn get_mut(&mut self, key: usize) -> Option<&mut UConn> {
        self.slab.get_mut(key)
    }

    /// Removes the connection in `key` if it is closing and none of its
    /// operations is in flight.
    pub(super) fn remove_if_idle(&mut self, key: usize) -> Option<UConn> {
        if !self.slab.get(key).is_some_and(UConn::may_go) {
            return None;
        }
        Some(self.slab.remove(key))
    }

    /// How many there are.
    pub(super) fn len(&self) -> usize {
        self.slab.len()
    }

    /// Whether there are none.
    pub(super) fn is_empty(&self) -> bool {
        self.slab.is_empty()
    }

    /// Every slot (taken, so the caller may change the table while it goes through them).
    pub(super) fn keys(&self) -> Vec<usize> {
        self.slab.iter().map(|(k, _)| k).collect()
    }

    /// The connections not closing, with their slots.
    pub(super) fn live(&self) -> impl Iterator<Item = (usize, &UConn)> {
        self.slab.iter().filter(|(_, c)| c.closing().is_none())
    }
}
