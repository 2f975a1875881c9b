//! The runbook's scenarios, each driven through the real `hub-cli` and
//! `signer` binaries against anvil and run once per database backend.

use crate::world::{hub_exit, read, recipient, signer_exit, World};
use coldsign_core::batch::SignedBatch;
use coldsign_e2e::{Backend, FaultProxy, ETH};
use serde_json::json;

/// 1 USDT (6 decimals) in base units.
const USDT: u128 = 1_000_000;

/// Parses the signed file on the medium.
fn signed_batch(w: &World) -> SignedBatch {
    SignedBatch::parse(&read(&w.signed_file())).expect("signed file parses")
}

/// Sends the `i`th signed transaction of the file to the node by other
/// means than the hub (another node, a block explorer's broadcast form...).
fn push_raw(w: &World, file: &SignedBatch, i: usize) -> serde_json::Value {
    let raw = format!("0x{}", hex::encode(&file.items[i].raw_transaction));
    w.anvil.rpc("eth_sendRawTransaction", json!([raw]))
}

fn block_of(receipt: &serde_json::Value) -> u64 {
    u64::from_str_radix(
        receipt["blockNumber"]
            .as_str()
            .expect("block")
            .trim_start_matches("0x"),
        16,
    )
    .expect("hex")
}

/// The whole runbook, first use included: a keystore made from a freshly
/// generated mnemonic, its addresses registered, native and token orders
/// paid, every order COMPLETED and every recipient paid.
pub fn happy_path(backend: Backend) {
    let mut w = World::new(backend, 2);
    w.deploy_token();
    // One-time set-up, hub side, with a witness: a second endpoint of the
    // chain (a pass-through proxy in front of the same node).
    w.hub_setup();
    let witness = FaultProxy::start(&w.anvil.url);
    w.set("WITNESS_RPC_URL", &witness.url);
    w.run("hub-cli chain update eth --witness-rpc <WITNESS_RPC_URL>");
    // One-time set-up, signer side: a new wallet (throw-away: the test only
    // ever funds it on its own anvil).
    w.init_signer_generated();
    w.write_policy();
    let cold = w.export_and_import_addresses();
    // The treasury funds the cold addresses (here: anvil cheat codes).
    for a in &cold[..3] {
        w.anvil.set_balance(*a, 10 * ETH);
        w.anvil.mint(w.token(), *a, 5_000 * USDT);
    }
    let held = w.run("hub-cli address list --chain eth --balances");
    assert!(
        held.stdout.contains("10 ETH, 5000 USDT"),
        "the funding shows: {}",
        held.stdout
    );
    let (r1, r2, r3) = (recipient(1), recipient(2), recipient(3));
    w.import_orders(&[
        ("W-1001", "ETH", cold[0], r1, "1.5"),
        ("W-1002", "USDT", cold[0], r2, "250"),
        ("W-1003", "ETH", cold[1], r3, "0.25"),
        ("W-1004", "USDT", cold[1], r1, "1000.5"),
        ("W-1005", "ETH", cold[2], r2, "2"),
        ("W-1006", "USDT", cold[2], r3, "42.123456"),
    ]);
    // Importing the same file again is harmless.
    w.run("hub-cli order import orders.csv");
    let pending = w.run("hub-cli order list --state PENDING");
    assert_eq!(
        pending.stdout.matches("PENDING").count(),
        6,
        "{}",
        pending.stdout
    );

    let batch = w.create_batch();
    w.export_and_sign();
    // Back at the hub.
    let upload = w.run("hub-cli batch upload <BATCH> <USB>/batch_<BATCH>_<DATE>_signed.json");
    assert!(upload.stdout.contains("6 sent"), "{}", upload.stdout);
    // Uploading the same file again is harmless.
    w.run("hub-cli batch upload <BATCH> <USB>/batch_<BATCH>_<DATE>_signed.json");
    w.wait_closed();
    let shown = w.run("hub-cli batch show <BATCH>");
    assert_eq!(
        shown.stdout.matches("DISBURSED").count(),
        6,
        "{}",
        shown.stdout
    );
    let listed = w.run("hub-cli batch list");
    assert!(listed.stdout.contains("CLOSED"), "{}", listed.stdout);
    let done = w.run("hub-cli order list --state COMPLETED");
    assert_eq!(
        done.stdout.matches("COMPLETED").count(),
        6,
        "{}",
        done.stdout
    );
    w.set("ORDER", "W-1002");
    let history = w.run("hub-cli order show <ORDER>");
    for s in [
        "SELECTED",
        "TX_BUILT",
        "READY_TO_SEND",
        "CONFIRMING",
        "DISBURSED",
        "COMPLETED",
    ] {
        assert!(
            history.stdout.contains(s),
            "{s} missing: {}",
            history.stdout
        );
    }
    for o in ["W-1001", "W-1002", "W-1003", "W-1004", "W-1005", "W-1006"] {
        assert_eq!(w.item_state(&batch, o), "DISBURSED", "{o}");
        assert_eq!(w.order_state(o), "COMPLETED", "{o}");
    }
    assert_eq!(w.anvil.balance(r1), 3 * ETH / 2);
    assert_eq!(w.anvil.balance(r2), 2 * ETH);
    assert_eq!(w.anvil.balance(r3), ETH / 4);
    assert_eq!(w.anvil.token_balance(w.token(), r1), 1_000_500_000);
    assert_eq!(w.anvil.token_balance(w.token(), r2), 250 * USDT);
    assert_eq!(w.anvil.token_balance(w.token(), r3), 42_123_456);
    // Every payout was shown by the witness too before it counted.
    assert!(
        witness.calls("eth_getTransactionReceipt") >= 6,
        "the witness was asked for {} receipts",
        witness.calls("eth_getTransactionReceipt")
    );
    // The signer's audit log still holds the head written in the logbook.
    w.run("signer audit verify --expect-head <HEAD>");
}

/// BUILD_ERROR: an unfunded sender and a sender without tokens block the
/// batch; one order is dropped, the other sender is funded, the batch is
/// built again and paid.
pub fn build_error_fund_or_drop(backend: Backend) {
    let w = World::standard(backend, 1);
    let cold = w.cold_addresses();
    // Indexes 1..=9 are anvil's funded dev accounts; 50 and 51 hold nothing.
    let (rich, poor, tokenless) = (cold[1], cold[50], cold[51]);
    w.anvil.set_balance(tokenless, ETH);
    w.import_orders(&[
        ("B-1", "ETH", rich, recipient(1), "1"),
        ("B-2", "ETH", poor, recipient(2), "2"),
        ("B-3", "USDT", tokenless, recipient(3), "7"),
    ]);
    let out = w.run_code(
        "hub-cli batch create --chain eth --all-pending --auto-build",
        hub_exit::NEEDS_OPERATOR,
    );
    let batch = w.take_batch(&out);
    assert!(out.stderr.contains("BLOCKED"), "{}", out.stderr);
    let shown = w.run("hub-cli batch show <BATCH>");
    assert!(shown.stdout.contains("BLOCKED"), "{}", shown.stdout);
    assert!(
        shown.stdout.contains("insufficient funds"),
        "{}",
        shown.stdout
    );
    assert!(
        shown.stdout.contains("insufficient USDT balance"),
        "{}",
        shown.stdout
    );
    assert_eq!(w.item_state(&batch, "B-1"), "TX_BUILT");
    assert_eq!(w.item_state(&batch, "B-2"), "BUILD_ERROR");
    assert_eq!(w.item_state(&batch, "B-3"), "BUILD_ERROR");
    // Nothing to carry while BLOCKED.
    w.run_code(
        "hub-cli batch export <BATCH> --out <USB>",
        hub_exit::CONFLICT,
    );
    // B-3 waits for another day: out of the batch, back to PENDING.
    w.set("ORDER", "B-3");
    w.run("hub-cli batch drop <BATCH> <ORDER>");
    assert_eq!(w.order_state("B-3"), "PENDING");
    // B-2's sender is funded by the treasury; build again.
    w.anvil.set_balance(poor, 5 * ETH);
    w.run("hub-cli batch build <BATCH>");
    assert_eq!(w.batch_state(&batch), "READY_FOR_SIGNATURE");
    w.export_and_sign();
    w.run("hub-cli batch upload <BATCH> <USB>/batch_<BATCH>_<DATE>_signed.json");
    w.wait_closed();
    assert_eq!(w.order_state("B-1"), "COMPLETED");
    assert_eq!(w.order_state("B-2"), "COMPLETED");
    assert_eq!(w.order_state("B-3"), "PENDING");
    assert_eq!(w.anvil.balance(recipient(1)), ETH);
    assert_eq!(w.anvil.balance(recipient(2)), 2 * ETH);
    assert_eq!(w.anvil.token_balance(w.token(), recipient(3)), 0);
}

/// SIGNATURE_ERROR: a signed file damaged on the way back (an edited
/// transaction byte, then a missing item) is refused and nothing is
/// broadcast; the batch is signed again and the new file accepted.
pub fn signature_error_resign(backend: Backend) {
    let w = World::standard(backend, 1);
    let cold = w.cold_addresses();
    w.import_orders(&[
        ("S-1", "ETH", cold[1], recipient(1), "1"),
        ("S-2", "ETH", cold[2], recipient(2), "2"),
    ]);
    let batch = w.create_batch();
    w.export_and_sign();
    let good = read(&w.signed_file());
    let nonces_before = (w.anvil.nonce(cold[1]), w.anvil.nonce(cold[2]));

    // One byte of S-2's raw transaction changes on the medium.
    let mut edited = signed_batch(&w);
    let last = edited.items[1].raw_transaction.len() - 1;
    edited.items[1].raw_transaction[last] ^= 1;
    std::fs::write(w.signed_file(), edited.to_json()).expect("write");
    let out = w.run_code(
        "hub-cli batch upload <BATCH> <USB>/batch_<BATCH>_<DATE>_signed.json",
        hub_exit::SIGNATURE,
    );
    assert!(out.stderr.contains("SIGNATURE_ERROR"), "{}", out.stderr);
    assert!(out.stderr.contains("S-2"), "{}", out.stderr);
    assert_eq!(w.batch_state(&batch), "SIGNATURE_ERROR");
    let shown = w.run("hub-cli batch show <BATCH>");
    assert!(
        shown.stdout.contains("signature refused"),
        "{}",
        shown.stdout
    );
    // The signer's own check finds it too.
    w.run_code(
        "signer verify <USB>/batch_<BATCH>_<DATE>_signed.json",
        signer_exit::BAD_INPUT,
    );

    // An incomplete file: S-2 is missing.
    let mut incomplete = SignedBatch::parse(&good).expect("parse");
    incomplete.items.pop();
    std::fs::write(w.signed_file(), incomplete.to_json()).expect("write");
    let out = w.run_code(
        "hub-cli batch upload <BATCH> <USB>/batch_<BATCH>_<DATE>_signed.json",
        hub_exit::SIGNATURE,
    );
    assert!(out.stderr.contains("missing"), "{}", out.stderr);
    assert_eq!(
        (w.anvil.nonce(cold[1]), w.anvil.nonce(cold[2])),
        nonces_before,
        "nothing may be broadcast"
    );
    assert_eq!(w.item_state(&batch, "S-1"), "TX_BUILT");
    assert_eq!(w.anvil.balance(recipient(1)), 0);

    // Recovery: export again (the same bytes), sign again over the damaged
    // file, upload the new one.
    let unsigned_before = read(&w.unsigned_file());
    w.run("hub-cli batch export <BATCH> --out <USB>");
    assert_eq!(read(&w.unsigned_file()), unsigned_before);
    w.run("signer audit verify --expect-head <HEAD>");
    w.run_input(
        "signer --sign <USB>/batch_<BATCH>_<DATE>_unsigned.json --password-file <PASSWORD_FILE> --force",
        &format!("{batch}\n"),
        0,
    );
    assert_eq!(read(&w.signed_file()), good, "signing is deterministic");
    w.run("signer verify <USB>/batch_<BATCH>_<DATE>_signed.json");
    w.note_audit_head();
    w.run("hub-cli batch upload <BATCH> <USB>/batch_<BATCH>_<DATE>_signed.json");
    w.wait_closed();
    assert_eq!(w.order_state("S-1"), "COMPLETED");
    assert_eq!(w.order_state("S-2"), "COMPLETED");
    assert_eq!(w.anvil.balance(recipient(1)), ETH);
    assert_eq!(w.anvil.balance(recipient(2)), 2 * ETH);
}

/// BROADCAST_ERROR with each resolution: the senders are drained between
/// build and broadcast, so the node rejects all four transactions. A is
/// resent after a top-up; B is given up (rebuild) and paid by the next
/// batch; C and D were broadcast by other means and are resolved on chain,
/// D with the hash and block given by the operator.
pub fn broadcast_error_three_resolutions(backend: Backend) {
    let w = World::standard(backend, 1);
    let cold = w.cold_addresses();
    let (a, b, c, d) = (cold[1], cold[2], cold[3], cold[4]);
    w.import_orders(&[
        ("A", "ETH", a, recipient(1), "1"),
        ("B", "ETH", b, recipient(2), "2"),
        ("C", "ETH", c, recipient(3), "3"),
        ("D", "ETH", d, recipient(4), "4"),
    ]);
    let batch = w.create_batch();
    w.export_and_sign();
    for x in [a, b, c, d] {
        w.anvil.set_balance(x, 0);
    }
    let out = w.run_code(
        "hub-cli batch upload <BATCH> <USB>/batch_<BATCH>_<DATE>_signed.json",
        hub_exit::NEEDS_OPERATOR,
    );
    assert!(out.stdout.contains("BROADCAST_ERROR"), "{}", out.stdout);
    assert_eq!(w.batch_state(&batch), "PROCESS_EXCEPTION");
    let shown = w.run("hub-cli batch show <BATCH>");
    assert!(
        shown.stdout.to_lowercase().contains("insufficient funds"),
        "{}",
        shown.stdout
    );
    for o in ["A", "B", "C", "D"] {
        assert_eq!(w.item_state(&batch, o), "BROADCAST_ERROR", "{o}");
    }
    // `sync --wait` stops at once: an operator is needed.
    w.run_code(
        "hub-cli batch sync <BATCH> --wait --timeout 600",
        hub_exit::NEEDS_OPERATOR,
    );
    for x in [a, c, d] {
        w.anvil.set_balance(x, 10 * ETH);
    }

    // A: the cause is fixed (topped up): resend.
    w.set("ORDER", "A");
    w.run("hub-cli batch resolve <BATCH> <ORDER> --resend");
    assert_eq!(w.item_state(&batch, "A"), "READY_TO_RESEND");
    // Not while other orders still need a decision.
    w.run_code("hub-cli batch resend <BATCH>", hub_exit::CONFLICT);

    // B: give up on this signed transaction; the order goes back to PENDING.
    w.set("ORDER", "B");
    w.run("hub-cli batch resolve <BATCH> <ORDER> --rebuild");
    assert_eq!(w.item_state(&batch, "B"), "DISBURSEMENT_FAILED");
    assert_eq!(w.order_state("B"), "PENDING");

    // C and D: their signed transactions reached the chain another way.
    let file = signed_batch(&w);
    let hash_c = push_raw(&w, &file, 2);
    w.anvil.wait_receipt(&hash_c);
    w.set("ORDER", "C");
    w.run("hub-cli batch resolve <BATCH> <ORDER> --on-chain");
    assert_eq!(w.item_state(&batch, "C"), "CONFIRMING");
    let hash_d = push_raw(&w, &file, 3);
    let receipt_d = w.anvil.wait_receipt(&hash_d);
    w.set("ORDER", "D");
    w.set("TX_HASH", hash_d.as_str().expect("hash"));
    // A wrong block is refused.
    w.set("BLOCK", block_of(&receipt_d) + 7);
    w.run_code(
        "hub-cli batch resolve <BATCH> <ORDER> --on-chain --tx-hash <TX_HASH> --block <BLOCK>",
        3,
    );
    w.set("BLOCK", block_of(&receipt_d));
    w.run("hub-cli batch resolve <BATCH> <ORDER> --on-chain --tx-hash <TX_HASH> --block <BLOCK>");
    assert_eq!(w.item_state(&batch, "D"), "CONFIRMING");

    // No exception left: resend A.
    let out = w.run("hub-cli batch resend <BATCH>");
    assert!(out.stdout.contains("1 sent"), "{}", out.stdout);
    w.wait_closed();
    assert_eq!(w.item_state(&batch, "A"), "DISBURSED");
    assert_eq!(w.item_state(&batch, "C"), "DISBURSED");
    assert_eq!(w.item_state(&batch, "D"), "DISBURSED");
    assert_eq!(w.item_state(&batch, "B"), "DISBURSEMENT_FAILED");
    assert_eq!(w.anvil.balance(recipient(1)), ETH);
    assert_eq!(w.anvil.balance(recipient(3)), 3 * ETH);
    assert_eq!(w.anvil.balance(recipient(4)), 4 * ETH);
    assert_eq!(w.anvil.balance(recipient(2)), 0);

    // B is paid by the next batch, with the nonce it gave up.
    w.anvil.set_balance(b, 10 * ETH);
    let next = w.create_batch();
    assert_ne!(next, batch);
    assert_eq!(w.item(&next, "B")["nonce"], 0);
    w.export_and_sign();
    w.run("hub-cli batch upload <BATCH> <USB>/batch_<BATCH>_<DATE>_signed.json");
    w.wait_closed();
    assert_eq!(w.order_state("B"), "COMPLETED");
    assert_eq!(w.anvil.balance(recipient(2)), 2 * ETH);
    for o in ["A", "C", "D"] {
        assert_eq!(w.order_state(o), "COMPLETED", "{o}");
    }
}

/// LINGERING: the node loses both transactions of a batch from its pool.
/// One comes back (someone re-broadcast it), the other does not: `check`
/// reports one determined and one undetermined, `resend` sends the latter.
pub fn lingering_check_and_resend(backend: Backend) {
    let w = World::standard(backend, 1);
    let cold = w.cold_addresses();
    w.import_orders(&[
        ("L-1", "ETH", cold[1], recipient(1), "1"),
        ("L-2", "USDT", cold[2], recipient(2), "20"),
    ]);
    w.anvil.mint(w.token(), cold[2], 100 * USDT);
    let batch = w.create_batch();
    w.export_and_sign();
    // The node stops mining for a while, accepts both, then drops them.
    w.anvil.rpc("evm_setAutomine", json!([false]));
    w.run("hub-cli batch upload <BATCH> <USB>/batch_<BATCH>_<DATE>_signed.json");
    let file = signed_batch(&w);
    for item in &file.items {
        w.anvil
            .rpc("anvil_dropTransaction", json!([item.tx_hash.to_string()]));
    }
    let out = w.run("hub-cli batch sync <BATCH>");
    assert!(out.stdout.contains("LINGERING"), "{}", out.stdout);
    assert_eq!(w.batch_state(&batch), "PROCESS_EXCEPTION");
    let out = w.run_code(
        "hub-cli batch sync <BATCH> --wait --timeout 600",
        hub_exit::NEEDS_OPERATOR,
    );
    assert!(out.stderr.contains("batch check"), "{}", out.stderr);
    // L-1 reaches the node again by other means.
    push_raw(&w, &file, 0);
    let out = w.run("hub-cli batch check <BATCH>");
    assert!(
        out.stdout.contains("1 still undetermined") && out.stdout.contains("1 now determined"),
        "{}",
        out.stdout
    );
    assert_eq!(w.item_state(&batch, "L-1"), "CONFIRMING");
    assert_eq!(w.item_state(&batch, "L-2"), "READY_TO_RESEND");
    w.run("hub-cli batch resend <BATCH>");
    assert_eq!(w.item_state(&batch, "L-2"), "CONFIRMING");
    w.wait_closed();
    assert_eq!(w.order_state("L-1"), "COMPLETED");
    assert_eq!(w.order_state("L-2"), "COMPLETED");
    assert_eq!(w.anvil.balance(recipient(1)), ETH);
    assert_eq!(w.anvil.token_balance(w.token(), recipient(2)), 20 * USDT);
}

/// Cancel: the signer refuses a batch by policy (an amount above
/// `max_per_tx`), the hub cancels it and every order returns to PENDING; a
/// new batch takes the good order. Once a signed file is accepted, cancel
/// is refused and the batch goes on (upload --no-send, then send).
pub fn cancel_before_signing(backend: Backend) {
    let w = World::standard(backend, 1);
    let cold = w.cold_addresses();
    w.import_orders(&[
        ("C-1", "ETH", cold[1], recipient(1), "1"),
        ("C-2", "ETH", cold[2], recipient(2), "11"),
    ]);
    let first = w.create_batch();
    w.export();
    let review = w.run_code(
        "signer inspect <USB>/batch_<BATCH>_<DATE>_unsigned.json",
        signer_exit::POLICY,
    );
    assert!(
        format!("{}{}", review.stdout, review.stderr).contains("max_per_tx"),
        "{}{}",
        review.stdout,
        review.stderr
    );
    w.run_input(
        "signer --sign <USB>/batch_<BATCH>_<DATE>_unsigned.json --password-file <PASSWORD_FILE>",
        &format!("{first}\n"),
        signer_exit::POLICY,
    );
    assert!(!w.signed_file().exists(), "nothing signed");
    w.note_audit_head();

    let out = w.run("hub-cli batch cancel <BATCH>");
    assert!(out.stdout.contains("cancelled"), "{}", out.stdout);
    assert_eq!(w.batch_state(&first), "CANCELLED");
    assert_eq!(w.order_state("C-1"), "PENDING");
    assert_eq!(w.order_state("C-2"), "PENDING");

    // A new batch with the good order only.
    w.set("ORDERS", "C-1");
    let out = w.run("hub-cli batch create --chain eth --orders <ORDERS> --auto-build");
    let second = w.take_batch(&out);
    assert_eq!(
        w.item(&second, "C-1")["nonce"],
        0,
        "a cancelled batch holds no nonce"
    );
    w.export_and_sign();
    w.run("hub-cli batch upload <BATCH> <USB>/batch_<BATCH>_<DATE>_signed.json --no-send");
    assert_eq!(w.batch_state(&second), "SENDING_TX");
    let out = w.run_code("hub-cli batch cancel <BATCH>", hub_exit::CONFLICT);
    assert!(
        out.stderr
            .contains("only before a signed file was accepted"),
        "{}",
        out.stderr
    );
    w.run("hub-cli batch send <BATCH>");
    w.wait_closed();
    assert_eq!(w.order_state("C-1"), "COMPLETED");
    assert_eq!(w.order_state("C-2"), "PENDING");
    assert_eq!(w.anvil.balance(recipient(1)), ETH);
    assert_eq!(w.anvil.balance(recipient(2)), 0);
}

/// A token transfer that reverts on chain (the token froze the sender after
/// signing) is final: DISBURSEMENT_FAILED, the order FAILED, its fee spent.
pub fn reverted_transfer_is_final(backend: Backend) {
    let w = World::standard(backend, 1);
    let cold = w.cold_addresses();
    w.anvil.mint(w.token(), cold[1], 10 * USDT);
    w.import_orders(&[
        ("R-1", "USDT", cold[1], recipient(1), "5"),
        ("R-2", "ETH", cold[2], recipient(2), "1"),
    ]);
    let batch = w.create_batch();
    w.export_and_sign();
    w.anvil.freeze(w.token(), cold[1]);
    w.run("hub-cli batch upload <BATCH> <USB>/batch_<BATCH>_<DATE>_signed.json");
    w.wait_closed();
    assert_eq!(w.item_state(&batch, "R-1"), "DISBURSEMENT_FAILED");
    let fee: u128 = w.item(&batch, "R-1")["fee"]
        .as_str()
        .expect("fee recorded")
        .parse()
        .expect("number");
    assert!(fee > 0);
    let failed = w.run("hub-cli order list --state FAILED");
    assert!(failed.stdout.contains("R-1"), "{}", failed.stdout);
    assert!(!failed.stdout.contains("R-2"), "{}", failed.stdout);
    w.set("ORDER", "R-1");
    let history = w.run("hub-cli order show <ORDER>");
    assert!(history.stdout.contains("reverted"), "{}", history.stdout);
    assert_eq!(w.order_state("R-2"), "COMPLETED");
    assert_eq!(w.anvil.token_balance(w.token(), recipient(1)), 0);
    assert_eq!(w.anvil.balance(recipient(2)), ETH);
}

/// Exactly once with the real signer: V-1 and V-2 are exported and signed,
/// the batch is cancelled and V-1 abandoned with `order cancel`. The next
/// batch reuses both nonces and carries V-1's void; it is rebuilt with
/// `--force` after export, so the old file's answer is refused; the new one
/// is signed and sent. The first signed file, broadcast by an attacker
/// afterwards, pays nothing.
pub fn void_and_forced_rebuild(backend: Backend) {
    let w = World::standard(backend, 1);
    let cold = w.cold_addresses();
    w.import_orders(&[
        ("V-1", "ETH", cold[1], recipient(1), "3"),
        ("V-2", "ETH", cold[1], recipient(2), "1"),
    ]);
    let first = w.create_batch();
    w.export_and_sign();
    let copy = SignedBatch::parse(&read(&w.signed_file())).expect("parse");
    let out = w.run("hub-cli batch cancel <BATCH>");
    assert!(out.stdout.contains("stay bound"), "{}", out.stdout);
    assert_eq!(w.batch_state(&first), "CANCELLED");

    w.set("ORDER", "V-1");
    let out = w.run("hub-cli order cancel <ORDER>");
    assert!(out.stdout.contains("void"), "{}", out.stdout);
    assert_eq!(w.order_state("V-1"), "PENDING");

    let second = w.create_batch();
    assert_eq!(w.item(&second, "V-1")["nonce"], 0);
    assert_eq!(w.item(&second, "V-2")["nonce"], 1);
    w.export_and_sign();
    let old_signed = w.signed_file();
    let stale = std::fs::read_to_string(&old_signed).expect("read");
    w.run_code("hub-cli batch build <BATCH>", hub_exit::CONFLICT);
    w.anvil.mine(2);
    w.run("hub-cli batch build <BATCH> --force");
    assert_eq!(
        w.item(&second, "V-1")["nonce"],
        0,
        "a forced rebuild keeps the nonce"
    );
    let out = w.run_code(
        "hub-cli batch upload <BATCH> <USB>/batch_<BATCH>_<DATE>_signed.json",
        hub_exit::CONFLICT,
    );
    assert!(out.stderr.contains("void"), "{}", out.stderr);
    assert_eq!(w.batch_state(&second), "READY_FOR_SIGNATURE");
    std::fs::remove_file(&old_signed).expect("remove the stale signed file");
    w.export_and_sign();
    w.run("hub-cli batch upload <BATCH> <USB>/batch_<BATCH>_<DATE>_signed.json");
    w.wait_closed();
    assert_eq!(w.order_state("V-1"), "FAILED");
    assert_eq!(w.order_state("V-2"), "COMPLETED");

    // An attacker broadcasts both older signed files: nothing is mined.
    let older: SignedBatch = SignedBatch::parse(&stale).expect("parse");
    for item in copy.items.iter().chain(&older.items) {
        let raw = coldsign_core::hex_data::encode(&item.raw_transaction);
        let body =
            json!({"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction", "params": [raw]});
        let answer: serde_json::Value = ureq::post(&w.anvil.url)
            .send_json(body)
            .expect("anvil answers")
            .into_json()
            .expect("JSON");
        assert!(answer.get("error").is_some(), "{answer}");
    }
    w.anvil.mine(1);
    assert_eq!(w.anvil.balance(recipient(1)), 0);
    assert_eq!(w.anvil.balance(recipient(2)), ETH);
    assert_eq!(w.anvil.nonce(cold[1]), 2);
}
