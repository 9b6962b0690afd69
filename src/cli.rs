//! The command line, as clap derive types and nothing else; `app` turns these
//! into library configs, so nothing below it sees clap.

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};
use netlab::DEFAULT_PORT;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

fn duration(text: &str) -> Result<Duration, String> {
    netlab::duration::parse(text)
}

fn probability(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!("'{text}' is not a fraction between 0 and 1")),
    }
}

fn positive(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("'{text}' is not a whole number above 0")),
    }
}

/// Socket demo servers and clients: the classic network programming lessons, done right.
#[derive(Debug, Parser)]
#[command(name = "netlab", version, propagate_version = true, after_help = TOP_EXAMPLES)]
pub struct Cli {
    /// More detail on stderr: -v one line per connection or datagram, -vv every socket call
    #[arg(short, long, action = ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Errors only on stderr (the shutdown summary is hidden too)
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// What to run
    #[command(subcommand)]
    pub command: Command,
}

const TOP_EXAMPLES: &str = "\
Examples:
  netlab tcp-server --mode pool          # uppercase echo on TCP 127.0.0.1:1234, 4 worker threads
  netlab tcp-client 127.0.0.1 hello      # prints HELLO
  netlab udp-server                      # uppercase echo on UDP 127.0.0.1:1234
  netlab udp-client 127.0.0.1 hello      # prints HELLO
  netlab resolve localhost               # every getaddrinfo result
  netlab byteorder 1234                  # d2 04 00 00 / 00 00 04 d2

Every server prints `server ready on ADDR` on stdout once it listens; logs go to stderr.
RUST_LOG overrides -v/-q. Exit codes: 0 ok, 1 runtime error, 2 usage, 68 unknown host,
69 server unreachable.";

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// TCP server in one of five designs: sequential, thread, pool, poll, fork
    #[command(after_help = TCP_SERVER_EXAMPLES)]
    TcpServer(TcpServerArgs),
    /// TCP client: sends MESSAGE and half-closes, or streams stdin both ways like nc
    #[command(after_help = TCP_CLIENT_EXAMPLES)]
    TcpClient(TcpClientArgs),
    /// UDP server: answers every datagram with its uppercase (or echo, or PONG)
    #[command(after_help = UDP_SERVER_EXAMPLES)]
    UdpServer(UdpServerArgs),
    /// UDP client: sends MESSAGE (or each stdin line), resends with backoff, prints replies
    #[command(after_help = UDP_CLIENT_EXAMPLES)]
    UdpClient(UdpClientArgs),
    /// Load generator: many connections, every reply checked, requests/s and latency
    #[command(after_help = BENCH_EXAMPLES)]
    Bench(BenchArgs),
    /// Name resolution: getaddrinfo results, this host's names, reverse lookups
    #[command(after_help = RESOLVE_EXAMPLES)]
    Resolve(ResolveArgs),
    /// Shows a 32-bit integer in little-endian, big-endian and network byte order
    #[command(after_help = BYTEORDER_EXAMPLES)]
    Byteorder(ByteorderArgs),
}

/// Where a server listens.
#[derive(Debug, Args)]
pub struct Listen {
    /// IP to bind: 127.0.0.1 (this machine), 0.0.0.0 (every IPv4 interface) or :: (dual-stack)
    #[arg(long, value_name = "IP", default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Port to listen on; 0 lets the kernel pick one (the ready line shows it)
    #[arg(short, long, default_value_t = DEFAULT_PORT)]
    pub port: u16,
}

const TCP_SERVER_EXAMPLES: &str = "\
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

const TCP_CLIENT_EXAMPLES: &str = "\
Examples:
  netlab tcp-client 127.0.0.1 hello            # send, half-close, print the reply: HELLO
  netlab tcp-client                            # like nc: stdin to the server, its bytes to stdout
  printf 'a\\nb\\n' | netlab tcp-client          # works in pipes: the reply, then exit
  netlab tcp-client --unix /tmp/netlab.sock hi # the positional is MESSAGE with --unix
  netlab tcp-client localhost hi --timeout 2s  # give up when the server is silent for 2 s";

/// `tcp-server` flags.
#[derive(Debug, Args)]
pub struct TcpServerArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// What each connection gets
    #[arg(long, value_enum, default_value_t = HandlerArg::Upper)]
    pub handler: HandlerArg,
}

/// The flags every stream server shares (`tcp-server`, `framed server`, `rpc server`).
#[derive(Debug, Args)]
pub struct ServerArgs {
    #[command(flatten)]
    pub listen: Listen,
    /// How clients are scheduled: one at a time, a thread each, a fixed pool, an event loop, a process each
    #[arg(long, value_enum, default_value_t = ModeArg::Thread)]
    pub mode: ModeArg,
    /// Pool threads (default 4) or poll event loops (default 1), e.g. 8
    #[arg(long, value_name = "N", value_parser = positive)]
    pub workers: Option<u64>,
    /// Most clients served at once (thread, poll, fork; default 1024); the rest wait in the backlog
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

/// `tcp-client` flags.
#[derive(Debug, Args)]
pub struct TcpClientArgs {
    /// Server name or address (default 127.0.0.1); every resolved address is tried
    pub host: Option<String>,
    /// The message; without it stdin is streamed to the server
    pub message: Option<String>,
    /// Server port
    #[arg(short, long, default_value_t = DEFAULT_PORT)]
    pub port: u16,
    /// Connect to a Unix stream socket; the positional is then MESSAGE
    #[arg(long, value_name = "PATH", conflicts_with = "port")]
    pub unix: Option<PathBuf>,
    /// Give up connecting, or waiting for data, after this long, e.g. 2s
    #[arg(long, value_name = "DUR", value_parser = duration)]
    pub timeout: Option<Duration>,
    /// Print each line the server sends as a JSON object {"line": ...}
    #[arg(long)]
    pub json: bool,
}

const UDP_SERVER_EXAMPLES: &str = "\
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

const UDP_CLIENT_EXAMPLES: &str = "\
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
    /// Server name or address (default 127.0.0.1); every resolved address is tried
    pub host: Option<String>,
    /// The message; without it every stdin line is sent as one datagram
    pub message: Option<String>,
    /// Server port
    #[arg(short, long, default_value_t = DEFAULT_PORT)]
    pub port: u16,
    /// First wait for a reply, doubled after each loss, e.g. 100ms
    #[arg(long, value_name = "DUR", value_parser = duration, default_value = "100ms")]
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

const BENCH_EXAMPLES: &str = "\
Examples:
  netlab bench --conns 100 --duration 5s        # against tcp-server on 127.0.0.1:1234
  netlab bench -p 5000 --size 1024 --requests 100000 --json
  netlab bench --conns 1 --size 1073741824 --requests 1   # stream 1 GiB through one connection
  netlab bench --reply echo                     # the server runs --handler echo
Every reply is checked byte by byte; any wrong reply is an error and makes the exit code 1.";

/// `bench` flags.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Server name or address (default 127.0.0.1)
    pub host: Option<String>,
    /// Server port
    #[arg(short, long, default_value_t = DEFAULT_PORT)]
    pub port: u16,
    /// Connect to a Unix stream socket instead
    #[arg(long, value_name = "PATH", conflicts_with_all = ["host", "port"])]
    pub unix: Option<PathBuf>,
    /// Protocol to speak
    #[arg(long, value_enum, default_value_t = ProtoArg::Tcp)]
    pub proto: ProtoArg,
    /// Connections kept busy at once, e.g. 100
    #[arg(long, value_name = "N", value_parser = positive, default_value_t = 10)]
    pub conns: u64,
    /// Request size in bytes, e.g. 1024
    #[arg(long, value_name = "BYTES", value_parser = positive, default_value_t = 64)]
    pub size: u64,
    /// Run this long, e.g. 10s
    #[arg(long, value_name = "DUR", value_parser = duration, default_value = "5s", conflicts_with = "requests")]
    pub duration: Duration,
    /// Stop after N requests in all instead of after --duration
    #[arg(long, value_name = "N", value_parser = positive)]
    pub requests: Option<u64>,
    /// What the server answers, to check replies: uppercase or echo
    #[arg(long, value_enum, default_value_t = BenchReplyArg::Upper)]
    pub reply: BenchReplyArg,
    /// One JSON object instead of text
    #[arg(long)]
    pub json: bool,
}

/// `bench --proto` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ProtoArg {
    /// Raw TCP request/reply (tcp-server)
    Tcp,
}

/// `bench --reply` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum BenchReplyArg {
    /// The request uppercased (--handler upper)
    Upper,
    /// The request unchanged (--handler echo)
    Echo,
}

const RESOLVE_EXAMPLES: &str = "\
Examples:
  netlab resolve                         # this host's name and fully qualified name
  netlab resolve localhost               # family, socket type, protocol, address
  netlab resolve example.org https --family 6
  netlab resolve --reverse 127.0.0.1     # name, aliases, addresses (gethostbyaddr)";

/// `resolve` flags.
#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// Name to look up; without it, show this host's names
    pub name: Option<String>,
    /// Service name or port, e.g. http or 80
    pub service: Option<String>,
    /// Only IPv4 (4) or IPv6 (6) results
    #[arg(long, value_enum)]
    pub family: Option<FamilyArg>,
    /// Reverse lookup of an IP address
    #[arg(long, value_name = "IP", conflicts_with_all = ["name", "service"])]
    pub reverse: Option<IpAddr>,
    /// One JSON object per result
    #[arg(long)]
    pub json: bool,
}

/// `--family` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FamilyArg {
    /// IPv4
    #[value(name = "4")]
    V4,
    /// IPv6
    #[value(name = "6")]
    V6,
}

const BYTEORDER_EXAMPLES: &str = "\
Examples:
  netlab byteorder 1234                  # d2 04 00 00 / 00 00 04 d2 / 00 00 04 d2
  netlab byteorder -- -2                 # negative values after --
  netlab byteorder --unpack '00 00 04 d2'  # 1234";

/// `byteorder` flags.
#[derive(Debug, Args)]
pub struct ByteorderArgs {
    /// A signed 32-bit integer
    #[arg(allow_negative_numbers = true, required_unless_present = "unpack")]
    pub value: Option<i32>,
    /// Read 4 hex bytes in network order back into the integer
    #[arg(long, value_name = "HEX", conflicts_with = "value")]
    pub unpack: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_go_anywhere() {
        let a = Cli::try_parse_from(["netlab", "-v", "udp-server"]).expect("parse");
        let b = Cli::try_parse_from(["netlab", "udp-server", "-vv"]).expect("parse");
        assert_eq!((a.verbose, b.verbose), (1, 2));
        assert!(
            Cli::try_parse_from(["netlab", "udp-server", "-q"])
                .expect("parse")
                .quiet
        );
    }

    #[test]
    fn unix_takes_the_positional_as_message() {
        let cli = Cli::try_parse_from(["netlab", "tcp-client", "--unix", "/tmp/s", "hi"]).expect("parse");
        assert!(
            matches!(cli.command, Command::TcpClient(TcpClientArgs { host: Some(ref h), message: None, .. }) if h == "hi")
        );
        let s = Cli::try_parse_from(["netlab", "tcp-server", "--mode", "poll", "--workers", "2"]).expect("parse");
        assert!(matches!(
            s.command,
            Command::TcpServer(TcpServerArgs {
                server: ServerArgs {
                    mode: ModeArg::Poll,
                    workers: Some(2),
                    ..
                },
                ..
            })
        ));
    }

    #[test]
    fn bad_values_are_usage_errors() {
        for args in [
            vec!["netlab", "udp-server", "-p", "65536"],
            vec!["netlab", "udp-client", "--timeout", "soon"],
            vec!["netlab", "udp-server", "--drop", "1.5"],
            vec!["netlab", "byteorder", "2147483648"],
            vec!["netlab", "tcp-server", "--mode", "magic"],
            vec!["netlab", "tcp-server", "--workers", "0"],
        ] {
            assert!(Cli::try_parse_from(&args).is_err(), "{args:?}");
        }
        let neg = Cli::try_parse_from(["netlab", "byteorder", "-5"]).expect("negative");
        assert!(matches!(
            neg.command,
            Command::Byteorder(ByteorderArgs { value: Some(-5), .. })
        ));
    }
}
