//! The binary edge: parse the command line, set up tracing, run, and turn the
//! outcome into one `netlab: error: ...` line and an exit code.

mod app;
mod cli;

use clap::Parser;
use clap::error::ErrorKind;
use netlab::exit::{Exit, classify, is_reported};
use netlab::logging::{self, Verbosity};
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    if std::env::args_os().len() == 1 {
        // `netlab` alone: where to start, not every flag. A closed stdout
        // (`netlab | true`) is not an error.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", cli::OVERVIEW).and_then(|()| out.flush());
        return ExitCode::SUCCESS;
    }
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage(&err),
    };
    logging::init(Verbosity::from_flags(cli.verbose, cli.quiet));
    match app::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let exit = classify(err.chain());
            if exit != Exit::Success && !is_reported(err.chain()) {
                netlab::logging::stderr_line(format_args!("netlab: error: {err:#}"));
            }
            ExitCode::from(exit.code())
        }
    }
}

/// Help and version go to stdout with exit 0; any other parse failure is a
/// usage error: one line on stderr, exit 2.
fn usage(err: &clap::Error) -> ExitCode {
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = err.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = err.print();
            ExitCode::from(Exit::Usage.code())
        }
        _ => {
            netlab::logging::stderr_line(format_args!("netlab: error: {}", one_line(&err.to_string())));
            ExitCode::from(Exit::Usage.code())
        }
    }
}

/// Clap's whole message on one line: the error, the names it lists, its
/// tip, and the usage it shows (`netlab: error: the following required
/// arguments were not provided: <URL> <METHOD>; usage: netlab rpc call ...`).
fn one_line(text: &str) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut usage = None;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(u) = line.strip_prefix("Usage: ") {
            usage = Some(u.to_string());
        } else if line.starts_with("For more information") {
            continue;
        } else if let Some(tip) = line.strip_prefix("tip: ") {
            parts.push(format!("; tip: {tip}"));
        } else if parts.is_empty() {
            parts.push(line.strip_prefix("error: ").unwrap_or(line).to_string());
        } else {
            parts.push(format!(" {line}"));
        }
    }
    let mut joined = parts.concat();
    if joined.is_empty() {
        joined.push_str("bad usage");
    }
    match usage {
        Some(u) => format!("{joined}; usage: {u} (see --help)"),
        None => format!("{joined} (see 'netlab --help')"),
    }
}
