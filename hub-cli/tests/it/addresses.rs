//! Addresses the hub can trust: `address import` verifies every proof of
//! possession and refuses the whole file when one fails, records each
//! address's wallet, and `batch create` never mixes two wallets. The files
//! are made here, with real proofs signed by the keys (core's message
//! construction, as the signer signs), then made hostile. Each scenario runs
//! once per backend.

use crate::harness::{dev, key, recipient, Backend, World, DEV_FINGERPRINT, UNFUNDED_KEY};
use serde_json::Value;

/// Exit codes (docs/hub.md).
const INPUT: i32 = 3;
const CONFLICT: i32 = 5;

/// Another wallet's fingerprint.
const OTHER_WALLET: &str = "0badf00d";

fn import(w: &World, path: &std::path::Path) -> crate::harness::Run {
    w.run(&[
        "address",
        "import",
        path.to_str().expect("path"),
        "--chain",
        "local",
    ])
}

fn registered(w: &World) -> Vec<Value> {
    w.json(&["address", "list"])
        .as_array()
        .expect("list")
        .clone()
}

/// Reads, edits and rewrites the address file.
fn edit(path: &std::path::Path, f: impl FnOnce(&mut Value)) {
    let mut v: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("json");
    f(&mut v);
    std::fs::write(path, v.to_string()).expect("write");
}

pub fn a_proof_that_does_not_verify_refuses_the_whole_import(backend: Backend) {
    let w = World::new(backend, 1);
    let keys: Vec<_> = (1..=4).map(|i| dev(i).0).collect();
    let refs: Vec<_> = keys.iter().collect();
    let attacker = key(UNFUNDED_KEY);
    type Edit = Box<dyn Fn(&mut Value)>;
    let attacker_entry = {
        // The attacker's own address with its own valid proof, but for
        // their wallet: copied into this wallet's file.
        let p = w.write_address_file(OTHER_WALLET, &[&attacker]);
        let v: Value =
            serde_json::from_str(&std::fs::read_to_string(p).expect("read")).expect("json");
        v["data"]["addresses"][0].clone()
    };
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "another path",
            Box::new(|v| v["data"]["addresses"][2]["path"] = "m/44'/60'/0'/0/77".into()),
            "entry 2 (index 3",
        ),
        (
            "another wallet's fingerprint",
            Box::new(|v| v["data"]["fingerprint"] = OTHER_WALLET.into()),
            "entry 0 (index 1",
        ),
        (
            "a swapped address and key, the proof kept",
            Box::new({
                let a = attacker_entry.clone();
                move |v| {
                    let e = &mut v["data"]["addresses"][1];
                    e["address"] = a["address"].clone();
                    e["public_key"] = a["public_key"].clone();
                }
            }),
            "entry 1 (index 2",
        ),
        (
            "another wallet's address with its own proof",
            Box::new({
                let a = attacker_entry.clone();
                move |v| {
                    let path = v["data"]["addresses"][3]["path"].clone();
                    let mut e = a.clone();
                    e["path"] = path;
                    v["data"]["addresses"][3] = e;
                }
            }),
            "entry 3 (index 100",
        ),
        (
            "a proof with a high s",
            Box::new(|v| {
                // n - s with the other parity: the same signature, malleated.
                let e = &mut v["data"]["addresses"][0];
                let p = hex::decode(&e["proof"].as_str().expect("proof")[2..]).expect("hex");
                let n = coldsign_core::U256::from_str_radix(
                    "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
                    16,
                )
                .expect("n");
                let s = coldsign_core::U256::from_big_endian(&p[32..64]);
                let mut q = p.clone();
                q[32..64].copy_from_slice(&(n - s).to_big_endian());
                q[64] = if p[64] == 27 { 28 } else { 27 };
                e["proof"] = format!("0x{}", hex::encode(q)).into();
            }),
            "entry 0 (index 1",
        ),
        (
            "no proof",
            Box::new(|v| {
                v["data"]["addresses"][3]
                    .as_object_mut()
                    .expect("entry")
                    .remove("proof");
            }),
            "has no proof of possession",
        ),
    ];
    for (what, f, named) in cases {
        let path = w.write_address_file(DEV_FINGERPRINT, &refs);
        edit(&path, f);
        let r = import(&w, &path);
        assert_eq!(r.code, INPUT, "{what}: {}{}", r.stdout, r.stderr);
        assert!(r.stderr.contains(named), "{what}: {}", r.stderr);
        assert!(
            r.stderr.contains("nothing was imported"),
            "{what}: {}",
            r.stderr
        );
        assert!(registered(&w).is_empty(), "{what}: something was imported");
    }
    // A file from a signer without proofs: refused as a whole.
    let path = w.write_address_file(DEV_FINGERPRINT, &refs);
    edit(&path, |v| {
        v["data"]
            .as_object_mut()
            .expect("data")
            .remove("fingerprint");
    });
    let r = w.fails(
        &[
            "address",
            "import",
            path.to_str().expect("path"),
            "--chain",
            "local",
        ],
        INPUT,
    );
    assert!(r.stderr.contains("no wallet fingerprint"), "{}", r.stderr);
    // The untouched file: every address, with its wallet.
    w.import_keys(&refs);
    let list = registered(&w);
    assert_eq!(list.len(), 4);
    assert!(list
        .iter()
        .all(|a| a["wallet_fingerprint"] == DEV_FINGERPRINT));
}

pub fn an_address_keeps_its_wallet(backend: Backend) {
    let w = World::new(backend, 1);
    let (k1, a1) = dev(1);
    w.import_keys(&[&k1]);
    // Importing it again is harmless; proving it for another wallet is not.
    w.import_keys(&[&k1]);
    let path = w.write_address_file(OTHER_WALLET, &[&k1]);
    let r = w.fails(
        &[
            "address",
            "import",
            path.to_str().expect("path"),
            "--chain",
            "local",
        ],
        CONFLICT,
    );
    assert!(
        r.stderr.contains(&format!(
            "{a1} is registered as an address of wallet {DEV_FINGERPRINT}"
        )),
        "{}",
        r.stderr
    );
}

pub fn a_batch_never_mixes_two_wallets(backend: Backend) {
    let w = World::new(backend, 1);
    let (k1, a1) = dev(1);
    let (k2, a2) = dev(2);
    w.import_keys_of(DEV_FINGERPRINT, &[&k1]);
    w.import_keys_of(OTHER_WALLET, &[&k2]);
    w.import_orders(&[
        ("m-1", "ETH", a1, recipient(1), "1"),
        ("m-2", "ETH", a2, recipient(2), "1"),
        ("m-3", "ETH", a1, recipient(3), "1"),
    ]);
    let all = ["batch", "create", "--chain", "local", "--all-pending"];
    let r = w.fails(&all, INPUT);
    assert!(r.stderr.contains("come from 2 wallets"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains(&format!("wallet {DEV_FINGERPRINT}: 2 order(s)"))
            && r.stderr
                .contains(&format!("wallet {OTHER_WALLET}: 1 order(s)")),
        "{}",
        r.stderr
    );
    let r = w.fails(
        &["batch", "create", "--chain", "local", "--orders", "m-1,m-2"],
        INPUT,
    );
    assert!(r.stderr.contains("never mixes"), "{}", r.stderr);
    assert!(w
        .json(&["batch", "list"])
        .as_array()
        .expect("list")
        .is_empty());
    // One wallet at a time is fine.
    let id = w
        .ok(&["batch", "create", "--chain", "local", "--orders", "m-1,m-3"])
        .trim()
        .to_owned();
    assert_eq!(
        w.json(&["batch", "show", &id])["items"]
            .as_array()
            .expect("items")
            .len(),
        2
    );
}
