//! One shutdown path for every server: SIGINT, SIGTERM or `--exit-after`.
//!
//! A signal-hook flag alone is not enough: a thread asleep in `accept()` or
//! `recv()` never looks at it. So the handle is a self-pipe (a Unix socket
//! pair). Signals write a byte into it from the handler (async-signal-safe),
//! and [`Shutdown::trigger`] does the same from code. Nobody ever drains it, so
//! once written it stays readable for everyone: each blocking wait polls the
//! pipe beside its own socket ([`Shutdown::wait`]), and the poll mode registers
//! it with mio like any other source.

use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How long in-flight replies may take to finish once shutdown starts.
pub const GRACE: Duration = Duration::from_secs(2);

/// A cloneable handle: every clone sees the same shutdown.
#[derive(Debug, Clone)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Set by the signal handlers and by [`Shutdown::trigger`], and once a
    /// wait sees the pipe: later checks cost no system call.
    flag: Arc<AtomicBool>,
    /// The read end: readable forever once shutdown started.
    rx: UnixStream,
    /// The write end, for [`Shutdown::trigger`].
    tx: UnixStream,
}

/// What a [`Shutdown::wait`] woke up for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// The socket is ready.
    Ready,
    /// Shutdown started.
    Shutdown,
    /// The timeout passed first.
    Timeout,
}

impl Shutdown {
    /// A handle that nothing has triggered yet, with no signal handlers.
    ///
    /// # Errors
    /// When the socket pair cannot be created.
    pub fn new() -> io::Result<Self> {
        let (rx, tx) = UnixStream::pair()?;
        tx.set_nonblocking(true)?;
        Ok(Shutdown {
            inner: Arc::new(Inner {
                flag: Arc::new(AtomicBool::new(false)),
                rx,
                tx,
            }),
        })
    }

    /// A handle that SIGINT and SIGTERM trigger: what every server starts with.
    ///
    /// # Errors
    /// When the pipe or the handlers cannot be set up.
    pub fn with_signals() -> io::Result<Self> {
        let shutdown = Shutdown::new()?;
        shutdown.on_signals()?;
        Ok(shutdown)
    }

    /// Makes SIGINT and SIGTERM trigger this handle.
    ///
    /// # Errors
    /// When the handlers cannot be registered.
    pub fn on_signals(&self) -> io::Result<()> {
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register(sig, Arc::clone(&self.inner.flag))?;
            signal_hook::low_level::pipe::register(sig, self.inner.tx.try_clone()?)?;
        }
        Ok(())
    }

    /// Starts the shutdown: wakes every waiter.
    pub fn trigger(&self) {
        self.inner.flag.store(true, Ordering::SeqCst);
        // A full pipe is already readable, which is all a waiter needs.
        let _ = (&self.inner.tx).write(&[1]);
    }

    /// Whether shutdown has started (by a signal or by [`Shutdown::trigger`]).
    pub fn is_triggered(&self) -> bool {
        if self.inner.flag.load(Ordering::Relaxed) {
            return true;
        }
        matches!(self.wait_fds(None, Some(Duration::ZERO)), Ok(Wake::Shutdown))
    }

    /// Whether this process has seen the shutdown start, without a system
    /// call: for hot loops that cannot afford a poll per iteration. (A
    /// forked child learns of its parent's trigger only from the pipe: use
    /// [`Shutdown::is_triggered`] there.)
    pub fn flagged(&self) -> bool {
        self.inner.flag.load(Ordering::Relaxed)
    }

    /// The pipe's read end, to register in an event loop.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.inner.rx.as_fd()
    }

    /// Blocks until `fd` is readable, shutdown starts, or `timeout` passes.
    ///
    /// # Errors
    /// When `poll` itself fails (not on `EINTR`, which is retried).
    pub fn wait(&self, fd: BorrowedFd<'_>, timeout: Option<Duration>) -> io::Result<Wake> {
        self.wait_fds(Some(fd), timeout)
    }

    /// Sleeps for `d` unless shutdown starts first; returns true if it did.
    pub fn sleep(&self, d: Duration) -> bool {
        !matches!(self.wait_fds(None, Some(d)), Ok(Wake::Timeout))
    }

    fn wait_fds(&self, fd: Option<BorrowedFd<'_>>, timeout: Option<Duration>) -> io::Result<Wake> {
        let pipe = self.inner.rx.as_fd();
        let ready = match fd {
            Some(fd) => crate::net::poll_readable([pipe, fd], timeout)?,
            None => crate::net::poll_readable([pipe], timeout)?,
        };
        Ok(match ready {
            None => Wake::Timeout,
            Some(0) => {
                self.inner.flag.store(true, Ordering::SeqCst);
                Wake::Shutdown
            }
            Some(_) => Wake::Ready,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::thread;
    use std::time::Instant;

    #[test]
    fn trigger_wakes_a_thread_blocked_on_a_silent_socket() {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let sd = Shutdown::new().expect("pipe");
        let waiter = {
            let sd = sd.clone();
            thread::spawn(move || sd.wait(sock.as_fd(), Some(Duration::from_secs(20))))
        };
        thread::sleep(Duration::from_millis(50));
        let start = Instant::now();
        sd.trigger();
        let woke = waiter.join().expect("join").expect("poll");
        assert_eq!(woke, Wake::Shutdown);
        assert!(start.elapsed() < Duration::from_secs(5));
        assert!(sd.is_triggered());
    }

    #[test]
    fn ready_and_timeout() {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let sd = Shutdown::new().expect("pipe");
        assert_eq!(
            sd.wait(sock.as_fd(), Some(Duration::from_millis(10))).ok(),
            Some(Wake::Timeout)
        );
        sock.send_to(b"x", sock.local_addr().expect("addr")).expect("send");
        assert_eq!(
            sd.wait(sock.as_fd(), Some(Duration::from_secs(5))).ok(),
            Some(Wake::Ready)
        );
        assert!(!sd.is_triggered());
        assert!(!sd.sleep(Duration::from_millis(1)));
    }
}
