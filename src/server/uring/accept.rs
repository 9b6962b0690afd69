//! Accepting in the ring: one multishot accept on the listener, completing
//! once per connection until cancelled; stopped at this ring's share of the
//! connection cap and on running out of descriptors (EMFILE), re-armed when
//! a connection closes or the pause is over. (Connections the kernel
//! accepted before a cancel lands are still served: the cap can be passed
//! by the few completions already on their way.)

use super::token::{GENERATION_MASK, Kind};
use super::worker::{Recv, UConn, Worker, errno, token};
use crate::conn::{Stream, canonical};
use crate::proto::ConnInfo;
use crate::server::accept::{AcceptError, PAUSE, classify};
use crate::server::core::Core;
use crate::server::peer_label;
use io_uring::opcode;
use io_uring::types::Fd;
use nix::errno::Errno;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd};
use std::time::{Instant, SystemTime};

impl Worker<'_> {
    // ----- accepting -----

    fn may_accept(&self) -> bool {
        self.listener.is_some() && self.stop_by.is_none() && self.accept_resume.is_none() && !self.accept_blocked
    }

    /// Arms the multishot accept, when accepting is allowed and it is not armed.
    pub(super) fn arm_accept(&mut self) -> io::Result<()> {
        let Some(fd) = self.listener.as_ref().map(|l| l.as_fd().as_raw_fd()) else {
            return Ok(());
        };
        if self.accept_armed || !self.may_accept() {
            return Ok(());
        }
        tracing::debug!("submit accept (multishot)");
        let entry = opcode::AcceptMulti::new(Fd(fd))
            .build()
            .user_data(token(Kind::Accept, 0, 0));
        self.push_plain(&entry)?;
        self.accept_armed = true;
        self.ops += 1;
        Ok(())
    }

    /// Stops the multishot accept (its last completion comes later).
    pub(super) fn cancel_accept(&mut self) -> io::Result<()> {
        if self.accept_armed && !self.accept_cancelled {
            self.accept_cancelled = true;
            tracing::debug!("submit cancel (accept)");
            let entry = opcode::AsyncCancel::new(token(Kind::Accept, 0, 0))
                .build()
                .user_data(token(Kind::Cancel, 0, 0));
            self.push_plain(&entry)?;
        }
        Ok(())
    }

    pub(super) fn on_accept(&mut self, res: i32, more: bool) -> io::Result<()> {
        if !more {
            self.accept_armed = false;
            self.accept_cancelled = false;
            self.ops -= 1;
        }
        if res >= 0 {
            // SAFETY: a successful accept completion hands over a new
            // descriptor that nothing else owns.
            let sock = unsafe {
                if self.unix {
                    Stream::Unix(std::os::unix::net::UnixStream::from_raw_fd(res))
                } else {
                    Stream::Tcp(std::net::TcpStream::from_raw_fd(res))
                }
            };
            self.accepted(sock)?;
        } else if errno(res) != Errno::ECANCELED {
            let e = io::Error::from_raw_os_error(-res);
            match classify(&e) {
                AcceptError::Skip => tracing::debug!(error = %e, "accept skipped"),
                AcceptError::Pause => {
                    tracing::warn!(error = %e, "accept failed, pausing");
                    self.accept_resume = Some(Instant::now() + PAUSE);
                    self.cancel_accept()?;
                }
                AcceptError::Fatal => return Err(e),
            }
        }
        self.arm_accept()
    }

    fn accepted(&mut self, sock: Stream) -> io::Result<()> {
        if self.stop_by.is_some() || !self.ctx.claim_accept() {
            // --exit-after is used up (or shutting down): this one is turned away.
            self.listener = None;
            return self.cancel_accept();
        }
        let peer = match &sock {
            Stream::Tcp(s) => s.peer_addr().ok().map(canonical),
            Stream::Unix(_) => None,
        };
        if self.ctx.cfg.nodelay {
            let _ = sock.set_nodelay();
        }
        self.open(sock, peer)?;
        if self.conns.len() >= self.cap {
            crate::server::log_cap(true, self.cap);
            self.accept_blocked = true;
            self.cancel_accept()?;
        }
        Ok(())
    }

    fn open(&mut self, sock: Stream, peer: Option<std::net::SocketAddr>) -> io::Result<()> {
        let info = ConnInfo {
            peer,
            accepted_at: SystemTime::now(),
        };
        let label = peer_label(peer);
        tracing::debug!(peer = %label, fd = sock.as_fd().as_raw_fd(), "complete accept");
        tracing::info!(peer = %label, "connection opened");
        self.next_generation = (self.next_generation + 1) & GENERATION_MASK;
        let generation = self.next_generation;
        let (core, timer) = Core::start((self.ctx.factory)(&info), label, self.ctx.cfg.delay, self.now);
        let key = self.conns.insert(UConn {
            fd: sock.as_fd().as_raw_fd(),
            sock,
            core,
            generation,
            recv: Recv::Idle,
            send_buf: Vec::new(),
            send_off: 0,
            sending: false,
            closing: None,
        });
        if let Some(at) = timer {
            self.timers.push_back((at, key, u64::from(generation)));
        }
        self.step_done(key)
    }
}
