//! The server flags every stream server shares, turned into the library's
//! [`ServerOptions`] once; each server command adds only its factory.

use crate::cli::{ModeArg, ServerArgs};
use anyhow::Context;
use netlab::addr;
use netlab::error::UsageError;
use netlab::proto::{ConnInfo, Session, SessionFactory};
use netlab::server::edge::{self, ListenOn, ServerOptions};
use netlab::server::{Mode, ServerConfig};
use netlab::shutdown::Shutdown;
use netlab::tls;
use std::sync::Arc;

fn count(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// The library's mode for a `--mode` value.
pub fn mode(arg: ModeArg) -> Mode {
    match arg {
        ModeArg::Sequential => Mode::Sequential,
        ModeArg::Thread => Mode::Thread,
        ModeArg::Pool => Mode::Pool,
        ModeArg::Poll => Mode::Poll,
        ModeArg::Fork => Mode::Fork,
        ModeArg::Uring => Mode::Uring,
    }
}

/// Whether Nagle's algorithm stays on for accepted connections: the
/// protocol's choice (`Off` sets `TCP_NODELAY`, so each reply leaves at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nagle {
    /// Small writes wait for the previous one's ACK (the Nagle lesson).
    On,
    /// `TCP_NODELAY`: every write goes out at once.
    Off,
}

/// The library's options for `args`, with Nagle as the protocol chooses.
pub fn options(args: &ServerArgs, nagle: Nagle) -> anyhow::Result<ServerOptions> {
    let mode = mode(args.mode);
    let listen = match &args.unix {
        Some(path) => ListenOn::Unix(path.clone()),
        None => ListenOn::Tcp {
            ip: addr::bind_ip(&args.listen.bind)?,
            port: args.listen.port,
        },
    };
    Ok(ServerOptions {
        listen,
        backlog: args.backlog,
        reuse_addr: !args.no_reuseaddr,
        cfg: ServerConfig {
            mode,
            workers: args.workers.map(count),
            max_conns: args.max_conns.map(count),
            delay: args.delay.0,
            idle_timeout: Some(args.idle_timeout.0).filter(|d| !d.is_zero()),
            exit_after: args.exit_after,
            nodelay: nagle == Nagle::Off,
        },
    })
}

/// What a protocol asks of the server edge: Nagle, and the ALPN names it
/// answers to under `--tls` (`http/1.1` for http and rpc, none otherwise).
#[derive(Debug, Clone, Copy)]
pub struct Speaks {
    /// Nagle on or off for accepted connections.
    pub nagle: Nagle,
    /// ALPN protocol names.
    pub alpn: &'static [&'static [u8]],
}

impl Speaks {
    /// A protocol with no ALPN name.
    pub const fn plain(nagle: Nagle) -> Self {
        Self { nagle, alpn: &[] }
    }
    /// HTTP/1.1 (http and rpc).
    pub const HTTP: Self = Self {
        nagle: Nagle::Off,
        alpn: &[b"http/1.1"],
    };
}

/// Serves `factory`'s sessions as `args` say, until SIGINT/SIGTERM or `--exit-after`.
pub fn serve(args: &ServerArgs, speaks: Speaks, factory: SessionFactory) -> anyhow::Result<()> {
    let shutdown = Shutdown::with_signals().context("cannot install signal handlers")?;
    let nagle = speaks.nagle;
    let factory = if args.tls {
        with_tls(args, speaks.alpn, factory)?
    } else {
        factory
    };
    edge::serve(&options(args, nagle)?, factory, shutdown)?;
    Ok(())
}

/// `--tls`: every session wrapped in TLS, with the server's certificate.
fn with_tls(args: &ServerArgs, alpn: &[&[u8]], inner: SessionFactory) -> anyhow::Result<SessionFactory> {
    let files = args.cert.as_deref().zip(args.key.as_deref());
    let id = tls::server_identity(files, alpn).map_err(|e| UsageError(format!("--tls: {e}")))?;
    let made = if files.is_some() {
        "from --cert"
    } else {
        "self-signed for localhost, 127.0.0.1 and ::1"
    };
    // On stderr by default (as the summary is), hidden by -q.
    tracing::info!(target: netlab::logging::SUMMARY, "TLS certificate {made}, SHA-256 fingerprint {}", id.fingerprint);
    if let Some(path) = &args.write_cert {
        std::fs::write(path, &id.cert_pem)
            .map_err(|e| UsageError(format!("--write-cert: cannot write {}: {e}", path.display())))?;
    }
    let config = id.config;
    Ok(Arc::new(move |info: &ConnInfo| {
        let peer = netlab::server::peer_label(info.peer);
        match tls::TlsServerSession::new(Arc::clone(&config), inner(info), peer, std::time::SystemTime::now) {
            Ok(s) => Box::new(s) as Box<dyn Session>,
            Err(e) => {
                tracing::warn!(error = %e, "cannot start TLS");
                Box::new(netlab::proto::handlers::Greeting::new(Vec::new()))
            }
        }
    }))
}
