//! The client side of TLS for the blocking clients (`tcp-client --tls`,
//! `framed client --tls`, `http get https://`): the handshake done at
//! connect, so its failures are told apart from the protocol's, and a
//! stream the clients read and write like a socket.

use super::{Trust, client_config};
use rustls::pki_types::ServerName;
use std::io;
use std::net::{Shutdown, TcpStream};

/// A TLS connection over TCP, read and written like a socket. Dropping it
/// sends `close_notify` first (if it was not sent yet), so every client ends
/// its TLS the way the protocol says, not by a bare TCP close.
pub struct TlsStream(rustls::StreamOwned<rustls::ClientConnection, TcpStream>);

impl std::ops::Deref for TlsStream {
    type Target = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for TlsStream {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl io::Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl io::Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl Drop for TlsStream {
    fn drop(&mut self) {
        // Does nothing when it (or a fatal alert) was sent already. Best
        // effort, and never long: a server that stopped reading is not waited for.
        let _ = self.0.sock.set_write_timeout(Some(std::time::Duration::from_secs(1)));
        self.0.conn.send_close_notify();
        while self.0.conn.wants_write() {
            if self.0.conn.write_tls(&mut self.0.sock).is_err() {
                break;
            }
        }
    }
}

/// Why a TLS connection could not be made.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The server's certificate is not vouched for by `trust`.
    #[error("certificate not trusted: {0} (use --cacert FILE)")]
    Untrusted(String),
    /// The certificate is trusted but names another host.
    #[error("certificate not trusted: {0}; it is for other names: connect by one of them (use --cacert FILE)")]
    WrongName(String),
    /// The server answered with something that is not TLS.
    #[error("the server does not speak TLS ({0})")]
    NotTls(String),
    /// Anything else: the configuration, or the connection itself.
    #[error("TLS: {0}")]
    Other(String),
    /// The connection failed or timed out (keeps its exit code).
    #[error(transparent)]
    Io(io::Error),
}

/// Connects TLS over `tcp` to `host` (its SNI, and the name the
/// certificate must carry), trusting `trust`; returns once the handshake is done.
///
/// # Errors
/// [`HandshakeError`]: untrusted, not TLS, or the connection failed.
pub fn connect(tcp: TcpStream, host: &str, trust: &Trust) -> Result<TlsStream, HandshakeError> {
    let config = client_config(trust).map_err(|e| HandshakeError::Other(e.to_string()))?;
    let name = ServerName::try_from(host.to_string())
        .map_err(|e| HandshakeError::Other(format!("'{host}' cannot be checked against a certificate: {e}")))?;
    let conn = rustls::ClientConnection::new(config, name).map_err(|e| HandshakeError::Other(e.to_string()))?;
    let mut wire = TlsStream(rustls::StreamOwned::new(conn, tcp));
    while wire.conn.is_handshaking() {
        if let Err(e) = wire.0.conn.complete_io(&mut wire.0.sock) {
            return Err(failure(e));
        }
    }
    tracing::info!(
        version = ?wire.conn.protocol_version(),
        cipher = ?wire.conn.negotiated_cipher_suite().map(|s| s.suite()),
        "TLS established"
    );
    Ok(wire)
}

/// What a failed handshake means for the person who asked.
fn failure(e: io::Error) -> HandshakeError {
    let inner = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
    match inner {
        Some(rustls::Error::InvalidCertificate(
            why @ (rustls::CertificateError::NotValidForName | rustls::CertificateError::NotValidForNameContext { .. }),
        )) => HandshakeError::WrongName(why.to_string()),
        Some(rustls::Error::InvalidCertificate(why)) => HandshakeError::Untrusted(why.to_string()),
        Some(other) => HandshakeError::NotTls(other.to_string()),
        None if matches!(e.kind(), io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset) => {
            HandshakeError::NotTls(e.to_string())
        }
        None if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => HandshakeError::Io(
            io::Error::new(io::ErrorKind::TimedOut, "timed out waiting for the server"),
        ),
        None => HandshakeError::Io(e),
    }
}

/// Our side is done sending: `close_notify`, then the TCP half-close, so
/// the server sees the end of input as it would without TLS.
///
/// # Errors
/// When the alert cannot be sent.
pub fn half_close(tls: &mut TlsStream) -> io::Result<()> {
    let tls = &mut tls.0;
    tls.conn.send_close_notify();
    while tls.conn.wants_write() {
        tls.conn.write_tls(&mut tls.sock)?;
    }
    tls.sock.shutdown(Shutdown::Write)
}

/// Reads, taking the server's close without `close_notify` as the end too
/// (what a plain socket's reader would see).
///
/// # Errors
/// As `read`.
pub fn read(tls: &mut TlsStream, buf: &mut [u8]) -> io::Result<usize> {
    match io::Read::read(tls, buf) {
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
        other => other,
    }
}
