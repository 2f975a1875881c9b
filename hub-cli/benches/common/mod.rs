//! What the hub and service benchmarks share: the test senders and
//! recipients, the real `hub-cli` binary with its node counters
//! (`HUB_RPC_STATS`), a hub and a node set up for a batch, the cold
//! signer's part and the report's number formats.
//!
//! The sender keys are keccak-derived test keys: PUBLIC and INSECURE.

mod cli;

pub(crate) use cli::{group, hex, load_note, write_fragment, Hub};

use cli::last_bytes;
use coldsign_core::{
    address_proof::{AddressProof, WalletFingerprint},
    batch::{signed_file_name_for, SignedBatch, UnsignedBatch},
    keccak256, Address, SignedTransaction,
};
use coldsign_e2e::{address_of, Anvil};
use k256::ecdsa::SigningKey;
use serde_json::{json, Value};
use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

/// The chain's max fee per gas is this share of the base fee at build time
/// (plus the tip). The batch fills about a dozen 30M-gas blocks, and each
/// full block raises the base fee by 12.5%: the hub's default of 200% would
/// price the last few blocks' transactions out (the node drops them).
const BASE_FEE_MULTIPLIER_PCT: &str = "500";
/// Token base units minted to every sender (the token has 6 decimals).
pub(crate) const MINT: u128 = 1_000_000_000_000;
/// Wei given to every sender.
const SENDER_WEI: u128 = 1_000 * 1_000_000_000_000_000_000;
/// Chunk size of the bench's own setup batches to anvil.
const SETUP_CHUNK: usize = 500;

/// The i-th sender's key: keccak256 of a fixed label and the index. PUBLIC,
/// INSECURE test keys.
pub(crate) fn sender_key(i: usize) -> SigningKey {
    let mut seed = b"coldsign hub bench sender ".to_vec();
    seed.extend_from_slice(&(i as u64).to_be_bytes());
    SigningKey::from_slice(&keccak256(&seed).0).expect("a valid scalar")
}

/// A recipient without code, distinct per `i`.
pub(crate) fn recipient(i: usize) -> Address {
    let mut a = [0u8; 20];
    a[0] = 0xbe;
    a[1] = 0x0c;
    a[12..].copy_from_slice(&(i as u64 + 1).to_be_bytes());
    Address(a)
}

/// One CLI command's measurements.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Phase {
    /// Wall time of the process, start-up included.
    pub(crate) wall: Duration,
    /// Time spent in HTTP round trips to the node (from `HUB_RPC_STATS`).
    pub(crate) wait: Duration,
    /// HTTP requests.
    #[allow(dead_code)] // the service bench reports wall time and node wait only
    pub(crate) requests: u64,
    /// JSON-RPC calls.
    #[allow(dead_code)] // the service bench reports wall time and node wait only
    pub(crate) calls: u64,
}

impl Phase {
    /// The share of the wall time spent waiting on the node (0 to 1).
    #[allow(dead_code)] // the service bench reports wall time and node wait only
    pub(crate) fn share(&self) -> f64 {
        if self.wall.is_zero() {
            0.0
        } else {
            self.wait.as_secs_f64() / self.wall.as_secs_f64()
        }
    }

    /// Wall time minus node wait.
    pub(crate) fn own(&self) -> Duration {
        self.wall.saturating_sub(self.wait)
    }
}

impl Hub {
    /// Runs `hub-cli ARGS`, requires success, returns stdout and the phase.
    pub(crate) fn run(&self, args: &[&str]) -> (String, Phase) {
        let stats = self.dir.join("rpc-stats.json");
        let _ = std::fs::remove_file(&stats);
        let start = Instant::now();
        let out = self
            .command(args)
            .env("HUB_RPC_STATS", &stats)
            .output()
            .expect("run hub-cli");
        let wall = start.elapsed();
        assert!(
            out.status.success(),
            "hub-cli {args:?} failed ({}):\n{}",
            out.status,
            tail(&String::from_utf8_lossy(&out.stderr))
        );
        let s: Value = serde_json::from_str(&std::fs::read_to_string(&stats).expect("rpc stats"))
            .expect("rpc stats JSON");
        let phase = Phase {
            wall,
            wait: Duration::from_secs_f64(s["wait_ms"].as_f64().expect("wait_ms") / 1e3),
            requests: s["requests"].as_u64().expect("requests"),
            calls: s["calls"].as_u64().expect("calls"),
        };
        (String::from_utf8_lossy(&out.stdout).into_owned(), phase)
    }

    /// Runs with `--json` and returns `data` and the phase.
    pub(crate) fn json(&self, args: &[&str]) -> (Value, Phase) {
        let mut a = args.to_vec();
        a.push("--json");
        let (out, phase) = self.run(&a);
        let v: Value = serde_json::from_str(out.lines().last().unwrap_or_default())
            .unwrap_or_else(|e| panic!("not JSON ({e}): {out}"));
        (v["data"].clone(), phase)
    }

    /// A migrated hub with chain `local` on `node`, the token and every
    /// sender registered.
    pub(crate) fn setup(&self, node: &str, token: Address, keys: &[SigningKey]) {
        self.run(&["migrate"]);
        self.run(&[
            "chain",
            "add",
            "local",
            "--chain-id",
            "31337",
            "--rpc",
            node,
            "--confirmations",
            "1",
            "--base-fee-multiplier-pct",
            BASE_FEE_MULTIPLIER_PCT,
        ]);
        self.run(&[
            "token",
            "add",
            "--chain",
            "local",
            "--symbol",
            "TUSD",
            "--contract",
            &token.to_string(),
            "--decimals",
            "6",
        ]);
        // The file `signer addresses --json` writes: each address with its
        // proof of possession (signed by the test keys, for a made-up
        // wallet fingerprint), which the hub verifies at import.
        let wallet: WalletFingerprint = "be0c4b3c".parse().unwrap();
        let entries: Vec<Value> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let path = format!("m/44'/60'/0'/0/{i}");
                let address = address_of(k);
                let proof = AddressProof::sign(k, &wallet, &path, &address).unwrap();
                json!({
                    "index": i,
                    "path": path,
                    "address": address.to_string(),
                    "public_key": hex(k.verifying_key().to_encoded_point(true).as_bytes()),
                    "proof": proof.to_hex(),
                })
            })
            .collect();
        let addresses = self.dir.join("addresses.json");
        std::fs::write(
            &addresses,
            json!({ "fingerprint": wallet, "addresses": entries }).to_string(),
        )
        .unwrap();
        self.run(&[
            "address",
            "import",
            addresses.to_str().unwrap(),
            "--chain",
            "local",
        ]);
    }
}

/// The last 2,000 characters of a command's output, for a failure message.
pub(crate) fn tail(text: &str) -> &str {
    last_bytes(text, 2_000)
}

/// JSON-RPC batch requests of the bench's own setup calls; panics on any error.
pub(crate) fn node_batch(url: &str, calls: &[(&str, Value)]) -> Vec<Value> {
    let mut out = Vec::with_capacity(calls.len());
    for chunk in calls.chunks(SETUP_CHUNK) {
        let body: Vec<Value> = chunk
            .iter()
            .enumerate()
            .map(|(i, (m, p))| json!({"jsonrpc": "2.0", "id": i, "method": m, "params": p}))
            .collect();
        let answers: Vec<Value> = ureq::post(url)
            .send_json(Value::Array(body))
            .expect("anvil batch request")
            .into_json()
            .expect("anvil batch answer");
        let mut by_id = vec![Value::Null; chunk.len()];
        for a in answers {
            assert!(a.get("error").is_none(), "anvil refused a setup call: {a}");
            let id = a["id"].as_u64().expect("id") as usize;
            by_id[id] = a["result"].clone();
        }
        out.extend(by_id);
    }
    out
}

/// Mines blocks (anvil's default 30M gas each) until the pool is empty;
/// returns how many.
pub(crate) fn mine_all(url: &str) -> u64 {
    let mut blocks = 0;
    loop {
        node_batch(url, &[("evm_mine", json!([]))]);
        blocks += 1;
        let status = node_batch(url, &[("txpool_status", json!([]))]);
        if status[0]["pending"] == "0x0" && status[0]["queued"] == "0x0" {
            return blocks;
        }
        assert!(blocks < 200, "the pool does not empty: {status:?}");
    }
}

/// `mint(to, amount)` calldata of the test token.
fn mint_call(to: Address, amount: u128) -> Vec<u8> {
    let mut data = keccak256(b"mint(address,uint256)").0[..4].to_vec();
    data.extend_from_slice(&[0u8; 12]);
    data.extend_from_slice(&to.0);
    data.extend_from_slice(&[0u8; 16]);
    data.extend_from_slice(&amount.to_be_bytes());
    data
}

/// Gives every sender [`SENDER_WEI`] and has anvil's first dev account mint
/// it [`MINT`] of `token`, in batch requests with automine off; then mines
/// until the pool is empty and turns automine back on.
pub(crate) fn fund(anvil: &Anvil, token: Address, senders: &[Address]) {
    let dev0 = coldsign_e2e::dev(0).1;
    node_batch(&anvil.url, &[("evm_setAutomine", json!([false]))]);
    // Explicit nonces: without automine anvil would give each the same one.
    let first = anvil.nonce(dev0);
    let mut setup: Vec<(&str, Value)> = Vec::new();
    for (n, s) in senders.iter().enumerate() {
        setup.push((
            "anvil_setBalance",
            json!([s.to_string(), format!("{SENDER_WEI:#x}")]),
        ));
        setup.push((
            "eth_sendTransaction",
            json!([{"from": dev0.to_string(), "to": token.to_string(), "nonce": format!("{:#x}", first + n as u64),
                "gas": "0x30000", "data": hex(&mint_call(*s, MINT))}]),
        ));
    }
    node_batch(&anvil.url, &setup);
    mine_all(&anvil.url);
    node_batch(&anvil.url, &[("evm_setAutomine", json!([true]))]);
}

/// Signs every item with its sender's key, as the cold signer would, on all
/// cores; writes the signed file next to the unsigned one.
pub(crate) fn sign_file(unsigned_path: &Path, keys: &HashMap<Address, SigningKey>) -> PathBuf {
    let text = std::fs::read_to_string(unsigned_path).expect("read unsigned");
    let unsigned = UnsignedBatch::parse(&text).expect("valid unsigned batch");
    let items = unsigned.items();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_thread = items.len().div_ceil(threads).max(1);
    let signed: Vec<SignedTransaction> = std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(per_thread)
            .map(|chunk| {
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|item| {
                            let key = keys.get(&item.from()).expect("a key for every sender");
                            item.transaction().clone().sign(key).expect("sign")
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("signing thread"))
            .collect()
    });
    let batch = SignedBatch::from_signed_transactions(&unsigned, &signed);
    let name = unsigned_path
        .file_name()
        .and_then(|n| n.to_str())
        .expect("file name");
    let path = unsigned_path.with_file_name(signed_file_name_for(name).expect("signed name"));
    std::fs::write(&path, batch.to_json()).expect("write signed");
    path
}

/// Milliseconds, rounded and with thousands separators.
pub(crate) fn ms(d: Duration) -> String {
    group(d.as_secs_f64() * 1e3)
}
