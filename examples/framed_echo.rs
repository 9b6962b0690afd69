//! Length-prefixed blocks through the library's client API: connect, send
//! each argument as one block (`put_block`), read each reply (`get_block`,
//! built on `recvall`), print it.
//!
//! Run `netlab framed server -p 5000` in one terminal, then
//! `cargo run --example framed_echo -- 5000 hello straße` prints `HELLO` and `STRASSE`.

use netlab::client::framed::BlockClient;
use netlab::proto::frame::DEFAULT_MAX_FRAME;
use std::net::TcpStream;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(netlab::DEFAULT_PORT);
    let sock = TcpStream::connect(("127.0.0.1", port))?;
    // One write per block, so Nagle's algorithm never delays a request.
    let mut client = BlockClient::new(sock, DEFAULT_MAX_FRAME, false);
    for message in args {
        let reply = client.call(message.as_bytes())?;
        println!("{}", String::from_utf8_lossy(&reply));
    }
    Ok(())
}
