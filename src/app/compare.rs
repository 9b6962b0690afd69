//! `bench --compare-modes`: this binary's server started in every mode on a
//! free port (read from its ready line), the same load on each, one table.
//! Every server is an `app::child::Child`: stopped (SIGTERM, then its group
//! killed) when its run ends, on an error, and on Ctrl-C.

use super::Out;
use crate::cli::{BenchArgs, ModeArg, ProtoArg};
use anyhow::Context;
use netlab::bench::Target;
use netlab::bench::stats::{Summary, human_us};
use netlab::server::Mode;
use std::io::IsTerminal;
use std::time::Duration;

/// Width of the longest bar.
const BAR: usize = 30;

fn mode_of(arg: ModeArg) -> Mode {
    super::server::mode(arg)
}

/// Runs the comparison and prints the table (or one JSON object per mode).
pub fn run(args: &BenchArgs, quiet: bool) -> anyhow::Result<()> {
    let stopper = &super::bench::stopper()?;
    // For http: a directory whose index.html is --size bytes, served as /.
    let site = match args.proto {
        ProtoArg::Http => Some(site(args.size)?),
        _ => None,
    };
    let site_dir = site
        .as_ref()
        .map(|d| d.path().to_string_lossy().into_owned())
        .unwrap_or_default();
    let command = server_command(args.proto, &site_dir)?;
    // --tls: each server writes its self-signed certificate here for the bench to trust.
    let cert_dir = tempfile::tempdir().context("cannot make a directory for certificates")?;
    let modes: Vec<Mode> = if args.modes.is_empty() {
        Mode::ALL.to_vec()
    } else {
        args.modes.iter().copied().map(mode_of).collect()
    };
    let names: Vec<&str> = modes
        .iter()
        .filter(|m| m.available().is_ok())
        .map(|m| m.name())
        .collect();
    let mut pictures = super::pictures::Pictures::open(args, &names)?;
    let mut rows = Vec::new();
    let mut out = Out::new();
    for mode in modes {
        if stopper.is_stopped() {
            break;
        }
        if let Err(why) = mode.available() {
            tracing::warn!("{} skipped: {why}", mode.name());
            continue;
        }
        let mut server_args = server_args(&command, mode, args.delay);
        let cert = site_cert(&cert_dir);
        if args.tls.on {
            server_args.extend(["--tls".to_string(), "--write-cert".to_string(), cert.clone()]);
        }
        if !quiet && !args.json && std::io::stderr().is_terminal() {
            netlab::logging::stderr_line(format_args!("measuring {} ...", mode.name()));
        }
        // Its log (errors only, -q) is relayed on stderr.
        let server = super::child::Child::server(&server_args, true)?;
        let addr = server.addr.context("the server's ready line named no address")?;
        let mut cfg = super::bench::config(args, Target::Tcp(vec![addr]));
        if args.tls.on {
            let trust = netlab::tls::Trust::File(cert.into());
            cfg.tls = Some(super::bench::tls_for(None, &trust)?);
        }
        if matches!(mode, Mode::Sequential | Mode::Pool) {
            // Clients past the workers wait in the backlog all run long: the
            // lesson, not a timeout.
            cfg.timeout += args.duration;
        }
        let summary = netlab::bench::run(&cfg, stopper, |_| {}, |_, _, _| {});
        drop(server);
        let summary = summary?;
        if args.json {
            let mut v = serde_json::to_value(&summary)?;
            if let Some(object) = v.as_object_mut() {
                object.insert("mode".into(), mode.name().into());
            }
            out.json(&v)?;
        }
        rows.push((mode, summary));
    }
    if !args.json {
        print_table(&rows, args)?;
    }
    if pictures.any() {
        let runs: Vec<(String, &Summary)> = rows.iter().map(|(m, s)| (m.name().to_string(), s)).collect();
        pictures.finish(&runs, args)?;
    }
    for (mode, summary) in &rows {
        super::bench::verdict(summary).map_err(|e| e.context(format!("{} mode", mode.name())))?;
    }
    Ok(())
}

/// The server command for `proto` (`DIR` serves http).
fn server_command(proto: ProtoArg, dir: &str) -> anyhow::Result<Vec<String>> {
    let words: &[&str] = match proto {
        ProtoArg::Tcp => &["tcp-server"],
        ProtoArg::Framed => &["framed", "server"],
        ProtoArg::Rpc => &["rpc", "server"],
        ProtoArg::Http => &["http", "server", dir],
        ProtoArg::Udp => {
            return Err(netlab::error::UsageError(
                "--compare-modes needs a stream protocol: --proto tcp, framed, rpc or http".into(),
            )
            .into());
        }
    };
    Ok(words.iter().map(|w| w.to_string()).collect())
}

/// The command in `mode` on a free port, quiet, with `--delay` when asked.
fn server_args(command: &[String], mode: Mode, delay: Option<Duration>) -> Vec<String> {
    let mut args = command.to_vec();
    args.extend(["--mode", mode.name(), "-p", "0", "-q"].map(String::from));
    if let Some(d) = delay {
        args.extend(["--delay".to_string(), format!("{}ms", d.as_millis())]);
    }
    args
}

/// Where a server writes its certificate for the bench.
fn site_cert(dir: &tempfile::TempDir) -> String {
    dir.path().join("server.pem").to_string_lossy().into_owned()
}

/// A temporary directory with an `index.html` of `size` bytes.
fn site(size: u64) -> anyhow::Result<tempfile::TempDir> {
    let dir = tempfile::tempdir().context("cannot make a directory to serve")?;
    let body: Vec<u8> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
    std::fs::write(dir.path().join("index.html"), body).context("cannot write the file to serve")?;
    Ok(dir)
}

fn print_table(rows: &[(Mode, Summary)], args: &BenchArgs) -> anyhow::Result<()> {
    let mut out = Out::new();
    let best = rows.iter().map(|(_, s)| s.rps).fold(0.0, f64::max).max(1e-9);
    let delay = args
        .delay
        .map_or(String::new(), |d| format!(", --delay {}ms", d.as_millis()));
    out.line(
        format!(
            "Modes compared: {} connections, {}-byte requests{delay}",
            args.conns, args.size
        )
        .as_bytes(),
    )?;
    out.line(b"  mode             req/s        p50        p99  connections")?;
    let mut partial = false;
    for (mode, s) in rows {
        let served = if s.conns_served < s.conns {
            partial = true;
            format!("served {} of {} *", s.conns_served, s.conns)
        } else {
            format!("{} of {}", s.conns_served, s.conns)
        };
        let bar = "#".repeat(((s.rps / best) * BAR as f64).round() as usize);
        let line = format!(
            "  {:<10} {:>11.1} {:>10} {:>10}  {:<17} {bar}",
            mode.name(),
            s.rps,
            human_us(s.p50_us),
            human_us(s.p99_us),
            served
        );
        out.line(line.as_bytes())?;
    }
    if partial {
        out.line(b"  * the other connections waited in the listen backlog all run long: this mode serves one")?;
        out.line(b"    client per worker at a time, so their requests were never answered (the lesson)")?;
    }
    Ok(())
}
