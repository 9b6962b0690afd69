//! `tcp-server` and `tcp-client`.

use crate::cli::{HandlerArg, TcpClientArgs, TcpServerArgs};
use netlab::client::stream;
use netlab::error::UsageError;
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
    super::server::serve(
        &args.server,
        super::server::Speaks::plain(super::server::Nagle::Off),
        handler.factory(),
    )
}

pub fn client(args: TcpClientArgs) -> anyhow::Result<()> {
    let (host, message) = match (&args.dial.unix, &args.message) {
        (Some(_), Some(_)) if args.host.is_some() => {
            return Err(UsageError("with --unix there is no HOST: give one MESSAGE".into()).into());
        }
        // With --unix there is no HOST: a single positional is the MESSAGE.
        (Some(_), _) => (None, args.message.clone().or(args.host.clone())),
        (None, _) => (args.host.as_deref(), args.message.clone()),
    };
    if args.dial.unix.is_none() {
        netlab::addr::hint_digits_message(host, message.as_deref(), args.dial.port);
    }
    let conn = super::connect(host, args.dial.port, args.dial.unix.as_deref(), args.dial.timeout)?;
    let mut raw = LastByte {
        out: super::RawOut::new(),
        last: None,
    };
    let mut json = JsonLines {
        out: super::Out::new(),
        line: Vec::new(),
    };
    let out: &mut dyn Write = if args.json { &mut json } else { &mut raw };
    if args.dial.tls.on {
        let trust = super::trust(args.dial.tls.cacert.as_deref(), args.dial.tls.insecure);
        let mut tls = super::tls_over(conn, host, &trust)?;
        match &message {
            Some(m) => stream::tls_one_shot(&mut tls, m.as_bytes(), out)?,
            None => stream::tls_stream(&mut tls, std::io::stdin(), out)?,
        };
    } else {
        match &message {
            Some(m) => stream::one_shot(&conn, m.as_bytes(), out)?,
            None => stream::stream(&conn, std::io::stdin(), out)?,
        };
    }
    if args.json && !json.line.is_empty() {
        json.emit()?;
    }
    // A one-shot reply ends its line, so shell loops print one reply per
    // line; streaming (like nc) and --raw stay byte-exact.
    if message.is_some() && !args.json && !args.raw && raw.last != Some(b'\n') {
        raw.write_all(b"\n")?;
        raw.flush()?;
    }
    Ok(())
}

/// Passes bytes through and remembers the last one.
struct LastByte<W> {
    out: W,
    last: Option<u8>,
}

impl<W: Write> Write for LastByte<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        if let Some(b) = buf.get(..n).and_then(<[u8]>::last) {
            self.last = Some(*b);
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
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
