//! The fault-injecting proxy of the test kit, checked against a real anvil:
//! it must forward the truth unchanged and lie exactly as each fault says,
//! or the exactly-once tests built on it would prove nothing.

use coldsign_core::{SignedTransaction, Transaction, TxEip1559, U256};
use coldsign_e2e::{dev, Anvil, Fault, FaultProxy};
use serde_json::{json, Value};
use std::time::Duration;

const GWEI: u64 = 1_000_000_000;

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build()
}

/// POSTs a JSON body and returns the JSON answer (panics on HTTP errors).
fn post(url: &str, body: &Value) -> Value {
    agent()
        .post(url)
        .send_json(body)
        .unwrap_or_else(|e| panic!("POST {body} to {url}: {e}"))
        .into_json()
        .expect("JSON answer")
}

/// One call; the whole JSON-RPC response object.
fn call(url: &str, method: &str, params: Value) -> Value {
    post(
        url,
        &json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}),
    )
}

/// One call; its result (panics on a JSON-RPC error).
fn result(url: &str, method: &str, params: Value) -> Value {
    let answer = call(url, method, params);
    assert!(answer.get("error").is_none(), "{method}: {answer}");
    answer["result"].clone()
}

fn is_hash(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        s.len() == 66 && s.starts_with("0x") && s[2..].bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// A 1-wei transfer from dev account 0 to dev account 1 with the given nonce,
/// signed with dev account 0's key.
fn transfer(anvil: &Anvil, nonce: u64) -> SignedTransaction {
    let latest = anvil.rpc("eth_getBlockByNumber", json!(["latest", false]));
    let base = latest["baseFeePerGas"].as_str().expect("base fee");
    let base = U256::from_str_radix(base.trim_start_matches("0x"), 16).expect("hex");
    let tx = Transaction::Eip1559(TxEip1559 {
        chain_id: 31337,
        nonce,
        max_priority_fee_per_gas: U256::from(GWEI),
        max_fee_per_gas: base * 2 + U256::from(GWEI),
        gas_limit: 21_000,
        to: Some(dev(1).1),
        value: U256::from(1u8),
        input: Vec::new(),
        access_list: Vec::new(),
    });
    tx.sign(&dev(0).0).expect("sign")
}

fn raw_hex(tx: &SignedTransaction) -> String {
    format!("0x{}", hex::encode(tx.raw()))
}

fn send_raw(url: &str, tx: &SignedTransaction) -> Value {
    call(url, "eth_sendRawTransaction", json!([raw_hex(tx)]))
}

fn lower(a: coldsign_core::Address) -> String {
    format!("0x{}", hex::encode(a.0))
}

#[test]
fn passes_single_calls_and_batches_through() {
    let anvil = Anvil::start();
    let proxy = FaultProxy::start(&anvil.url);
    assert_ne!(proxy.url, anvil.url);
    assert_eq!(result(&proxy.url, "eth_chainId", json!([])), "0x7a69");

    // Several sequential requests from one ureq agent (as the hub makes).
    let agent = agent();
    for _ in 0..5 {
        let v: Value = agent
            .post(&proxy.url)
            .send_json(
                json!({"jsonrpc": "2.0", "id": 9, "method": "eth_blockNumber", "params": []}),
            )
            .expect("sequential request through the proxy")
            .into_json()
            .expect("JSON");
        assert_eq!(v["id"], 9);
        assert!(v["result"].is_string(), "{v}");
    }

    let who = dev(0).1.to_string();
    let batch = json!([
        {"jsonrpc": "2.0", "id": 7, "method": "eth_chainId", "params": []},
        {"jsonrpc": "2.0", "id": "b", "method": "eth_getTransactionCount", "params": [who, "latest"]},
        {"jsonrpc": "2.0", "id": 3, "method": "eth_getBalance", "params": [who, "latest"]},
    ]);
    let answers = post(&proxy.url, &batch);
    let answers = answers.as_array().expect("a batch answer");
    assert_eq!(answers.len(), 3);
    assert_eq!(answers[0]["id"], 7);
    assert_eq!(answers[0]["result"], "0x7a69");
    assert_eq!(answers[1]["id"], "b");
    assert_eq!(
        answers[1]["result"],
        anvil.rpc("eth_getTransactionCount", json!([who, "latest"]))
    );
    assert_eq!(answers[2]["id"], 3);
    assert_eq!(
        answers[2]["result"],
        anvil.rpc("eth_getBalance", json!([who, "latest"]))
    );

    // Duplicate ids cannot be matched in a forwarded batch: still one answer
    // per call, in order.
    let dup = json!([
        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
        {"jsonrpc": "2.0", "id": 1, "method": "eth_getTransactionCount", "params": [who, "latest"]},
    ]);
    let answers = post(&proxy.url, &dup);
    assert_eq!(answers[0]["result"], "0x7a69");
    assert_eq!(answers[1]["result"], "0x0");

    assert_eq!(proxy.calls("eth_chainId"), 3);
    assert_eq!(proxy.calls("eth_blockNumber"), 5);
    assert_eq!(proxy.calls("eth_getTransactionCount"), 2);
    assert_eq!(proxy.calls("eth_sendRawTransaction"), 0);
    assert!(proxy.faults().is_empty());
    assert!(proxy.intercepted().is_empty());
}

#[test]
fn swallow_send_answers_a_made_up_hash_and_sends_nothing() {
    let anvil = Anvil::start();
    let proxy = FaultProxy::start(&anvil.url);
    let sender = dev(0).1;
    let nonce = anvil.nonce(sender);
    let tx = transfer(&anvil, nonce);
    let real = tx.hash().to_hex();

    proxy.set(Fault::SwallowSend);
    let answer = send_raw(&proxy.url, &tx);
    let fake = &answer["result"];
    assert!(is_hash(fake), "not a 32-byte hash: {answer}");
    assert_ne!(fake, &json!(real));

    anvil.mine(2);
    assert_eq!(anvil.nonce(sender), nonce, "the swallowed tx reached anvil");
    assert!(anvil
        .rpc("eth_getTransactionByHash", json!([real]))
        .is_null());

    let swallowed = proxy.swallowed();
    assert_eq!(swallowed.len(), 1);
    assert_eq!(swallowed[0].raw, raw_hex(&tx));
    assert_eq!(swallowed[0].real_hash, real);
    assert_eq!(swallowed[0].answered.as_deref(), fake.as_str());
    assert!(!swallowed[0].forwarded);

    // A second send of the same bytes gets another made-up hash.
    let again = send_raw(&proxy.url, &tx);
    assert_ne!(&again["result"], fake);
    assert_eq!(proxy.calls("eth_sendRawTransaction"), 2);

    // Once cleared, the same bytes go through and get mined.
    proxy.clear();
    let answer = send_raw(&proxy.url, &tx);
    assert_eq!(answer["result"], json!(real));
    assert_eq!(anvil.wait_receipt(&json!(real))["status"], "0x1");
    assert_eq!(anvil.nonce(sender), nonce + 1);
    assert_eq!(proxy.swallowed().len(), 2);
}

#[test]
fn drop_send_answers_the_real_hash_and_sends_nothing() {
    let anvil = Anvil::start();
    let proxy = FaultProxy::start(&anvil.url);
    let sender = dev(0).1;
    let nonce = anvil.nonce(sender);
    let tx = transfer(&anvil, nonce);

    proxy.set(Fault::DropSend);
    let answer = send_raw(&proxy.url, &tx);
    assert_eq!(answer["result"], json!(tx.hash().to_hex()));
    anvil.mine(1);
    assert_eq!(anvil.nonce(sender), nonce);
    assert!(anvil
        .rpc("eth_getTransactionReceipt", json!([tx.hash().to_hex()]))
        .is_null());
    assert_eq!(proxy.swallowed().len(), 1);
}

#[test]
fn error_after_send_errors_yet_the_transaction_is_mined() {
    let anvil = Anvil::start();
    let proxy = FaultProxy::start(&anvil.url);
    let sender = dev(0).1;
    let nonce = anvil.nonce(sender);
    let tx = transfer(&anvil, nonce);

    proxy.set(Fault::ErrorAfterSend);
    let answer = send_raw(&proxy.url, &tx);
    assert!(answer.get("result").is_none(), "{answer}");
    assert_eq!(answer["id"], 1);
    assert_eq!(answer["error"]["code"], -32000);
    assert_eq!(
        answer["error"]["message"],
        "internal error: timeout waiting for txpool"
    );

    let receipt = anvil.wait_receipt(&json!(tx.hash().to_hex()));
    assert_eq!(receipt["status"], "0x1");
    assert_eq!(anvil.nonce(sender), nonce + 1);
    let seen = proxy.intercepted();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].forwarded);
    assert_eq!(seen[0].answered, None);
    assert!(proxy.swallowed().is_empty());
}

#[test]
fn wrong_hash_forwards_but_answers_another_hash() {
    let anvil = Anvil::start();
    let proxy = FaultProxy::start(&anvil.url);
    let sender = dev(0).1;
    let nonce = anvil.nonce(sender);
    let tx = transfer(&anvil, nonce);
    let real = tx.hash().to_hex();

    proxy.set(Fault::WrongHash);
    let answer = send_raw(&proxy.url, &tx);
    let wrong = answer["result"].clone();
    assert!(is_hash(&wrong), "{answer}");
    assert_ne!(wrong, json!(real));

    assert_eq!(anvil.wait_receipt(&json!(real))["status"], "0x1");
    assert_eq!(anvil.nonce(sender), nonce + 1);
    // Without FakeReceipts the made-up hash has no receipt, even via the proxy.
    assert!(result(&proxy.url, "eth_getTransactionReceipt", json!([wrong])).is_null());
}

#[test]
fn fake_receipts_put_a_swallowed_transaction_in_a_real_block_that_lacks_it() {
    let anvil = Anvil::start();
    anvil.mine(3);
    let proxy = FaultProxy::start(&anvil.url);
    let (_, sender) = dev(0);
    let nonce = anvil.nonce(sender);
    let tx = transfer(&anvil, nonce);

    proxy.set(Fault::SwallowSend);
    proxy.set(Fault::FakeReceipts);
    assert_eq!(
        proxy.faults(),
        vec![Fault::SwallowSend, Fault::FakeReceipts]
    );
    let fake = send_raw(&proxy.url, &tx)["result"].clone();
    assert!(is_hash(&fake));

    let receipt = result(&proxy.url, "eth_getTransactionReceipt", json!([fake]));
    assert_eq!(receipt["status"], "0x1", "{receipt}");
    assert_eq!(receipt["transactionHash"], fake);
    assert_eq!(receipt["transactionIndex"], "0x0");
    assert_eq!(receipt["from"], json!(lower(sender)));
    assert_eq!(receipt["to"], json!(lower(dev(1).1)));
    assert_eq!(receipt["gasUsed"], "0x5208");
    assert_eq!(receipt["logs"], json!([]));
    assert_eq!(receipt["type"], "0x2");
    // Base fee of the (unchanged) latest block plus the 1 gwei tip.
    let block = anvil.rpc("eth_getBlockByHash", json!([receipt["blockHash"], false]));
    let quantity = |v: &Value| {
        U256::from_str_radix(v.as_str().expect("quantity").trim_start_matches("0x"), 16)
            .expect("hex")
    };
    assert_eq!(
        quantity(&receipt["effectiveGasPrice"]),
        quantity(&block["baseFeePerGas"]) + U256::from(GWEI)
    );

    // The block is real and canonical: anvil itself has it at that number...
    let block_hash = receipt["blockHash"].clone();
    let block = anvil.rpc("eth_getBlockByHash", json!([block_hash, false]));
    assert!(!block.is_null(), "invented receipt in a block anvil lacks");
    assert_eq!(block["number"], receipt["blockNumber"]);
    let canonical = anvil.rpc(
        "eth_getBlockByNumber",
        json!([receipt["blockNumber"], false]),
    );
    assert_eq!(canonical["hash"], block_hash);
    // ...and, through the proxy too, does not contain the transaction.
    let via_proxy = result(&proxy.url, "eth_getBlockByHash", json!([block_hash, false]));
    assert_eq!(via_proxy["hash"], block_hash);
    let txs = via_proxy["transactions"].as_array().expect("transactions");
    assert!(!txs.contains(&fake), "{via_proxy}");

    // The invented transaction agrees with the receipt and the signed bytes.
    let found = result(&proxy.url, "eth_getTransactionByHash", json!([fake]));
    assert_eq!(found["hash"], fake);
    assert_eq!(found["blockHash"], block_hash);
    assert_eq!(found["from"], json!(lower(sender)));
    assert_eq!(found["nonce"], json!(format!("{nonce:#x}")));
    assert_eq!(found["value"], "0x1");

    // The lie is stable: same block after more blocks are mined.
    anvil.mine(2);
    let later = result(&proxy.url, "eth_getTransactionReceipt", json!([fake]));
    assert_eq!(later["blockHash"], block_hash);

    // anvil never saw it.
    assert!(anvil
        .rpc("eth_getTransactionReceipt", json!([fake]))
        .is_null());
    assert_eq!(anvil.nonce(sender), nonce);

    // Receipts anvil has pass through unchanged.
    proxy.unset(Fault::SwallowSend);
    let real = send_raw(&proxy.url, &transfer(&anvil, nonce))["result"].clone();
    let mined = anvil.wait_receipt(&real);
    assert_eq!(
        result(&proxy.url, "eth_getTransactionReceipt", json!([real])),
        mined
    );

    // With the fault off, the made-up hash has no receipt again.
    proxy.clear();
    assert!(result(&proxy.url, "eth_getTransactionReceipt", json!([fake])).is_null());
}

#[test]
fn faults_apply_per_call_inside_a_batch() {
    let anvil = Anvil::start();
    let proxy = FaultProxy::start(&anvil.url);
    let sender = dev(0).1;
    let nonce = anvil.nonce(sender);
    let tx = transfer(&anvil, nonce);
    let real = tx.hash().to_hex();

    proxy.set(Fault::SwallowSend);
    proxy.set(Fault::FakeReceipts);
    let batch = json!([
        {"jsonrpc": "2.0", "id": 10, "method": "eth_chainId", "params": []},
        {"jsonrpc": "2.0", "id": 11, "method": "eth_sendRawTransaction", "params": [raw_hex(&tx)]},
        {"jsonrpc": "2.0", "id": 12, "method": "eth_getTransactionCount", "params": [sender.to_string(), "latest"]},
        {"jsonrpc": "2.0", "id": 13, "method": "eth_getTransactionReceipt", "params": [real]},
    ]);
    let answers = post(&proxy.url, &batch);
    let answers = answers.as_array().expect("batch");
    let ids: Vec<&Value> = answers.iter().map(|a| &a["id"]).collect();
    assert_eq!(ids, [&json!(10), &json!(11), &json!(12), &json!(13)]);
    assert_eq!(answers[0]["result"], "0x7a69");
    assert!(is_hash(&answers[1]["result"]));
    assert_ne!(answers[1]["result"], json!(real));
    assert_eq!(answers[2]["result"], json!(format!("{nonce:#x}")));
    // Unknown to anvil, so FakeReceipts invents one for the real hash too.
    assert_eq!(answers[3]["result"]["status"], "0x1");
    assert_eq!(answers[3]["result"]["transactionHash"], json!(real));
    assert_eq!(anvil.nonce(sender), nonce);
    assert_eq!(proxy.calls("eth_sendRawTransaction"), 1);
    assert_eq!(proxy.calls("eth_getTransactionReceipt"), 1);
}

#[test]
fn down_answers_http_503_and_counts_the_calls() {
    let anvil = Anvil::start();
    let proxy = FaultProxy::start(&anvil.url);
    proxy.set(Fault::Down);
    for _ in 0..3 {
        match agent()
            .post(&proxy.url)
            .send_json(json!({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}))
        {
            Err(ureq::Error::Status(503, _)) => {}
            Err(e) => panic!("expected HTTP 503, got {e}"),
            Ok(r) => panic!("expected HTTP 503, got {}", r.status()),
        }
    }
    assert_eq!(proxy.calls("eth_chainId"), 3);
    proxy.unset(Fault::Down);
    assert_eq!(result(&proxy.url, "eth_chainId", json!([])), "0x7a69");
}

#[test]
fn a_dropped_proxy_stops_listening() {
    let anvil = Anvil::start();
    let proxy = FaultProxy::start(&anvil.url);
    let url = proxy.url.clone();
    assert_eq!(result(&url, "eth_chainId", json!([])), "0x7a69");
    drop(proxy);
    let after = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(5))
        .build()
        .post(&url)
        .send_json(json!({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}));
    assert!(
        matches!(after, Err(ureq::Error::Transport(_))),
        "still answering"
    );
}
