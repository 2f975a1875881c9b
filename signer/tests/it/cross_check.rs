//! Every raw transaction the signer writes equals the one ethers.js v6 signs
//! independently (its own BIP39/BIP32 derivation from the mnemonic, its own
//! RLP and ECDSA), and eth-account recovers the stated sender from each.

use crate::util::*;
use coldsign_core::batch::SignedBatch;
use std::process::Command;

fn node(tools: &std::path::Path) -> Command {
    let mut c = Command::new("node");
    c.env("NODE_PATH", tools.join("node_modules"));
    c
}

#[test]
fn raw_transactions_match_ethers_js() {
    let tools = tools_dir();
    let env = Env::new();
    env.init_dev();
    let batch = mixed_batch(61);
    let file = env.write_batch(&batch);
    assert_ok(&env.sign(&file, &[]));
    let signed = SignedBatch::parse(
        &std::fs::read_to_string(env.path("batch_61_20261121_signed.json")).unwrap(),
    )
    .unwrap();
    let ours: Vec<String> = signed
        .items
        .iter()
        .map(|i| format!("0x{}", hex::encode(&i.raw_transaction)))
        .collect();

    let script = workspace_dir().join("bench/sign/ethers-sign.js");
    let out = node(&tools)
        .arg(&script)
        .arg(&file)
        .arg(env.path("mnemonic.txt"))
        .output()
        .expect("node is needed for the ethers.js cross-check: run `just tools`");
    assert!(
        out.status.success(),
        "ethers-sign.js failed: {}",
        stderr(&out)
    );
    let theirs: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(ours.len(), 6);
    assert_eq!(ours, theirs);
}

#[test]
fn account_xpub_matches_ethers_js() {
    let tools = tools_dir();
    let env = Env::new();
    env.init_dev();
    let out = env.run_pw(&["xpub"]);
    assert_ok(&out);
    let ours = stdout(&out).trim().to_owned();
    let js = format!(
        "const {{ HDNodeWallet }} = require('ethers');\
         console.log(HDNodeWallet.fromPhrase({DEV_MNEMONIC:?}, undefined, \"m/44'/60'/0'\").neuter().extendedKey);"
    );
    let out = node(&tools).arg("-e").arg(js).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(ours, stdout(&out).trim());
}

/// The address proofs, checked by ethers.js from the bytes documented in
/// docs/signer.md: its own message construction and keccak, its own
/// recovery, and its own key derivation and signature (RFC 6979, so the
/// same bytes).
#[test]
fn address_proofs_verify_in_ethers_js_from_the_documented_bytes() {
    let tools = tools_dir();
    let env = Env::new();
    env.init_dev();
    let out = env.run_pw(&["addresses", "--start", "5", "--count", "20", "--json"]);
    assert_ok(&out);
    let file = env.write("addresses.json", &stdout(&out));
    let js = format!(
        r#"
const fs = require('fs');
const {{ HDNodeWallet, concat, toUtf8Bytes, getBytes, keccak256, recoverAddress }} = require('ethers');
const doc = JSON.parse(fs.readFileSync(process.argv[1], 'utf8')).data;
const master = HDNodeWallet.fromPhrase({DEV_MNEMONIC:?}, '', 'm');
if (master.fingerprint.slice(2) !== doc.fingerprint) throw new Error('fingerprint ' + master.fingerprint);
let n = 0;
for (const e of doc.addresses) {{
  const path = toUtf8Bytes(e.path);
  const message = concat([toUtf8Bytes('coldsign/address-proof/v1'), getBytes('0x' + doc.fingerprint),
                          new Uint8Array([path.length]), path, getBytes(e.address)]);
  const digest = keccak256(message);
  if (recoverAddress(digest, e.proof) !== e.address) throw new Error('recovery failed for ' + e.path);
  const own = HDNodeWallet.fromPhrase({DEV_MNEMONIC:?}, '', e.path).signingKey.sign(digest).serialized;
  if (own !== e.proof) throw new Error('ethers signs ' + own + ', the signer wrote ' + e.proof);
  n++;
}}
console.log(n);
"#
    );
    let out = node(&tools).arg("-e").arg(js).arg(&file).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "20");
}

#[test]
fn eth_account_recovers_every_sender() {
    let tools = tools_dir();
    let python = tools.join("venv/bin/python");
    assert!(
        python.exists(),
        "eth-account venv missing: run `just tools`"
    );
    let env = Env::new();
    env.init_dev();
    let batch = mixed_batch(62);
    assert_ok(&env.sign(&env.write_batch(&batch), &[]));
    let signed_path = env.path("batch_62_20261121_signed.json");
    let script = r#"
import json, sys
from eth_account import Account
signed = json.load(open(sys.argv[1]))
print(json.dumps([Account.recover_transaction(i["raw_transaction"]) for i in signed["items"]]))
"#;
    let out = Command::new(&python)
        .arg("-c")
        .arg(script)
        .arg(&signed_path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let senders: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
    let expected: Vec<String> = batch
        .items()
        .iter()
        .map(|i| i.from().to_checksum())
        .collect();
    assert_eq!(senders, expected);
}
