//! `bench`: flags to a load run, a progress bar on a terminal, the report.

use super::Out;
use super::pictures::Pictures;
use crate::cli::{BenchArgs, BenchReplyArg, ProtoArg};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use netlab::addr;
use netlab::bench::picture::IntervalPoint;
use netlab::bench::stats::{Summary, Tally};
use netlab::bench::{self, BenchConfig, Proto, Stop, Stopper, Target};
use netlab::proto::answer::Answer;
use std::io::IsTerminal;
use std::time::Duration;

pub fn run(args: BenchArgs, quiet: bool) -> anyhow::Result<()> {
    let stopper = stopper()?;
    let target = match &args.unix {
        Some(path) => Target::Unix(path.clone()),
        None => Target::Tcp(addr::resolve_client(
            args.host.as_deref(),
            args.port,
            netlab::DEFAULT_PORT,
        )?),
    };
    let mut cfg = config(&args, target);
    if args.tls.on {
        let trust = super::trust(args.tls.cacert.as_deref(), args.tls.insecure);
        cfg.tls = Some(tls_for(args.host.as_deref(), &trust)?);
    }
    let mut pictures = Pictures::open(&args, &[])?;
    let summary = run_one(&cfg, args.json, quiet, &stopper, &mut pictures.intervals)?;
    if pictures.any() {
        pictures.finish(&[(String::new(), &summary)], &args)?;
    }
    verdict(&summary)
}

/// A stopper that Ctrl-C and SIGTERM trigger (the run then reports what it
/// measured), and descriptors enough for many connections.
pub fn stopper() -> anyhow::Result<Stopper> {
    let stopper = Stopper::default();
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stopper.flag())?;
    }
    let _ = netlab::net::raise_fd_limit();
    Ok(stopper)
}

/// A run fails (exit 1) when anything went wrong, or when nothing was
/// answered at all; the message names the first error.
pub fn verdict(summary: &Summary) -> anyhow::Result<()> {
    let first = summary.first_error.as_deref().unwrap_or("no reply came");
    if summary.errors > 0 {
        anyhow::bail!(
            "{} (wrong replies, resets, timeouts or failed connects); the first: {first}",
            netlab::words::count(summary.errors, "error", "errors")
        );
    }
    if summary.requests == 0 {
        anyhow::bail!("nothing was answered: {first}");
    }
    Ok(())
}

/// `--tls`: whom the bench trusts, and the name it asks the server for
/// (the host as given, or 127.0.0.1).
pub fn tls_for(host: Option<&str>, trust: &netlab::tls::Trust) -> anyhow::Result<netlab::bench::BenchTls> {
    let config = netlab::tls::client_config(trust).map_err(|e| anyhow::anyhow!("--tls: {e}"))?;
    let host = match host {
        Some(h) => addr::HostPort::parse(h)?.host,
        None => "127.0.0.1".to_string(),
    };
    Ok(netlab::bench::BenchTls { config, host })
}

/// The library's settings for `args`, aimed at `target`.
pub fn config(args: &BenchArgs, target: Target) -> BenchConfig {
    let conns = usize::try_from(args.conns).unwrap_or(usize::MAX);
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    BenchConfig {
        target,
        proto: match args.proto {
            ProtoArg::Tcp => Proto::Tcp,
            ProtoArg::Framed => Proto::Framed,
            ProtoArg::Udp => Proto::Udp,
            ProtoArg::Rpc => Proto::Rpc,
            ProtoArg::Http => Proto::Http,
        },
        conns,
        threads: args
            .threads
            .map_or(cores, |t| usize::try_from(t).unwrap_or(usize::MAX))
            .min(conns),
        size: args.size,
        stop: args.requests.map_or(Stop::After(args.duration), Stop::Requests),
        expect: match args.reply {
            BenchReplyArg::Upper => Answer::Upper,
            BenchReplyArg::Echo => Answer::Echo,
            BenchReplyArg::Pong => Answer::Pong,
        },
        rate: args.rate,
        interval: args.interval,
        timeout: args.timeout,
        hold: args.hold,
        path: args.path.clone(),
        tls: None,
        new_conn: args.new_conn,
    }
}

/// Runs one load and prints its report (and intervals) on stdout.
pub fn run_one(
    cfg: &BenchConfig,
    json: bool,
    quiet: bool,
    stopper: &Stopper,
    intervals: &mut Vec<IntervalPoint>,
) -> anyhow::Result<Summary> {
    let mut out = Out::new();
    let bar = (!quiet && !json && std::io::stderr().is_terminal()).then(progress_bar);
    let mut printed: anyhow::Result<()> = Ok(());
    // The header comes with the first figures, so a run that cannot connect prints only its error.
    let header = bench::preview(cfg).header();
    let header_shown = std::cell::Cell::new(json);
    let mut show = |at: Duration, tally: &Tally, span: Duration| {
        intervals.push(IntervalPoint {
            at_s: at.as_secs_f64(),
            rps: tally.latencies.count() as f64 / span.as_secs_f64().max(1e-9),
            p99_us: tally.latencies.percentile_us(0.99),
        });
        let line = if json {
            Summary::interval_json(at, tally, span).to_string()
        } else {
            Summary::interval_line(at, tally, span)
        };
        if !header_shown.replace(true) && printed.is_ok() {
            printed = out.line(header.as_bytes()).map_err(Into::into);
        }
        if printed.is_ok() {
            printed = out.line(line.as_bytes()).map_err(Into::into);
        }
    };
    let summary = bench::run(
        cfg,
        stopper,
        |p| {
            if let Some(bar) = &bar {
                bar.set_position((p.done * 1000.0) as u64);
                bar.set_message(format!("{} requests  {} errors", p.requests, p.errors));
            }
        },
        &mut show,
    );
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    printed?;
    let summary = summary?;
    let mut out = Out::new();
    if json {
        out.json(&serde_json::to_value(&summary)?)?;
    } else {
        if !header_shown.get() {
            out.line(summary.header().as_bytes())?;
        }
        out.line(summary.report().as_bytes())?;
    }
    Ok(summary)
}

fn progress_bar() -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(1000), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("[{bar:30}] {percent:>3}%  {msg}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}
