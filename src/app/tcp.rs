//! `tcp-server` and `tcp-client`.

use crate::cli::{HandlerArg, ModeArg, TcpClientArgs, TcpServerArgs};
use anyhow::Context;
use netlab::client::stream;
use netlab::conn::Listener;
use netlab::logging::SUMMARY;
use netlab::net::{self, ListenOptions};
use netlab::proto::handlers::Handler;
use netlab::ready;
use netlab::server::{self, Mode, ServerConfig};
use netlab::shutdown::Shutdown;
use std::io::Write;
use std::path::PathBuf;

/// Removes the Unix socket file this server created, however it stops.
struct RemoveOnDrop(Option<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(path) = &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}

pub fn server(args: TcpServerArgs) -> anyhow::Result<()> {
    let mode = match args.mode {
        ModeArg::Sequential => Mode::Sequential,
        ModeArg::Thread => Mode::Thread,
        ModeArg::Pool => Mode::Pool,
        ModeArg::Poll => Mode::Poll,
        ModeArg::Fork => Mode::Fork,
    };
    let handler = match args.handler {
        HandlerArg::Upper => Handler::Upper,
        HandlerArg::Echo => Handler::Echo,
        HandlerArg::Hello => Handler::Hello,
        HandlerArg::Time => Handler::Time,
    };
    let default_workers = if mode == Mode::Pool { 4 } else { 1 };
    let workers = args
        .workers
        .map_or(default_workers, |n| usize::try_from(n).unwrap_or(usize::MAX));
    let cfg = ServerConfig {
        mode,
        workers,
        max_conns: usize::try_from(args.max_conns).unwrap_or(usize::MAX),
        delay: args.delay,
        idle_timeout: Some(args.idle_timeout).filter(|d| !d.is_zero()),
        exit_after: args.exit_after,
    };
    let shutdown = Shutdown::with_signals().context("cannot install signal handlers")?;
    let opts = ListenOptions {
        backlog: args.backlog,
        reuse_addr: !args.no_reuseaddr,
        reuse_port: false,
    };
    let (listeners, _cleanup) = match &args.unix {
        Some(path) => {
            let l = net::listen_unix(path, args.backlog)?;
            (vec![Listener::Unix(l)], RemoveOnDrop(Some(path.clone())))
        }
        None => {
            let count = if mode == Mode::Poll { workers } else { 1 };
            let group = net::listen_tcp_group(args.listen.bind, args.listen.port, opts, count)?;
            (
                group.into_iter().map(Listener::Tcp).collect::<Vec<_>>(),
                RemoveOnDrop(None),
            )
        }
    };
    let addr = listeners
        .first()
        .map(Listener::local_display)
        .transpose()?
        .unwrap_or_default();
    ready::announce(&addr)?;
    tracing::info!(mode = ?mode, workers, "serving on {addr}");
    let stats = server::run(listeners, cfg, handler.factory(), shutdown)?;
    tracing::info!(target: SUMMARY, "{}", stats.summary("connections"));
    Ok(())
}

pub fn client(args: TcpClientArgs) -> anyhow::Result<()> {
    let (conn, message) = match &args.unix {
        // With --unix there is no HOST: a single positional is the MESSAGE.
        Some(path) => (stream::connect_unix(path)?, args.message.or(args.host)),
        None => {
            let host = args.host.as_deref().unwrap_or("127.0.0.1");
            let addrs = net::resolve(host, args.port)?;
            (stream::connect_tcp(&addrs, args.timeout)?, args.message)
        }
    };
    conn.set_read_timeout(args.timeout)?;
    let mut raw = std::io::stdout().lock();
    let mut json = JsonLines {
        out: super::Out::new(),
        line: Vec::new(),
    };
    let out: &mut dyn Write = if args.json { &mut json } else { &mut raw };
    match message {
        Some(m) => stream::one_shot(&conn, m.as_bytes(), out)?,
        None => stream::stream(&conn, std::io::stdin(), out)?,
    };
    if args.json && !json.line.is_empty() {
        json.emit()?;
    }
    Ok(())
}

/// `--json`: the server's bytes as one `{"line": ...}` object per line.
struct JsonLines {
    out: super::Out,
    line: Vec<u8>,
}

impl JsonLines {
    fn emit(&mut self) -> std::io::Result<()> {
        let text = String::from_utf8_lossy(&self.line).into_owned();
        self.line.clear();
        self.out.json(&serde_json::json!({ "line": text }))
    }
}

impl Write for JsonLines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        for &b in buf {
            if b == b'\n' {
                self.emit()?;
            } else {
                self.line.push(b);
            }
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
