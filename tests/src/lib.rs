//! The shared test kit of coldsign: a real anvil node per test on a free
//! loopback port, a fresh database per test (SQLite file or PostgreSQL
//! database), anvil's public dev keys, the test ERC-20 token, the
//! workspace's built binaries, and a fault-injecting JSON-RPC proxy to put in
//! front of anvil (a node that lies or errors).
//!
//! Used by the hub's integration tests, the end-to-end tests in this crate's
//! `tests/` folder and the hub benchmark. Everything here is for tests only:
//! the keys are PUBLIC and INSECURE.

mod anvil;
mod db;
mod http_sink;
mod keys;
mod machine;
mod paths;
mod proxy;

pub use anvil::Anvil;
pub use db::{Backend, TestDb};
pub use http_sink::{read_request, HttpRequest, HttpSink};
pub use keys::{address_of, dev, key, DEV_KEYS, DEV_MNEMONIC, ETH, UNFUNDED_KEY};
pub use machine::{cpu_model, load_average};
pub use paths::{binary, tools_dir, workspace_root};
pub use proxy::{Fault, FaultProxy, Intercepted};
