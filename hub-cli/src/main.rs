//! `hub-cli`: the online companion of coldsign. Keeps orders, builds batches
//! of unsigned transactions for the cold signer, takes the signatures back,
//! broadcasts them and walks every order to a final state (docs/hub.md).
//!
//! `main` only parses the command line, opens the database, runs the command
//! and maps its error to an exit code (see docs/hub.md).

mod bindings;
mod cli;
mod clock;
mod commands;
mod config;
mod db;
mod error;
mod evidence;
mod fees;
mod model;
mod output;
mod rpc;
mod serve;
mod state;
mod updates;

use clap::Parser;
use error::{exit, HubError};
use serde_json::json;

/// The operator recorded with state changes: `--operator`/`HUB_OPERATOR`,
/// then the configuration file, then the login name (`USER`). A command
/// that changes state refuses to run without one.
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

fn run(cli: cli::Cli, out: output::Output) -> Result<(), HubError> {
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

fn main() {
    let cli = cli::Cli::parse();
    let out = output::Output {
        json: cli.json,
        capture: None,
    };
    let code = match run(cli, out.clone()) {
        Ok(()) => exit::OK,
        Err(e) => {
            let code = e.exit_code();
            out.error(e.kind(), code, &e.to_string(), e.details());
            code
        }
    };
    rpc::stats::write_if_requested();
    std::process::exit(code);
}
