//! The minimal blocking UDP echo server (std only: `recv_from` then
//! `send_to`, nothing else), used only as a yardstick by
//! scripts/bench-syscalls.py.
//! Usage: udp-echo [PORT]   (prints `server ready on ADDR`)

use std::net::UdpSocket;

fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    let socket = UdpSocket::bind(("127.0.0.1", port))?;
    println!("server ready on {}", socket.local_addr()?);
    let mut buf = vec![0u8; 65_536];
    loop {
        let (n, from) = socket.recv_from(&mut buf)?;
        socket.send_to(&buf[..n], from)?;
    }
}
