//! Test harness: anvil per test on a free port, a fresh database per test
//! (SQLite file or PostgreSQL database), the real `hub-cli` binary, and
//! signing with anvil's well-known dev keys.
//!
//! The dev keys below are anvil's default accounts, derived from the public
//! mnemonic "test test test test test test test test test test test junk".
//! They are PUBLIC and INSECURE: never use them for anything but tests.

use coldsign_core::{
    batch::{signed_file_name_for, SignedBatch, UnsignedBatch},
    Address,
};
use k256::ecdsa::SigningKey;
use serde_json::{json, Value};
use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

/// anvil's default dev private keys (public, insecure), accounts 0..=5.
pub const DEV_KEYS: [&str; 6] = [
    "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
];

/// A public, insecure key of an account anvil does not fund.
pub const UNFUNDED_KEY: &str = "1111111111111111111111111111111111111111111111111111111111111111";

/// 1 ETH in wei.
pub const ETH: u128 = 1_000_000_000_000_000_000;

/// A signing key from hex.
pub fn key(hex_key: &str) -> SigningKey {
    SigningKey::from_slice(&hex::decode(hex_key).expect("hex")).expect("key")
}

/// The address of a key.
pub fn address_of(k: &SigningKey) -> Address {
    Address::from_verifying_key(k.verifying_key())
}

/// Anvil dev account `i`.
pub fn dev(i: usize) -> (SigningKey, Address) {
    let k = key(DEV_KEYS[i]);
    let a = address_of(&k);
    (k, a)
}

fn tools_dir() -> PathBuf {
    match std::env::var_os("COLDSIGN_TOOLS") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools"),
    }
}

/// A running anvil, killed on drop.
pub struct Anvil {
    child: Child,
    /// Its JSON-RPC URL.
    pub url: String,
}

impl Anvil {
    /// Starts anvil on a free loopback port and waits for it to answer.
    pub fn start() -> Self {
        let bin = tools_dir().join("bin/anvil");
        assert!(
            bin.exists(),
            "anvil not found at {}: run `just tools`",
            bin.display()
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let child = Command::new(&bin)
            .args(["--port", &port.to_string(), "--silent"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn anvil");
        let anvil = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let start = Instant::now();
        loop {
            if anvil.try_rpc("eth_chainId", json!([])).is_ok() {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "anvil did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        anvil
    }

    fn try_rpc(&self, method: &str, params: Value) -> Result<Value, String> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let resp: Value = ureq::post(&self.url)
            .send_json(body)
            .map_err(|e| e.to_string())?
            .into_json()
            .map_err(|e| e.to_string())?;
        if let Some(e) = resp.get("error") {
            return Err(e.to_string());
        }
        Ok(resp["result"].clone())
    }

    /// Calls a method; panics on error.
    pub fn rpc(&self, method: &str, params: Value) -> Value {
        self.try_rpc(method, params)
            .unwrap_or_else(|e| panic!("{method} failed: {e}"))
    }

    /// Mines `n` blocks.
    pub fn mine(&self, n: u64) {
        self.rpc("anvil_mine", json!([format!("{n:#x}")]));
    }

    /// Sets an account's balance in wei.
    pub fn set_balance(&self, who: Address, wei: u128) {
        self.rpc(
            "anvil_setBalance",
            json!([who.to_string(), format!("{wei:#x}")]),
        );
    }

    /// Native balance in wei.
    pub fn balance(&self, who: Address) -> u128 {
        let v = self.rpc("eth_getBalance", json!([who.to_string(), "latest"]));
        u128::from_str_radix(v.as_str().expect("str").trim_start_matches("0x"), 16).expect("hex")
    }

    /// Nonce at `latest`.
    pub fn nonce(&self, who: Address) -> u64 {
        let v = self.rpc(
            "eth_getTransactionCount",
            json!([who.to_string(), "latest"]),
        );
        u64::from_str_radix(v.as_str().expect("str").trim_start_matches("0x"), 16).expect("hex")
    }

    /// Sends a transaction from unlocked dev account 0 and waits for its receipt.
    pub fn send_from_dev0(&self, to: Option<Address>, data: &[u8]) -> Value {
        let mut tx =
            json!({"from": dev(0).1.to_string(), "data": format!("0x{}", hex::encode(data))});
        if let Some(to) = to {
            tx["to"] = json!(to.to_string());
        }
        let hash = self.rpc("eth_sendTransaction", json!([tx]));
        let receipt = self.wait_receipt(&hash);
        assert_eq!(
            receipt["status"], "0x1",
            "dev transaction failed: {receipt}"
        );
        receipt
    }

    /// Waits for a transaction's receipt (anvil mines asynchronously).
    pub fn wait_receipt(&self, hash: &Value) -> Value {
        let start = Instant::now();
        loop {
            let r = self.rpc("eth_getTransactionReceipt", json!([hash]));
            if !r.is_null() {
                return r;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "no receipt for {hash}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Deploys the test ERC-20 (fixtures/erc20) and returns its address.
    pub fn deploy_token(&self) -> Address {
        let bin = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/erc20/TestToken.bin"),
        )
        .expect("TestToken.bin");
        let code = hex::decode(bin.trim()).expect("bytecode hex");
        let receipt = self.send_from_dev0(None, &code);
        receipt["contractAddress"]
            .as_str()
            .expect("contract address")
            .parse()
            .expect("address")
    }

    /// Mints test tokens (base units) to `to`.
    pub fn mint(&self, token: Address, to: Address, amount: u128) {
        let mut data = selector("mint(address,uint256)").to_vec();
        data.extend_from_slice(&word_address(to));
        data.extend_from_slice(&word_u128(amount));
        self.send_from_dev0(Some(token), &data);
    }

    /// Makes every later transfer from `who` revert.
    pub fn freeze(&self, token: Address, who: Address) {
        let mut data = selector("freeze(address)").to_vec();
        data.extend_from_slice(&word_address(who));
        self.send_from_dev0(Some(token), &data);
    }

    /// Token balance in base units.
    pub fn token_balance(&self, token: Address, who: Address) -> u128 {
        let mut data = selector("balanceOf(address)").to_vec();
        data.extend_from_slice(&word_address(who));
        let v = self.rpc(
            "eth_call",
            json!([{"to": token.to_string(), "data": format!("0x{}", hex::encode(data))}, "latest"]),
        );
        u128::from_str_radix(v.as_str().expect("str").trim_start_matches("0x"), 16).expect("hex")
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn selector(sig: &str) -> [u8; 4] {
    let h = coldsign_core::keccak256(sig.as_bytes());
    [h.0[0], h.0[1], h.0[2], h.0[3]]
}

fn word_address(a: Address) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[12..].copy_from_slice(&a.0);
    w
}

fn word_u128(v: u128) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[16..].copy_from_slice(&v.to_be_bytes());
    w
}

/// The storage a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in the test's directory.
    Sqlite,
    /// A fresh PostgreSQL database, dropped afterwards.
    Postgres,
}

fn pg_admin_url() -> String {
    std::env::var("COLDSIGN_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A test's database.
pub struct TestDb {
    /// What `--db` gets.
    pub url: String,
    pg_name: Option<String>,
}

impl TestDb {
    fn new(backend: Backend, dir: &Path) -> Self {
        match backend {
            Backend::Sqlite => Self {
                url: dir.join("hub.db").display().to_string(),
                pg_name: None,
            },
            Backend::Postgres => {
                static N: AtomicU64 = AtomicU64::new(0);
                let name = format!(
                    "hub_test_{}_{}_{}",
                    std::process::id(),
                    N.fetch_add(1, Ordering::SeqCst),
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.subsec_nanos())
                        .unwrap_or_default()
                );
                let mut admin = postgres::Client::connect(&pg_admin_url(), postgres::NoTls)
                    .unwrap_or_else(|e| {
                        panic!(
                            "PostgreSQL at {} is needed by the postgres tests: {e}",
                            pg_admin_url()
                        )
                    });
                admin
                    .batch_execute(&format!("CREATE DATABASE {name}"))
                    .expect("create database");
                let base = pg_admin_url();
                let prefix = &base[..base.rfind('/').expect("url has a database")];
                Self {
                    url: format!("{prefix}/{name}"),
                    pg_name: Some(name),
                }
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = &self.pg_name {
            if let Ok(mut admin) = postgres::Client::connect(&pg_admin_url(), postgres::NoTls) {
                let _ =
                    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}

/// One test's world: anvil, database, working directory and the hub binary.
pub struct World {
    /// The node.
    pub anvil: Anvil,
    /// The database (dropped before the directory).
    pub db: TestDb,
    /// The working directory.
    pub dir: tempfile::TempDir,
}

/// What a hub run gave.
pub struct Run {
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    fn from(o: Output) -> Self {
        Self {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl World {
    /// A fresh world, migrated, with chain `local` (given confirmations).
    pub fn new(backend: Backend, confirmations: u64) -> Self {
        let anvil = Anvil::start();
        let dir = tempfile::tempdir().expect("tempdir");
        let db = TestDb::new(backend, dir.path());
        let w = Self { anvil, db, dir };
        w.ok(&["migrate"]);
        w.ok(&[
            "chain",
            "add",
            "local",
            "--chain-id",
            "31337",
            "--rpc",
            &w.anvil.url,
            "--confirmations",
            &confirmations.to_string(),
        ]);
        w
    }

    /// The hub command with `--db` set, in the working directory.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_hub-cli"));
        c.args(args)
            .arg("--db")
            .arg(&self.db.url)
            .current_dir(self.dir.path())
            .env("HUB_OPERATOR", "test")
            .env_remove("HUB_DATABASE_URL");
        c
    }

    /// Runs the hub.
    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command(args).output().expect("run hub-cli"))
    }

    /// Runs the hub and requires success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert_eq!(
            r.code, 0,
            "hub-cli {args:?} failed:\nstdout: {}\nstderr: {}",
            r.stdout, r.stderr
        );
        r.stdout
    }

    /// Runs the hub and requires exit code `code`; returns the run.
    pub fn fails(&self, args: &[&str], code: i32) -> Run {
        let r = self.run(args);
        assert_eq!(
            r.code, code,
            "hub-cli {args:?}: expected exit {code}:\nstdout: {}\nstderr: {}",
            r.stdout, r.stderr
        );
        r
    }

    /// Runs with `--json`, requires success, returns `data`.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.push("--json");
        let out = self.ok(&a);
        let v: Value = serde_json::from_str(out.lines().last().unwrap_or_default())
            .unwrap_or_else(|e| panic!("not JSON ({e}): {out}"));
        assert_eq!(v["schema_version"], 1);
        assert_eq!(v["success"], true);
        v["data"].clone()
    }

    /// Registers dev accounts (and other keys) as cold addresses on `local`.
    pub fn import_keys(&self, keys: &[&SigningKey]) {
        let entries: Vec<Value> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let index = DEV_KEYS
                    .iter()
                    .position(|d| key(d).to_bytes() == k.to_bytes())
                    .unwrap_or(100 + i);
                json!({
                    "index": index,
                    "path": format!("m/44'/60'/0'/0/{index}"),
                    "address": address_of(k).to_string(),
                    "public_key": format!("0x{}", hex::encode(k.verifying_key().to_encoded_point(true).as_bytes())),
                })
            })
            .collect();
        let path = self.dir.path().join("addresses.json");
        // The shape `signer addresses --json` prints: its versioned envelope.
        let file = json!({
            "schema_version": 1,
            "success": true,
            "data": {"account": 0, "xpub": "xpub-not-checked-by-the-hub", "addresses": entries},
        });
        std::fs::write(&path, file.to_string()).expect("write");
        self.ok(&[
            "address",
            "import",
            path.to_str().expect("path"),
            "--chain",
            "local",
        ]);
    }

    /// Writes orders as CSV and imports them.
    pub fn import_orders(&self, rows: &[(&str, &str, Address, Address, &str)]) {
        let mut csv = String::from("order_id,chain,asset,from,to,amount\n");
        for (id, asset, from, to, amount) in rows {
            csv.push_str(&format!("{id},local,{asset},{from},{to},{amount}\n"));
        }
        let path = self.dir.path().join("orders.csv");
        std::fs::write(&path, csv).expect("write");
        self.ok(&["order", "import", path.to_str().expect("path")]);
    }

    /// Exports batch `id` and returns the unsigned file's path.
    pub fn export(&self, id: &str) -> PathBuf {
        let out = self.dir.path().join("usb");
        let data = self.json(&["batch", "export", id, "--out", out.to_str().expect("path")]);
        PathBuf::from(data["file"].as_str().expect("file"))
    }

    /// Runs SQL directly on the hub's database (to simulate a crash).
    pub fn sql(&self, backend: Backend, sql: &str) {
        match backend {
            Backend::Sqlite => {
                rusqlite::Connection::open(&self.db.url)
                    .expect("open")
                    .execute_batch(sql)
                    .expect("sql");
            }
            Backend::Postgres => {
                postgres::Client::connect(&self.db.url, postgres::NoTls)
                    .expect("connect")
                    .batch_execute(sql)
                    .expect("sql");
            }
        }
    }

    /// Batch state.
    pub fn batch_state(&self, id: &str) -> String {
        self.json(&["batch", "show", id])["state"]
            .as_str()
            .expect("state")
            .to_owned()
    }

    /// Item states by order id.
    pub fn item_state(&self, id: &str, order: &str) -> String {
        let data = self.json(&["batch", "show", id]);
        data["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|i| i["order_id"] == order)
            .unwrap_or_else(|| panic!("order {order} not in batch {id}"))["state"]
            .as_str()
            .expect("state")
            .to_owned()
    }

    /// Order state.
    pub fn order_state(&self, order: &str) -> String {
        self.json(&["order", "show", order])["state"]
            .as_str()
            .expect("state")
            .to_owned()
    }
}

/// Signs an unsigned batch file with the given keys, as the cold signer
/// would, and writes the signed file next to it. Returns its path.
pub fn sign_file(unsigned_path: &Path, keys: &[&SigningKey]) -> PathBuf {
    let text = std::fs::read_to_string(unsigned_path).expect("read unsigned");
    let unsigned = UnsignedBatch::parse(&text).expect("valid unsigned batch");
    let signed: Vec<_> = unsigned
        .items()
        .iter()
        .map(|item| {
            let k = keys
                .iter()
                .find(|k| address_of(k) == item.from())
                .unwrap_or_else(|| panic!("no key for {}", item.from()));
            item.transaction().clone().sign(k).expect("sign")
        })
        .collect();
    let batch = SignedBatch::from_signed_transactions(&unsigned, &signed);
    let name = signed_file_name_for(
        unsigned_path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("name"),
    )
    .expect("signed name");
    let path = unsigned_path.with_file_name(name);
    std::fs::write(&path, batch.to_json()).expect("write signed");
    path
}

/// Parses and returns a signed file for editing.
pub fn read_signed(path: &Path) -> SignedBatch {
    SignedBatch::parse(&std::fs::read_to_string(path).expect("read")).expect("parse")
}

/// A recipient address without code.
pub fn recipient(n: u8) -> Address {
    let mut a = [0u8; 20];
    a[0] = 0xde;
    a[19] = n;
    Address(a)
}
