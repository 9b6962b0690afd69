//! `udp-server` and `udp-client`.

use super::Out;
use crate::cli::{ReplyArg, UdpClientArgs, UdpServerArgs};
use anyhow::Context;
use netlab::client::backoff::Backoff;
use netlab::client::udp::{self, PingSummary, Response, UdpClient};
use netlab::error::NetError;
use netlab::proto::answer::Answer;
use netlab::server::udp::{UdpServerConfig, serve};
use netlab::shutdown::Shutdown;
use netlab::stats::Stats;
use netlab::{addr, net, ready};
use serde_json::json;
use std::io::{self, BufRead};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub fn server(args: UdpServerArgs) -> anyhow::Result<()> {
    let cfg = UdpServerConfig {
        reply: match args.reply {
            ReplyArg::Upper => Answer::Upper,
            ReplyArg::Echo => Answer::Echo,
            ReplyArg::Pong => Answer::Pong,
        },
        delay: args.delay,
        drop: args.drop,
        seed: args.seed,
        exit_after: args.exit_after,
    };
    let shutdown = Shutdown::with_signals().context("cannot install signal handlers")?;
    let socket = net::bind_udp(addr::bind_ip(&args.listen.bind)?, args.listen.port)?;
    netlab::server::edge::log_fd_limit();
    ready::announce(socket.local_addr()?)?;
    let stats = Stats::default();
    serve(&socket, &cfg, &shutdown, &stats)?;
    netlab::logging::summary(stats.summary("datagram"));
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub fn client(args: UdpClientArgs) -> anyhow::Result<()> {
    addr::hint_digits_message(args.host.as_deref(), args.message.as_deref(), args.port);
    let addrs = addr::resolve_client(args.host.as_deref(), args.port, netlab::DEFAULT_PORT)?;
    let mut out = Out::new();
    if args.broadcast {
        return broadcast(&args, &addrs, &mut out);
    }
    if let Some(count) = args.count {
        return ping(&args, &addrs, count, &mut out);
    }
    let backoff = Backoff::new(args.timeout, args.max_wait);
    let mut client: Option<UdpClient> = None;
    let mut exchange = |message: &[u8], out: &mut Out, one_shot: bool| -> anyhow::Result<()> {
        let answer = match client.as_mut() {
            Some(c) => c.request(message, backoff.clone())?,
            None => {
                let (c, answer) = UdpClient::connect_any(&addrs, message, &backoff)?;
                client = Some(c);
                answer
            }
        };
        let server = client.as_ref().map(|c| c.server().to_string()).unwrap_or_default();
        print_answer(out, args.json, message, &answer, &server, one_shot)
    };
    if let Some(message) = &args.message {
        return exchange(message.as_bytes(), &mut out, true);
    }
    let mut stdin = io::stdin().lock();
    let mut line = Vec::new();
    loop {
        line.clear();
        if stdin.read_until(b'\n', &mut line).context("cannot read stdin")? == 0 {
            return Ok(());
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        exchange(&line, &mut out, false)?;
    }
}

/// Prints a reply: a line each for stdin's lines; a one-shot reply ends its
/// line unless it already does.
fn print_answer(
    out: &mut Out,
    as_json: bool,
    message: &[u8],
    answer: &Response,
    server: &str,
    one_shot: bool,
) -> anyhow::Result<()> {
    if as_json {
        out.json(&json!({
            "server": server,
            "request": String::from_utf8_lossy(message),
            "reply": String::from_utf8_lossy(&answer.reply),
            "rtt_ms": ms(answer.rtt),
            "tries": answer.tries,
        }))?;
    } else if one_shot {
        out.reply(&answer.reply, false)?;
    } else {
        out.line(&answer.reply)?;
    }
    Ok(())
}

fn broadcast(args: &UdpClientArgs, addrs: &[SocketAddr], out: &mut Out) -> anyhow::Result<()> {
    let target = *addrs.first().ok_or(NetError::Refused)?;
    let message = args.message.as_deref().unwrap_or("");
    let count = udp::broadcast(target, message.as_bytes(), args.timeout, |from, reply| {
        if args.json {
            out.json(&json!({ "from": from.to_string(), "reply": String::from_utf8_lossy(reply) }))
        } else {
            let mut text = format!("{from} ").into_bytes();
            text.extend_from_slice(reply);
            out.line(&text)
        }
    })?;
    if count == 0 {
        return Err(NetError::ServerDown { tries: 1 }.into());
    }
    netlab::logging::summary(format_args!(
        "{} to the broadcast",
        netlab::words::count(count as u64, "reply", "replies")
    ));
    Ok(())
}

fn ping(args: &UdpClientArgs, addrs: &[SocketAddr], count: u64, out: &mut Out) -> anyhow::Result<()> {
    let wait = args.max_wait.max(args.timeout);
    let mut candidates = addrs.iter();
    let mut client = UdpClient::connect(*candidates.next().ok_or(NetError::Refused)?)?;
    let mut rtts = Vec::new();
    for seq in 1..=count {
        let started = Instant::now();
        let payload = args.message.clone().unwrap_or_else(|| format!("ping {seq}"));
        let answer = loop {
            match client.probe(payload.as_bytes(), wait) {
                // The first probe finds the address that listens, as the other modes do.
                Err(e) if seq == 1 && e.kind() == io::ErrorKind::ConnectionRefused => {
                    let Some(next) = candidates.next() else {
                        return Err(e.into());
                    };
                    client = UdpClient::connect(*next)?;
                }
                other => break other?,
            }
        };
        let server = client.server();
        match (&answer, args.json) {
            (Some(a), true) => out.json(
                &json!({ "seq": seq, "bytes": a.reply.len(), "from": server.to_string(), "rtt_ms": ms(a.rtt) }),
            )?,
            (Some(a), false) => out.line(
                format!(
                    "{} bytes from {server}: seq={seq} time={:.3} ms",
                    a.reply.len(),
                    ms(a.rtt)
                )
                .as_bytes(),
            )?,
            (None, true) => out.json(&json!({ "seq": seq, "lost": true }))?,
            (None, false) => out.line(format!("no reply from {server}: seq={seq}").as_bytes())?,
        }
        if let Some(a) = answer {
            rtts.push(a.rtt);
        }
        if seq < count {
            std::thread::sleep(args.interval.saturating_sub(started.elapsed()));
        }
    }
    let s = PingSummary::new(count, &rtts);
    let mut line = format!(
        "{} sent, {} received, {:.1}% loss",
        s.sent,
        s.received,
        s.loss_percent()
    );
    // Round-trip times only when something came back to time.
    let rtt = (s.received > 0).then(|| (ms(s.min), ms(s.avg), ms(s.max)));
    if let Some((min, avg, max)) = rtt {
        line.push_str(&format!(", rtt min/avg/max = {min:.3}/{avg:.3}/{max:.3} ms"));
    }
    // The result is data, as ping prints it: on stdout, so `| tail -1` works.
    if args.json {
        out.json(&json!({
            "sent": s.sent, "received": s.received, "loss_pct": s.loss_percent(),
            "min_ms": rtt.map(|r| r.0), "avg_ms": rtt.map(|r| r.1), "max_ms": rtt.map(|r| r.2),
        }))?;
    } else {
        out.line(line.as_bytes())?;
    }
    if s.received == 0 {
        return Err(NetError::ServerDown {
            tries: u32::try_from(count).unwrap_or(u32::MAX),
        }
        .into());
    }
    Ok(())
}
