//! The server flags every stream server shares, and `tcp-server`.

use super::{Listen, duration, positive};
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

pub const TCP_SERVER_EXAMPLES: &str = "\
Examples:
  netlab tcp-server --mode pool                # 4 threads, each accepting and serving a client
  netlab tcp-server --mode poll --workers 2    # two epoll loops sharing the port (SO_REUSEPORT)
  netlab tcp-server --mode sequential --delay 1s -v
      # then: for i in 1 2 3; do netlab tcp-client 127.0.0.1 hi & done; wait
      # sequential answers one per second; thread, poll and fork all at once
  netlab tcp-server --handler hello            # 'Hello IP:PORT' and close
  netlab tcp-server --unix /tmp/netlab.sock    # a Unix stream socket instead of TCP
  netlab tcp-server -p 0 --exit-after 1        # one client on a free port, then exit
A client that stops reading is not read from either: nothing is buffered without bound.";

/// `tcp-server` flags.
#[derive(Debug, Args)]
pub struct TcpServerArgs {
    /// What each connection gets
    #[arg(long, value_enum, default_value_t = HandlerArg::Upper)]
    pub handler: HandlerArg,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// Examples of the flags every stream server shares, shown under each one's own.
const SERVER_FLAGS: &str = "\
Server options (tcp-server, framed server, rpc server, http server):
  --bind 0.0.0.0 -p 8080           # accept other machines on port 8080 (-p 0: any free port)
  --mode poll --workers 2          # two event loops sharing the port (SO_REUSEPORT)
  --max-conns 100 --backlog 128    # at most 100 clients at once, 128 more queued by the kernel
  --delay 300ms --idle-timeout 30s # slow replies; close clients silent for 30 s
  --unix /tmp/netlab.sock          # a Unix stream socket instead of TCP
  --exit-after 1 --no-reuseaddr    # stop after one client; show TIME_WAIT at the restart
  --tls --write-cert /tmp/c.pem    # TLS with a self-signed certificate; clients: --cacert /tmp/c.pem";

/// A server command's examples followed by the shared server flags' examples.
pub fn with_server_flags(examples: &str) -> String {
    format!("{examples}\n\n{SERVER_FLAGS}")
}

/// The flags every stream server shares (`tcp-server`, `framed server`, `rpc server`, `http server`).
#[derive(Debug, Args)]
#[command(next_help_heading = "Server options")]
pub struct ServerArgs {
    #[command(flatten)]
    pub listen: Listen,
    /// How clients are scheduled: one at a time, a thread each, a fixed pool, an event loop, a process each, io_uring
    #[arg(long, value_enum, default_value_t = ModeArg::Thread)]
    pub mode: ModeArg,
    /// Pool threads (default 4), or poll event loops / uring rings (default 1), e.g. 8
    #[arg(long, value_name = "N", value_parser = positive)]
    pub workers: Option<u64>,
    /// Most clients served at once (default 1024 for thread and fork, the open-file limit for poll and uring); the rest wait in the backlog
    #[arg(long, value_name = "N", value_parser = positive)]
    pub max_conns: Option<u64>,
    /// Wait this long before each reply, e.g. 300ms (the slow-server lesson)
    #[arg(long, value_name = "DUR", value_parser = human, default_value_t = Human(Duration::ZERO))]
    pub delay: Human,
    /// Listen backlog: connections the kernel queues before accept, e.g. 128
    #[arg(long, value_name = "N", default_value_t = netlab::net::DEFAULT_BACKLOG, value_parser = clap::value_parser!(i32).range(1..))]
    pub backlog: i32,
    /// Close a client silent for this long; 0 never, e.g. 30s
    #[arg(long, value_name = "DUR", value_parser = human, default_value_t = Human(netlab::server::DEFAULT_IDLE_TIMEOUT))]
    pub idle_timeout: Human,
    /// Listen on a Unix stream socket at PATH instead of TCP (the file is removed at exit)
    #[arg(long, value_name = "PATH", conflicts_with_all = ["bind", "port"])]
    pub unix: Option<PathBuf>,
    /// Stop cleanly after N connections, e.g. 1
    #[arg(long, value_name = "N", value_parser = positive)]
    pub exit_after: Option<u64>,
    /// Leave SO_REUSEADDR off: a restart then fails while old connections sit in TIME_WAIT
    #[arg(long)]
    pub no_reuseaddr: bool,
    /// Speak TLS (1.2/1.3) under the protocol; without --cert, a self-signed certificate for localhost is made
    #[arg(long)]
    pub tls: bool,
    /// With --tls: the certificate chain (PEM)
    #[arg(long, value_name = "FILE", requires_all = ["tls", "key"])]
    pub cert: Option<PathBuf>,
    /// With --tls: the certificate's private key (PEM)
    #[arg(long, value_name = "FILE", requires_all = ["tls", "cert"])]
    pub key: Option<PathBuf>,
    /// With --tls: write the server's certificate (PEM) to FILE, for clients to trust (--cacert)
    #[arg(long, value_name = "FILE", requires = "tls")]
    pub write_cert: Option<PathBuf>,
}

/// A duration that prints the way it is typed (`5m`, `300ms`), so `--help`
/// shows defaults from the library's constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Human(pub Duration);

impl std::fmt::Display for Human {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_zero() {
            return f.write_str("0");
        }
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

fn human(text: &str) -> Result<Human, String> {
    duration(text).map(Human)
}

/// `--mode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// One client at a time; the next waits in the backlog
    Sequential,
    /// One thread per client, up to --max-conns
    Thread,
    /// --workers threads, each accepting and serving a client to the end
    Pool,
    /// Non-blocking epoll event loops; --delay never blocks other clients
    Poll,
    /// One process per client, children reaped
    Fork,
    /// Completion-based I/O on io_uring (Linux): --workers rings, the fewest system calls
    Uring,
}

/// `--handler` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum HandlerArg {
    /// Uppercase echo (Unicode, split characters handled, invalid bytes unchanged)
    Upper,
    /// Every byte back unchanged
    Echo,
    /// Sends 'Hello IP:PORT' with the client's address, then closes
    Hello,
    /// Sends the local time as ctime text, then closes
    Time,
}
