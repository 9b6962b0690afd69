//! `bench`: the load generator's flags.

use super::{ModeArg, duration, positive, timeout};
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

pub const BENCH_EXAMPLES: &str = "\
Examples:
  netlab bench --conns 100 --duration 5s        # against tcp-server on 127.0.0.1:1234
  netlab bench -p 5000 --size 1024 --requests 100000 --json
  netlab bench --proto framed --conns 50        # against framed server
  netlab bench --proto udp --rate 20000         # 20,000 datagrams/s; loss shown as %
  netlab bench --proto rpc -p 7001 --conns 4    # XML-RPC calls/s against rpc server
  netlab bench --proto http -p 8000 --path /index.html --conns 100   # against http server
  netlab bench --rate 20000 --hist --plot latency.svg --interval 1s  # see the distribution
  netlab bench --compare-modes --plot modes.svg --hgrm run.hgrm  # one line per mode; run.poll.hgrm ...
  netlab bench --tls --cacert c.pem --new-conn --conns 4  # a TLS handshake per request
  netlab bench --rate 5000 --interval 1s        # open loop: a stall shows as latency
  netlab bench --conns 1 --size 1073741824 --requests 1   # stream 1 GiB through one connection
  netlab bench --compare-modes --conns 8 --delay 100ms     # every tcp-server mode, one table
  netlab bench --conns 10000 --hold --duration 10s         # hold 10,000 idle clients (C10k)
Every reply is checked byte by byte; any wrong reply is an error and makes the exit code 1.
Without --rate the load is closed-loop: each connection sends its next request when the
reply arrives. With --rate R, R requests/s fall due in all and each latency counts from when
its request was due (so a stalled server shows as latency, not as fewer requests).";

/// `bench` flags.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Server name or address (default 127.0.0.1), or HOST:PORT, [IPv6]:PORT
    pub host: Option<String>,
    /// Server port (default 1234); HOST:PORT works too
    #[arg(short, long)]
    pub port: Option<u16>,
    /// Connect to a Unix stream socket instead
    #[arg(long, value_name = "PATH", conflicts_with_all = ["host", "port"])]
    pub unix: Option<PathBuf>,
    /// Protocol to speak
    #[arg(long, value_enum, default_value_t = ProtoArg::Tcp)]
    pub proto: ProtoArg,
    /// What --proto http GETs, e.g. /index.html (with --compare-modes: a file of --size bytes served as /)
    #[arg(long, value_name = "P", default_value = "/")]
    pub path: String,
    /// Connections (UDP: sockets) kept busy at once, e.g. 100
    #[arg(long, value_name = "N", value_parser = positive, default_value_t = 10)]
    pub conns: u64,
    /// Event-loop threads (default: the cores, at most one per connection)
    #[arg(long, value_name = "T", value_parser = positive)]
    pub threads: Option<u64>,
    /// Request payload size in bytes, e.g. 1024
    #[arg(long, value_name = "BYTES", value_parser = positive, default_value_t = 64)]
    pub size: u64,
    /// Run this long, e.g. 10s
    #[arg(long, value_name = "DUR", value_parser = duration, default_value = "5s", conflicts_with = "requests")]
    pub duration: Duration,
    /// Stop after N requests in all instead of after --duration
    #[arg(long, value_name = "N", value_parser = positive)]
    pub requests: Option<u64>,
    /// Open loop: R requests per second in all, latency measured from when each was due
    #[arg(long, value_name = "R", value_parser = rate)]
    pub rate: Option<f64>,
    /// Also print one line (or JSON object) per interval, e.g. 1s
    #[arg(long, value_name = "DUR", value_parser = duration)]
    pub interval: Option<Duration>,
    /// What the server answers, to check replies (tcp and udp)
    #[arg(long, value_enum, default_value_t = BenchReplyArg::Upper)]
    pub reply: BenchReplyArg,
    /// A request unanswered this long is an error (UDP: lost); so is a connection that cannot open in this time
    #[arg(long, value_name = "DUR", value_parser = timeout, default_value = "5s")]
    pub timeout: Duration,
    /// One request per connection, then hold them all open and idle until --duration ends (the C10k lesson)
    #[arg(long, conflicts_with_all = ["rate", "requests"])]
    pub hold: bool,
    /// Start this binary's server in every mode on a free port, run the same load on each, print one table
    #[arg(long, conflicts_with_all = ["host", "port", "unix"])]
    pub compare_modes: bool,
    /// With --compare-modes: the servers wait this long before each reply (the slow-server lesson)
    #[arg(long, value_name = "DUR", value_parser = duration, requires = "compare_modes")]
    pub delay: Option<Duration>,
    /// With --compare-modes: only these modes (default: all), e.g. --modes thread,poll
    #[arg(long, value_enum, value_delimiter = ',', requires = "compare_modes")]
    pub modes: Vec<ModeArg>,
    /// One JSON object instead of text
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub tls: super::TlsArgs,
    /// A new connection for every request (with --tls: a handshake each), to see what setting up costs
    #[arg(long, conflicts_with = "hold")]
    pub new_conn: bool,
    /// After the summary, a latency histogram: log-spaced buckets, p50, p99 and p99.9 marked (stderr with --json)
    #[arg(long)]
    pub hist: bool,
    /// Write the percentile distribution to FILE in wrk2's and HdrHistogram's .hgrm text (--compare-modes: FILE.MODE.hgrm each)
    #[arg(long, value_name = "FILE")]
    pub hgrm: Option<PathBuf>,
    /// Draw latency by percentile to FILE.svg (one line per mode with --compare-modes; with --interval, requests/s and p99 over time beneath)
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
}

fn rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        _ => Err(format!("'{text}' is not a rate above 0 (requests per second)")),
    }
}

/// `bench --proto` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProtoArg {
    /// Raw TCP request/reply (tcp-server)
    Tcp,
    /// Length-prefixed blocks (framed server)
    Framed,
    /// UDP datagrams (udp-server)
    Udp,
    /// XML-RPC calls over HTTP, addtogether(1, 2, 3, 4, 5) (rpc server; --size is ignored)
    Rpc,
    /// Keep-alive HTTP GETs of --path, status 200 and the body's length checked (http server)
    Http,
}

/// `bench --reply` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum BenchReplyArg {
    /// The request uppercased (--handler upper, --reply upper)
    Upper,
    /// The request unchanged (--handler echo, --reply echo)
    Echo,
    /// PONG (udp-server --reply pong)
    Pong,
}
