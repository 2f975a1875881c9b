//! Shared helpers: a temporary signer home, running the binary, building
//! unsigned batches with coldsign-core.

use coldsign_core::{
    batch::{Summary, UnsignedBatch, UnsignedItemDraft},
    erc20::Transfer,
    Address, Transaction, TxEip1559, TxLegacy, U256,
};
use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
};

/// PUBLIC, INSECURE development mnemonic (Hardhat / Foundry anvil). Its keys
/// are published; never fund them outside a local test chain.
pub const DEV_MNEMONIC: &str = "test test test test test test test test test test test junk";
/// The first addresses of [`DEV_MNEMONIC`] on m/44'/60'/0'/0/i (public).
pub const DEV_ADDRESSES: [&str; 3] = [
    "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
    "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
];
pub const PASSWORD: &str = "correct horse battery staple";
/// A token address used in test batches (USDT on mainnet).
pub const USDT: &str = "0xdAC17F958D2ee523a2206206994597C13D831ec7";
pub const RECIPIENT: &str = "0x90F79bf6EB2c4f870365E785982E1f101E93b906";
pub const CHAIN_ID: u64 = 31337;
/// The policy [`Env::init_dev`] installs: no caps, any asset (shown with its
/// contract), so tests of other things sign as before.
pub const PERMISSIVE_POLICY: &str =
    "# tests: no caps, unlisted assets allowed\nunlisted_assets = \"allow\"\n";

pub fn addr(s: &str) -> Address {
    s.parse().unwrap()
}

/// A signer home: keystore, password file, work directory.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn keystore(&self) -> PathBuf {
        self.path("ks/keystore.json")
    }

    pub fn audit_log(&self) -> PathBuf {
        self.path("ks/audit.jsonl")
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    pub fn password_file(&self) -> PathBuf {
        self.write("pw.txt", &format!("{PASSWORD}\n"))
    }

    /// The binary with a hermetic environment (tiny test-only KDF cost).
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_signer"));
        c.current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("SIGNER_INSECURE_KDF_FOR_TESTS", "1")
            .env("SIGNER_KEYSTORE", self.keystore())
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    pub fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = self
            .cmd()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    /// `signer init --mnemonic-file MNEMONIC --password-file PASSWORD`.
    pub fn init_from(&self, mnemonic: &Path, password: &Path) -> Output {
        self.run(&[
            "init",
            "--mnemonic-file",
            mnemonic.to_str().unwrap(),
            "--password-file",
            password.to_str().unwrap(),
        ])
    }

    /// `signer init` from the development mnemonic, and a permissive
    /// policy beside the keystore ([`PERMISSIVE_POLICY`]: `sign` refuses to
    /// run without one; `policy.rs` tests the rules).
    pub fn init_dev(&self) -> Output {
        let m = self.write("mnemonic.txt", &format!("{DEV_MNEMONIC}\n"));
        let out = self.init_from(&m, &self.password_file());
        assert_ok(&out);
        std::fs::write(self.path("ks/policy.toml"), PERMISSIVE_POLICY).unwrap();
        out
    }

    pub fn write_batch(&self, batch: &UnsignedBatch) -> PathBuf {
        self.write(&batch.file_name(), &batch.to_json())
    }

    /// `signer sign FILE --yes --password-file pw.txt` plus `extra`, and
    /// `--no-policy` when neither `extra` nor the signer home has a policy
    /// (`sign` refuses to run without one: see `policy.rs` for that).
    pub fn sign(&self, file: &Path, extra: &[&str]) -> Output {
        let pw = self.password_file();
        let mut args = vec![
            "sign",
            file.to_str().unwrap(),
            "--yes",
            "--password-file",
            pw.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let chosen = extra
            .iter()
            .any(|a| a.starts_with("--policy") || *a == "--no-policy");
        if !chosen && !self.path("ks/policy.toml").exists() {
            args.push("--no-policy");
        }
        self.run(&args)
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn assert_ok(o: &Output) {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        stdout(o),
        stderr(o)
    );
}

pub fn assert_exit(o: &Output, code: i32, stderr_contains: &str) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(o),
        stderr(o)
    );
    assert!(
        stderr(o).contains(stderr_contains),
        "stderr lacks {stderr_contains:?}:\n{}",
        stderr(o)
    );
}

/// One item of a test batch.
#[derive(Clone, Debug)]
pub struct Spec {
    pub sender: usize,
    pub nonce: u64,
    pub token: bool,
    pub amount: u64,
    pub legacy: bool,
}

pub fn native(sender: usize, nonce: u64, amount_gwei: u64) -> Spec {
    Spec {
        sender,
        nonce,
        token: false,
        amount: amount_gwei,
        legacy: false,
    }
}

pub fn token(sender: usize, nonce: u64, amount_usdt: u64) -> Spec {
    Spec {
        sender,
        nonce,
        token: true,
        amount: amount_usdt,
        legacy: false,
    }
}

/// The draft of one item: native amounts are in gwei, token amounts in
/// whole USDT (6 decimals).
pub fn draft(i: usize, s: &Spec) -> UnsignedItemDraft {
    let from = addr(DEV_ADDRESSES[s.sender]);
    let recipient = addr(RECIPIENT);
    let (to, value, input, summary) = if s.token {
        let units = U256::from(s.amount) * U256::from(1_000_000u64);
        let data = Transfer {
            to: recipient,
            amount: units,
        }
        .encode();
        let summary = Summary {
            asset: "USDT".into(),
            decimals: 6,
            token: Some(addr(USDT)),
            recipient,
            amount: s.amount.to_string(),
        };
        (addr(USDT), U256::zero(), data, summary)
    } else {
        let wei = U256::from(s.amount) * U256::from(1_000_000_000u64);
        let summary = Summary {
            asset: "ETH".into(),
            decimals: 18,
            token: None,
            recipient,
            amount: coldsign_core::amount::format_units(wei, 18).unwrap(),
        };
        (recipient, wei, Vec::new(), summary)
    };
    let tx = if s.legacy {
        Transaction::Legacy(TxLegacy {
            chain_id: CHAIN_ID,
            nonce: s.nonce,
            gas_price: U256::from(30_000_000_000u64),
            gas_limit: if s.token { 65_000 } else { 21_000 },
            to: Some(to),
            value,
            input,
        })
    } else {
        Transaction::Eip1559(TxEip1559 {
            chain_id: CHAIN_ID,
            nonce: s.nonce,
            max_priority_fee_per_gas: U256::from(1_000_000_000u64),
            max_fee_per_gas: U256::from(40_000_000_000u64),
            gas_limit: if s.token { 65_000 } else { 21_000 },
            to: Some(to),
            value,
            input,
            access_list: Vec::new(),
        })
    };
    UnsignedItemDraft {
        order_id: format!("order-{i}"),
        from,
        derivation_path: format!("m/44'/60'/0'/0/{}", s.sender),
        tx,
        summary,
        kind: coldsign_core::batch::ItemKind::Payment,
    }
}

pub const CREATED_AT: &str = "2026-11-21T05:43:14Z";

pub fn batch_of(batch_id: u64, specs: &[Spec]) -> UnsignedBatch {
    let drafts = specs.iter().enumerate().map(|(i, s)| draft(i, s)).collect();
    UnsignedBatch::new(batch_id, CHAIN_ID, CREATED_AT, drafts).unwrap()
}

pub fn batch_from_drafts(batch_id: u64, drafts: Vec<UnsignedItemDraft>) -> UnsignedBatch {
    UnsignedBatch::new(batch_id, CHAIN_ID, CREATED_AT, drafts).unwrap()
}

/// A small mixed batch: native and token, EIP-1559 and legacy, three senders.
pub fn mixed_batch(batch_id: u64) -> UnsignedBatch {
    let mut legacy = native(2, 0, 7);
    legacy.legacy = true;
    let mut legacy_token = token(2, 1, 3);
    legacy_token.legacy = true;
    batch_of(
        batch_id,
        &[
            native(0, 5, 1_500_000_000),
            token(0, 6, 250),
            native(1, 0, 1),
            token(1, 1, 1_000),
            legacy,
            legacy_token,
        ],
    )
}

/// The test tools (anvil, cast, node modules, Python venv): `COLDSIGN_TOOLS`,
/// else `<workspace>/.tools`. Panics (fails the test) if missing.
pub fn tools_dir() -> PathBuf {
    let dir = std::env::var_os("COLDSIGN_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools"));
    assert!(
        dir.join("node_modules/ethers").is_dir(),
        "test tools missing at {}: run `just tools`",
        dir.display()
    );
    dir
}

pub fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}
