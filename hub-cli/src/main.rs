//! `hub-cli`: the online companion of coldsign. Keeps orders, builds batches
//! of unsigned transactions for the cold signer, takes the signatures back,
//! broadcasts them and walks every order to a final state (SPEC.md section 2).
//!
//! `main` only parses the command line, opens the database, runs the command
//! and maps its error to an exit code (see docs/hub.md).

mod bindings;
mod cli;
mod clock;
mod commands;
mod db;
mod error;
mod evidence;
mod fees;
mod model;
mod output;
mod rpc;
mod state;

use clap::Parser;
use error::{exit, HubError};
use serde_json::json;

fn run(cli: cli::Cli, out: output::Output) -> Result<(), HubError> {
    let migrating = matches!(cli.command, cli::Command::Migrate);
    let mut db = db::Db::open(&cli.db, migrating)?;
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
    let operator = cli
        .operator
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "operator".to_owned());
    let mut ctx = commands::Ctx {
        db,
        out,
        actor: model::Actor { operator },
    };
    commands::run(&mut ctx, cli.command)
}

fn main() {
    let cli = cli::Cli::parse();
    let out = output::Output { json: cli.json };
    let code = match run(cli, out) {
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
