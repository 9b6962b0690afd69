//! The one integration test binary: the real `netlab` on `--port 0`, talked to
//! with std sockets and with Python 3's standard library as an independent peer.

mod cli;
mod tcp;
mod udp;
mod util;
