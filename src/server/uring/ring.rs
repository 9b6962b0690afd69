//! The ring and everything submitted to it: the only place an entry is
//! pushed. Each kind of operation has its own constructor, so what an entry
//! may point at is decided here, not by each caller:
//! - [`Ring::accept_multi`], [`Ring::recv_multi`], [`Ring::poll_add`] and
//!   [`Ring::cancel`] name file descriptors only (and, for the receive, a
//!   buffer group the worker registered for the ring's life);
//! - [`Ring::send`] names the bytes of a [`SendBuf`], which freezes itself
//!   until the send's completion: nothing can change or free those bytes
//!   while the kernel may read them (a frozen buffer that is dropped leaks
//!   its memory rather than free it).
//!
//! The ring also counts the operations in flight: one more per push, one
//! less per final completion (a CQE without `F_MORE`), in [`Ring::reap`]
//! alone. A loop may end only when the count is zero, or leak what the
//! operations still name.
//!
//! The descriptors named stay open until the operations end: a connection's
//! socket is closed only once its last completion has come (`conn.rs`).

use super::token::{Kind, Token};
use io_uring::types::{Fd, SubmitArgs, Timespec};
use io_uring::{IoUring, cqueue, opcode, squeue};
use nix::errno::Errno;
use std::collections::VecDeque;
use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

/// The bytes of a connection's send: filled while idle, frozen from the
/// send's submission to its completion.
#[derive(Debug, Default)]
pub struct SendBuf {
    bytes: Vec<u8>,
    /// How much the kernel has sent.
    off: usize,
    /// Submitted and not completed: the kernel may be reading `bytes`.
    frozen: bool,
}

impl SendBuf {
    /// A send is in flight.
    pub fn is_frozen(&self) -> bool {
        self.frozen
    }

    /// Refills an idle buffer with `fill` (the next write's bytes); false
    /// while a send is in flight or when there is nothing to send.
    pub fn refill(&mut self, fill: impl FnOnce(&mut Vec<u8>)) -> bool {
        if self.frozen {
            return false;
        }
        fill(&mut self.bytes);
        self.off = 0;
        !self.bytes.is_empty()
    }

    /// The send completed with `n` bytes sent; returns whether some are left
    /// (a short send, resubmitted from the same bytes).
    pub fn completed(&mut self, n: usize) -> bool {
        self.frozen = false;
        self.off = (self.off + n).min(self.bytes.len());
        if self.off < self.bytes.len() {
            return true;
        }
        self.bytes.clear();
        if self.bytes.capacity() > crate::server::HIGH_WATER {
            // One huge reply must not cost the connection that much for ever.
            self.bytes = Vec::new();
        }
        false
    }

    /// The send failed: its bytes are owed to nobody now.
    pub fn failed(&mut self) {
        self.frozen = false;
        self.bytes.clear();
        self.off = 0;
    }

    fn rest(&self) -> &[u8] {
        // off ≤ bytes.len(): `completed` clamps it.
        self.bytes.get(self.off..).unwrap_or_default()
    }
}

impl Drop for SendBuf {
    fn drop(&mut self) {
        if self.frozen {
            // The kernel may still read these bytes: never give them back.
            std::mem::forget(std::mem::take(&mut self.bytes));
        }
    }
}

/// One completion: what it was for, its result, and its flags.
#[derive(Debug, Clone, Copy)]
pub struct Completion {
    /// The decoded `user_data` (`None`: not ours to look up).
    pub token: Option<Token>,
    /// The result (bytes, a descriptor, or a negative errno).
    pub res: i32,
    /// More completions of this operation follow (multishot).
    pub more: bool,
    /// The provided buffer it filled, if any (given back by the worker).
    pub buffer: Option<u16>,
}

/// The ring, its queue of submissions that did not fit, and the count of
/// operations in flight.
pub struct Ring {
    ring: IoUring,
    /// Submissions that found the queue full and the kernel busy; pushed first thing next turn.
    deferred: VecDeque<squeue::Entry>,
    /// Operations whose final completion has not come.
    in_flight: usize,
    /// Completions the kernel held back because the completion queue was full.
    overflowed: u64,
}

impl Ring {
    /// Takes over a built ring.
    pub fn new(ring: IoUring) -> Self {
        Ring {
            ring,
            deferred: VecDeque::new(),
            in_flight: 0,
            overflowed: 0,
        }
    }

    /// For registering the buffer ring.
    pub fn submitter(&self) -> io_uring::Submitter<'_> {
        self.ring.submitter()
    }

    /// Operations whose final completion has not come.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Completions the kernel had to hold back so far (a ring too small for the load).
    pub fn overflowed(&self) -> u64 {
        self.overflowed
    }

    /// A multishot accept on the listener `fd`.
    pub fn accept_multi(&mut self, fd: RawFd, token: Token) -> io::Result<()> {
        tracing::debug!("submit accept (multishot)");
        let entry = opcode::AcceptMulti::new(Fd(fd)).build();
        // SAFETY: the entry names a descriptor only; the listener outlives
        // the accept (the worker owns it until the final completion).
        unsafe { self.push(entry, token) }
    }

    /// A multishot receive on `fd` into the provided buffers of `group`.
    pub fn recv_multi(&mut self, fd: RawFd, group: u16, token: Token) -> io::Result<()> {
        let entry = opcode::RecvMulti::new(Fd(fd), group).build();
        // The entry names a descriptor and a buffer group; the group's
        // memory is registered for the ring's life (freed only after it is
        // unregistered with nothing in flight), the socket stays open until
        // the receive's final completion.
        // SAFETY: the buffer group and the socket outlive the receive (see above).
        unsafe { self.push(entry, token) }
    }

    /// A one-shot poll for input on `fd` (the shutdown pipe).
    pub fn poll_add(&mut self, fd: RawFd, token: Token) -> io::Result<()> {
        let entry = opcode::PollAdd::new(Fd(fd), nix::poll::PollFlags::POLLIN.bits() as u32).build();
        // SAFETY: the entry names a descriptor only, owned by the server's
        // shutdown handle for longer than any worker runs.
        unsafe { self.push(entry, token) }
    }

    /// Asks the kernel to end the operation `target` (its final completion still comes).
    pub fn cancel(&mut self, target: Token) -> io::Result<()> {
        let entry = opcode::AsyncCancel::new(target.encode()).build();
        let own = Token {
            kind: Kind::Cancel,
            generation: 0,
            slot: 0,
        };
        // SAFETY: a cancel names another operation's user_data, no memory.
        unsafe { self.push(entry, own) }
    }

    /// Sends the unsent rest of `buf` on `fd`, freezing it until the completion.
    pub fn send(&mut self, fd: RawFd, buf: &mut SendBuf, token: Token) -> io::Result<()> {
        let rest = buf.rest();
        let len = u32::try_from(rest.len()).unwrap_or(u32::MAX);
        tracing::debug!(bytes = len, "submit send");
        let entry = opcode::Send::new(Fd(fd), rest.as_ptr(), len).build();
        buf.frozen = true;
        // The bytes belong to `buf`, now frozen: `refill` refuses to
        // touch them and a drop leaks them, until `completed` or `failed`
        // after this send's completion. Moving the `SendBuf` moves only the
        // vector's header, not the bytes the entry points at.
        // SAFETY: `buf` owns the bytes and keeps them frozen until this send completes (see above).
        unsafe { self.push(entry, token) }
    }

    /// Queues one submission; a full queue is submitted first, and when the
    /// kernel is too busy to take it (its completion queue overflowing), the
    /// entry waits in `deferred` for the next turn of the loop.
    ///
    /// # Safety
    /// Everything `entry` points to must stay valid until its final completion.
    unsafe fn push(&mut self, entry: squeue::Entry, token: Token) -> io::Result<()> {
        let entry = entry.user_data(token.encode());
        if self.deferred.is_empty() {
            // SAFETY: the caller keeps what the entry names valid (this fn's contract).
            if unsafe { self.ring.submission().push(&entry) }.is_ok() {
                self.in_flight += 1;
                return Ok(());
            }
            tracing::debug!("submission queue full: submitting");
            match self.ring.submit() {
                Ok(_) => {
                    // SAFETY: as above.
                    if unsafe { self.ring.submission().push(&entry) }.is_ok() {
                        self.in_flight += 1;
                        return Ok(());
                    }
                }
                Err(e) if matches!(errno(&e), Some(Errno::EBUSY | Errno::EINTR | Errno::EAGAIN)) => {}
                // Never queued: not counted, so the count stays what the kernel owes.
                Err(e) => return Err(e),
            }
        }
        // Counted once deferred: it will be submitted before the ring is left.
        self.in_flight += 1;
        self.deferred.push_back(entry);
        Ok(())
    }

    /// Submits what is queued (the deferred entries first, as far as they
    /// fit) and waits for a completion or `timeout`.
    ///
    /// # Errors
    /// When `io_uring_enter` fails for another reason than a timeout, a
    /// signal or a full completion queue.
    pub fn submit_and_wait(&mut self, timeout: Duration) -> io::Result<()> {
        while let Some(entry) = self.deferred.front() {
            // SAFETY: each deferred entry came through `push`, whose contract
            // its owner still keeps (the operation has not even started).
            if unsafe { self.ring.submission().push(entry) }.is_err() {
                break;
            }
            self.deferred.pop_front();
        }
        let ts = Timespec::from(timeout);
        let args = SubmitArgs::new().timespec(&ts);
        match self.ring.submitter().submit_with_args(1, &args) {
            Ok(_) => Ok(()),
            // A timeout, a signal, or a full completion queue to reap: all normal.
            Err(e)
                if matches!(
                    errno(&e),
                    Some(Errno::ETIME | Errno::EINTR | Errno::EBUSY | Errno::EAGAIN)
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Moves the completions that are there into `into`, counting each
    /// final one off the operations in flight (the one place that does).
    pub fn reap(&mut self, into: &mut Vec<Completion>) {
        into.clear();
        let mut cq = self.ring.completion();
        let overflow = u64::from(cq.overflow());
        for cqe in &mut cq {
            let flags = cqe.flags();
            let more = cqueue::more(flags);
            if !more {
                self.in_flight = self.in_flight.saturating_sub(1);
            }
            into.push(Completion {
                token: Token::decode(cqe.user_data()),
                res: cqe.result(),
                more,
                buffer: cqueue::buffer_select(flags),
            });
        }
        drop(cq);
        if overflow > self.overflowed {
            tracing::warn!(total = overflow, "the completion queue overflowed");
            self.overflowed = overflow;
        }
    }
}

fn errno(e: &io::Error) -> Option<Errno> {
    e.raw_os_error().map(Errno::from_raw)
}
