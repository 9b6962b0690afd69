//! The TCP (or Unix stream) client: connect, then either send one message and
//! read to the end, or stream stdin and the socket both ways at once.
//!
//! The half-close (`shutdown(SHUT_WR)`) is the key move: it tells the server
//! "no more requests" while leaving the socket open to read the rest of the
//! reply. Streaming runs stdin → socket on its own thread, so a server that
//! talks first, or a reply that arrives while the user types, shows at once.

use crate::conn::Stream;
use crate::error::NetError;
use std::io::{self, Read, Write};
use std::net::{Shutdown as How, SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// Connects to the first address of `addrs` that accepts, in order.
///
/// # Errors
/// [`NetError::Refused`] when every address refuses; a timeout or other I/O error otherwise.
pub fn connect_tcp(addrs: &[SocketAddr], timeout: Option<Duration>) -> io::Result<Stream> {
    let mut last = io::Error::from(NetError::Refused);
    for addr in addrs {
        tracing::debug!(%addr, "socket(TCP) + connect");
        let attempt = match timeout {
            Some(t) => TcpStream::connect_timeout(addr, t),
            None => TcpStream::connect(addr),
        };
        match attempt {
            Ok(s) => {
                s.set_nodelay(true)?;
                return Ok(Stream::Tcp(s));
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => last = NetError::Refused.into(),
            Err(e) => last = io::Error::new(e.kind(), format!("cannot connect to {addr}: {e}")),
        }
    }
    Err(last)
}

/// Connects to the Unix stream socket at `path`.
///
/// # Errors
/// [`NetError::Refused`] when nothing listens there.
pub fn connect_unix(path: &Path) -> io::Result<Stream> {
    tracing::debug!(path = %path.display(), "socket(AF_UNIX) + connect");
    match UnixStream::connect(path) {
        Ok(s) => Ok(Stream::Unix(s)),
        Err(e) if matches!(e.kind(), io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound) => {
            Err(NetError::Refused.into())
        }
        Err(e) => Err(e),
    }
}

/// Sends `message`, half-closes, and copies everything the server sends to `out` until it closes.
///
/// # Errors
/// I/O errors; a read timeout when the server stays silent past `--timeout`.
pub fn one_shot(stream: &Stream, message: &[u8], out: &mut dyn Write) -> io::Result<u64> {
    let mut sock = stream;
    match sock.write_all(message) {
        Ok(()) => tracing::debug!(bytes = message.len(), "send"),
        // The server may close before reading everything (hello, time): still print its reply.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe || e.kind() == io::ErrorKind::ConnectionReset => {
            tracing::debug!(error = %e, "send cut short by the server");
        }
        Err(e) => return Err(e),
    }
    tracing::debug!("shutdown(write)");
    let _ = stream.shutdown(How::Write);
    copy_to_end(stream, out)
}

/// Streams `input` to the server (half-closing at its end) and the server's
/// bytes to `out`, concurrently, until the server closes.
///
/// # Errors
/// I/O errors on the socket or `out`.
pub fn stream(stream: &Stream, mut input: impl Read + Send + 'static, out: &mut dyn Write) -> io::Result<u64> {
    let mut writer = stream.try_clone()?;
    std::thread::Builder::new().name("stdin".into()).spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match input.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if let Err(e) = writer.write_all(crate::net::filled(&buf, n)) {
                tracing::debug!(error = %e, "send stopped");
                return;
            }
            tracing::debug!(bytes = n, "send");
        }
        tracing::debug!("stdin ended: shutdown(write)");
        let _ = writer.shutdown(How::Write);
    })?;
    copy_to_end(stream, out)
}

/// Copies what the server sends to `out` until it closes.
fn copy_to_end(mut sock: impl Read, out: &mut dyn Write) -> io::Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = match sock.read(&mut buf) {
            Ok(0) => {
                tracing::debug!("recv 0 bytes (EOF)");
                return Ok(total);
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "timed out waiting for the server",
                ));
            }
            Err(e) => return Err(e),
        };
        tracing::debug!(bytes = n, "recv");
        total += n as u64;
        // `out` is the caller's: its errors come back as they are.
        out.write_all(crate::net::filled(&buf, n))?;
        out.flush()?;
    }
}

/// [`one_shot`] over TLS: the message, `close_notify` and the half-close,
/// then everything the server sends until it closes.
///
/// # Errors
/// I/O and TLS errors; a read timeout when the server stays silent.
pub fn tls_one_shot(tls: &mut crate::tls::client::TlsStream, message: &[u8], out: &mut dyn Write) -> io::Result<u64> {
    tls.write_all(message)?;
    tracing::debug!(bytes = message.len(), "send (TLS)");
    crate::tls::client::half_close(tls)?;
    copy_to_end(EndOfTls(tls), out)
}

/// A TLS stream read like a socket: the server's close without
/// `close_notify` is the end too (what a plain reader would see).
struct EndOfTls<'a>(&'a mut crate::tls::client::TlsStream);

impl Read for EndOfTls<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        crate::tls::client::read(self.0, buf)
    }
}

/// [`stream`] over TLS: one thread waits on stdin and the socket at once
/// (a TLS connection is one state machine, not two halves to share). The
/// socket is non-blocking meanwhile: records wait in rustls until the socket
/// takes them, and the server's records are read the whole time, so a server
/// that answers while it reads never waits on us while we wait on it.
///
/// # Errors
/// I/O and TLS errors on the socket or `out`.
pub fn tls_stream(
    tls: &mut crate::tls::client::TlsStream,
    input: impl Read + std::os::fd::AsFd,
    out: &mut dyn Write,
) -> io::Result<u64> {
    let tls = &mut **tls;
    tls.sock.set_nonblocking(true)?;
    let copied = TlsPump::default().run(tls, input, out);
    let _ = tls.sock.set_nonblocking(false);
    copied
}

/// The state of [`tls_stream`]'s loop.
#[derive(Default)]
struct TlsPump {
    /// Input rustls has not taken yet (its send buffer was full).
    carry: Vec<u8>,
    /// Stdin ended: close_notify is queued, the half-close follows it out.
    input_done: bool,
    /// The half-close is done.
    shut: bool,
    total: u64,
}

type TlsSocket = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

impl TlsPump {
    fn run(
        mut self,
        tls: &mut TlsSocket,
        mut input: impl Read + std::os::fd::AsFd,
        out: &mut dyn Write,
    ) -> io::Result<u64> {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        use std::os::fd::AsFd as _;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            // Input rustls could not take yet counts as sending: its turn comes with POLLOUT.
            let sending = tls.conn.wants_write() || !self.carry.is_empty();
            let mut sock_wants = PollFlags::POLLIN;
            sock_wants.set(PollFlags::POLLOUT, sending);
            let take_input = !self.input_done && !sending && self.carry.is_empty();
            let mut fds = [
                PollFd::new(tls.sock.as_fd(), sock_wants),
                PollFd::new(input.as_fd(), PollFlags::POLLIN),
            ];
            let polled = fds.get_mut(..if take_input { 2 } else { 1 }).unwrap_or_default();
            match poll(polled, PollTimeout::NONE) {
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
                Ok(_) => {}
            }
            let [sock, stdin] = fds.map(|f| f.revents().is_some_and(|r| !r.is_empty()));
            if sock && sending {
                self.send(tls)?;
            }
            if sock && self.receive(tls, &mut buf, out)? {
                return Ok(self.total);
            }
            if stdin && take_input {
                let n = input.read(&mut buf)?;
                if n == 0 {
                    tls.conn.send_close_notify();
                    self.input_done = true;
                } else {
                    self.carry.extend_from_slice(crate::net::filled(&buf, n));
                }
            }
            self.offer(tls)?;
        }
    }

    /// Hands carried input to rustls (as much as its buffer takes), and
    /// half-closes once the close_notify has left.
    fn offer(&mut self, tls: &mut TlsSocket) -> io::Result<()> {
        if !self.carry.is_empty() {
            let took = tls.conn.writer().write(&self.carry)?;
            self.carry.drain(..took);
        }
        self.send(tls)?;
        if self.input_done && !self.shut && !tls.conn.wants_write() {
            tracing::debug!("stdin ended: close_notify + shutdown(write)");
            tls.sock.shutdown(How::Write)?;
            self.shut = true;
        }
        Ok(())
    }

    /// Writes queued records until the socket would block.
    fn send(&mut self, tls: &mut TlsSocket) -> io::Result<()> {
        while tls.conn.wants_write() {
            match tls.conn.write_tls(&mut tls.sock) {
                Ok(n) => tracing::debug!(bytes = n, "send (TLS)"),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// One read of records and the plaintext they carry to `out`; true at the
    /// server's end (close_notify, or its close).
    fn receive(&mut self, tls: &mut TlsSocket, buf: &mut [u8], out: &mut dyn Write) -> io::Result<bool> {
        let closed = match tls.conn.read_tls(&mut tls.sock) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => return Ok(false),
            Err(e) => return Err(e),
        };
        tls.conn.process_new_packets().map_err(io::Error::other)?;
        loop {
            match tls.conn.reader().read(buf) {
                Ok(0) => return Ok(true), // close_notify
                Ok(n) => {
                    self.total += n as u64;
                    out.write_all(crate::net::filled(buf, n))?;
                    out.flush()?;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(closed),
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(true),
                Err(e) => return Err(e),
            }
        }
    }
}
