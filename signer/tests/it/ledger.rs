//! The ledger: what the signer signed, authenticated by a key from the seed,
//! and the checks every item of a new batch passes against it. The hostile
//! files (rewritten logs with recomputed hashes, a hub head beyond the
//! signer's) are made here, as an attacker without the seed could.

use crate::util::*;
use coldsign_core::{
    batch::{ItemKind, LedgerHead, SignedBatch, Summary, UnsignedBatch, UnsignedItemDraft},
    keccak256, Transaction, B256, U256,
};
use serde_json::Value;

/// A native payment of `order` from dev sender `sender` at `nonce`.
fn pay(order: &str, sender: usize, nonce: u64, gwei: u64) -> UnsignedItemDraft {
    let mut d = draft(0, &native(sender, nonce, gwei));
    d.order_id = order.into();
    d
}

/// The void of `order`: a 0-value transfer from `sender` to itself at `nonce`.
fn void(order: &str, sender: usize, nonce: u64) -> UnsignedItemDraft {
    let mut d = pay(order, sender, nonce, 0);
    let me = addr(DEV_ADDRESSES[sender]);
    if let Transaction::Eip1559(tx) = &mut d.tx {
        tx.to = Some(me);
        tx.value = U256::zero();
    }
    d.summary = Summary {
        asset: "ETH".into(),
        decimals: 18,
        token: None,
        recipient: me,
        amount: "0".into(),
    };
    d.kind = ItemKind::Void;
    d
}

/// The same draft with another max fee per gas (a fee bump).
fn bumped(mut d: UnsignedItemDraft, max_fee_gwei: u64) -> UnsignedItemDraft {
    if let Transaction::Eip1559(tx) = &mut d.tx {
        tx.max_fee_per_gas = U256::from(max_fee_gwei) * U256::from(1_000_000_000u64);
    }
    d
}

fn signed_path(env: &Env, id: u64) -> std::path::PathBuf {
    env.path(&format!("batch_{id}_20261121_signed.json"))
}

fn sign_batch(env: &Env, batch: &UnsignedBatch, extra: &[&str]) -> std::process::Output {
    env.sign(&env.write_batch(batch), extra)
}

/// A keystore from the development mnemonic that signed batch 1: order
/// `W-1` from sender 0 at nonce 5 and `W-2` from sender 1 at nonce 0.
fn env_with_signed_batch() -> Env {
    let env = Env::new();
    env.init_dev();
    let first = batch_from_drafts(1, vec![pay("W-1", 0, 5, 1_000), pay("W-2", 1, 0, 2_000)]);
    assert_ok(&sign_batch(&env, &first, &[]));
    env
}

fn log_entries(env: &Env) -> Vec<Value> {
    std::fs::read_to_string(env.audit_log())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Compact JSON with every object's keys sorted, whatever serde_json's
/// features: the form the log's hashes are computed over.
fn canonical(v: &Value) -> String {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .into_iter()
                .map(|k| {
                    format!(
                        "{}:{}",
                        serde_json::to_string(k).unwrap(),
                        canonical(&map[k])
                    )
                })
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(canonical).collect();
            format!("[{}]", parts.join(","))
        }
        other => serde_json::to_string(other).unwrap(),
    }
}

/// Writes `entries` as the log, renumbering them and recomputing every
/// plain hash, as someone without the seed can: only the MACs stay stale.
fn write_rechained(env: &Env, mut entries: Vec<Value>) {
    let mut prev = format!("0x{}", "00".repeat(32));
    let mut text = String::new();
    for (seq, e) in entries.iter_mut().enumerate() {
        let o = e.as_object_mut().unwrap();
        o.insert("seq".into(), seq.into());
        o.insert("prev".into(), prev.clone().into());
        o.remove("hash");
        let hash = keccak256(canonical(e).as_bytes()).to_string();
        e.as_object_mut()
            .unwrap()
            .insert("hash".into(), hash.clone().into());
        prev = hash;
        text.push_str(&serde_json::to_string(e).unwrap());
        text.push('\n');
    }
    std::fs::write(env.audit_log(), text).unwrap();
}

#[test]
fn re_signing_the_same_file_gives_the_same_bytes_and_records_nothing_new() {
    let env = Env::new();
    env.init_dev();
    let batch = mixed_batch(7);
    assert_ok(&sign_batch(&env, &batch, &[]));
    let first = std::fs::read(signed_path(&env, 7)).unwrap();
    // The signed file carries the ledger head of the entry that recorded it.
    let signed = SignedBatch::parse(std::str::from_utf8(&first).unwrap()).unwrap();
    signed.verify_against(&batch).unwrap();
    let entries = log_entries(&env);
    let head = signed
        .ledger_head
        .expect("signed file carries the ledger head");
    assert_eq!(head.seq, 1);
    assert_eq!(entries[1]["mac"], head.mac.to_string());
    assert_eq!(entries[1]["ledger"].as_array().unwrap().len(), 6);
    assert_eq!(entries[1]["ledger"][0]["order_id"], "order-0");
    assert_eq!(entries[1]["ledger"][0]["nonce"], 5);
    assert_eq!(entries[1]["ledger"][0]["kind"], "payment");
    assert_eq!(
        entries[1]["ledger"][0]["tx_hash"],
        signed.items[0].tx_hash.to_string()
    );

    let out = sign_batch(&env, &batch, &["--force"]);
    assert_ok(&out);
    assert_eq!(std::fs::read(signed_path(&env, 7)).unwrap(), first);
    let text = stdout(&out);
    assert!(text.contains("identical re-signs: 6"), "{text}");
    assert!(text.contains("recorded in ledger entry 1"), "{text}");
    let entries = log_entries(&env);
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[2]["result"], "signed");
    assert!(entries[2].get("ledger").is_none(), "nothing recorded twice");
    assert!(entries[2]["mac"].as_str().unwrap().starts_with("0x"));
}

#[test]
fn an_order_signed_before_at_another_nonce_is_refused_unless_allowed() {
    let env = env_with_signed_batch();
    // W-1 again, now at nonce 6 of the same sender, in a new batch.
    let again = batch_from_drafts(2, vec![pay("W-1", 0, 6, 1_000)]);
    let out = sign_batch(&env, &again, &[]);
    assert_exit(&out, 10, "item 0 (order \"W-1\")");
    let err = stderr(&out);
    assert!(err.contains("batch 1"), "{err}");
    assert!(err.contains("at nonce 5 of"), "{err}");
    assert!(err.contains("--allow-reissue W-1"), "{err}");
    assert!(!signed_path(&env, 2).exists());
    let last = log_entries(&env).pop().unwrap();
    assert_eq!(last["result"], "refused");
    assert!(last["detail"].as_str().unwrap().starts_with("ledger:"));
    assert!(last.get("ledger").is_none());

    // inspect says the same without the password (unauthenticated).
    let out = env.run(&["inspect", env.write_batch(&again).to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(10), "{}", stderr(&out));
    assert!(stdout(&out).contains("REFUSED: item 0 (order \"W-1\")"));
    assert!(stdout(&out).contains("NOT authenticated"));

    // Another sender is another binding too.
    let moved = batch_from_drafts(3, vec![pay("W-2", 2, 0, 2_000)]);
    assert_exit(&sign_batch(&env, &moved, &[]), 10, "order \"W-2\"");

    // The operator's explicit allowance, shown and recorded.
    let out = sign_batch(&env, &again, &["--allow-reissue", "W-1"]);
    assert_ok(&out);
    let text = stdout(&out);
    assert!(text.contains("REISSUE: item 0 (order \"W-1\")"), "{text}");
    assert!(text.contains("Both can be mined"), "{text}");
    let last = log_entries(&env).pop().unwrap();
    assert_eq!(last["result"], "signed");
    assert_eq!(last["allowed_reissues"], serde_json::json!(["W-1"]));
    assert_eq!(last["ledger"][0]["nonce"], 6);
}

#[test]
fn the_same_order_at_the_same_nonce_with_another_amount_is_refused() {
    let env = env_with_signed_batch();
    let changed = batch_from_drafts(2, vec![pay("W-1", 0, 5, 1_001)]);
    let out = sign_batch(&env, &changed, &[]);
    assert_exit(&out, 10, "item 0 (order \"W-1\")");
    assert!(stderr(&out).contains("batch 1"), "{}", stderr(&out));
    assert!(stderr(&out).contains("value"), "{}", stderr(&out));
    // No allowance changes what an order pays under its nonce.
    let out = sign_batch(&env, &changed, &["--force", "--allow-reissue", "W-1"]);
    assert_exit(&out, 10, "only the fees may change");
    assert!(!signed_path(&env, 2).exists());
}

#[test]
fn a_fee_only_replacement_is_allowed_and_shown_as_such() {
    let env = env_with_signed_batch();
    let bump = batch_from_drafts(2, vec![bumped(pay("W-1", 0, 5, 1_000), 60)]);
    let out = sign_batch(&env, &bump, &[]);
    assert_ok(&out);
    let text = stdout(&out);
    assert!(
        text.contains(
            "REPLACES: item 0 (order \"W-1\"): replaces the earlier signature of batch 1"
        ),
        "{text}"
    );
    assert!(text.contains("fee-only replacements: 1"), "{text}");
    assert!(signed_path(&env, 2).exists());
}

#[test]
fn a_void_of_a_signed_order_is_its_cancellation() {
    let env = env_with_signed_batch();
    let cancel = batch_from_drafts(2, vec![void("W-1", 0, 5)]);
    let out = sign_batch(&env, &cancel, &[]);
    assert_ok(&out);
    let text = stdout(&out);
    assert!(
        text.contains("item 0 (order \"W-1\"): cancels order \"W-1\", consuming nonce 5"),
        "{text}"
    );
    assert!(
        text.contains("CANCELS: item 0 (order \"W-1\"): cancels order \"W-1\": its payment was signed in batch 1"),
        "{text}"
    );
    // Not shown as a payment of 0 ETH to the sender itself.
    assert!(
        !text.contains(&format!("to {}", DEV_ADDRESSES[0])),
        "{text}"
    );
    assert!(!text.contains("own senders"), "{text}");
    assert!(text.contains("items:        1 (0 payment(s), 1 cancellation(s))"));
    let last = log_entries(&env).pop().unwrap();
    assert_eq!(last["ledger"][0]["kind"], "void");

    // A payment after its void is never signed.
    let revived = batch_from_drafts(3, vec![bumped(pay("W-1", 0, 5, 1_000), 80)]);
    assert_exit(
        &sign_batch(&env, &revived, &[]),
        10,
        "the order was cancelled",
    );
}

#[test]
fn a_nonce_signed_for_another_order_is_shown_as_replacing_it() {
    let env = env_with_signed_batch();
    let other = batch_from_drafts(2, vec![pay("W-9", 0, 5, 3_000)]);
    let out = sign_batch(&env, &other, &[]);
    assert_ok(&out);
    let text = stdout(&out);
    assert!(
        text.contains("was signed before for order \"W-1\" in batch 1"),
        "{text}"
    );
    assert!(text.contains("replaces that order's earlier signature"));
}

#[test]
fn a_log_edited_with_its_hashes_recomputed_is_refused() {
    let env = env_with_signed_batch();
    let mut entries = log_entries(&env);
    // Pretend W-1 was never signed at nonce 5: the reissue would then pass.
    entries[1]["ledger"][0]["nonce"] = 17.into();
    write_rechained(&env, entries);
    // The hash chain alone cannot tell...
    let out = env.run(&["audit", "verify"]);
    assert_ok(&out);
    assert!(stdout(&out).contains("MACs: NOT CHECKED"));
    // ...the MACs can.
    let pw = env.password_file();
    let out = env.run(&["audit", "verify", "--password-file", pw.to_str().unwrap()]);
    assert_exit(&out, 11, "line 2 (entry 1) fails its MAC");
    let reissue = batch_from_drafts(2, vec![pay("W-1", 0, 6, 1_000)]);
    let out = sign_batch(&env, &reissue, &[]);
    assert_exit(&out, 11, "fails its MAC");
    assert!(!signed_path(&env, 2).exists());
}

#[test]
fn a_log_with_an_entry_deleted_and_hashes_recomputed_is_refused() {
    let env = env_with_signed_batch();
    let second = batch_from_drafts(2, vec![pay("W-3", 2, 0, 1)]);
    assert_ok(&sign_batch(&env, &second, &[]));
    let original = log_entries(&env);
    assert_eq!(original.len(), 3);
    let reissue = batch_from_drafts(3, vec![pay("W-1", 0, 6, 1_000)]);
    let pw = env.password_file();

    // Remove the record of batch 1 (W-1 and W-2).
    let mut entries = original.clone();
    entries.remove(1);
    write_rechained(&env, entries);
    let out = sign_batch(&env, &reissue, &[]);
    assert_exit(&out, 11, "fails its MAC");
    assert!(stderr(&out).contains("removed or reordered"));
    assert!(!signed_path(&env, 3).exists());

    // The same, replacing the record with a harmless entry without a MAC,
    // so that the count and the keystore's recorded head still match: only
    // the MAC chain tells.
    let mut entries = original;
    let mut fake = entries[1].clone();
    let o = fake.as_object_mut().unwrap();
    o.remove("ledger");
    o.remove("mac");
    o.insert("result".into(), "declined".into());
    o.insert("detail".into(), "operator did not confirm".into());
    entries[1] = fake;
    write_rechained(&env, entries);
    assert_ok(&env.run(&["audit", "verify"]));
    let out = env.run(&["audit", "verify", "--password-file", pw.to_str().unwrap()]);
    assert_exit(&out, 11, "line 3 (entry 2) fails its MAC");
    let out = sign_batch(&env, &reissue, &[]);
    assert_exit(&out, 11, "fails its MAC");
    assert!(!signed_path(&env, 3).exists());
}

#[test]
fn reordered_entries_with_hashes_recomputed_are_refused() {
    let env = env_with_signed_batch();
    let second = batch_from_drafts(2, vec![pay("W-3", 2, 0, 1)]);
    assert_ok(&sign_batch(&env, &second, &[]));
    let mut entries = log_entries(&env);
    entries.swap(1, 2);
    write_rechained(&env, entries);
    let out = sign_batch(&env, &batch_from_drafts(3, vec![pay("W-4", 2, 1, 1)]), &[]);
    assert_exit(&out, 11, "line 2 (entry 1) fails its MAC");
}

#[test]
fn a_deleted_log_is_refused_and_never_restarted() {
    let env = env_with_signed_batch();
    std::fs::remove_file(env.audit_log()).unwrap();
    let reissue = batch_from_drafts(2, vec![pay("W-1", 0, 6, 1_000)]);
    let out = sign_batch(&env, &reissue, &[]);
    assert_exit(&out, 11, "the keystore recorded ledger head entry 1");
    assert!(stderr(&out).contains("restore it from the backup"));
    assert!(!env.audit_log().exists(), "no new log was started");
    assert!(!signed_path(&env, 2).exists());
    assert_exit(&env.run(&["audit", "verify"]), 11, "the log is empty");
}

#[test]
fn an_unsigned_file_with_a_head_the_signer_does_not_have_is_refused() {
    let env = env_with_signed_batch();
    let entries = log_entries(&env);
    let mac = |seq: usize| B256::from_hex(entries[seq]["mac"].as_str().unwrap()).unwrap();
    let with_head = |id: u64, head: LedgerHead| {
        UnsignedBatch::with_ledger_head(
            id,
            CHAIN_ID,
            CREATED_AT,
            Some(head),
            vec![pay(&format!("H-{id}"), 2, id - 2, 1)],
        )
        .unwrap()
    };
    // Beyond the signer's last entry: its ledger was truncated or restored.
    let ahead = with_head(
        2,
        LedgerHead {
            seq: 7,
            mac: mac(1),
        },
    );
    let out = sign_batch(&env, &ahead, &[]);
    assert_exit(&out, 11, "carries ledger head entry 7");
    assert!(
        stderr(&out).contains("behind the hub's"),
        "{}",
        stderr(&out)
    );
    assert!(!signed_path(&env, 2).exists());
    // An entry it has, with another MAC: another signer, or a replaced log.
    let other = with_head(
        2,
        LedgerHead {
            seq: 1,
            mac: mac(0),
        },
    );
    assert_exit(&sign_batch(&env, &other, &["--force"]), 11, "has MAC");
    // The hub's head, or an older one, is fine.
    assert_ok(&sign_batch(
        &env,
        &with_head(
            2,
            LedgerHead {
                seq: 1,
                mac: mac(1),
            },
        ),
        &["--force"],
    ));
    assert_ok(&sign_batch(
        &env,
        &with_head(
            3,
            LedgerHead {
                seq: 0,
                mac: mac(0),
            },
        ),
        &[],
    ));
}

#[test]
fn a_keystore_recreated_from_the_same_mnemonic_keeps_the_ledger() {
    let env = env_with_signed_batch();
    let before = log_entries(&env).len();
    std::fs::remove_file(env.keystore()).unwrap();
    let out = env.init_dev();
    assert!(stdout(&out).contains("kept"), "{}", stdout(&out));
    let entries = log_entries(&env);
    assert_eq!(
        entries.len(),
        before + 1,
        "the log is continued, not restarted"
    );
    assert_eq!(entries[before]["event"], "init");
    let pw = env.password_file();
    assert_ok(&env.run(&["audit", "verify", "--password-file", pw.to_str().unwrap()]));
    let reissue = batch_from_drafts(2, vec![pay("W-1", 0, 6, 1_000)]);
    assert_exit(&sign_batch(&env, &reissue, &[]), 10, "batch 1");
}

#[test]
fn init_refuses_the_ledger_of_another_wallet_until_it_is_moved_away() {
    let env = env_with_signed_batch();
    std::fs::remove_file(env.keystore()).unwrap();
    let log_before = std::fs::read(env.audit_log()).unwrap();
    let other = env.write(
        "other.txt",
        "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about\n",
    );
    let out = env.init_from(&other, &env.password_file());
    assert_exit(
        &out,
        11,
        "the ledger of another wallet (fingerprint 16a93ed0)",
    );
    assert!(stderr(&out).contains("move it away"), "{}", stderr(&out));
    assert!(!env.keystore().exists());
    assert_eq!(std::fs::read(env.audit_log()).unwrap(), log_before);
    std::fs::rename(env.audit_log(), env.path("old-wallet-audit.jsonl")).unwrap();
    assert_ok(&env.init_from(&other, &env.password_file()));
    assert_eq!(log_entries(&env).len(), 1);
}
