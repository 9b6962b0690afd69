//! netlab: socket demo servers and clients, and the small library they share.
//!
//! Every classic socket lesson (UDP request/response with retries, the TCP
//! server designs, name resolution, byte order) is here as a reusable piece.
//! The protocol code is sans-IO: it turns bytes into bytes and never touches a
//! socket, a thread or the clock. The servers are I/O schedulers that drive it.
//!
//! # Layout: socket concept → module
//!
//! | concept | module |
//! |---|---|
//! | Unicode uppercase over a byte stream, split characters | [`proto::upper`] |
//! | the session contract (bytes in, bytes out, EOF) | [`proto`] |
//! | the demo handlers (upper, echo, hello, time) | [`proto::handlers`] |
//! | bind, `SO_REUSEADDR`, dual-stack `::`, resolving HOST | [`net`] |
//! | the `server ready on ADDR` line | [`ready`] |
//! | SIGINT/SIGTERM, waking a blocked `accept`/`recv` | [`shutdown`] |
//! | counters and the shutdown summary | [`stats`] |
//! | UDP server: one socket serves every sender | [`server::udp`] |
//! | UDP client: `connect()`, ICMP refusals, stale replies | [`client::udp`] |
//! | exponential backoff as a pure policy | [`client::backoff`] |
//! | `getaddrinfo` / `gethostbyaddr` | [`resolve`] |
//! | `struct.pack('!i')`: byte order | [`byteorder`] |
//! | exit codes and the errors that choose them | [`exit`] |
//! | durations such as `100ms` or `2` | [`duration`] |
//! | tracing to stderr, `-v` / `-vv` / `-q` | [`logging`] |

pub mod bench;
pub mod byteorder;
pub mod client;
pub mod conn;
pub mod duration;
pub mod exit;
pub mod logging;
pub mod net;
pub mod proto;
pub mod ready;
pub mod resolve;
pub mod server;
pub mod shutdown;
pub mod stats;

/// The port every command uses when `-p` is not given.
pub const DEFAULT_PORT: u16 = 1234;
