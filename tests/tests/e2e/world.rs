//! One end-to-end world per test: a real anvil node, a fresh hub database
//! (SQLite or PostgreSQL), a hub working folder, a "USB stick" folder and a
//! signer home, with the real `hub-cli` and `signer` binaries run from the
//! command lines of `docs/runbook.md`.
//!
//! Runbook commands are written in the tests exactly as in the runbook, with
//! its placeholders (`<BATCH>`, `<USB>`, ...). [`World::run`] refuses a
//! command that is not in the runbook, substitutes the placeholders, and runs
//! the binary; `runbook_commands_are_all_exercised` (main.rs) checks the other
//! direction. Everything else a test does (funding, tampering, reading state
//! with `--json`) goes through plain helpers that are not runbook steps.
//!
//! The signer keystores are made from the PUBLIC development mnemonic or a
//! fresh throw-away one, with the signer's insecure test-only KDF: nothing
//! here is a secret.

use coldsign_core::Address;
use coldsign_e2e::{binary, workspace_root, Anvil, Backend, TestDb, DEV_MNEMONIC};
use serde_json::{json, Value};
use std::{
    cell::RefCell,
    collections::BTreeMap,
    io::{Read, Write},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, OnceLock,
    },
    time::Duration,
};

/// Exit codes of hub-cli (docs/hub.md).
pub mod hub_exit {
    /// Wrong state for the command.
    pub const CONFLICT: i32 = 5;
    /// Signed file refused: SIGNATURE_ERROR.
    pub const SIGNATURE: i32 = 8;
    /// BLOCKED, BROADCAST_ERROR, or `sync --wait` stopped on an exception.
    pub const NEEDS_OPERATOR: i32 = 9;
}

/// Exit codes of signer (docs/signer.md).
pub mod signer_exit {
    /// Bad or tampered input.
    pub const BAD_INPUT: i32 = 5;
    /// Refused by policy.
    pub const POLICY: i32 = 6;
}

/// The chain name the runbook uses.
pub const CHAIN: &str = "eth";
/// The token symbol the runbook uses (the test ERC-20 plays it).
pub const TOKEN: &str = "USDT";
/// The password of every test keystore (in a file, as the runbook does). Not a secret.
const PASSWORD: &str = "e2e test password, not a secret";

/// The command lines of `docs/runbook.md`: every line of a ```sh block that
/// starts with `hub-cli ` or `signer `, without a trailing `# comment`.
pub fn runbook_commands() -> &'static [String] {
    static COMMANDS: OnceLock<Vec<String>> = OnceLock::new();
    COMMANDS.get_or_init(|| {
        let path = workspace_root().join("docs/runbook.md");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        parse_runbook(&text)
    })
}

/// Extracts the command lines from the runbook's text.
pub fn parse_runbook(text: &str) -> Vec<String> {
    let mut in_sh = false;
    let mut out = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if let Some(info) = t.strip_prefix("```") {
            in_sh = !in_sh && info.trim() == "sh";
            continue;
        }
        if !in_sh {
            continue;
        }
        let cmd = match t.find(" #") {
            Some(at) => t[..at].trim_end(),
            None => t,
        };
        if cmd.starts_with("hub-cli ") || cmd.starts_with("signer ") {
            assert!(
                !cmd.ends_with('\\') && !cmd.contains(['"', '\'', '$', '|', ';', '&']),
                "runbook command must be one plain line without quotes or shell syntax: {cmd}"
            );
            if !out.iter().any(|c| c == cmd) {
                out.push(cmd.to_owned());
            }
        }
    }
    out
}

/// What a command gave.
#[derive(Debug)]
pub struct Out {
    /// Exit code.
    pub code: i32,
    /// Standard output (empty when redirected to a file).
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Mines a block every 200 ms until dropped, so `batch sync --wait` always
/// sees its confirmations come.
pub struct Miner {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Miner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One test's world.
pub struct World {
    /// The node.
    pub anvil: Anvil,
    /// The hub database (dropped before the folder).
    pub db: TestDb,
    /// Confirmations the chain is registered with.
    pub confirmations: u64,
    /// The test ERC-20, once deployed.
    pub token: Option<Address>,
    /// Root folder: `hub/`, `usb/`, `cold/` (the signer's HOME).
    pub dir: tempfile::TempDir,
    vars: RefCell<BTreeMap<String, String>>,
}

impl World {
    /// A fresh world: anvil, an empty database, the folders, the signer's
    /// password file. No command has run yet.
    pub fn new(backend: Backend, confirmations: u64) -> Self {
        let anvil = Anvil::start();
        let dir = tempfile::tempdir().expect("tempdir");
        let db = TestDb::new(backend, dir.path());
        for d in ["hub", "usb", "cold", "cold/secure"] {
            std::fs::create_dir_all(dir.path().join(d)).expect("mkdir");
        }
        let password_file = dir.path().join("cold/secure/password.txt");
        std::fs::write(&password_file, format!("{PASSWORD}\n")).expect("write");
        let w = Self {
            anvil,
            db,
            confirmations,
            token: None,
            dir,
            vars: RefCell::new(BTreeMap::new()),
        };
        let chain_id = w.anvil.rpc("eth_chainId", json!([]));
        let chain_id =
            u64::from_str_radix(chain_id.as_str().expect("str").trim_start_matches("0x"), 16)
                .expect("hex");
        w.set("CHAIN_ID", chain_id);
        w.set("RPC_URL", &w.anvil.url);
        w.set("CONFIRMATIONS", confirmations);
        w.set("USB", w.usb().display());
        w.set("PASSWORD_FILE", password_file.display());
        w.set(
            "MNEMONIC_FILE",
            w.dir.path().join("cold/secure/mnemonic.txt").display(),
        );
        w
    }

    /// The standard world most scenarios start from: the hub set up with the
    /// test token as USDT, the signer restored from the PUBLIC development
    /// mnemonic (so its addresses m/44'/60'/0'/0/i are anvil's funded dev
    /// accounts) with a policy, and 100 of its addresses registered in the hub.
    pub fn standard(backend: Backend, confirmations: u64) -> Self {
        let mut w = Self::new(backend, confirmations);
        w.deploy_token();
        w.hub_setup();
        w.restore_signer(DEV_MNEMONIC);
        w.write_policy();
        w.export_and_import_addresses();
        w
    }

    /// The hub's working folder (where `orders.csv` is written).
    pub fn hub_dir(&self) -> PathBuf {
        self.dir.path().join("hub")
    }

    /// The folder playing the removable medium carried between the machines.
    pub fn usb(&self) -> PathBuf {
        self.dir.path().join("usb")
    }

    /// The signer's data folder (the default keystore location under its HOME).
    pub fn signer_data(&self) -> PathBuf {
        self.dir.path().join("cold/.local/share/coldsign")
    }

    /// Sets a placeholder's value.
    pub fn set(&self, name: &str, value: impl std::fmt::Display) {
        let value = value.to_string();
        assert!(
            !value.is_empty() && !value.contains(char::is_whitespace),
            "placeholder {name} must be one word: {value:?}"
        );
        self.vars.borrow_mut().insert(name.to_owned(), value);
    }

    /// A placeholder's value.
    pub fn var(&self, name: &str) -> String {
        self.vars
            .borrow()
            .get(name)
            .unwrap_or_else(|| panic!("placeholder <{name}> is not set"))
            .clone()
    }

    /// The template with every `<NAME>` replaced by its value.
    pub fn expand(&self, template: &str) -> String {
        let mut out = String::new();
        let mut rest = template;
        while let Some(open) = rest.find('<') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let close = after
                .find('>')
                .unwrap_or_else(|| panic!("unclosed placeholder in {template}"));
            let name = &after[..close];
            assert!(
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'),
                "bad placeholder <{name}> in {template}"
            );
            out.push_str(&self.var(name));
            rest = &after[close + 1..];
        }
        out.push_str(rest);
        out
    }

    fn command(&self, template: &str) -> (Command, Option<PathBuf>) {
        assert!(
            runbook_commands().iter().any(|c| c == template),
            "not a command of docs/runbook.md (add it there, verbatim): {template}"
        );
        let line = self.expand(template);
        let mut words: Vec<&str> = line.split_whitespace().collect();
        let mut redirect = None;
        if let Some(at) = words.iter().position(|w| *w == ">") {
            assert_eq!(at + 2, words.len(), "`> FILE` must end the command: {line}");
            redirect = Some(PathBuf::from(words[at + 1]));
            words.truncate(at);
        }
        let program = words[0];
        let mut c = Command::new(binary(program));
        c.args(&words[1..]);
        match program {
            "hub-cli" => {
                c.current_dir(self.hub_dir())
                    .env("HUB_DATABASE_URL", &self.db.url)
                    .env("HUB_OPERATOR", "runbook-e2e");
            }
            "signer" => {
                // The air-gapped machine: nothing from this environment but
                // PATH; the keystore at its default place under HOME. The
                // KDF switch is for tests only (docs/signer.md).
                let home = self.dir.path().join("cold");
                c.env_clear()
                    .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                    .env("HOME", &home)
                    .env("SIGNER_INSECURE_KDF_FOR_TESTS", "1")
                    .current_dir(&home);
            }
            other => panic!("unknown program {other}"),
        }
        (c, redirect)
    }

    /// Runs a runbook command and requires exit code `code`.
    pub fn run_code(&self, template: &str, code: i32) -> Out {
        self.run_input(template, "", code)
    }

    /// Runs a runbook command and requires success.
    pub fn run(&self, template: &str) -> Out {
        self.run_code(template, 0)
    }

    /// Runs a runbook command with `input` on standard input (what the
    /// operator types) and requires exit code `code`.
    pub fn run_input(&self, template: &str, input: &str, code: i32) -> Out {
        let (mut c, redirect) = self.command(template);
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("spawn");
        let mut stdin = child.stdin.take().expect("stdin");
        let input = input.to_owned();
        let feeder = std::thread::spawn(move || {
            let _ = stdin.write_all(input.as_bytes());
        });
        let o = child.wait_with_output().expect("wait");
        feeder.join().expect("stdin feeder");
        let out = Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        };
        assert_eq!(
            out.code,
            code,
            "`{}`: expected exit {code}\nstdout:\n{}\nstderr:\n{}",
            self.expand(template),
            out.stdout,
            out.stderr
        );
        if let Some(file) = redirect {
            std::fs::write(&file, &out.stdout).expect("write redirected output");
            return Out {
                stdout: String::new(),
                ..out
            };
        }
        out
    }

    /// Runs hub-cli with `--json` outside the runbook (the tests' way of
    /// reading state) and returns `data`.
    pub fn hub_json(&self, args: &[&str]) -> Value {
        let o = Command::new(binary("hub-cli"))
            .args(args)
            .arg("--json")
            .current_dir(self.hub_dir())
            .env("HUB_DATABASE_URL", &self.db.url)
            .output()
            .expect("run hub-cli");
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "hub-cli {args:?} --json failed: {stdout}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let v: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
            .unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"));
        assert_eq!(v["success"], true);
        v["data"].clone()
    }

    /// A batch's state.
    pub fn batch_state(&self, batch: &str) -> String {
        self.hub_json(&["batch", "show", batch])["state"]
            .as_str()
            .expect("state")
            .to_owned()
    }

    /// The item of `order` in `batch` (`batch show --json`).
    pub fn item(&self, batch: &str, order: &str) -> Value {
        self.hub_json(&["batch", "show", batch])["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|i| i["order_id"] == order)
            .unwrap_or_else(|| panic!("order {order} not in batch {batch}"))
            .clone()
    }

    /// The state of `order`'s item in `batch`.
    pub fn item_state(&self, batch: &str, order: &str) -> String {
        self.item(batch, order)["state"]
            .as_str()
            .expect("state")
            .to_owned()
    }

    /// An order's own state (PENDING, IN_BATCH, COMPLETED, FAILED).
    pub fn order_state(&self, order: &str) -> String {
        self.hub_json(&["order", "show", order])["state"]
            .as_str()
            .expect("state")
            .to_owned()
    }

    // ------------------------------------------------------------ set-up

    /// Deploys the test ERC-20 that plays USDT.
    pub fn deploy_token(&mut self) {
        let token = self.anvil.deploy_token();
        self.set("TOKEN_CONTRACT", token);
        self.token = Some(token);
    }

    /// The token's address.
    pub fn token(&self) -> Address {
        self.token.expect("token deployed")
    }

    /// Runbook: hub set-up (migrate, chain, token, and the lists).
    pub fn hub_setup(&self) {
        self.run("hub-cli migrate");
        self.run(
            "hub-cli chain add eth --chain-id <CHAIN_ID> --rpc <RPC_URL> --confirmations <CONFIRMATIONS>",
        );
        let chains = self.run("hub-cli chain list");
        assert!(chains.stdout.contains(CHAIN), "{}", chains.stdout);
        if self.token.is_some() {
            self.run(
                "hub-cli token add --chain eth --symbol USDT --contract <TOKEN_CONTRACT> --decimals 6",
            );
            let tokens = self.run("hub-cli token list");
            assert!(tokens.stdout.contains(TOKEN), "{}", tokens.stdout);
        }
    }

    /// Runbook: restore the signer's keystore from a mnemonic written on the
    /// paper backup (here a PUBLIC test mnemonic), then delete the file.
    pub fn restore_signer(&self, mnemonic: &str) {
        let file = PathBuf::from(self.var("MNEMONIC_FILE"));
        std::fs::write(&file, format!("{mnemonic}\n")).expect("write");
        let out =
            self.run("signer init --mnemonic-file <MNEMONIC_FILE> --password-file <PASSWORD_FILE>");
        assert!(out.stdout.contains("fingerprint"), "{}", out.stdout);
        std::fs::remove_file(&file).expect("rm");
        let info = self.run("signer info --password-file <PASSWORD_FILE>");
        assert!(info.stdout.contains("argon2id"), "{}", info.stdout);
        self.note_audit_head();
    }

    /// Runbook: create the keystore from a freshly generated mnemonic, on a
    /// terminal as the operator does (the signer shows new words only on
    /// one): a pseudo-terminal from util-linux `script`. Presses Enter once
    /// the words are "written down", checks the screen is cleared before
    /// the check, and types back the 4 words asked for.
    pub fn init_signer_generated(&self) {
        let (c, _) = self.command("signer init --words 24 --password-file <PASSWORD_FILE>");
        let mut t = Terminal::spawn(&c);
        let shown = t.expect("Press Enter once they are written down");
        let words: Vec<String> = shown
            .lines()
            .filter_map(|l| {
                let (n, w) = l.trim().split_once(". ")?;
                n.parse::<usize>().ok().map(|_| w.to_owned())
            })
            .collect();
        assert_eq!(words.len(), 24, "{shown}");
        t.send("");
        let cleared = t.expect("\u{1b}[2J\u{1b}[3J\u{1b}[H");
        assert!(!cleared.contains("word #"), "{cleared}");
        for _ in 0..4 {
            let asked = t.expect(": ");
            let k: usize = asked
                .rsplit("word #")
                .next()
                .and_then(|r| r.trim_end_matches(": ").parse().ok())
                .unwrap_or_else(|| panic!("not a word prompt: {asked}"));
            t.send(&words[k - 1]);
        }
        let (code, seen) = t.finish();
        assert_eq!(code, 0, "signer init failed: {seen}");
        assert!(self.signer_data().join("keystore.json").exists());
        let info = self.run("signer info --password-file <PASSWORD_FILE>");
        assert!(info.stdout.contains("fingerprint"), "{}", info.stdout);
        self.note_audit_head();
    }

    /// Writes the signing policy beside the keystore (runbook: "copy
    /// docs/policy.example.toml beside the keystore and edit it").
    pub fn write_policy(&self) {
        let token = self.token();
        let policy = format!(
            r#"allowed_chain_ids = [{chain_id}]
allowed_accounts = [0]
native_symbol = "ETH"
max_fee_per_gas_gwei = "200"
max_total_fee = "5"
allow_contract_creation = false
unlisted_assets = "refuse"

[assets.ETH]
token = "native"
max_per_tx = "10"
max_per_batch = "1000"

[assets.USDT]
token = "{token}"
decimals = 6
max_per_tx = "50000"
max_per_batch = "10000000"
"#,
            chain_id = self.var("CHAIN_ID")
        );
        std::fs::write(self.signer_data().join("policy.toml"), policy).expect("write policy");
    }

    /// Runbook: export the signer's addresses to the medium and register
    /// them in the hub. Returns them by index.
    pub fn export_and_import_addresses(&self) -> Vec<Address> {
        self.run("signer addresses --count 100 --json --password-file <PASSWORD_FILE> > <USB>/addresses.json");
        self.run("hub-cli address import <USB>/addresses.json --chain eth");
        let listed = self.run("hub-cli address list --chain eth");
        let addresses = self.cold_addresses();
        assert_eq!(addresses.len(), 100);
        assert!(
            listed.stdout.contains(&addresses[99].to_string()),
            "{}",
            listed.stdout
        );
        addresses
    }

    /// The signer's addresses from the exported file, by index.
    pub fn cold_addresses(&self) -> Vec<Address> {
        let text = std::fs::read_to_string(self.usb().join("addresses.json")).expect("read");
        let v: Value = serde_json::from_str(&text).expect("json");
        v["data"]["addresses"]
            .as_array()
            .expect("addresses")
            .iter()
            .map(|a| {
                a["address"]
                    .as_str()
                    .expect("str")
                    .parse()
                    .expect("address")
            })
            .collect()
    }

    // ------------------------------------------------------------ daily cycle

    /// Writes the hub's `orders.csv` (`order_id,chain,asset,from,to,amount`).
    pub fn write_orders(&self, rows: &[(&str, &str, Address, Address, &str)]) {
        let mut csv = String::from("order_id,chain,asset,from,to,amount\n");
        for (id, asset, from, to, amount) in rows {
            csv.push_str(&format!("{id},{CHAIN},{asset},{from},{to},{amount}\n"));
        }
        std::fs::write(self.hub_dir().join("orders.csv"), csv).expect("write orders");
    }

    /// Runbook: `order import orders.csv`.
    pub fn import_orders(&self, rows: &[(&str, &str, Address, Address, &str)]) {
        self.write_orders(rows);
        self.run("hub-cli order import orders.csv");
    }

    /// Takes the batch id a `batch create` printed, as `<BATCH>`.
    pub fn take_batch(&self, out: &Out) -> String {
        let id = out.stdout.trim().to_owned();
        assert!(
            !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()),
            "batch create printed {:?}",
            out.stdout
        );
        self.set("BATCH", &id);
        id
    }

    /// Runbook: `batch create --all-pending --auto-build`, expecting READY_FOR_SIGNATURE.
    pub fn create_batch(&self) -> String {
        let out = self.run("hub-cli batch create --chain eth --all-pending --auto-build");
        let id = self.take_batch(&out);
        assert_eq!(self.batch_state(&id), "READY_FOR_SIGNATURE");
        id
    }

    /// Runbook: `batch export` to the medium; sets `<DATE>` from the file name.
    pub fn export(&self) -> PathBuf {
        let out = self.run("hub-cli batch export <BATCH> --out <USB>");
        let path = PathBuf::from(out.stdout.trim());
        let name = path.file_name().and_then(|n| n.to_str()).expect("name");
        let batch = self.var("BATCH");
        let date = name
            .strip_prefix(&format!("batch_{batch}_"))
            .and_then(|r| r.strip_suffix("_unsigned.json"))
            .unwrap_or_else(|| panic!("unexpected file name {name}"));
        assert!(date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit()));
        self.set("DATE", date);
        assert_eq!(path, self.unsigned_file());
        path
    }

    /// `<USB>/batch_<BATCH>_<DATE>_unsigned.json`.
    pub fn unsigned_file(&self) -> PathBuf {
        PathBuf::from(self.expand("<USB>/batch_<BATCH>_<DATE>_unsigned.json"))
    }

    /// `<USB>/batch_<BATCH>_<DATE>_signed.json`.
    pub fn signed_file(&self) -> PathBuf {
        PathBuf::from(self.expand("<USB>/batch_<BATCH>_<DATE>_signed.json"))
    }

    /// Runbook, signer side: check the audit log against the logbook's head,
    /// review, sign (the operator types the batch id), verify, and note the
    /// new head (as `<HEAD>`).
    pub fn sign(&self) {
        // The log still holds the head written in the logbook last time.
        self.run("signer audit verify --expect-head <HEAD>");
        let review = self.run("signer inspect <USB>/batch_<BATCH>_<DATE>_unsigned.json");
        assert!(
            review.stdout.contains("policy.toml"),
            "the review names the policy: {}",
            review.stdout
        );
        let batch = self.var("BATCH");
        let out = self.run_input(
            "signer --sign <USB>/batch_<BATCH>_<DATE>_unsigned.json --password-file <PASSWORD_FILE>",
            &format!("{batch}\n"),
            0,
        );
        assert!(self.signed_file().exists(), "{}", out.stderr);
        self.run("signer verify <USB>/batch_<BATCH>_<DATE>_signed.json");
        self.note_audit_head();
    }

    /// Runbook: `signer audit verify`, keeping the head for the logbook.
    pub fn note_audit_head(&self) -> String {
        let out = self.run("signer audit verify");
        let head = out
            .stdout
            .split_whitespace()
            .last()
            .unwrap_or_default()
            .to_owned();
        assert!(head.starts_with("0x") && head.len() == 66, "{}", out.stdout);
        self.set("HEAD", &head);
        head
    }

    /// Runbook: the whole hub → USB → signer → USB round for `<BATCH>`:
    /// show, export, sign.
    pub fn export_and_sign(&self) {
        let shown = self.run("hub-cli batch show <BATCH>");
        assert!(
            shown.stdout.contains("READY_FOR_SIGNATURE"),
            "{}",
            shown.stdout
        );
        self.export();
        self.sign();
    }

    /// Mines the blocks the confirmations need, then keeps mining in the
    /// background until the returned guard is dropped.
    pub fn miner(&self) -> Miner {
        self.anvil.mine(self.confirmations + 1);
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let url = self.anvil.url.clone();
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                let _ = ureq::post(&url).send_json(
                    json!({"jsonrpc": "2.0", "id": 1, "method": "anvil_mine", "params": ["0x1"]}),
                );
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        Miner {
            stop,
            thread: Some(thread),
        }
    }

    /// Runbook: `batch sync --wait` until CLOSED (blocks mined meanwhile).
    pub fn wait_closed(&self) {
        let _miner = self.miner();
        let out = self.run("hub-cli batch sync <BATCH> --wait --timeout 600");
        assert!(out.stdout.contains("CLOSED"), "{}", out.stdout);
        drop(_miner);
        assert_eq!(self.batch_state(&self.var("BATCH")), "CLOSED");
    }

    /// Every order's state from `order list --json`.
    pub fn order_states(&self) -> BTreeMap<String, String> {
        self.hub_json(&["order", "list"])
            .as_array()
            .expect("orders")
            .iter()
            .map(|o| {
                (
                    o["order_id"].as_str().expect("id").to_owned(),
                    o["state"].as_str().expect("state").to_owned(),
                )
            })
            .collect()
    }
}

/// The test ERC-20 / native recipients: fresh addresses without code or balance.
pub fn recipient(n: u32) -> Address {
    let mut a = [0u8; 20];
    a[0] = 0xe2;
    a[1] = 0xe0;
    a[16..].copy_from_slice(&n.to_be_bytes());
    Address(a)
}

/// Reads a path as text.
pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// A runbook command running on a pseudo-terminal (util-linux `script`),
/// with the command's own environment and folder: what it printed, and a
/// way to answer its prompts once they appear.
pub struct Terminal {
    child: std::process::Child,
    input: Option<std::process::ChildStdin>,
    output: std::sync::mpsc::Receiver<Vec<u8>>,
    seen: String,
    cursor: usize,
}

impl Terminal {
    /// Runs `c` (program, arguments, environment, folder) under `script`.
    pub fn spawn(c: &Command) -> Self {
        let quote = |s: &std::ffi::OsStr| {
            let s = s.to_str().expect("UTF-8 argument");
            assert!(!s.contains('\''), "no quotes in runbook arguments: {s}");
            format!("'{s}'")
        };
        let mut line = quote(c.get_program());
        for a in c.get_args() {
            line.push(' ');
            line.push_str(&quote(a));
        }
        let mut s = Command::new("script");
        s.args(["-q", "-e", "-c", &line, "/dev/null"]).env_clear();
        for (k, v) in c.get_envs() {
            if let Some(v) = v {
                s.env(k, v);
            }
        }
        if let Some(dir) = c.get_current_dir() {
            s.current_dir(dir);
        }
        let mut child = s
            .env("TERM", "dumb")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("util-linux `script` runs the command on a pseudo-terminal");
        let mut out = child.stdout.take().expect("stdout");
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
    fn pull(&mut self, wait: Duration) -> bool {
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

    /// Waits (30 s at most) until `text` is printed after the last match;
    /// returns what was printed up to and including it.
    pub fn expect(&mut self, text: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(at) = self.seen[self.cursor..].find(text) {
                let end = self.cursor + at + text.len();
                let got = self.seen[self.cursor..end].to_owned();
                self.cursor = end;
                return got;
            }
            let open = self.pull(Duration::from_millis(200));
            assert!(
                open && std::time::Instant::now() < deadline,
                "{text:?} not printed; so far:\n{}",
                self.seen
            );
        }
    }

    /// Types `line` and Enter.
    pub fn send(&mut self, line: &str) {
        let input = self.input.as_mut().expect("input");
        input.write_all(line.as_bytes()).expect("type");
        input.write_all(b"\n").expect("type");
        input.flush().expect("type");
    }

    /// Waits for the command to end: its exit code and everything printed.
    pub fn finish(mut self) -> (i32, String) {
        drop(self.input.take());
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                break s;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "still running: {}",
                self.seen
            );
            self.pull(Duration::from_millis(100));
        };
        let until = std::time::Instant::now() + Duration::from_secs(5);
        while self.pull(Duration::from_millis(100)) && std::time::Instant::now() < until {}
        (status.code().unwrap_or(-1), self.seen)
    }
}
