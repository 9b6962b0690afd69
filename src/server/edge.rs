//! The server edge: everything a stream server command does around its
//! protocol, written once. It binds (one listener, or one per event loop
//! sharing the port through `SO_REUSEPORT`), prints the ready line, serves in
//! the chosen mode until shutdown, removes the Unix socket file it created,
//! and logs the one-line summary.
//!
//! A protocol's server command is then its session factory plus its own
//! flags: `tcp-server`, `framed server` and `rpc server` all end in [`serve`].

use super::{ServerConfig, run};
use crate::conn::Listener;
use crate::net::{self, DEFAULT_BACKLOG, ListenOptions};
use crate::proto::SessionFactory;
use crate::ready;
use crate::shutdown::Shutdown;
use crate::stats::Stats;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::Arc;

/// Where a server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenOn {
    /// A TCP address (`--bind IP -p PORT`; port 0 picks a free one).
    Tcp {
        /// The IP to bind.
        ip: IpAddr,
        /// The port.
        port: u16,
    },
    /// A Unix stream socket at this path (`--unix PATH`).
    Unix(PathBuf),
}

/// Everything a stream server is configured with: the flags every server
/// command shares.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Where to listen.
    pub listen: ListenOn,
    /// Listen backlog.
    pub backlog: i32,
    /// `SO_REUSEADDR` (on unless `--no-reuseaddr`).
    pub reuse_addr: bool,
    /// The scheduler and its limits.
    pub cfg: ServerConfig,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            listen: ListenOn::Tcp {
                ip: Ipv4Addr::LOCALHOST.into(),
                port: crate::DEFAULT_PORT,
            },
            backlog: DEFAULT_BACKLOG,
            reuse_addr: true,
            cfg: ServerConfig::default(),
        }
    }
}

/// Bound listeners and what to undo when the server is done.
#[derive(Debug)]
pub struct Bound {
    /// One listener, or one per event loop.
    pub listeners: Vec<Listener>,
    /// The address for the ready line.
    pub addr: String,
    /// The Unix socket file to remove at the end.
    unix_path: Option<PathBuf>,
}

impl Drop for Bound {
    fn drop(&mut self) {
        if let Some(path) = &self.unix_path {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Binds what `opts` asks for: a Unix socket, one TCP listener, or a group
/// of `SO_REUSEPORT` listeners when each event loop has its own.
///
/// # Errors
/// A busy port ("address already in use"), a bad path, a socket failure.
pub fn bind(opts: &ServerOptions) -> io::Result<Bound> {
    let (listeners, unix_path) = match &opts.listen {
        ListenOn::Unix(path) => (
            vec![Listener::Unix(net::listen_unix(path, opts.backlog)?)],
            Some(path.clone()),
        ),
        ListenOn::Tcp { ip, port } => {
            let count = if opts.cfg.mode.listener_per_worker() {
                opts.cfg.workers()
            } else {
                1
            };
            let listen = ListenOptions {
                backlog: opts.backlog,
                reuse_addr: opts.reuse_addr,
                reuse_port: false,
            };
            let group = net::listen_tcp_group(*ip, *port, listen, count)?;
            (group.into_iter().map(Listener::Tcp).collect(), None)
        }
    };
    let mut bound = Bound {
        listeners,
        addr: String::new(),
        unix_path,
    };
    if let Some(first) = bound.listeners.first() {
        bound.addr = first.local_display()?;
    }
    Ok(bound)
}

/// Raises the open-file limit to the hard limit and says so at `-v`.
pub fn log_fd_limit() {
    match net::raise_fd_limit() {
        Ok(l) if l.now > l.before => tracing::info!(from = l.before, to = l.now, "raised the open-file limit"),
        Ok(l) => tracing::info!(limit = l.now, hard = l.hard, "open-file limit"),
        Err(e) => tracing::warn!(error = %e, "cannot read the open-file limit"),
    }
}

/// Binds, announces `server ready on ADDR`, serves every connection with a
/// session from `factory` until `shutdown`, cleans up and logs the summary.
///
/// # Errors
/// When binding fails or the listener breaks (never for a client's misbehaviour).
pub fn serve(opts: &ServerOptions, factory: SessionFactory, shutdown: Shutdown) -> io::Result<Arc<Stats>> {
    let bound = bind(opts)?;
    serve_bound(bound, opts.cfg.clone(), factory, shutdown)
}

/// [`serve`] on listeners already bound (tests and embedders bind their own).
///
/// # Errors
/// When the ready line cannot be written or the listener breaks.
pub fn serve_bound(
    mut bound: Bound,
    cfg: ServerConfig,
    factory: SessionFactory,
    shutdown: Shutdown,
) -> io::Result<Arc<Stats>> {
    // A kernel that refuses the mode says so before the ready line.
    cfg.mode.available()?;
    log_fd_limit();
    ready::announce(&bound.addr)?;
    tracing::info!(
        mode = cfg.mode.name(),
        workers = cfg.workers(),
        max_conns = cfg.max_conns(),
        "serving on {}",
        bound.addr
    );
    let listeners = std::mem::take(&mut bound.listeners);
    let stats = run(listeners, cfg, factory, shutdown)?;
    crate::logging::summary(stats.summary("connection"));
    drop(bound);
    Ok(stats)
}
