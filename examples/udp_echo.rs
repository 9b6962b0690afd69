//! A minimal UDP uppercase server written against the netlab library, the way
//! a reader would write their own: bind, then answer each datagram to its sender.
//!
//! Run it with `cargo run --example udp_echo -- 5000` and try
//! `netlab udp-client 127.0.0.1 hello -p 5000`.

use netlab::proto::upper::upper_once;
use std::net::{IpAddr, Ipv4Addr};

fn main() -> std::io::Result<()> {
    let port = std::env::args().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    let socket = netlab::net::bind_udp(IpAddr::V4(Ipv4Addr::LOCALHOST), port)?;
    netlab::ready::announce(socket.local_addr()?)?;
    let mut buf = vec![0u8; 65_536];
    let mut reply = Vec::new();
    loop {
        let (n, from) = socket.recv_from(&mut buf)?;
        reply.clear();
        // recv_from never returns more than the buffer holds.
        upper_once(buf.get(..n).unwrap_or_default(), &mut reply);
        socket.send_to(&reply, from)?;
    }
}
