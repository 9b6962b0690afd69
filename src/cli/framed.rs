//! `framed server` and `framed client`: length-prefixed blocks.

use super::{Dial, ServerArgs, bytes, with_server_flags};
use clap::{Args, Subcommand};
use netlab::proto::frame::DEFAULT_MAX_FRAME;
use std::path::PathBuf;

/// `framed` subcommands.
#[derive(Debug, Subcommand)]
pub enum FramedCommand {
    /// Answers each block with one block of its payload uppercased, in any --mode
    #[command(after_help = with_server_flags(FRAMED_SERVER_EXAMPLES))]
    Server(FramedServerArgs),
    /// Sends each MESSAGE (or each stdin line, or --file) as one block and prints each reply
    #[command(after_help = FRAMED_CLIENT_EXAMPLES)]
    Client(FramedClientArgs),
}

pub const FRAMED_SERVER_EXAMPLES: &str = "\
Examples:
  netlab framed server --mode poll             # blocks on 127.0.0.1:1234, one event loop
  netlab framed server --max-frame 1048576     # refuse blocks announced above 1 MiB
  netlab framed server --zlib                  # payloads zlib-compressed both ways
  netlab framed server --split-writes          # head and payload in two writes: ~40 ms per reply
  netlab framed server --split-writes --nodelay  # the same with Nagle off: microseconds
A block is a 4-byte big-endian length (Python struct '!I'), then that many bytes.
A larger announced length closes that connection (one log line) and allocates nothing.";

/// `framed server` flags.
#[derive(Debug, Args)]
pub struct FramedServerArgs {
    /// Largest block payload accepted, in bytes (16MiB, 64KiB, or a number); a larger claim closes that connection
    #[arg(long, value_name = "BYTES", value_parser = bytes, default_value_t = DEFAULT_MAX_FRAME)]
    pub max_frame: usize,
    /// Payloads are zlib-compressed on the wire, both ways (clients must agree)
    #[arg(long)]
    pub zlib: bool,
    /// Send each reply's head and payload in two writes, as the tutorial does (the Nagle trap)
    #[arg(long)]
    pub split_writes: bool,
    /// Set TCP_NODELAY (Nagle's algorithm off), so --split-writes costs nothing
    #[arg(long)]
    pub nodelay: bool,
    #[command(flatten)]
    pub server: ServerArgs,
}

pub const FRAMED_CLIENT_EXAMPLES: &str = "\
Examples:
  netlab framed client 127.0.0.1 hello world   # two blocks, two replies: HELLO, WORLD
  printf 'a\\nb\\n' | netlab framed client       # one block per stdin line
  netlab framed client --file photo.jpg > out  # the whole file as one block, the reply raw
  netlab framed client --zlib localhost hi     # against a --zlib server
A server that closes mid-block: 'socket closed with N bytes left in this block', exit 1.";

/// `framed client` flags.
#[derive(Debug, Args)]
pub struct FramedClientArgs {
    /// Server name or address (default 127.0.0.1); every resolved address is tried
    pub host: Option<String>,
    /// Messages, one block each; without them each stdin line is one block
    pub messages: Vec<String>,
    #[command(flatten)]
    pub dial: Dial,
    /// Send this file as one block and write the reply's bytes to stdout as they are
    #[arg(long, value_name = "PATH", conflicts_with = "messages")]
    pub file: Option<PathBuf>,
    /// Payloads are zlib-compressed on the wire (the server must run --zlib)
    #[arg(long)]
    pub zlib: bool,
    /// Largest reply accepted, in bytes
    #[arg(long, value_name = "BYTES", value_parser = bytes, default_value_t = DEFAULT_MAX_FRAME)]
    pub max_frame: usize,
    /// Print each reply's bytes exactly, with no newline added
    #[arg(long)]
    pub raw: bool,
    /// Print each reply as a JSON object {"reply": ...}
    #[arg(long, conflicts_with = "raw")]
    pub json: bool,
}
