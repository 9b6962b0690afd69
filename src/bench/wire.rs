//! A bench connection's socket, plain or under TLS (`bench --tls`), read and
//! written the non-blocking way mio expects: `WouldBlock` when nothing can
//! move. Under TLS, rustls is driven by hand (`read_tls`, `process_new_packets`,
//! `write_tls`), so the handshake happens on the way, inside the first request's
//! latency (which is what `--new-conn` measures).

use crate::conn::EventStream;
use std::io::{self, Read as _, Write as _};
use std::sync::Arc;

/// Plaintext rustls holds before it says "no room" to a writer.
const TLS_PLAINTEXT_LIMIT: usize = 256 * 1024;

/// A socket, maybe with TLS on it.
pub(super) struct Wire {
    /// The socket.
    pub sock: EventStream,
    tls: Option<rustls::ClientConnection>,
}

/// Adapts an `EventStream` to `std::io::Read`/`Write` for rustls.
struct Io<'a>(&'a mut EventStream);

impl io::Read for Io<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl io::Write for Io<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Wire {
    /// A plain socket, or TLS to `host` with `config`.
    ///
    /// # Errors
    /// When rustls refuses the name or the configuration.
    pub fn new(sock: EventStream, tls: Option<(&Arc<rustls::ClientConfig>, &str)>) -> io::Result<Wire> {
        let tls = match tls {
            None => None,
            Some((config, host)) => {
                let name = rustls::pki_types::ServerName::try_from(host.to_string()).map_err(io::Error::other)?;
                let mut conn = rustls::ClientConnection::new(Arc::clone(config), name).map_err(io::Error::other)?;
                conn.set_buffer_limit(Some(TLS_PLAINTEXT_LIMIT));
                Some(conn)
            }
        };
        Ok(Wire { sock, tls })
    }

    /// Whether this is TLS (its reads must go on to `WouldBlock`: a short
    /// plaintext read says nothing about what the socket still holds).
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Whether encrypted bytes wait for room in the socket.
    pub fn has_pending(&self) -> bool {
        self.tls.as_ref().is_some_and(|c| c.wants_write())
    }

    /// Sends what TLS has ready, as far as the socket takes it.
    ///
    /// # Errors
    /// A socket error other than `WouldBlock`.
    pub fn flush_tls(&mut self) -> io::Result<()> {
        if let Some(conn) = &mut self.tls {
            while conn.wants_write() {
                match conn.write_tls(&mut Io(&mut self.sock)) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    /// Writes request bytes: how many were taken, or `WouldBlock`.
    ///
    /// # Errors
    /// As `write(2)`.
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let Some(conn) = &mut self.tls else {
            return self.sock.write(bytes);
        };
        let n = conn.writer().write(bytes)?;
        self.flush_tls()?;
        if n == 0 && !bytes.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }

    /// Reads reply bytes: how many, 0 at the end, or `WouldBlock`.
    ///
    /// # Errors
    /// As `read(2)`; a TLS failure (an untrusted certificate, not TLS).
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Wire { sock, tls } = self;
        let Some(conn) = tls else {
            return sock.read(buf);
        };
        loop {
            match conn.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            // Nothing decrypted: more records from the socket (WouldBlock ends it).
            if conn.read_tls(&mut Io(sock))? == 0 {
                return Ok(0);
            }
            if let Err(e) = conn.process_new_packets() {
                let _ = conn.write_tls(&mut Io(sock));
                // Said as the other clients say it.
                let why = match &e {
                    rustls::Error::InvalidCertificate(_) => format!("certificate not trusted: {e} (use --cacert FILE)"),
                    rustls::Error::InvalidMessage(_) => format!("the server does not speak TLS ({e})"),
                    _ => format!("TLS: {e}"),
                };
                return Err(io::Error::other(why));
            }
            // The handshake's next flight, or the request held until it ended.
            while conn.wants_write() {
                match conn.write_tls(&mut Io(sock)) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
        }
    }
}
