//! The scenarios, each run once per backend.

use crate::harness::{
    address_of, dev, key, read_signed, recipient, sign_file, Backend, World, ETH, UNFUNDED_KEY,
};
use serde_json::json;

/// Exit codes (docs/hub.md).
const CONFLICT: i32 = 5;
const DATABASE: i32 = 6;
const SIGNATURE: i32 = 8;
const NEEDS_OPERATOR: i32 = 9;

fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}{m:02}{d:02}")
}

pub fn happy_path_native_and_erc20(backend: Backend) {
    let w = World::new(backend, 2);
    let (k1, a1) = dev(1);
    let (k2, a2) = dev(2);
    let token = w.anvil.deploy_token();
    w.anvil.mint(token, a2, 1_000_000_000);
    w.add_token(token);
    w.import_keys(&[&k1, &k2]);
    let (r1, r2, r3) = (recipient(1), recipient(2), recipient(3));
    w.import_orders(&[
        ("o-1", "ETH", a1, r1, "1.5"),
        ("o-2", "TUSD", a2, r2, "250.5"),
        ("o-3", "ETH", a2, r3, "0.25"),
    ]);
    // Importing the same file again changes nothing.
    w.import_orders(&[("o-1", "ETH", a1, r1, "1.5")]);
    let pending = w.json(&["order", "list", "--state", "PENDING"]);
    assert_eq!(pending.as_array().unwrap().len(), 3);
    assert_eq!(pending[1]["amount"], "250.5");
    assert_eq!(pending[1]["amount_base_units"], "250500000");

    let id = w.create_batch();
    let id = id.as_str();
    assert_eq!(w.batch_state(id), "READY_FOR_SIGNATURE");
    let unsigned = w.export(id);
    assert_eq!(
        unsigned.file_name().unwrap().to_str().unwrap(),
        format!("batch_{id}_{}_unsigned.json", today())
    );
    // Export is stable: the same bytes every time.
    let first = std::fs::read(&unsigned).unwrap();
    w.export(id);
    assert_eq!(std::fs::read(&unsigned).unwrap(), first);

    let signed = sign_file(&unsigned, &[&k1, &k2]);
    w.ok(&["batch", "upload", id, signed.to_str().unwrap()]);
    assert_eq!(w.item_state(id, "o-1"), "CONFIRMING");
    // Uploading the same file again is harmless.
    w.ok(&["batch", "upload", id, signed.to_str().unwrap()]);
    w.anvil.mine(2);
    w.sync_wait(id);
    assert_eq!(w.batch_state(id), "CLOSED");
    for o in ["o-1", "o-2", "o-3"] {
        assert_eq!(w.order_state(o), "COMPLETED", "{o}");
        assert_eq!(w.item_state(id, o), "DISBURSED", "{o}");
    }
    assert_eq!(w.anvil.balance(r1), 3 * ETH / 2);
    assert_eq!(w.anvil.balance(r3), ETH / 4);
    assert_eq!(w.anvil.token_balance(token, r2), 250_500_000);
    // The order's history, from creation to payment.
    let show = w.json(&["order", "show", "o-2"]);
    let states: Vec<&str> = show["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["to_state"].as_str().unwrap())
        .collect();
    for s in [
        "PENDING",
        "IN_BATCH",
        "SELECTED",
        "TX_BUILT",
        "SIGNATURE_READY",
        "READY_TO_SEND",
        "SENDING",
        "CONFIRMING",
        "DISBURSED",
        "COMPLETED",
    ] {
        assert!(states.contains(&s), "{s} missing from {states:?}");
    }
    // Sync again: idempotent.
    w.ok(&["batch", "sync", id]);
    let human = w.ok(&["batch", "show", id]);
    assert!(human.contains("250.5"), "{human}");
    // A new batch is possible now that the chain has none unfinished.
    w.import_orders(&[("o-4", "ETH", a1, r1, "0.1")]);
    w.ok(&["batch", "create", "--chain", "local", "--orders", "o-4"]);
}

pub fn build_error_then_rebuild_after_funding(backend: Backend) {
    let w = World::new(backend, 1);
    let poor = key(UNFUNDED_KEY);
    let (k1, a1) = dev(1);
    let p = address_of(&poor);
    let token = w.anvil.deploy_token();
    w.anvil.mint(token, a1, 1_000_000);
    w.add_token(token);
    let sink = w.anvil.deploy_token();
    w.import_keys(&[&k1, &poor]);
    w.import_orders(&[
        ("rich", "ETH", a1, recipient(1), "1"),
        ("poor", "ETH", p, recipient(2), "1"),
        ("tok", "TUSD", a1, recipient(3), "2"),
        // A contract that accepts no ether: gas estimation fails. (Not the
        // registered token's own contract: import refuses that recipient.)
        ("to-contract", "ETH", a1, sink, "0.1"),
    ]);
    let r = w.fails(
        &[
            "batch",
            "create",
            "--chain",
            "local",
            "--all-pending",
            "--auto-build",
        ],
        NEEDS_OPERATOR,
    );
    let id = r.stdout.trim().to_owned();
    assert!(r.stderr.contains("BLOCKED"), "{}", r.stderr);
    assert_eq!(w.batch_state(&id), "BLOCKED");
    assert_eq!(w.item_state(&id, "rich"), "TX_BUILT");
    let show = w.json(&["batch", "show", &id]);
    let message = |o: &str| {
        show["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["order_id"] == o)
            .unwrap()["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        message("poor").contains("insufficient funds"),
        "{}",
        message("poor")
    );
    assert!(
        message("tok").contains("insufficient TUSD balance"),
        "{}",
        message("tok")
    );
    assert!(
        message("to-contract").contains("gas estimation failed"),
        "{}",
        message("to-contract")
    );
    for o in ["poor", "tok", "to-contract"] {
        assert_eq!(w.item_state(&id, o), "BUILD_ERROR", "{o}");
    }
    // No file while blocked.
    w.fails(&["batch", "export", &id], CONFLICT);
    w.ok(&["batch", "drop", &id, "to-contract"]);
    assert_eq!(w.order_state("to-contract"), "PENDING");
    w.anvil.set_balance(p, 10 * ETH);
    w.anvil.mint(token, a1, 5_000_000);
    w.ok(&["batch", "build", &id]);
    assert_eq!(w.batch_state(&id), "READY_FOR_SIGNATURE");
    assert_eq!(w.item_state(&id, "poor"), "TX_BUILT");
    let signed = sign_file(&w.export(&id), &[&k1, &poor]);
    w.ok(&["batch", "upload", &id, signed.to_str().unwrap()]);
    w.sync_wait(&id);
    assert_eq!(w.batch_state(&id), "CLOSED");
    assert_eq!(w.anvil.balance(recipient(2)), ETH);
    assert_eq!(w.anvil.token_balance(token, recipient(3)), 2_000_000);
}

pub fn signature_error_tampered_and_incomplete(backend: Backend) {
    let w = World::new(backend, 1);
    let (k1, a1) = dev(1);
    let (k2, a2) = dev(2);
    let (k3, _) = dev(3);
    w.import_keys(&[&k1, &k2]);
    w.import_orders(&[
        ("s-1", "ETH", a1, recipient(1), "1"),
        ("s-2", "ETH", a2, recipient(2), "2"),
    ]);
    let id = w.create_batch();
    let id = id.as_str();
    let unsigned = w.export(id);
    let good = sign_file(&unsigned, &[&k1, &k2]);
    let good_text = std::fs::read_to_string(&good).unwrap();

    // Tampered: item 0 signed by the wrong key.
    let wrong_unsigned = w
        .dir
        .path()
        .join("wrong")
        .join(unsigned.file_name().unwrap());
    std::fs::create_dir_all(wrong_unsigned.parent().unwrap()).unwrap();
    std::fs::copy(&unsigned, &wrong_unsigned).unwrap();
    let text = std::fs::read_to_string(&wrong_unsigned).unwrap();
    let swapped = text.replace(&a1.to_string(), &address_of(&k3).to_string());
    std::fs::write(&wrong_unsigned, &swapped).ok();
    // The signer key for a1 is replaced by k3: sign the real unsigned batch with k3 for item 0.
    let parsed = coldsign_core::batch::UnsignedBatch::parse(&text).unwrap();
    let txs: Vec<_> = parsed
        .items()
        .iter()
        .enumerate()
        .map(|(i, it)| {
            it.transaction()
                .clone()
                .sign(if i == 0 { &k3 } else { &k2 })
                .unwrap()
        })
        .collect();
    let tampered = coldsign_core::batch::SignedBatch::from_signed_transactions(&parsed, &txs);
    let tampered_path = w.dir.path().join("tampered.json");
    std::fs::write(&tampered_path, tampered.to_json()).unwrap();
    let r = w.fails(
        &["batch", "upload", id, tampered_path.to_str().unwrap()],
        SIGNATURE,
    );
    assert!(
        r.stderr.contains("SIGNATURE_ERROR") && r.stderr.contains("s-1"),
        "{}",
        r.stderr
    );
    assert_eq!(w.batch_state(id), "SIGNATURE_ERROR");
    assert_eq!(w.item_state(id, "s-1"), "TX_BUILT");
    assert_eq!(w.anvil.nonce(a1), 0, "nothing may be broadcast");
    assert_eq!(w.anvil.nonce(a2), 0, "nothing may be broadcast");

    // A changed byte in a raw transaction.
    let mut edited = read_signed(&good);
    let last = edited.items[1].raw_transaction.len() - 1;
    edited.items[1].raw_transaction[last] ^= 1;
    let edited_path = w.dir.path().join("edited.json");
    std::fs::write(&edited_path, edited.to_json()).unwrap();
    w.fails(
        &["batch", "upload", id, edited_path.to_str().unwrap()],
        SIGNATURE,
    );

    // Incomplete: the second item is missing.
    let mut incomplete = read_signed(&good);
    incomplete.items.pop();
    let incomplete_path = w.dir.path().join("incomplete.json");
    std::fs::write(&incomplete_path, incomplete.to_json()).unwrap();
    let r = w.fails(
        &["batch", "upload", id, incomplete_path.to_str().unwrap()],
        SIGNATURE,
    );
    assert!(r.stderr.contains("missing"), "{}", r.stderr);
    // With --json: one envelope on stdout, with the refused items.
    let r = w.run(&[
        "batch",
        "upload",
        id,
        incomplete_path.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(r.code, SIGNATURE);
    assert_eq!(r.stdout.lines().count(), 1, "{}", r.stdout);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["success"], false);
    assert_eq!(v["error"]["kind"], "signature");
    assert_eq!(v["error"]["exit_code"], SIGNATURE);
    assert_eq!(v["error"]["details"]["items"][0]["order_id"], "s-2");
    assert!(v["error"]["details"]["items"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("missing"));

    // Damaged: not JSON at all.
    let damaged = w.dir.path().join("damaged.json");
    std::fs::write(&damaged, &good_text[..good_text.len() / 2]).unwrap();
    w.fails(
        &["batch", "upload", id, damaged.to_str().unwrap()],
        SIGNATURE,
    );
    assert_eq!(w.anvil.nonce(a1), 0, "nothing may be broadcast");
    assert_eq!(w.anvil.nonce(a2), 0, "nothing may be broadcast");
    let history = w.json(&["order", "show", "s-1"]);
    assert!(history["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["reason"] == "signature refused"));

    // The correct file is then accepted.
    w.ok(&["batch", "upload", id, good.to_str().unwrap()]);
    w.sync_wait(id);
    assert_eq!(w.batch_state(id), "CLOSED");
}

pub fn cancel_rules_and_drop(backend: Backend) {
    let w = World::new(backend, 1);
    let (k1, a1) = dev(1);
    w.import_keys(&[&k1]);
    w.import_orders(&[
        ("c-1", "ETH", a1, recipient(1), "1"),
        ("c-2", "ETH", a1, recipient(2), "1"),
    ]);
    let id = w.ok(&["batch", "create", "--chain", "local", "--all-pending"]);
    let id = id.trim();
    assert_eq!(w.batch_state(id), "NEW");
    w.ok(&["batch", "drop", id, "c-2"]);
    assert_eq!(w.order_state("c-2"), "PENDING");
    w.ok(&["batch", "cancel", id]);
    assert_eq!(w.batch_state(id), "CANCELLED");
    assert_eq!(w.order_state("c-1"), "PENDING");
    w.ok(&["batch", "cancel", id]); // idempotent

    // Cancel after build is fine; the nonce is not consumed.
    let id2 = w.create_batch();
    let id2 = id2.as_str();
    assert_eq!(w.batch_state(id2), "READY_FOR_SIGNATURE");
    w.ok(&["batch", "cancel", id2]);
    assert_eq!(w.order_state("c-2"), "PENDING");

    // Not after a signed file was accepted.
    let id3 = w.create_batch();
    let id3 = id3.as_str();
    let nonces: Vec<u64> = w.json(&["batch", "show", id3])["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["nonce"].as_u64().unwrap())
        .collect();
    assert_eq!(nonces, vec![0, 1], "cancelled batches hold no nonces");
    let signed = sign_file(&w.export(id3), &[&k1]);
    w.ok(&[
        "batch",
        "upload",
        id3,
        signed.to_str().unwrap(),
        "--no-send",
    ]);
    assert_eq!(w.batch_state(id3), "SENDING_TX");
    let r = w.fails(&["batch", "cancel", id3], CONFLICT);
    assert!(
        r.stderr.contains("only before a signed file was accepted"),
        "{}",
        r.stderr
    );
    w.fails(&["batch", "drop", id3, "c-1"], CONFLICT);
    w.ok(&["batch", "send", id3]);
    w.sync_wait(id3);
    assert_eq!(w.batch_state(id3), "CLOSED");
    w.fails(&["batch", "cancel", id3], CONFLICT);
}

pub fn racing_creates_get_one_batch(backend: Backend) {
    let w = World::new(backend, 1);
    let (k1, a1) = dev(1);
    w.import_keys(&[&k1]);
    w.import_orders(&[
        ("r-1", "ETH", a1, recipient(1), "1"),
        ("r-2", "ETH", a1, recipient(2), "1"),
    ]);
    let mut a = w.command(&["batch", "create", "--chain", "local", "--orders", "r-1"]);
    let mut b = w.command(&["batch", "create", "--chain", "local", "--orders", "r-2"]);
    a.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    b.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let (ca, cb) = (a.spawn().unwrap(), b.spawn().unwrap());
    let (oa, ob) = (
        ca.wait_with_output().unwrap(),
        cb.wait_with_output().unwrap(),
    );
    let codes = [oa.status.code().unwrap(), ob.status.code().unwrap()];
    let mut sorted = codes;
    sorted.sort();
    assert_eq!(sorted, [0, CONFLICT], "exactly one wins: {codes:?}");
    let loser = if codes[0] == CONFLICT { &oa } else { &ob };
    let err = String::from_utf8_lossy(&loser.stderr);
    assert!(err.contains("already has an unfinished batch"), "{err}");
    assert_eq!(w.json(&["batch", "list"]).as_array().unwrap().len(), 1);
    // The loser's order is untouched.
    let pending = w.json(&["order", "list", "--state", "PENDING"]);
    assert_eq!(pending.as_array().unwrap().len(), 1);
}

pub fn broadcast_error_resolutions_and_nonce_reuse(backend: Backend) {
    let w = World::new(backend, 1);
    let (ka, a) = dev(3);
    let (kb, b) = dev(4);
    let (kc, c) = dev(5);
    w.import_keys(&[&ka, &kb, &kc]);
    w.import_orders(&[
        ("A", "ETH", a, recipient(1), "1"),
        ("B", "ETH", b, recipient(2), "1"),
        ("C", "ETH", c, recipient(3), "1"),
    ]);
    let id = w.create_batch();
    let id = id.as_str();
    let signed = sign_file(&w.export(id), &[&ka, &kb, &kc]);
    // The senders are emptied after building: the node rejects every transaction.
    for x in [a, b, c] {
        w.anvil.set_balance(x, 0);
    }
    let r = w.fails(
        &["batch", "upload", id, signed.to_str().unwrap()],
        NEEDS_OPERATOR,
    );
    assert!(r.stderr.contains("BROADCAST_ERROR"), "{}", r.stderr);
    assert_eq!(w.batch_state(id), "PROCESS_EXCEPTION");
    for o in ["A", "B", "C"] {
        assert_eq!(w.item_state(id, o), "BROADCAST_ERROR");
    }
    let show = w.json(&["batch", "show", id]);
    assert!(
        show["items"][0]["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("insufficient"),
        "{show}"
    );
    for x in [a, b, c] {
        w.anvil.set_balance(x, 100 * ETH);
    }
    // A: the node was at fault, resend.
    w.ok(&["batch", "resolve", id, "A", "--resend"]);
    assert_eq!(w.item_state(id, "A"), "READY_TO_RESEND");
    w.fails(&["batch", "resend", id], CONFLICT); // B and C are still open
                                                 // B: can never work as signed, rebuild.
    w.ok(&["batch", "resolve", id, "B", "--rebuild"]);
    assert_eq!(w.item_state(id, "B"), "DISBURSEMENT_FAILED");
    assert_eq!(w.order_state("B"), "PENDING");
    // C: it did land (someone sent it by other means).
    let raw_c = &read_signed(&signed).items[2];
    let hash = w.anvil.rpc(
        "eth_sendRawTransaction",
        json!([format!("0x{}", hex::encode(&raw_c.raw_transaction))]),
    );
    let receipt = w.anvil.wait_receipt(&hash);
    let block = u64::from_str_radix(
        receipt["blockNumber"]
            .as_str()
            .unwrap()
            .trim_start_matches("0x"),
        16,
    )
    .unwrap();
    w.fails(
        &[
            "batch",
            "resolve",
            id,
            "C",
            "--on-chain",
            "--tx-hash",
            hash.as_str().unwrap(),
            "--block",
            &(block + 5).to_string(),
        ],
        3,
    );
    w.ok(&[
        "batch",
        "resolve",
        id,
        "C",
        "--on-chain",
        "--tx-hash",
        hash.as_str().unwrap(),
        "--block",
        &block.to_string(),
    ]);
    assert_eq!(w.item_state(id, "C"), "CONFIRMING");
    w.ok(&["batch", "resend", id]);
    assert_eq!(w.item_state(id, "A"), "CONFIRMING");
    w.anvil.mine(1);
    w.sync_wait(id);
    assert_eq!(w.batch_state(id), "CLOSED");
    assert_eq!(w.item_state(id, "A"), "DISBURSED");
    assert_eq!(w.item_state(id, "C"), "DISBURSED");
    assert_eq!(w.anvil.nonce(b), 0);

    // The nonce B gave up is taken by the next batch, and later orders from
    // the same sender follow without a gap.
    w.import_orders(&[("B2", "ETH", b, recipient(4), "2")]);
    let id2 = w.create_batch();
    let id2 = id2.as_str();
    let items = w.json(&["batch", "show", id2])["items"].clone();
    let nonces: Vec<(String, u64)> = items
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
    assert_eq!(nonces, vec![("B".to_owned(), 0), ("B2".to_owned(), 1)]);
    let signed2 = sign_file(&w.export(id2), &[&kb]);
    w.ok(&["batch", "upload", id2, signed2.to_str().unwrap()]);
    w.sync_wait(id2);
    assert_eq!(w.batch_state(id2), "CLOSED");
    assert_eq!(w.order_state("B"), "COMPLETED");
    assert_eq!(w.order_state("B2"), "COMPLETED");
    assert_eq!(w.anvil.balance(recipient(4)), 2 * ETH);
}

pub fn lingering_dropped_tx_check_and_resend(backend: Backend) {
    let w = World::new(backend, 1);
    let (k1, a1) = dev(1);
    w.import_keys(&[&k1]);
    w.import_orders(&[("L", "ETH", a1, recipient(1), "1")]);
    let id = w.create_batch();
    let id = id.as_str();
    let signed = sign_file(&w.export(id), &[&k1]);
    w.anvil.rpc("evm_setAutomine", json!([false]));
    w.ok(&["batch", "upload", id, signed.to_str().unwrap()]);
    assert_eq!(w.item_state(id, "L"), "CONFIRMING");
    let hash = format!("{}", read_signed(&signed).items[0].tx_hash);
    w.anvil.rpc("anvil_dropTransaction", json!([hash]));
    w.ok(&["batch", "sync", id]);
    assert_eq!(w.item_state(id, "L"), "LINGERING");
    assert_eq!(w.batch_state(id), "PROCESS_EXCEPTION");
    w.fails(
        &["batch", "sync", id, "--wait", "--timeout", "5"],
        NEEDS_OPERATOR,
    );
    let check = w.json(&["batch", "check", id]);
    assert_eq!(check["undetermined"], 1);
    assert_eq!(check["determined"], 0);
    assert_eq!(w.item_state(id, "L"), "READY_TO_RESEND");
    w.ok(&["batch", "resend", id]);
    assert_eq!(w.item_state(id, "L"), "CONFIRMING");
    w.anvil.mine(1);
    w.sync_wait(id);
    assert_eq!(w.batch_state(id), "CLOSED");
    assert_eq!(w.anvil.balance(recipient(1)), ETH);
}

pub fn reverted_token_transfer_is_disbursement_failed(backend: Backend) {
    let w = World::new(backend, 1);
    let (k2, a2) = dev(2);
    let token = w.anvil.deploy_token();
    w.anvil.mint(token, a2, 5_000_000);
    w.add_token(token);
    w.import_keys(&[&k2]);
    w.import_orders(&[("T", "TUSD", a2, recipient(1), "5")]);
    let id = w.create_batch();
    let id = id.as_str();
    let signed = sign_file(&w.export(id), &[&k2]);
    // After signing, the token freezes the sender: the transfer reverts on chain.
    w.anvil.freeze(token, a2);
    w.ok(&["batch", "upload", id, signed.to_str().unwrap()]);
    w.sync_wait(id);
    assert_eq!(w.batch_state(id), "CLOSED");
    assert_eq!(w.item_state(id, "T"), "DISBURSEMENT_FAILED");
    assert_eq!(w.order_state("T"), "FAILED");
    let item = &w.json(&["batch", "show", id])["items"][0];
    let fee: u128 = item["fee"].as_str().unwrap().parse().unwrap();
    assert!(fee > 0, "the fee of a reverted transfer is recorded");
    assert_eq!(w.anvil.token_balance(token, recipient(1)), 0);
}

pub fn reorg_of_unconfirmed_receipt(backend: Backend) {
    let w = World::new(backend, 3);
    let (k1, a1) = dev(1);
    w.import_keys(&[&k1]);
    w.import_orders(&[("R", "ETH", a1, recipient(1), "1")]);
    let id = w.create_batch();
    let id = id.as_str();
    let signed = sign_file(&w.export(id), &[&k1]);
    let snapshot = w.anvil.rpc("evm_snapshot", json!([]));
    w.ok(&["batch", "upload", id, signed.to_str().unwrap()]);
    w.ok(&["batch", "sync", id]);
    let item = &w.json(&["batch", "show", id])["items"][0];
    assert_eq!(item["state"], "CONFIRMING");
    let first_block = item["block_number"].as_u64().expect("receipt recorded");
    // The block holding the receipt is reorganised away.
    assert_eq!(w.anvil.rpc("evm_revert", json!([snapshot])), json!(true));
    w.anvil.mine(2);
    w.ok(&["batch", "sync", id]);
    assert_eq!(w.item_state(id, "R"), "CONFIRMING");
    let history = w.json(&["order", "show", "R"]);
    assert!(
        history["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["reason"] == "reorg"),
        "{history}"
    );
    w.anvil.mine(3);
    w.sync_wait(id);
    assert_eq!(w.batch_state(id), "CLOSED");
    let item = &w.json(&["batch", "show", id])["items"][0];
    assert_eq!(item["state"], "DISBURSED");
    assert_ne!(item["block_number"].as_u64().unwrap(), first_block + 100);
    assert_eq!(w.anvil.balance(recipient(1)), ETH);
}

pub fn schema_version_is_checked(backend: Backend) {
    let w = World::new(backend, 1);
    w.ok(&["migrate"]); // idempotent
    let sql =
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', 'x')";
    match backend {
        Backend::Sqlite => {
            rusqlite::Connection::open(&w.db.url)
                .unwrap()
                .execute(sql, [])
                .unwrap();
            let missing = w.dir.path().join("nope.db");
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_hub-cli"))
                .args(["order", "list", "--db", missing.to_str().unwrap()])
                .output()
                .unwrap();
            let r = (
                out.status.code().unwrap(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            );
            assert_eq!(r.0, DATABASE, "{}", r.1);
            assert!(r.1.contains("hub-cli migrate"), "{}", r.1);
            assert!(!missing.exists(), "only migrate creates a database");
        }
        Backend::Postgres => {
            postgres::Client::connect(&w.db.url, postgres::NoTls)
                .unwrap()
                .batch_execute(sql)
                .unwrap();
        }
    }
    let r = w.fails(&["order", "list"], DATABASE);
    assert!(r.stderr.contains("newer than this hub-cli"), "{}", r.stderr);
    w.fails(&["migrate"], DATABASE);
}

pub fn send_is_safe_to_rerun_after_a_crash(backend: Backend) {
    let w = World::new(backend, 1);
    let (k1, a1) = dev(1);
    w.import_keys(&[&k1]);
    w.import_orders(&[
        ("k-1", "ETH", a1, recipient(1), "1"),
        ("k-2", "ETH", a1, recipient(2), "1"),
    ]);
    let id = w.create_batch();
    let id = id.as_str();
    let signed = sign_file(&w.export(id), &[&k1]);
    w.ok(&["batch", "upload", id, signed.to_str().unwrap(), "--no-send"]);
    // A `batch send` was killed after marking both SENDING and broadcasting
    // them: the first is already mined, the second waits in the node's pool.
    let file = read_signed(&signed);
    let raw = |i: usize| json!([format!("0x{}", hex::encode(&file.items[i].raw_transaction))]);
    let h0 = w.anvil.rpc("eth_sendRawTransaction", raw(0));
    w.anvil.wait_receipt(&h0);
    w.anvil.rpc("evm_setAutomine", json!([false]));
    w.anvil.rpc("eth_sendRawTransaction", raw(1));
    w.db.execute(&format!(
        "UPDATE batch_items SET state = 'SENDING' WHERE batch = {id}"
    ));
    w.ok(&["batch", "send", id]);
    assert_eq!(w.item_state(id, "k-1"), "CONFIRMING");
    assert_eq!(w.item_state(id, "k-2"), "CONFIRMING");
    let show = w.json(&["batch", "show", id]);
    let msgs: Vec<&str> = show["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["message"].as_str().unwrap_or(""))
        .collect();
    assert!(msgs[0].contains("ours"), "{msgs:?}");
    assert!(msgs[1].contains("already knows"), "{msgs:?}");
    w.anvil.mine(1);
    w.sync_wait(id);
    assert_eq!(w.batch_state(id), "CLOSED");
    assert_eq!(w.anvil.balance(recipient(2)), ETH);
}

pub fn nonce_taken_by_another_transaction_needs_an_operator(backend: Backend) {
    let w = World::new(backend, 1);
    let (k1, a1) = dev(1);
    w.import_keys(&[&k1]);
    w.import_orders(&[("N", "ETH", a1, recipient(1), "1")]);
    let id = w.create_batch();
    let id = id.as_str();
    let signed = sign_file(&w.export(id), &[&k1]);
    w.anvil.rpc("evm_setAutomine", json!([false]));
    w.ok(&["batch", "upload", id, signed.to_str().unwrap()]);
    let hash = format!("{}", read_signed(&signed).items[0].tx_hash);
    w.anvil.rpc("anvil_dropTransaction", json!([hash]));
    w.anvil.rpc("evm_setAutomine", json!([true]));
    // Another transaction from the same (dev, unlocked) account takes nonce 0.
    let other = w.anvil.rpc(
        "eth_sendTransaction",
        json!([{"from": a1.to_string(), "to": a1.to_string(), "value": "0x0"}]),
    );
    w.anvil.wait_receipt(&other);
    let r = w.fails(
        &[
            "batch",
            "sync",
            id,
            "--wait",
            "--timeout",
            "30",
            "--interval",
            "1",
        ],
        NEEDS_OPERATOR,
    );
    assert!(r.stderr.contains("needs an operator"), "{}", r.stderr);
    assert_eq!(w.item_state(id, "N"), "BROADCAST_ERROR");
    let msg = w.json(&["batch", "show", id])["items"][0]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        msg.contains("nonce 0") && msg.contains("none of this order's versions"),
        "{msg}"
    );
    // Neither our transaction nor the other one pays this order.
    w.fails(&["batch", "resolve", id, "N", "--on-chain"], CONFLICT);
    w.fails(
        &[
            "batch",
            "resolve",
            id,
            "N",
            "--on-chain",
            "--tx-hash",
            other.as_str().unwrap(),
        ],
        3,
    );
    w.ok(&["batch", "resolve", id, "N", "--rebuild"]);
    assert_eq!(w.batch_state(id), "CLOSED");
    assert_eq!(w.order_state("N"), "PENDING");
    let id2 = w.create_batch();
    assert_eq!(w.json(&["batch", "show", &id2])["items"][0]["nonce"], 1);
}

/// A chain without EIP-1559 (anvil on the Berlin hardfork, no base fee):
/// the hub builds legacy EIP-155 transactions priced from `eth_gasPrice`,
/// and they are paid and confirmed like type-2 ones.
pub fn legacy_chain_builds_eip155_transactions(backend: Backend) {
    let w = World::with_node(backend, 1, &["--hardfork", "berlin"]);
    let block = w
        .anvil
        .rpc("eth_getBlockByNumber", json!(["latest", false]));
    assert!(block.get("baseFeePerGas").is_none(), "{block}");
    let (k1, a1) = dev(1);
    let token = w.anvil.deploy_token();
    w.anvil.mint(token, a1, 5_000_000);
    w.add_token(token);
    w.import_keys(&[&k1]);
    let (r1, r2) = (recipient(1), recipient(2));
    w.import_orders(&[("l-1", "ETH", a1, r1, "0.5"), ("l-2", "TUSD", a1, r2, "3")]);
    let id = w.create_batch();
    let id = id.as_str();
    assert_eq!(w.batch_state(id), "READY_FOR_SIGNATURE");

    let unsigned = w.export(id);
    let batch =
        coldsign_core::batch::UnsignedBatch::parse(&std::fs::read_to_string(&unsigned).unwrap())
            .unwrap();
    let gas_price = u128::from_str_radix(
        w.anvil
            .rpc("eth_gasPrice", json!([]))
            .as_str()
            .unwrap()
            .trim_start_matches("0x"),
        16,
    )
    .unwrap();
    for item in batch.items() {
        match item.transaction() {
            coldsign_core::Transaction::Legacy(tx) => {
                assert_eq!(tx.chain_id, 31337);
                assert!(
                    tx.gas_price >= coldsign_core::U256::from(gas_price),
                    "priced below the node's gas price"
                );
            }
            other => panic!("expected a legacy transaction, got {other:?}"),
        }
    }

    let signed = sign_file(&unsigned, &[&k1]);
    w.ok(&["batch", "upload", id, signed.to_str().unwrap()]);
    w.anvil.mine(1);
    w.sync_wait(id);
    assert_eq!(w.batch_state(id), "CLOSED");
    assert_eq!(w.order_state("l-1"), "COMPLETED");
    assert_eq!(w.order_state("l-2"), "COMPLETED");
    assert_eq!(w.anvil.balance(r1), ETH / 2);
    assert_eq!(w.anvil.token_balance(token, r2), 3_000_000);
}
