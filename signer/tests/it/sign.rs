//! Signing, review, confirmation, overwrite refusal, determinism, verify.

use crate::util::*;
use coldsign_core::batch::{SignedBatch, UnsignedBatch};

fn signed_path(env: &Env, id: u64) -> std::path::PathBuf {
    env.path(&format!("batch_{id}_20261121_signed.json"))
}

#[test]
fn signs_a_mixed_batch_next_to_the_input_and_it_verifies() {
    let env = Env::new();
    env.init_dev();
    let batch = mixed_batch(7);
    let file = env.write_batch(&batch);
    let out = env.sign(&file, &[]);
    assert_ok(&out);
    let text = stdout(&out);
    assert!(text.contains("batch id:     7"), "{text}");
    assert!(text.contains("signed 6 transaction(s)"), "{text}");
    let signed_text = std::fs::read_to_string(signed_path(&env, 7)).unwrap();
    let signed = SignedBatch::parse(&signed_text).unwrap();
    let verified = signed.verify_against(&batch).unwrap();
    assert_eq!(verified.len(), 6);

    let out = env.run(&["verify", signed_path(&env, 7).to_str().unwrap()]);
    assert_ok(&out);
    assert!(
        stdout(&out).contains("6 item(s) of batch 7"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn short_form_sign_works() {
    let env = Env::new();
    env.init_dev();
    let file = env.write_batch(&mixed_batch(8));
    let pw = env.password_file();
    let out = env.run(&[
        "--sign",
        file.to_str().unwrap(),
        "--yes",
        "--password-file",
        pw.to_str().unwrap(),
    ]);
    assert_ok(&out);
    assert!(signed_path(&env, 8).exists());
}

#[test]
fn output_is_deterministic_and_never_overwritten_without_force() {
    let env = Env::new();
    env.init_dev();
    let file = env.write_batch(&mixed_batch(9));
    assert_ok(&env.sign(&file, &[]));
    let first = std::fs::read(signed_path(&env, 9)).unwrap();

    let out = env.sign(&file, &[]);
    assert_exit(&out, 8, "already exists");
    assert!(stderr(&out).contains("--force"));
    assert_eq!(std::fs::read(signed_path(&env, 9)).unwrap(), first);

    assert_ok(&env.sign(&file, &["--force"]));
    assert_eq!(std::fs::read(signed_path(&env, 9)).unwrap(), first);

    let other = env.path("other.json");
    assert_ok(&env.sign(&file, &["--out", other.to_str().unwrap()]));
    assert_eq!(std::fs::read(&other).unwrap(), first);
    let out = env.sign(&file, &["--out", other.to_str().unwrap()]);
    assert_exit(&out, 8, "already exists");
}

#[test]
fn operator_confirms_by_typing_the_batch_id() {
    let env = Env::new();
    env.init_dev();
    let file = env.write_batch(&mixed_batch(11));
    let pw = env.password_file();
    let args = [
        "sign",
        file.to_str().unwrap(),
        "--password-file",
        pw.to_str().unwrap(),
    ];
    let out = env.run_with_stdin(&args, "12\n");
    assert_exit(&out, 7, "not confirmed");
    assert!(!signed_path(&env, 11).exists());
    let out = env.run_with_stdin(&args, "");
    assert_exit(&out, 7, "not confirmed");
    let out = env.run_with_stdin(&args, "11\n");
    assert_ok(&out);
    assert!(signed_path(&env, 11).exists());
}

#[test]
fn inspect_shows_the_review_without_a_password_or_keystore() {
    let env = Env::new();
    let file = env.write_batch(&mixed_batch(12));
    // Without a policy the review is shown, and the exit code says that
    // `sign` would refuse.
    let out = env.run(&["inspect", file.to_str().unwrap()]);
    assert_exit(&out, 2, "no policy");
    assert!(
        stdout(&out).contains("Policy: NONE FOUND"),
        "{}",
        stdout(&out)
    );
    let out = env.run(&["inspect", file.to_str().unwrap(), "--no-policy"]);
    assert_ok(&out);
    let text = stdout(&out);
    for needle in [
        "batch id:     12",
        "chain:        local anvil/hardhat (development) (chain id 31337)",
        "items:        6",
        "senders:      3",
        "recipients:   1 distinct",
        "1.500000008",
        "1253",
        "USDT",
        "Largest payments:",
        "Worst-case fee exposure: 0.00946 ETH",
        "NO POLICY (--no-policy)",
        "Policy: NONE (--no-policy given",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    // Piped, not a terminal: no colour codes.
    assert!(!text.contains('\u{1b}'), "{text}");
    let out = env.run(&["inspect", file.to_str().unwrap(), "--json", "--no-policy"]);
    assert_ok(&out);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["data"]["batch_id"], 12);
    assert_eq!(v["data"]["assets"].as_array().unwrap().len(), 2);
}

#[test]
fn verify_detects_a_tampered_signed_file() {
    let env = Env::new();
    env.init_dev();
    let file = env.write_batch(&mixed_batch(13));
    assert_ok(&env.sign(&file, &[]));
    let path = signed_path(&env, 13);
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let raw = v["items"][2]["raw_transaction"]
        .as_str()
        .unwrap()
        .to_owned();
    // Flip the last hex digit of s.
    let last = raw.chars().last().unwrap();
    let flipped = if last == '0' { '1' } else { '0' };
    v["items"][2]["raw_transaction"] = format!("{}{flipped}", &raw[..raw.len() - 1]).into();
    std::fs::write(&path, serde_json::to_string(&v).unwrap()).unwrap();
    let out = env.run(&["verify", path.to_str().unwrap()]);
    assert_exit(&out, 5, "order-2");
    let out = env.run(&[
        "verify",
        path.to_str().unwrap(),
        "--unsigned",
        env.path("missing.json").to_str().unwrap(),
    ]);
    assert_exit(&out, 2, "cannot read");
}

#[test]
fn nonce_gap_is_refused() {
    let env = Env::new();
    env.init_dev();
    let file = env.write_batch(&batch_of(14, &[native(0, 5, 1), native(0, 7, 1)]));
    let out = env.sign(&file, &[]);
    assert_exit(&out, 5, "not contiguous");
    assert!(stderr(&out).contains(DEV_ADDRESSES[0]));
}

#[test]
fn path_outside_the_allowed_prefix_is_refused() {
    let env = Env::new();
    env.init_dev();
    for bad in [
        "m/44'/60'/0'/1/0",
        "m/44'/0'/0'/0/0",
        "m/44'/60'/0'/0/0/0",
        "m/44'/60'/0/0/0",
    ] {
        let mut d = draft(1, &native(0, 0, 1));
        d.derivation_path = bad.into();
        let batch = batch_from_drafts(15, vec![draft(0, &native(1, 0, 1)), d]);
        let file = env.write_batch(&batch);
        let out = env.sign(&file, &["--force"]);
        assert_exit(&out, 5, "item 1 (order \"order-1\")");
        assert!(
            stderr(&out).contains("outside the allowed prefix"),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn sender_not_derived_from_the_keystore_is_refused() {
    let env = Env::new();
    env.init_dev();
    // A consistent file (valid digest and hashes) whose item 1 claims sender 0
    // at the path of account index 1.
    let mut d = draft(1, &native(0, 0, 1));
    d.derivation_path = "m/44'/60'/0'/0/1".into();
    let batch = batch_from_drafts(16, vec![draft(0, &native(2, 0, 1)), d]);
    let file = env.write_batch(&batch);
    let out = env.sign(&file, &[]);
    assert_exit(&out, 5, "item 1 (order \"order-1\")");
    assert!(stderr(&out).contains("not the stated sender"));
    assert!(!signed_path(&env, 16).exists());
}

#[test]
fn unsigned_file_round_trips_through_core() {
    // Guard for the helpers: what the tests write is what core parses.
    let batch = mixed_batch(17);
    assert_eq!(UnsignedBatch::parse(&batch.to_json()).unwrap(), batch);
}

#[test]
fn review_warns_about_self_payments_and_token_contract_recipients() {
    let env = Env::new();
    let mut to_sender = draft(0, &native(0, 0, 1));
    to_sender.summary.recipient = addr(DEV_ADDRESSES[1]);
    if let coldsign_core::Transaction::Eip1559(tx) = &mut to_sender.tx {
        tx.to = Some(addr(DEV_ADDRESSES[1]));
    }
    let batch = batch_from_drafts(18, vec![to_sender, draft(1, &native(1, 0, 1))]);
    let out = env.run(&[
        "inspect",
        env.write_batch(&batch).to_str().unwrap(),
        "--no-policy",
    ]);
    assert_ok(&out);
    assert!(
        stdout(&out).contains("FLAG: item 0 (order \"order-0\") pays"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("own senders"));
}

#[test]
fn verify_without_the_unsigned_file_fails_unless_signatures_only() {
    let env = Env::new();
    env.init_dev();
    let file = env.write_batch(&mixed_batch(19));
    assert_ok(&env.sign(&file, &[]));
    let alone = env.path("elsewhere_signed.json");
    std::fs::copy(signed_path(&env, 19), &alone).unwrap();
    let out = env.run(&["verify", alone.to_str().unwrap()]);
    assert_exit(
        &out,
        5,
        "was NOT verified: its unsigned batch is not next to it",
    );
    assert!(stderr(&out).contains("--signatures-only"));
    let out = env.run(&["verify", alone.to_str().unwrap(), "--signatures-only"]);
    assert_ok(&out);
    assert!(stdout(&out)
        .contains("6 item(s) decode and carry valid signatures (--signatures-only: NOT checked"));
    let out = env.run(&[
        "verify",
        alone.to_str().unwrap(),
        "--unsigned",
        file.to_str().unwrap(),
    ]);
    assert_ok(&out);
    assert!(stdout(&out).contains("6 item(s) of batch 19"));
}
