//! The one integration test binary: the real `netlab` on `--port 0`, talked to
//! with std sockets and with Python 3's standard library as an independent peer.

// Tests may panic on what they did not expect: that is how they fail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod util;

mod bench;
mod cli;
mod conformance;
mod framed;
mod hostile;
mod http;
mod lesson;
mod modes;
mod regressions;
mod rpc;
mod scripted_shared;
mod tcp_client;
mod tcp_server;
mod tls;
mod udp;
mod uring;
