//! `hub-cli serve` over real sockets with a real HTTP client, on anvil:
//! the API's rules (authentication, scopes, idempotency, tenant isolation,
//! bad and oversized bodies), a whole cold cycle that the service alone
//! takes to CLOSED while a local receiver checks every signed callback,
//! kill -9 at random moments, and several processes on one database.

use crate::harness::*;
use coldsign_core::Address;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use std::{
    collections::BTreeMap,
    io::{BufReader, Write},
    net::TcpListener,
    process::{Child, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// A running `hub-cli serve`.
pub struct Service {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl Service {
    /// Starts `hub-cli serve` for the world's database on a free port and
    /// waits until it answers.
    pub fn start(w: &World) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let listen = format!("127.0.0.1:{port}");
        let child = w
            .command(&["serve", "--listen", &listen, "--supervisor-interval", "1"])
            .env("HUB_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let s = Self {
            child,
            url: format!("http://{listen}"),
        };
        let start = Instant::now();
        while ureq::get(&format!("{}/healthz", s.url)).call().is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the service did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        s
    }

    /// A request with `key`; returns (status, JSON body).
    pub fn call(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<&str>,
    ) -> (u16, Value) {
        let mut req = ureq::request(method, &format!("{}{path}", self.url));
        if let Some(k) = key {
            req = req.set("Authorization", &format!("Bearer {k}"));
        }
        let answer = match body {
            Some(b) => req.set("Content-Type", "application/json").send_string(b),
            None => req.call(),
        };
        let (status, text) = match answer {
            Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
            Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
            Err(e) => panic!("{method} {path}: {e}"),
        };
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// kill -9.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM; returns the exit code.
    pub fn terminate(mut self) -> Option<i32> {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "serve did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A local callback receiver: answers 200 (or 500 while `failing`) and
/// records every request's signature header and body.
pub struct Receiver {
    /// Its URL.
    pub url: String,
    /// (X-Coldsign-Signature, body) of every request.
    pub got: Arc<Mutex<Vec<(String, String)>>>,
    /// Answer 500 while set.
    pub failing: Arc<Mutex<bool>>,
}

impl Receiver {
    /// Starts listening on a free loopback port.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/callback", listener.local_addr().unwrap());
        let got: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let failing: Arc<Mutex<bool>> = Arc::default();
        let (g, f) = (Arc::clone(&got), Arc::clone(&failing));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                // None: the sender died mid-request (kill -9): nothing was delivered.
                let Some(request) = coldsign_e2e::read_request(&mut reader) else {
                    continue;
                };
                let fail = *f.lock().unwrap();
                if !fail {
                    g.lock().unwrap().push((
                        request.signature,
                        String::from_utf8_lossy(&request.body).into_owned(),
                    ));
                }
                let status = if fail {
                    "500 Internal Server Error"
                } else {
                    "200 OK"
                };
                let mut s = stream;
                let _ = write!(
                    s,
                    "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
        });
        Self { url, got, failing }
    }

    /// The events received, each checked against its signature.
    pub fn verified_events(&self, secret: &str) -> Vec<Value> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|(sig, body)| {
                let (t, v1) = sig
                    .split_once(",v1=")
                    .map(|(t, v)| (t.trim_start_matches("t=").to_owned(), v.to_owned()))
                    .unwrap_or_else(|| panic!("no signature on {body}"));
                let mut mac =
                    <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap();
                mac.update(format!("{t}.{body}").as_bytes());
                assert_eq!(
                    hex::encode(mac.finalize().into_bytes()),
                    v1,
                    "bad signature on {body}"
                );
                let age = time_now() - t.parse::<i64>().unwrap();
                assert!((0..300).contains(&age), "stale timestamp {t}");
                serde_json::from_str(body).unwrap()
            })
            .collect()
    }
}

fn time_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

const SECRET: &str = "0123456789abcdef0123456789abcdef";

/// A local receiver for tenant acme's callbacks, set up with `callback set`.
fn callbacks_to_receiver(w: &World) -> Receiver {
    let receiver = Receiver::start();
    let secret_file = w.dir.path().join("acme.secret");
    std::fs::write(&secret_file, SECRET).unwrap();
    w.ok(&[
        "callback",
        "set",
        "--tenant",
        "acme",
        "--url",
        &receiver.url,
        "--secret-file",
        secret_file.to_str().unwrap(),
    ]);
    receiver
}

/// Creates acme's batch of every pending order through the API, exports it,
/// signs it with `key` as the cold signer would and uploads the signed file
/// through `uploader`; returns the batch id.
fn batch_signed_and_uploaded(
    w: &World,
    s: &Service,
    uploader: &Service,
    acme: &str,
    key: &k256::ecdsa::SigningKey,
) -> i64 {
    let (status, created) = s.call(
        "POST",
        "/v1/batches",
        Some(acme),
        Some(&json!({"chain": "local", "all_pending": true, "auto_build": true}).to_string()),
    );
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_i64().unwrap();
    let export = s
        .call("GET", &format!("/v1/batches/{id}/export"), Some(acme), None)
        .1;
    let unsigned = w
        .dir
        .path()
        .join(format!("batch_{id}_20260101_unsigned.json"));
    std::fs::write(&unsigned, export.to_string()).unwrap();
    let signed = sign_file(&unsigned, &[key]);
    let (status, body) = uploader.call(
        "POST",
        &format!("/v1/batches/{id}/upload"),
        Some(acme),
        Some(&std::fs::read_to_string(&signed).unwrap()),
    );
    assert_eq!(status, 200, "{body}");
    id
}

/// A key for `tenant` with every scope.
fn key(w: &World, tenant: &str, scope: &str) -> String {
    w.json(&["apikey", "create", "--tenant", tenant, "--scope", scope])["key"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn order(id: &str, from: Address, to: Address, amount: &str) -> Value {
    json!({"order_id": id, "chain": "local", "asset": "ETH", "from": from.to_string(), "to": to.to_string(), "amount": amount})
}

/// Waits until `f` holds (60 s at most).
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Every endpoint's rules: authentication, scopes, idempotency, tenant
/// isolation, paging, bad and oversized bodies (4xx that change nothing).
pub fn api_rules(backend: Backend) {
    let w = World::new(backend, 1);
    let (k1, a1) = dev(1);
    w.import_keys(&[&k1]);
    let acme = key(&w, "acme", "orders:write,orders:read,batches:operate");
    let other = key(&w, "globex", "orders:write,orders:read");
    let reader = key(&w, "acme", "orders:read");
    let s = Service::start(&w);

    assert_eq!(s.call("GET", "/healthz", None, None).0, 200);
    assert_eq!(s.call("GET", "/readyz", None, None).0, 200);
    let (status, doc) = s.call("GET", "/v1/openapi.json", None, None);
    assert_eq!(status, 200);
    let committed: Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(doc, committed, "the served document is docs/openapi.json");

    let one = order("A-1", a1, recipient(1), "1.5").to_string();
    assert_eq!(s.call("POST", "/v1/orders", None, Some(&one)).0, 401);
    assert_eq!(
        s.call("POST", "/v1/orders", Some("csk_nope"), Some(&one)).0,
        401
    );
    assert_eq!(
        s.call("POST", "/v1/orders", Some(&reader), Some(&one)).0,
        403
    );
    let (status, created) = s.call("POST", "/v1/orders", Some(&acme), Some(&one));
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["amount_base_units"], "1500000000000000000");
    assert_eq!(created["state"], "PENDING");
    // The same order again: the same answer, no change.
    let (status, again) = s.call("POST", "/v1/orders", Some(&acme), Some(&one));
    assert_eq!((status, &again), (200, &created));
    // The same id with other content: 409.
    let changed = order("A-1", a1, recipient(1), "2").to_string();
    assert_eq!(
        s.call("POST", "/v1/orders", Some(&acme), Some(&changed)).0,
        409
    );
    // Another tenant sees nothing of it, and cannot take its id.
    assert_eq!(s.call("GET", "/v1/orders/A-1", Some(&other), None).0, 404);
    assert_eq!(
        s.call("POST", "/v1/orders", Some(&other), Some(&one)).0,
        409
    );
    let (status, shown) = s.call("GET", "/v1/orders/A-1", Some(&acme), None);
    assert_eq!(status, 200);
    assert_eq!(shown["history"][0]["to_state"], "PENDING", "{shown}");

    // Bad bodies: 4xx with a message, nothing changed.
    for bad in ["{not json", "[]", "{\"order_id\": 1}", "{\"order_id\":\"x\",\"chain\":\"local\",\"asset\":\"ETH\",\"from\":\"0x1\",\"to\":\"0x2\",\"amount\":\"1\",\"extra\":1}"] {
        let (status, body) = s.call("POST", "/v1/orders", Some(&acme), Some(bad));
        assert!((400..500).contains(&status), "{bad}: {status} {body}");
        assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    }
    let big = format!("[{}]", vec![one.as_str(); 10_001].join(","));
    assert_eq!(s.call("POST", "/v1/orders", Some(&acme), Some(&big)).0, 413);
    // All or none: one bad order refuses the array.
    let mixed = json!([
        order("A-2", a1, recipient(2), "1"),
        order("A-3", a1, Address([0; 20]), "1")
    ])
    .to_string();
    let (status, body) = s.call("POST", "/v1/orders", Some(&acme), Some(&mixed));
    assert_eq!(status, 422, "{body}");
    assert_eq!(s.call("GET", "/v1/orders/A-2", Some(&acme), None).0, 404);

    let many = json!((2..7)
        .map(|n| order(&format!("A-{n}"), a1, recipient(n as u8), "1"))
        .collect::<Vec<_>>())
    .to_string();
    assert_eq!(
        s.call("POST", "/v1/orders", Some(&acme), Some(&many)).0,
        201
    );
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, page) = s.call(
            "GET",
            &format!("/v1/orders?limit=2&cursor={cursor}&state=PENDING"),
            Some(&acme),
            None,
        );
        assert_eq!(status, 200, "{page}");
        for o in page["orders"].as_array().unwrap() {
            seen.push(o["order_id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen, ["A-1", "A-2", "A-3", "A-4", "A-5", "A-6"]);
    assert_eq!(
        s.call("GET", "/v1/orders?state=NOPE", Some(&acme), None).0,
        400
    );
    assert_eq!(
        s.call("GET", "/v1/orders?limit=5", Some(&other), None).1["orders"],
        json!([])
    );
    assert_eq!(s.call("GET", "/v1/batches/1", Some(&acme), None).0, 404);
    for bad in ["state=LOST", "since=yesterday"] {
        let (status, body) = s.call("GET", &format!("/v1/deposits?{bad}"), Some(&acme), None);
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"]["kind"], "bad_request", "{body}");
    }
    assert_eq!(s.call("GET", "/v1/nope", Some(&acme), None).0, 404);
    let metrics = ureq::get(&format!("{}/metrics", s.url))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert!(
        metrics.contains("coldsign_orders{state=\"PENDING\"} 6"),
        "{metrics}"
    );

    // The desk batches a tenant's orders only when it says whose.
    let refused = w.fails(
        &["batch", "create", "--chain", "local", "--orders", "A-1"],
        3,
    );
    assert!(
        refused
            .stderr
            .contains("hub-cli batch create --tenant acme"),
        "{}",
        refused.stderr
    );
    let refused = w.fails(&["batch", "create", "--chain", "local", "--all-pending"], 3);
    assert!(
        refused
            .stderr
            .contains("tenants have pending orders: acme (6)")
            && refused.stderr.contains("--tenant NAME --all-pending"),
        "{}",
        refused.stderr
    );
    // For a tenant, the desk is told whose an order is (the service would
    // say only that the tenant has no such order).
    let refused = w.fails(
        &[
            "batch", "create", "--chain", "local", "--tenant", "other", "--orders", "A-1",
        ],
        3,
    );
    assert!(
        refused
            .stderr
            .contains("order A-1 belongs to tenant acme, not tenant other"),
        "{}",
        refused.stderr
    );
    let made = w.json(&[
        "batch", "create", "--chain", "local", "--tenant", "acme", "--orders", "A-1,A-2",
    ]);
    let id = made["id"].as_i64().unwrap();
    let (status, listed) = s.call("GET", "/v1/batches", Some(&acme), None);
    assert_eq!(status, 200);
    assert_eq!(listed["batches"][0]["id"], id, "{listed}");
    assert_eq!(listed["batches"][0]["orders"], 2, "{listed}");
    assert_eq!(
        s.call("GET", "/v1/batches", Some(&other), None).1["batches"],
        json!([])
    );
    // Through the service, another tenant's order and an order that does
    // not exist read the same.
    let globex = key(&w, "globex", "batches:operate");
    let ask = |order: &str| {
        let body = json!({"chain": "local", "orders": [order]}).to_string();
        let (status, answer) = s.call("POST", "/v1/batches", Some(&globex), Some(&body));
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        (status, message.replace(order, "ID"))
    };
    let (theirs, missing) = (ask("A-3"), ask("NOPE-1"));
    assert_eq!(theirs.0, 404, "{theirs:?}");
    assert_eq!(theirs, missing);
    // One unfinished batch per tenant and chain, from the desk too.
    w.fails(
        &[
            "batch",
            "create",
            "--chain",
            "local",
            "--tenant",
            "acme",
            "--all-pending",
        ],
        5,
    );
    assert_eq!(s.terminate(), Some(0), "SIGTERM is a clean stop");
}

/// Orders in through the API, the operator's export, signature and upload,
/// and the service alone takes the batch to CLOSED; every callback
/// arrives signed and in order per order. Then a second `serve` on the same
/// SQLite file is refused.
pub fn a_whole_cold_cycle_through_the_service(backend: Backend) {
    let w = World::new(backend, 1);
    let (k1, a1) = dev(1);
    w.import_keys(&[&k1]);
    let acme = key(&w, "acme", "orders:write,orders:read,batches:operate");
    let receiver = callbacks_to_receiver(&w);
    let s = Service::start(&w);
    if backend == Backend::Sqlite {
        let second = w.run(&["serve", "--listen", "127.0.0.1:0"]);
        assert_eq!(second.code, 5, "{}", second.stderr);
        assert!(
            second.stderr.contains("another `hub-cli serve`"),
            "{}",
            second.stderr
        );
    } else {
        // PostgreSQL takes several processes, but not on one address.
        let taken = s.url.trim_start_matches("http://");
        let second = w.run(&["serve", "--listen", taken]);
        assert_eq!(second.code, 2, "{}", second.stderr);
        assert!(
            second.stderr.contains("give another --listen"),
            "{}",
            second.stderr
        );
    }

    let orders = json!([
        order("C-1", a1, recipient(1), "1"),
        order("C-2", a1, recipient(2), "2")
    ])
    .to_string();
    assert_eq!(
        s.call("POST", "/v1/orders", Some(&acme), Some(&orders)).0,
        201
    );
    let (status, created) = s.call(
        "POST",
        "/v1/batches",
        Some(&acme),
        Some(&json!({"chain": "local", "all_pending": true, "auto_build": true}).to_string()),
    );
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_i64().unwrap();
    // The desk's CLI cannot create a second batch for the tenant meanwhile.
    let export = ureq::get(&format!("{}/v1/batches/{id}/export", s.url))
        .set("Authorization", &format!("Bearer {acme}"))
        .call()
        .unwrap();
    let disposition = export
        .header("Content-Disposition")
        .unwrap_or_default()
        .to_owned();
    assert!(
        disposition.contains(&format!("batch_{id}_")),
        "{disposition}"
    );
    let unsigned = w
        .dir
        .path()
        .join(format!("batch_{id}_20260101_unsigned.json"));
    std::fs::write(&unsigned, export.into_string().unwrap()).unwrap();
    let signed = sign_file(&unsigned, &[&k1]);
    let (status, body) = s.call(
        "POST",
        &format!("/v1/batches/{id}/upload"),
        Some(&acme),
        Some(&std::fs::read_to_string(&signed).unwrap()),
    );
    assert_eq!(status, 200, "{body}");

    eventually("the batch to close", || {
        s.call("GET", &format!("/v1/batches/{id}"), Some(&acme), None)
            .1["state"]
            == "CLOSED"
    });
    assert_eq!(w.anvil.balance(recipient(1)), ETH);
    assert_eq!(w.anvil.balance(recipient(2)), 2 * ETH);
    assert_eq!(w.anvil.nonce(a1), 2);
    // The chain follower saw the payouts' blocks too: the two confirmation
    // paths agree, and a receipt naming another block is an alert.
    let metrics = || {
        ureq::get(&format!("{}/metrics", s.url))
            .call()
            .unwrap()
            .into_string()
            .unwrap()
    };
    assert!(metrics().contains("coldsign_payout_disagreements 0"));
    w.db.execute(&format!(
        "UPDATE batch_items SET block_hash = '0x{}' WHERE batch = {id}",
        "ab".repeat(32)
    ));
    eventually("both payouts to be flagged", || {
        metrics().contains("coldsign_payout_disagreements 2")
    });
    // The batch's CLOSED event follows no order's events: it may come
    // before the last COMPLETED or just after it.
    eventually("the COMPLETED and CLOSED callbacks", || {
        let got = receiver.got.lock().unwrap();
        got.iter()
            .filter(|(_, b)| b.contains("\"new_state\":\"COMPLETED\""))
            .count()
            == 2
            && got.iter().any(|(_, b)| {
                b.contains("\"type\":\"batch.state_changed\"")
                    && b.contains("\"new_state\":\"CLOSED\"")
            })
    });
    let events = receiver.verified_events(SECRET);
    let mut per_order: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in &events {
        if let Some(o) = e["order_id"].as_str() {
            per_order
                .entry(o.to_owned())
                .or_default()
                .push(e["new_state"].as_str().unwrap().to_owned());
        }
    }
    for (o, states) in &per_order {
        assert_eq!(
            states.first().map(String::as_str),
            Some("PENDING"),
            "{o}: {states:?}"
        );
        assert_eq!(
            states.last().map(String::as_str),
            Some("COMPLETED"),
            "{o}: {states:?}"
        );
        assert!(states.contains(&"IN_BATCH".to_owned()), "{o}: {states:?}");
    }
    assert!(events
        .iter()
        .any(|e| e["type"] == "batch.state_changed" && e["new_state"] == "CLOSED"));
    let completed = events
        .iter()
        .find(|e| e["new_state"] == "COMPLETED")
        .unwrap();
    assert!(
        completed["tx_hash"].as_str().is_some_and(|h| h.len() == 66),
        "{completed}"
    );
}

/// kill -9 of the service at random moments of a cycle, then a restart:
/// nothing is lost, nothing is paid twice, every callback arrives at least
/// once (a receiver that fails at first gets them after it recovers).
pub fn kill_9_at_random_moments_loses_nothing(backend: Backend) {
    let w = World::new(backend, 1);
    let (k1, a1) = dev(1);
    w.import_keys(&[&k1]);
    let acme = key(&w, "acme", "orders:write,orders:read,batches:operate");
    let receiver = callbacks_to_receiver(&w);
    *receiver.failing.lock().unwrap() = true;
    let mut s = Service::start(&w);
    let orders: Vec<Value> = (1..=6)
        .map(|n| order(&format!("K-{n}"), a1, recipient(n), "1"))
        .collect();
    assert_eq!(
        s.call(
            "POST",
            "/v1/orders",
            Some(&acme),
            Some(&json!(orders).to_string())
        )
        .0,
        201
    );
    let id = batch_signed_and_uploaded(&w, &s, &s, &acme, &k1);
    // Kill it a few times, at moments that move with the process's pace.
    for delay_ms in [150u64, 400, 90, 700] {
        std::thread::sleep(Duration::from_millis(delay_ms));
        s.kill();
        s = Service::start(&w);
    }
    *receiver.failing.lock().unwrap() = false;
    eventually("the batch to close", || {
        s.call("GET", &format!("/v1/batches/{id}"), Some(&acme), None)
            .1["state"]
            == "CLOSED"
    });
    eventually("every COMPLETED callback", || {
        let got = receiver.got.lock().unwrap();
        (1..=6).all(|n| {
            got.iter().any(|(_, b)| {
                b.contains(&format!("\"order_id\":\"K-{n}\"")) && b.contains("COMPLETED")
            })
        })
    });
    let events = receiver.verified_events(SECRET);
    let ids: std::collections::BTreeSet<i64> = events
        .iter()
        .map(|e| e["event_id"].as_i64().unwrap())
        .collect();
    assert!(
        ids.len() >= 6 * 3,
        "every change called back at least once: {} events",
        ids.len()
    );
    for n in 1..=6u8 {
        assert_eq!(w.anvil.balance(recipient(n)), ETH, "paid once");
    }
    assert_eq!(w.anvil.nonce(a1), 6);
    assert_eq!(w.replay_every_signed_file(), 0);
}

/// Three `serve` processes on one PostgreSQL database, one killed midway:
/// the batch closes, each order is paid once, callbacks are delivered.
pub fn three_processes_share_one_postgres() {
    let w = World::new(Backend::Postgres, 1);
    let (k1, a1) = dev(1);
    w.import_keys(&[&k1]);
    let acme = key(&w, "acme", "orders:write,orders:read,batches:operate");
    let receiver = callbacks_to_receiver(&w);
    let services: Vec<Service> = (0..3).map(|_| Service::start(&w)).collect();
    let orders: Vec<Value> = (1..=8)
        .map(|n| order(&format!("P-{n}"), a1, recipient(n), "1"))
        .collect();
    // Orders arrive through every process at once; the same ones twice.
    std::thread::scope(|scope| {
        for s in &services {
            let body = json!(orders).to_string();
            let acme = acme.clone();
            scope.spawn(move || {
                let status = s.call("POST", "/v1/orders", Some(&acme), Some(&body)).0;
                assert!(status == 200 || status == 201 || status == 409, "{status}");
            });
        }
    });
    let mut services = services;
    let last = services.pop().unwrap();
    let s0 = &services[0];
    assert_eq!(
        s0.call("GET", "/v1/orders?limit=100", Some(&acme), None).1["orders"]
            .as_array()
            .unwrap()
            .len(),
        8
    );
    let id = batch_signed_and_uploaded(&w, s0, &last, &acme, &k1);
    std::thread::sleep(Duration::from_millis(300));
    last.kill();
    let s1 = &services[1];
    eventually("the batch to close", || {
        s1.call("GET", &format!("/v1/batches/{id}"), Some(&acme), None)
            .1["state"]
            == "CLOSED"
    });
    eventually("every COMPLETED callback", || {
        let got = receiver.got.lock().unwrap();
        (1..=8).all(|n| {
            got.iter().any(|(_, b)| {
                b.contains(&format!("\"order_id\":\"P-{n}\"")) && b.contains("COMPLETED")
            })
        })
    });
    receiver.verified_events(SECRET);
    for n in 1..=8u8 {
        assert_eq!(w.anvil.balance(recipient(n)), ETH);
    }
    assert_eq!(w.anvil.nonce(a1), 8);
}
