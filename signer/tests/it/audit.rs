//! The audit log: entries for every outcome, and detection of edited,
//! removed and reordered entries.

use crate::util::*;

/// A keystore with a log of: init, signed, declined, refused, signed.
fn env_with_history() -> Env {
    let env = Env::new();
    env.init_dev();
    assert_ok(&env.sign(&env.write_batch(&mixed_batch(51)), &[]));
    let file = env.write_batch(&mixed_batch(52));
    let pw = env.password_file();
    let out = env.run_with_stdin(
        &[
            "sign",
            file.to_str().unwrap(),
            "--password-file",
            pw.to_str().unwrap(),
        ],
        "no\n",
    );
    assert_exit(&out, 7, "not confirmed");
    let gap = env.write_batch(&batch_of(53, &[native(0, 0, 1), native(0, 2, 1)]));
    assert_exit(&env.sign(&gap, &[]), 5, "not contiguous");
    assert_ok(&env.sign(&file, &[]));
    env
}

fn lines(env: &Env) -> Vec<String> {
    std::fs::read_to_string(env.audit_log())
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_lines(env: &Env, lines: &[String]) {
    std::fs::write(env.audit_log(), lines.join("\n") + "\n").unwrap();
}

#[test]
fn every_outcome_is_logged_and_the_chain_verifies() {
    let env = env_with_history();
    let l = lines(&env);
    assert_eq!(l.len(), 5);
    let entries: Vec<serde_json::Value> =
        l.iter().map(|s| serde_json::from_str(s).unwrap()).collect();
    let results: Vec<&str> = entries
        .iter()
        .map(|e| e["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["ok", "signed", "declined", "refused", "signed"]);
    assert_eq!(entries[1]["batch_id"], 51);
    assert_eq!(entries[1]["items"], 6);
    assert!(entries[1]["unsigned_digest"]
        .as_str()
        .unwrap()
        .starts_with("0x"));
    assert_eq!(entries[1]["totals"][0]["asset"], "ETH");
    assert_eq!(entries[1]["prev"], entries[0]["hash"]);
    let out = env.run(&["audit", "verify"]);
    assert_ok(&out);
    assert!(stdout(&out).contains("OK, 5 entr(ies)"));
    let out = env.run(&["audit", "show"]);
    assert_ok(&out);
    assert!(stdout(&out).contains("batch 52"));
    let mode = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(env.audit_log())
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode, 0o600);
}

#[test]
fn an_edited_entry_is_detected() {
    let env = env_with_history();
    let mut l = lines(&env);
    l[1] = l[1].replace("\"items\":6", "\"items\":5");
    write_lines(&env, &l);
    assert_exit(&env.run(&["audit", "verify"]), 9, "line 2 was edited");
}

#[test]
fn a_removed_entry_is_detected() {
    let env = env_with_history();
    let mut l = lines(&env);
    l.remove(2);
    write_lines(&env, &l);
    assert_exit(&env.run(&["audit", "verify"]), 9, "line 3");
}

#[test]
fn reordered_entries_are_detected() {
    let env = env_with_history();
    let mut l = lines(&env);
    l.swap(1, 2);
    write_lines(&env, &l);
    assert_exit(&env.run(&["audit", "verify"]), 9, "removed or reordered");
}

#[test]
fn a_broken_log_blocks_signing() {
    let env = env_with_history();
    let mut l = lines(&env);
    l[0] = l[0].replace("init", "Init");
    write_lines(&env, &l);
    let out = env.sign(&env.write_batch(&mixed_batch(54)), &[]);
    assert_exit(&out, 9, "edited");
    assert!(!env.path("batch_54_20261121_signed.json").exists());
}

#[test]
fn truncation_is_detected_against_a_recorded_head() {
    let env = env_with_history();
    let l = lines(&env);
    let last: serde_json::Value = serde_json::from_str(&l[4]).unwrap();
    let head = last["hash"].as_str().unwrap().to_owned();
    assert_ok(&env.run(&["audit", "verify", "--expect-head", &head]));
    write_lines(&env, &l[..4]);
    // The shorter chain is valid on its own, but not against the head the
    // operator wrote down...
    let out = env.run(&["audit", "verify", "--expect-head", &head]);
    assert_exit(&out, 9, "removed from the end");
    // ...nor against the ledger head the keystore recorded for the last
    // signed batch (entry 4), even without the logbook.
    let out = env.run(&["audit", "verify"]);
    assert_exit(&out, 11, "there is no entry 4");
    assert!(stderr(&out).contains("restore it from the backup"));
    let out = env.sign(&env.write_batch(&mixed_batch(55)), &[]);
    assert_exit(&out, 11, "there is no entry 4");
    assert!(!env.path("batch_55_20261121_signed.json").exists());
}

#[test]
fn a_removed_tail_that_records_no_batch_is_caught_by_the_logbook_head() {
    let env = env_with_history();
    // A declined session after the last signed batch: not a ledger record.
    let file = env.path("batch_52_20261121_unsigned.json");
    let pw = env.password_file();
    let args = [
        "sign",
        file.to_str().unwrap(),
        "--password-file",
        pw.to_str().unwrap(),
        "--force",
    ];
    assert_exit(&env.run_with_stdin(&args, "no\n"), 7, "not confirmed");
    let l = lines(&env);
    assert_eq!(l.len(), 6);
    let last: serde_json::Value = serde_json::from_str(&l[5]).unwrap();
    let head = last["hash"].as_str().unwrap().to_owned();
    write_lines(&env, &l[..5]);
    // The keystore's head (the last signed batch) is still there...
    assert_ok(&env.run(&["audit", "verify"]));
    // ...the logbook's head is not.
    let out = env.run(&["audit", "verify", "--expect-head", &head]);
    assert_exit(&out, 9, "removed from the end");
}

/// A batch whose totals do not fit 256 bits is refused before its review,
/// and the refusal is logged like every other outcome.
#[test]
fn a_batch_whose_totals_overflow_is_refused_and_logged() {
    use coldsign_core::{Transaction, U256};
    let env = Env::new();
    env.init_dev();
    let half = U256::MAX / 2 + 1;
    let drafts = (0..2)
        .map(|n| {
            let mut d = draft(n, &native(0, n as u64, 1));
            if let Transaction::Eip1559(t) = &mut d.tx {
                t.value = half;
            }
            d.summary.amount = coldsign_core::amount::format_units(half, 18).unwrap();
            d
        })
        .collect();
    let file = env.write_batch(&batch_from_drafts(54, drafts));
    assert_exit(&env.sign(&file, &[]), 5, "totals overflow 256 bits");
    let last: serde_json::Value = serde_json::from_str(lines(&env).last().unwrap()).unwrap();
    assert_eq!(last["batch_id"], 54, "{last}");
    assert_eq!(last["result"], "refused", "{last}");
    assert!(
        last["detail"].as_str().unwrap().contains("totals overflow"),
        "{last}"
    );
    assert_ok(&env.run(&["audit", "verify"]));
}
