//! The server flags every stream server shares, turned into the library's
//! [`ServerOptions`] once; each server command adds only its factory.

use crate::cli::{ModeArg, ServerArgs};
use anyhow::Context;
use netlab::addr;
use netlab::proto::SessionFactory;
use netlab::server::edge::{self, ListenOn, ServerOptions};
use netlab::server::{Mode, ServerConfig};
use netlab::shutdown::Shutdown;

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

/// Serves `factory`'s sessions as `args` say, until SIGINT/SIGTERM or `--exit-after`.
pub fn serve(args: &ServerArgs, nagle: Nagle, factory: SessionFactory) -> anyhow::Result<()> {
    let shutdown = Shutdown::with_signals().context("cannot install signal handlers")?;
    edge::serve(&options(args, nagle)?, factory, shutdown)?;
    Ok(())
}
