//! The command line, as clap derive types and nothing else; `app` turns these
//! into library configs, so nothing below it sees clap.

mod bench;
mod client;
mod framed;
mod http;
mod lesson;
mod rpc;
mod server;
mod tools;

pub use bench::*;
pub use client::*;
pub use framed::*;
pub use http::*;
pub use lesson::*;
pub use rpc::*;
pub use server::*;
pub use tools::*;

use clap::{ArgAction, Args, Parser, Subcommand};
use netlab::DEFAULT_PORT;
use std::time::Duration;

fn duration(text: &str) -> Result<Duration, String> {
    netlab::duration::parse(text)
}

/// A client's wait: a duration above zero (a zero timeout would mean "fail at once").
fn timeout(text: &str) -> Result<Duration, String> {
    match duration(text)? {
        d if d.is_zero() => Err(format!("'{text}': a timeout must be above 0")),
        d => Ok(d),
    }
}

fn probability(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!("'{text}' is not a fraction between 0 and 1")),
    }
}

/// A size in bytes: `1048576`, `64KiB`, `16MiB`, `1GiB` (K, M, G mean the same).
fn bytes(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let scale: usize = match unit.trim() {
        "" | "B" => 1,
        "K" | "k" | "KiB" | "KB" | "kB" => 1 << 10,
        "M" | "MiB" | "MB" => 1 << 20,
        "G" | "GiB" | "GB" => 1 << 30,
        _ => 0,
    };
    digits
        .parse::<usize>()
        .ok()
        .filter(|_| scale > 0)
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| format!("'{text}' is not a size like 65536, 64KiB or 16MiB"))
}

/// A file that can be read now (`--cacert`): a missing one is a usage error
/// before any connection is made.
fn readable_file(text: &str) -> Result<std::path::PathBuf, String> {
    std::fs::File::open(text)
        .map(|_| std::path::PathBuf::from(text))
        .map_err(|e| format!("cannot read '{text}': {e}"))
}

fn positive(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("'{text}' is not a whole number above 0")),
    }
}

/// Socket demo servers and clients: the classic network programming lessons, done right.
#[derive(Debug, Parser)]
#[command(name = "netlab", version, long_version = LONG_VERSION, propagate_version = true, after_help = TOP_EXAMPLES)]
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

const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\nTry: netlab tcp-server --mode pool, then in another terminal: netlab tcp-client 127.0.0.1 hello"
);

const TOP_EXAMPLES: &str = "\
Examples:
  netlab tcp-server --mode pool          # uppercase echo on TCP 127.0.0.1:1234, 4 worker threads
  netlab tcp-client 127.0.0.1 hello      # prints HELLO
  netlab framed server                   # length-prefixed blocks; netlab framed client 127.0.0.1 hi
  netlab rpc server                      # XML-RPC on 127.0.0.1:7001; netlab rpc call http://127.0.0.1:7001 upper hi
  netlab http server .                   # this directory on http://127.0.0.1:8000/; netlab http get URL
  netlab udp-server                      # uppercase echo on UDP 127.0.0.1:1234
  netlab udp-client 127.0.0.1 hello      # prints HELLO
  netlab bench --compare-modes           # every server design under the same load, one table
  netlab lesson                          # every lesson; netlab lesson NAME runs one and checks it
  netlab resolve localhost               # every getaddrinfo result
  netlab byteorder 1234                  # d2 04 00 00 / 00 00 04 d2
  netlab completions bash                # shell completions (bash, zsh, fish, powershell)

Every server prints `server ready on ADDR` on stdout once it listens; logs go to stderr.
RUST_LOG overrides -v/-q. Exit codes: 0 ok, 1 runtime error, 2 usage, 68 unknown host,
69 server unreachable.";

/// What `netlab` alone prints: where to start.
pub const OVERVIEW: &str = "\
netlab: socket demo servers and clients, the classic network programming lessons done right.

Try these first (the server in one terminal, the client in another):
  netlab tcp-server --mode pool      then  netlab tcp-client 127.0.0.1 hello
  netlab udp-server --drop 0.5       then  seq 5 | netlab udp-client -v
  netlab bench --compare-modes --conns 8 --delay 100ms

Commands: tcp-server, tcp-client, framed server|client, rpc server|call, http server|get, udp-server,
udp-client, bench, lesson, resolve, byteorder, completions.
`netlab --help` lists them; `netlab COMMAND --help` shows every flag with examples.";

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// TCP server in one of six designs: sequential, thread, pool, poll, fork, uring
    #[command(after_help = with_server_flags(TCP_SERVER_EXAMPLES))]
    TcpServer(TcpServerArgs),
    /// TCP client: sends MESSAGE and half-closes, or streams stdin both ways like nc
    #[command(after_help = TCP_CLIENT_EXAMPLES)]
    TcpClient(TcpClientArgs),
    /// Length-prefixed blocks (4-byte big-endian length, then the payload): server and client
    #[command(subcommand)]
    Framed(FramedCommand),
    /// XML-RPC over HTTP/1.1: a server Python's xmlrpc.client talks to, and a client
    #[command(subcommand)]
    Rpc(RpcCommand),
    /// HTTP: the simplest web server (static files) and a URL client
    #[command(subcommand)]
    Http(HttpCommand),
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
    /// Runs a lesson by itself on loopback, narrates it, and checks that its effect happened
    #[command(after_help = LESSON_EXAMPLES)]
    Lesson(LessonArgs),
    /// Prints shell completions for bash, zsh, fish or powershell
    #[command(after_help = COMPLETIONS_EXAMPLES)]
    Completions(CompletionsArgs),
}

/// Where a server listens.
#[derive(Debug, Args)]
pub struct Listen {
    /// IP to bind: 127.0.0.1 (this machine), 0.0.0.0 (every IPv4 interface), :: (dual-stack), or a name such as localhost
    #[arg(long, value_name = "IP", default_value = "127.0.0.1")]
    pub bind: String,
    /// Port to listen on; 0 lets the kernel pick one (the ready line shows it)
    #[arg(short, long, default_value_t = DEFAULT_PORT)]
    pub port: u16,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    /// Every man page, rendered from the clap definition: `netlab.1` and one
    /// page per command (`netlab-tcp-server.1`, `netlab-framed-server.1`...).
    fn man_pages() -> Vec<(String, Vec<u8>)> {
        fn walk(cmd: &clap::Command, title: &str, pages: &mut Vec<(String, Vec<u8>)>) {
            let mut page = Vec::new();
            let man = clap_mangen::Man::new(cmd.clone()).title(title.to_string());
            if man.render(&mut page).is_ok() {
                pages.push((format!("{title}.1"), page));
            }
            for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
                walk(sub, &format!("{title}-{}", sub.get_name()), pages);
            }
        }
        let mut cmd = Cli::command();
        cmd.build();
        let mut pages = Vec::new();
        walk(&cmd, "netlab", &mut pages);
        pages
    }

    /// The committed man pages match the CLI; `scripts/gen-man.sh` rewrites them.
    #[test]
    fn man_pages_match_the_cli() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
        let pages = man_pages();
        if std::env::var_os("NETLAB_WRITE_MAN").is_some() {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("man/");
            for (name, page) in &pages {
                std::fs::write(dir.join(name), page).expect("write a man page");
            }
            return;
        }
        for (name, page) in &pages {
            let committed = std::fs::read(dir.join(name)).unwrap_or_default();
            assert!(committed == *page, "man/{name} is out of date: run scripts/gen-man.sh");
        }
        let on_disk = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
        assert_eq!(on_disk, pages.len(), "man/ has pages for commands that no longer exist");
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
            vec!["netlab", "byteorder", "4294967296"],
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
