//! netlab: socket demo servers and clients, and the small library they share.
//!
//! Every classic socket lesson (UDP request/response with retries, the six
//! TCP server designs, recvall and length-prefixed framing, XML-RPC over
//! HTTP, name resolution, byte order) is here as a reusable piece.
//! The protocol code is sans-IO: it turns bytes into bytes and never touches a
//! socket, a thread or the clock. The servers are I/O schedulers that drive it.
//!
//! To add a protocol, write a [`proto::Session`] and hand a factory of it to
//! [`server::edge`]: `examples/reverse_lines.rs` does that in one file, and
//! the same session then runs in every server mode.
//!
//! # Layout: socket concept → module
//!
//! | concept | module |
//! |---|---|
//! | Unicode uppercase over a byte stream, split characters | [`proto::upper`] |
//! | the session contract (bytes in, bytes out, EOF; last words always sent) | [`proto`] |
//! | pending output and write boundaries (one write, or separate writes) | [`proto::output`] |
//! | what a server answers: upper, echo, PONG (servers, bench and clients agree) | [`proto::answer`] |
//! | the demo handlers (upper, echo, hello, time) | [`proto::handlers`] |
//! | length-prefixed frames (`struct.pack('!I')`), limits before allocation | [`proto::frame`] |
//! | the framed server session, the Nagle trap (`--split-writes`) | [`proto::framed`] |
//! | zlib payloads inflated with a ceiling (no zip bombs) | [`proto::zlib`] |
//! | HTTP/1.1 heads and bodies, keep-alive, pipelining, 413/431 | [`proto::http`] |
//! | HTTP bodies: counted, chunked, until close | [`proto::http::body`] |
//! | the one HTTP server session: keep-alive, pipelining, HEAD, 100-continue, 408, bodies that stream | [`proto::http::server`] |
//! | XML-RPC bodies as Python writes them; entities never expanded | [`proto::xmlrpc`] |
//! | the XML-RPC server (a handler on the HTTP session) and its methods | [`rpc`], [`rpc::methods`] |
//! | the static file server: nothing outside the root, listings, ranges, 304 | [`web`], [`web::files`] |
//! | request targets that must not climb out (`..`, `%2e%2e`, `%2f`, NUL) | [`web::target`] |
//! | an HTTP client: GET, redirects, bodies streamed to a file | [`client::http`] |
//! | TLS around any session, in any mode; certificates, trust | [`tls`], [`tls::session`] |
//! | `HOST:PORT`, `[IPv6]:PORT`, names for `--bind` | [`addr`] |
//! | bind, backlog, `SO_REUSEADDR`, `SO_REUSEPORT`, dual-stack `::`, Unix sockets | [`net`] |
//! | TCP and Unix stream sockets behind one type | [`conn`] |
//! | the `server ready on ADDR` line | [`ready`] |
//! | SIGINT/SIGTERM, waking a blocked `accept`/`recv` | [`shutdown`] |
//! | counters and the shutdown summary | [`stats`] |
//! | the six TCP server designs and what they share | [`server`] |
//! | the server edge: bind, ready line, serve, clean up, summary | [`server::edge`] |
//! | one connection's life in an event loop: phases, back-pressure, lingering, bodies that stream | [`server::lifecycle`] |
//! | the event loops' shared policy: timers, idle sweep, stop sequence, accept errors | [`server::event_loop`] |
//! | one accept loop; accept errors that are not fatal | [`server::accept`] |
//! | read, reply, EOF, half-close, lingering close | [`server::drive`] |
//! | head-of-line blocking | [`server::sequential`] |
//! | a thread per client, capped | [`server::thread`] |
//! | a fixed pool accepting on a shared listener | [`server::pool`] |
//! | epoll, edge-triggered readiness, back-pressure, timers | [`server::poll`] |
//! | a process per client, reaping children | [`server::fork`] |
//! | completion-based I/O: submissions, completions, provided buffers | `server::uring` (Linux) |
//! | waking readers at shutdown with `shutdown(SHUT_RD)` | [`server::live`] |
//! | UDP server: one socket serves every sender | [`server::udp`] |
//! | TCP client: half-close, streaming both ways | [`client::stream`] |
//! | recvall, `put_block` / `get_block` | [`client::framed`] |
//! | an XML-RPC client, JSON-typed arguments | [`client::rpc`] |
//! | UDP client: `connect()`, ICMP refusals, stale replies | [`client::udp`] |
//! | exponential backoff as a pure policy | [`client::backoff`] |
//! | load generation: closed and open loop, HdrHistogram percentiles | [`bench`](mod@bench) |
//! | `getaddrinfo` / `gethostbyaddr` | [`resolve`] |
//! | the kernel's evidence: `/proc/net/tcp` states and queues, `TCP_INFO` | [`kernel`] |
//! | `struct.pack('!i')`: byte order | [`byteorder`] |
//! | unknown host, refused, server down; usage errors | [`error`] |
//! | exit codes and the errors that choose them | [`exit`] |
//! | durations such as `100ms` or `2` | [`duration`] |
//! | counts in words (`1 try`, `2 tries`) | [`words`] |
//! | tracing to stderr, `-v` / `-vv` / `-q` | [`logging`] |

pub mod addr;
pub mod bench;
pub mod byteorder;
pub mod client;
pub mod conn;
pub mod duration;
pub mod error;
pub mod exit;
pub mod kernel;
pub mod logging;
pub mod net;
pub mod proto;
pub mod ready;
pub mod resolve;
pub mod rpc;
pub mod server;
pub mod shutdown;
pub mod stats;
pub mod tls;
pub mod web;
pub mod words;

/// The port every command uses when `-p` is not given.
pub const DEFAULT_PORT: u16 = 1234;
