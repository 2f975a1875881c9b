//! Integration tests of `hub-cli` against a real anvil node, each run on
//! SQLite and on PostgreSQL.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    unreachable_pub
)]

mod flows;
mod harness;

/// Generates one test per backend from a function taking the backend.
macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() { super::flows::$name(super::harness::Backend::Sqlite) })+
        }
        mod postgres {
            $(#[test] fn $name() { super::flows::$name(super::harness::Backend::Postgres) })+
        }
    };
}

both_backends!(
    happy_path_native_and_erc20,
    build_error_then_rebuild_after_funding,
    signature_error_tampered_and_incomplete,
    cancel_rules_and_drop,
    racing_creates_get_one_batch,
    broadcast_error_resolutions_and_nonce_reuse,
    lingering_dropped_tx_check_and_resend,
    reverted_token_transfer_is_disbursement_failed,
    reorg_of_unconfirmed_receipt,
    schema_version_is_checked,
    send_is_safe_to_rerun_after_a_crash,
    nonce_taken_by_another_transaction_needs_an_operator,
    legacy_chain_builds_eip155_transactions,
);
