//! `signer`: the air-gapped signer of coldsign. See `docs/signer.md`.
//!
//! This is only the entry point: it parses the command line, runs the
//! command, and maps the error kind to the documented exit code, printing the
//! whole cause chain.

use clap::Parser;
use coldsign_signer::{app, cli, error::exit, term};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::normalize_args(std::env::args_os().collect());
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(exit::USAGE)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match app::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Messages quote files (keys and values a parser echoes, order
            // ids, file names): every terminal control in them is escaped.
            // The top message's own line breaks are kept; a cause is one
            // line whatever it holds.
            term::errln(&format!("signer: error: {e}"));
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                term::errln(&format!("  caused by: {}", term::field(&s.to_string())));
                source = s.source();
            }
            ExitCode::from(e.exit_code())
        }
    }
}
