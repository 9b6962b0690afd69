//! A custom handler served by any netlab mode: each line comes back with its
//! characters reversed. Written only against the library's public API, as a
//! reader would write their own protocol.
//!
//! Run `cargo run --example reverse_lines -- poll 5000`, then
//! `printf 'hello\nstraße\n' | netlab tcp-client -p 5000` prints `olleh` and `eßarts`.

use netlab::proto::{Flow, Output, ProtocolError, Session};
use netlab::server::Mode;
use netlab::server::edge::{self, ListenOn, ServerOptions};
use netlab::shutdown::Shutdown;
use std::net::Ipv4Addr;

/// The longest line held while waiting for its newline.
const MAX_LINE: usize = 64 * 1024;

/// Buffers one line at a time; bytes in, reversed lines out.
#[derive(Default)]
struct ReverseLines {
    line: Vec<u8>,
}

impl ReverseLines {
    fn emit(&mut self, out: &mut Output) {
        let reversed: String = String::from_utf8_lossy(&self.line).chars().rev().collect();
        out.extend_from_slice(reversed.as_bytes());
        self.line.clear();
    }
}

impl Session for ReverseLines {
    fn on_data(&mut self, data: &[u8], out: &mut Output) -> Result<Flow, ProtocolError> {
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

    fn on_eof(&mut self, out: &mut Output) -> Result<(), ProtocolError> {
        if !self.line.is_empty() {
            self.emit(out);
        }
        Ok(())
    }
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let mode = args
        .next()
        .and_then(|name| Mode::ALL.into_iter().find(|m| m.name() == name))
        .unwrap_or(Mode::Thread);
    let port = args.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let mut opts = ServerOptions {
        listen: ListenOn::Tcp {
            ip: Ipv4Addr::LOCALHOST.into(),
            port,
        },
        ..ServerOptions::default()
    };
    opts.cfg.mode = mode;
    // Binds, prints the ready line, serves until Ctrl-C, prints the summary.
    edge::serve(
        &opts,
        netlab::proto::factory(|_| ReverseLines::default()),
        Shutdown::with_signals()?,
    )?;
    Ok(())
}
