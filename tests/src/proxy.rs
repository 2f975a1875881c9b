//! A fault-injecting JSON-RPC proxy in front of a real node (anvil).
//!
//! Tests point the hub at [`FaultProxy::url`] instead of [`crate::Anvil::url`]
//! and switch faults on and off at run time: a node that swallows a
//! transaction, invents receipts for it, errors after it accepted a
//! transaction, answers with a wrong hash, or is down. Everything the faults
//! do not touch is forwarded to the real node unchanged, so the chain the hub
//! sees is the real one except for the injected lies.
//!
//! The proxy speaks just enough HTTP/1.1 for JSON-RPC clients: one request
//! per connection (`Content-Length` bodies), answered with
//! `Connection: close`, which `ureq` (and every other client) handles without
//! the races of reusing a connection the server is about to close.

use coldsign_core::{
    hex_data::{self, quantity_u256, quantity_u64},
    keccak256, Address, SignedTransaction, Transaction, TxLegacy, U256,
};
use serde_json::{json, Value};
use std::{
    collections::{BTreeSet, HashMap, HashSet},
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex, MutexGuard,
    },
    thread::JoinHandle,
    time::Duration,
};

/// The error [`Fault::ErrorAfterSend`] answers with.
const ERROR_AFTER_SEND_MESSAGE: &str = "internal error: timeout waiting for txpool";
/// The largest request head (request line and headers) the proxy reads.
const MAX_HEAD: usize = 64 * 1024;
/// The largest request body the proxy reads.
const MAX_BODY: usize = 256 * 1024 * 1024;
/// How long a connection may stay silent before the proxy gives up on it.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// One way the proxy lies or fails; several can be on at once
/// ([`FaultProxy::set`] adds to the set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// `eth_sendRawTransaction` is not forwarded; the answer is a made-up hash
    /// (not the transaction's keccak). Recorded in [`FaultProxy::swallowed`].
    SwallowSend,
    /// `eth_sendRawTransaction` is not forwarded, but the answer is the
    /// transaction's real hash: a node that accepts and then loses it.
    DropSend,
    /// `eth_getTransactionReceipt` / `eth_getTransactionByHash` for a hash the
    /// node does not know (it answers `null`) get an invented, successful
    /// receipt / transaction in the node's real latest block (the block of the
    /// first such question about that hash, kept for later ones). The block
    /// itself passes through unchanged, so it does not contain the transaction.
    FakeReceipts,
    /// `eth_sendRawTransaction` is forwarded (the transaction gets mined), but
    /// the client gets the JSON-RPC error `-32000 internal error: timeout
    /// waiting for txpool` instead of the hash. Takes precedence over
    /// [`Fault::WrongHash`]; with [`Fault::SwallowSend`] or [`Fault::DropSend`]
    /// the transaction is not forwarded and the client gets the error.
    ErrorAfterSend,
    /// `eth_sendRawTransaction` is forwarded (the transaction gets mined), but
    /// the answer is a made-up hash.
    WrongHash,
    /// Every request gets HTTP 503, as from a node behind a load balancer that
    /// is down. Calls are still counted ([`FaultProxy::calls`]).
    Down,
}

/// An `eth_sendRawTransaction` a fault touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intercepted {
    /// The raw transaction as the client sent it (`0x` hex).
    pub raw: String,
    /// The transaction's real hash (keccak256 of the raw bytes, `0x` hex).
    pub real_hash: String,
    /// The hash the client was answered with, or `None` if it got an error.
    pub answered: Option<String>,
    /// Whether the transaction was forwarded to the node.
    pub forwarded: bool,
}

/// Where an invented receipt puts a transaction: a real block of the node.
#[derive(Debug, Clone)]
struct Placement {
    block_hash: Value,
    block_number: Value,
    base_fee: U256,
}

/// What the test thread and the connection threads share.
#[derive(Debug, Default)]
struct State {
    faults: BTreeSet<Fault>,
    calls: HashMap<String, usize>,
    intercepted: Vec<Intercepted>,
    /// Raw bytes of every transaction the proxy answered a hash for (real or
    /// made up), by lower-case hash: the source of invented transactions.
    raw_by_hash: HashMap<String, Vec<u8>>,
    /// Blocks of the invented receipts, by lower-case hash.
    placements: HashMap<String, Placement>,
    counter: u64,
}

#[derive(Debug)]
struct Shared {
    upstream: String,
    agent: ureq::Agent,
    state: Mutex<State>,
    shutdown: AtomicBool,
}

/// An HTTP answer to the client.
#[derive(Debug)]
struct Reply {
    status: u16,
    body: String,
}

impl Reply {
    fn json(v: &Value) -> Self {
        Self {
            status: 200,
            body: v.to_string(),
        }
    }

    fn error(status: u16, message: &str) -> Self {
        Self {
            status,
            body: json!({"error": message}).to_string(),
        }
    }
}

/// A fault-injecting JSON-RPC proxy on a free loopback port, in front of a
/// real node; it stops accepting connections when dropped.
///
/// ```no_run
/// use coldsign_e2e::{Anvil, Fault, FaultProxy};
/// let anvil = Anvil::start();
/// let proxy = FaultProxy::start(&anvil.url);
/// proxy.set(Fault::SwallowSend);
/// proxy.set(Fault::FakeReceipts);
/// // ... run hub-cli with `--rpc proxy.url` ...
/// proxy.clear();
/// ```
#[derive(Debug)]
pub struct FaultProxy {
    /// Its JSON-RPC URL (`http://127.0.0.1:PORT`).
    pub url: String,
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy in front of the JSON-RPC node at `upstream`, with no
    /// fault on.
    pub fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy's port");
        let addr = listener.local_addr().expect("the proxy's address");
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .build();
        let shared = Arc::new(Shared {
            upstream: upstream.to_owned(),
            agent,
            state: Mutex::new(State::default()),
            shutdown: AtomicBool::new(false),
        });
        let accept = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("fault-proxy-accept".to_owned())
                .spawn(move || accept_loop(&listener, &shared))
                .expect("spawn the proxy's accept thread")
        };
        Self {
            url: format!("http://{addr}"),
            addr,
            shared,
            accept: Some(accept),
        }
    }

    /// Turns a fault on (the others stay as they are).
    pub fn set(&self, fault: Fault) {
        self.shared.lock().faults.insert(fault);
    }

    /// Turns a fault off (the others stay as they are).
    pub fn unset(&self, fault: Fault) {
        self.shared.lock().faults.remove(&fault);
    }

    /// Turns every fault off: from now on the proxy forwards everything
    /// unchanged. What it recorded (calls, intercepted transactions) stays.
    pub fn clear(&self) {
        self.shared.lock().faults.clear();
    }

    /// The faults that are on.
    pub fn faults(&self) -> Vec<Fault> {
        self.shared.lock().faults.iter().copied().collect()
    }

    /// How many calls of `method` the proxy has received (each call of a batch
    /// counts; calls answered with HTTP 503 by [`Fault::Down`] count too).
    pub fn calls(&self, method: &str) -> usize {
        self.shared.lock().calls.get(method).copied().unwrap_or(0)
    }

    /// Every `eth_sendRawTransaction` a fault touched, in order.
    pub fn intercepted(&self) -> Vec<Intercepted> {
        self.shared.lock().intercepted.clone()
    }

    /// The transactions the proxy did not forward ([`Fault::SwallowSend`],
    /// [`Fault::DropSend`]), in order, with the hashes it answered.
    pub fn swallowed(&self) -> Vec<Intercepted> {
        self.shared
            .lock()
            .intercepted
            .iter()
            .filter(|i| !i.forwarded)
            .cloned()
            .collect()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        // Wake the blocking accept; if that fails, leave the thread detached
        // rather than risk waiting for it forever.
        let woke = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2)).is_ok();
        if let Some(accept) = self.accept.take() {
            if woke {
                let _ = accept.join();
            }
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking connection thread must not take the test down with it.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    loop {
        let accepted = listener.accept();
        if shared.shutdown.load(Ordering::SeqCst) {
            return;
        }
        match accepted {
            Ok((stream, _)) => {
                let shared = Arc::clone(shared);
                // If no thread can be had, the connection is dropped: the
                // client sees a transport error, as from a flaky node.
                let _ = std::thread::Builder::new()
                    .name("fault-proxy-conn".to_owned())
                    .spawn(move || serve(stream, &shared));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Serves one request on a connection and closes it.
fn serve(stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(CLIENT_TIMEOUT));
    let _ = stream.set_write_timeout(Some(CLIENT_TIMEOUT));
    let reply = match read_request(&stream) {
        Ok(body) => handle(shared, &body),
        Err(reply) => reply,
    };
    let _ = write_reply(&stream, &reply);
}

/// Reads the request head and its `Content-Length` body.
fn read_request(stream: &TcpStream) -> Result<Vec<u8>, Reply> {
    let mut reader = BufReader::new(stream);
    let mut head_len = 0;
    let mut content_length = None;
    let mut first = true;
    loop {
        let mut line = String::new();
        let n = reader
            .read_line(&mut line)
            .map_err(|e| Reply::error(400, &format!("reading the request: {e}")))?;
        if n == 0 {
            return Err(Reply::error(400, "connection closed in the request head"));
        }
        head_len += n;
        if head_len > MAX_HEAD {
            return Err(Reply::error(431, "request head too large"));
        }
        let line = line.trim_end();
        if first {
            first = false;
            if !line.starts_with("POST ") {
                return Err(Reply::error(405, "only POST is served"));
            }
            continue;
        }
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            let name = name.trim();
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                content_length = Some(
                    value
                        .parse::<usize>()
                        .map_err(|_| Reply::error(400, "bad Content-Length"))?,
                );
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                return Err(Reply::error(411, "send a Content-Length body"));
            }
        }
    }
    let len = content_length.ok_or_else(|| Reply::error(411, "no Content-Length"))?;
    if len > MAX_BODY {
        return Err(Reply::error(413, "request body too large"));
    }
    let mut body = vec![0; len];
    reader
        .read_exact(&mut body)
        .map_err(|e| Reply::error(400, &format!("reading the request body: {e}")))?;
    Ok(body)
}

fn write_reply(mut stream: &TcpStream, reply: &Reply) -> std::io::Result<()> {
    let reason = match reply.status {
        200 => "OK",
        400 => "Bad Request",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let head = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reply.status,
        reply.body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(reply.body.as_bytes())?;
    stream.flush()?;
    let _ = stream.shutdown(std::net::Shutdown::Write);
    Ok(())
}

/// What to do with one call.
enum Plan {
    /// Forward it, then let the faults rewrite the answer.
    Forward,
    /// Answer it without asking the node.
    Answer(Value),
}

/// Answers one HTTP request body: a JSON-RPC call or a batch of them.
fn handle(shared: &Shared, body: &[u8]) -> Reply {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let (calls, batch) = match parsed {
        Some(Value::Array(calls)) => (calls, true),
        Some(call) => (vec![call], false),
        None => {
            if shared.lock().faults.contains(&Fault::Down) {
                return Reply::error(503, "node down (injected fault)");
            }
            return send(shared, body);
        }
    };
    let faults = {
        let mut state = shared.lock();
        for call in &calls {
            let method = call.get("method").and_then(Value::as_str).unwrap_or("");
            *state.calls.entry(method.to_owned()).or_insert(0) += 1;
        }
        state.faults.clone()
    };
    if faults.contains(&Fault::Down) {
        return Reply::error(503, "node down (injected fault)");
    }
    if calls.is_empty() {
        return send(shared, body);
    }
    let plans: Vec<Plan> = calls.iter().map(|c| plan(shared, &faults, c)).collect();
    let to_forward: Vec<&Value> = calls
        .iter()
        .zip(&plans)
        .filter(|(_, p)| matches!(p, Plan::Forward))
        .map(|(c, _)| c)
        .collect();
    let mut answers = match forward_calls(shared, &to_forward) {
        Ok(answers) => answers.into_iter(),
        Err(reply) => return reply,
    };
    let mut out = Vec::with_capacity(calls.len());
    for (call, plan) in calls.iter().zip(plans) {
        let answer = match plan {
            Plan::Answer(v) => v,
            Plan::Forward => match answers.next() {
                Some(v) => rewrite(shared, &faults, call, v),
                None => rpc_error(call, -32603, "proxy: no answer from the node"),
            },
        };
        out.push(answer);
    }
    if batch {
        Reply::json(&Value::Array(out))
    } else {
        Reply::json(&out.pop().unwrap_or(Value::Null))
    }
}

fn method_of(call: &Value) -> &str {
    call.get("method").and_then(Value::as_str).unwrap_or("")
}

fn first_param(call: &Value) -> Option<&str> {
    call.get("params")
        .and_then(|p| p.get(0))
        .and_then(Value::as_str)
}

fn rpc_result(call: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": call.get("id").cloned().unwrap_or(Value::Null), "result": result})
}

fn rpc_error(call: &Value, code: i64, message: &str) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": call.get("id").cloned().unwrap_or(Value::Null),
        "error": {"code": code, "message": message},
    })
}

/// A made-up 32-byte hash for `raw`, different from its real hash.
fn fake_hash(state: &mut State, raw: &[u8], real: &str) -> String {
    loop {
        state.counter += 1;
        let mut seed = b"coldsign fault proxy".to_vec();
        seed.extend_from_slice(&state.counter.to_be_bytes());
        seed.extend_from_slice(raw);
        let fake = keccak256(&seed).to_hex();
        if fake != real {
            return fake;
        }
    }
}

/// Decides whether a call goes to the node.
fn plan(shared: &Shared, faults: &BTreeSet<Fault>, call: &Value) -> Plan {
    let keep = !(faults.contains(&Fault::SwallowSend) || faults.contains(&Fault::DropSend));
    if method_of(call) != "eth_sendRawTransaction" || keep {
        return Plan::Forward;
    }
    let Some(raw_hex) = first_param(call) else {
        return Plan::Forward;
    };
    let Ok(raw) = hex_data::decode(raw_hex) else {
        return Plan::Forward; // let the node reject it
    };
    let real = keccak256(&raw).to_hex();
    let mut state = shared.lock();
    let answered = if faults.contains(&Fault::ErrorAfterSend) {
        None
    } else if faults.contains(&Fault::SwallowSend) || faults.contains(&Fault::WrongHash) {
        Some(fake_hash(&mut state, &raw, &real))
    } else {
        Some(real.clone())
    };
    if let Some(h) = &answered {
        state.raw_by_hash.insert(h.clone(), raw);
    }
    state.intercepted.push(Intercepted {
        raw: raw_hex.to_owned(),
        real_hash: real,
        answered: answered.clone(),
        forwarded: false,
    });
    Plan::Answer(match answered {
        Some(h) => rpc_result(call, json!(h)),
        None => rpc_error(call, -32000, ERROR_AFTER_SEND_MESSAGE),
    })
}

/// Rewrites the node's answer to a forwarded call as the faults say.
fn rewrite(shared: &Shared, faults: &BTreeSet<Fault>, call: &Value, answer: Value) -> Value {
    let succeeded = answer.get("error").is_none() && answer.get("result").is_some();
    match method_of(call) {
        "eth_sendRawTransaction"
            if succeeded
                && (faults.contains(&Fault::ErrorAfterSend)
                    || faults.contains(&Fault::WrongHash)) =>
        {
            let raw_hex = first_param(call).unwrap_or("0x");
            let raw = hex_data::decode(raw_hex).unwrap_or_default();
            let real = keccak256(&raw).to_hex();
            let mut state = shared.lock();
            let answered = if faults.contains(&Fault::ErrorAfterSend) {
                None
            } else {
                Some(fake_hash(&mut state, &raw, &real))
            };
            if let Some(h) = &answered {
                state.raw_by_hash.insert(h.clone(), raw);
            }
            state.intercepted.push(Intercepted {
                raw: raw_hex.to_owned(),
                real_hash: real,
                answered: answered.clone(),
                forwarded: true,
            });
            match answered {
                Some(h) => rpc_result(call, json!(h)),
                None => rpc_error(call, -32000, ERROR_AFTER_SEND_MESSAGE),
            }
        }
        m @ ("eth_getTransactionReceipt" | "eth_getTransactionByHash")
            if faults.contains(&Fault::FakeReceipts)
                && succeeded
                && answer.get("result").is_some_and(Value::is_null) =>
        {
            let Some(hash) = first_param(call).map(str::to_ascii_lowercase) else {
                return answer;
            };
            let Some(place) = placement(shared, &hash) else {
                return answer; // no latest block: tell the truth
            };
            let raw = shared.lock().raw_by_hash.get(&hash).cloned();
            let tx = raw.and_then(|r| SignedTransaction::decode(&r).ok());
            let invented = if m == "eth_getTransactionReceipt" {
                invent_receipt(&hash, &place, tx.as_ref())
            } else {
                invent_transaction(&hash, &place, tx.as_ref())
            };
            rpc_result(call, invented)
        }
        _ => answer,
    }
}

/// The block an invented receipt for `hash` is in: the node's latest block
/// when first asked, the same one afterwards.
fn placement(shared: &Shared, hash: &str) -> Option<Placement> {
    if let Some(p) = shared.lock().placements.get(hash) {
        return Some(p.clone());
    }
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_getBlockByNumber", "params": ["latest", false]});
    let answer = forward_calls(shared, &[&call]).ok()?.pop()?;
    let block = answer.get("result")?;
    let block_hash = block.get("hash").filter(|h| h.is_string())?.clone();
    let block_number = block.get("number").filter(|n| n.is_string())?.clone();
    let base_fee = block
        .get("baseFeePerGas")
        .and_then(Value::as_str)
        .and_then(|s| U256::from_str_radix(s.trim_start_matches("0x"), 16).ok())
        .unwrap_or_else(U256::zero);
    let place = Placement {
        block_hash,
        block_number,
        base_fee,
    };
    Some(
        shared
            .lock()
            .placements
            .entry(hash.to_owned())
            .or_insert(place)
            .clone(),
    )
}

fn address_hex(a: Address) -> String {
    hex_data::encode(a.0)
}

/// Gas a transaction plausibly used: 21000 for a plain transfer, a token
/// transfer's worth for a call, never above its limit.
fn gas_used(tx: &Transaction) -> u64 {
    if tx.input().is_empty() {
        21_000.min(tx.gas_limit())
    } else {
        (21_000 + 16 * tx.input().len() as u64 + 30_000).min(tx.gas_limit())
    }
}

fn effective_gas_price(tx: Option<&Transaction>, base_fee: U256) -> U256 {
    match tx {
        Some(Transaction::Legacy(t)) => t.gas_price,
        Some(Transaction::Eip1559(t)) => t
            .max_fee_per_gas
            .min(base_fee.saturating_add(t.max_priority_fee_per_gas)),
        None if base_fee.is_zero() => U256::from(1_000_000_000u64),
        None => base_fee,
    }
}

fn sender(tx: &SignedTransaction) -> String {
    tx.recover_sender()
        .map(address_hex)
        .unwrap_or_else(|_| address_hex(Address([0; 20])))
}

fn invent_receipt(hash: &str, place: &Placement, tx: Option<&SignedTransaction>) -> Value {
    let zero = address_hex(Address([0; 20]));
    let (from, to, gas, kind) = match tx {
        Some(s) => (
            sender(s),
            s.transaction().to().map(address_hex),
            gas_used(s.transaction()),
            s.transaction().tx_type(),
        ),
        None => (zero.clone(), Some(zero), 21_000, 2),
    };
    json!({
        "transactionHash": hash,
        "transactionIndex": "0x0",
        "blockHash": place.block_hash,
        "blockNumber": place.block_number,
        "from": from,
        "to": to,
        "cumulativeGasUsed": quantity_u64(gas),
        "gasUsed": quantity_u64(gas),
        "effectiveGasPrice": quantity_u256(effective_gas_price(tx.map(SignedTransaction::transaction), place.base_fee)),
        "contractAddress": null,
        "logs": [],
        "logsBloom": format!("0x{}", "0".repeat(512)),
        "status": "0x1",
        "type": quantity_u64(u64::from(kind)),
    })
}

fn invent_transaction(hash: &str, place: &Placement, tx: Option<&SignedTransaction>) -> Value {
    let price = effective_gas_price(tx.map(SignedTransaction::transaction), place.base_fee);
    let mut v = json!({
        "hash": hash,
        "blockHash": place.block_hash,
        "blockNumber": place.block_number,
        "transactionIndex": "0x0",
        "gasPrice": quantity_u256(price),
    });
    let fields = match tx {
        None => {
            let zero = address_hex(Address([0; 20]));
            json!({
                "type": "0x2", "from": zero, "to": zero, "nonce": "0x0", "value": "0x0",
                "input": "0x", "gas": "0x5208", "maxFeePerGas": quantity_u256(price),
                "maxPriorityFeePerGas": "0x0", "accessList": [], "v": "0x0", "r": "0x0", "s": "0x0",
            })
        }
        Some(s) => {
            let t = s.transaction();
            let sig = s.signature();
            let mut f = json!({
                "type": quantity_u64(u64::from(t.tx_type())),
                "chainId": quantity_u64(t.chain_id()),
                "from": sender(s),
                "to": t.to().map(address_hex),
                "nonce": quantity_u64(t.nonce()),
                "value": quantity_u256(t.value()),
                "input": hex_data::encode(t.input()),
                "gas": quantity_u64(t.gas_limit()),
                "r": quantity_u256(sig.r()),
                "s": quantity_u256(sig.s()),
            });
            match t {
                Transaction::Legacy(l) => {
                    f["v"] = json!(quantity_u256(TxLegacy::eip155_v(
                        l.chain_id,
                        sig.y_parity()
                    )));
                }
                Transaction::Eip1559(e) => {
                    let parity = quantity_u64(u64::from(sig.y_parity()));
                    f["v"] = json!(parity);
                    f["yParity"] = json!(parity);
                    f["maxFeePerGas"] = json!(quantity_u256(e.max_fee_per_gas));
                    f["maxPriorityFeePerGas"] = json!(quantity_u256(e.max_priority_fee_per_gas));
                    f["accessList"] = serde_json::to_value(&e.access_list).unwrap_or(json!([]));
                }
            }
            f
        }
    };
    if let (Some(v), Value::Object(f)) = (v.as_object_mut(), fields) {
        v.extend(f);
    }
    v
}

/// Forwards calls to the node (one request: a single call or a batch) and
/// returns the answers in the calls' order.
fn forward_calls(shared: &Shared, calls: &[&Value]) -> Result<Vec<Value>, Reply> {
    match calls {
        [] => Ok(Vec::new()),
        [call] => post(shared, call).map(|v| vec![v]),
        _ => {
            // Answers of a batch come in any order: match them by id, which
            // needs unique ids; otherwise forward one call at a time.
            let keys: Option<Vec<String>> = calls
                .iter()
                .map(|c| c.get("id").filter(|id| !id.is_null()).map(Value::to_string))
                .collect();
            let unique = keys
                .as_ref()
                .is_some_and(|k| k.iter().collect::<HashSet<_>>().len() == k.len());
            let Some(keys) = keys.filter(|_| unique) else {
                return calls.iter().map(|c| post(shared, c)).collect();
            };
            let batch = Value::Array(calls.iter().map(|c| (*c).clone()).collect());
            let answer = post(shared, &batch)?;
            let Value::Array(answers) = answer else {
                // A whole-batch error: the client gets it as the node said it.
                return Err(Reply::json(&answer));
            };
            let mut by_id: HashMap<String, Value> = answers
                .into_iter()
                .map(|a| (a.get("id").map(Value::to_string).unwrap_or_default(), a))
                .collect();
            Ok(calls
                .iter()
                .zip(keys)
                .map(|(c, k)| {
                    by_id
                        .remove(&k)
                        .unwrap_or_else(|| rpc_error(c, -32603, "proxy: no answer from the node"))
                })
                .collect())
        }
    }
}

/// POSTs one JSON body to the node; an HTTP error or a transport failure
/// becomes the reply the client gets.
fn post(shared: &Shared, body: &Value) -> Result<Value, Reply> {
    let reply = send(shared, body.to_string().as_bytes());
    if reply.status != 200 {
        return Err(reply);
    }
    serde_json::from_str(&reply.body).map_err(|e| Reply::error(502, &format!("node answer: {e}")))
}

fn send(shared: &Shared, body: &[u8]) -> Reply {
    let sent = shared
        .agent
        .post(&shared.upstream)
        .set("Content-Type", "application/json")
        .send_bytes(body);
    match sent {
        Ok(resp) => {
            let status = resp.status();
            match read_all(resp) {
                Ok(body) => Reply { status, body },
                Err(e) => Reply::error(502, &format!("reading the node's answer: {e}")),
            }
        }
        Err(ureq::Error::Status(status, resp)) => Reply {
            status,
            body: read_all(resp).unwrap_or_default(),
        },
        Err(ureq::Error::Transport(t)) => Reply::error(502, &format!("node unreachable: {t}")),
    }
}

/// The whole answer body (`into_string` stops at 10 MB; big batches need more).
fn read_all(resp: ureq::Response) -> std::io::Result<String> {
    let mut body = String::new();
    resp.into_reader()
        .take(MAX_BODY as u64)
        .read_to_string(&mut body)?;
    Ok(body)
}
