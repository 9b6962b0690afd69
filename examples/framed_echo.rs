//! Length-prefixed blocks through the library's client API: connect, send
//! each argument as one block (`put_block`), read each reply (`get_block`,
//! built on `recvall`), print it.
//!
//! Run `netlab framed server -p 5000` in one terminal (a framed server: another
//! protocol on that port, such as the `reverse_lines` example, never sends a
//! block back, and this example then gives up after 5 s), then
//! `cargo run --example framed_echo -- 5000 hello straße` prints `HELLO` and `STRASSE`.

use netlab::client::framed::BlockClient;
use netlab::proto::frame::DEFAULT_MAX_FRAME;
use std::net::TcpStream;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(netlab::DEFAULT_PORT);
    let sock = TcpStream::connect(("127.0.0.1", port))?;
    // A server that never answers with a block must not hang the example.
    sock.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    // One write per block, so Nagle's algorithm never delays a request.
    let mut client = BlockClient::new(sock, DEFAULT_MAX_FRAME, false);
    for message in args {
        let reply = client.call(message.as_bytes())?;
        println!("{}", String::from_utf8_lossy(&reply));
    }
    Ok(())
}
