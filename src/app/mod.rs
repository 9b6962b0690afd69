//! From parsed arguments to library calls: the only place where clap types,
//! library configs and real sockets meet. Each command's glue is a function.

mod bench;
mod child;
mod compare;
mod framed;
mod http;
mod info;
mod lesson;
mod pictures;
mod rpc;
mod server;
mod tcp;
mod udp;

use crate::cli::{Cli, Command, FramedCommand, HttpCommand, RpcCommand};
use netlab::addr;
use netlab::client::stream;
use netlab::conn::Stream;
use netlab::exit::stdout_error;
use std::io::{self, Write};
use std::path::Path;
use std::time::Duration;

/// Runs the chosen command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let quiet = cli.quiet;
    match cli.command {
        Command::TcpServer(args) => tcp::server(args),
        Command::TcpClient(args) => tcp::client(args),
        Command::Framed(FramedCommand::Server(args)) => framed::server(args),
        Command::Framed(FramedCommand::Client(args)) => framed::client(args),
        Command::Rpc(RpcCommand::Server(args)) => rpc::server(args),
        Command::Rpc(RpcCommand::Call(args)) => rpc::call(args),
        Command::Http(HttpCommand::Server(args)) => http::server(args),
        Command::Http(HttpCommand::Get(args)) => http::get(args),
        Command::UdpServer(args) => udp::server(args),
        Command::UdpClient(args) => udp::client(args),
        Command::Bench(args) if args.compare_modes => compare::run(&args, quiet),
        Command::Bench(args) => bench::run(args, quiet),
        Command::Lesson(args) => lesson::run(&args, cli.verbose > 0),
        Command::Resolve(args) => info::resolve(args),
        Command::Byteorder(args) => info::byteorder(args),
        Command::Completions(args) => info::completions(args),
    }
}

/// Stdout for data: each write is flushed (interactive use), and a reader that
/// went away (`| head`) ends the program quietly instead of failing it.
pub struct Out {
    inner: io::StdoutLock<'static>,
}

impl Out {
    pub fn new() -> Self {
        Out {
            inner: io::stdout().lock(),
        }
    }

    /// Writes `bytes` and a newline.
    pub fn line(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.inner
            .write_all(bytes)
            .and_then(|()| self.inner.write_all(b"\n"))
            .map_err(stdout_error)?;
        self.inner.flush().map_err(stdout_error)
    }

    /// Writes a reply so that it ends a line: a newline is added unless the
    /// reply already ends with one (or `raw` asks for the bytes exactly).
    pub fn reply(&mut self, bytes: &[u8], raw: bool) -> io::Result<()> {
        if raw || bytes.ends_with(b"\n") {
            self.inner.write_all(bytes).map_err(stdout_error)?;
            return self.inner.flush().map_err(stdout_error);
        }
        self.line(bytes)
    }

    /// Writes one JSON object on its own line.
    pub fn json(&mut self, value: &serde_json::Value) -> io::Result<()> {
        self.line(value.to_string().as_bytes())
    }
}

/// Raw bytes to stdout, for the streaming clients: each write flushed, and a
/// closed stdout reported as [`netlab::error::StdoutClosed`] (exit 0).
pub struct RawOut {
    inner: io::StdoutLock<'static>,
}

impl RawOut {
    pub fn new() -> Self {
        RawOut {
            inner: io::stdout().lock(),
        }
    }
}

impl Write for RawOut {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf).map_err(stdout_error)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush().map_err(stdout_error)
    }
}

/// Connects a stream client: to the Unix socket `unix`, or to every address
/// of `host` (default 127.0.0.1, maybe `HOST:PORT`) in turn, on `-p PORT`
/// or the default port; `timeout` bounds the connect.
pub fn connect(
    host: Option<&str>,
    port: Option<u16>,
    unix: Option<&Path>,
    timeout: Option<Duration>,
) -> io::Result<Stream> {
    let conn = match unix {
        Some(path) => stream::connect_unix(path)?,
        None => {
            let addrs = addr::resolve_client(host, port, netlab::DEFAULT_PORT)?;
            stream::connect_tcp(&addrs, timeout)?
        }
    };
    conn.set_read_timeout(timeout)?;
    Ok(conn)
}

/// Whom `--tls` trusts: `--insecure` (said on stderr), `--cacert FILE`, or the system's roots.
pub fn trust(cacert: Option<&Path>, insecure: bool) -> netlab::tls::Trust {
    if insecure {
        netlab::logging::stderr_line("netlab: warning: --insecure: the server's certificate is not checked");
    }
    trust_quietly(cacert, insecure)
}

/// [`trust`] without the warning (where no TLS is spoken yet).
pub fn trust_quietly(cacert: Option<&Path>, insecure: bool) -> netlab::tls::Trust {
    match (insecure, cacert) {
        (true, _) => netlab::tls::Trust::Insecure,
        (false, Some(p)) => netlab::tls::Trust::File(p.to_path_buf()),
        (false, None) => netlab::tls::Trust::System,
    }
}

/// Wraps a connected TCP stream in TLS to `host` (its SNI and certificate name).
///
/// # Errors
/// A handshake that fails: untrusted (exit 1 with the `--cacert` hint), not TLS (exit 1), or the
/// connection's own error (which keeps its exit code).
pub fn tls_over(
    conn: Stream,
    host: Option<&str>,
    trust: &netlab::tls::Trust,
) -> anyhow::Result<netlab::tls::client::TlsStream> {
    let Stream::Tcp(tcp) = conn else {
        return Err(netlab::error::UsageError("--tls needs a TCP server, not --unix".into()).into());
    };
    let name = match host {
        Some(h) => netlab::addr::HostPort::parse(h)?.host,
        None => "127.0.0.1".to_string(),
    };
    netlab::tls::client::connect(tcp, &name, trust).map_err(|e| match e {
        netlab::tls::client::HandshakeError::Io(io) => anyhow::Error::from(io),
        other => anyhow::Error::msg(other.to_string()),
    })
}
