//! The binary edge: parse the command line, set up tracing, run, and turn the
//! outcome into one `netlab: error: ...` line and an exit code.

mod app;
mod cli;

use clap::Parser;
use clap::error::ErrorKind;
use netlab::exit::{Exit, classify, is_reported};
use netlab::logging::{self, Verbosity};
use std::process::ExitCode;

fn main() -> ExitCode {
    if std::env::args_os().len() == 1 {
        // `netlab` alone: where to start, not every flag.
        println!("{}", cli::OVERVIEW);
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
                eprintln!("netlab: error: {err:#}");
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
            let text = err.to_string();
            let first = text.lines().next().unwrap_or("bad usage");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            eprintln!("netlab: error: {first} (see 'netlab --help')");
            ExitCode::from(Exit::Usage.code())
        }
    }
}
