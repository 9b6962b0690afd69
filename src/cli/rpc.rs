//! `rpc server` and `rpc call`: XML-RPC over HTTP/1.1.

use super::{ServerArgs, bytes, readable_file, timeout, with_server_flags};
use clap::{Args, Subcommand};
use netlab::rpc::DEFAULT_MAX_BODY;
use std::time::Duration;

/// `rpc` subcommands.
#[derive(Debug, Subcommand)]
pub enum RpcCommand {
    /// XML-RPC server (keep-alive HTTP/1.1) with addtogether, quadratic, upper and system.*
    #[command(after_help = with_server_flags(RPC_SERVER_EXAMPLES))]
    Server(RpcServerArgs),
    /// Calls METHOD at URL with JSON-typed ARGs and prints the result as JSON
    #[command(after_help = RPC_CALL_EXAMPLES)]
    Call(RpcCallArgs),
}

pub const RPC_SERVER_EXAMPLES: &str = "\
Examples:
  netlab rpc server                            # http://127.0.0.1:7001/RPC2, a thread per client
  netlab rpc server --mode poll -vv            # -vv shows every request and response body
  netlab rpc server --max-body 64KiB           # refuse larger bodies with HTTP 413
  python3 -c \"import xmlrpc.client as x; print(x.ServerProxy('http://127.0.0.1:7001').addtogether(1, 2))\"
Methods: addtogether(*things), quadratic(a, b, c), upper(s), system.listMethods,
system.methodHelp, system.methodSignature, system.multicall. Every call error is an
XML-RPC fault on HTTP 200 (malformed XML, a DOCTYPE or an entity included: nothing is
ever expanded); paths other than / and /RPC2 are 404, methods other than POST 405.";

/// `rpc server` flags.
#[derive(Debug, Args)]
#[command(mut_arg("port", |a| a.default_value("7001")))]
pub struct RpcServerArgs {
    /// Largest request body in bytes (after gzip too); a larger one is refused with HTTP 413
    #[arg(long, value_name = "BYTES", value_parser = bytes, default_value_t = DEFAULT_MAX_BODY)]
    pub max_body: usize,
    #[command(flatten)]
    pub server: ServerArgs,
}

pub const RPC_CALL_EXAMPLES: &str = "\
Examples:
  netlab rpc call http://127.0.0.1:7001 addtogether 1 2 3        # 6
  netlab rpc call http://127.0.0.1:7001 addtogether '\"a\"' '\"b\"'  # \"ab\"
  netlab rpc call http://127.0.0.1:7001 quadratic 1 -3 2         # [2.0,1.0]
  netlab rpc call http://127.0.0.1:7001 upper 'straße'           # \"STRASSE\"
  netlab rpc call http://127.0.0.1:7001 system.listMethods
  netlab rpc call https://localhost:7001 upper hi --cacert c.pem # rpc server --tls --write-cert c.pem
Each ARG that parses as JSON is sent as that type (1 int, 1.5 double, \"x\" string, [..]
array, {..} struct, true boolean, null nil), anything else as a string. A fault prints
'fault CODE: STRING' on stderr and exits 1.";

/// `rpc call` flags.
#[derive(Debug, Args)]
pub struct RpcCallArgs {
    /// The server, e.g. http://127.0.0.1:7001 (path /RPC2 unless given)
    pub url: String,
    /// The method, e.g. addtogether
    pub method: String,
    /// Arguments, each JSON if it parses as JSON, else a string (negative numbers work; -- before text that starts with -)
    #[arg(allow_negative_numbers = true)]
    pub args: Vec<String>,
    /// Give up connecting, or waiting for the answer, after this long, e.g. 2s
    #[arg(long, value_name = "DUR", value_parser = timeout, default_value = "30s")]
    pub timeout: Option<Duration>,
    /// https: trust the certificates in FILE (PEM; a server's --write-cert) instead of the system's roots
    #[arg(long, value_name = "FILE", value_parser = readable_file, conflicts_with = "insecure")]
    pub cacert: Option<std::path::PathBuf>,
    /// https: do not check the server's certificate (said on stderr every time)
    #[arg(short = 'k', long)]
    pub insecure: bool,
}
