//! The chain follower of `hub-cli serve` scanning a prepared chain, against
//! the node's raw throughput for the same JSON-RPC calls, measured in the
//! same run on the same node.
//!
//! **The chain.** On a fresh anvil: 2,000 blocks, each with 20 native ETH
//! transfers and 20 `transfer` calls of the test token (fixtures/erc20),
//! every one of them paying one of 100 watched deposit addresses: 40
//! deposits a block, 80,000 in all. It is built fast: automine off, each
//! block's 40 transactions sent with `eth_sendTransaction` from anvil's
//! unlocked dev accounts (explicit nonces, gas and fees, so the node
//! estimates nothing) in one JSON-RPC batch request, then `evm_mine`.
//!
//! **The follower.** A fresh hub (SQLite, and PostgreSQL when the tests'
//! server answers) watching the 100 addresses, the chain's
//! `scan_from_block` set to the first of the 2,000 blocks in the database
//! before `serve` starts, and the chain marked as having no `trace_block`
//! (`internal_transfers = 'none'`, as on a node without the trace API; the
//! calls are then exactly the peer's). Its time is the span of its rounds,
//! from the start of the first round that stored blocks to the end of the
//! one that stored the last block, from the follower's own log line
//! (`follower: stored blocks`, with each round's time and node wait). Then
//! `hub-cli deposit list` must hold every deposit with the right amounts.
//! Peak RSS (`VmHWM` of `/proc/PID/status`) of the serve process is read
//! once the follower has stored 500 blocks and again at the end: memory
//! stays flat if the two are close. The deposit addresses belong to a
//! tenant with a callback URL (a local receiver that answers 200), so
//! every deposit event goes through the outbox and the dispatcher claims
//! and delivers them while the follower writes, as in production.
//!
//! **The peer.** A minimal client in this file (ureq, `serde_json`), one
//! thread like the follower, making the follower's calls for the same
//! range as fast as it can: per 200-block range, `eth_getBlockByNumber`
//! with full transactions for each block (JSON-RPC batch requests of 100),
//! one `eth_getLogs` for the token's `Transfer` logs to the watched
//! addresses, and the receipts of the native deposits (batches of 100); it
//! parses every answer and checks the chain holds what was sent. These are
//! the follower's calls in fewer, larger requests (it reads runs of 50
//! blocks). It runs before and after each follower run, and each follower
//! run is compared with the mean of the two around it: the machine's load
//! changes over a run of a few minutes.
//!
//! Run with `cargo bench -p coldsign-hub --bench scanner` (builds `hub-cli`
//! too). Needs anvil (`just tools`). Prints a summary and writes the
//! markdown fragment `target/bench-report/scanner.md`; figures go to
//! `docs/benchmarks.md`. `SCANNER_BENCH_BLOCKS=N` changes the chain's
//! length, `SCANNER_BENCH_POSTGRES=0` leaves PostgreSQL out (`=1` requires
//! it), `SCANNER_BENCH_LOGS=DIR` keeps each serve's log in DIR,
//! `SCANNER_BENCH_WITNESS=1` gives the chain a witness node (a second
//! endpoint of the same anvil) that every confirmation reads too. Without `--bench` (`cargo test --benches`) it scans 200 blocks on
//! SQLite and writes no fragment.
#![allow(clippy::unwrap_used, clippy::expect_used)]

// The part of the hub benches' shared helpers that this bench uses: the
// rest of `common` (the batch setup on anvil, the CLI's node counters) it
// has no use for.
#[path = "common/cli.rs"]
mod cli;

use cli::{group, hex, last_bytes, load_note, write_fragment, Hub};
use coldsign_core::{keccak256, Address};
use coldsign_e2e::{cpu_model, load_average, Anvil, Backend, HttpSink, TestDb};
use serde_json::{json, Value};
use std::{
    collections::HashSet,
    fmt::Write as _,
    net::TcpListener,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// Blocks of the scanned chain.
const BLOCKS: u64 = 2_000;
/// Native ETH deposits in each block.
const ETH_PER_BLOCK: usize = 20;
/// Token deposits (`transfer` calls) in each block.
const TOKEN_PER_BLOCK: usize = 20;
/// Watched deposit addresses.
const WATCHED: usize = 100;
/// Blocks the follower reads per round (its `BLOCKS_PER_ROUND`), and the
/// peer per range.
const RANGE: u64 = 200;
/// Calls per JSON-RPC batch request of the peer (the hub's `Rpc::batch` chunk).
const BATCH: usize = 100;
/// Stored blocks after which the first peak RSS is read.
const MEMORY_AT: u64 = 500;
/// The chain's confirmation depth in the hub.
const CONFIRMATIONS: u64 = 12;
/// keccak256("Transfer(address,address,uint256)").
const TRANSFER_TOPIC: &str = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef";
/// Token base units minted to each sender.
const MINT: u128 = 1_000_000_000_000_000_000;
/// Gas given to each token transfer (a first transfer to an address costs
/// about 52,000).
const TOKEN_GAS: u64 = 100_000;
/// The most the follower may take, end to end.
const SCAN_TIMEOUT: Duration = Duration::from_secs(300);

/// The i-th watched deposit address (no code, never a sender).
fn watched(i: usize) -> Address {
    let mut a = [0u8; 20];
    a[0] = 0xde;
    a[1] = 0x90;
    a[12..].copy_from_slice(&(i as u64 + 1).to_be_bytes());
    Address(a)
}

/// A quantity as JSON-RPC hex.
fn qty(n: u64) -> String {
    format!("{n:#x}")
}

/// A JSON-RPC quantity's value.
fn parse_qty(v: &Value) -> u128 {
    u128::from_str_radix(v.as_str().expect("a quantity").trim_start_matches("0x"), 16)
        .expect("hex quantity")
}

/// The 4-byte selector of a function signature.
fn selector(sig: &str) -> Vec<u8> {
    keccak256(sig.as_bytes()).0[..4].to_vec()
}

/// `name(address, uint256)` calldata.
fn call_address_amount(sig: &str, to: Address, amount: u128) -> String {
    let mut data = selector(sig);
    data.extend_from_slice(&[0u8; 12]);
    data.extend_from_slice(&to.0);
    data.extend_from_slice(&[0u8; 16]);
    data.extend_from_slice(&amount.to_be_bytes());
    hex(&data)
}

/// A log topic holding an address.
fn topic_of(a: Address) -> String {
    format!("0x{}{}", "0".repeat(24), hex(&a.0).trim_start_matches("0x"))
}

/// Traffic counters of one client.
#[derive(Debug, Clone, Copy, Default)]
struct Traffic {
    /// HTTP requests.
    requests: u64,
    /// JSON-RPC calls.
    calls: u64,
}

/// A keep-alive JSON-RPC client: single calls and batch requests, every
/// answer parsed; panics on any error (the bench's node is local).
struct Client {
    agent: ureq::Agent,
    url: String,
    traffic: Traffic,
}

impl Client {
    /// A client of `url`.
    fn new(url: &str) -> Self {
        Self {
            agent: ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(60))
                .build(),
            url: url.to_owned(),
            traffic: Traffic::default(),
        }
    }

    /// POSTs a body and parses the answer.
    fn post(&mut self, body: &Value, calls: usize) -> Value {
        self.traffic.requests += 1;
        self.traffic.calls += calls as u64;
        self.agent
            .post(&self.url)
            .send_json(body)
            .expect("node request")
            .into_json()
            .expect("node answer")
    }

    /// One call's result.
    fn call(&mut self, method: &str, params: Value) -> Value {
        let a = self.post(
            &json!({"jsonrpc": "2.0", "id": 0, "method": method, "params": params}),
            1,
        );
        assert!(a.get("error").is_none(), "{method}: {a}");
        a["result"].clone()
    }

    /// Every call's result, in order, with batch requests of [`BATCH`].
    fn batch(&mut self, calls: &[(&str, Value)]) -> Vec<Value> {
        let mut out = Vec::with_capacity(calls.len());
        for chunk in calls.chunks(BATCH) {
            let body: Vec<Value> = chunk
                .iter()
                .enumerate()
                .map(|(i, (m, p))| json!({"jsonrpc": "2.0", "id": i, "method": m, "params": p}))
                .collect();
            let answers = self.post(&Value::Array(body), chunk.len());
            let mut by_id = vec![Value::Null; chunk.len()];
            for a in answers.as_array().expect("a batch answer") {
                assert!(a.get("error").is_none(), "{}: {a}", chunk[0].0);
                by_id[a["id"].as_u64().expect("id") as usize] = a["result"].clone();
            }
            out.extend(by_id);
        }
        out
    }
}

/// The prepared chain and what it holds.
struct Prepared {
    /// The token's contract.
    token: Address,
    /// The first and last block of the scanned range.
    first: u64,
    last: u64,
    /// Native and token deposits, and their sums (wei, base units).
    eth: usize,
    tokens: usize,
    eth_sum: u128,
    token_sum: u128,
    /// Wall time of the preparation.
    took: Duration,
}

impl Prepared {
    /// Blocks of the range.
    fn blocks(&self) -> u64 {
        self.last - self.first + 1
    }

    /// Deposits in the range.
    fn deposits(&self) -> usize {
        self.eth + self.tokens
    }
}

/// Builds the chain: the token, minted to every dev account, then `blocks`
/// blocks of [`ETH_PER_BLOCK`] + [`TOKEN_PER_BLOCK`] deposits.
fn prepare(anvil: &Anvil, blocks: u64) -> Prepared {
    let t = Instant::now();
    let token = anvil.deploy_token();
    let mut node = Client::new(&anvil.url);
    let senders: Vec<String> = node
        .call("eth_accounts", json!([]))
        .as_array()
        .expect("accounts")
        .iter()
        .map(|a| a.as_str().expect("address").to_owned())
        .collect();
    for s in &senders {
        anvil.mint(token, s.parse().expect("address"), MINT);
    }
    node.call("evm_setAutomine", json!([false]));
    let mut nonces: Vec<u64> = senders
        .iter()
        .map(|s| anvil.nonce(s.parse().unwrap()))
        .collect();
    let first = parse_qty(&node.call("eth_blockNumber", json!([]))) as u64 + 1;
    let fees =
        json!({"maxFeePerGas": qty(100_000_000_000), "maxPriorityFeePerGas": qty(1_000_000_000)});
    let (mut eth, mut tokens, mut eth_sum, mut token_sum) = (0, 0, 0u128, 0u128);
    let mut k = 0usize;
    for _ in 0..blocks {
        let mut sends = Vec::with_capacity(ETH_PER_BLOCK + TOKEN_PER_BLOCK);
        for j in 0..ETH_PER_BLOCK + TOKEN_PER_BLOCK {
            let s = k % senders.len();
            let to = watched(k % WATCHED);
            let mut tx = json!({"from": senders[s], "nonce": qty(nonces[s])});
            if j < ETH_PER_BLOCK {
                let wei = 1_000_000_000 * (k as u128 + 1);
                tx["to"] = json!(to.to_string());
                tx["value"] = json!(format!("{wei:#x}"));
                tx["gas"] = json!(qty(21_000));
                eth += 1;
                eth_sum += wei;
            } else {
                let units = 10 * (k as u128 + 1);
                tx["to"] = json!(token.to_string());
                tx["data"] = json!(call_address_amount("transfer(address,uint256)", to, units));
                tx["gas"] = json!(qty(TOKEN_GAS));
                tokens += 1;
                token_sum += units;
            }
            for (f, v) in fees.as_object().unwrap() {
                tx[f] = v.clone();
            }
            sends.push(("eth_sendTransaction", json!([tx])));
            nonces[s] += 1;
            k += 1;
        }
        node.batch(&sends);
        node.call("evm_mine", json!([]));
    }
    let last = parse_qty(&node.call("eth_blockNumber", json!([]))) as u64;
    assert_eq!(last, first + blocks - 1, "one block per round of sends");
    let pending = node.call("txpool_status", json!([]));
    assert_eq!(
        pending["pending"], "0x0",
        "every transaction mined: {pending}"
    );
    Prepared {
        token,
        first,
        last,
        eth,
        tokens,
        eth_sum,
        token_sum,
        took: t.elapsed(),
    }
}

/// One run of the peer.
#[derive(Debug, Clone, Copy)]
struct PeerRun {
    took: Duration,
    traffic: Traffic,
}

/// The peer: the follower's calls over the range, on one thread, as fast as
/// it can; checks every deposit is there.
fn peer(url: &str, chain: &Prepared) -> PeerRun {
    let watched_set: HashSet<String> = (0..WATCHED)
        .map(|i| watched(i).to_string().to_ascii_lowercase())
        .collect();
    let topics: Vec<String> = (0..WATCHED).map(|i| topic_of(watched(i))).collect();
    let token = chain.token.to_string();
    let mut node = Client::new(url);
    let (mut eth, mut tokens) = (0, 0);
    let t = Instant::now();
    let mut from = chain.first;
    while from <= chain.last {
        let to = chain.last.min(from + RANGE - 1);
        let calls: Vec<(&str, Value)> = (from..=to)
            .map(|n| ("eth_getBlockByNumber", json!([qty(n), true])))
            .collect();
        let mut native = Vec::new();
        for b in node.batch(&calls) {
            let txs = b["transactions"].as_array().expect("full transactions");
            assert_eq!(
                txs.len(),
                ETH_PER_BLOCK + TOKEN_PER_BLOCK,
                "block {}",
                b["number"]
            );
            for tx in txs {
                let to = tx["to"].as_str().unwrap_or_default().to_ascii_lowercase();
                if watched_set.contains(&to) && parse_qty(&tx["value"]) > 0 {
                    native.push(("eth_getTransactionReceipt", json!([tx["hash"]])));
                }
            }
        }
        let filter = json!({
            "fromBlock": qty(from),
            "toBlock": qty(to),
            "address": [token],
            "topics": [TRANSFER_TOPIC, Value::Null, topics],
        });
        tokens += node
            .call("eth_getLogs", json!([filter]))
            .as_array()
            .expect("logs")
            .len();
        for r in node.batch(&native) {
            assert_eq!(r["status"], "0x1", "a native deposit failed: {r}");
            eth += 1;
        }
        from = to + 1;
    }
    let took = t.elapsed();
    assert_eq!(
        (eth, tokens),
        (chain.eth, chain.tokens),
        "the peer's deposits"
    );
    PeerRun {
        took,
        traffic: node.traffic,
    }
}

/// How this bench runs the shared [`Hub`]: without the CLI's node counters
/// (`HUB_RPC_STATS`), as it times the follower, not the commands.
trait Plain {
    /// Runs `hub-cli ARGS`, requires success, returns stdout.
    fn run(&self, args: &[&str]) -> String;
}

impl Plain for Hub {
    fn run(&self, args: &[&str]) -> String {
        let out = self.command(args).output().expect("run hub-cli");
        assert!(
            out.status.success(),
            "hub-cli {args:?} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// One round of the follower, from its log line.
#[derive(Debug, Clone, Copy)]
struct Round {
    /// When the line was written (the end of the round).
    at: time::OffsetDateTime,
    last: u64,
    blocks: u64,
    deposits: u64,
    ms: u64,
    node_ms: u64,
}

/// The `follower: stored blocks` lines of a serve log.
fn rounds(log: &str) -> Vec<Round> {
    log.lines()
        .filter(|l| l.contains("follower: stored blocks"))
        .map(|l| {
            let field = |name: &str| -> u64 {
                let key = format!(" {name}=");
                let start = l.find(&key).unwrap_or_else(|| panic!("{name} in {l}")) + key.len();
                l[start..]
                    .split(|c: char| !c.is_ascii_digit())
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap()
            };
            let stamp = l.split_whitespace().next().expect("a timestamp");
            Round {
                at: time::OffsetDateTime::parse(
                    stamp,
                    &time::format_description::well_known::Rfc3339,
                )
                .unwrap_or_else(|e| panic!("timestamp {stamp:?}: {e}")),
                last: field("last"),
                blocks: field("blocks"),
                deposits: field("deposits"),
                ms: field("ms"),
                node_ms: field("node_ms"),
            }
        })
        .collect()
}

/// A `/proc/PID/status` field in kB.
fn proc_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// One scan by the follower.
#[derive(Debug, Clone)]
struct Scan {
    /// From the start of the first round that stored blocks to the end of
    /// the one that stored the last block.
    span: Duration,
    /// The rounds' own times, summed, and their node wait.
    busy: Duration,
    node: Duration,
    rounds: usize,
    /// Peak RSS (kB) once `MEMORY_AT` blocks were stored, and at the end;
    /// the blocks stored at the first reading.
    hwm_early: u64,
    hwm_early_at: u64,
    hwm_end: u64,
    /// Callbacks the tenant's receiver took while the follower scanned.
    callbacks: u64,
    /// From the end of the scan to `deposit list` answering.
    list: Duration,
}

/// The tail of a text, for failure messages.
fn tail(text: &str) -> &str {
    last_bytes(text, 3_000)
}

/// A running `hub-cli serve`, killed on drop (a failed check must not leave
/// it running).
struct Serve(Child);

impl Serve {
    /// SIGTERM, and waits for it (kill -9 after 30 s).
    fn terminate(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let t = Instant::now();
        while self.0.try_wait().ok().flatten().is_none() {
            if t.elapsed() > Duration::from_secs(30) {
                let _ = self.0.kill();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A fresh hub on `backend` follows the prepared chain from its first block
/// to its last; checks `deposit list` against what was sent.
fn scan(url: &str, chain: &Prepared, backend: Backend) -> Scan {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = TestDb::new(backend, dir.path());
    let hub = Hub::new(&db, dir.path());
    hub.run(&["migrate"]);
    hub.run(&[
        "chain",
        "add",
        "local",
        "--chain-id",
        "31337",
        "--rpc",
        url,
        "--confirmations",
        &CONFIRMATIONS.to_string(),
    ]);
    hub.run(&[
        "token",
        "add",
        "--chain",
        "local",
        "--symbol",
        "TUSD",
        "--contract",
        &chain.token.to_string(),
        "--decimals",
        "6",
    ]);
    let addresses: Vec<String> = (0..WATCHED).map(|i| watched(i).to_string()).collect();
    let mut args = vec![
        "deposit",
        "watch",
        "--chain",
        "local",
        "--tenant",
        "bench",
        "--reference",
        "user",
    ];
    args.extend(addresses.iter().map(String::as_str));
    hub.run(&args);
    // The tenant takes callbacks, so the dispatcher claims and delivers
    // deposit events while the follower writes them, as in production.
    let sink = HttpSink::start();
    let secret = dir.path().join("callback.secret");
    std::fs::write(&secret, "bench-callback-secret").unwrap();
    hub.run(&[
        "callback",
        "set",
        "--tenant",
        "bench",
        "--url",
        sink.url(),
        "--secret-file",
        secret.to_str().unwrap(),
    ]);
    db.execute(&format!(
        "UPDATE chains SET scan_from_block = {}, internal_transfers = 'none'",
        chain.first
    ));
    // `SCANNER_BENCH_WITNESS=1`: the chain has a witness node (a second
    // endpoint of the same node), which the follower reads again for every
    // deposit it confirms.
    let _witness = witness_on().then(|| {
        let proxy = coldsign_e2e::FaultProxy::start(url);
        hub.run(&["chain", "update", "local", "--witness-rpc", &proxy.url]);
        proxy
    });

    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log_path = dir.path().join("serve.log");
    let mut child = Serve(
        hub.command(&[
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--supervisor-interval",
            "1",
        ])
        .env("HUB_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .expect("spawn hub-cli serve"),
    );
    let pid = child.0.id();
    let t = Instant::now();
    let (mut hwm_early, mut hwm_early_at) = (0, 0);
    let found = loop {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        let rs = rounds(&log);
        let stored: u64 = rs.iter().map(|r| r.blocks).sum();
        if hwm_early == 0 && stored >= MEMORY_AT.min(chain.blocks()) {
            hwm_early = proc_kb(pid, "VmHWM");
            hwm_early_at = stored;
        }
        if rs.last().is_some_and(|r| r.last >= chain.last) {
            break rs;
        }
        if let Some(status) = child.0.try_wait().unwrap() {
            panic!("serve exited ({status}):\n{}", tail(&log));
        }
        assert!(
            t.elapsed() < SCAN_TIMEOUT,
            "the follower did not reach block {} in {SCAN_TIMEOUT:?}:\n{}",
            chain.last,
            tail(&log)
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let hwm_end = proc_kb(pid, "VmHWM");
    let callbacks = sink.requests();
    if let Some(keep) = std::env::var_os("SCANNER_BENCH_LOGS") {
        let name = format!("serve-{}.log", format!("{backend:?}").to_lowercase());
        std::fs::create_dir_all(&keep).unwrap();
        std::fs::copy(&log_path, Path::new(&keep).join(name)).unwrap();
    }
    let scanned = Instant::now();
    let listed: Value = serde_json::from_str(
        hub.run(&["deposit", "list", "--json"])
            .lines()
            .last()
            .unwrap_or_default(),
    )
    .expect("deposit list JSON");
    let list = scanned.elapsed();
    child.terminate();
    let deposits = listed["data"].as_array().expect("deposits");
    let (mut eth, mut tokens, mut eth_sum, mut token_sum) = (0, 0, 0u128, 0u128);
    for d in deposits {
        assert!(
            d["state"] == "SEEN" || d["state"] == "CONFIRMED",
            "deposit {d}"
        );
        let units: u128 = d["amount_base_units"].as_str().unwrap().parse().unwrap();
        match d["asset"].as_str().unwrap() {
            "ETH" => {
                eth += 1;
                eth_sum += units;
            }
            "TUSD" => {
                tokens += 1;
                token_sum += units;
            }
            other => panic!("asset {other}"),
        }
    }
    assert_eq!(
        (eth, tokens, eth_sum, token_sum),
        (chain.eth, chain.tokens, chain.eth_sum, chain.token_sum),
        "the hub's deposits equal what was sent"
    );
    let first = &found[0];
    let end = found.last().unwrap();
    let span = end.at - first.at + time::Duration::milliseconds(first.ms as i64);
    assert_eq!(
        found.iter().map(|r| r.blocks).sum::<u64>(),
        chain.blocks(),
        "each block stored once"
    );
    assert_eq!(
        found.iter().map(|r| r.deposits).sum::<u64>(),
        chain.deposits() as u64
    );
    drop(db);
    Scan {
        span: span.try_into().expect("a positive span"),
        busy: Duration::from_millis(found.iter().map(|r| r.ms).sum()),
        node: Duration::from_millis(found.iter().map(|r| r.node_ms).sum()),
        rounds: found.len(),
        hwm_early,
        hwm_early_at,
        hwm_end,
        callbacks,
        list,
    }
}

/// Whether `SCANNER_BENCH_WITNESS=1` asks for a witness node.
fn witness_on() -> bool {
    std::env::var_os("SCANNER_BENCH_WITNESS").is_some_and(|v| v == "1")
}

/// Whether the tests' PostgreSQL server answers.
fn postgres_answers() -> bool {
    let url = std::env::var("COLDSIGN_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    postgres::Client::connect(&url, postgres::NoTls).is_ok()
}

/// Seconds with one decimal.
fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// kB as MB.
fn mb(kb: u64) -> String {
    format!("{:.1} MB", kb as f64 / 1024.0)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and
    // then a short chain on SQLite is enough.
    let full = std::env::args().any(|a| a == "--bench");
    let blocks: u64 = match std::env::var("SCANNER_BENCH_BLOCKS") {
        Ok(n) => n.parse().expect("SCANNER_BENCH_BLOCKS is a number"),
        Err(_) if full => BLOCKS,
        Err(_) => 200,
    };
    let postgres = match std::env::var("SCANNER_BENCH_POSTGRES").as_deref() {
        Ok("1") => true,
        Ok("0") => false,
        _ => full && postgres_answers(),
    };
    let load_before = load_average();
    let anvil = Anvil::start();
    let chain = prepare(&anvil, blocks);
    eprintln!(
        "prepared blocks {}..={} ({} deposits) in {}",
        chain.first,
        chain.last,
        chain.deposits(),
        secs(chain.took)
    );

    // With `SCANNER_BENCH_WITNESS=1`, the rows say so.
    let label = |plain: &'static str, witnessed: &'static str| {
        if witness_on() {
            witnessed
        } else {
            plain
        }
    };
    let mut backends = vec![(Backend::Sqlite, label("SQLite", "SQLite with a witness"))];
    if postgres {
        backends.push((
            Backend::Postgres,
            label("PostgreSQL", "PostgreSQL with a witness"),
        ));
    }
    let mut peers = vec![peer(&anvil.url, &chain)];
    eprintln!("peer: {}", secs(peers[0].took));
    let mut scans = Vec::new();
    for (backend, name) in &backends {
        let s = scan(&anvil.url, &chain, *backend);
        eprintln!(
            "{name}: {} ({} rounds, {} busy, {} node wait, {} callbacks delivered), peak RSS {} after {} blocks, {} at the end",
            secs(s.span),
            s.rounds,
            secs(s.busy),
            secs(s.node),
            s.callbacks,
            mb(s.hwm_early),
            s.hwm_early_at,
            mb(s.hwm_end)
        );
        scans.push((*name, s));
        let p = peer(&anvil.url, &chain);
        eprintln!("peer: {}", secs(p.took));
        peers.push(p);
    }
    let mut sorted: Vec<Duration> = peers.iter().map(|p| p.took).collect();
    sorted.sort();
    let peer_median = sorted[sorted.len() / 2];
    let traffic = peers[0].traffic;

    let n_blocks = chain.blocks() as f64;
    let n_deposits = chain.deposits() as f64;
    let per_s = |n: f64, d: Duration| group(n / d.as_secs_f64());
    let mut md = String::new();
    writeln!(
        md,
        "## Deposits: the follower scanning {} blocks\n",
        group(n_blocks)
    )
    .unwrap();
    writeln!(
        md,
        "The chain follower of `hub-cli serve` (release binary) on a fresh hub scanning {} blocks of anvil, \
         each with {ETH_PER_BLOCK} ETH transfers and {TOKEN_PER_BLOCK} ERC-20 `transfer`s, all to {WATCHED} \
         watched deposit addresses: {} deposits (chain prepared in {}). Follower time: from the start of \
         its first round that stored blocks to the end of the round that stored the last one, from its own \
         log line per round (`follower: stored blocks`, with the round's time and its node wait); every \
         deposit is then checked in `deposit list`. Peer: a minimal single-threaded client (ureq, \
         serde_json) making the follower's JSON-RPC calls for the same range as fast as it can, per \
         {RANGE}-block range: `eth_getBlockByNumber` with full transactions in batch requests of {BATCH}, \
         one `eth_getLogs`, the native deposits' receipts in batches of {BATCH} ({} requests, {} calls; the \
         follower asks for the same in runs of 50 blocks); run before and after each follower run, and each \
         follower run is compared with the mean of the two around it. The hub's chain is marked as having \
         no `trace_block` (`internal_transfers = 'none'`, as on a node without the trace API), so both make \
         the same calls. The deposit addresses belong to a tenant with a callback URL (a local \
         receiver answering 200), so the callback dispatcher claims and delivers the deposit events \
         while the follower writes them.\n",
        group(n_blocks),
        group(n_deposits),
        secs(chain.took),
        group(traffic.requests as f64),
        group(traffic.calls as f64),
    )
    .unwrap();
    writeln!(
        md,
        "| | time | blocks/s | deposits/s | peer around it | share of the peer's throughput (goal >= 80%) | \
         node wait / the rest | peak RSS after {} blocks / at the end |",
        scans.first().map_or(0, |s| s.1.hwm_early_at)
    )
    .unwrap();
    writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|").unwrap();
    writeln!(
        md,
        "| peer (raw node throughput), median of {} runs ({} to {}) | {} | {} | {} | | | | |",
        peers.len(),
        secs(sorted[0]),
        secs(sorted[sorted.len() - 1]),
        secs(peer_median),
        per_s(n_blocks, peer_median),
        per_s(n_deposits, peer_median)
    )
    .unwrap();
    for (i, (name, s)) in scans.iter().enumerate() {
        let around = (peers[i].took + peers[i + 1].took) / 2;
        let ratio = around.as_secs_f64() / s.span.as_secs_f64();
        writeln!(
            md,
            "| follower, {name} | {} | {} | {} | {} | **{:.0}%** ({}) | {} / {} | {} / {} |",
            secs(s.span),
            per_s(n_blocks, s.span),
            per_s(n_deposits, s.span),
            secs(around),
            ratio * 100.0,
            if ratio >= 0.8 { "met" } else { "not met" },
            secs(s.node),
            secs(s.busy.saturating_sub(s.node)),
            mb(s.hwm_early),
            mb(s.hwm_end)
        )
        .unwrap();
    }
    writeln!(md).unwrap();
    writeln!(
        md,
        "- Node wait: the time the follower's rounds waited on the node, on the thread that reads runs \
         of blocks ahead; the rest is its own work that did not overlap with it (parsing, and storing \
         a round's last run; the other runs are stored while the next one is read)."
    )
    .unwrap();
    for (name, s) in &scans {
        writeln!(
            md,
            "- {name}: {} rounds; {} callbacks delivered to the tenant's receiver by the end of the \
             scan; `deposit list` of all {} deposits answered {} after the scan.",
            s.rounds,
            group(s.callbacks as f64),
            group(n_deposits),
            secs(s.list)
        )
        .unwrap();
    }
    writeln!(md, "{}.", load_note(&load_before)).unwrap();

    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("scanner benchmark on {cpus} CPU(s), {}\n", cpu_model());
    println!("{md}");
    if full {
        write_fragment("scanner.md", &md);
    }
}
