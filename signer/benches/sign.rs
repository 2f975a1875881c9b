//! Signing throughput: a 10,000-item batch (half native, half ERC-20, 1,000
//! distinct senders, 10 nonces each) read from a file and signed through the
//! same steps as `signer sign` (parse, checks, ledger read and checks,
//! policy, review, derivation, sender matching, parallel signing, the
//! ledger entry of every item MACed and fsynced, signed file written) minus
//! the password's Argon2id key derivation. Each run starts from a fresh
//! ledger (a new batch, not a re-sign).
//!
//! Peers sign the same file in the same run, deriving the same keys from
//! the same mnemonic, and every raw transaction of each is compared byte for
//! byte with ours (RFC 6979 nonces make them identical):
//! - alloy (`bench/alloy-peer`, its own crate outside the workspace, built
//!   by `just bench`): alloy-signer-local's `MnemonicBuilder` and
//!   `PrivateKeySigner` (k256, alloy's default) with alloy-consensus'
//!   transaction types, on the same number of threads as ours; and the same
//!   program with alloy's optional libsecp256k1 `Secp256k1Signer`;
//! - ethers.js v6 (`bench/sign/ethers-sign.js`);
//! - eth-account (`bench/sign/eth_account_sign.py`) twice: with eth-keys'
//!   pure-Python backend (`.tools/venv`) and with coincurve installed
//!   (`.tools/venv-coincurve`, the same pinned eth-account).
//!
//! The floor is measured in the same run: per item one RLP encoding (the
//! unsigned payload), one Keccak-256 and one libsecp256k1 signature, on the
//! same rayon pool as ours, from keys and transactions already in memory.
//!
//! Run with `cargo bench -p coldsign-signer --bench sign`. Needs the test
//! tools (`just tools`) and the alloy peer's binary (`just bench` builds it;
//! see `ALLOY_PEER_BUILD` below). Writes `target/bench-report/sign.md`;
//! figures go to `docs/benchmarks.md`.
//!
//! eth-account without coincurve needs about a minute for 10,000 items, so
//! it runs once (`SIGN_BENCH_ETH_ACCOUNT_RUNS=3` for a median of 3);
//! ethers.js and eth-account with coincurve run 3 times; ours, the floor and
//! both alloy rows 5 times, interleaved.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use coldsign_core::{
    batch::{SignedBatch, UnsignedBatch},
    keccak256,
};
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
use rayon::prelude::*;
use std::{path::Path, time::Instant};

const ITEMS: usize = 10_000;
const SENDERS: u32 = 1_000;
const RUNS: usize = 5;
const ETHERS_RUNS: usize = 3;
const COINCURVE_RUNS: usize = 3;
/// The goals of the issue: at least this many times alloy's rate, and at
/// most this many times the floor's time.
const GOAL_VS_ALLOY: f64 = 1.5;
const GOAL_VS_FLOOR: f64 = 1.3;
/// How `just bench` builds the alloy peer (outside the workspace).
const ALLOY_PEER_BUILD: &str = "cargo build --locked --release --manifest-path bench/alloy-peer/Cargo.toml --target-dir target/alloy-peer";

/// `signer sign` minus the prompts and the Argon2id step.
/// Returns the number of items signed and the time of each stage (seconds).
fn sign_file(input: &Path, output: &Path) -> (usize, Vec<(&'static str, f64)>) {
    let verbose = std::env::var_os("SIGN_BENCH_STAGES").is_some();
    let mut stages = Vec::new();
    let mut t = Instant::now();
    let mut stage = |name: &'static str| {
        let secs = t.elapsed().as_secs_f64();
        if verbose {
            eprintln!("  {name:<10} {:>7.1} ms", secs * 1e3);
        }
        stages.push((name, secs));
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
    (signed.items.len(), stages)
}

/// One peer's runs: its own timings (start-up excluded), its last output and
/// its last report.
struct Peer {
    secs: Vec<f64>,
    raw: Vec<String>,
    report: serde_json::Value,
    reports: Vec<serde_json::Value>,
}

impl Peer {
    fn new() -> Self {
        Self {
            secs: Vec::new(),
            raw: Vec::new(),
            report: serde_json::Value::Null,
            reports: Vec::new(),
        }
    }

    fn run(&mut self, cmd: &mut std::process::Command, what: &str) {
        let out = common::run_ok(cmd, what);
        self.report = common::peer_report(&out);
        self.secs
            .push(self.report["total_ms"].as_f64().unwrap() / 1000.0);
        self.raw = serde_json::from_slice(&out.stdout).unwrap();
        self.reports.push(self.report.clone());
    }

    /// The median of one numeric field of its reports (e.g. `sign_ms`).
    fn field_median(&self, key: &str) -> f64 {
        let v: Vec<f64> = self
            .reports
            .iter()
            .filter_map(|r| r[key].as_f64())
            .collect();
        if v.is_empty() {
            f64::NAN
        } else {
            median(v)
        }
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

/// The floor's input: each item's transaction and its sender's key, in
/// memory (derived by coldsign, outside the timing).
struct FloorInput {
    items: Vec<(coldsign_core::Transaction, secp256k1::SecretKey)>,
    ctx: secp256k1::Secp256k1<secp256k1::SignOnly>,
}

impl FloorInput {
    fn new(input: &Path) -> Self {
        let batch = UnsignedBatch::parse(&std::fs::read_to_string(input).unwrap()).unwrap();
        let checked = sign::check_batch(&batch).unwrap();
        let ring = sign::derive_and_match(&common::dev_root(), &checked).unwrap();
        let items = batch
            .items()
            .iter()
            .zip(checked.paths())
            .map(|(item, path)| {
                let key = *ring.get(path).unwrap().expose_secp256k1_key();
                (item.transaction().clone(), key)
            })
            .collect();
        // The same kind of context as the signer's: signing only, randomised.
        let mut ctx = secp256k1::Secp256k1::signing_only();
        let mut seed = [0u8; 32];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut seed);
        ctx.seeded_randomize(&seed);
        Self { items, ctx }
    }

    /// One pass over every item on the rayon pool: its unsigned payload
    /// RLP-encoded, Keccak-256 of it, one libsecp256k1 recoverable
    /// signature. Returns the time and the signatures (`r || s || v`).
    fn run(&self) -> (f64, Vec<[u8; 65]>) {
        let t = Instant::now();
        let sigs: Vec<[u8; 65]> = self
            .items
            .par_iter()
            .map(|(tx, key)| {
                let hash = keccak256(tx.signing_payload());
                let msg = secp256k1::Message::from_slice(&hash.0).unwrap();
                let (recid, rs) = self
                    .ctx
                    .sign_ecdsa_recoverable(&msg, key)
                    .serialize_compact();
                let mut out = [0u8; 65];
                out[..64].copy_from_slice(&rs);
                out[64] = recid.to_i32() as u8;
                out
            })
            .collect();
        (t.elapsed().as_secs_f64(), sigs)
    }
}

/// The work a signer with coldsign's file formats and ledger must do
/// besides the floor, each part measured alone with no check at all: read
/// the file (serde_json into untyped values), the batch digest's Keccak
/// over its compact JSON, the keys' derivation (with the sender match), the
/// ledger entry's HMAC and Keccak over its text, the signed file's text,
/// and the two fsyncs. Its sum, with every CPU part divided over the cores
/// as if it were perfectly parallel (the single sponges cannot be), is a
/// lower bound of coldsign's time.
struct Bound {
    text: String,
    compact: Vec<u8>,
    scratch: std::path::PathBuf,
}

/// One measurement of [`Bound`]'s parts (seconds).
#[derive(Clone, Copy, Default)]
struct BoundRun {
    /// Parse, digest, ledger hashing and the signed file's text: CPU
    /// work, one thread each.
    cpu: f64,
    /// The derivation stage, on the rayon pool.
    derive: f64,
    /// The ledger entry's and the signed file's fsyncs.
    sync: f64,
}

impl Bound {
    fn new(input: &Path, scratch: &Path) -> Self {
        let text = std::fs::read_to_string(input).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let compact = serde_json::to_vec(&value).unwrap();
        Self {
            text,
            compact,
            scratch: scratch.to_owned(),
        }
    }

    /// Measures each part once, after `sign_file` wrote `output` and its
    /// ledger entry.
    fn run(&self, output: &Path) -> BoundRun {
        use hmac::Mac;
        use std::io::Write;
        let entry = std::fs::read(AuditLog::beside(output).path()).unwrap();
        let signed = SignedBatch::parse(&std::fs::read_to_string(output).unwrap()).unwrap();
        let checked_batch = UnsignedBatch::parse(&self.text).unwrap();
        let checked = sign::check_batch(&checked_batch).unwrap();
        let t = Instant::now();
        std::hint::black_box(serde_json::from_str::<serde_json::Value>(&self.text).unwrap());
        std::hint::black_box(keccak256(&self.compact));
        let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(&[7; 32]).unwrap();
        mac.update(&entry);
        std::hint::black_box(mac.finalize());
        std::hint::black_box(keccak256(&entry));
        let mut file_text = Vec::with_capacity(self.text.len() * 2);
        app::write_signed(&mut file_text, &signed).unwrap();
        let cpu = t.elapsed().as_secs_f64();
        let root = common::dev_root();
        let t = Instant::now();
        std::hint::black_box(sign::derive_and_match(&root, &checked).unwrap());
        let derive = t.elapsed().as_secs_f64();
        let t = Instant::now();
        for bytes in [&entry, &file_text] {
            let mut f = std::fs::File::create(&self.scratch).unwrap();
            f.write_all(bytes).unwrap();
            f.sync_all().unwrap();
        }
        let sync = t.elapsed().as_secs_f64();
        if std::env::var_os("SIGN_BENCH_STAGES").is_some() {
            eprintln!(
                "  bound: cpu {:.1} ms (one thread), derive {:.1} ms, fsyncs {:.1} ms; ledger entry {:.1} MB",
                cpu * 1e3,
                derive * 1e3,
                sync * 1e3,
                entry.len() as f64 / 1e6
            );
        }
        BoundRun { cpu, derive, sync }
    }
}

impl BoundRun {
    /// The bound: the floor, plus the CPU parts over `threads` cores, plus
    /// the derivation and the fsyncs.
    fn total(&self, floor: f64, threads: usize) -> f64 {
        floor + self.cpu / threads as f64 + self.derive + self.sync
    }
}

fn main() {
    let full = common::full_run();
    let tools = common::tools_dir();
    let python = common::venv_python(&tools);
    let coincurve_python = common::venv_coincurve_python(&tools);
    let alloy_bin = common::alloy_peer_bin();
    let ours_only = std::env::var_os("SIGN_BENCH_OURS_ONLY").is_some_and(|v| v == "1");
    if alloy_bin.is_none() && !ours_only {
        assert!(
            !full,
            "the alloy peer is not built: run `just bench`, or `{ALLOY_PEER_BUILD}` from the workspace root"
        );
        eprintln!("alloy peer not built ({ALLOY_PEER_BUILD}): skipped in this quick pass");
    }
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
    let load_start = common::load_average();

    let runs = if full { RUNS } else { 1 };
    let ethers_runs = if full { ETHERS_RUNS } else { 1 };
    let coincurve_runs = if full { COINCURVE_RUNS } else { 1 };
    let eth_account_runs = std::env::var("SIGN_BENCH_ETH_ACCOUNT_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1usize)
        .clamp(1, runs);
    let floor = FloorInput::new(&input);
    let bound = Bound::new(&input, &dir.path().join("bound-scratch"));
    sign_file(&input, &output); // warm-up
    floor.run();
    let mut bound_runs = Vec::new();
    let mut secs = Vec::new();
    let mut stage_runs: Vec<Vec<(&str, f64)>> = Vec::new();
    let mut floor_secs = Vec::new();
    let mut floor_sigs = Vec::new();
    let mut alloy = Peer::new();
    let mut alloy_secp = Peer::new();
    let mut ethers = Peer::new();
    let mut eth_account = Peer::new();
    let mut coincurve = Peer::new();
    let alloy_cmd = |backend: &str| {
        let mut c = std::process::Command::new(alloy_bin.as_ref().unwrap());
        c.arg(&input).arg(&mnemonic).args([
            "--threads",
            &threads.to_string(),
            "--backend",
            backend,
        ]);
        c
    };
    // Interleaved, so every side sees the same machine load.
    for round in 0..runs {
        let t = Instant::now();
        let (n, stages) = sign_file(&input, &output);
        secs.push(t.elapsed().as_secs_f64());
        assert_eq!(n, ITEMS);
        stage_runs.push(stages);
        let (s, sigs) = floor.run();
        floor_secs.push(s);
        floor_sigs = sigs;
        bound_runs.push(bound.run(&output).total(s, threads));
        if ours_only {
            continue;
        }
        if alloy_bin.is_some() {
            alloy.run(&mut alloy_cmd("k256"), "the alloy peer (k256)");
            alloy_secp.run(&mut alloy_cmd("secp256k1"), "the alloy peer (secp256k1)");
        }
        if round < ethers_runs {
            ethers.run(
                common::node(&tools, "sign/ethers-sign.js")
                    .arg(&input)
                    .arg(&mnemonic),
                "the ethers.js peer",
            );
        }
        if round < coincurve_runs {
            coincurve.run(
                std::process::Command::new(&coincurve_python)
                    .arg(common::peer_script("sign/eth_account_sign.py"))
                    .arg(&input)
                    .arg(&mnemonic),
                "the eth-account peer with coincurve",
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
    let load_end = common::load_average();
    if ours_only {
        // A quick look while working on the signer: no peers, no fragment.
        let stage = |i: usize| median(stage_runs.iter().map(|r| r[i].1).collect()) * 1e3;
        let stages: Vec<String> = (0..stage_runs[0].len())
            .map(|i| format!("{} {:.0}", stage_runs[0][i].0, stage(i)))
            .collect();
        let (ours, floor) = (median(secs), median(floor_secs));
        let lower = median(bound_runs);
        eprintln!(
            "coldsign {:.0} ms, floor {:.0} ms ({:.2}x the floor's time), lower bound {:.0} ms ({:.2}x the floor's); stages (ms): {}",
            ours * 1e3,
            floor * 1e3,
            ours / floor,
            lower * 1e3,
            lower / floor,
            stages.join(", ")
        );
        return;
    }
    let ours_best = secs.iter().copied().fold(f64::INFINITY, f64::min);
    let ours = median(secs);
    let floor_s = median(floor_secs.clone());
    let floor_best = floor_secs.iter().copied().fold(f64::INFINITY, f64::min);
    let lower = median(bound_runs);

    // Each row is what it claims: eth-keys' backend in each venv.
    assert_eq!(
        eth_account.report["eth_keys_backend"], "NativeECCBackend",
        "the plain eth-account venv must stay pure Python (coincurve found in .tools/venv)"
    );
    assert_eq!(
        coincurve.report["eth_keys_backend"], "CoinCurveECCBackend",
        "eth-account in .tools/venv-coincurve does not use coincurve"
    );

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
    assert_eq!(
        ours_hex, coincurve.raw,
        "coldsign and eth-account with coincurve disagree"
    );
    if alloy_bin.is_some() {
        assert_eq!(ours_hex, alloy.raw, "coldsign and alloy (k256) disagree");
        assert_eq!(
            ours_hex, alloy_secp.raw,
            "coldsign and alloy (secp256k1) disagree"
        );
    }
    // The floor did the same signing work: its signatures are ours.
    for (index, (item, sig)) in signed.items.iter().zip(&floor_sigs).enumerate() {
        let s = coldsign_core::SignedTransaction::decode(&item.raw_transaction).unwrap();
        let s = s.signature();
        let mut ours_sig = [0u8; 65];
        ours_sig[..32].copy_from_slice(&s.r().to_big_endian());
        ours_sig[32..64].copy_from_slice(&s.s().to_big_endian());
        ours_sig[64] = u8::from(s.y_parity());
        assert_eq!(
            &ours_sig, sig,
            "the floor's signature of item {index} differs"
        );
    }

    // The median of each of coldsign's stages over the timed runs (ms).
    let stage_ms: Vec<(&str, f64)> = stage_runs[0]
        .iter()
        .enumerate()
        .map(|(i, (name, _))| {
            (
                *name,
                median(stage_runs.iter().map(|r| r[i].1).collect()) * 1e3,
            )
        })
        .collect();
    let stage_of = |name: &str| {
        stage_ms
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(f64::NAN, |(_, ms)| *ms)
    };
    let stages_text = stage_ms
        .iter()
        .map(|(n, ms)| format!("{n} {ms:.0}"))
        .collect::<Vec<_>>()
        .join(", ");
    let alloy_stages = |p: &Peer| {
        format!(
            "parse {:.0}, derive {:.0}, sign {:.0}",
            p.field_median("parse_ms"),
            p.field_median("derive_ms"),
            p.field_median("sign_ms")
        )
    };

    let rate = |s: f64| ITEMS as f64 / s;
    let ours_rate = rate(ours);
    let row = |p: &Peer| {
        if p.secs.is_empty() {
            (f64::NAN, f64::NAN)
        } else {
            (p.median(), rate(p.median()))
        }
    };
    let (alloy_s, alloy_rate) = row(&alloy);
    let (alloy_secp_s, alloy_secp_rate) = row(&alloy_secp);
    let (ethers_s, ethers_rate) = row(&ethers);
    let (ea_s, ea_rate) = row(&eth_account);
    let (cc_s, cc_rate) = row(&coincurve);
    let vs_alloy = ours_rate / alloy_rate;
    let vs_alloy_secp = ours_rate / alloy_secp_rate;
    let over_floor = ours / floor_s;
    let sign_over_floor = stage_of("sign") / (floor_s * 1e3);
    let met = |ok: bool| if ok { "met" } else { "**not met**" };
    let alloy_name = format!(
        "alloy-signer-local {} + alloy-consensus {}",
        alloy.report["version"].as_str().unwrap_or("?"),
        alloy.report["alloy_consensus"].as_str().unwrap_or("?"),
    );
    let ethers_name = format!(
        "ethers.js {} (node {})",
        ethers.report["version"].as_str().unwrap_or("?"),
        ethers.report["node"].as_str().unwrap_or("?")
    );
    let ea_name = |p: &Peer| {
        format!(
            "eth-account {} (Python {})",
            p.report["version"].as_str().unwrap_or("?"),
            p.report["python"].as_str().unwrap_or("?"),
        )
    };
    let coincurve_version = coincurve.report["coincurve"].as_str().unwrap_or("?");

    println!(
        "signing benchmark: {ITEMS} items (50% native, 50% ERC-20), {SENDERS} senders, {file_mb:.1} MB file; {machine}; {threads} rayon threads"
    );
    let line = |name: &str, s: f64, what: String| {
        println!(
            "  {name:<24}: {:>9.1} ms {:>9.0} tx/s  ({what})",
            s * 1e3,
            rate(s)
        );
    };
    line(
        "coldsign signer",
        ours,
        format!("median of {runs}, best {:.1} ms; parse, checks, ledger, review, derivation, signing, ledger entry, write; no Argon2id", ours_best * 1e3),
    );
    line(
        "floor",
        floor_s,
        format!("median of {runs}, best {:.1} ms; RLP + Keccak + libsecp256k1 per item, {threads} threads", floor_best * 1e3),
    );
    if alloy_bin.is_some() {
        line(
            "alloy (k256)",
            alloy_s,
            format!("{}; {alloy_name}; {threads} threads", alloy.runs_text()),
        );
        line(
            "alloy (libsecp256k1)",
            alloy_secp_s,
            format!("{}; {threads} threads", alloy_secp.runs_text()),
        );
    }
    line(
        "ethers.js",
        ethers_s,
        format!("{}; {ethers_name}", ethers.runs_text()),
    );
    line(
        "eth-account + coincurve",
        cc_s,
        format!(
            "{}; {}, coincurve {coincurve_version}",
            coincurve.runs_text(),
            ea_name(&coincurve)
        ),
    );
    line(
        "eth-account",
        ea_s,
        format!(
            "{}; {}, pure Python",
            eth_account.runs_text(),
            ea_name(&eth_account)
        ),
    );
    println!(
        "  ratios                  : {vs_alloy:.2}x alloy (goal {GOAL_VS_ALLOY}x: {}), {vs_alloy_secp:.2}x alloy libsecp256k1, {over_floor:.2}x the floor's time (goal <= {GOAL_VS_FLOOR}x: {}), {:.1}x ethers.js, {:.0}x eth-account + coincurve, {:.0}x eth-account",
        met(vs_alloy >= GOAL_VS_ALLOY),
        met(over_floor <= GOAL_VS_FLOOR),
        ours_rate / ethers_rate,
        ours_rate / cc_rate,
        ours_rate / ea_rate
    );
    println!(
        "  lower bound             : {:.1} ms, {:.2}x the floor's time (floor + parse, digest, ledger MAC and hash, signed text over {threads} cores + derivation + fsyncs); the goals need <= {:.1} ms (floor) and <= {:.1} ms (alloy)",
        lower * 1e3,
        lower / floor_s,
        floor_s * GOAL_VS_FLOOR * 1e3,
        alloy_s / GOAL_VS_ALLOY * 1e3
    );
    println!("  coldsign stages, ms     : {stages_text} (medians; the sign stage is {sign_over_floor:.2}x the floor)");
    if alloy_bin.is_some() {
        println!("  alloy (k256) stages, ms : {}", alloy_stages(&alloy));
        println!("  alloy (libsecp256k1), ms: {}", alloy_stages(&alloy_secp));
    }
    for (name, p) in [
        ("alloy (k256)", &alloy),
        ("alloy (libsecp256k1)", &alloy_secp),
        ("ethers.js", &ethers),
        ("eth-account + coincurve", &coincurve),
        ("eth-account", &eth_account),
    ] {
        if !p.reports.is_empty() {
            println!("  {name:<24}: {}", p.report);
        }
    }
    println!(
        "  outputs identical: {} raw transactions, with every peer that ran; the floor's signatures are ours",
        ours_hex.len()
    );

    let ms = |s: f64| thousands(s * 1e3);
    let md = format!(
        "## Signing: {items} transactions\n\n\
         {items} EIP-1559 items (half ETH, half ERC-20 `transfer`), {senders} senders \
         (`m/44'/60'/0'/0/0..{last}` of the public development mnemonic), one {file_mb:.1} MB \
         file; derivation included on every side. coldsign: the steps of `signer sign` (ledger checks and entry included) without \
         the prompts and Argon2id, {threads} threads, median of {runs} (best {best:.0} ms). \
         Floor: per item one RLP encoding, one Keccak-256 and one libsecp256k1 signature, \
         {threads} threads, keys and transactions already in memory, median of {runs} (best {floor_best_ms:.0} ms). \
         alloy: its own process, {threads} threads, its own timer (start-up excluded). \
         The other peers: their own timers, start-up excluded, single-threaded. \
         All {n} raw transactions of every peer are identical to ours, byte \
         for byte, and so are the floor's signatures. Load average {load_start} at the start, {load_end} at the end.\n\n\
         | | time | rate | runs |\n\
         |---|---:|---:|---|\n\
         | coldsign signer ({threads} threads) | {ours_ms} ms | **{ours_r} tx/s** | median of {runs} |\n\
         | floor: libsecp256k1 + RLP + Keccak per item ({threads} threads) | {floor_ms} ms | {floor_r} tx/s | median of {runs} |\n\
         | {alloy_name}, `PrivateKeySigner` (k256, the default; {threads} threads) | {alloy_ms} ms | {alloy_r} tx/s | {alloy_runs} |\n\
         | the same, `Secp256k1Signer` (libsecp256k1, `secp256k1` feature; {threads} threads) | {alloy_secp_ms} ms | {alloy_secp_r} tx/s | {alloy_secp_runs} |\n\
         | {ethers_name} (1 thread) | {ethers_ms} ms | {ethers_r} tx/s | {ethers_runs_t} |\n\
         | {cc_name} with coincurve {coincurve_version} (1 thread) | {cc_ms} ms | {cc_r} tx/s | {cc_runs_t} |\n\
         | {ea_name}, pure-Python eth-keys (1 thread) | {ea_ms} ms | {ea_r} tx/s | {ea_runs_t} |\n\
         | coldsign vs alloy (k256) | | **{vs_alloy:.2}x** | goal >= {GOAL_VS_ALLOY}x: {met_alloy} |\n\
         | coldsign vs alloy (libsecp256k1) | | {vs_alloy_secp:.2}x | |\n\
         | coldsign's time over the floor's | | **{over_floor:.2}x** | goal <= {GOAL_VS_FLOOR}x: {met_floor} |\n\
         | lower bound: the floor + the work the issue requires besides it, with no check (see below) | {lower_ms} ms | | {lower_x:.2}x the floor's time |\n\
         | coldsign vs ethers.js | | **{r_ethers:.1}x** | |\n\
         | coldsign vs eth-account + coincurve | | **{r_cc:.0}x** | |\n\
         | coldsign vs eth-account | | **{r_ea:.0}x** | |\n\n\
         Where the time went (medians of the timed runs, ms). coldsign: {stages_text}; \
         its sign stage alone is {sign_over_floor:.2}x the floor. \
         alloy (k256): {alloy_k256_stages}. alloy (libsecp256k1): {alloy_secp_stages}.\n\n\
         The lower bound, measured in the same rounds: the floor, plus reading the file (serde_json into \
         untyped values), the digest's Keccak over the compact JSON, an HMAC-SHA256 and a Keccak over the \
         ledger entry and the signed file's text, each on one thread and divided by {threads} as if \
         perfectly parallel, plus the derivation of the keys and the two fsyncs: a lower bound for a signer \
         with coldsign's file formats and ledger, whatever checks it skips; the goals need at most {goal_floor_ms} ms (1.3x the floor) and {goal_alloy_ms} ms (alloy / 1.5).\n",
        items = thousands(ITEMS as f64),
        senders = thousands(f64::from(SENDERS)),
        last = SENDERS - 1,
        best = ours_best * 1e3,
        floor_best_ms = floor_best * 1e3,
        n = thousands(ours_hex.len() as f64),
        ours_ms = ms(ours),
        ours_r = thousands(ours_rate),
        floor_ms = ms(floor_s),
        floor_r = thousands(rate(floor_s)),
        alloy_ms = ms(alloy_s),
        alloy_r = thousands(alloy_rate),
        alloy_runs = alloy.runs_text(),
        alloy_secp_ms = ms(alloy_secp_s),
        alloy_secp_r = thousands(alloy_secp_rate),
        alloy_secp_runs = alloy_secp.runs_text(),
        ethers_ms = ms(ethers_s),
        ethers_r = thousands(ethers_rate),
        ethers_runs_t = ethers.runs_text(),
        cc_name = ea_name(&coincurve),
        cc_ms = ms(cc_s),
        cc_r = thousands(cc_rate),
        cc_runs_t = coincurve.runs_text(),
        ea_name = ea_name(&eth_account),
        ea_ms = ms(ea_s),
        ea_r = thousands(ea_rate),
        ea_runs_t = eth_account.runs_text(),
        met_alloy = met(vs_alloy >= GOAL_VS_ALLOY),
        met_floor = met(over_floor <= GOAL_VS_FLOOR),
        r_ethers = ours_rate / ethers_rate,
        r_cc = ours_rate / cc_rate,
        r_ea = ours_rate / ea_rate,
        alloy_k256_stages = alloy_stages(&alloy),
        alloy_secp_stages = alloy_stages(&alloy_secp),
        lower_ms = ms(lower),
        lower_x = lower / floor_s,
        goal_floor_ms = ms(floor_s * GOAL_VS_FLOOR),
        goal_alloy_ms = ms(alloy_s / GOAL_VS_ALLOY),
    );
    common::write_fragment("sign", &md);
}
