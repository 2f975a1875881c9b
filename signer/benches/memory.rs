//! Peak memory of `signer sign` on a 100,000-item batch (half native, half
//! ERC-20, 10,000 senders, 10 nonces each): the real `signer` binary built by
//! this `cargo bench`, `signer sign FILE --yes --no-policy --password-file F`.
//!
//! Measured twice, on the same file:
//! - the goal's figure: a keystore with the default cost (Argon2id, 256 MiB,
//!   3 passes), as operators run it; `signer sign` derives the password's
//!   key before it loads the batch, so the peak is the larger of the two;
//! - for information, a keystore made with the test-only weak KDF, so the
//!   peak is the batch's own cost (parse, checks, review, derivation,
//!   signing, signed file).
//!
//! The peak is the kernel's account of the child's largest resident set
//! (`ru_maxrss` from `wait4`). The bench cannot call `wait4` itself (the
//! workspace forbids `unsafe`, and no safe wrapper is in Cargo.lock), so a
//! few lines of Python (`os.posix_spawn` + `os.wait4`) start the signer and
//! report it; the figure includes the few MiB the spawning Python had
//! resident at the signer's `exec`.
//!
//! Run with `cargo bench -p coldsign-signer --bench memory`. Goal: under
//! 300 MB. Writes `target/bench-report/memory.md`.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::{thousands, BenchKeystore};
use std::path::Path;

const ITEMS: usize = 100_000;
const SENDERS: u32 = 10_000;
/// The goal, in MB (10^6 bytes).
const GOAL_MB: f64 = 300.0;

/// Runs argv[2..] and writes its `wait4` resource usage as JSON to argv[1].
const SPAWN_AND_WAIT4: &str = r#"
import json, os, sys, time
t = time.perf_counter()
pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ)
_, status, ru = os.wait4(pid, 0)
wall = time.perf_counter() - t
code = os.waitstatus_to_exitcode(status)
with open(sys.argv[1], "w") as f:
    json.dump({"exit": code, "maxrss_kib": ru.ru_maxrss, "wall_s": wall,
               "user_s": ru.ru_utime, "sys_s": ru.ru_stime}, f)
sys.exit(0 if code == 0 else 1)
"#;

/// One `signer sign` run: peak RSS in KiB, wall and CPU seconds.
struct Usage {
    maxrss_kib: f64,
    wall_s: f64,
    cpu_s: f64,
}

impl Usage {
    fn mb(&self) -> f64 {
        self.maxrss_kib * 1024.0 / 1e6
    }

    fn mib(&self) -> f64 {
        self.maxrss_kib / 1024.0
    }
}

/// `signer sign input --yes --no-policy --password-file F --out F` under `python`'s
/// `wait4`, checking it signed `items` transactions.
fn sign(ks: &BenchKeystore, python: &Path, input: &Path, items: usize) -> Usage {
    let output = ks.path("signed.json");
    let usage_file = ks.path("usage.json");
    let pw = ks.password_file();
    let out = common::run_ok(
        ks.signer_with(python).args([
            "-c",
            SPAWN_AND_WAIT4,
            usage_file.to_str().unwrap(),
            env!("CARGO_BIN_EXE_signer"),
            "sign",
            input.to_str().unwrap(),
            "--yes",
            "--no-policy",
            "--password-file",
            pw.to_str().unwrap(),
            "--out",
            output.to_str().unwrap(),
        ]),
        "signer sign",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("signed {items} transaction(s)")),
        "{stdout}"
    );
    let u: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&usage_file).unwrap()).unwrap();
    Usage {
        maxrss_kib: u["maxrss_kib"].as_f64().unwrap(),
        wall_s: u["wall_s"].as_f64().unwrap(),
        cpu_s: u["user_s"].as_f64().unwrap() + u["sys_s"].as_f64().unwrap(),
    }
}

fn main() {
    let full = common::full_run();
    let (items, senders) = if full {
        (ITEMS, SENDERS)
    } else {
        (ITEMS / 10, SENDERS / 10)
    };
    let python = common::venv_python(&common::tools_dir());
    let weak = BenchKeystore::new();
    let batch = common::build_batch(items, senders);
    let input = weak.path(&batch.file_name());
    std::fs::write(&input, batch.to_json()).unwrap();
    drop(batch);
    let file_mb = std::fs::metadata(&input).unwrap().len() as f64 / 1e6;
    if let Some(keep) = std::env::var_os("MEMORY_BENCH_KEEP_INPUT") {
        std::fs::copy(&input, keep).unwrap();
    }

    let ours = sign(&weak, &python, &input, items);
    let signed_mb = std::fs::metadata(weak.path("signed.json")).unwrap().len() as f64 / 1e6;
    let real = sign(&BenchKeystore::create(false), &python, &input, items);
    let verdict = |u: &Usage| if u.mb() < GOAL_MB { "met" } else { "missed" };
    let check = format!("goal < {GOAL_MB:.0} MB: {}", verdict(&real));

    println!(
        "peak memory benchmark: signer sign, {items} items ({senders} senders), {file_mb:.1} MB unsigned -> {signed_mb:.1} MB signed; {}",
        common::machine_line()
    );
    println!(
        "  default Argon2id: peak RSS {:>4.0} MB ({:.0} MiB); {check}; {:.2} s wall, {:.2} s CPU",
        real.mb(),
        real.mib(),
        real.wall_s,
        real.cpu_s
    );
    println!(
        "  weak test KDF   : peak RSS {:>4.0} MB ({:.0} MiB) (the batch's own cost); {:.2} s wall, {:.2} s CPU",
        ours.mb(),
        ours.mib(),
        ours.wall_s,
        ours.cpu_s
    );
    let md = format!(
        "## Peak memory: signing {n} transactions\n\n\
         `signer sign FILE --yes --password-file F` (the release binary) on {n} EIP-1559 items \
         (half ETH, half ERC-20, {s} senders): unsigned file {file_mb:.1} MB, signed file \
         {signed_mb:.1} MB. Peak resident set of the process from `wait4` (`ru_maxrss`). The goal's \
         figure is a default keystore's (Argon2id, 256 MiB), as operators run it: the password's \
         key is derived before the batch is loaded, so the two never sit in memory together; the \
         second row, with the test-only weak KDF, is the batch's own cost.\n\n\
         | keystore | peak RSS | goal | time |\n\
         |---|---:|---:|---:|\n\
         | default (Argon2id 256 MiB, 3 passes) | **{m2:.0} MB** ({mi2:.0} MiB) | < {GOAL_MB:.0} MB: {v2} | {w2:.1} s wall, {c2:.1} s CPU |\n\
         | weak test KDF (the batch alone) | {m1:.0} MB ({mi1:.0} MiB) | | {w1:.1} s wall, {c1:.1} s CPU |\n",
        n = thousands(items as f64),
        s = thousands(f64::from(senders)),
        m1 = ours.mb(),
        mi1 = ours.mib(),
        v2 = verdict(&real),
        w1 = ours.wall_s,
        c1 = ours.cpu_s,
        m2 = real.mb(),
        mi2 = real.mib(),
        w2 = real.wall_s,
        c2 = real.cpu_s,
    );
    common::write_fragment("memory", &md);
}
