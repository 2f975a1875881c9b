//! Signing throughput: a 10,000-item batch (half native, half ERC-20, 1,000
//! distinct senders, 10 nonces each) read from a file and signed through the
//! same steps as `signer sign` (parse, checks, ledger read and checks,
//! policy, review, derivation, sender matching, parallel signing, the
//! ledger entry of every item MACed and fsynced, signed file written) minus
//! the password's Argon2id key derivation. Each run starts from a fresh
//! ledger (a new batch, not a re-sign). Two peers sign the same file in the
//! same run, deriving the same keys from the same mnemonic:
//! ethers.js v6 (`bench/sign/ethers-sign.js`) and eth-account
//! (`bench/sign/eth_account_sign.py`); every raw transaction of both is
//! compared byte for byte with ours.
//!
//! Run with `cargo bench -p coldsign-signer --bench sign`. Needs the test
//! tools (`just tools`). Writes `target/bench-report/sign.md`; figures go to
//! `docs/benchmarks.md`.
//!
//! eth-account signs with eth-keys' pure-Python backend (its default when
//! coincurve is not installed) and needs about a minute for 10,000 items, so
//! it runs once (`SIGN_BENCH_ETH_ACCOUNT_RUNS=3` for a median of 3); ethers.js
//! runs 3 times and ours 5 times, interleaved.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use coldsign_core::batch::{SignedBatch, UnsignedBatch};
use coldsign_signer::{
    app,
    audit::{AuditLog, Event, MacKey},
    fsutil::{self, Overwrite},
    ledger::{self, Ledger},
    policy::Policy,
    review::Review,
    secret::SeedMaterial,
    sign,
};
use common::{median, thousands};
use std::{path::Path, time::Instant};

const ITEMS: usize = 10_000;
const SENDERS: u32 = 1_000;
const RUNS: usize = 5;
const ETHERS_RUNS: usize = 3;

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
    // Unlocking: BIP39 seed (PBKDF2), master key and the ledger's MAC key,
    // as after decryption.
    let seed = SeedMaterial::from_phrase(common::DEV_MNEMONIC, Default::default())
        .unwrap()
        .to_seed()
        .unwrap();
    let root = coldsign_signer::hd::Root::from_seed(&seed).unwrap();
    let key = MacKey::from_seed(&seed);
    drop(seed);
    stage("seed");
    // A fresh ledger beside the output: read and verified, as at unlock.
    let log = AuditLog::beside(output);
    let _ = std::fs::remove_file(log.path());
    let (book, scan) = Ledger::load(&log, Some(&key)).unwrap();
    let checked = sign::check_batch(&batch).unwrap();
    stage("check");
    let report = book.check(&checked, &[], true);
    assert_eq!(report.new, checked.batch().items().len());
    stage("ledger");
    let policy = Policy::default();
    let evaluation = policy.evaluate(&checked);
    let review = Review::new(&checked, &policy, &evaluation, true)
        .unwrap()
        .with_ledger(report);
    std::hint::black_box(review.render());
    stage("review");
    let ring = sign::derive_and_match(&root, &checked).unwrap();
    stage("derive");
    let signed = sign::sign_all(&checked, &ring).unwrap();
    stage("sign");
    let event = Event {
        event: "sign".into(),
        batch_id: Some(batch.batch_id()),
        chain_id: Some(batch.chain_id()),
        unsigned_digest: Some(batch.digest()),
        items: Some(batch.items().len()),
        result: "signed".into(),
        ledger: Some(ledger::items_of(&checked, &signed).unwrap()),
        ..Event::default()
    };
    let after = log.append(&scan, event, Some(&key)).unwrap();
    let signed = signed.with_ledger_head(after.ledger_head.unwrap());
    stage("record");
    // Streamed to the file, as `signer sign` writes it.
    fsutil::write_atomic_with(output, 0o644, Overwrite::Replace, "", |w| {
        app::write_signed(w, &signed)
    })
    .unwrap();
    stage("write");
    signed.items.len()
}

/// One peer's runs: its own timings (start-up excluded), its last output and
/// its last report.
struct Peer {
    secs: Vec<f64>,
    raw: Vec<String>,
    report: serde_json::Value,
}

impl Peer {
    fn new() -> Self {
        Self {
            secs: Vec::new(),
            raw: Vec::new(),
            report: serde_json::Value::Null,
        }
    }

    fn run(&mut self, cmd: &mut std::process::Command, what: &str) {
        let out = common::run_ok(cmd, what);
        self.report = common::peer_report(&out);
        self.secs
            .push(self.report["total_ms"].as_f64().unwrap() / 1000.0);
        self.raw = serde_json::from_slice(&out.stdout).unwrap();
    }

    fn median(&self) -> f64 {
        median(self.secs.clone())
    }

    fn runs_text(&self) -> String {
        match self.secs.len() {
            1 => "1 run".into(),
            n => format!("median of {n}"),
        }
    }
}

fn main() {
    let full = common::full_run();
    let tools = common::tools_dir();
    let python = common::venv_python(&tools);
    let dir = tempfile::tempdir().unwrap();
    let batch = common::build_batch(ITEMS, SENDERS);
    let input = dir.path().join(batch.file_name());
    std::fs::write(&input, batch.to_json()).unwrap();
    let file_mb = std::fs::metadata(&input).unwrap().len() as f64 / 1e6;
    if let Some(keep) = std::env::var_os("SIGN_BENCH_KEEP_INPUT") {
        std::fs::copy(&input, keep).unwrap();
    }
    let mnemonic = dir.path().join("mnemonic.txt");
    std::fs::write(&mnemonic, common::DEV_MNEMONIC).unwrap();
    let output = dir.path().join("signed.json");
    let threads = rayon::current_num_threads();
    let machine = common::machine_line();

    let runs = if full { RUNS } else { 1 };
    let ethers_runs = if full { ETHERS_RUNS } else { 1 };
    let eth_account_runs = std::env::var("SIGN_BENCH_ETH_ACCOUNT_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1usize)
        .clamp(1, runs);
    sign_file(&input, &output); // warm-up
    let mut secs = Vec::new();
    let mut ethers = Peer::new();
    let mut eth_account = Peer::new();
    // Interleaved, so every side sees the same machine load.
    for round in 0..runs {
        let t = Instant::now();
        let n = sign_file(&input, &output);
        secs.push(t.elapsed().as_secs_f64());
        assert_eq!(n, ITEMS);
        if round < ethers_runs {
            ethers.run(
                common::node(&tools, "sign/ethers-sign.js")
                    .arg(&input)
                    .arg(&mnemonic),
                "the ethers.js peer",
            );
        }
        if round < eth_account_runs {
            eth_account.run(
                std::process::Command::new(&python)
                    .arg(common::peer_script("sign/eth_account_sign.py"))
                    .arg(&input)
                    .arg(&mnemonic),
                "the eth-account peer",
            );
        }
    }
    let ours_best = secs.iter().copied().fold(f64::INFINITY, f64::min);
    let ours = median(secs);

    // Same transactions, byte for byte.
    let signed = SignedBatch::parse(&std::fs::read_to_string(&output).unwrap()).unwrap();
    let ours_hex: Vec<String> = signed
        .items
        .iter()
        .map(|i| format!("0x{}", hex::encode(&i.raw_transaction)))
        .collect();
    assert_eq!(ours_hex, ethers.raw, "coldsign and ethers.js disagree");
    assert_eq!(
        ours_hex, eth_account.raw,
        "coldsign and eth-account disagree"
    );

    let rate = |s: f64| ITEMS as f64 / s;
    let ours_rate = rate(ours);
    let ethers_rate = rate(ethers.median());
    let ea_rate = rate(eth_account.median());
    let ethers_name = format!(
        "ethers.js {} (node {})",
        ethers.report["version"].as_str().unwrap_or("?"),
        ethers.report["node"].as_str().unwrap_or("?")
    );
    let ea_name = format!(
        "eth-account {} (Python {}, eth-keys {})",
        eth_account.report["version"].as_str().unwrap_or("?"),
        eth_account.report["python"].as_str().unwrap_or("?"),
        eth_account.report["eth_keys_backend"]
            .as_str()
            .unwrap_or("?")
    );

    println!(
        "signing benchmark: {ITEMS} items (50% native, 50% ERC-20), {SENDERS} senders, {file_mb:.1} MB file; {machine}; {threads} rayon threads"
    );
    println!(
        "  coldsign signer : {:>9.1} ms {:>9.0} tx/s  (median of {runs}; parse, checks, ledger, review, derivation, signing, ledger entry, write; no Argon2id)",
        ours * 1e3,
        ours_rate
    );
    println!(
        "  coldsign best   : {:>9.1} ms {:>9.0} tx/s",
        ours_best * 1e3,
        rate(ours_best)
    );
    println!(
        "  ethers.js       : {:>9.1} ms {:>9.0} tx/s  ({}; {ethers_name}; parse, derivation, signing)",
        ethers.median() * 1e3,
        ethers_rate,
        ethers.runs_text()
    );
    println!(
        "  eth-account     : {:>9.1} ms {:>9.0} tx/s  ({}; {ea_name}; parse, derivation, signing)",
        eth_account.median() * 1e3,
        ea_rate,
        eth_account.runs_text()
    );
    println!(
        "  ratios          : {:.1}x ethers.js, {:.0}x eth-account",
        ours_rate / ethers_rate,
        ours_rate / ea_rate
    );
    println!("  ethers.js       : {}", ethers.report);
    println!("  eth-account     : {}", eth_account.report);
    println!(
        "  outputs identical: {} raw transactions, with both peers",
        ours_hex.len()
    );

    let md = format!(
        "## Signing: {items} transactions\n\n\
         {items} EIP-1559 items (half ETH, half ERC-20 `transfer`), {senders} senders \
         (`m/44'/60'/0'/0/0..{last}` of the public development mnemonic), one {file_mb:.1} MB \
         file; derivation included on every side. coldsign: the steps of `signer sign` (ledger checks and entry included) without \
         the prompts and Argon2id, {threads} threads, median of {runs} (best {best:.0} ms). \
         Peers: their own timers, start-up excluded, single-threaded; eth-account signs with \
         {ea_backend} and runs {ea_runs_lc}. All {n} raw transactions of both peers are identical to ours, byte \
         for byte.\n\n\
         | | time | rate | runs |\n\
         |---|---:|---:|---|\n\
         | coldsign signer | {ours_ms} ms | **{ours_r} tx/s** | median of {runs} |\n\
         | {ethers_name} | {ethers_ms} ms | {ethers_r} tx/s | {ethers_runs_t} |\n\
         | {ea_name} | {ea_ms} ms | {ea_r} tx/s | {ea_runs_t} |\n\
         | ratio vs ethers.js | | **{r1:.1}x** | |\n\
         | ratio vs eth-account | | **{r2:.0}x** | |\n",
        items = thousands(ITEMS as f64),
        senders = thousands(f64::from(SENDERS)),
        last = SENDERS - 1,
        ea_backend = match eth_account.report["eth_keys_backend"].as_str() {
            Some("NativeECCBackend") => {
                "eth-keys' pure-Python backend (its default: coincurve is not installed)".to_owned()
            }
            other => format!("eth-keys' {}", other.unwrap_or("?")),
        },
        ea_runs_lc = match eth_account.secs.len() {
            1 => "once".to_owned(),
            n => format!("{n} times (median)"),
        },
        best = ours_best * 1e3,
        n = thousands(ours_hex.len() as f64),
        ours_ms = thousands(ours * 1e3),
        ours_r = thousands(ours_rate),
        ethers_ms = thousands(ethers.median() * 1e3),
        ethers_r = thousands(ethers_rate),
        ethers_runs_t = ethers.runs_text(),
        ea_ms = thousands(eth_account.median() * 1e3),
        ea_r = thousands(ea_rate),
        ea_runs_t = eth_account.runs_text(),
        r1 = ours_rate / ethers_rate,
        r2 = ours_rate / ea_rate,
    );
    common::write_fragment("sign", &md);
}
