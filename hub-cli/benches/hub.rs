//! Hub throughput against a local anvil: `batch build`, `batch upload
//! --no-send` (the verification of the signed file) and `batch send` of one
//! 10,000-order batch (half native ETH, half ERC-20, 1,000 senders, 10 nonces
//! each), each run as the real `hub-cli` binary on a fresh SQLite hub, with
//! the share of each command's wall time spent waiting on the node.
//!
//! The node share comes from the hub itself: `HUB_RPC_STATS=FILE` makes
//! `hub-cli` write its HTTP requests, JSON-RPC calls and the wall time spent
//! in round trips when it exits. There is no peer tool for the hub; the
//! reference is the node's own time inside each command.
//!
//! Also measured, in-process: coldsign-core's `SignedBatch::parse` plus
//! `verify_against_parallel` on the same signed file, as `batch upload` runs
//! it (the verification alone, without the hub's database writes), and
//! `verify_against` on one thread. After sending, the transactions are mined
//! and `batch sync` is timed too; the bench checks that the batch is CLOSED.
//!
//! Run with `cargo bench -p coldsign-hub --bench hub` (builds `hub-cli`
//! too). Needs anvil (`just tools`). Prints a summary and writes the
//! markdown fragment `target/bench-report/hub.md`; figures go to
//! `docs/benchmarks.md`.
//!
//! anvil's automine is off while sending: the node checks and pools each
//! transaction, as a real node does, and `evm_mine` takes them afterwards
//! (with automine on, anvil mines a block per transaction inside the send
//! and drops a few of 10,000 transactions sent 100 per request).
//!
//! `HUB_BENCH_RUNS=N` sets the number of full runs (default 3),
//! `HUB_BENCH_POSTGRES=1` runs the hub on a fresh PostgreSQL database (the
//! tests' server, `COLDSIGN_TEST_POSTGRES`) instead of SQLite; the fragment
//! is then `hub-postgres.md`.
//!
//! The sender keys are keccak-derived test keys: PUBLIC and INSECURE.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use coldsign_core::{
    amount::format_units,
    batch::{SignedBatch, UnsignedBatch},
    Address, U256,
};
use coldsign_e2e::{address_of, cpu_model, load_average, Anvil, Backend, TestDb};
use common::{
    fund, group, load_note, mine_all, ms, node_batch, recipient, sender_key, sign_file,
    write_fragment, Hub, Phase, MINT,
};
use k256::ecdsa::SigningKey;
use serde_json::json;
use std::{
    collections::HashMap,
    fmt::Write as _,
    path::PathBuf,
    time::{Duration, Instant},
};

/// Orders in the batch.
const ITEMS: usize = 10_000;
/// Distinct senders (10 orders and nonces each).
const SENDERS: usize = 1_000;
/// Runs of the in-process verification (median).
const VERIFY_RUNS: usize = 5;

/// Everything one run measured.
#[derive(Debug, Clone, Default)]
struct RunResult {
    import: Phase,
    create: Phase,
    build: Phase,
    export: Phase,
    upload: Phase,
    send: Phase,
    mine: Duration,
    /// Blocks mined to empty the pool.
    blocks: u64,
    sync: Phase,
    /// In-process `SignedBatch::parse` + `verify_against_parallel` on every
    /// core, as `batch upload` does (median).
    core_verify: Duration,
    /// `verify_against` alone on one thread (median).
    core_verify_one_thread: Duration,
    file_bytes: u64,
}

/// One full run: a fresh anvil and hub database, the setup, then the timed
/// commands.
fn one_run(keys: &[SigningKey], verify_runs: usize, backend: Backend) -> RunResult {
    let anvil = Anvil::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let db = TestDb::new(backend, dir.path());
    let hub = Hub::new(&db, dir.path());
    let mut r = RunResult::default();

    // Senders: registered as cold addresses, funded, holding tokens.
    let token = anvil.deploy_token();
    hub.setup(&anvil.url, token, keys);
    let senders: Vec<Address> = keys.iter().map(address_of).collect();
    fund(&anvil, token, &senders);
    for s in [senders[0], senders[SENDERS - 1]] {
        assert_eq!(anvil.token_balance(token, s), MINT, "mint did not land");
    }

    // 10,000 orders: sender i % 1,000; ETH and TUSD alternate per sender.
    let mut csv = String::from("order_id,chain,asset,from,to,amount\n");
    for i in 0..ITEMS {
        let from = senders[i % SENDERS];
        let (asset, amount) = if (i / SENDERS).is_multiple_of(2) {
            let wei = U256::from(i as u64 + 1) * U256::from(1_000_000_000u64);
            ("ETH", format_units(wei, 18).unwrap())
        } else {
            let units = U256::from(i as u64 + 1) * U256::from(10_000u64);
            ("TUSD", format_units(units, 6).unwrap())
        };
        writeln!(
            csv,
            "bench-{i:05},local,{asset},{from},{},{amount}",
            recipient(i)
        )
        .unwrap();
    }
    let orders = dir.path().join("orders.csv");
    std::fs::write(&orders, csv).unwrap();
    r.import = hub.run(&["order", "import", orders.to_str().unwrap()]).1;
    let (out, create) = hub.run(&["batch", "create", "--chain", "local", "--all-pending"]);
    r.create = create;
    let id = out.trim().to_owned();

    // Timed: build.
    let (built, build) = hub.json(&["batch", "build", &id]);
    r.build = build;
    assert_eq!(
        built["state"], "READY_FOR_SIGNATURE",
        "build did not finish"
    );

    let usb = dir.path().join("usb");
    std::fs::create_dir_all(&usb).unwrap();
    let (exported, export) = hub.json(&["batch", "export", &id, "--out", usb.to_str().unwrap()]);
    r.export = export;
    let unsigned_path = PathBuf::from(exported["file"].as_str().unwrap());

    // Signing, as the cold signer would (not timed).
    let by_address: HashMap<Address, SigningKey> =
        keys.iter().map(|k| (address_of(k), k.clone())).collect();
    let signed_path = sign_file(&unsigned_path, &by_address);
    r.file_bytes = std::fs::metadata(&signed_path).unwrap().len();

    // Timed: upload --no-send (verification and the database's state changes).
    let (uploaded, upload) = hub.json(&[
        "batch",
        "upload",
        &id,
        signed_path.to_str().unwrap(),
        "--no-send",
    ]);
    r.upload = upload;
    assert_eq!(uploaded["accepted"], ITEMS, "upload: {uploaded}");

    // Timed: send. Without automine the node only checks each transaction
    // and pools it, as a real node does; the mining is timed on its own.
    node_batch(&anvil.url, &[("evm_setAutomine", json!([false]))]);
    let (sent, send) = hub.json(&["batch", "send", &id]);
    r.send = send;
    eprintln!(
        "  build {} ms, upload {} ms, send {} ms (node wait {} / {} / {} ms)",
        ms(r.build.wall),
        ms(r.upload.wall),
        ms(r.send.wall),
        ms(r.build.wait),
        ms(r.upload.wait),
        ms(r.send.wait)
    );
    assert_eq!(
        sent["sent"],
        ITEMS,
        "send: {} rejected",
        sent["rejected"].as_array().map_or(0, Vec::len)
    );
    let t = Instant::now();
    r.blocks = mine_all(&anvil.url);
    r.mine = t.elapsed();

    // Every transaction landed: the batch closes on the next sync.
    let (synced, sync) = hub.json(&["batch", "sync", &id]);
    r.sync = sync;
    let state = synced["state"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| {
            let (shown, _) = hub.json(&["batch", "show", &id]);
            shown["state"].as_str().unwrap_or_default().to_owned()
        });
    assert_eq!(state, "CLOSED", "sync: {}", synced["counts"]);
    let last = senders[SENDERS - 1];
    assert_eq!(anvil.nonce(last), (ITEMS / SENDERS) as u64);

    // In-process: coldsign-core's verification of the same file.
    let unsigned = UnsignedBatch::parse(&std::fs::read_to_string(&unsigned_path).unwrap()).unwrap();
    let text = std::fs::read_to_string(&signed_path).unwrap();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut both = Vec::new();
    let mut one_thread = Vec::new();
    for _ in 0..verify_runs {
        let t = Instant::now();
        let signed = SignedBatch::parse(&text).unwrap();
        let verified = signed.verify_against_parallel(&unsigned, threads).unwrap();
        both.push(t.elapsed());
        assert_eq!(verified.len(), ITEMS);
        let t = Instant::now();
        let verified = signed.verify_against(&unsigned).unwrap();
        one_thread.push(t.elapsed());
        assert_eq!(verified.len(), ITEMS);
    }
    r.core_verify = median(both);
    r.core_verify_one_thread = median(one_thread);
    drop(db);
    r
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The median of one field over the runs.
fn median_phase(runs: &[RunResult], f: impl Fn(&RunResult) -> Phase) -> Phase {
    let mut v: Vec<Phase> = runs.iter().map(&f).collect();
    v.sort_by_key(|p| p.wall);
    v[v.len() / 2]
}

fn rate(items: usize, d: Duration) -> String {
    group(items as f64 / d.as_secs_f64())
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and
    // then one run is enough.
    let full = std::env::args().any(|a| a == "--bench");
    let runs: usize = match std::env::var("HUB_BENCH_RUNS") {
        Ok(n) => n.parse().expect("HUB_BENCH_RUNS is a number"),
        Err(_) if full => 3,
        Err(_) => 1,
    };
    let postgres = std::env::var_os("HUB_BENCH_POSTGRES").is_some_and(|v| v == "1");
    let (backend, db_name, fragment) = if postgres {
        (Backend::Postgres, "PostgreSQL", "hub-postgres.md")
    } else {
        (Backend::Sqlite, "SQLite", "hub.md")
    };
    let load_before = load_average();
    let verify_runs = if full { VERIFY_RUNS } else { 1 };
    let keys: Vec<SigningKey> = (0..SENDERS).map(sender_key).collect();

    let mut results = Vec::new();
    for run in 0..runs {
        let t = Instant::now();
        let r = one_run(&keys, verify_runs, backend);
        eprintln!(
            "run {}/{runs}: build {} ms, upload {} ms, send {} ms, sync {} ms ({:.1} s in all)",
            run + 1,
            ms(r.build.wall),
            ms(r.upload.wall),
            ms(r.send.wall),
            ms(r.sync.wall),
            t.elapsed().as_secs_f64()
        );
        results.push(r);
    }

    let build = median_phase(&results, |r| r.build);
    let upload = median_phase(&results, |r| r.upload);
    let send = median_phase(&results, |r| r.send);
    let sync = median_phase(&results, |r| r.sync);
    let import = median_phase(&results, |r| r.import);
    let create = median_phase(&results, |r| r.create);
    let export = median_phase(&results, |r| r.export);
    let mine = median(results.iter().map(|r| r.mine).collect());
    let core_verify = median(results.iter().map(|r| r.core_verify).collect());
    let core_verify_one_thread = median(results.iter().map(|r| r.core_verify_one_thread).collect());
    let file_mb = results[0].file_bytes as f64 / 1e6;
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpu = cpu_model();
    let send_mode = "automine off while sending (the node checks and pools each transaction), \
        then `evm_mine` until the pool is empty";

    let row = |name: &str, p: &Phase, unit: &str, goal: &str| {
        format!(
            "| {name} | {} ms | {} ms | **{:.0}%** | {} ms | {} / {} | {} {unit}/s | {goal} |",
            ms(p.wall),
            ms(p.wait),
            p.share() * 100.0,
            ms(p.own()),
            group(p.requests as f64),
            group(p.calls as f64),
            rate(ITEMS, p.wall)
        )
    };
    let met = |ok: bool| if ok { "met" } else { "not met" };
    let upload_rate = ITEMS as f64 / upload.wall.as_secs_f64();
    let core_rate = ITEMS as f64 / core_verify.as_secs_f64();
    let batched = |p: &Phase| {
        format!(
            "batched: {} calls per request",
            p.calls.checked_div(p.requests.max(1)).unwrap_or(0)
        )
    };
    let mut md = String::new();
    writeln!(
        md,
        "## Hub: a {}-order batch against anvil ({db_name})\n",
        group(ITEMS as f64)
    )
    .unwrap();
    writeln!(
        md,
        "`hub-cli` (the release binary, whole process) on a fresh {db_name} hub against anvil: {} orders \
         (half ETH, half ERC-20 `transfer`), {} senders with 10 nonces each. Node wait: the time the \
         command spent in HTTP round trips to the node, from the hub's own counters (`HUB_RPC_STATS`); \
         the rest is the hub's own work (database, parsing, verification). Median of {runs} run(s), \
         each with a fresh anvil (default 30M-gas blocks) and hub; {send_mode}.\n",
        group(ITEMS as f64),
        group(SENDERS as f64)
    )
    .unwrap();
    writeln!(
        md,
        "| command | wall | node wait | node share | hub's own | HTTP requests / JSON-RPC calls | rate | goal |"
    )
    .unwrap();
    writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---|").unwrap();
    writeln!(
        md,
        "{}",
        row("`batch build`", &build, "orders", &batched(&build))
    )
    .unwrap();
    writeln!(
        md,
        "{}",
        row(
            "`batch upload --no-send` (verification)",
            &upload,
            "sig",
            &format!(">= 10,000 sig/s: {}", met(upload_rate >= 10_000.0))
        )
    )
    .unwrap();
    writeln!(md, "{}", row("`batch send`", &send, "tx", &batched(&send))).unwrap();
    writeln!(
        md,
        "{}",
        row(
            "`batch sync` (after mining; all DISBURSED, batch CLOSED)",
            &sync,
            "orders",
            &batched(&sync)
        )
    )
    .unwrap();
    writeln!(md).unwrap();
    writeln!(
        md,
        "- Verification alone, in-process (coldsign-core `SignedBatch::parse` + `verify_against_parallel` \
         on {cpus} threads, as `batch upload` runs it; {file_mb:.1} MB signed file): {} ms, **{} sig/s** \
         (>= 10,000: {}); `verify_against` on one thread, without the parse: {} ms, {} sig/s.",
        ms(core_verify),
        group(core_rate),
        met(core_rate >= 10_000.0),
        ms(core_verify_one_thread),
        rate(ITEMS, core_verify_one_thread)
    )
    .unwrap();
    writeln!(
        md,
        "- anvil mining the {} pooled transactions afterwards (not part of any command): {} ms, {} blocks.",
        group(ITEMS as f64),
        ms(mine),
        results[0].blocks
    )
    .unwrap();
    writeln!(
        md,
        "- Setup commands, for scale: `order import` {} ms, `batch create` {} ms, `batch export` {} ms.",
        ms(import.wall),
        ms(create.wall),
        ms(export.wall)
    )
    .unwrap();
    writeln!(md, "{}.", load_note(&load_before)).unwrap();

    println!("hub benchmark on {cpus} CPU(s), {cpu}\n");
    println!("{md}");
    write_fragment(fragment, &md);
}
