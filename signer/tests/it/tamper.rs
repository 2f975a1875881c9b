//! Tampered unsigned files: every field of an item, the summary, the signing
//! hash, the derivation path, the digest. Each must refuse the whole batch
//! (exit 5) and sign nothing.

use crate::util::*;
use serde_json::{json, Value};

/// Edits item 1 of a fresh mixed batch (a token transfer from sender 0) and
/// returns the signer's output.
fn sign_edited(edit: impl FnOnce(&mut Value)) -> (Env, std::process::Output) {
    let env = Env::new();
    env.init_dev();
    let batch = mixed_batch(21);
    let mut v: Value = serde_json::from_str(&batch.to_json()).unwrap();
    edit(&mut v);
    let file = env.write(
        &batch.file_name(),
        &serde_json::to_string_pretty(&v).unwrap(),
    );
    let out = env.sign(&file, &[]);
    assert!(!env.path("batch_21_20261121_signed.json").exists());
    (env, out)
}

#[test]
fn every_transaction_field_is_covered() {
    let other = "0x0000000000000000000000000000000000000bad";
    let cases: Vec<(&str, Value)> = vec![
        ("nonce", json!("0x7")),
        ("maxPriorityFeePerGas", json!("0x3b9aca01")),
        ("maxFeePerGas", json!("0x9502f9001")),
        ("gas", json!("0xfde9")),
        ("to", json!(other)),
        ("value", json!("0x1")),
        ("input", json!("0xa9059cbb")),
        ("chainId", json!("0x1")),
        (
            "accessList",
            json!([{ "address": other, "storageKeys": [] }]),
        ),
    ];
    for (field, value) in cases {
        let (_env, out) = sign_edited(|v| v["items"][1]["tx"][field] = value.clone());
        assert_eq!(out.status.code(), Some(5), "{field}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("order-1"),
            "{field}: refusal does not name the item: {}",
            stderr(&out)
        );
        assert!(stderr(&out).contains("nothing was signed"), "{field}");
    }
}

#[test]
fn every_summary_field_is_covered() {
    let cases: Vec<(&str, Value)> = vec![
        ("amount", json!("251")),
        ("recipient", json!(DEV_ADDRESSES[2])),
        ("token", json!(null)),
        ("decimals", json!(18)),
        ("asset", json!("USDC")),
    ];
    for (field, value) in cases {
        let (_env, out) = sign_edited(|v| v["items"][1]["summary"][field] = value.clone());
        assert_eq!(out.status.code(), Some(5), "{field}: {}", stderr(&out));
        if field != "asset" {
            // The label alone is not in the transaction: the digest catches it
            // (and a policy binds labels to contracts, see policy tests).
            assert!(
                stderr(&out).contains("order-1"),
                "{field}: {}",
                stderr(&out)
            );
        } else {
            assert!(stderr(&out).contains("digest mismatch"), "{}", stderr(&out));
        }
    }
}

#[test]
fn signing_hash_path_sender_order_id_and_digest_are_covered() {
    let (_e, out) =
        sign_edited(|v| v["items"][1]["signing_hash"] = json!(format!("0x{}", "ab".repeat(32))));
    assert_exit(&out, 5, "recomputed from the fields");
    assert!(stderr(&out).contains("order-1"));

    for (field, value) in [
        ("derivation_path", json!("m/44'/60'/0'/0/2")),
        ("from", json!(DEV_ADDRESSES[2])),
        ("order_id", json!("order-99")),
    ] {
        let (_e, out) = sign_edited(|v| v["items"][1][field] = value.clone());
        assert_exit(&out, 5, "digest mismatch");
    }
    let (_e, out) = sign_edited(|v| v["digest"] = json!(format!("0x{}", "00".repeat(32))));
    assert_exit(&out, 5, "digest mismatch");
    let (_e, out) = sign_edited(|v| v["batch_id"] = json!(22));
    assert_exit(&out, 5, "digest mismatch");
    let (_e, out) = sign_edited(|v| v["items"][1]["tx"]["extra"] = json!("0x1"));
    assert_exit(&out, 5, "unknown field");
}

#[test]
fn consistent_forgeries_with_a_recomputed_digest_are_still_refused() {
    // Someone who recomputes hashes and digest (the digest is not a MAC)
    // still cannot make the signer sign for a path that is not the sender's.
    let env = Env::new();
    env.init_dev();
    let mut forged = draft(1, &token(0, 6, 250));
    forged.derivation_path = "m/44'/60'/0'/0/2".into();
    let batch = batch_from_drafts(23, vec![draft(0, &native(0, 5, 1)), forged]);
    let out = env.sign(&env.write_batch(&batch), &[]);
    assert_exit(&out, 5, "order-1");

    let mut forged = draft(1, &token(0, 6, 250));
    forged.from = addr(DEV_ADDRESSES[2]);
    let batch = batch_from_drafts(24, vec![draft(0, &native(0, 5, 1)), forged]);
    let out = env.sign(&env.write_batch(&batch), &[]);
    assert_exit(&out, 5, "order-1");
}
