//! A custom handler served by any netlab mode: each line comes back with its
//! characters reversed. Written only against the library's public API, as a
//! reader would write their own protocol.
//!
//! Run `cargo run --example reverse_lines -- poll 5000`, then
//! `printf 'hello\nstraße\n' | netlab tcp-client -p 5000` prints `olleh` and `eßarts`.

use netlab::conn::Listener;
use netlab::net::{self, ListenOptions};
use netlab::proto::{Flow, ProtocolError, Session};
use netlab::server::{self, Mode, ServerConfig};
use netlab::shutdown::Shutdown;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

/// The longest line held while waiting for its newline.
const MAX_LINE: usize = 64 * 1024;

/// Buffers one line at a time; bytes in, reversed lines out.
#[derive(Default)]
struct ReverseLines {
    line: Vec<u8>,
}

impl ReverseLines {
    fn emit(&mut self, out: &mut Vec<u8>) {
        let reversed: String = String::from_utf8_lossy(&self.line).chars().rev().collect();
        out.extend_from_slice(reversed.as_bytes());
        self.line.clear();
    }
}

impl Session for ReverseLines {
    fn on_data(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<Flow, ProtocolError> {
        for &byte in data {
            if byte == b'\n' {
                self.emit(out);
                out.push(b'\n');
            } else if self.line.len() < MAX_LINE {
                self.line.push(byte);
            } else {
                return Err(ProtocolError::Limit(format!("line longer than {MAX_LINE} bytes")));
            }
        }
        Ok(Flow::Continue)
    }

    fn on_eof(&mut self, out: &mut Vec<u8>) -> Result<(), ProtocolError> {
        if !self.line.is_empty() {
            self.emit(out);
        }
        Ok(())
    }
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let mode = match args.next().as_deref() {
        Some("sequential") => Mode::Sequential,
        Some("pool") => Mode::Pool,
        Some("poll") => Mode::Poll,
        Some("fork") => Mode::Fork,
        _ => Mode::Thread,
    };
    let port = args.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let shutdown = Shutdown::new()?;
    shutdown.on_signals()?;
    let listener = net::listen_tcp(IpAddr::V4(Ipv4Addr::LOCALHOST), port, ListenOptions::default())?;
    netlab::ready::announce(listener.local_addr()?)?;
    let cfg = ServerConfig {
        mode,
        ..ServerConfig::default()
    };
    let stats = server::run(
        vec![Listener::Tcp(listener)],
        cfg,
        Arc::new(|_| Box::new(ReverseLines::default())),
        shutdown,
    )?;
    eprintln!("{}", stats.summary("connections"));
    Ok(())
}
