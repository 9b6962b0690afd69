//! `bench`, `resolve` and `byteorder`.

use super::{duration, positive};
use clap::{Args, ValueEnum};
use netlab::DEFAULT_PORT;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

pub const BENCH_EXAMPLES: &str = "\
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

pub const RESOLVE_EXAMPLES: &str = "\
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

pub const BYTEORDER_EXAMPLES: &str = "\
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
