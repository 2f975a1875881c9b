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

    /// A password-taking command (`addresses`, `xpub`, `info`) with
    /// `--password-file pw.txt` added.
    pub fn run_pw(&self, args: &[&str]) -> Output {
        let pw = self.password_file();
        let mut all = args.to_vec();
        all.extend(["--password-file", pw.to_str().unwrap()]);
        self.run(&all)
    }

    /// The binary on a pseudo-terminal (util-linux `script`), with the
    /// same hermetic environment as [`Env::cmd`]: standard input, output
    /// and error are the terminal, and so is `/dev/tty` (hidden prompts).
    pub fn pty(&self, args: &[&str]) -> Pty {
        let mut line = shell_quote(env!("CARGO_BIN_EXE_signer"));
        for a in args {
            line.push(' ');
            line.push_str(&shell_quote(a));
        }
        let mut c = Command::new("script");
        c.args(["-q", "-e", "-c", &line, "/dev/null"])
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("TERM", "dumb")
            .env("SIGNER_INSECURE_KDF_FOR_TESTS", "1")
            .env("SIGNER_KEYSTORE", self.keystore());
        Pty::spawn(c)
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

fn shell_quote(s: &str) -> String {
    assert!(!s.contains('\''), "no quotes in test arguments: {s}");
    format!("'{s}'")
}

/// A program running on a pseudo-terminal: what it printed so far, and a
/// way to answer its prompts as an operator would (after they appear).
pub struct Pty {
    child: std::process::Child,
    input: Option<std::process::ChildStdin>,
    output: std::sync::mpsc::Receiver<Vec<u8>>,
    /// Everything printed so far (terminal line endings made `\n`).
    pub seen: String,
    cursor: usize,
}

impl Pty {
    fn spawn(mut c: Command) -> Self {
        use std::io::Read;
        let mut child = c
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("util-linux `script` runs the signer on a pseudo-terminal");
        let mut out = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Self {
            input: child.stdin.take(),
            child,
            output: rx,
            seen: String::new(),
            cursor: 0,
        }
    }

    /// Takes what was printed within `wait`; `false` once the output ended.
    fn pull(&mut self, wait: std::time::Duration) -> bool {
        use std::sync::mpsc::RecvTimeoutError;
        match self.output.recv_timeout(wait) {
            Ok(bytes) => {
                self.seen
                    .push_str(&String::from_utf8_lossy(&bytes).replace("\r\n", "\n"));
                true
            }
            Err(RecvTimeoutError::Timeout) => true,
            Err(RecvTimeoutError::Disconnected) => false,
        }
    }

    /// Waits (20 s at most) until `text` is printed after what the last
    /// `expect` matched; returns what was printed up to and including it.
    pub fn expect(&mut self, text: &str) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            if let Some(at) = self.seen[self.cursor..].find(text) {
                let end = self.cursor + at + text.len();
                let got = self.seen[self.cursor..end].to_owned();
                self.cursor = end;
                return got;
            }
            let open = self.pull(std::time::Duration::from_millis(200));
            assert!(
                open && std::time::Instant::now() < deadline,
                "{text:?} not printed ({}); so far:\n{}",
                if open {
                    "timed out"
                } else {
                    "the program ended"
                },
                self.seen
            );
        }
    }

    /// Types `line` and Enter.
    pub fn send(&mut self, line: &str) {
        use std::io::Write;
        let input = self.input.as_mut().unwrap();
        input.write_all(line.as_bytes()).unwrap();
        input.write_all(b"\n").unwrap();
        input.flush().unwrap();
    }

    /// Waits for the program to end; its exit code and everything printed.
    pub fn finish(mut self) -> (i32, String) {
        drop(self.input.take());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "still running:\n{}",
                self.seen
            );
            self.pull(std::time::Duration::from_millis(100));
        };
        // The rest of the output, until the terminal closes.
        let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while self.pull(std::time::Duration::from_millis(100)) && std::time::Instant::now() < until
        {
        }
        (status.code().unwrap_or(-1), self.seen)
    }
}
