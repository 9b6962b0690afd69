//! `tcp-client` and the UDP commands.

use super::{Listen, duration, positive, probability, readable_file, timeout};
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

pub const TCP_CLIENT_EXAMPLES: &str = "\
Examples:
  netlab tcp-client 127.0.0.1 hello            # send, half-close, print the reply: HELLO
  for i in 1 2; do netlab tcp-client localhost \"hi $i\"; done   # one reply per line
  netlab tcp-client localhost hi --raw | xxd   # the reply's bytes exactly, no newline added
  netlab tcp-client                            # like nc: stdin to the server, its bytes to stdout
  printf 'a\\nb\\n' | netlab tcp-client          # works in pipes: the reply, then exit
  netlab tcp-client --unix /tmp/netlab.sock hi # the positional is MESSAGE with --unix
  netlab tcp-client localhost hi --timeout 2s  # give up when the server is silent for 2 s";

/// Where a stream client connects, and how long it waits (`tcp-client`, `framed client`).
#[derive(Debug, Args)]
pub struct Dial {
    /// Server port (default 1234); HOST:PORT works too
    #[arg(short, long)]
    pub port: Option<u16>,
    /// Connect to a Unix stream socket; there is no HOST then (the positionals are messages)
    #[arg(long, value_name = "PATH", conflicts_with = "port")]
    pub unix: Option<PathBuf>,
    /// Give up connecting, or waiting for the server, after this long, e.g. 2s
    #[arg(long, value_name = "DUR", value_parser = timeout)]
    pub timeout: Option<Duration>,
    #[command(flatten)]
    pub tls: TlsArgs,
}

/// `--tls` and whom it trusts, for every client that dials a stream server (and bench).
#[derive(Debug, Args)]
pub struct TlsArgs {
    /// Speak TLS to the server (it runs with --tls; bench --compare-modes starts its servers so); its certificate is checked against the system's roots
    #[arg(long = "tls", conflicts_with = "unix")]
    pub on: bool,
    /// With --tls: trust the certificates in FILE (PEM; a server's --write-cert) instead
    #[arg(long, value_name = "FILE", value_parser = readable_file, requires = "on", conflicts_with = "insecure")]
    pub cacert: Option<PathBuf>,
    /// With --tls: do not check the server's certificate (said on stderr every time)
    #[arg(short = 'k', long, requires = "on")]
    pub insecure: bool,
}

/// `tcp-client` flags.
#[derive(Debug, Args)]
pub struct TcpClientArgs {
    /// Server name or address (default 127.0.0.1), or HOST:PORT, [IPv6]:PORT; every resolved address is tried
    pub host: Option<String>,
    /// The message; without it stdin is streamed to the server
    pub message: Option<String>,
    #[command(flatten)]
    pub dial: Dial,
    /// With MESSAGE: print the reply's bytes exactly (by default a newline ends it, if it has none)
    #[arg(long)]
    pub raw: bool,
    /// Print each line the server sends as a JSON object {"line": ...}
    #[arg(long, conflicts_with = "raw")]
    pub json: bool,
}

pub const UDP_SERVER_EXAMPLES: &str = "\
Examples:
  netlab udp-server -p 0                       # any free port; read it from the ready line
  netlab udp-server --reply pong               # answer PONG to anything (RTT estimation)
  netlab udp-server --drop 0.5 --seed 1        # lose half the datagrams, repeatably
  netlab udp-server --delay 300ms -v           # a slow server, one log line per datagram
  netlab udp-server --exit-after 3             # stop cleanly after 3 datagrams";

/// `udp-server` flags.
#[derive(Debug, Args)]
pub struct UdpServerArgs {
    #[command(flatten)]
    pub listen: Listen,
    /// What to answer: the datagram uppercased, unchanged, or PONG
    #[arg(long, value_enum, default_value_t = ReplyArg::Upper)]
    pub reply: ReplyArg,
    /// Wait this long before each reply, e.g. 300ms (a slow server)
    #[arg(long, value_name = "DUR", value_parser = duration, default_value = "0")]
    pub delay: Duration,
    /// Drop this fraction of datagrams (0 to 1) to simulate loss, e.g. 0.5
    #[arg(long, value_name = "P", value_parser = probability, default_value_t = 0.0)]
    pub drop: f64,
    /// Seed for --drop, to repeat the same losses, e.g. 42
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Stop cleanly after N datagrams, e.g. 10
    #[arg(long, value_name = "N", value_parser = positive)]
    pub exit_after: Option<u64>,
}

/// `--reply` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ReplyArg {
    /// The datagram uppercased (Unicode, invalid bytes unchanged)
    Upper,
    /// The datagram unchanged
    Echo,
    /// PONG, whatever came in
    Pong,
}

pub const UDP_CLIENT_EXAMPLES: &str = "\
Examples:
  netlab udp-client 127.0.0.1 hello            # prints HELLO
  netlab udp-client localhost hello -p 5000    # a single positional is the HOST, as with nc
  printf 'a\\nb\\n' | netlab udp-client          # one datagram per line, one reply per line
  netlab udp-client localhost hi --timeout 50ms --max-wait 400ms  # waits 50, 100, 200, 400 ms
  netlab udp-client --count 5 --interval 200ms # ping mode: RTT per reply and a summary
  netlab udp-client --broadcast 127.255.255.255 who      # every reply, with its sender
Lost datagrams are resent: wait --timeout, double it after each loss, stop with
'server seems down' (exit 69) when the next wait would pass --max-wait.";

/// `udp-client` flags.
#[derive(Debug, Args)]
pub struct UdpClientArgs {
    /// Server name or address (default 127.0.0.1), or HOST:PORT, [IPv6]:PORT; every resolved address is tried
    pub host: Option<String>,
    /// The message; without it every stdin line is sent as one datagram
    pub message: Option<String>,
    /// Server port (default 1234); HOST:PORT works too
    #[arg(short, long)]
    pub port: Option<u16>,
    /// First wait for a reply, doubled after each loss, e.g. 100ms
    #[arg(long, value_name = "DUR", value_parser = timeout, default_value = "100ms")]
    pub timeout: Duration,
    /// Give up when the next wait would be longer than this, e.g. 2s
    #[arg(long, value_name = "DUR", value_parser = duration, default_value = "2s")]
    pub max_wait: Duration,
    /// Set SO_BROADCAST, send once, print every reply (with its sender) until --timeout
    #[arg(long)]
    pub broadcast: bool,
    /// Ping mode: send N probes, print each round-trip time and a min/avg/max/loss summary
    #[arg(long, value_name = "N", value_parser = positive)]
    pub count: Option<u64>,
    /// Ping mode: time between probes, e.g. 200ms
    #[arg(long, value_name = "DUR", value_parser = duration, default_value = "1s")]
    pub interval: Duration,
    /// One JSON object per line on stdout instead of text
    #[arg(long)]
    pub json: bool,
}
