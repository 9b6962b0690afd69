//! `tcp-server` and `tcp-client`.

use crate::cli::{HandlerArg, TcpClientArgs, TcpServerArgs};
use netlab::client::stream;
use netlab::net;
use netlab::proto::handlers::Handler;
use std::io::Write;

pub fn server(args: TcpServerArgs) -> anyhow::Result<()> {
    let handler = match args.handler {
        HandlerArg::Upper => Handler::Upper,
        HandlerArg::Echo => Handler::Echo,
        HandlerArg::Hello => Handler::Hello,
        HandlerArg::Time => Handler::Time,
    };
    // Each reply leaves at once: an echo server has nothing to batch.
    super::server::serve(&args.server, true, handler.factory())
}

pub fn client(args: TcpClientArgs) -> anyhow::Result<()> {
    let (conn, message) = match &args.unix {
        // With --unix there is no HOST: a single positional is the MESSAGE.
        Some(path) => (stream::connect_unix(path)?, args.message.or(args.host)),
        None => {
            let host = args.host.as_deref().unwrap_or("127.0.0.1");
            let addrs = net::resolve(host, args.port)?;
            (stream::connect_tcp(&addrs, args.timeout)?, args.message)
        }
    };
    conn.set_read_timeout(args.timeout)?;
    let mut raw = super::RawOut::new();
    let mut json = JsonLines {
        out: super::Out::new(),
        line: Vec::new(),
    };
    let out: &mut dyn Write = if args.json { &mut json } else { &mut raw };
    match message {
        Some(m) => stream::one_shot(&conn, m.as_bytes(), out)?,
        None => stream::stream(&conn, std::io::stdin(), out)?,
    };
    if args.json && !json.line.is_empty() {
        json.emit()?;
    }
    Ok(())
}

/// `--json`: the server's bytes as one `{"line": ...}` object per line.
struct JsonLines {
    out: super::Out,
    line: Vec<u8>,
}

impl JsonLines {
    fn emit(&mut self) -> std::io::Result<()> {
        let text = String::from_utf8_lossy(&self.line).into_owned();
        self.line.clear();
        self.out.json(&serde_json::json!({ "line": text }))
    }
}

impl Write for JsonLines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        for &b in buf {
            if b == b'\n' {
                self.emit()?;
            } else {
                self.line.push(b);
            }
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
