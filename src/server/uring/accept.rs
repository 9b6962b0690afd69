//! The listener and its multishot accept: one submission that keeps
//! completing, one connection each time, until it is cancelled or fails
//! (EMFILE). It is stopped at this ring's share of the connection cap and on
//! running out of descriptors, and armed again when a connection closes or
//! the pause is over. (Connections the kernel accepted before a cancel lands
//! are still served: the cap can be passed by the few completions already
//! on their way.)

use super::ring::{Completion, Ring};
use super::token::{Kind, Token};
use crate::conn::{Listener, Stream};
use crate::server::event_loop::{AcceptFailed, LoopPolicy};
use nix::errno::Errno;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd};
use std::time::Instant;

const TOKEN: Token = Token {
    kind: Kind::Accept,
    generation: 0,
    slot: 0,
};

/// The listening socket and the state of its accept.
pub(super) struct Acceptor {
    /// `None` once accepting has stopped for good (the last completion may still come).
    listener: Option<Listener>,
    /// The listener is a Unix socket (accepted sockets are Unix streams).
    unix: bool,
    /// The multishot accept is armed.
    armed: bool,
    /// A cancel of the armed accept is on its way.
    cancelling: bool,
}

impl Acceptor {
    pub(super) fn new(listener: Listener) -> Self {
        Acceptor {
            unix: matches!(listener, Listener::Unix(_)),
            listener: Some(listener),
            armed: false,
            cancelling: false,
        }
    }

    /// Arms the multishot accept when the policy allows another connection
    /// (`live` are open) and it is not armed already.
    pub(super) fn arm(&mut self, ring: &mut Ring, policy: &mut LoopPolicy<'_>, live: usize) -> io::Result<()> {
        let Some(fd) = self.listener.as_ref().map(|l| l.as_fd().as_raw_fd()) else {
            return Ok(());
        };
        if self.armed || !policy.may_accept(live) {
            return Ok(());
        }
        ring.accept_multi(fd, TOKEN)?;
        self.armed = true;
        Ok(())
    }

    /// Stops the multishot accept (its last completion comes later).
    pub(super) fn cancel(&mut self, ring: &mut Ring) -> io::Result<()> {
        if self.armed && !self.cancelling {
            self.cancelling = true;
            tracing::debug!("submit cancel (accept)");
            ring.cancel(TOKEN)?;
        }
        Ok(())
    }

    /// Stops accepting for good: cancels, and gives up the listener.
    ///
    /// The listening socket stays open while the accept may still complete:
    /// it is closed only with this acceptor, after the ring has drained.
    pub(super) fn stop(&mut self, ring: &mut Ring) -> io::Result<()> {
        self.cancel(ring)?;
        if !self.armed {
            self.listener = None;
        }
        Ok(())
    }

    /// Whether the accept's final completion is still to come.
    pub(super) fn is_armed(&self) -> bool {
        self.armed
    }

    /// An accept completion: the new socket, if one came. Errors go through
    /// the loop's accept policy (a pause cancels the accept until it ends).
    ///
    /// # Errors
    /// A fatal accept error: the listener is broken.
    pub(super) fn completed(
        &mut self,
        c: &Completion,
        ring: &mut Ring,
        policy: &mut LoopPolicy<'_>,
        now: Instant,
    ) -> io::Result<Option<Stream>> {
        if !c.more {
            self.armed = false;
            self.cancelling = false;
        }
        if c.res >= 0 {
            // SAFETY: a successful accept completion hands over a new
            // descriptor that nothing else owns.
            let sock = unsafe {
                if self.unix {
                    Stream::Unix(std::os::unix::net::UnixStream::from_raw_fd(c.res))
                } else {
                    Stream::Tcp(std::net::TcpStream::from_raw_fd(c.res))
                }
            };
            return Ok(Some(sock));
        }
        if Errno::from_raw(-c.res) != Errno::ECANCELED
            && policy.accept_failed(io::Error::from_raw_os_error(-c.res), now)? == AcceptFailed::Paused
        {
            self.cancel(ring)?;
        }
        Ok(None)
    }
}
