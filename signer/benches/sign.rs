//! Signing throughput: a 10,000-item batch (half native, half ERC-20, 1,000
//! distinct senders, 10 nonces each) read from a file and signed through the
//! same steps as `signer sign` (parse, checks, policy, review, derivation,
//! sender matching, parallel signing, signed file written) minus the
//! password's Argon2id key derivation. The ethers.js v6 peer
//! (`bench/sign/ethers-sign.js`, derivation included) signs the same file in
//! the same run; both outputs are compared byte for byte.
//!
//! Run with `cargo bench -p coldsign-signer`. Needs the test tools
//! (`just tools`). Figures go to `docs/benchmarks.md`.
#![allow(clippy::unwrap_used, missing_docs)]

use coldsign_core::{
    batch::{Summary, UnsignedBatch, UnsignedItemDraft},
    erc20::Transfer,
    Address, Transaction, TxEip1559, U256,
};
use coldsign_signer::{
    fsutil::{self, Overwrite},
    hd::Root,
    policy::Policy,
    review::Review,
    secret::SeedMaterial,
    sign,
};
use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

/// PUBLIC, INSECURE development mnemonic (Hardhat / anvil): never fund it.
const DEV_MNEMONIC: &str = "test test test test test test test test test test test junk";
const ITEMS: usize = 10_000;
const SENDERS: u32 = 1_000;
const RUNS: usize = 5;
const PEER_RUNS: usize = 3;

fn dev_root() -> Root {
    let s = SeedMaterial::from_phrase(DEV_MNEMONIC, Default::default()).unwrap();
    Root::from_seed(&s.to_seed().unwrap()).unwrap()
}

fn build_batch() -> UnsignedBatch {
    let xpub = dev_root().account_xpub(0).unwrap();
    let senders = xpub.addresses(0, 0, SENDERS).unwrap();
    let usdt: Address = "0xdAC17F958D2ee523a2206206994597C13D831ec7"
        .parse()
        .unwrap();
    let per_sender = ITEMS / SENDERS as usize;
    let mut drafts = Vec::with_capacity(ITEMS);
    for i in 0..ITEMS {
        let sender = &senders[i % SENDERS as usize];
        let nonce = (i / SENDERS as usize) as u64;
        debug_assert!(nonce < per_sender as u64);
        let mut r = [0u8; 20];
        r[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
        r[19] = 0x42;
        let recipient = Address(r);
        let (to, value, input, summary) = if i % 2 == 0 {
            let wei = U256::from(1_000_000_000u64) * U256::from(i as u64 + 1);
            (
                recipient,
                wei,
                Vec::new(),
                Summary {
                    asset: "ETH".into(),
                    decimals: 18,
                    token: None,
                    recipient,
                    amount: coldsign_core::amount::format_units(wei, 18).unwrap(),
                },
            )
        } else {
            let units = U256::from(1_000_000u64) * U256::from(i as u64 + 1);
            (
                usdt,
                U256::zero(),
                Transfer {
                    to: recipient,
                    amount: units,
                }
                .encode(),
                Summary {
                    asset: "USDT".into(),
                    decimals: 6,
                    token: Some(usdt),
                    recipient,
                    amount: coldsign_core::amount::format_units(units, 6).unwrap(),
                },
            )
        };
        drafts.push(UnsignedItemDraft {
            order_id: format!("bench-{i}"),
            from: sender.address,
            derivation_path: sender.path.clone(),
            tx: Transaction::Eip1559(TxEip1559 {
                chain_id: 1,
                nonce,
                max_priority_fee_per_gas: U256::from(1_000_000_000u64),
                max_fee_per_gas: U256::from(40_000_000_000u64),
                gas_limit: if i % 2 == 0 { 21_000 } else { 65_000 },
                to: Some(to),
                value,
                input,
                access_list: Vec::new(),
            }),
            summary,
        });
    }
    UnsignedBatch::new(1, 1, "2026-11-21T06:00:00Z", drafts).unwrap()
}

/// `signer sign` minus the prompts and the Argon2id step.
fn sign_file(input: &Path, output: &Path) -> usize {
    let verbose = std::env::var_os("SIGN_BENCH_STAGES").is_some();
    let mut t = Instant::now();
    let mut stage = |name: &str| {
        if verbose {
            eprintln!("  {name:<10} {:>7.1} ms", t.elapsed().as_secs_f64() * 1e3);
        }
        t = Instant::now();
    };
    let text = std::fs::read_to_string(input).unwrap();
    let batch = UnsignedBatch::parse(&text).unwrap();
    stage("parse");
    let checked = sign::check_batch(&batch).unwrap();
    stage("check");
    let policy = Policy::default();
    let evaluation = policy.evaluate(&checked);
    let review = Review::new(&checked, &policy, &evaluation).unwrap();
    std::hint::black_box(review.render());
    stage("review");
    // Unlocking: BIP39 seed (PBKDF2) and master key, as after decryption.
    let root = dev_root();
    stage("seed");
    let ring = sign::derive_and_match(&root, &checked).unwrap();
    stage("derive");
    let signed = sign::sign_all(&checked, &ring).unwrap();
    stage("sign");
    let json = signed.to_json();
    stage("to_json");
    fsutil::write_atomic(output, json.as_bytes(), 0o644, Overwrite::Replace, "").unwrap();
    stage("write");
    signed.items.len()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn tools_dir() -> PathBuf {
    let dir = std::env::var_os("COLDSIGN_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools"));
    assert!(
        dir.join("node_modules/ethers").is_dir(),
        "ethers.js missing at {}: run `just tools`",
        dir.display()
    );
    dir
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not run us
    // with it, and then one quick pass is enough.
    let full = std::env::args().any(|a| a == "--bench");
    let tools = tools_dir();
    let dir = tempfile::tempdir().unwrap();
    let batch = build_batch();
    let input = dir.path().join(batch.file_name());
    std::fs::write(&input, batch.to_json()).unwrap();
    if let Some(keep) = std::env::var_os("SIGN_BENCH_KEEP_INPUT") {
        std::fs::copy(&input, keep).unwrap();
    }
    let mnemonic = dir.path().join("mnemonic.txt");
    std::fs::write(&mnemonic, DEV_MNEMONIC).unwrap();
    let output = dir.path().join("signed.json");
    let threads = rayon::current_num_threads();

    let runs = if full { RUNS } else { 1 };
    let peer_runs = if full { PEER_RUNS } else { 1 };
    sign_file(&input, &output); // warm-up
                                // Interleaved, so both sides see the same machine load.
    let mut secs = Vec::new();
    let mut peer = Vec::new();
    let mut peer_info = String::new();
    let mut peer_raw = Vec::new();
    for round in 0..runs {
        let t = Instant::now();
        let n = sign_file(&input, &output);
        secs.push(t.elapsed().as_secs_f64());
        assert_eq!(n, ITEMS);
        if round >= peer_runs {
            continue;
        }
        let out = Command::new("node")
            .env("NODE_PATH", tools.join("node_modules"))
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/sign/ethers-sign.js"))
            .arg(&input)
            .arg(&mnemonic)
            .output()
            .expect("node is needed for the ethers.js peer");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        peer_info = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        let info: serde_json::Value = serde_json::from_str(&peer_info).unwrap();
        // The peer's own timing: parse, derivation and signing, without
        // node's start-up.
        peer.push(info["total_ms"].as_f64().unwrap() / 1000.0);
        peer_raw = out.stdout;
    }
    let ours_best = secs.iter().copied().fold(f64::INFINITY, f64::min);
    let ours = median(secs);
    let theirs = median(peer);

    // Same transactions, byte for byte.
    let signed =
        coldsign_core::batch::SignedBatch::parse(&std::fs::read_to_string(&output).unwrap())
            .unwrap();
    let ours_hex: Vec<String> = signed
        .items
        .iter()
        .map(|i| format!("0x{}", hex::encode(&i.raw_transaction)))
        .collect();
    let theirs_hex: Vec<String> = serde_json::from_slice(&peer_raw).unwrap();
    assert_eq!(ours_hex, theirs_hex, "coldsign and ethers.js disagree");

    let ours_rate = ITEMS as f64 / ours;
    let theirs_rate = ITEMS as f64 / theirs;
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    println!(
        "signing benchmark: {ITEMS} items (50% native, 50% ERC-20), {SENDERS} senders; {} CPU(s), {cpu}; {threads} rayon threads",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "  coldsign signer : {:>8.1} ms  {:>9.0} tx/s  (median of {runs}; parse, checks, review, derivation, signing, write; no Argon2id)",
        ours * 1e3,
        ours_rate
    );
    println!(
        "  ethers.js v6    : {:>8.1} ms  {:>9.0} tx/s  (median of {peer_runs}; parse, derivation, signing)",
        theirs * 1e3,
        theirs_rate
    );
    println!(
        "  coldsign best   : {:>8.1} ms  {:>9.0} tx/s",
        ours_best * 1e3,
        ITEMS as f64 / ours_best
    );
    println!("  ratio (medians) : {:.1}x", ours_rate / theirs_rate);
    println!("  peer            : {peer_info}");
    println!("  outputs identical: {} raw transactions", ours_hex.len());
}
