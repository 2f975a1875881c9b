//! End-to-end tests: the operator runbook (`docs/runbook.md`) driven through
//! the real `signer` and `hub-cli` binaries against anvil, every scenario on
//! SQLite and on PostgreSQL; and the kit's fault-injecting JSON-RPC proxy
//! (`proxy`), checked against a real anvil.
//!
//! Needs the workspace binaries built in the same target folder (`cargo test
//! --workspace` builds them; alone: `cargo build --bins` first), anvil
//! (`just tools`) and PostgreSQL at 127.0.0.1:5432 (see docs/hub.md, Tests).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    unreachable_pub
)]

mod exactly_once;
mod flows;
mod large;
mod proxy;
mod world;

/// One test per backend from a function taking the backend.
macro_rules! both_backends {
    ($($module:ident :: $name:ident),+ $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() { super::$module::$name(coldsign_e2e::Backend::Sqlite) })+
        }
        mod postgres {
            $(#[test] fn $name() { super::$module::$name(coldsign_e2e::Backend::Postgres) })+
        }
    };
}

both_backends!(
    flows::happy_path,
    flows::build_error_fund_or_drop,
    flows::signature_error_resign,
    flows::broadcast_error_three_resolutions,
    flows::lingering_check_and_resend,
    flows::cancel_before_signing,
    flows::reverted_transfer_is_final,
    flows::void_and_forced_rebuild,
    exactly_once::a_restored_hub_cannot_get_an_order_signed_twice,
    large::thousand_orders_from_hundred_senders,
);

/// Every command line of the runbook is used, verbatim, by a test of this
/// folder (as the string literal `World::run` and friends take; they refuse
/// any command that is not in the runbook, so the two cannot drift apart).
#[test]
fn runbook_commands_are_all_exercised() {
    let commands = world::runbook_commands();
    assert!(
        commands.len() >= 30,
        "docs/runbook.md has only {} commands: is the parser broken?",
        commands.len()
    );
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e");
    let mut sources = String::new();
    for entry in std::fs::read_dir(&folder).expect("read tests/e2e") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "rs") {
            sources.push_str(&std::fs::read_to_string(&path).expect("read source"));
        }
    }
    let missing: Vec<&String> = commands
        .iter()
        .filter(|c| !sources.contains(&format!("\"{c}\"")))
        .collect();
    assert!(
        missing.is_empty(),
        "commands of docs/runbook.md no end-to-end test runs:\n  {}",
        missing
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join("\n  ")
    );
}

/// The runbook parser takes only `hub-cli`/`signer` lines of ```sh blocks
/// and drops trailing comments.
#[test]
fn runbook_parser_reads_sh_blocks_only() {
    let text = "hub-cli outside\n```sh\nexport X=1\nhub-cli batch show <BATCH>   # look\nsigner info\n```\n```text\nhub-cli not-a-command\n```\n";
    assert_eq!(
        world::parse_runbook(text),
        vec!["hub-cli batch show <BATCH>", "signer info"]
    );
}
