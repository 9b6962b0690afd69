//! `http server` and `http get`: the simplest web server and the urllib lesson.

use super::{ServerArgs, bytes, readable_file, timeout, with_server_flags};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

/// `http` subcommands.
#[derive(Debug, Subcommand)]
pub enum HttpCommand {
    /// Static file server: GET and HEAD of DIR (listings, ranges, 304), keep-alive HTTP/1.1
    #[command(after_help = with_server_flags(HTTP_SERVER_EXAMPLES))]
    Server(HttpServerArgs),
    /// Gets URL and prints the body byte for byte (-i: the head first)
    #[command(after_help = HTTP_GET_EXAMPLES)]
    Get(HttpGetArgs),
}

pub const HTTP_SERVER_EXAMPLES: &str = "\
Examples:
  netlab http server                         # the current directory on http://127.0.0.1:8000/
  netlab http server ./site --mode poll -v   # one access line per request on stderr
  netlab http server . --no-listing          # directories without index.html are 404
  curl -r 0-99 http://127.0.0.1:8000/big.iso # a range: 206 Partial Content
  python3 -m urllib.request ... or: netlab http get http://127.0.0.1:8000/ -i
Nothing outside DIR is ever served: '..', '%2e%2e', an encoded '/', NUL or backslash, and
'//host' targets are 404 (a malformed target 400); a symlink that leads outside DIR is 404
unless --follow-symlinks. Bodies stream as the client reads them: memory per connection
stays bounded whatever the file size.";

/// `http server` flags.
#[derive(Debug, Args)]
#[command(mut_arg("port", |a| a.default_value("8000")))]
pub struct HttpServerArgs {
    /// The directory to serve (default: the current one)
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// A directory without index.html is 404 instead of an HTML listing
    #[arg(long)]
    pub no_listing: bool,
    /// Serve symlinks that resolve outside DIR (else 404)
    #[arg(long)]
    pub follow_symlinks: bool,
    /// Largest request body in bytes; a body on a GET is read and dropped up to this, past it 413
    #[arg(long, value_name = "BYTES", value_parser = bytes, default_value_t = netlab::rpc::DEFAULT_MAX_BODY)]
    pub max_body: usize,
    /// A request head not whole this long after its first byte gets 408 and the connection closes
    #[arg(long, value_name = "DUR", value_parser = timeout, default_value = "30s")]
    pub head_timeout: Duration,
    #[command(flatten)]
    pub server: ServerArgs,
}

pub const HTTP_GET_EXAMPLES: &str = "\
Examples:
  netlab http get http://127.0.0.1:8000/             # the body (a page, a listing) on stdout
  netlab http get http://127.0.0.1:8000/ -i          # status line and headers first
  netlab http get http://127.0.0.1:8000/a.iso -o a.iso --max-size 4GiB
  netlab http get http://127.0.0.1:8000/dir -L       # follow the 301 to /dir/
  netlab http get http://127.0.0.1:8000/ --json      # status, headers, body size, time
  netlab -vv http get http://127.0.0.1:8000/         # both heads as they cross the wire
  netlab http get https://localhost:8443/ --cacert c.pem  # a server run with --tls --write-cert c.pem
Exit: 0 for 1xx-3xx; 400 and above print the body, then 'netlab: error: HTTP 404 Not
Found' and exit 1; unknown host 68, refused 69.";

/// `http get` flags.
#[derive(Debug, Args)]
pub struct HttpGetArgs {
    /// http://HOST[:PORT][/PATH] or https://...
    pub url: String,
    /// Print the status line and headers before the body
    #[arg(short = 'i', long)]
    pub include: bool,
    /// Send HEAD and print the status line and headers only
    #[arg(long)]
    pub head: bool,
    /// Write the body to FILE instead of stdout
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Follow redirects (at most 10)
    #[arg(short = 'L', long)]
    pub location: bool,
    /// Refuse a body larger than this, e.g. 10MiB
    #[arg(long, value_name = "BYTES", value_parser = bytes, default_value = "1GiB")]
    pub max_size: usize,
    /// Give up connecting, or waiting for the server, after this long
    #[arg(long, value_name = "DUR", value_parser = timeout, default_value = "30s")]
    pub timeout: Duration,
    /// One JSON object (status, reason, headers, body_bytes, elapsed_us) instead of the body
    #[arg(long)]
    pub json: bool,
    /// https: trust the certificates in FILE (PEM; a server's --write-cert) instead of the system's roots
    #[arg(long, value_name = "FILE", value_parser = readable_file, conflicts_with = "insecure")]
    pub cacert: Option<PathBuf>,
    /// https: do not check the server's certificate (said on stderr every time)
    #[arg(short = 'k', long)]
    pub insecure: bool,
}
