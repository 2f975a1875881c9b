//! `hub-cli`: the command-line front end of coldsign-hub. It parses the
//! command line, gives the library a sink that writes to this terminal, and
//! maps a failure to its exit code (docs/hub.md); the work is the library's.
#![allow(clippy::print_stderr)]

use clap::Parser;
use coldsign_hub::{
    cli::Cli,
    exit,
    output::{Output, Sink},
};
use std::{
    io::{IsTerminal, Write},
    sync::Arc,
};

/// Standard output and error of this process.
struct Terminal;

impl Sink for Terminal {
    /// A closed pipe (`hub-cli batch show 1 | head -2`) ends the process
    /// quietly with success, as for any well-behaved filter, instead of a
    /// panic. Other write errors are reported on stderr.
    fn stdout(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
            Err(e) => {
                let _ = writeln!(std::io::stderr(), "error: cannot write the output: {e}");
                std::process::exit(exit::INTERNAL);
            }
        }
    }

    /// Ignores a closed stderr.
    fn stderr(&self, line: &str) {
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(line.as_bytes());
        let _ = err.write_all(b"\n");
    }

    fn progress_target(&self) -> Option<indicatif::ProgressDrawTarget> {
        std::io::stderr()
            .is_terminal()
            .then(indicatif::ProgressDrawTarget::stderr)
    }
}

/// The service's log: `HUB_LOG` (default `info`) to stderr. Other commands
/// speak through their output and log nothing.
fn init_service_log() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HUB_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

fn main() {
    let cli = Cli::parse();
    let terminal: Arc<dyn Sink> = Arc::new(Terminal);
    coldsign_hub::output::set_notice_sink(terminal.clone());
    if cli.is_serve() {
        init_service_log();
    }
    let out = Output::new(cli.json(), terminal);
    let code = match coldsign_hub::run(cli, out.clone()) {
        Ok(()) => exit::OK,
        Err(failure) => {
            out.error(&failure);
            failure.exit_code
        }
    };
    if let Err(e) = coldsign_hub::write_rpc_stats_if_requested() {
        eprintln!("warning: {e}");
    }
    std::process::exit(code);
}
