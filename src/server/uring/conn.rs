//! One connection's operations in the ring: arming and cancelling its
//! multishot receive, its one send in flight, and the close that waits for
//! both to be over before the socket goes.
//!
//! After every step the connection is brought back in line with its
//! [`Core`](crate::server::core::Core): a receive is armed exactly while the
//! core wants input (not paused, not done), a send is in flight while
//! replies are pending, and the core's `next()` decides half-close or close.

use super::token::{Kind, Token};
use super::worker::{Recv, Worker, errno, token};
use crate::server::LINGER;
use crate::server::core::{Next, Phase};
use io_uring::opcode;
use io_uring::types::Fd;
use nix::errno::Errno;
use std::io;
use std::net::Shutdown as How;
use std::time::Instant;

impl Worker<'_> {
    /// The connection a completion is for, if it is still the one it was submitted for.
    fn conn_for(&self, t: Token) -> Option<usize> {
        let key = usize::try_from(t.slot).ok()?;
        self.conns
            .get(key)
            .filter(|c| c.generation == t.generation)
            .map(|_| key)
    }

    /// Arms the multishot receive into the buffer ring.
    fn arm_recv(&mut self, key: usize) -> io::Result<()> {
        let group = self.bufs.bgid;
        let Some(c) = self.conns.get_mut(key) else {
            return Ok(());
        };
        tracing::debug!(peer = %c.core.peer, "submit recv (multishot)");
        let entry = opcode::RecvMulti::new(Fd(c.fd), group)
            .build()
            .user_data(token(Kind::Recv, c.generation, key));
        c.recv = Recv::Armed;
        self.ops += 1;
        self.push_plain(&entry)
    }

    /// Asks the kernel to end the receive; data it already took still comes.
    fn cancel_recv(&mut self, key: usize) -> io::Result<()> {
        let Some(c) = self.conns.get_mut(key) else {
            return Ok(());
        };
        if c.recv != Recv::Armed {
            return Ok(());
        }
        tracing::debug!(peer = %c.core.peer, "submit cancel (recv)");
        c.recv = Recv::Cancelling;
        let entry = opcode::AsyncCancel::new(token(Kind::Recv, c.generation, key))
            .build()
            .user_data(token(Kind::Cancel, 0, 0));
        self.push_plain(&entry)
    }

    pub(super) fn on_recv(&mut self, t: Token, res: i32, more: bool, bid: Option<u16>) -> io::Result<()> {
        let Some(key) = self.conn_for(t) else { return Ok(()) };
        let now = self.now;
        if !more {
            if let Some(c) = self.conns.get_mut(key) {
                c.recv = Recv::Idle;
            }
            self.ops -= 1;
        }
        let timer = match (res, bid) {
            (n, Some(bid)) if n > 0 => {
                let data = self.bufs.buffer(bid, usize::try_from(n).unwrap_or(0));
                self.ctx.stats.add_in(data.len());
                let Some(c) = self.conns.get_mut(key) else {
                    return Ok(());
                };
                tracing::debug!(peer = %c.core.peer, bytes = n, "complete recv");
                c.core.received(data, now)
            }
            (0, _) => {
                let Some(c) = self.conns.get_mut(key) else {
                    return Ok(());
                };
                tracing::debug!(peer = %c.core.peer, "complete recv: 0 bytes (EOF)");
                c.core.input_ended(now)
            }
            (n, _) if n < 0 && errno(n) == Errno::ENOBUFS => {
                // The ring is short of buffers for this batch: re-armed after it.
                self.enobufs += 1;
                self.rearm.push((key, t.generation));
                None
            }
            (n, _) if n < 0 && errno(n) == Errno::ECANCELED => None,
            (n, _) => {
                if let Some(c) = self.conns.get_mut(key) {
                    tracing::debug!(peer = %c.core.peer, error = %io::Error::from_raw_os_error(-n), "recv failed");
                    c.core.break_off();
                }
                None
            }
        };
        self.set_timer(key, timer);
        self.step_done(key)
    }

    fn set_timer(&mut self, key: usize, at: Option<Instant>) {
        if let (Some(at), Some(c)) = (at, self.conns.get(key)) {
            self.timers.push_back((at, key, u64::from(c.generation)));
        }
    }

    /// Sends the next pending bytes, if no send is in flight.
    fn start_send(&mut self, key: usize) -> io::Result<()> {
        let Some(c) = self.conns.get_mut(key) else {
            return Ok(());
        };
        if c.sending || c.core.out.is_empty() || c.core.phase() == Phase::Broken {
            return Ok(());
        }
        c.core.take_send(&mut c.send_buf);
        c.send_off = 0;
        self.submit_send(key)
    }

    /// Submits the unsent rest of the connection's send buffer.
    fn submit_send(&mut self, key: usize) -> io::Result<()> {
        let Some(c) = self.conns.get_mut(key) else {
            return Ok(());
        };
        let rest = c.send_buf.get(c.send_off..).unwrap_or_default();
        let len = u32::try_from(rest.len()).unwrap_or(u32::MAX);
        tracing::debug!(peer = %c.core.peer, bytes = len, "submit send");
        let entry =
            opcode::Send::new(Fd(c.fd), rest.as_ptr(), len)
                .build()
                .user_data(token(Kind::Send, c.generation, key));
        c.sending = true;
        self.ops += 1;
        // Only the send's completion clears `sending`.
        // SAFETY: `send_buf` is owned by this connection, neither dropped nor changed while `sending`.
        unsafe { self.push(&entry) }
    }

    pub(super) fn on_send(&mut self, t: Token, res: i32) -> io::Result<()> {
        self.ops -= 1;
        let Some(key) = self.conn_for(t) else { return Ok(()) };
        let Some(c) = self.conns.get_mut(key) else {
            return Ok(());
        };
        c.sending = false;
        match usize::try_from(res) {
            Ok(n) if n > 0 => {
                tracing::debug!(peer = %c.core.peer, bytes = n, "complete send");
                c.core.send_done(n, self.now);
                self.ctx.stats.add_out(n);
                c.send_off += n;
                if c.send_off < c.send_buf.len() {
                    // A short send: the rest, from the same frozen buffer.
                    return self.submit_send(key);
                }
                c.send_buf.clear();
                if c.send_buf.capacity() > crate::server::HIGH_WATER {
                    // One huge reply must not cost the connection that much for ever.
                    c.send_buf = Vec::new();
                }
            }
            _ => {
                tracing::debug!(peer = %c.core.peer, result = res, "send failed");
                c.core.send_lost();
                c.core.break_off();
            }
        }
        self.step_done(key)
    }

    /// After any step: send what is pending, arm or cancel the receive as the
    /// core now wants, then half-close or close when its work is done.
    pub(super) fn step_done(&mut self, key: usize) -> io::Result<()> {
        self.start_send(key)?;
        let Some(c) = self.conns.get_mut(key) else {
            return Ok(());
        };
        c.core.update_pause();
        let wants = c.core.wants_read() && c.closing.is_none();
        match (wants, c.recv) {
            (true, Recv::Idle) if !self.rearm.iter().any(|&(k, _)| k == key) => self.arm_recv(key)?,
            (false, Recv::Armed) => self.cancel_recv(key)?,
            _ => {}
        }
        self.settle(key)
    }

    fn settle(&mut self, key: usize) -> io::Result<()> {
        let now = self.now;
        let Some(c) = self.conns.get_mut(key) else {
            return Ok(());
        };
        if c.closing.is_none() {
            match c.core.next(now) {
                Next::Keep => return Ok(()),
                Next::HalfClose => {
                    tracing::debug!(peer = %c.core.peer, "shutdown(write)");
                    let _ = c.sock.shutdown(How::Write);
                    self.next_sweep = self.next_sweep.min(now + LINGER);
                    return Ok(());
                }
                Next::Close => {
                    let why = if c.core.phase() == Phase::Broken {
                        "error"
                    } else {
                        "done"
                    };
                    return self.close(key, why);
                }
            }
        }
        self.finalize_if_idle(key);
        Ok(())
    }

    /// Ends the connection: its operations are stopped, and the socket goes
    /// once the last of their completions has come.
    pub(super) fn close(&mut self, key: usize, why: &'static str) -> io::Result<()> {
        let Some(c) = self.conns.get_mut(key) else {
            return Ok(());
        };
        if c.closing.is_none() {
            c.closing = Some(why);
            if !matches!(c.core.phase(), Phase::Lingering { .. }) {
                tracing::debug!(peer = %c.core.peer, "shutdown(write)");
                let _ = c.sock.shutdown(How::Write);
            }
        }
        if c.sending {
            let entry = opcode::AsyncCancel::new(token(Kind::Send, c.generation, key))
                .build()
                .user_data(token(Kind::Cancel, 0, 0));
            self.push_plain(&entry)?;
        }
        self.cancel_recv(key)?;
        self.finalize_if_idle(key);
        Ok(())
    }

    /// Drops a closing connection whose operations are all over.
    fn finalize_if_idle(&mut self, key: usize) {
        let Some(c) = self.conns.get(key) else { return };
        let Some(why) = c.closing else { return };
        if c.sending || c.recv != Recv::Idle {
            return;
        }
        let c = self.conns.remove(key);
        tracing::debug!(peer = %c.core.peer, "close");
        tracing::info!(
            peer = %c.core.peer,
            bytes_in = c.core.bytes_in,
            bytes_out = c.core.bytes_out,
            duration = ?c.core.opened.elapsed(),
            why,
            "connection closed"
        );
        drop(c);
        self.ctx.finish_connection();
        if self.accept_blocked && self.conns.len() < self.cap {
            self.accept_blocked = false;
            crate::server::log_cap(false, self.cap);
            if let Err(e) = self.arm_accept() {
                tracing::error!(error = %e, "cannot accept again");
                self.ctx.shutdown.trigger();
            }
        }
    }

    /// Re-arms the receives that found no buffer, now that the batch gave them back.
    pub(super) fn rearm_after_batch(&mut self) -> io::Result<()> {
        for (key, generation) in std::mem::take(&mut self.rearm) {
            if self.conns.get(key).is_some_and(|c| c.generation == generation) {
                tracing::debug!("out of receive buffers for a moment (ENOBUFS): re-arming");
                self.step_done(key)?;
            }
        }
        Ok(())
    }
}
