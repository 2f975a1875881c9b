//! Exactly once: every order is paid at most once, and unless it ends
//! FAILED exactly once, across cancels, rebuilds, a node that errors after
//! accepting a transaction, a node that lies, and an attacker who holds a
//! copy of every signed file. Each scenario ends with money checks on the
//! real chain: every recipient's balance equals the sum of its orders, and
//! every sender's nonce equals the transactions that should exist.

use crate::harness::*;
use serde_json::json;

const USAGE: i32 = 2;
const INPUT: i32 = 3;
const CONFLICT: i32 = 5;
const NODE: i32 = 7;
const SIGNATURE: i32 = 8;
const NEEDS_OPERATOR: i32 = 9;

/// 10^18 / 10: 0.1 ETH in wei.
const TENTH: u128 = ETH / 10;

/// The nonce of every item of batch `id`, by order id.
fn nonces(w: &World, id: &str) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = w.json(&["batch", "show", id])["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["order_id"].as_str().unwrap().to_owned(),
                i["nonce"].as_u64().unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

/// Signs batch `id`'s unsigned file after exporting it.
fn export_and_sign(w: &World, id: &str, keys: &[&k256::ecdsa::SigningKey]) -> std::path::PathBuf {
    sign_file(&w.export(id), keys)
}

/// The transactions of a signed file, sent straight to the node.
fn broadcast(w: &World, signed: &std::path::Path) {
    for item in read_signed(signed).items {
        let raw = format!("0x{}", hex::encode(&item.raw_transaction));
        w.anvil.rpc("eth_sendRawTransaction", json!([raw]));
    }
}

/// Path 1: a refused upload, a cancel, and the orders paid by a second
/// batch; the first signed file is broadcast by an attacker before the
/// second batch is sent. The second batch reuses the bound nonces, so the
/// chain takes exactly one version of each order, and the hub finds that
/// the attacker's copy paid them.
pub fn cancel_after_a_refused_upload_keeps_the_nonces(backend: Backend) {
    let w = World::new(backend, 1);
    let token = w.anvil.deploy_token();
    w.add_token(token);
    let (k1, a1) = dev(1);
    w.anvil.mint(token, a1, 1_000_000_000);
    w.import_keys(&[&k1]);
    w.import_orders(&[
        ("T1", "TUSD", a1, recipient(1), "250"),
        ("E1", "ETH", a1, recipient(2), "1"),
    ]);
    let b1 = w.create_batch();
    let signed1 = export_and_sign(&w, &b1, &[&k1]);
    let first = nonces(&w, &b1);

    // A damaged copy: one byte of a signature flipped.
    let mut damaged = read_signed(&signed1);
    let last = damaged.items[0].raw_transaction.len() - 1;
    damaged.items[0].raw_transaction[last] ^= 1;
    let damaged_path = w.dir.path().join("damaged.json");
    std::fs::write(&damaged_path, damaged.to_json()).unwrap();
    w.fails(
        &["batch", "upload", &b1, damaged_path.to_str().unwrap()],
        SIGNATURE,
    );
    assert_eq!(w.batch_state(&b1), "SIGNATURE_ERROR");

    let cancelled = w.json(&["batch", "cancel", &b1]);
    assert_eq!(cancelled["orders_bound"], 2, "{cancelled}");
    assert_eq!(w.order_state("T1"), "PENDING");

    let b2 = w.create_batch();
    assert_eq!(
        nonces(&w, &b2),
        first,
        "the second batch reuses the bound nonces"
    );
    let signed2 = export_and_sign(&w, &b2, &[&k1]);

    // The attacker broadcasts the first signed file before batch 2 is sent.
    broadcast(&w, &signed1);
    w.anvil.mine(1);
    // Batch 2's transactions are refused (nonce too low): the hub finds
    // that the order's own earlier version consumed each nonce.
    let r = w.run(&["batch", "upload", &b2, signed2.to_str().unwrap()]);
    assert!(
        r.code == 0 || r.code == NEEDS_OPERATOR,
        "{} {}",
        r.stdout,
        r.stderr
    );
    w.sync_wait(&b2);
    assert_eq!(w.batch_state(&b2), "CLOSED");
    assert_eq!(w.order_state("T1"), "COMPLETED");
    assert_eq!(w.order_state("E1"), "COMPLETED");
    let shown = w.json(&["batch", "show", &b2]);
    let first_hash = format!("{}", read_signed(&signed1).items[0].tx_hash);
    assert!(
        shown["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["tx_hash"] == first_hash.as_str()),
        "batch 2 follows the transaction that paid: {shown}"
    );

    assert_eq!(
        w.replay_every_signed_file(),
        0,
        "no signed transaction is accepted again"
    );
    assert_eq!(w.anvil.token_balance(token, recipient(1)), 250_000_000);
    assert_eq!(w.anvil.balance(recipient(2)), ETH);
    assert_eq!(w.anvil.nonce(a1), 2);
}

/// Path 3: the node accepted the broadcast but answered with an error.
/// `resolve --rebuild` is refused because the transaction has a receipt;
/// sync alone moves the item on.
pub fn rebuild_is_refused_when_the_transaction_landed(backend: Backend) {
    let w = World::behind_proxy(backend, 1);
    let (k1, a1) = dev(1);
    w.import_keys(&[&k1]);
    w.import_orders(&[("L", "ETH", a1, recipient(3), "1.4")]);
    let id = w.create_batch();
    let signed = export_and_sign(&w, &id, &[&k1]);
    w.proxy().set(Fault::ErrorAfterSend);
    w.fails(
        &["batch", "upload", &id, signed.to_str().unwrap()],
        NEEDS_OPERATOR,
    );
    assert_eq!(w.item_state(&id, "L"), "BROADCAST_ERROR");
    w.proxy().clear();

    let r = w.fails(&["batch", "resolve", &id, "L", "--rebuild"], CONFLICT);
    assert!(r.stderr.contains("--on-chain"), "{}", r.stderr);
    assert!(r.stderr.contains("has a receipt"), "{}", r.stderr);
    assert_eq!(w.item_state(&id, "L"), "BROADCAST_ERROR");

    w.sync_wait(&id);
    assert_eq!(w.batch_state(&id), "CLOSED");
    assert_eq!(w.order_state("L"), "COMPLETED");
    w.fails(
        &["batch", "create", "--chain", "local", "--all-pending"],
        INPUT,
    );

    assert_eq!(w.replay_every_signed_file(), 0);
    assert_eq!(w.anvil.balance(recipient(3)), 14 * TENTH);
    assert_eq!(w.anvil.nonce(a1), 1);
}

/// Path 4: a node that swallows the broadcast, answers with a made-up hash
/// and then invents receipts in a real block that does not hold the
/// transaction. Nothing is counted as sent or paid; once the node is honest
/// again, a resend pays the order once.
pub fn a_lying_node_never_closes_a_batch(backend: Backend) {
    let w = World::behind_proxy(backend, 1);
    let (k1, a1) = dev(1);
    w.import_keys(&[&k1]);
    w.import_orders(&[("Y", "ETH", a1, recipient(4), "2")]);
    let id = w.create_batch();
    let signed = export_and_sign(&w, &id, &[&k1]);
    w.proxy().set(Fault::SwallowSend);
    w.proxy().set(Fault::FakeReceipts);
    let r = w.fails(
        &["batch", "upload", &id, signed.to_str().unwrap()],
        NEEDS_OPERATOR,
    );
    assert!(
        r.stdout.contains("node fault") || r.stderr.contains("BROADCAST_ERROR"),
        "{} {}",
        r.stdout,
        r.stderr
    );
    assert_eq!(w.item_state(&id, "Y"), "BROADCAST_ERROR");

    // The invented receipt is not counted, however often sync asks.
    for _ in 0..2 {
        w.anvil.mine(1);
        w.run(&["batch", "sync", &id]);
    }
    assert_eq!(w.batch_state(&id), "PROCESS_EXCEPTION");
    assert_eq!(w.item_state(&id, "Y"), "BROADCAST_ERROR");
    assert_eq!(w.order_state("Y"), "IN_BATCH");
    let message = w.json(&["batch", "show", &id])["items"][0]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("not counted"), "{message}");
    assert!(w.proxy().calls("eth_getBlockByHash") > 0);
    assert_eq!(w.anvil.balance(recipient(4)), 0);

    w.proxy().clear();
    w.ok(&["batch", "resolve", &id, "Y", "--resend"]);
    w.ok(&["batch", "resend", &id]);
    w.sync_wait(&id);
    assert_eq!(w.batch_state(&id), "CLOSED");
    assert_eq!(w.order_state("Y"), "COMPLETED");

    assert_eq!(w.replay_every_signed_file(), 0);
    assert_eq!(w.anvil.balance(recipient(4)), 2 * ETH);
    assert_eq!(w.anvil.nonce(a1), 1);
}

/// A node that forwards the transaction but answers with another hash:
/// not counted as sent; sync finds the receipt of our own hash and moves
/// the item on without an operator.
pub fn a_wrong_hash_is_a_node_fault_and_sync_recovers(backend: Backend) {
    let w = World::behind_proxy(backend, 1);
    let (k1, a1) = dev(1);
    w.import_keys(&[&k1]);
    w.import_orders(&[("H", "ETH", a1, recipient(5), "0.5")]);
    let id = w.create_batch();
    let signed = export_and_sign(&w, &id, &[&k1]);
    w.proxy().set(Fault::WrongHash);
    w.fails(
        &["batch", "upload", &id, signed.to_str().unwrap()],
        NEEDS_OPERATOR,
    );
    assert_eq!(w.item_state(&id, "H"), "BROADCAST_ERROR");
    w.proxy().clear();
    w.sync_wait(&id);
    assert_eq!(w.batch_state(&id), "CLOSED");
    assert_eq!(w.anvil.balance(recipient(5)), 5 * TENTH);
    assert_eq!(w.anvil.nonce(a1), 1);
}

/// Abandoning a bound order: `order cancel` makes it a void in the next
/// batch (a 0-value self-transfer at its nonce). Once mined, the order is
/// FAILED and its earlier signed version can never be mined.
pub fn a_void_cancels_a_bound_order(backend: Backend) {
    let w = World::new(backend, 1);
    let (k1, a1) = dev(1);
    w.import_keys(&[&k1]);
    w.import_orders(&[
        ("V", "ETH", a1, recipient(6), "3"),
        ("P", "ETH", a1, recipient(7), "1"),
    ]);
    let b1 = w.create_batch();
    let _signed1 = export_and_sign(&w, &b1, &[&k1]);
    let first = nonces(&w, &b1);
    w.ok(&["batch", "cancel", &b1]);

    // An unbound order is cancelled at once; a bound one waits for its void.
    let cancel = w.json(&["order", "cancel", "V"]);
    assert_eq!(cancel["void_pending"], true, "{cancel}");
    assert_eq!(w.order_state("V"), "PENDING");

    let b2 = w.create_batch();
    assert_eq!(nonces(&w, &b2), first);
    let unsigned = w.export(&b2);
    let text = std::fs::read_to_string(&unsigned).unwrap();
    let file = coldsign_core::batch::UnsignedBatch::parse(&text).unwrap();
    let void = file.items().iter().find(|i| i.order_id() == "V").unwrap();
    assert_eq!(void.kind(), coldsign_core::batch::ItemKind::Void);
    assert_eq!(void.transaction().to(), Some(a1));
    assert!(void.transaction().value().is_zero());
    let signed2 = sign_file(&unsigned, &[&k1]);
    w.ok(&["batch", "upload", &b2, signed2.to_str().unwrap()]);
    w.sync_wait(&b2);
    assert_eq!(w.batch_state(&b2), "CLOSED");
    assert_eq!(w.order_state("V"), "FAILED");
    assert_eq!(w.order_state("P"), "COMPLETED");
    assert_eq!(w.item_state(&b2, "V"), "DISBURSEMENT_FAILED");

    assert_eq!(
        w.replay_every_signed_file(),
        0,
        "the first signed file can never be mined"
    );
    assert_eq!(w.anvil.balance(recipient(6)), 0);
    assert_eq!(w.anvil.balance(recipient(7)), ETH);
    assert_eq!(w.anvil.nonce(a1), 2);

    // An order that never left the hub is FAILED at once.
    w.import_orders(&[("U", "ETH", a1, recipient(8), "1")]);
    let cancel = w.json(&["order", "cancel", "U"]);
    assert_eq!(cancel["state"], "FAILED", "{cancel}");
    assert_eq!(w.order_state("U"), "FAILED");
}

/// Rebuilding an exported batch needs `--force`; a forced rebuild keeps
/// every nonce and voids the old file, whose signed answer is then refused
/// without moving the batch to SIGNATURE_ERROR. The unsigned file and
/// another batch's file are refused the same way.
pub fn a_forced_rebuild_voids_the_exported_file(backend: Backend) {
    let w = World::new(backend, 1);
    let (k1, a1) = dev(1);
    w.import_keys(&[&k1]);
    w.import_orders(&[("F", "ETH", a1, recipient(9), "1")]);
    let id = w.create_batch();
    let unsigned1 = w.export(&id);
    let signed1 = sign_file(&unsigned1, &[&k1]);
    let first = nonces(&w, &id);

    let r = w.fails(&["batch", "build", &id], CONFLICT);
    assert!(r.stderr.contains("--force"), "{}", r.stderr);
    w.anvil.mine(3); // fees move on: a rebuild gives other bytes
    w.ok(&["batch", "build", &id, "--force"]);
    assert_eq!(nonces(&w, &id), first, "a forced rebuild keeps the nonces");

    let r = w.fails(
        &["batch", "upload", &id, signed1.to_str().unwrap()],
        CONFLICT,
    );
    assert!(r.stderr.contains("void"), "{}", r.stderr);
    assert_eq!(w.batch_state(&id), "READY_FOR_SIGNATURE");
    let r = w.fails(
        &["batch", "upload", &id, unsigned1.to_str().unwrap()],
        INPUT,
    );
    assert!(r.stderr.contains("unsigned batch file"), "{}", r.stderr);
    assert_eq!(w.batch_state(&id), "READY_FOR_SIGNATURE");
    let mut other = read_signed(&signed1);
    other.batch_id += 1;
    let other_path = w.dir.path().join("other.json");
    std::fs::write(&other_path, other.to_json()).unwrap();
    let r = w.fails(
        &["batch", "upload", &id, other_path.to_str().unwrap()],
        INPUT,
    );
    assert!(r.stderr.contains("not of batch"), "{}", r.stderr);
    assert_eq!(w.batch_state(&id), "READY_FOR_SIGNATURE");

    let signed2 = sign_file(&w.export(&id), &[&k1]);
    w.ok(&["batch", "upload", &id, signed2.to_str().unwrap()]);
    w.sync_wait(&id);
    assert_eq!(w.batch_state(&id), "CLOSED");

    // The voided version, broadcast afterwards, can never be mined.
    assert_eq!(w.replay_every_signed_file(), 0);
    assert_eq!(w.anvil.balance(recipient(9)), ETH);
    assert_eq!(w.anvil.nonce(a1), 1);
}

/// Path 1, the other way round: the attacker broadcasts the first signed
/// file after the cancel and before the orders are taken again. The next
/// batch finds the bound nonces consumed by the orders' own versions and
/// settles the orders as paid instead of paying them at new nonces.
pub fn a_copy_broadcast_after_a_cancel_settles_the_orders(backend: Backend) {
    let w = World::new(backend, 1);
    let (k1, a1) = dev(1);
    w.import_keys(&[&k1]);
    w.import_orders(&[
        ("C1", "ETH", a1, recipient(10), "7"),
        ("C2", "ETH", a1, recipient(11), "1"),
    ]);
    let b1 = w.create_batch();
    let signed1 = export_and_sign(&w, &b1, &[&k1]);
    w.ok(&["batch", "cancel", &b1]);
    broadcast(&w, &signed1);
    w.anvil.mine(1);

    let r = w.fails(
        &[
            "batch",
            "create",
            "--chain",
            "local",
            "--all-pending",
            "--auto-build",
        ],
        CONFLICT,
    );
    assert!(
        r.stderr.contains("already settled on chain"),
        "{}",
        r.stderr
    );
    assert_eq!(w.order_state("C1"), "COMPLETED");
    assert_eq!(w.order_state("C2"), "COMPLETED");
    let history = w.json(&["order", "show", "C1"]);
    assert!(
        history["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["reason"] == "paid by an earlier version"),
        "{history}"
    );

    assert_eq!(w.replay_every_signed_file(), 0);
    assert_eq!(w.anvil.balance(recipient(10)), 7 * ETH);
    assert_eq!(w.anvil.balance(recipient(11)), ETH);
    assert_eq!(w.anvil.nonce(a1), 2);
}

/// With a witness node, an item is DISBURSED only once the witness shows
/// the same receipt in the same canonical block. The chain's own node and a
/// node of another network under the same chain id are refused as
/// witnesses; a node of the same network that has not seen the payout (a
/// fork of the chain taken before it) holds the item in CONFIRMING; an
/// honest witness (another endpoint of the chain) lets it close.
pub fn a_witness_node_must_agree_before_an_order_is_paid(backend: Backend) {
    let w = World::new(backend, 1);
    let own = format!("{}/", w.anvil.url.to_uppercase());
    let r = w.fails(&["chain", "update", "local", "--witness-rpc", &own], USAGE);
    assert!(r.stderr.contains("the chain's own node"), "{}", r.stderr);
    let other_network = Anvil::start_with(&["--timestamp", "1"]);
    let r = w.fails(
        &[
            "chain",
            "update",
            "local",
            "--witness-rpc",
            &other_network.url,
        ],
        NODE,
    );
    assert!(r.stderr.contains("different networks"), "{}", r.stderr);
    let other_chain = Anvil::start_with(&["--chain-id", "5"]);
    let r = w.fails(
        &[
            "chain",
            "update",
            "local",
            "--witness-rpc",
            &other_chain.url,
        ],
        NODE,
    );
    assert!(r.stderr.contains("the witness"), "{}", r.stderr);
    assert!(r.stderr.contains("reports chain id 5"), "{}", r.stderr);
    let down = FaultProxy::start(&w.anvil.url);
    down.set(Fault::Down);
    let r = w.fails(
        &["chain", "update", "local", "--witness-rpc", &down.url],
        NODE,
    );
    assert!(r.stderr.contains("`--no-witness`"), "{}", r.stderr);
    assert!(w.json(&["chain", "list"])[0]["witness_rpc"].is_null());

    let lagging = Anvil::start_with(&["--fork-url", &w.anvil.url]);
    let (k1, a1) = dev(1);
    w.import_keys(&[&k1]);
    w.ok(&["chain", "update", "local", "--witness-rpc", &lagging.url]);
    w.import_orders(&[("W", "ETH", a1, recipient(12), "1")]);
    let id = w.create_batch();
    let signed = export_and_sign(&w, &id, &[&k1]);
    w.ok(&["batch", "upload", &id, signed.to_str().unwrap()]);
    w.anvil.mine(2);
    for _ in 0..2 {
        w.ok(&["batch", "sync", &id]);
    }
    assert_eq!(w.item_state(&id, "W"), "CONFIRMING");
    let message = w.json(&["batch", "show", &id])["items"][0]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("witness"), "{message}");
    assert_eq!(w.order_state("W"), "IN_BATCH");

    let honest = FaultProxy::start(&w.anvil.url);
    w.ok(&["chain", "update", "local", "--witness-rpc", &honest.url]);
    // Moving the chain's node onto its witness is refused the same way.
    let r = w.fails(&["chain", "update", "local", "--rpc", &honest.url], USAGE);
    assert!(r.stderr.contains("the chain's own node"), "{}", r.stderr);
    w.sync_wait(&id);
    assert_eq!(w.batch_state(&id), "CLOSED");
    assert_eq!(w.order_state("W"), "COMPLETED");
    assert_eq!(w.anvil.balance(recipient(12)), ETH);
    assert_eq!(w.anvil.nonce(a1), 1);
    assert_eq!(lagging.balance(recipient(12)), 0);
}
