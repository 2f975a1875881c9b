//! The service's performance: the real `hub-cli serve` binary driven over
//! real loopback sockets by real HTTP clients (ureq), on SQLite and on
//! PostgreSQL, against peers measured in the same run:
//!
//! - **ingest**: `POST /v1/orders` with arrays of 1,000 orders (10,000 in
//!   all, one client, one request after the other), against the same orders
//!   through the CLI's CSV import (`hub-cli order import`, the whole
//!   process) into a fresh hub of the same backend;
//! - **dispatch**: the callback dispatcher delivering the `order.state_changed`
//!   events of those 10,000 orders to a local receiver (HTTP/1.1 keep-alive,
//!   every signature checked), timed from `hub-cli callback set` to the
//!   moment the outbox holds every event as delivered, against a bare HTTP
//!   client POSTing the same bodies, signed, to the same receiver;
//! - **latency**: single-order `POST /v1/orders` at 200 requests/s from a
//!   pool of load-generator threads, open loop: every request has a
//!   scheduled time and its latency counts from that time, so a slow answer
//!   that holds up later requests is counted in theirs too. The dispatcher
//!   delivers each new order's callback meanwhile. Percentiles from every
//!   sample;
//! - **supervisor** (PostgreSQL): a 10,000-order batch (half ETH, half
//!   ERC-20, 1,000 senders with 10 nonces each) uploaded through the API
//!   and left to the supervisor of a fresh `serve` until it is CLOSED. Its
//!   own time is the time of its rounds on the batch
//!   (`coldsign_node_round_seconds_sum`) minus the time those rounds spent
//!   waiting on the node (`coldsign_node_wait_seconds_sum`, counted on the
//!   supervisor's own thread), both from `/metrics`. anvil pools what the
//!   first round sends (automine off, as a real node checks and pools each
//!   transaction) and the bench mines it all once the batch is IN_PROCESS,
//!   before the next round (the default 2 s interval). The peer is the CLI's
//!   `batch send` and `batch sync` of the same kind of batch on a fresh hub
//!   and node: wall time minus node wait, from `HUB_RPC_STATS`.
//!
//! Options: `SERVICE_BENCH_BACKENDS=sqlite` (or `postgresql`, or `none`)
//! runs the API parts on those backends only, `SERVICE_BENCH_KEEP_LOGS=DIR`
//! copies each `serve`'s stderr there.
//!
//! Run with `cargo bench -p coldsign-hub --bench service` (builds
//! `hub-cli` too). Needs anvil (`just tools`) and PostgreSQL
//! (`COLDSIGN_TEST_POSTGRES`, default `postgres://postgres@127.0.0.1:5432/test`).
//! Prints a summary and writes the markdown fragment
//! `target/bench-report/service.md`; figures go to `docs/benchmarks.md`.
//! Without `--bench` (`cargo test --benches`) it runs once on a tenth of the
//! sizes and writes no fragment. `SERVICE_BENCH_SKIP_SUPERVISOR=1` leaves
//! out the supervisor part (about half of the two minutes).
//!
//! The sender keys are keccak-derived test keys: PUBLIC and INSECURE.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use coldsign_core::{amount::format_units, Address, U256};
use coldsign_e2e::{address_of, cpu_model, load_average, Anvil, Backend, TestDb};
use common::{
    fund, group, load_note, mine_all, ms, node_batch, recipient, sender_key, sign_file, tail,
    write_fragment, Hub, Phase, MINT,
};
use hmac::{Hmac, Mac};
use k256::ecdsa::SigningKey;
use serde_json::{json, Value};
use std::{
    collections::{HashMap, HashSet},
    fmt::Write as _,
    io::{BufReader, Write},
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

/// Orders per `POST /v1/orders` of the ingest.
const ARRAY: usize = 1_000;
/// Requests per second of the latency run.
const RATE: u32 = 200;
/// Load-generator threads of the latency run (each with its own kept-alive
/// connection).
const LOAD_THREADS: usize = 8;
/// The callback secret of the bench's tenant.
const SECRET: &str = "bench-secret-0123456789abcdef0123456789";
/// The bench's tenant.
const TENANT: &str = "acme";
/// The longest the bench waits for any one thing to happen.
const PATIENCE: Duration = Duration::from_secs(180);

/// How much work each part does.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    /// Orders of the ingest and of the supervised batch.
    orders: usize,
    /// Distinct senders (10 orders and nonces each).
    senders: usize,
    /// Requests of the latency run.
    latency: usize,
}

/// What `cargo bench` runs.
const FULL: Sizes = Sizes {
    orders: 10_000,
    senders: 1_000,
    latency: 2_000,
};

/// What `cargo test --benches` runs.
const QUICK: Sizes = Sizes {
    orders: 1_000,
    senders: 100,
    latency: 200,
};

/// One order as the API and the CSV take it.
#[derive(Debug, Clone)]
struct NewOrder {
    id: String,
    asset: &'static str,
    from: Address,
    to: Address,
    amount: String,
}

impl NewOrder {
    /// The order as JSON for `POST /v1/orders`.
    fn json(&self) -> Value {
        json!({"order_id": self.id, "chain": "local", "asset": self.asset,
            "from": self.from.to_string(), "to": self.to.to_string(), "amount": self.amount})
    }
}

/// `n` orders `PREFIX-00000`…: order `i` from sender `i % senders`, ETH and
/// the token alternating per sender, each to its own recipient (`first`
/// numbers the recipients, so that two sets never share one).
fn make_orders(prefix: &str, n: usize, senders: &[Address], first: usize) -> Vec<NewOrder> {
    (0..n)
        .map(|i| {
            let (asset, amount) = if (i / senders.len()).is_multiple_of(2) {
                let wei = U256::from(i as u64 + 1) * U256::from(1_000_000_000u64);
                ("ETH", format_units(wei, 18).unwrap())
            } else {
                let units = U256::from(i as u64 + 1) * U256::from(10_000u64);
                ("TUSD", format_units(units, 6).unwrap())
            };
            NewOrder {
                id: format!("{prefix}-{i:05}"),
                asset,
                from: senders[i % senders.len()],
                to: recipient(first + i),
                amount,
            }
        })
        .collect()
}

/// The orders as an order file for `hub-cli order import`.
fn csv(orders: &[NewOrder]) -> String {
    let mut out = String::from("order_id,chain,asset,from,to,amount\n");
    for o in orders {
        writeln!(
            out,
            "{},local,{},{},{},{}",
            o.id, o.asset, o.from, o.to, o.amount
        )
        .unwrap();
    }
    out
}

/// What this bench does with the shared [`Hub`] besides running it: its
/// tenant's API key and callback URL.
trait Tenant {
    /// An API key of the bench's tenant with every scope it uses.
    fn api_key(&self) -> String;

    /// Points the tenant's callbacks at `url`.
    fn callback(&self, url: &str);
}

impl Tenant for Hub {
    fn api_key(&self) -> String {
        self.json(&[
            "apikey",
            "create",
            "--tenant",
            TENANT,
            "--scope",
            "orders:write,orders:read,batches:operate",
        ])
        .0["key"]
            .as_str()
            .expect("key")
            .to_owned()
    }

    fn callback(&self, url: &str) {
        let secret = self.dir.join("callback.secret");
        std::fs::write(&secret, SECRET).unwrap();
        self.run(&[
            "callback",
            "set",
            "--tenant",
            TENANT,
            "--url",
            url,
            "--secret-file",
            secret.to_str().unwrap(),
        ]);
    }
}

/// A running `hub-cli serve`, stopped with SIGTERM (killed on drop).
struct Service {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    url: String,
    /// Its stderr.
    log: PathBuf,
}

impl Service {
    /// Starts `hub-cli serve` on a free loopback port with this supervisor
    /// interval (and `HUB_RPC_STATS`, if given), and waits until it answers.
    fn start(hub: &Hub, interval_secs: u64, stats: Option<&Path>, name: &str) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let listen = format!("127.0.0.1:{port}");
        let log = hub.dir.join(format!("{name}.log"));
        let mut cmd = hub.command(&[
            "serve",
            "--listen",
            &listen,
            "--supervisor-interval",
            &interval_secs.to_string(),
        ]);
        if let Some(s) = stats {
            cmd.env("HUB_RPC_STATS", s);
        }
        let child = cmd
            .env("HUB_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("spawn hub-cli serve");
        let s = Self {
            child: Some(child),
            url: format!("http://{listen}"),
            log,
        };
        let start = Instant::now();
        while ureq::get(&format!("{}/healthz", s.url)).call().is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the service did not start:\n{}",
                s.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        s
    }

    /// What the service wrote to stderr so far.
    fn stderr(&self) -> String {
        tail(&std::fs::read_to_string(&self.log).unwrap_or_default()).to_owned()
    }

    /// `POST PATH` with the key and a JSON body; (status, body).
    fn post(&self, agent: &ureq::Agent, path: &str, key: &str, body: &str) -> (u16, String) {
        answer(
            agent
                .post(&format!("{}{path}", self.url))
                .set("Authorization", &format!("Bearer {key}"))
                .set("Content-Type", "application/json")
                .send_string(body),
        )
    }

    /// `GET PATH` with the key; (status, body, Content-Disposition).
    fn get(&self, path: &str, key: &str) -> (u16, String, String) {
        match ureq::get(&format!("{}{path}", self.url))
            .set("Authorization", &format!("Bearer {key}"))
            .call()
        {
            Ok(r) => {
                let d = r
                    .header("Content-Disposition")
                    .unwrap_or_default()
                    .to_owned();
                (r.status(), r.into_string().unwrap(), d)
            }
            Err(ureq::Error::Status(c, r)) => {
                (c, r.into_string().unwrap_or_default(), String::new())
            }
            Err(e) => panic!("GET {path}: {e}"),
        }
    }

    /// The Prometheus text of `/metrics`.
    fn metrics(&self) -> String {
        ureq::get(&format!("{}/metrics", self.url))
            .call()
            .expect("metrics")
            .into_string()
            .unwrap()
    }

    /// SIGTERM, and waits for a clean exit.
    fn stop(mut self) {
        if let Some(dir) = std::env::var_os("SERVICE_BENCH_KEEP_LOGS") {
            let name = self.log.file_name().expect("a log file name");
            let _ = std::fs::copy(&self.log, Path::new(&dir).join(name));
        }
        let mut child = self.child.take().expect("running");
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "serve exited {status}:\n{}",
                    self.stderr()
                );
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "serve did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A ureq answer as (status, body).
fn answer(r: Result<ureq::Response, ureq::Error>) -> (u16, String) {
    match r {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(c, r)) => (c, r.into_string().unwrap_or_default()),
        Err(e) => (0, e.to_string()),
    }
}

/// The value of one Prometheus sample (`name{labels}`), if present.
fn metric(text: &str, sample: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(sample)
            .and_then(|rest| rest.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
    })
}

/// One callback the receiver took.
#[derive(Debug, Clone)]
struct Got {
    /// `event_id` of the body.
    event_id: i64,
    /// `order_id` of the body (none for a batch event).
    order: Option<String>,
    /// `new_state` of the body.
    state: String,
    /// When it arrived.
    at: Instant,
    /// The body.
    body: String,
}

/// A local callback receiver: HTTP/1.1 with keep-alive, one thread per
/// connection; it checks every request's signature and records the event,
/// answering 200.
struct Receiver {
    /// Its URL.
    url: String,
    /// What it took, in arrival order.
    got: Arc<Mutex<Vec<Got>>>,
    /// Requests with a wrong signature (or no event) in the body.
    bad: Arc<AtomicU64>,
}

impl Receiver {
    /// Listens on a free loopback port.
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/callback", listener.local_addr().unwrap());
        let got: Arc<Mutex<Vec<Got>>> = Arc::default();
        let bad: Arc<AtomicU64> = Arc::default();
        let (g, b) = (Arc::clone(&got), Arc::clone(&bad));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (g, b) = (Arc::clone(&g), Arc::clone(&b));
                std::thread::spawn(move || receive(stream, &g, &b));
            }
        });
        Self { url, got, bad }
    }

    /// How many requests it took.
    fn count(&self) -> usize {
        self.got.lock().unwrap().len()
    }
}

/// Serves one connection until the client closes it.
fn receive(stream: TcpStream, got: &Mutex<Vec<Got>>, bad: &AtomicU64) {
    let _ = stream.set_nodelay(true);
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    while let Some(request) = coldsign_e2e::read_request(&mut reader) {
        let sig = request.signature;
        let body = request.body;
        let at = Instant::now();
        let body = String::from_utf8_lossy(&body).into_owned();
        let event: Option<Value> = verify(&sig, &body)
            .then(|| serde_json::from_str(&body).ok())
            .flatten();
        match event {
            Some(e) if e["event_id"].is_i64() => got.lock().unwrap().push(Got {
                event_id: e["event_id"].as_i64().unwrap(),
                order: e["order_id"].as_str().map(str::to_owned),
                state: e["new_state"].as_str().unwrap_or_default().to_owned(),
                at,
                body,
            }),
            _ => {
                bad.fetch_add(1, Ordering::Relaxed);
            }
        }
        if writer
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            .is_err()
        {
            return;
        }
    }
}

/// `t=<t>,v1=<hex HMAC-SHA256(SECRET, "<t>.<body>")>`, as the service signs.
fn sign(t: i64, body: &str) -> String {
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body.as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Whether `header` signs `body` with the secret, within five minutes.
fn verify(header: &str, body: &str) -> bool {
    let Some((t, _)) = header
        .strip_prefix("t=")
        .and_then(|rest| rest.split_once(','))
    else {
        return false;
    };
    let Ok(t) = t.parse::<i64>() else {
        return false;
    };
    (unix_now() - t).abs() <= 300 && sign(t, body) == header
}

/// Seconds since 1970.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Reads the hub's database directly (the bench's progress probes, so that
/// polling costs the service nothing but the database's own work).
enum Probe {
    /// A SQLite file.
    Sqlite(rusqlite::Connection),
    /// A PostgreSQL database.
    Postgres(Box<postgres::Client>),
}

impl Probe {
    /// Opens the database at `url` (a path or a PostgreSQL URL).
    fn open(url: &str) -> Self {
        if url.starts_with("postgres") {
            Self::Postgres(Box::new(
                postgres::Client::connect(url, postgres::NoTls).expect("probe connects"),
            ))
        } else {
            Self::Sqlite(rusqlite::Connection::open(url).expect("probe opens"))
        }
    }

    /// The one integer `sql` selects.
    fn int(&mut self, sql: &str) -> i64 {
        match self {
            Self::Sqlite(c) => c.query_row(sql, [], |r| r.get(0)).expect("probe query"),
            Self::Postgres(c) => c.query_one(sql, &[]).expect("probe query").get(0),
        }
    }

    /// The one text `sql` selects.
    fn text(&mut self, sql: &str) -> String {
        match self {
            Self::Sqlite(c) => c.query_row(sql, [], |r| r.get(0)).expect("probe query"),
            Self::Postgres(c) => c.query_one(sql, &[]).expect("probe query").get(0),
        }
    }
}

/// Waits until `f` holds, polling every `every`; panics after [`PATIENCE`].
fn wait_for(what: &str, every: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
        std::thread::sleep(every);
    }
}

/// A fresh anvil with the test token deployed, every sender given ETH and
/// tokens; returns it and the token.
fn funded_node(keys: &[SigningKey]) -> (Anvil, Address) {
    let anvil = Anvil::start();
    let token = anvil.deploy_token();
    let senders: Vec<Address> = keys.iter().map(address_of).collect();
    fund(&anvil, token, &senders);
    let last = address_of(keys.last().expect("senders"));
    assert_eq!(anvil.token_balance(token, last), MINT, "mint did not land");
    (anvil, token)
}

/// POSTs the orders in arrays of [`ARRAY`], one request after the other
/// over one kept-alive connection; requires 201 and one answer per order.
/// Returns each request's time (sending the body to reading the whole
/// answer).
fn post_arrays(svc: &Service, key: &str, orders: &[NewOrder]) -> Vec<Duration> {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(120))
        .build();
    orders
        .chunks(ARRAY)
        .map(|chunk| {
            let body = Value::Array(chunk.iter().map(NewOrder::json).collect()).to_string();
            let t = Instant::now();
            let (status, text) = svc.post(&agent, "/v1/orders", key, &body);
            let took = t.elapsed();
            assert_eq!(status, 201, "POST /v1/orders: {}", tail(&text));
            let answers: Vec<Value> = serde_json::from_str(&text).expect("an array");
            assert_eq!(answers.len(), chunk.len());
            took
        })
        .collect()
}

/// One request of the latency run.
#[derive(Debug, Clone, Copy)]
struct Sample {
    /// From its scheduled time to the whole answer read.
    latency: Duration,
    /// From the moment it was sent to the whole answer read.
    service: Duration,
    /// The HTTP status (0: no answer).
    status: u16,
}

/// Sends each body as one `POST /v1/orders` at `rate` per second from
/// [`LOAD_THREADS`] threads (open loop, see the module's notes). Requests
/// scheduled later than `cap` after the start are not sent. Returns the
/// samples and the time from the first scheduled request to the last answer.
fn load(
    svc: &Service,
    key: &str,
    bodies: &[String],
    rate: u32,
    cap: Duration,
) -> (Vec<Sample>, Duration) {
    let period = Duration::from_secs(1) / rate;
    let start = Instant::now() + Duration::from_millis(100);
    let next = AtomicUsize::new(0);
    let samples: Vec<Sample> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..LOAD_THREADS)
            .map(|_| {
                s.spawn(|| {
                    let agent = ureq::AgentBuilder::new()
                        .timeout(Duration::from_secs(30))
                        .build();
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        if i >= bodies.len() {
                            break;
                        }
                        let due = start + period * u32::try_from(i).unwrap();
                        if due - start > cap {
                            break;
                        }
                        if let Some(d) = due.checked_duration_since(Instant::now()) {
                            std::thread::sleep(d);
                        }
                        let sent = Instant::now();
                        let (status, _) = svc.post(&agent, "/v1/orders", key, &bodies[i]);
                        let done = Instant::now();
                        out.push(Sample {
                            latency: done - due,
                            service: done - sent,
                            status,
                        });
                    }
                    out
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("load thread"))
            .collect()
    });
    (samples, start.elapsed())
}

/// The `p`-quantile (nearest rank) of sorted durations.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let n = sorted.len();
    let rank = ((p * n as f64).ceil() as usize).clamp(1, n);
    sorted[rank - 1]
}

/// What the ingest, dispatch and latency parts measured on one backend.
#[derive(Debug, Clone, Default)]
struct Api {
    /// Each array POST's time.
    arrays: Vec<Duration>,
    /// `hub-cli order import` of the same orders, whole process.
    import: Duration,
    /// Events delivered in the dispatch part.
    events: usize,
    /// From `callback set` to every event recorded as delivered.
    dispatch: Duration,
    /// From the first to the last event the receiver took.
    dispatch_span: Duration,
    /// The bare client's time for the same bodies.
    bare: Duration,
    /// Events the receiver took more than once.
    duplicates: usize,
    /// Requests whose signature did not check out.
    bad_signatures: u64,
    /// Latency samples.
    samples: Vec<Sample>,
    /// From the first scheduled request to the last answer.
    load_wall: Duration,
    /// Latency orders whose callback arrived.
    latency_callbacks: usize,
}

/// The ingest, dispatch and latency parts on `backend`, with a fresh hub
/// and its service, and a fresh hub for the CSV import peer, on `node`.
fn api_parts(
    backend: Backend,
    sizes: Sizes,
    node: &str,
    token: Address,
    keys: &[SigningKey],
) -> Api {
    let senders: Vec<Address> = keys.iter().map(address_of).collect();
    let orders = make_orders("svc", sizes.orders, &senders, 0);
    let mut r = Api::default();

    // The peer first, on its own fresh hub: the same orders from a file.
    {
        let dir = tempfile::tempdir().unwrap();
        let db = TestDb::new(backend, dir.path());
        let hub = Hub::new(&db, dir.path());
        hub.setup(node, token, keys);
        let file = dir.path().join("orders.csv");
        std::fs::write(&file, csv(&orders)).unwrap();
        r.import = hub.run(&["order", "import", file.to_str().unwrap()]).1.wall;
    }

    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(backend, dir.path());
    let hub = Hub::new(&db, dir.path());
    hub.setup(node, token, keys);
    let key = hub.api_key();
    let svc = Service::start(&hub, 2, None, "serve");
    let mut probe = Probe::open(&db.url);

    // Ingest: no callback URL yet, so the dispatcher has nothing to send.
    r.arrays = post_arrays(&svc, &key, &orders);
    assert_eq!(
        probe.int("SELECT COUNT(*) FROM orders") as usize,
        sizes.orders
    );

    // Dispatch: every created order's event, to the receiver.
    let receiver = Receiver::start();
    let pending = probe.int("SELECT COUNT(*) FROM outbox WHERE status = 'pending'") as usize;
    assert_eq!(pending, sizes.orders, "one outbox row per created order");
    hub.callback(&receiver.url);
    let t = Instant::now();
    wait_for(
        "every callback delivered",
        Duration::from_millis(10),
        || probe.int("SELECT COUNT(*) FROM outbox WHERE status = 'delivered'") as usize >= pending,
    );
    r.dispatch = t.elapsed();
    r.events = pending;
    {
        let got = receiver.got.lock().unwrap();
        let ids: HashSet<i64> = got.iter().map(|g| g.event_id).collect();
        assert_eq!(ids.len(), pending, "every event arrived");
        assert!(got.iter().all(|g| g.state == "PENDING"));
        r.duplicates = got.len() - ids.len();
        r.dispatch_span = got.last().unwrap().at - got.first().unwrap().at;
    }

    // The peer of the dispatcher: a bare client POSTing the same bodies,
    // signed the same way, to the same receiver over one connection.
    let bodies: Vec<String> = receiver
        .got
        .lock()
        .unwrap()
        .iter()
        .map(|g| g.body.clone())
        .collect();
    let before = receiver.count();
    let agent = ureq::AgentBuilder::new().build();
    let t = Instant::now();
    for b in &bodies {
        let (status, _) = answer(
            agent
                .post(&receiver.url)
                .set("Content-Type", "application/json")
                .set("X-Coldsign-Signature", &sign(unix_now(), b))
                .send_string(b),
        );
        assert_eq!(status, 200);
    }
    r.bare = t.elapsed();
    assert_eq!(receiver.count() - before, bodies.len());

    // Latency: single orders at RATE per second, callbacks delivered meanwhile.
    let singles = make_orders("one", sizes.latency, &senders, sizes.orders);
    let bodies: Vec<String> = singles.iter().map(|o| o.json().to_string()).collect();
    let cap = Duration::from_secs(sizes.latency as u64 / u64::from(RATE) * 2 + 5);
    let (samples, wall) = load(&svc, &key, &bodies, RATE, cap);
    r.samples = samples;
    r.load_wall = wall;
    let want: HashSet<&str> = singles.iter().map(|o| o.id.as_str()).collect();
    wait_for(
        "the latency orders' callbacks",
        Duration::from_millis(50),
        || {
            let got = receiver.got.lock().unwrap();
            got.iter()
                .filter(|g| g.order.as_deref().is_some_and(|o| want.contains(o)))
                .map(|g| g.event_id)
                .collect::<HashSet<_>>()
                .len()
                >= want.len()
        },
    );
    r.latency_callbacks = want.len();
    r.bad_signatures = receiver.bad.load(Ordering::Relaxed);
    svc.stop();
    drop(probe);
    drop(db);
    r
}

/// What the supervisor part measured.
#[derive(Debug, Clone, Default)]
struct Supervised {
    /// Rounds that worked on the batch.
    rounds: u64,
    /// Their time.
    round_time: Duration,
    /// Their node wait.
    node_wait: Duration,
    /// From the start of the service to the batch CLOSED, the bench's
    /// mining and the pauses between rounds included.
    to_closed: Duration,
    /// anvil mining the pooled transactions (between two rounds).
    mine: Duration,
    /// Blocks mined.
    blocks: u64,
    /// The CLI peer: `batch send`.
    cli_send: Phase,
    /// The CLI peer: `batch sync` after mining.
    cli_sync: Phase,
}

impl Supervised {
    /// The supervisor's own time: its rounds minus their node wait.
    fn own(&self) -> Duration {
        self.round_time.saturating_sub(self.node_wait)
    }
}

/// The supervisor part on PostgreSQL, and its CLI peer.
fn supervisor_part(sizes: Sizes, keys: &[SigningKey]) -> Supervised {
    let mut r = Supervised::default();
    let senders: Vec<Address> = keys.iter().map(address_of).collect();
    let by_address: HashMap<Address, SigningKey> =
        keys.iter().map(|k| (address_of(k), k.clone())).collect();
    let orders = make_orders("sup", sizes.orders, &senders, 0);
    let last = senders[senders.len() - 1];
    let per_sender = (sizes.orders / senders.len()) as u64;

    // The service: orders, batch, export and upload through a first
    // process whose supervisor stays asleep; then a second one follows it.
    {
        let (anvil, token) = funded_node(keys);
        let dir = tempfile::tempdir().unwrap();
        let db = TestDb::new(Backend::Postgres, dir.path());
        let hub = Hub::new(&db, dir.path());
        hub.setup(&anvil.url, token, keys);
        let key = hub.api_key();
        let first = Service::start(&hub, 3600, None, "serve-prepare");
        post_arrays(&first, &key, &orders);
        let (status, created) = first.post(
            &ureq::agent(),
            "/v1/batches",
            &key,
            &json!({"chain": "local", "all_pending": true, "auto_build": true}).to_string(),
        );
        assert_eq!(status, 200, "{}", tail(&created));
        let created: Value = serde_json::from_str(&created).unwrap();
        let id = created["id"].as_i64().expect("batch id");
        let (status, unsigned, disposition) = first.get(&format!("/v1/batches/{id}/export"), &key);
        assert_eq!(status, 200, "{}", tail(&unsigned));
        let name = disposition
            .split("filename=\"")
            .nth(1)
            .and_then(|n| n.strip_suffix('"'))
            .expect("a file name")
            .to_owned();
        let unsigned_path = dir.path().join(name);
        std::fs::write(&unsigned_path, unsigned).unwrap();
        let signed = sign_file(&unsigned_path, &by_address);
        let (status, body) = first.post(
            &ureq::agent(),
            &format!("/v1/batches/{id}/upload"),
            &key,
            &std::fs::read_to_string(&signed).unwrap(),
        );
        assert_eq!(status, 200, "{}", tail(&body));
        first.stop();

        node_batch(&anvil.url, &[("evm_setAutomine", json!([false]))]);
        let mut probe = Probe::open(&db.url);
        let state = |p: &mut Probe| p.text(&format!("SELECT state FROM batches WHERE id = {id}"));
        assert_eq!(state(&mut probe), "SENDING_TX");
        let t = Instant::now();
        // The default interval: the bench's mining (under a second) is over
        // before the next round, which then finds every receipt.
        let svc = Service::start(&hub, 2, None, "serve-supervise");
        // The first round has sent everything once every item is
        // CONFIRMING (the batch IN_PROCESS): probed in the database, which
        // costs the service nothing (a /metrics scrape counts orders).
        wait_for(
            "the first round to send the batch",
            Duration::from_millis(20),
            || state(&mut probe) == "IN_PROCESS",
        );
        let m = Instant::now();
        r.blocks = mine_all(&anvil.url);
        r.mine = m.elapsed();
        wait_for("the batch to close", Duration::from_millis(20), || {
            state(&mut probe) == "CLOSED"
        });
        r.to_closed = t.elapsed();
        // The round that closed it records its time when it ends: wait for
        // the end of a round that started after that.
        let total = |svc: &Service| {
            metric(&svc.metrics(), "coldsign_supervisor_rounds_total").unwrap_or(0.0)
        };
        let seen = total(&svc);
        wait_for(
            "the closing round to end",
            Duration::from_millis(200),
            || total(&svc) >= seen + 2.0,
        );
        let text = svc.metrics();
        let get =
            |s: &str| metric(&text, s).unwrap_or_else(|| panic!("no {s} in /metrics:\n{text}"));
        r.rounds = get("coldsign_node_round_seconds_count{chain=\"local\"}") as u64;
        r.round_time =
            Duration::from_secs_f64(get("coldsign_node_round_seconds_sum{chain=\"local\"}"));
        r.node_wait =
            Duration::from_secs_f64(get("coldsign_node_wait_seconds_sum{chain=\"local\"}"));
        svc.stop();
        assert_eq!(
            probe.int("SELECT COUNT(*) FROM orders WHERE state = 'COMPLETED'") as usize,
            sizes.orders
        );
        assert_eq!(anvil.nonce(last), per_sender);
        drop(probe);
    }

    // The peer: the CLI sends and syncs the same kind of batch.
    {
        let (anvil, token) = funded_node(keys);
        let dir = tempfile::tempdir().unwrap();
        let db = TestDb::new(Backend::Postgres, dir.path());
        let hub = Hub::new(&db, dir.path());
        hub.setup(&anvil.url, token, keys);
        let file = dir.path().join("orders.csv");
        std::fs::write(&file, csv(&orders)).unwrap();
        hub.run(&["order", "import", file.to_str().unwrap()]);
        let (out, _) = hub.run(&["batch", "create", "--chain", "local", "--all-pending"]);
        let id = out.trim().to_owned();
        hub.run(&["batch", "build", &id]);
        let usb = dir.path().join("usb");
        std::fs::create_dir_all(&usb).unwrap();
        let (exported, _) = hub.json(&["batch", "export", &id, "--out", usb.to_str().unwrap()]);
        let signed = sign_file(Path::new(exported["file"].as_str().unwrap()), &by_address);
        hub.run(&[
            "batch",
            "upload",
            &id,
            signed.to_str().unwrap(),
            "--no-send",
        ]);
        node_batch(&anvil.url, &[("evm_setAutomine", json!([false]))]);
        r.cli_send = hub.run(&["batch", "send", &id]).1;
        mine_all(&anvil.url);
        r.cli_sync = hub.run(&["batch", "sync", &id]).1;
        let (shown, _) = hub.json(&["batch", "show", &id]);
        assert_eq!(shown["state"], "CLOSED");
        assert_eq!(anvil.nonce(last), per_sender);
    }
    r
}

/// Milliseconds with one decimal.
fn ms1(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

/// Per second.
fn per_s(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "**not met**"
    }
}

/// Latency figures of one backend: (p50, p90, p99, max, non-201 count).
fn latency_figures(samples: &[Sample]) -> (Duration, Duration, Duration, Duration, usize) {
    let mut l: Vec<Duration> = samples.iter().map(|s| s.latency).collect();
    l.sort();
    let bad = samples.iter().filter(|s| s.status != 201).count();
    (
        percentile(&l, 0.50),
        percentile(&l, 0.90),
        percentile(&l, 0.99),
        *l.last().unwrap(),
        bad,
    )
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not.
    let full = std::env::args().any(|a| a == "--bench");
    let sizes = if full { FULL } else { QUICK };
    let skip_supervisor =
        std::env::var_os("SERVICE_BENCH_SKIP_SUPERVISOR").is_some_and(|v| v == "1");
    let only = std::env::var("SERVICE_BENCH_BACKENDS")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let load_before = load_average();
    let started = Instant::now();
    let keys: Vec<SigningKey> = (0..sizes.senders).map(sender_key).collect();

    // One node for the API parts (they only need `chain add` to check it).
    let node = Anvil::start();
    let token = node.deploy_token();
    let mut api = Vec::new();
    for (backend, name) in [
        (Backend::Sqlite, "SQLite"),
        (Backend::Postgres, "PostgreSQL"),
    ] {
        if !only.is_empty() && !only.contains(&name.to_ascii_lowercase()) {
            continue;
        }
        let t = Instant::now();
        let r = api_parts(backend, sizes, &node.url, token, &keys);
        let arrays: Duration = r.arrays.iter().sum();
        let (p50, _, p99, max, bad) = latency_figures(&r.samples);
        eprintln!(
            "{name}: ingest {:.0} orders/s (import {:.0}), dispatch {:.0} events/s (bare {:.0}), \
             latency p50 {} p99 {} max {} ms ({bad} not 201) ({:.1} s)",
            per_s(sizes.orders, arrays),
            per_s(sizes.orders, r.import),
            per_s(r.events, r.dispatch),
            per_s(r.events, r.bare),
            ms1(p50),
            ms1(p99),
            ms1(max),
            t.elapsed().as_secs_f64()
        );
        api.push((name, r));
    }
    drop(node);
    let sup = (!skip_supervisor).then(|| {
        let t = Instant::now();
        let s = supervisor_part(sizes, &keys);
        eprintln!(
            "supervisor: {} rounds, {} ms, node wait {} ms, own {} ms; CLI send+sync own {} ms ({:.1} s)",
            s.rounds,
            ms(s.round_time),
            ms(s.node_wait),
            ms(s.own()),
            ms(s.cli_send.own() + s.cli_sync.own()),
            t.elapsed().as_secs_f64()
        );
        s
    });
    let md = report(sizes, &api, sup.as_ref(), &load_before, started.elapsed());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "service benchmark on {cpus} CPU(s), {}\n\n{md}",
        cpu_model()
    );
    if full {
        write_fragment("service.md", &md);
    }
}

/// The markdown fragment: one column per backend that ran.
fn report(
    sizes: Sizes,
    api: &[(&str, Api)],
    sup: Option<&Supervised>,
    load_before: &str,
    took: Duration,
) -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    // One cell per backend, and the peers' figures joined with " / ".
    let cells = |f: &dyn Fn(&Api) -> String| -> String {
        api.iter()
            .map(|(_, r)| f(r))
            .collect::<Vec<_>>()
            .join(" | ")
    };
    let peers = |f: &dyn Fn(&Api) -> String| -> String {
        api.iter()
            .map(|(_, r)| f(r))
            .collect::<Vec<_>>()
            .join(" / ")
    };
    let ingest = |r: &Api| per_s(sizes.orders, r.arrays.iter().sum());
    let import = |r: &Api| per_s(sizes.orders, r.import);
    let dispatch = |r: &Api| per_s(r.events, r.dispatch);
    let bare = |r: &Api| per_s(r.events, r.bare);
    let names: Vec<&str> = api.iter().map(|(n, _)| *n).collect();
    let mut md = String::new();
    writeln!(md, "## Service: `hub-cli serve` over HTTP\n").unwrap();
    writeln!(
        md,
        "The real `hub-cli serve` (release build) on a fresh hub per backend, driven over loopback sockets \
         by ureq clients in the bench process, on the same {cpus} CPUs; every peer ran in this run. \
         {} orders (half ETH, half ERC-20) from {} registered senders. See `hub-cli/benches/service.rs` \
         and `docs/benchmarks.md` for what each figure includes.\n",
        group(sizes.orders as f64),
        group(sizes.senders as f64)
    )
    .unwrap();
    writeln!(
        md,
        "| measure | {} | peer, same run ({}) | goal |",
        names.join(" | "),
        names.join(" / ")
    )
    .unwrap();
    writeln!(md, "|---|{}---|---|", "---:|".repeat(names.len())).unwrap();
    if !api.is_empty() {
        writeln!(
            md,
            "| `POST /v1/orders`, {} arrays of {} | {} | `hub-cli order import` of the same orders: {} orders/s (service {}) | >= 5,000 orders/s: {} |",
            sizes.orders / ARRAY,
            group(ARRAY as f64),
            cells(&|r| format!("**{} orders/s**", group(ingest(r)))),
            peers(&|r| group(import(r))),
            peers(&|r| format!("{:.2}x", ingest(r) / import(r))),
            met(api.iter().all(|(_, r)| ingest(r) >= 5_000.0))
        )
        .unwrap();
        writeln!(
            md,
            "| single-order `POST /v1/orders` at {RATE}/s: p50 / p99 / max | {} | | p99 < 25 ms: {} |",
            cells(&|r| {
                let (p50, _, p99, max, _) = latency_figures(&r.samples);
                format!("{} / **{}** / {} ms", ms1(p50), ms1(p99), ms1(max))
            }),
            met(api.iter().all(|(_, r)| {
                let (_, _, p99, _, bad) = latency_figures(&r.samples);
                p99 < Duration::from_millis(25) && bad == 0
            }))
        )
        .unwrap();
        writeln!(
            md,
            "| callback dispatch of {} events to a local receiver | {} | a bare client POSTing the same signed bodies: {} events/s (dispatcher {}) | >= 1,000 events/s: {} |",
            group(api[0].1.events as f64),
            cells(&|r| format!("**{} events/s**", group(dispatch(r)))),
            peers(&|r| group(bare(r))),
            peers(&|r| format!("{:.2}x", dispatch(r) / bare(r))),
            met(api.iter().all(|(_, r)| dispatch(r) >= 1_000.0))
        )
        .unwrap();
    }
    if let Some(s) = sup {
        let cli = s.cli_send.own() + s.cli_sync.own();
        let mut row: Vec<String> = names.iter().map(|_| String::new()).collect();
        let cell = format!(
            "PostgreSQL: **{} ms** ({} rounds: {} ms, of which {} ms node wait)",
            ms(s.own()),
            s.rounds,
            ms(s.round_time),
            ms(s.node_wait)
        );
        match names.iter().position(|n| *n == "PostgreSQL") {
            Some(i) => row[i] = cell,
            None => row.push(cell),
        }
        writeln!(
            md,
            "| supervisor: a {}-order batch from SENDING_TX to CLOSED, own time | {} | CLI `batch send` + `batch sync` on PostgreSQL: {} ms own (send {} ms, sync {} ms; supervisor {:.2}x) | < 2 s: {} |",
            group(sizes.orders as f64),
            row.join(" | "),
            ms(cli),
            ms(s.cli_send.own()),
            ms(s.cli_sync.own()),
            s.own().as_secs_f64() / cli.as_secs_f64().max(1e-9),
            met(s.own() < Duration::from_secs(2))
        )
        .unwrap();
    }
    writeln!(md).unwrap();
    for (name, r) in api {
        let mut a = r.arrays.clone();
        a.sort();
        let (p50, p90, p99, max, bad) = latency_figures(&r.samples);
        let mut service: Vec<Duration> = r.samples.iter().map(|s| s.service).collect();
        service.sort();
        writeln!(
            md,
            "- {name}: array POSTs {} ms each at the median ({} to {} ms; {} ms for all, import {} ms); \
             dispatch {} ms from `callback set` to the last event recorded delivered (the receiver's \
             first to last event: {} ms), {} duplicate(s), {} bad signature(s), bare client {} ms; \
             latency run: {} requests in {:.1} s ({:.0}/s), p50 / p90 / p99 / max {} / {} / {} / {} ms \
             from the scheduled time ({} / {} ms p50 / p99 from the actual send), {bad} not 201, all {} \
             callbacks delivered.",
            ms(a[a.len() / 2]),
            ms(a[0]),
            ms(*a.last().unwrap()),
            ms(r.arrays.iter().sum()),
            ms(r.import),
            ms(r.dispatch),
            ms(r.dispatch_span),
            r.duplicates,
            r.bad_signatures,
            ms(r.bare),
            r.samples.len(),
            r.load_wall.as_secs_f64(),
            per_s(r.samples.len(), r.load_wall),
            ms1(p50),
            ms1(p90),
            ms1(p99),
            ms1(max),
            ms1(percentile(&service, 0.5)),
            ms1(percentile(&service, 0.99)),
            r.latency_callbacks
        )
        .unwrap();
    }
    if let Some(s) = sup {
        writeln!(
            md,
            "- Supervisor (PostgreSQL): {} ms from the start of the service to CLOSED, of which anvil mined \
             the pooled transactions for {} ms ({} blocks) between the first round (which sent them) and the \
             next (2 s apart); the CLI peer's `batch send` took {} ms ({} ms node wait), its `batch sync` {} ms ({} ms).",
            ms(s.to_closed),
            ms(s.mine),
            s.blocks,
            ms(s.cli_send.wall),
            ms(s.cli_send.wait),
            ms(s.cli_sync.wall),
            ms(s.cli_sync.wait)
        )
        .unwrap();
    }
    writeln!(
        md,
        "{}; {:.0} s in all.",
        load_note(load_before),
        took.as_secs_f64()
    )
    .unwrap();
    md
}
