//! What the signer's benchmarks share: the public development mnemonic, the
//! bench batch, a keystore for the real `signer` binary, the peers' tools,
//! the machine's description and the report fragments.
//!
//! Each benchmark prints a human summary and, when run by `cargo bench`
//! (which passes `--bench`), writes a markdown fragment to
//! `<workspace>/target/bench-report/<name>.md`; `just bench` joins them into
//! `target/bench-report/report.md`.
#![allow(dead_code)]

use coldsign_core::{
    batch::{Summary, UnsignedBatch, UnsignedItemDraft},
    erc20::Transfer,
    Address, Transaction, TxEip1559, U256,
};
use coldsign_signer::{hd::Root, secret::SeedMaterial};
use std::{
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
};

/// PUBLIC, INSECURE development mnemonic (Hardhat / anvil): never fund it.
pub(crate) const DEV_MNEMONIC: &str = "test test test test test test test test test test test junk";
/// The bench keystore's password (the keystore only holds the public mnemonic).
pub(crate) const PASSWORD: &str = "bench password, public mnemonic";

/// Whether `cargo bench` runs us (it passes `--bench`); otherwise (`cargo
/// test --benches`) one quick pass on a smaller input is enough, and no
/// report fragment is written.
pub(crate) fn full_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// The master key of [`DEV_MNEMONIC`].
pub(crate) fn dev_root() -> Root {
    let s = SeedMaterial::from_phrase(DEV_MNEMONIC, Default::default()).unwrap();
    Root::from_seed(&s.to_seed().unwrap()).unwrap()
}

/// An unsigned batch of `items` EIP-1559 transactions on chain 1: even items
/// native ETH transfers, odd items USDT `transfer` calls, from `senders`
/// distinct senders (`m/44'/60'/0'/0/0` ..), consecutive nonces per sender.
pub(crate) fn build_batch(items: usize, senders: u32) -> UnsignedBatch {
    let xpub = dev_root().account_xpub(0).unwrap();
    let from = xpub.addresses(0, 0, senders).unwrap();
    let usdt: Address = "0xdAC17F958D2ee523a2206206994597C13D831ec7"
        .parse()
        .unwrap();
    let mut drafts = Vec::with_capacity(items);
    for i in 0..items {
        let sender = &from[i % senders as usize];
        let nonce = (i / senders as usize) as u64;
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
            kind: coldsign_core::batch::ItemKind::Payment,
        });
    }
    UnsignedBatch::new(1, 1, "2026-11-21T06:00:00Z", drafts).unwrap()
}

/// The median of `v` (the upper one for an even length).
pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// The workspace root (the parent of the signer crate).
pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A peer script under `bench/`.
pub(crate) fn peer_script(relative: &str) -> PathBuf {
    workspace_root().join("bench").join(relative)
}

/// The test tools' folder (`just tools`): `$COLDSIGN_TOOLS`, else `.tools/`.
pub(crate) fn tools_dir() -> PathBuf {
    let dir = std::env::var_os("COLDSIGN_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".tools"));
    assert!(
        dir.join("node_modules/ethers").is_dir(),
        "ethers.js missing at {}: run `just tools`",
        dir.display()
    );
    dir
}

/// `node SCRIPT` with the tools' ethers.js.
pub(crate) fn node(tools: &Path, script: &str) -> Command {
    let mut c = Command::new("node");
    c.env("NODE_PATH", tools.join("node_modules"))
        .arg(peer_script(script));
    c
}

/// The tools' Python (the venv with eth-account).
pub(crate) fn venv_python(tools: &Path) -> PathBuf {
    let p = tools.join("venv/bin/python");
    assert!(
        p.is_file(),
        "eth-account's venv missing at {}: run `just tools`",
        p.display()
    );
    p
}

/// The Python of the second venv (`just tools`): the same pinned
/// eth-account with coincurve installed, so eth-keys signs with
/// libsecp256k1 through coincurve.
pub(crate) fn venv_coincurve_python(tools: &Path) -> PathBuf {
    let p = tools.join("venv-coincurve/bin/python");
    assert!(
        p.is_file(),
        "eth-account's coincurve venv missing at {}: run `just tools`",
        p.display()
    );
    p
}

/// The alloy peer's binary (`bench/alloy-peer`, outside the workspace):
/// `$COLDSIGN_ALLOY_PEER`, else where `just bench` builds it
/// (`<workspace>/target/alloy-peer/release/alloy-peer`); `None` when it is
/// not there.
pub(crate) fn alloy_peer_bin() -> Option<PathBuf> {
    let p = std::env::var_os("COLDSIGN_ALLOY_PEER")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/alloy-peer/release/alloy-peer"));
    p.is_file().then_some(p)
}

/// Runs `cmd`, asserts it succeeded, and returns its output.
pub(crate) fn run_ok(cmd: &mut Command, what: &str) -> Output {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A peer's timing report: the last line of its standard error, as JSON.
pub(crate) fn peer_report(out: &Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&out.stderr);
    let line = text.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("peer report {line:?}: {e}"))
}

/// A keystore of [`DEV_MNEMONIC`] for the real `signer` binary, created by
/// `signer init`: by default under the test-only weak KDF
/// (`SIGNER_INSECURE_KDF_FOR_TESTS`, 256 KiB and one pass), so the
/// benchmarks measure the signer's work rather than Argon2id.
pub(crate) struct BenchKeystore {
    dir: tempfile::TempDir,
}

impl BenchKeystore {
    /// A keystore with the test-only weak KDF, in a fresh temporary folder.
    pub(crate) fn new() -> Self {
        Self::create(true)
    }

    /// A keystore with the weak test KDF, or (`weak_kdf` false) with the
    /// default cost every real keystore has (Argon2id, 256 MiB, 3 passes).
    pub(crate) fn create(weak_kdf: bool) -> Self {
        let ks = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::write(ks.mnemonic_file(), format!("{DEV_MNEMONIC}\n")).unwrap();
        std::fs::write(ks.password_file(), format!("{PASSWORD}\n")).unwrap();
        let mnemonic = ks.mnemonic_file();
        let pw = ks.password_file();
        let mut init = ks.signer();
        if !weak_kdf {
            init.env_remove("SIGNER_INSECURE_KDF_FOR_TESTS");
        }
        run_ok(
            init.args([
                "init",
                "--mnemonic-file",
                mnemonic.to_str().unwrap(),
                "--password-file",
                pw.to_str().unwrap(),
            ]),
            "signer init",
        );
        ks
    }

    /// A file in the keystore's temporary folder.
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The password file (`--password-file`).
    pub(crate) fn password_file(&self) -> PathBuf {
        self.path("password.txt")
    }

    /// The mnemonic file, for the peers.
    pub(crate) fn mnemonic_file(&self) -> PathBuf {
        self.path("mnemonic.txt")
    }

    /// The `signer` binary built by this `cargo bench` (Cargo gives benches
    /// its path; release profile), with a hermetic environment pointing at
    /// this keystore.
    pub(crate) fn signer(&self) -> Command {
        self.signer_with(Path::new(env!("CARGO_BIN_EXE_signer")))
    }

    /// `program` (e.g. a wrapper that runs the signer) with the signer's
    /// hermetic environment.
    pub(crate) fn signer_with(&self, program: &Path) -> Command {
        let mut c = Command::new(program);
        c.current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("SIGNER_INSECURE_KDF_FOR_TESTS", "1")
            .env("SIGNER_KEYSTORE", self.path("ks/keystore.json"));
        c
    }
}

pub(crate) use coldsign_e2e::{cpu_model, load_average};

/// One line describing the machine: CPUs, model, load average now.
pub(crate) fn machine_line() -> String {
    format!(
        "{} CPU(s), {}, load average {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model(),
        load_average()
    )
}

/// Writes `<workspace>/target/bench-report/<name>.md` (only on a full
/// `cargo bench` run) and says where.
pub(crate) fn write_fragment(name: &str, markdown: &str) {
    if !full_run() {
        return;
    }
    let dir = workspace_root().join("target/bench-report");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.md"));
    std::fs::write(&path, markdown).unwrap();
    println!("  report fragment : {}", path.display());
}

/// `n` with thousands separators (`12,345`).
pub(crate) fn thousands(n: f64) -> String {
    let digits = format!("{:.0}", n.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
