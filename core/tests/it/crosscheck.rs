//! Byte-for-byte agreement with independent implementations: randomized
//! transactions of both types, with and without calldata and access lists,
//! signed with known keys here and by ethers.js v6 and eth-account.

use crate::support::{tool, workspace};
use coldsign_core::{
    amount::U256,
    erc20::Transfer,
    hex_data::encode,
    transaction::{AccessListItem, SignedTransaction},
    Address, Transaction, TxEip1559, TxLegacy, B256,
};
use k256::ecdsa::SigningKey;
use serde_json::{json, Value};
use std::process::Command;

const CASES: usize = 256;

/// splitmix64: a fixed-seed generator, so a failure reproduces exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        for b in &mut out {
            *b = self.next() as u8;
        }
        out
    }
    /// A U256 of a random bit length, so small, zero and huge values all occur.
    fn u256(&mut self) -> U256 {
        let bits = self.below(257) as usize;
        let full = U256::from_big_endian(&self.bytes::<32>());
        if bits == 0 {
            U256::zero()
        } else {
            full >> (256 - bits)
        }
    }
    fn u64_bits(&mut self, max_bits: u32) -> u64 {
        let bits = self.below(u64::from(max_bits) + 1) as u32;
        if bits == 0 {
            0
        } else {
            self.next() >> (64 - bits)
        }
    }
}

fn random_case(rng: &mut Rng) -> (SigningKey, Transaction) {
    let key = loop {
        if let Ok(k) = SigningKey::from_slice(&rng.bytes::<32>()) {
            break k;
        }
    };
    let to = if rng.below(10) == 0 {
        None
    } else {
        Some(Address(rng.bytes()))
    };
    let input = match rng.below(3) {
        0 => Vec::new(),
        1 => Transfer {
            to: Address(rng.bytes()),
            amount: rng.u256(),
        }
        .encode(),
        _ => (0..rng.below(120)).map(|_| rng.next() as u8).collect(),
    };
    // ethers takes the nonce as a JS number: keep it below 2^53.
    let nonce = rng.u64_bits(53);
    let chain_id = 1 + rng.u64_bits(40);
    let gas_limit = rng.u64_bits(64);
    let tx = if rng.below(2) == 0 {
        Transaction::Legacy(TxLegacy {
            chain_id,
            nonce,
            gas_price: rng.u256(),
            gas_limit,
            to,
            value: rng.u256(),
            input,
        })
    } else {
        let access_list = (0..rng.below(4))
            .map(|_| AccessListItem {
                address: Address(rng.bytes()),
                storage_keys: (0..rng.below(4)).map(|_| B256(rng.bytes())).collect(),
            })
            .collect();
        // ethers refuses a tip above the fee cap (so does check_validity).
        let (a, b) = (rng.u256(), rng.u256());
        Transaction::Eip1559(TxEip1559 {
            chain_id,
            nonce,
            max_priority_fee_per_gas: a.min(b),
            max_fee_per_gas: a.max(b),
            gas_limit,
            to,
            value: rng.u256(),
            input,
            access_list,
        })
    };
    (key, tx)
}

fn job(key: &SigningKey, tx: &Transaction) -> Value {
    let mut t = json!({
        "type": tx.tx_type(),
        "chainId": tx.chain_id().to_string(),
        "nonce": tx.nonce().to_string(),
        "gas": tx.gas_limit().to_string(),
        "to": tx.to().map(|a| a.to_checksum()),
        "value": tx.value().to_string(),
        "input": encode(tx.input()),
    });
    match tx {
        Transaction::Legacy(l) => t["gasPrice"] = json!(l.gas_price.to_string()),
        Transaction::Eip1559(e) => {
            t["maxPriorityFeePerGas"] = json!(e.max_priority_fee_per_gas.to_string());
            t["maxFeePerGas"] = json!(e.max_fee_per_gas.to_string());
            t["accessList"] = serde_json::to_value(&e.access_list).unwrap();
        }
    }
    json!({ "key": encode(key.to_bytes()), "tx": t })
}

struct Cases {
    ours: Vec<SignedTransaction>,
    input: tempfile_path::Path,
}

mod tempfile_path {
    /// A file removed on drop.
    pub struct Path(pub std::path::PathBuf);
    impl Drop for Path {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

fn cases(seed: u64, tag: &str) -> Cases {
    let mut rng = Rng(seed);
    let mut jobs = Vec::with_capacity(CASES);
    let mut ours = Vec::with_capacity(CASES);
    for _ in 0..CASES {
        let (key, tx) = random_case(&mut rng);
        jobs.push(job(&key, &tx));
        let signed = tx.sign(&key).unwrap();
        // Our own decoder must accept what we produce and give it back.
        assert_eq!(
            SignedTransaction::decode(signed.raw()).as_ref(),
            Ok(&signed)
        );
        ours.push(signed);
    }
    let types = ours
        .iter()
        .map(|s| s.transaction().tx_type())
        .collect::<std::collections::HashSet<_>>();
    assert_eq!(types.len(), 2, "both transaction types must be covered");
    let path = std::env::temp_dir().join(format!(
        "coldsign-crosscheck-{tag}-{}.json",
        std::process::id()
    ));
    std::fs::write(&path, serde_json::to_vec(&jobs).unwrap()).unwrap();
    Cases {
        ours,
        input: tempfile_path::Path(path),
    }
}

fn compare(peer: &str, output: std::process::Output, ours: &[SignedTransaction]) {
    assert!(
        output.status.success(),
        "{peer} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let theirs: Vec<String> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(theirs.len(), ours.len());
    for (i, (t, o)) in theirs.iter().zip(ours).enumerate() {
        assert_eq!(
            t,
            &encode(o.raw()),
            "case {i}: {peer} disagrees on {:?}",
            o.transaction()
        );
    }
}

#[test]
fn randomized_transactions_match_ethers_js_byte_for_byte() {
    let node_modules = tool("node_modules/ethers").parent().unwrap().to_path_buf();
    let c = cases(0xC01D_5167, "ethers");
    let output = Command::new("node")
        .arg(workspace().join("core/tests/peers/ethers-sign.js"))
        .arg(&c.input.0)
        .env("NODE_PATH", node_modules)
        .output()
        .expect("node must be installed");
    compare("ethers.js", output, &c.ours);
}

#[test]
fn randomized_transactions_match_eth_account_byte_for_byte() {
    let python = tool("venv/bin/python");
    let c = cases(0x5EED_0002, "eth-account");
    let output = Command::new(python)
        .arg(workspace().join("core/tests/peers/eth_account_sign.py"))
        .arg(&c.input.0)
        .output()
        .unwrap();
    compare("eth-account", output, &c.ours);
}
