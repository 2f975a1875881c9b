//! Address export: `signer addresses --start 0 --count 100000 --json
//! --password-file F`, the real `signer` binary built by this `cargo bench`,
//! end to end (process start, keystore unlock, derivation from the seed, a
//! proof of possession signed by every address's key, JSON written to a
//! pipe) from a keystore made by `signer init` (test-only weak KDF, so the
//! unlock is not what is measured). The peer is ethers.js v6
//! (`bench/addresses/ethers-derive.js`), doing the same work: the account
//! node `m/44'/60'/0'/0` once, then for every index `deriveChild(i)`, its
//! address, the proof message's keccak256 and `SigningKey.sign`, timed by
//! itself (node start-up and printing excluded). All 100,000 addresses and
//! proofs are compared (RFC 6979: the same bytes).
//!
//! ethers.js needs minutes for 100,000 children and signatures, so it runs
//! once; ours runs 5 times (median) around it. The bound: under
//! 10 s on the 2-core reference machine.
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
    let pw = ks.password_file();
    let ours_once = || {
        let t = Instant::now();
        let out = common::run_ok(
            ks.signer().args([
                "addresses",
                "--start",
                "0",
                "--count",
                &count_arg,
                "--json",
                "--password-file",
                pw.to_str().unwrap(),
            ]),
            "signer addresses",
        );
        (t.elapsed().as_secs_f64(), out.stdout)
    };

    ours_once(); // warm-up (page cache, binary)
    let mut secs = Vec::new();
    let mut ours_json = Vec::new();
    let mut ethers_report = serde_json::Value::Null;
    let mut ethers_addresses: Vec<(String, String)> = Vec::new();
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

    // Every address and proof, in order.
    let v: serde_json::Value = serde_json::from_slice(&ours_json).unwrap();
    let ours_addresses: Vec<(String, String)> = v["data"]["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["address"].as_str().unwrap().to_owned(),
                e["proof"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(ours_addresses.len(), count as usize);
    assert!(
        ours_addresses == ethers_addresses,
        "coldsign and ethers.js derive different addresses or proofs"
    );

    let rate = |s: f64| f64::from(count) / s;
    let ethers_name = format!(
        "ethers.js {} (node {})",
        ethers_report["version"].as_str().unwrap_or("?"),
        ethers_report["node"].as_str().unwrap_or("?")
    );
    println!(
        "address export benchmark: {count} addresses m/44'/60'/0'/0/0.. with proofs; {}; {} rayon threads",
        common::machine_line(),
        rayon::current_num_threads()
    );
    println!(
        "  signer addresses: {:>9.1} ms {:>9.0} addresses/s  (median of {runs}, best {:.1} ms; whole process, proofs, JSON out)",
        ours * 1e3,
        rate(ours),
        best * 1e3
    );
    println!(
        "  ethers.js       : {:>9.1} ms {:>9.0} addresses/s  (1 run; {ethers_name}; deriveChild + address + proof)",
        theirs * 1e3,
        rate(theirs)
    );
    println!("  ratio           : {:.1}x", rate(ours) / rate(theirs));
    println!("  ethers.js       : {ethers_report}");
    println!(
        "  outputs identical: {} addresses and proofs",
        thousands(f64::from(count))
    );
    let md = format!(
        "## Address export: {n} addresses\n\n\
         `signer addresses --start 0 --count {count} --json --password-file F` (the release binary, \
         whole process: start, keystore unlock (test KDF), derivation from the seed and a proof of \
         possession signed by each address's key on {threads} threads, {mb:.1} MB of JSON written \
         to a pipe), median of {runs} (best {best_ms} ms); ethers.js: `HDNodeWallet.fromPhrase` for \
         `m/44'/60'/0'/0` once, then `deriveChild(i)`, its address and `signingKey.sign` of the \
         proof digest for every index, its own timer (node start-up and printing excluded), \
         single-threaded, 1 run. All {n} addresses and proofs are identical.\n\n\
         | | time | rate | runs |\n\
         |---|---:|---:|---|\n\
         | coldsign `signer addresses` | {ours_ms} ms | **{ours_r} addresses/s** | median of {runs} |\n\
         | {ethers_name} `deriveChild` + proof | {theirs_ms} ms | {theirs_r} addresses/s | 1 run |\n\
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
