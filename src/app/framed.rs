//! `framed server` and `framed client`.

use super::Out;
use super::server::Nagle;
use crate::cli::{FramedClientArgs, FramedServerArgs};
use anyhow::Context;
use netlab::client::framed::BlockClient;
use netlab::proto::answer::Answer;
use netlab::proto::framed::{FramedOptions, FramedSession};
use std::io::{BufRead, Write};

pub fn server(args: FramedServerArgs) -> anyhow::Result<()> {
    let opts = FramedOptions {
        max_frame: args.max_frame,
        zlib: args.zlib,
        split_writes: args.split_writes,
        answer: Answer::Upper,
    };
    // Nagle stays on unless asked: one write per reply block never meets it.
    let nagle = if args.nodelay { Nagle::Off } else { Nagle::On };
    super::server::serve(
        &args.server,
        super::server::Speaks::plain(nagle),
        netlab::proto::factory(move |_| FramedSession::new(opts)),
    )
}

pub fn client(args: FramedClientArgs) -> anyhow::Result<()> {
    let mut messages = args.messages.clone();
    let host = match &args.dial.unix {
        // With --unix there is no HOST: every positional is a MESSAGE.
        Some(_) => {
            messages.splice(0..0, args.host.clone());
            None
        }
        None => args.host.as_deref(),
    };
    if host.is_some() {
        netlab::addr::hint_digits_message(host, messages.first().map(String::as_str), args.dial.port);
    }
    let conn = super::connect(host, args.dial.port, args.dial.unix.as_deref(), args.dial.timeout)?;
    if args.dial.tls.on {
        let trust = super::trust(args.dial.tls.cacert.as_deref(), args.dial.tls.insecure);
        let tls = super::tls_over(conn, host, &trust)?;
        return talk(BlockClient::new(tls, args.max_frame, args.zlib), &args, &messages);
    }
    talk(BlockClient::new(conn, args.max_frame, args.zlib), &args, &messages)
}

/// Sends each message (or `--file`, or each stdin line) as a block and shows each reply.
fn talk<S: std::io::Read + Write>(
    mut client: BlockClient<S>,
    args: &FramedClientArgs,
    messages: &[String],
) -> anyhow::Result<()> {
    let mut out = Out::new();
    if let Some(path) = &args.file {
        let data = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let reply = client.call(&data)?;
        let mut raw = super::RawOut::new();
        raw.write_all(&reply)?;
        return raw.flush().map_err(Into::into);
    }
    let mut show = |reply: &[u8], always_newline: bool| -> anyhow::Result<()> {
        if args.json {
            out.json(&serde_json::json!({ "reply": String::from_utf8_lossy(reply) }))?;
        } else if always_newline && !args.raw {
            out.line(reply)?;
        } else {
            out.reply(reply, args.raw)?;
        }
        Ok(())
    };
    if !messages.is_empty() {
        for m in messages {
            show(&client.call(m.as_bytes())?, false)?;
        }
    } else {
        let mut stdin = std::io::stdin().lock();
        let mut line = Vec::new();
        while {
            line.clear();
            stdin.read_until(b'\n', &mut line).context("cannot read stdin")? > 0
        } {
            if line.last() == Some(&b'\n') {
                line.pop();
            }
            show(&client.call(&line)?, true)?;
        }
    }
    // Dropping the connection closes it between blocks: a clean EOF for the server.
    Ok(())
}
