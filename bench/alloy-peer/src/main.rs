//! Independent peer for the coldsign signer: signs every transaction of an
//! unsigned batch file with alloy, deriving each key from the mnemonic with
//! alloy-signer-local's `MnemonicBuilder`, and prints the raw signed
//! transactions as a JSON array of hex strings on stdout (the same output as
//! `bench/sign/ethers-sign.js` and `bench/sign/eth_account_sign.py`).
//!
//! Used by `cargo bench -p coldsign-signer --bench sign`
//! (signer/benches/sign.rs) as a peer measured in the same run, on the same
//! file, with the same mnemonic and the same number of threads as coldsign.
//! The timing (derivation included, process start-up excluded) is printed
//! on stderr as one JSON line.
//!
//! Usage: alloy-peer BATCH_FILE MNEMONIC_FILE --threads N [--backend k256|secp256k1]
//!
//! What it does, as a Rust developer using alloy would:
//! - the batch file read and parsed with serde_json, each item's `tx` into
//!   alloy-consensus' own `TxEip1559` / `TxLegacy` (their serde forms are the
//!   JSON-RPC field names the file uses);
//! - for each account node `m/44'/60'/A'/0`, `MnemonicBuilder::build_parent_key`
//!   once (the BIP39 seed, the master key and the four upper levels), then
//!   `MnemonicKey::child(i).signer()` once per distinct sender, in parallel;
//! - every item signed in parallel on a rayon pool of N threads:
//!   `TxSignerSync::sign_transaction_sync`, `into_signed`, `TxEnvelope`,
//!   `encoded_2718`, hex.
//!
//! Backends: `k256` is alloy's default `PrivateKeySigner` (RustCrypto k256);
//! `secp256k1` is alloy's optional `Secp256k1Signer` (libsecp256k1, the
//! `secp256k1` feature), converted from the same derived key. No key is
//! ever printed.

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope, TxLegacy};
use alloy_eips::eip2718::Encodable2718;
use alloy_network::TxSignerSync;
use alloy_primitives::{hex, Signature};
use alloy_signer_local::{MnemonicBuilder, MnemonicKey, PrivateKeySigner, Secp256k1Signer};
use rayon::prelude::*;
use serde::Deserialize;
use std::{collections::HashMap, process::ExitCode, time::Instant};

/// The part of a coldsign unsigned batch file this peer needs (the other
/// fields are skipped by serde).
#[derive(Deserialize)]
struct BatchFile {
    items: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    derivation_path: String,
    tx: Tx,
}

/// A batch file's `tx`, tagged by its `type`, into alloy's consensus types.
#[derive(Deserialize, Clone)]
#[serde(tag = "type")]
enum Tx {
    #[serde(rename = "0x0")]
    Legacy(TxLegacy),
    #[serde(rename = "0x2")]
    Eip1559(TxEip1559),
}

#[derive(Clone, Copy, PartialEq)]
enum Backend {
    K256,
    Secp256k1,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::K256 => "k256",
            Backend::Secp256k1 => "secp256k1",
        }
    }
}

/// One derived key, as the chosen backend's signer.
enum Key {
    K256(PrivateKeySigner),
    Secp256k1(Secp256k1Signer),
}

impl Key {
    fn sign(&self, tx: &mut dyn SignableTransaction<Signature>) -> alloy_signer::Result<Signature> {
        match self {
            Key::K256(s) => s.sign_transaction_sync(tx),
            Key::Secp256k1(s) => s.sign_transaction_sync(tx),
        }
    }
}

struct Args {
    batch: String,
    mnemonic: String,
    threads: usize,
    backend: Backend,
}

fn parse_args() -> Result<Args, String> {
    let usage = "usage: alloy-peer BATCH_FILE MNEMONIC_FILE --threads N [--backend k256|secp256k1]";
    let mut positional = Vec::new();
    let mut threads = None;
    let mut backend = Backend::K256;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--threads" => {
                let v = args.next().ok_or(usage)?;
                threads = Some(
                    v.parse::<usize>()
                        .map_err(|e| format!("--threads {v}: {e}"))?,
                );
            }
            "--backend" => {
                backend = match args.next().as_deref() {
                    Some("k256") => Backend::K256,
                    Some("secp256k1") => Backend::Secp256k1,
                    _ => return Err(usage.into()),
                }
            }
            _ if a.starts_with("--") => return Err(usage.into()),
            _ => positional.push(a),
        }
    }
    let [batch, mnemonic]: [String; 2] = positional.try_into().map_err(|_| usage)?;
    let threads = threads.ok_or(usage)?;
    if threads == 0 {
        return Err("--threads must be at least 1".into());
    }
    Ok(Args {
        batch,
        mnemonic,
        threads,
        backend,
    })
}

/// `m/44'/60'/0'/0/7` -> (`m/44'/60'/0'/0`, 7): the last step must be a
/// non-hardened index, as every path of a coldsign batch is.
fn split_path(path: &str) -> Result<(&str, u32), String> {
    let (parent, last) = path
        .rsplit_once('/')
        .ok_or_else(|| format!("bad derivation path {path:?}"))?;
    let index = last
        .parse::<u32>()
        .map_err(|_| format!("derivation path {path:?}: last step is not a plain index"))?;
    Ok((parent, index))
}

/// The version of `name` in this crate's committed Cargo.lock.
fn locked_version(name: &str) -> &'static str {
    const LOCK: &str = include_str!("../Cargo.lock");
    let needle = format!("name = \"{name}\"\nversion = \"");
    LOCK.find(&needle)
        .map(|at| {
            let rest = &LOCK[at + needle.len()..];
            &rest[..rest.find('"').unwrap_or(0)]
        })
        .unwrap_or("?")
}

fn run(args: &Args) -> Result<(), String> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads)
        .build_global()
        .map_err(|e| e.to_string())?;

    let t0 = Instant::now();
    let bytes = std::fs::read(&args.batch).map_err(|e| format!("{}: {e}", args.batch))?;
    let batch: BatchFile =
        serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", args.batch))?;
    drop(bytes);
    let phrase = std::fs::read_to_string(&args.mnemonic)
        .map_err(|e| format!("{}: {e}", args.mnemonic))?
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let t_parsed = Instant::now();

    // Each account node once (seed, master key, upper levels), then each
    // distinct sender's key once, in parallel.
    let mut parents: HashMap<&str, MnemonicKey> = HashMap::new();
    let mut paths: Vec<&str> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for item in &batch.items {
        let path = item.derivation_path.as_str();
        if !seen.insert(path) {
            continue;
        }
        paths.push(path);
        let (parent, _) = split_path(path)?;
        if !parents.contains_key(parent) {
            let key = MnemonicBuilder::from_phrase(phrase.as_str())
                .derivation_path(path)
                .and_then(|b| b.build_parent_key())
                .map_err(|e| format!("{path}: {e}"))?;
            parents.insert(parent, key);
        }
    }
    let backend = args.backend;
    let derived: Vec<(&str, Key)> = paths
        .par_iter()
        .map(|&path| {
            let (parent, index) = split_path(path)?;
            let signer = parents[parent]
                .child(index)
                .map_err(|e| format!("{path}: {e}"))?
                .signer();
            let key = match backend {
                Backend::K256 => Key::K256(signer),
                Backend::Secp256k1 => Key::Secp256k1(signer.into_secp256k1()),
            };
            Ok((path, key))
        })
        .collect::<Result<_, String>>()?;
    let keys: HashMap<&str, Key> = derived.into_iter().collect();
    let t_derived = Instant::now();

    let raws: Vec<String> = batch
        .items
        .par_iter()
        .enumerate()
        .map(|(index, item)| {
            let key = &keys[item.derivation_path.as_str()];
            let fail = |e: alloy_signer::Error| format!("item {index}: {e}");
            let envelope: TxEnvelope = match item.tx.clone() {
                Tx::Legacy(mut tx) => {
                    let sig = key.sign(&mut tx).map_err(fail)?;
                    tx.into_signed(sig).into()
                }
                Tx::Eip1559(mut tx) => {
                    let sig = key.sign(&mut tx).map_err(fail)?;
                    tx.into_signed(sig).into()
                }
            };
            Ok(hex::encode_prefixed(envelope.encoded_2718()))
        })
        .collect::<Result<_, String>>()?;
    let t_done = Instant::now();

    let out = serde_json::to_string(&raws).map_err(|e| e.to_string())?;
    println!("{out}");
    let ms = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1e3;
    let report = serde_json::json!({
        "peer": "alloy",
        "version": locked_version("alloy-signer-local"),
        "alloy_consensus": locked_version("alloy-consensus"),
        "backend": backend.name(),
        "k256": locked_version("k256"),
        "secp256k1": locked_version("secp256k1"),
        "threads": args.threads,
        "items": raws.len(),
        "distinct_keys": keys.len(),
        "parse_ms": ms(t0, t_parsed),
        "derive_ms": ms(t_parsed, t_derived),
        "sign_ms": ms(t_derived, t_done),
        "total_ms": ms(t0, t_done),
    });
    eprintln!("{report}");
    Ok(())
}

fn main() -> ExitCode {
    match parse_args().and_then(|a| run(&a)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("alloy-peer: {e}");
            ExitCode::FAILURE
        }
    }
}
