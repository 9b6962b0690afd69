//! Listening and connected sockets of either kind, TCP or Unix stream, behind
//! one type each, so every mode serves both the same way.

use std::io::{self, Read, Write};
use std::net::{Shutdown as How, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::Duration;

/// A bound, listening socket.
#[derive(Debug)]
pub enum Listener {
    /// A TCP listener.
    Tcp(TcpListener),
    /// A Unix stream listener (`--unix PATH`).
    Unix(UnixListener),
}

/// One accepted connection.
#[derive(Debug)]
pub enum Stream {
    /// A TCP connection.
    Tcp(TcpStream),
    /// A Unix stream connection.
    Unix(UnixStream),
}

impl Listener {
    /// Accepts one connection; the peer address is `None` for Unix peers.
    ///
    /// # Errors
    /// What `accept(2)` says; see [`crate::server::accept::classify`].
    pub fn accept(&self) -> io::Result<(Stream, Option<SocketAddr>)> {
        match self {
            // A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d; show them as IPv4.
            Listener::Tcp(l) => l.accept().map(|(s, a)| (Stream::Tcp(s), Some(canonical(a)))),
            Listener::Unix(l) => l.accept().map(|(s, _)| (Stream::Unix(s), None)),
        }
    }

    /// The address for the ready line: `IP:PORT`, `[IPv6]:PORT`, or the socket path.
    ///
    /// # Errors
    /// When the socket has no local address.
    pub fn local_display(&self) -> io::Result<String> {
        match self {
            Listener::Tcp(l) => Ok(l.local_addr()?.to_string()),
            Listener::Unix(l) => {
                let addr = l.local_addr()?;
                Ok(addr
                    .as_pathname()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "(unnamed)".into()))
            }
        }
    }

    /// Another handle to the same listening socket (for pool and poll workers).
    ///
    /// # Errors
    /// When the descriptor cannot be duplicated.
    pub fn try_clone(&self) -> io::Result<Listener> {
        Ok(match self {
            Listener::Tcp(l) => Listener::Tcp(l.try_clone()?),
            Listener::Unix(l) => Listener::Unix(l.try_clone()?),
        })
    }

    /// Non-blocking accept, so workers sharing a listener never sleep in `accept`
    /// after another worker took the connection.
    ///
    /// # Errors
    /// When `fcntl` fails.
    pub fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        match self {
            Listener::Tcp(l) => l.set_nonblocking(on),
            Listener::Unix(l) => l.set_nonblocking(on),
        }
    }
}

/// `[::ffff:127.0.0.1]:80` becomes `127.0.0.1:80`; everything else is unchanged.
pub fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Listener::Tcp(l) => l.as_fd(),
            Listener::Unix(l) => l.as_fd(),
        }
    }
}

impl Stream {
    /// Half-closes (`Write`), stops reading (`Read`) or both.
    ///
    /// # Errors
    /// When the socket is already gone.
    pub fn shutdown(&self, how: How) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.shutdown(how),
            Stream::Unix(s) => s.shutdown(how),
        }
    }

    /// Sets the read timeout (`None`: wait forever).
    ///
    /// # Errors
    /// When `setsockopt` fails.
    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(t),
            Stream::Unix(s) => s.set_read_timeout(t),
        }
    }

    /// Sets the write timeout (`None`: wait forever).
    ///
    /// # Errors
    /// When `setsockopt` fails.
    pub fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_write_timeout(t),
            Stream::Unix(s) => s.set_write_timeout(t),
        }
    }

    /// Blocking or non-blocking I/O.
    ///
    /// # Errors
    /// When `fcntl` fails.
    pub fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_nonblocking(on),
            Stream::Unix(s) => s.set_nonblocking(on),
        }
    }

    /// Turns Nagle's algorithm off on TCP: each reply leaves at once instead of
    /// waiting for the previous one's ACK. No-op on Unix sockets.
    ///
    /// # Errors
    /// When `setsockopt` fails.
    pub fn set_nodelay(&self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_nodelay(true),
            Stream::Unix(_) => Ok(()),
        }
    }

    /// Another handle to the same connection.
    ///
    /// # Errors
    /// When the descriptor cannot be duplicated.
    pub fn try_clone(&self) -> io::Result<Stream> {
        Ok(match self {
            Stream::Tcp(s) => Stream::Tcp(s.try_clone()?),
            Stream::Unix(s) => Stream::Unix(s.try_clone()?),
        })
    }
}

impl Read for &Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => (&*s).read(buf),
            Stream::Unix(s) => (&*s).read(buf),
        }
    }
}

impl Write for &Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => (&*s).write(buf),
            Stream::Unix(s) => (&*s).write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsFd for Stream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Stream::Tcp(s) => s.as_fd(),
            Stream::Unix(s) => s.as_fd(),
        }
    }
}

/// A non-blocking connection driven by a mio event loop (poll mode, bench).
#[derive(Debug)]
pub enum EventStream {
    /// A TCP connection.
    Tcp(mio::net::TcpStream),
    /// A Unix stream connection.
    Unix(mio::net::UnixStream),
}

impl EventStream {
    /// The socket's descriptor (for `sendfile`).
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            EventStream::Tcp(s) => s.as_fd(),
            EventStream::Unix(s) => s.as_fd(),
        }
    }

    /// The handle to register with a `mio::Poll`.
    pub fn source(&mut self) -> &mut dyn mio::event::Source {
        match self {
            EventStream::Tcp(s) => s,
            EventStream::Unix(s) => s,
        }
    }

    /// Reads what is there; `WouldBlock` when nothing is.
    ///
    /// # Errors
    /// As `read(2)`.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            EventStream::Tcp(s) => s.read(buf),
            EventStream::Unix(s) => s.read(buf),
        }
    }

    /// Writes what fits; `WouldBlock` when nothing does.
    ///
    /// # Errors
    /// As `write(2)`.
    pub fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            EventStream::Tcp(s) => s.write(buf),
            EventStream::Unix(s) => s.write(buf),
        }
    }

    /// Half-closes or closes.
    ///
    /// # Errors
    /// When the socket is already gone.
    pub fn shutdown(&self, how: How) -> io::Result<()> {
        match self {
            EventStream::Tcp(s) => s.shutdown(how),
            EventStream::Unix(s) => s.shutdown(how),
        }
    }
}
