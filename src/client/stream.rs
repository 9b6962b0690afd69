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
/// (a TLS connection is one state machine, not two halves to share).
///
/// # Errors
/// I/O and TLS errors on the socket or `out`.
pub fn tls_stream(
    tls: &mut crate::tls::client::TlsStream,
    input: impl Read + std::os::fd::AsFd,
    out: &mut dyn Write,
) -> io::Result<u64> {
    use std::os::fd::AsFd as _;
    let mut input = input;
    let mut buf = vec![0u8; 64 * 1024];
    let (mut total, mut input_open) = (0u64, true);
    loop {
        // The socket first: the server's answers are read before more input
        // is sent, so a server that waits for us to read is never starved.
        let ready = if input_open {
            crate::net::poll_readable([tls.sock.as_fd(), input.as_fd()], None)?
        } else {
            crate::net::poll_readable([tls.sock.as_fd()], None)?
        };
        if ready == Some(1) {
            let n = input.read(&mut buf)?;
            if n == 0 {
                crate::tls::client::half_close(tls)?;
                input_open = false;
            } else {
                tls.write_all(crate::net::filled(&buf, n))?;
                tls.flush()?;
            }
            continue;
        }
        // One read of records, never a wait for plaintext: a record without
        // any (a session ticket) must not block us while the server waits for input.
        match tls.conn.read_tls(&mut tls.sock) {
            Ok(0) => return Ok(total),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        tls.conn.process_new_packets().map_err(io::Error::other)?;
        while tls.conn.wants_write() {
            tls.conn.write_tls(&mut tls.sock)?;
        }
        loop {
            match tls.conn.reader().read(&mut buf) {
                Ok(0) => return Ok(total), // close_notify
                Ok(n) => {
                    total += n as u64;
                    out.write_all(crate::net::filled(&buf, n))?;
                    out.flush()?;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(total),
                Err(e) => return Err(e),
            }
        }
    }
}
