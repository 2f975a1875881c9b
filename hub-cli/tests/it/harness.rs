//! Test harness: one world per test (anvil and a fresh database from the
//! shared test kit `coldsign-e2e`), the real `hub-cli` binary, and signing
//! with anvil's well-known, PUBLIC and INSECURE dev keys.

pub use coldsign_e2e::{
    address_of, dev, key, Anvil, Backend, Fault, FaultProxy, TestDb, DEV_KEYS, ETH, UNFUNDED_KEY,
};

use coldsign_core::{
    address_proof::{AddressProof, WalletFingerprint},
    batch::{signed_file_name_for, SignedBatch, UnsignedBatch},
    Address,
};
use k256::ecdsa::SigningKey;
use serde_json::{json, Value};
use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

/// The BIP32 fingerprint of the development wallet (the PUBLIC mnemonic
/// anvil's dev keys come from), as `signer` prints it.
pub const DEV_FINGERPRINT: &str = "16a93ed0";

/// One test's world: anvil, database, working directory and the hub binary.
pub struct World {
    /// A fault-injecting proxy the hub talks to instead of anvil, if any
    /// (dropped first).
    pub proxy: Option<FaultProxy>,
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
        Self::with_node(backend, confirmations, &[])
    }

    /// A fresh world whose anvil gets extra options (`--hardfork berlin`, ...).
    pub fn with_node(backend: Backend, confirmations: u64, anvil_options: &[&str]) -> Self {
        Self::setup(backend, confirmations, anvil_options, false)
    }

    /// A fresh world whose hub talks to anvil through a [`FaultProxy`]
    /// (`w.proxy`), with no fault on yet.
    pub fn behind_proxy(backend: Backend, confirmations: u64) -> Self {
        Self::setup(backend, confirmations, &[], true)
    }

    fn setup(backend: Backend, confirmations: u64, anvil_options: &[&str], proxy: bool) -> Self {
        let anvil = Anvil::start_with(anvil_options);
        let proxy = proxy.then(|| FaultProxy::start(&anvil.url));
        let dir = tempfile::tempdir().expect("tempdir");
        let db = TestDb::new(backend, dir.path());
        let w = Self {
            proxy,
            anvil,
            db,
            dir,
        };
        let node = w
            .proxy
            .as_ref()
            .map_or(w.anvil.url.clone(), |p| p.url.clone());
        w.ok(&["migrate"]);
        w.ok(&[
            "chain",
            "add",
            "local",
            "--chain-id",
            "31337",
            "--rpc",
            &node,
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

    /// Registers the test token (fixtures/erc20) as `TUSD` with 6 decimals on `local`.
    pub fn add_token(&self, token: Address) {
        let contract = token.to_string();
        self.ok(&[
            "token",
            "add",
            "--chain",
            "local",
            "--symbol",
            "TUSD",
            "--contract",
            &contract,
            "--decimals",
            "6",
        ]);
    }

    /// `batch create --chain local --all-pending --auto-build`; returns the batch id.
    pub fn create_batch(&self) -> String {
        let args = [
            "batch",
            "create",
            "--chain",
            "local",
            "--all-pending",
            "--auto-build",
        ];
        self.ok(&args).trim().to_owned()
    }

    /// `batch sync ID --wait` (60 s at most, polling every second); requires success.
    pub fn sync_wait(&self, id: &str) {
        let args = [
            "batch",
            "sync",
            id,
            "--wait",
            "--timeout",
            "60",
            "--interval",
            "1",
        ];
        self.ok(&args);
    }

    /// Registers dev accounts (and other keys) as cold addresses on `local`,
    /// as addresses of the development wallet ([`DEV_FINGERPRINT`]).
    pub fn import_keys(&self, keys: &[&SigningKey]) {
        self.import_keys_of(DEV_FINGERPRINT, keys);
    }

    /// Registers `keys` as cold addresses on `local`, as addresses of the
    /// wallet `fingerprint`: the file `signer addresses --json` writes,
    /// with a real proof of possession per address.
    pub fn import_keys_of(&self, fingerprint: &str, keys: &[&SigningKey]) {
        let path = self.write_address_file(fingerprint, keys);
        self.ok(&[
            "address",
            "import",
            path.to_str().expect("path"),
            "--chain",
            "local",
        ]);
    }

    /// Writes `addresses.json` as `signer addresses --json` prints it (its
    /// versioned envelope) for `keys`, each entry with its proof of
    /// possession for `fingerprint`, signed by the key (core's message
    /// construction, as the signer signs it). A dev account keeps its index
    /// in the development wallet; another key gets index 100 + its position.
    pub fn write_address_file(&self, fingerprint: &str, keys: &[&SigningKey]) -> PathBuf {
        let fp: WalletFingerprint = fingerprint.parse().expect("fingerprint");
        let entries: Vec<Value> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let index = DEV_KEYS
                    .iter()
                    .position(|d| key(d).to_bytes() == k.to_bytes())
                    .unwrap_or(100 + i);
                let path = format!("m/44'/60'/0'/0/{index}");
                let address = address_of(k);
                let proof = AddressProof::sign(k, &fp, &path, &address).expect("proof");
                json!({
                    "index": index,
                    "path": path,
                    "address": address.to_string(),
                    "public_key": format!("0x{}", hex::encode(k.verifying_key().to_encoded_point(true).as_bytes())),
                    "proof": proof.to_hex(),
                })
            })
            .collect();
        let path = self.dir.path().join("addresses.json");
        let file = json!({
            "schema_version": 1,
            "success": true,
            "data": {"account": 0, "addresses": entries, "fingerprint": fingerprint,
                     "xpub": "xpub-not-checked-by-the-hub"},
        });
        std::fs::write(&path, file.to_string()).expect("write");
        path
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
        std::fs::create_dir_all(&out).expect("create the USB folder");
        let data = self.json(&["batch", "export", id, "--out", out.to_str().expect("path")]);
        PathBuf::from(data["file"].as_str().expect("file"))
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

    /// The proxy in front of the node (a world made by [`World::behind_proxy`]).
    pub fn proxy(&self) -> &FaultProxy {
        self.proxy.as_ref().expect("a world behind a proxy")
    }

    /// Broadcasts every signed transaction of every signed file under the
    /// working directory straight to the node, as an attacker holding a copy
    /// of the USB stick would, mines a block, and returns how many the node
    /// accepted.
    pub fn replay_every_signed_file(&self) -> usize {
        let mut accepted = 0;
        let mut files = Vec::new();
        collect_signed(self.dir.path(), &mut files);
        assert!(!files.is_empty(), "no signed file to replay");
        for f in files {
            for item in read_signed(&f).items {
                let raw = format!("0x{}", hex::encode(&item.raw_transaction));
                let body = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction", "params": [raw]});
                let answer: Value = ureq::post(&self.anvil.url)
                    .send_json(body)
                    .expect("anvil answers")
                    .into_json()
                    .expect("JSON");
                accepted += usize::from(answer.get("result").is_some());
            }
        }
        self.anvil.mine(1);
        accepted
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

fn collect_signed(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_signed(&p, out);
        } else if p.to_string_lossy().ends_with("_signed.json") {
            out.push(p);
        }
    }
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
