//! Integration tests of `hub-cli` against a real anvil node, each run on
//! SQLite and on PostgreSQL.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    unreachable_pub
)]

mod addresses;
mod deposits;
mod exactly_once;
mod flows;
mod harness;
mod operator;
mod orders_cli;
mod service;

/// Generates one test per backend from a function taking the backend.
macro_rules! both_backends {
    ($module:ident => $sqlite:ident, $postgres:ident: $($name:ident),+ $(,)?) => {
        mod $sqlite {
            $(#[test] fn $name() { super::$module::$name(super::harness::Backend::Sqlite) })+
        }
        mod $postgres {
            $(#[test] fn $name() { super::$module::$name(super::harness::Backend::Postgres) })+
        }
    };
}

both_backends!(
    addresses => addresses_sqlite, addresses_postgres:
    a_proof_that_does_not_verify_refuses_the_whole_import,
    an_address_keeps_its_wallet,
    a_batch_never_mixes_two_wallets,
);

both_backends!(
    exactly_once => exactly_once_sqlite, exactly_once_postgres:
    cancel_after_a_refused_upload_keeps_the_nonces,
    rebuild_is_refused_when_the_transaction_landed,
    a_lying_node_never_closes_a_batch,
    a_wrong_hash_is_a_node_fault_and_sync_recovers,
    a_void_cancels_a_bound_order,
    a_forced_rebuild_voids_the_exported_file,
    a_copy_broadcast_after_a_cancel_settles_the_orders,
    a_witness_node_must_agree_before_an_order_is_paid,
);

both_backends!(
    operator => operator_sqlite, operator_postgres:
    output_cut_short_by_a_pipe_is_not_a_panic,
    token_decimals_are_checked_against_the_contract,
    chains_can_be_corrected_and_removed,
    state_changes_need_an_operator,
    a_configuration_file_is_read_and_overridden,
    a_silent_node_times_out_with_a_clear_message,
    sync_rides_out_a_node_outage,
    operator_small_things,
    hostile_text_is_escaped_before_it_is_printed,
    drop_every_build_error_and_filter_by_state,
    order_plan_names_what_each_sender_lacks,
);

both_backends!(
    deposits => deposits_sqlite, deposits_postgres:
    deposits_are_followed_through_reorgs,
    a_deposit_is_confirmed_only_when_the_witness_shows_it,
    a_kill_while_scanning_misses_nothing,
);

both_backends!(
    service => service_sqlite, service_postgres:
    api_rules,
    a_whole_cold_cycle_through_the_service,
    kill_9_at_random_moments_loses_nothing,
);

#[test]
fn service_three_processes_share_one_postgres() {
    service::three_processes_share_one_postgres();
}

both_backends!(
    flows => sqlite, postgres:
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

both_backends!(
    orders_cli => orders_cli_sqlite, orders_cli_postgres:
    quoted_fields_bom_and_spaces_are_read,
    a_thousands_separator_is_refused_with_its_line,
    a_duplicate_order_id_names_both_lines,
    a_json_file_is_named_json_and_not_echoed,
    a_latin1_file_names_the_line_to_fix,
    every_bad_line_is_reported_and_nothing_imported,
    obviously_wrong_recipients_are_refused,
    a_held_order_stays_out_of_batches_until_released,
    a_cancelled_order_cannot_be_held,
    list_filters_combine,
    holding_a_bound_order_says_which_nonces_it_blocks,
);
