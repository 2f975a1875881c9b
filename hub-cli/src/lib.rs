//! coldsign-hub: the online side of coldsign as a library. Keeps orders,
//! builds batches of unsigned transactions for the cold signer, takes the
//! signatures back, broadcasts them and walks every order to a final state
//! (docs/hub.md); `hub-cli serve` runs it as a service (docs/service.md).
//!
//! The `hub-cli` binary is a thin front end on [`run`]: it parses the
//! command line into a [`cli::Cli`], hands over an [`output::Output`] whose
//! [`output::Sink`] is its terminal, and turns a [`Failure`] into its exit
//! code. This library never prints: everything it shows goes through that
//! sink, and its logs through `tracing` (docs/architecture.md).

mod bindings;
pub mod cli;
mod clock;
mod commands;
mod config;
mod db;
mod error;
mod evidence;
mod fees;
mod model;
pub mod output;
mod rpc;
mod serve;
mod state;
mod store;
mod updates;

pub use error::exit;
use error::HubError;
use serde_json::json;

/// Why a command failed, for the front end: the kind of error, the exit
/// code it maps to (docs/hub.md), what to tell the operator, and the data
/// the command had gathered (for `--json`).
#[derive(Debug, Clone)]
pub struct Failure {
    /// The kind of error (`input`, `conflict`, `node`, ...).
    pub kind: &'static str,
    /// The exit code of this kind.
    pub exit_code: i32,
    /// What went wrong and what to do next.
    pub message: String,
    /// What the command would have shown, if anything.
    pub details: Option<serde_json::Value>,
}

impl From<HubError> for Failure {
    fn from(e: HubError) -> Self {
        Self {
            kind: e.kind(),
            exit_code: e.exit_code(),
            message: e.to_string(),
            details: e.details(),
        }
    }
}

/// Runs one command line to its end, showing its result through `out`.
pub fn run(cli: cli::Cli, out: output::Output) -> Result<(), Failure> {
    run_command(cli, out).map_err(Failure::from)
}

/// Writes the node call counters to the file named by `HUB_RPC_STATS`, if
/// that is set (for the benchmarks). The error says which file could not
/// be written.
pub fn write_rpc_stats_if_requested() -> Result<(), String> {
    rpc::stats::write_if_requested()
}

fn operator(
    flag: Option<String>,
    config: Option<String>,
    read_only: bool,
) -> Result<String, HubError> {
    let name = flag
        .or(config)
        .or_else(|| std::env::var("USER").ok())
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    match name {
        Some(n) => Ok(n),
        None if read_only => Ok(String::new()),
        None => Err(HubError::Usage(
            "who is acting? every state change is recorded with its operator: pass --operator NAME, \
             set HUB_OPERATOR, or put `operator = \"NAME\"` in the configuration file"
                .to_owned(),
        )),
    }
}

fn run_command(cli: cli::Cli, out: output::Output) -> Result<(), HubError> {
    if let cli::Command::Completions { shell } = cli.command {
        let mut cmd = <cli::Cli as clap::CommandFactory>::command();
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut cmd, "hub-cli", &mut script);
        out.result(
            json!({"shell": shell.to_string()}),
            &String::from_utf8_lossy(&script),
        );
        return Ok(());
    }
    let config = config::load(cli.config.as_deref())?;
    let read_only = cli.command.is_read_only();
    let operator = operator(cli.operator.clone(), config.operator.clone(), read_only)?;
    rpc::set_timeout(
        cli.rpc_timeout
            .or(config.rpc_timeout)
            .unwrap_or(rpc::DEFAULT_TIMEOUT_SECS),
    );
    let url = cli
        .db
        .clone()
        .or(config.database_url.clone())
        .unwrap_or_else(|| "hub.db".to_owned());
    let migrating = matches!(cli.command, cli::Command::Migrate);
    let mut db = db::Db::open(&url, migrating)?;
    if let cli::Command::Migrate = cli.command {
        let applied = db::migrate(&mut db)?;
        out.result(
            json!({"applied": applied, "schema_version": db::SCHEMA_VERSION}),
            &if applied.is_empty() {
                format!(
                    "database is up to date (schema version {})",
                    db::SCHEMA_VERSION
                )
            } else {
                format!(
                    "applied migration(s) {:?}; schema version {}",
                    applied,
                    db::SCHEMA_VERSION
                )
            },
        );
        return Ok(());
    }
    db::check_version(&mut db)?;
    if let cli::Command::Serve(s) = &cli.command {
        drop(db);
        return serve::run(serve::Options {
            listen: s
                .listen
                .or(config.listen)
                .unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 8080))),
            db_url: url,
            operator,
            supervisor_interval: std::time::Duration::from_secs(s.supervisor_interval.max(1)),
            callback_attempts: s.callback_attempts,
            max_body: s.max_body_mib.saturating_mul(1 << 20),
        });
    }
    let mut ctx = commands::Ctx {
        db,
        out,
        actor: model::Actor { operator },
        tenant: None,
    };
    commands::run(&mut ctx, cli.command)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    /// Every source file of the library, with its path.
    fn library_sources() -> Vec<(std::path::PathBuf, String)> {
        let mut dirs = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
        let mut files = Vec::new();
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs")
                    && path.file_name().is_some_and(|n| n != "main.rs")
                {
                    let text = std::fs::read_to_string(&path).unwrap();
                    files.push((path, text));
                }
            }
        }
        files
    }

    #[test]
    fn the_library_never_prints_or_exits() {
        // Only the binary (main.rs) touches the process's terminal or ends
        // the process; the library shows things through its output's sink.
        let forbidden = [
            "println!",
            "eprintln!",
            "print!(",
            "eprint!(",
            "io::stdout()",
            "io::stderr()",
            "process::exit",
            "tracing_subscriber::",
        ];
        let sources = library_sources();
        assert!(sources.len() > 20, "found only {} files", sources.len());
        for (path, text) in &sources {
            if path.ends_with("lib.rs") {
                continue; // this test names them
            }
            for word in forbidden {
                assert!(
                    !text.contains(word),
                    "{} uses {word}: the library must not print or exit",
                    path.display()
                );
            }
        }
    }

    #[test]
    fn command_and_service_code_holds_no_sql() {
        // The store (`store/`, with `model.rs`, `bindings.rs` and `db/`)
        // owns every statement; commands and the service call it.
        let forbidden = [
            "SELECT ",
            "INSERT INTO",
            "UPDATE ",
            "DELETE FROM",
            "db.query(",
            "db.execute(",
            ".query_opt(",
            ".query_one(",
            ".batch_execute(",
        ];
        let sources = library_sources();
        let mut checked = 0;
        for (path, text) in &sources {
            let dir = path.parent().and_then(|d| d.file_name());
            if !dir.is_some_and(|d| d == "commands" || d == "serve") {
                continue;
            }
            checked += 1;
            for (n, line) in text.lines().enumerate() {
                if line.trim_start().starts_with("//") {
                    continue;
                }
                for word in forbidden {
                    assert!(
                        !line.contains(word),
                        "{}:{}: SQL outside the store ({word}): move it to hub-cli/src/store/",
                        path.display(),
                        n + 1
                    );
                }
            }
        }
        assert!(checked >= 15, "checked only {checked} files");
    }
}
