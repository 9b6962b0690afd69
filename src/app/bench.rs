//! `bench`: the load generator's glue and output.

use super::Out;
use crate::cli::{BenchArgs, BenchReplyArg, ProtoArg};
use netlab::bench::{self, BenchConfig, Stop, Target};
use netlab::error::NetError;
use netlab::net;
use netlab::proto::answer::Answer;
use std::io::IsTerminal;

/// One line on a terminal's stderr, redrawn in place: `[=====>    ]  52%  1234 requests  0 errors`.
fn draw_bar(p: bench::Progress) {
    const WIDTH: usize = 30;
    let filled = ((p.done * WIDTH as f64) as usize).min(WIDTH);
    let bar: String = (0..WIDTH)
        .map(|i| {
            if i < filled {
                '='
            } else if i == filled {
                '>'
            } else {
                ' '
            }
        })
        .collect();
    eprint!(
        "\r[{bar}] {:>3.0}%  {} requests  {} errors",
        p.done * 100.0,
        p.requests,
        p.errors
    );
}

pub fn run(args: BenchArgs, quiet: bool) -> anyhow::Result<()> {
    let target = match &args.unix {
        Some(path) => Target::Unix(path.clone()),
        None => {
            let host = args.host.as_deref().unwrap_or("127.0.0.1");
            let addr = net::resolve(host, args.port)?
                .into_iter()
                .next()
                .ok_or(NetError::Refused)?;
            Target::Tcp(addr)
        }
    };
    let ProtoArg::Tcp = args.proto;
    let cfg = BenchConfig {
        target: target.clone(),
        conns: usize::try_from(args.conns).unwrap_or(usize::MAX),
        size: args.size,
        stop: args.requests.map_or(Stop::After(args.duration), Stop::Requests),
        expect: match args.reply {
            BenchReplyArg::Upper => Answer::Upper,
            BenchReplyArg::Echo => Answer::Echo,
        },
    };
    tracing::info!(?target, conns = cfg.conns, size = cfg.size, "bench starting");
    let show_bar = !quiet && std::io::stderr().is_terminal();
    let summary = bench::run_with_progress(&cfg, |p| {
        if show_bar {
            draw_bar(p);
        }
    })?;
    if show_bar {
        eprint!("\r\x1b[2K");
    }
    let mut out = Out::new();
    if args.json {
        out.json(&serde_json::to_value(&summary)?)?;
    } else {
        out.line(summary.line().as_bytes())?;
    }
    if summary.errors > 0 {
        anyhow::bail!("{} errors (wrong replies, resets or failed connects)", summary.errors);
    }
    Ok(())
}
