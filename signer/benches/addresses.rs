//! Address export: `signer addresses --start 0 --count 100000 --json`, the
//! real `signer` binary built by this `cargo bench`, end to end (process
//! start, keystore read, derivation from the stored account xpub, JSON
//! written to a pipe) from a keystore made by `signer init` (test-only weak
//! KDF; no password is needed for account 0). The peer is ethers.js v6
//! (`bench/addresses/ethers-derive.js`): `HDNodeWallet.fromPhrase` for the
//! account node `m/44'/60'/0'/0` once, then `deriveChild(i)` and its address
//! for every index, timed by itself (node start-up and printing excluded).
//! All 100,000 addresses are compared.
//!
//! ethers.js needs about a minute for 100,000 children, so it runs once;
//! ours runs 5 times (median) around it.
//!
//! Run with `cargo bench -p coldsign-signer --bench addresses`. Needs the
//! test tools (`just tools`). Writes `target/bench-report/addresses.md`.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::{median, thousands};
use std::time::Instant;

const COUNT: u32 = 100_000;
const RUNS: usize = 5;

fn main() {
    let full = common::full_run();
    let count = if full { COUNT } else { 2_000 };
    let runs = if full { RUNS } else { 1 };
    let tools = common::tools_dir();
    let ks = common::BenchKeystore::new();
    let count_arg = count.to_string();
    let ours_once = || {
        let t = Instant::now();
        let out = common::run_ok(
            ks.signer()
                .args(["addresses", "--start", "0", "--count", &count_arg, "--json"]),
            "signer addresses",
        );
        (t.elapsed().as_secs_f64(), out.stdout)
    };

    ours_once(); // warm-up (page cache, binary)
    let mut secs = Vec::new();
    let mut ours_json = Vec::new();
    let mut ethers_report = serde_json::Value::Null;
    let mut ethers_addresses: Vec<String> = Vec::new();
    for round in 0..runs {
        let (s, out) = ours_once();
        secs.push(s);
        ours_json = out;
        // The peer once, in the middle of our runs.
        if round == runs / 2 {
            let out = common::run_ok(
                common::node(&tools, "addresses/ethers-derive.js")
                    .arg(ks.mnemonic_file())
                    .arg("0")
                    .arg(&count_arg),
                "the ethers.js peer",
            );
            ethers_report = common::peer_report(&out);
            ethers_addresses = serde_json::from_slice(&out.stdout).unwrap();
        }
    }
    let best = secs.iter().copied().fold(f64::INFINITY, f64::min);
    let ours = median(secs);
    let theirs = ethers_report["total_ms"].as_f64().unwrap() / 1000.0;

    // Every address, in order.
    let v: serde_json::Value = serde_json::from_slice(&ours_json).unwrap();
    let ours_addresses: Vec<&str> = v["data"]["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["address"].as_str().unwrap())
        .collect();
    assert_eq!(ours_addresses.len(), count as usize);
    assert_eq!(
        ours_addresses, ethers_addresses,
        "coldsign and ethers.js derive different addresses"
    );

    let rate = |s: f64| f64::from(count) / s;
    let ethers_name = format!(
        "ethers.js {} (node {})",
        ethers_report["version"].as_str().unwrap_or("?"),
        ethers_report["node"].as_str().unwrap_or("?")
    );
    println!(
        "address export benchmark: {count} addresses m/44'/60'/0'/0/0..; {}; {} rayon threads",
        common::machine_line(),
        rayon::current_num_threads()
    );
    println!(
        "  signer addresses: {:>9.1} ms {:>9.0} addresses/s  (median of {runs}, best {:.1} ms; whole process, JSON out)",
        ours * 1e3,
        rate(ours),
        best * 1e3
    );
    println!(
        "  ethers.js       : {:>9.1} ms {:>9.0} addresses/s  (1 run; {ethers_name}; deriveChild + address)",
        theirs * 1e3,
        rate(theirs)
    );
    println!("  ratio           : {:.1}x", rate(ours) / rate(theirs));
    println!("  ethers.js       : {ethers_report}");
    println!(
        "  outputs identical: {} addresses",
        thousands(f64::from(count))
    );
    let md = format!(
        "## Address export: {n} addresses\n\n\
         `signer addresses --start 0 --count {count} --json` (the release binary, whole process: \
         start, keystore read, derivation from the stored account xpub on {threads} threads, \
         {mb:.1} MB of JSON written to a pipe), median of {runs} (best {best_ms} ms); \
         ethers.js: `HDNodeWallet.fromPhrase` for `m/44'/60'/0'/0` once, then `deriveChild(i).address` \
         for every index, its own timer (node start-up and printing excluded), single-threaded, \
         1 run. All {n} addresses are identical.\n\n\
         | | time | rate | runs |\n\
         |---|---:|---:|---|\n\
         | coldsign `signer addresses` | {ours_ms} ms | **{ours_r} addresses/s** | median of {runs} |\n\
         | {ethers_name} `deriveChild` | {theirs_ms} ms | {theirs_r} addresses/s | 1 run |\n\
         | ratio | | **{ratio:.0}x** | |\n",
        n = thousands(f64::from(count)),
        threads = rayon::current_num_threads(),
        mb = ours_json.len() as f64 / 1e6,
        best_ms = thousands(best * 1e3),
        ours_ms = thousands(ours * 1e3),
        ours_r = thousands(rate(ours)),
        theirs_ms = thousands(theirs * 1e3),
        theirs_r = thousands(rate(theirs)),
        ratio = rate(ours) / rate(theirs),
    );
    common::write_fragment("addresses", &md);
}
