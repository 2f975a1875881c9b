//! A real anvil node on a free loopback port, killed on drop, with the
//! cheat-code and token calls tests need.

use crate::{keys::dev, paths::tools_dir, paths::workspace_root};
use coldsign_core::Address;
use serde_json::{json, Value};
use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// A running anvil, killed on drop.
pub struct Anvil {
    child: Child,
    /// Its JSON-RPC URL.
    pub url: String,
}

impl Anvil {
    /// Starts anvil on a free loopback port and waits for it to answer.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts anvil with extra command-line options (`--hardfork berlin`,
    /// `--no-mining`, `--gas-limit N`, ...).
    pub fn start_with(extra: &[&str]) -> Self {
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
            .args(extra)
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
        // Before London (`--hardfork berlin`) anvil takes only legacy pricing.
        let latest = self.rpc("eth_getBlockByNumber", json!(["latest", false]));
        if latest.get("baseFeePerGas").is_none() {
            tx["gasPrice"] = self.rpc("eth_gasPrice", json!([]));
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
        let bin = std::fs::read_to_string(workspace_root().join("fixtures/erc20/TestToken.bin"))
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
