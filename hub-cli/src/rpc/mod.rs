//! The typed client of an Ethereum node: JSON-RPC over HTTP, single calls
//! and JSON-RPC batch requests, timeouts, and retries with back-off on
//! transport errors only (never on a node's definite answer). Callers ask
//! typed questions (a receipt, balances, a run of blocks, ...) and get typed
//! answers; the raw `call` and `batch` are this module's own, so no other
//! code builds JSON-RPC parameters or reads an answer's JSON.

use coldsign_core::{hex_data, Address, B256, U256};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use thiserror::Error;

mod follower;
pub(crate) use follower::FollowedBlock;

/// The default of `--rpc-timeout`, in seconds: well under a minute, so a
/// node that accepts connections and never answers is reported quickly.
pub(crate) const DEFAULT_TIMEOUT_SECS: u64 = 15;

static TIMEOUT_SECS: std::sync::atomic::AtomicU64 =
    std::sync::atomic::AtomicU64::new(DEFAULT_TIMEOUT_SECS);

/// Sets the timeout of every node request this process makes from now on
/// (`--rpc-timeout`, `HUB_RPC_TIMEOUT`, `rpc_timeout` in the configuration).
pub(crate) fn set_timeout(secs: u64) {
    TIMEOUT_SECS.store(secs.max(1), std::sync::atomic::Ordering::Relaxed);
}

fn timeout() -> Duration {
    Duration::from_secs(TIMEOUT_SECS.load(std::sync::atomic::Ordering::Relaxed))
}

/// The most calls sent in one JSON-RPC batch request.
const BATCH_CHUNK: usize = 100;
/// Attempts per request on transport errors.
const ATTEMPTS: u32 = 4;

/// Counters of this process's traffic with nodes: HTTP requests, JSON-RPC
/// calls and the wall time spent waiting for answers. `HUB_RPC_STATS=FILE`
/// makes `hub-cli` write them to FILE as JSON when it exits (the hub
/// benchmark uses it to tell the node's share of a command's time).
pub(crate) mod stats {
    use std::{
        sync::atomic::{AtomicU64, Ordering},
        time::Duration,
    };

    /// The environment variable naming the file to write at exit.
    pub(crate) const ENV: &str = "HUB_RPC_STATS";

    static REQUESTS: AtomicU64 = AtomicU64::new(0);
    static CALLS: AtomicU64 = AtomicU64::new(0);
    static WAIT_NANOS: AtomicU64 = AtomicU64::new(0);

    std::thread_local! {
        /// This thread's share of `WAIT_NANOS`.
        static THREAD_WAIT_NANOS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }

    /// Records one HTTP request carrying `calls` JSON-RPC calls, answered
    /// (or given up on, retries included) after `waited`.
    pub(super) fn record(calls: usize, waited: Duration) {
        REQUESTS.fetch_add(1, Ordering::Relaxed);
        CALLS.fetch_add(calls as u64, Ordering::Relaxed);
        let nanos = u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX);
        WAIT_NANOS.fetch_add(nanos, Ordering::Relaxed);
        THREAD_WAIT_NANOS.with(|w| w.set(w.get().saturating_add(nanos)));
    }

    /// The time the calling thread has spent waiting on nodes so far: the
    /// difference across a piece of work is that work's node wait, whatever
    /// other threads of the process do meanwhile (the service's supervisor
    /// reports its rounds' node wait this way).
    pub(crate) fn thread_wait() -> Duration {
        Duration::from_nanos(THREAD_WAIT_NANOS.with(std::cell::Cell::get))
    }

    /// The counters as `{"requests":N,"calls":M,"wait_ms":X}`.
    pub(crate) fn json() -> serde_json::Value {
        let nanos = WAIT_NANOS.load(Ordering::Relaxed);
        serde_json::json!({
            "requests": REQUESTS.load(Ordering::Relaxed),
            "calls": CALLS.load(Ordering::Relaxed),
            // Timing, not money: a float is fine here.
            "wait_ms": nanos as f64 / 1e6,
        })
    }

    /// Writes the counters to the file named by `HUB_RPC_STATS`, if set.
    /// The error names the file that could not be written.
    pub(crate) fn write_if_requested() -> Result<(), String> {
        let Some(path) = std::env::var_os(ENV) else {
            return Ok(());
        };
        std::fs::write(&path, json().to_string()).map_err(|e| {
            format!(
                "cannot write {ENV} file {}: {e}",
                std::path::Path::new(&path).display()
            )
        })
    }
}

/// Why a call failed.
#[derive(Debug, Clone, Error)]
pub(crate) enum RpcError {
    /// The node could not be reached (after retries), or answered HTTP errors.
    #[error("cannot reach node {url}: {message}")]
    Transport {
        /// The redacted URL.
        url: String,
        /// Last error.
        message: String,
    },
    /// The node answered with a JSON-RPC error: a definite answer.
    #[error("node error {code}: {message}")]
    Node {
        /// JSON-RPC error code.
        code: i64,
        /// The node's message.
        message: String,
    },
    /// The answer is not what the method returns.
    #[error("unexpected answer from node to {method}: {message}")]
    BadResponse {
        /// The method called.
        method: String,
        /// What was wrong.
        message: String,
    },
}

/// A mined transaction's receipt, reduced to what the hub uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Receipt {
    /// The transaction the receipt says it is for.
    pub(crate) transaction_hash: B256,
    /// Its index in the block.
    pub(crate) transaction_index: u64,
    /// Block number.
    pub(crate) block_number: u64,
    /// Block hash.
    pub(crate) block_hash: B256,
    /// 1 success, 0 reverted.
    pub(crate) status: u64,
    /// Gas used.
    pub(crate) gas_used: U256,
    /// Price paid per gas.
    pub(crate) effective_gas_price: U256,
}

/// A transaction as the node knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TxInfo {
    /// Sender.
    pub(crate) from: Address,
    /// Nonce.
    pub(crate) nonce: u64,
    /// Recipient.
    pub(crate) to: Option<Address>,
    /// Value.
    pub(crate) value: U256,
    /// Calldata.
    pub(crate) input: Vec<u8>,
    /// Block, if mined.
    pub(crate) block_number: Option<u64>,
}

/// What a node answered to `eth_sendRawTransaction` (not an error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SendAnswer {
    /// A transaction hash, as the method returns.
    Hash(B256),
    /// Anything else, as the node wrote it (a node fault).
    Other(String),
}

impl SendAnswer {
    fn of(v: Value) -> Self {
        match v
            .as_str()
            .and_then(|h| hex_data::decode_fixed::<32>(h).ok())
        {
            Some(h) => Self::Hash(B256(h)),
            None => Self::Other(v.to_string()),
        }
    }
}

/// What build needs to know of a sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SenderState {
    /// The next nonce, pending transactions included.
    pub(crate) pending_nonce: u64,
    /// The native balance, in wei.
    pub(crate) balance: U256,
    /// Transactions mined (`latest`): nonces below are consumed.
    pub(crate) mined_nonce: u64,
}

/// A call to estimate gas for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GasRequest {
    pub(crate) from: Address,
    pub(crate) to: Address,
    pub(crate) data: Option<Vec<u8>>,
    pub(crate) value: Option<U256>,
}

/// A balance as the node gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Balance {
    /// In base units.
    Units(U256),
    /// A token's `balanceOf` answered something other than one 32-byte
    /// word (not an ERC-20 token, or a node that lies).
    NotAWord {
        /// How many bytes it gave.
        bytes: usize,
    },
}

/// A client for one node.
#[derive(Debug, Clone)]
pub(crate) struct Rpc {
    url: String,
    agent: ureq::Agent,
}

/// The URL without path, query or credentials: node URLs can hold API keys.
pub(crate) fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority = rest.split(['/', '?']).next().unwrap_or_default();
            let host = authority.rsplit('@').next().unwrap_or_default();
            let hidden = !rest[authority.len()..].trim_matches('/').is_empty();
            format!("{scheme}://{host}{}", if hidden { "/***" } else { "" })
        }
        None => "***".to_owned(),
    }
}

fn bad(method: &str, message: impl Into<String>) -> RpcError {
    RpcError::BadResponse {
        method: method.to_owned(),
        message: message.into(),
    }
}

/// Parses a quantity leniently (some nodes pad with zeros).
pub(crate) fn quantity(method: &str, v: &Value) -> Result<U256, RpcError> {
    let s = v
        .as_str()
        .ok_or_else(|| bad(method, format!("expected a hex quantity, found {v}")))?;
    let digits = s
        .strip_prefix("0x")
        .ok_or_else(|| bad(method, format!("{s:?} is not hex")))?;
    if digits.is_empty() {
        return Ok(U256::zero());
    }
    U256::from_str_radix(digits, 16).map_err(|_| bad(method, format!("{s:?} is not hex")))
}

fn quantity_u64(method: &str, v: &Value) -> Result<u64, RpcError> {
    let q = quantity(method, v)?;
    if q > U256::from(u64::MAX) {
        return Err(bad(method, format!("{q} is too large")));
    }
    Ok(q.as_u64())
}

fn b256(method: &str, v: &Value) -> Result<B256, RpcError> {
    let s = v.as_str().unwrap_or_default();
    hex_data::decode_fixed::<32>(s)
        .map(B256)
        .map_err(|e| bad(method, e.to_string()))
}

fn address(method: &str, v: &Value) -> Result<Address, RpcError> {
    let s = v.as_str().unwrap_or_default();
    hex_data::decode_fixed::<20>(s)
        .map(Address)
        .map_err(|e| bad(method, e.to_string()))
}

fn field<'a>(method: &str, v: &'a Value, name: &str) -> Result<&'a Value, RpcError> {
    v.get(name)
        .ok_or_else(|| bad(method, format!("missing field {name}")))
}

fn parse_receipt(v: &Value) -> Result<Option<Receipt>, RpcError> {
    const M: &str = "eth_getTransactionReceipt";
    if v.is_null() {
        return Ok(None);
    }
    Ok(Some(Receipt {
        transaction_hash: b256(M, field(M, v, "transactionHash")?)?,
        transaction_index: quantity_u64(M, field(M, v, "transactionIndex")?)?,
        block_number: quantity_u64(M, field(M, v, "blockNumber")?)?,
        block_hash: b256(M, field(M, v, "blockHash")?)?,
        status: quantity_u64(M, field(M, v, "status")?)?,
        gas_used: quantity(M, field(M, v, "gasUsed")?)?,
        effective_gas_price: match v.get("effectiveGasPrice") {
            Some(p) if !p.is_null() => quantity(M, p)?,
            _ => U256::zero(),
        },
    }))
}

fn parse_tx(v: &Value) -> Result<Option<TxInfo>, RpcError> {
    const M: &str = "eth_getTransactionByHash";
    if v.is_null() {
        return Ok(None);
    }
    let to = match v.get("to") {
        Some(t) if !t.is_null() => Some(address(M, t)?),
        _ => None,
    };
    let input = v.get("input").and_then(Value::as_str).unwrap_or("0x");
    Ok(Some(TxInfo {
        from: address(M, field(M, v, "from")?)?,
        nonce: quantity_u64(M, field(M, v, "nonce")?)?,
        to,
        value: quantity(M, field(M, v, "value")?)?,
        input: hex_data::decode(input).map_err(|e| bad(M, e.to_string()))?,
        block_number: match v.get("blockNumber") {
            Some(b) if !b.is_null() => Some(quantity_u64(M, b)?),
            _ => None,
        },
    }))
}

/// A block as the node shows it: its identity and its transactions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Block {
    /// Number.
    pub(crate) number: u64,
    /// Hash.
    pub(crate) hash: B256,
    /// The transactions, in block order.
    pub(crate) transactions: Vec<BlockTx>,
}

/// A transaction listed in a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BlockTx {
    /// Hash.
    pub(crate) hash: B256,
    /// Sender (only with full transactions; zero otherwise).
    pub(crate) from: Address,
    /// Nonce (only with full transactions).
    pub(crate) nonce: u64,
}

fn parse_block(method: &str, v: &Value, full: bool) -> Result<Option<Block>, RpcError> {
    if v.is_null() {
        return Ok(None);
    }
    let txs = field(method, v, "transactions")?
        .as_array()
        .ok_or_else(|| bad(method, "transactions is not an array"))?;
    let transactions = txs
        .iter()
        .map(|t| {
            if full {
                Ok(BlockTx {
                    hash: b256(method, field(method, t, "hash")?)?,
                    from: address(method, field(method, t, "from")?)?,
                    nonce: quantity_u64(method, field(method, t, "nonce")?)?,
                })
            } else {
                Ok(BlockTx {
                    hash: b256(method, t)?,
                    from: Address([0; 20]),
                    nonce: 0,
                })
            }
        })
        .collect::<Result<_, RpcError>>()?;
    Ok(Some(Block {
        number: quantity_u64(method, field(method, v, "number")?)?,
        hash: b256(method, field(method, v, "hash")?)?,
        transactions,
    }))
}

/// One call of a batch request.
type Call = (&'static str, Value);

/// Whether a transport error is a read or connect timeout.
fn is_timeout(t: &ureq::Transport) -> bool {
    use std::error::Error as _;
    let mut source = t.source();
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            );
        }
        source = e.source();
    }
    t.to_string().to_ascii_lowercase().contains("timed out")
}

impl Rpc {
    /// A client for `url` with the default timeouts.
    pub(crate) fn new(url: &str) -> Self {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(5).min(timeout()))
            .timeout(timeout())
            .build();
        Self {
            url: url.to_owned(),
            agent,
        }
    }

    /// The node's URL, redacted for printing.
    pub(crate) fn display_url(&self) -> String {
        redact(&self.url)
    }

    /// POSTs a JSON body of `calls` JSON-RPC calls (`what` names them in
    /// errors), counting the request and its waiting time in [`stats`].
    ///
    /// The node's time is the request's round trip, the answer's bytes
    /// read; parsing them is the hub's own work and is not counted in it.
    fn post(&self, body: &Value, calls: usize, what: &str) -> Result<Value, RpcError> {
        let start = Instant::now();
        let answer = self.post_with_retries(body, what);
        stats::record(calls, start.elapsed());
        serde_json::from_slice(&answer?).map_err(|e| RpcError::BadResponse {
            method: what.to_owned(),
            message: format!("the answer is not JSON ({e})"),
        })
    }

    /// The whole body of an answer.
    fn read_body(resp: ureq::Response, what: &str) -> Result<Vec<u8>, RpcError> {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut resp.into_reader(), &mut bytes).map_err(|e| {
            RpcError::BadResponse {
                method: what.to_owned(),
                message: format!("the answer could not be read ({e})"),
            }
        })?;
        Ok(bytes)
    }

    /// POSTs a JSON body, retrying refused connections and HTTP 429/5xx with
    /// exponential back-off, each retry announced on stderr. A node that
    /// accepts the connection but does not answer within the timeout is not
    /// asked again: waiting once is enough to know it is not answering.
    fn post_with_retries(&self, body: &Value, what: &str) -> Result<Vec<u8>, RpcError> {
        let mut delay = Duration::from_millis(200);
        let mut last = String::new();
        for attempt in 1..=ATTEMPTS {
            match self.agent.post(&self.url).send_json(body) {
                Ok(resp) => return Self::read_body(resp, what),
                Err(ureq::Error::Status(code, resp)) if code == 429 || code >= 500 => {
                    last = format!("HTTP {code} {}", resp.status_text());
                }
                Err(ureq::Error::Status(code, resp)) => {
                    // A JSON-RPC error may come with a 4xx status: a definite answer.
                    if let Ok(bytes) = Self::read_body(resp, what) {
                        if serde_json::from_slice::<Value>(&bytes).is_ok() {
                            return Ok(bytes);
                        }
                    }
                    return Err(RpcError::Transport {
                        url: self.display_url(),
                        message: format!("HTTP {code}"),
                    });
                }
                Err(ureq::Error::Transport(t)) => {
                    last = self.transport_message(&t);
                    if is_timeout(&t) {
                        return Err(RpcError::Transport {
                            url: self.display_url(),
                            message: format!(
                                "no answer to {what} within {} s (raise it with --rpc-timeout, or check the node)",
                                timeout().as_secs()
                            ),
                        });
                    }
                }
            }
            if attempt < ATTEMPTS {
                crate::output::notice(&format!(
                    "node {} did not answer {what} ({last}); trying again in {} ms ({attempt}/{ATTEMPTS})",
                    self.display_url(),
                    delay.as_millis()
                ));
                std::thread::sleep(delay);
                delay *= 2;
            }
        }
        Err(RpcError::Transport {
            url: self.display_url(),
            message: last,
        })
    }

    /// A transport error without the URL (the error names it once already).
    fn transport_message(&self, t: &ureq::Transport) -> String {
        let text = t.to_string();
        let text = text
            .strip_prefix(&format!("{}: ", self.url))
            .or_else(|| text.strip_prefix(&format!("{}/: ", self.url.trim_end_matches('/'))))
            .unwrap_or(&text)
            .to_owned();
        text.replace(&self.url, &self.display_url())
    }

    /// The result of one JSON-RPC answer, taken out of it (an answer of a
    /// batch of 100 receipts is megabytes: its results are not copied).
    fn answer(method: &str, mut v: Value) -> Result<Value, RpcError> {
        if let Some(err) = v.get("error") {
            return Err(RpcError::Node {
                code: err.get("code").and_then(Value::as_i64).unwrap_or(0),
                message: err
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("(no message)")
                    .to_owned(),
            });
        }
        v.get_mut("result")
            .map(Value::take)
            .ok_or_else(|| bad(method, "no result and no error"))
    }

    /// Calls one method.
    fn call(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let v = self.post(&body, 1, method)?;
        Self::answer(method, v)
    }

    /// Calls many methods with JSON-RPC batch requests (in chunks); each call
    /// gets its own result, in the order given.
    fn batch(&self, calls: &[Call]) -> Result<Vec<Result<Value, RpcError>>, RpcError> {
        let mut out = Vec::with_capacity(calls.len());
        for chunk in calls.chunks(BATCH_CHUNK) {
            let body: Vec<Value> = chunk
                .iter()
                .enumerate()
                .map(|(i, (m, p))| json!({"jsonrpc": "2.0", "id": i, "method": m, "params": p}))
                .collect();
            let what = chunk.first().map_or("a batch request", |(m, _)| *m);
            let v = self.post(&Value::Array(body), chunk.len(), what)?;
            let Value::Array(answers) = v else {
                // Some nodes answer a batch with a single error object.
                let err = Self::answer("batch", v)
                    .err()
                    .unwrap_or_else(|| bad("batch", "not an array"));
                return Err(err);
            };
            let mut by_id: Vec<Option<Value>> = vec![None; chunk.len()];
            for a in answers {
                let id = a.get("id").and_then(Value::as_u64).unwrap_or(u64::MAX);
                if let Some(slot) = usize::try_from(id).ok().and_then(|i| by_id.get_mut(i)) {
                    *slot = Some(a);
                }
            }
            for ((method, _), a) in chunk.iter().zip(by_id) {
                out.push(match a {
                    Some(a) => Self::answer(method, a),
                    None => Err(bad(method, "missing from the batch answer")),
                });
            }
        }
        Ok(out)
    }

    /// `eth_chainId`.
    pub(crate) fn chain_id(&self) -> Result<u64, RpcError> {
        quantity_u64("eth_chainId", &self.call("eth_chainId", json!([]))?)
    }

    /// `eth_blockNumber`.
    pub(crate) fn block_number(&self) -> Result<u64, RpcError> {
        quantity_u64("eth_blockNumber", &self.call("eth_blockNumber", json!([]))?)
    }

    /// `eth_getTransactionCount` at `tag` (`latest` or `pending`).
    pub(crate) fn nonce(&self, who: Address, tag: &str) -> Result<u64, RpcError> {
        quantity_u64(
            "eth_getTransactionCount",
            &self.call("eth_getTransactionCount", json!([addr(who), tag]))?,
        )
    }

    /// `eth_getTransactionCount` at block `number`: how many transactions
    /// `who` had sent once that block was mined.
    pub(crate) fn nonce_at(&self, who: Address, number: u64) -> Result<u64, RpcError> {
        quantity_u64(
            "eth_getTransactionCount",
            &self.call(
                "eth_getTransactionCount",
                json!([addr(who), hex_data::quantity_u64(number)]),
            )?,
        )
    }

    /// The block with hash `hash`, with its transactions' hashes.
    pub(crate) fn block_by_hash(&self, hash: B256) -> Result<Option<Block>, RpcError> {
        const M: &str = "eth_getBlockByHash";
        parse_block(M, &self.call(M, json!([hash_hex(hash), false]))?, false)
    }

    /// The canonical block at `number`, with its full transactions.
    pub(crate) fn block_with_txs(&self, number: u64) -> Result<Option<Block>, RpcError> {
        const M: &str = "eth_getBlockByNumber";
        parse_block(
            M,
            &self.call(M, json!([hex_data::quantity_u64(number), true]))?,
            true,
        )
    }

    /// `eth_getRawTransactionByHash`: the signed bytes, to check for
    /// ourselves instead of taking the node's word for its fields.
    pub(crate) fn raw_transaction(&self, hash: B256) -> Result<Option<Vec<u8>>, RpcError> {
        const M: &str = "eth_getRawTransactionByHash";
        let v = self.call(M, json!([hash_hex(hash)]))?;
        match v.as_str() {
            None if v.is_null() => Ok(None),
            None => Err(bad(M, "not a hex string")),
            Some("0x") => Ok(None),
            Some(s) => hex_data::decode(s)
                .map(Some)
                .map_err(|e| bad(M, e.to_string())),
        }
    }

    /// `eth_getCode` at the latest block.
    pub(crate) fn code(&self, who: Address) -> Result<Vec<u8>, RpcError> {
        let v = self.call("eth_getCode", json!([addr(who), "latest"]))?;
        hex_data::decode(v.as_str().unwrap_or_default())
            .map_err(|e| bad("eth_getCode", e.to_string()))
    }

    /// The latest block's base fee, or `None` on a chain without EIP-1559.
    pub(crate) fn base_fee(&self) -> Result<Option<U256>, RpcError> {
        let v = self.call("eth_getBlockByNumber", json!(["latest", false]))?;
        match v.get("baseFeePerGas") {
            Some(b) if !b.is_null() => Ok(Some(quantity("eth_getBlockByNumber", b)?)),
            _ => Ok(None),
        }
    }

    /// The suggested priority fee: `eth_maxPriorityFeePerGas`, or the median
    /// reward of the last blocks from `eth_feeHistory` if the node lacks it.
    pub(crate) fn priority_fee(&self) -> Result<U256, RpcError> {
        match self.call("eth_maxPriorityFeePerGas", json!([])) {
            Ok(v) => quantity("eth_maxPriorityFeePerGas", &v),
            Err(RpcError::Node { .. }) => {
                const M: &str = "eth_feeHistory";
                let v = self.call(M, json!(["0x5", "latest", [50]]))?;
                let rewards = v
                    .get("reward")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let mut fees = rewards
                    .iter()
                    .filter_map(|r| r.get(0))
                    .map(|r| quantity(M, r))
                    .collect::<Result<Vec<_>, _>>()?;
                fees.sort();
                Ok(fees.get(fees.len() / 2).copied().unwrap_or_default())
            }
            Err(e) => Err(e),
        }
    }

    /// `eth_gasPrice` (for chains without EIP-1559).
    pub(crate) fn gas_price(&self) -> Result<U256, RpcError> {
        quantity("eth_gasPrice", &self.call("eth_gasPrice", json!([]))?)
    }

    /// `eth_sendRawTransaction`.
    pub(crate) fn send_raw(&self, raw: &[u8]) -> Result<SendAnswer, RpcError> {
        Ok(SendAnswer::of(self.call(
            "eth_sendRawTransaction",
            json!([hex_data::encode(raw)]),
        )?))
    }

    /// `eth_sendRawTransaction` of each signed transaction, with batch
    /// requests; each answer on its own, in the order given. An error of
    /// the whole request leaves it unknown which reached the node.
    pub(crate) fn send_raws(
        &self,
        raws: &[&[u8]],
    ) -> Result<Vec<Result<SendAnswer, RpcError>>, RpcError> {
        let calls: Vec<Call> = raws
            .iter()
            .map(|raw| ("eth_sendRawTransaction", json!([hex_data::encode(raw)])))
            .collect();
        Ok(self
            .batch(&calls)?
            .into_iter()
            .map(|a| a.map(SendAnswer::of))
            .collect())
    }

    /// `eth_getTransactionReceipt`.
    pub(crate) fn receipt(&self, hash: B256) -> Result<Option<Receipt>, RpcError> {
        parse_receipt(&self.call("eth_getTransactionReceipt", json!([hash_hex(hash)]))?)
    }

    /// Receipts of many transactions in batch requests.
    pub(crate) fn receipts(&self, hashes: &[B256]) -> Result<Vec<Option<Receipt>>, RpcError> {
        let calls: Vec<Call> = hashes
            .iter()
            .map(|h| ("eth_getTransactionReceipt", json!([hash_hex(*h)])))
            .collect();
        self.batch(&calls)?
            .into_iter()
            .map(|r| r.and_then(|v| parse_receipt(&v)))
            .collect()
    }

    /// `eth_getTransactionByHash`.
    pub(crate) fn transaction(&self, hash: B256) -> Result<Option<TxInfo>, RpcError> {
        parse_tx(&self.call("eth_getTransactionByHash", json!([hash_hex(hash)]))?)
    }

    /// `eth_getTransactionByHash` of many transactions in batch requests.
    pub(crate) fn transactions(&self, hashes: &[B256]) -> Result<Vec<Option<TxInfo>>, RpcError> {
        let calls: Vec<Call> = hashes
            .iter()
            .map(|h| ("eth_getTransactionByHash", json!([hash_hex(*h)])))
            .collect();
        self.batch(&calls)?
            .into_iter()
            .map(|r| r.and_then(|v| parse_tx(&v)))
            .collect()
    }

    /// The native balance (`token` `None`) or the ERC-20 `balanceOf` of
    /// each `(holder, token)` at `latest`, with batch requests, in the order
    /// given; each answer on its own.
    pub(crate) fn balances(
        &self,
        queries: &[(Address, Option<Address>)],
    ) -> Result<Vec<Result<Balance, RpcError>>, RpcError> {
        let calls: Vec<Call> = queries
            .iter()
            .map(|(holder, token)| match token {
                None => ("eth_getBalance", json!([addr(*holder), "latest"])),
                Some(t) => balance_of_call(*holder, *t),
            })
            .collect();
        Ok(self
            .batch(&calls)?
            .into_iter()
            .zip(queries)
            .map(|(answer, (_, token))| {
                let v = answer?;
                Ok(match token {
                    None => Balance::Units(quantity("eth_getBalance", &v)?),
                    Some(_) => token_balance(&v),
                })
            })
            .collect())
    }

    /// Each sender's pending nonce, balance (`latest`) and mined nonce
    /// (`latest`), with batch requests: three calls a sender.
    pub(crate) fn sender_states(&self, senders: &[Address]) -> Result<Vec<SenderState>, RpcError> {
        let mut calls: Vec<Call> = Vec::with_capacity(senders.len() * 3);
        for s in senders {
            calls.push(("eth_getTransactionCount", json!([addr(*s), "pending"])));
            calls.push(("eth_getBalance", json!([addr(*s), "latest"])));
            calls.push(("eth_getTransactionCount", json!([addr(*s), "latest"])));
        }
        let mut got = self.batch(&calls)?.into_iter();
        let mut next = |method: &str| -> Result<U256, RpcError> {
            let v = got
                .next()
                .ok_or_else(|| bad(method, "missing from the batch answer"))??;
            quantity(method, &v)
        };
        senders
            .iter()
            .map(|_| {
                Ok(SenderState {
                    pending_nonce: next("eth_getTransactionCount")?.low_u64(),
                    balance: next("eth_getBalance")?,
                    mined_nonce: next("eth_getTransactionCount")?.low_u64(),
                })
            })
            .collect()
    }

    /// Whether each of `accounts` holds code, and the ERC-20 balance of
    /// each `(holder, token)`, in one run of batch requests.
    pub(crate) fn code_and_token_balances(
        &self,
        accounts: &[Address],
        holdings: &[(Address, Address)],
    ) -> Result<(Vec<bool>, Vec<Balance>), RpcError> {
        let mut calls: Vec<Call> = accounts
            .iter()
            .map(|a| ("eth_getCode", json!([addr(*a), "latest"])))
            .collect();
        calls.extend(
            holdings
                .iter()
                .map(|(holder, token)| balance_of_call(*holder, *token)),
        );
        let mut got = self.batch(&calls)?.into_iter();
        let mut next = |method: &str| {
            got.next()
                .ok_or_else(|| bad(method, "missing from the batch answer"))?
        };
        let mut has_code = Vec::with_capacity(accounts.len());
        for _ in accounts {
            let code = next("eth_getCode")?;
            has_code.push(code.as_str().is_some_and(|c| c.len() > 2));
        }
        let mut balances = Vec::with_capacity(holdings.len());
        for _ in holdings {
            balances.push(token_balance(&next("eth_call")?));
        }
        Ok((has_code, balances))
    }

    /// `eth_estimateGas` of each call, with batch requests; each answer on
    /// its own (a node error is the call's reason to fail).
    pub(crate) fn gas_estimates(
        &self,
        requests: &[GasRequest],
    ) -> Result<Vec<Result<u64, RpcError>>, RpcError> {
        let calls: Vec<Call> = requests
            .iter()
            .map(|r| {
                let mut call = json!({"from": addr(r.from), "to": addr(r.to)});
                if let Some(data) = &r.data {
                    call["data"] = json!(hex_data::encode(data));
                }
                if let Some(value) = r.value {
                    call["value"] = json!(hex_data::quantity_u256(value));
                }
                ("eth_estimateGas", json!([call]))
            })
            .collect();
        Ok(self
            .batch(&calls)?
            .into_iter()
            .map(|r| r.and_then(|v| Ok(quantity("eth_estimateGas", &v)?.low_u64())))
            .collect())
    }

    /// Calls a contract's view function without arguments at `latest`:
    /// the ABI-encoded answer, or `None` when it reverts (not implemented)
    /// or answers nothing.
    pub(crate) fn call_view(
        &self,
        contract: Address,
        selector: [u8; 4],
    ) -> Result<Option<Vec<u8>>, RpcError> {
        let call = json!([{"to": addr(contract), "data": hex_data::encode(selector)}, "latest"]);
        match self.call("eth_call", call) {
            Ok(v) => Ok(v
                .as_str()
                .and_then(|h| hex_data::decode(h).ok())
                .filter(|b| !b.is_empty())),
            Err(RpcError::Node { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The hash of the canonical block at `number`, if there is one.
    pub(crate) fn block_hash(&self, number: u64) -> Result<Option<B256>, RpcError> {
        let v = self.call(
            "eth_getBlockByNumber",
            json!([hex_data::quantity_u64(number), false]),
        )?;
        if v.is_null() {
            return Ok(None);
        }
        Ok(Some(b256(
            "eth_getBlockByNumber",
            field("eth_getBlockByNumber", &v, "hash")?,
        )?))
    }
}

fn addr(a: Address) -> String {
    hex_data::encode(a.0)
}

/// The `eth_call` of ERC-20 `balanceOf(holder)` on `token`, at `latest`.
fn balance_of_call(holder: Address, token: Address) -> Call {
    let mut data = vec![0x70, 0xa0, 0x82, 0x31]; // balanceOf(address)
    data.extend_from_slice(&[0u8; 12]);
    data.extend_from_slice(&holder.0);
    (
        "eth_call",
        json!([{"to": addr(token), "data": hex_data::encode(data)}, "latest"]),
    )
}

/// A `balanceOf` answer: one 32-byte word, or how many bytes it was.
fn token_balance(v: &Value) -> Balance {
    let bytes = hex_data::decode(v.as_str().unwrap_or_default()).unwrap_or_default();
    if bytes.len() == 32 {
        Balance::Units(U256::from_big_endian(&bytes))
    } else {
        Balance::NotAWord { bytes: bytes.len() }
    }
}

/// A hash as `0x…` hex.
pub(crate) fn hash_hex(h: B256) -> String {
    hex_data::encode(h.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_keys_in_urls() {
        assert_eq!(
            redact("https://mainnet.example/v3/KEY"),
            "https://mainnet.example/***"
        );
        assert_eq!(redact("http://127.0.0.1:8545"), "http://127.0.0.1:8545");
        assert_eq!(redact("http://127.0.0.1:8545/"), "http://127.0.0.1:8545");
        assert_eq!(
            redact("https://user:pw@node.example"),
            "https://node.example"
        );
    }

    #[test]
    fn lenient_quantities() {
        assert_eq!(quantity("m", &json!("0x0")).ok(), Some(U256::zero()));
        assert_eq!(quantity("m", &json!("0x05")).ok(), Some(U256::from(5)));
        assert!(quantity("m", &json!(5)).is_err());
    }
}
