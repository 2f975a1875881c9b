//! The chain follower of `hub-cli serve` on anvil: ETH and token deposits
//! from outside accounts, many per block and across many blocks;
//! reorganisations made with snapshot/revert and `anvil_reorg`, with a
//! deposit that moves to another block and one that disappears; a kill -9
//! while scanning. Each test ends with two checks: the hub's deposit list
//! equals what the chain holds (tracked independently by the test), and
//! each deposit is reported once for each state change.

use crate::{
    harness::*,
    service::{Receiver, Service},
};
use coldsign_core::Address;
use serde_json::{json, Value};
use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, Instant},
};

const SECRET: &str = "fedcba9876543210fedcba9876543210";

/// A deposit as the chain holds it: (tx hash, position) → (to, asset, base units).
type Truth = BTreeMap<(String, String), (Address, String, String)>;

/// Waits until `f` holds (90 s at most); `false` if it never did, so the
/// caller's checks say what is wrong.
fn eventually(what: &str, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while !f() {
        if start.elapsed() > Duration::from_secs(90) {
            eprintln!("timed out waiting for {what}");
            return false;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    true
}

/// Sends `wei` from unlocked dev account `from` to `to` (not mined yet).
fn send_eth(w: &World, from: Address, to: Address, wei: u128) -> String {
    w.anvil
        .rpc("eth_sendTransaction", json!([{"from": from.to_string(), "to": to.to_string(), "value": format!("0x{wei:x}")}]))
        .as_str()
        .unwrap()
        .to_owned()
}

/// `token.transfer(to, units)` from unlocked dev account `from` (not mined yet).
fn send_token(w: &World, token: Address, from: Address, to: Address, units: u128) -> String {
    let data = format!(
        "0xa9059cbb000000000000000000000000{}{:064x}",
        hex::encode(to.0),
        units
    );
    w.anvil
        .rpc(
            "eth_sendTransaction",
            json!([{"from": from.to_string(), "to": token.to_string(), "data": data}]),
        )
        .as_str()
        .unwrap()
        .to_owned()
}

/// A deposit as the hub lists it: (to, asset, units, state, block hash).
type Listed = (Address, String, String, String, String);

/// The hub's deposit list by (tx, position).
fn hub_deposits(w: &World) -> BTreeMap<(String, String), Listed> {
    w.json(&["deposit", "list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                (
                    d["tx_hash"].as_str().unwrap().to_lowercase(),
                    d["position"].as_str().unwrap().to_owned(),
                ),
                (
                    d["address"].as_str().unwrap().parse().unwrap(),
                    d["asset"].as_str().unwrap().to_owned(),
                    d["amount_base_units"].as_str().unwrap().to_owned(),
                    d["state"].as_str().unwrap().to_owned(),
                    d["block_hash"].as_str().unwrap().to_owned(),
                ),
            )
        })
        .collect()
}

/// The block hash a transaction is mined in, from the node.
fn block_of(w: &World, tx: &str) -> Option<String> {
    let r = w.anvil.rpc("eth_getTransactionReceipt", json!([tx]));
    r.get("blockHash")
        .and_then(Value::as_str)
        .map(str::to_lowercase)
}

/// The hub's list equals the truth: the same deposits, amounts and blocks,
/// all CONFIRMED; and every deposit that is not on chain any more REORGED.
fn check_against_chain(w: &World, truth: &Truth, gone: &BTreeSet<String>) {
    let hub = hub_deposits(w);
    for (key, (to, asset, units)) in truth {
        let got = hub
            .get(key)
            .unwrap_or_else(|| panic!("deposit {key:?} missing from the hub: {hub:?}"));
        assert_eq!((&got.0, &got.1, &got.2), (to, asset, units), "{key:?}");
        assert_eq!(got.3, "CONFIRMED", "{key:?}");
        assert_eq!(
            Some(got.4.to_lowercase()),
            block_of(w, &key.0),
            "{key:?} in the node's block"
        );
    }
    for (key, got) in &hub {
        if !truth.contains_key(key) {
            assert!(
                gone.contains(&key.0),
                "the hub has a deposit the chain does not: {key:?} {got:?}"
            );
            assert_eq!(got.3, "REORGED", "{key:?}");
        }
    }
}

/// Each deposit's callbacks: one per state change, a valid signature, in
/// order; returns the states called back per deposit.
fn callbacks_once_per_change(receiver: &Receiver) -> BTreeMap<i64, Vec<String>> {
    let mut seen_events = BTreeSet::new();
    let mut per: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for e in receiver.verified_events(SECRET) {
        if e["type"] != "deposit.state_changed" {
            continue;
        }
        let id = e["event_id"].as_i64().unwrap();
        if !seen_events.insert(id) {
            continue; // at least once: a redelivery of the same event
        }
        per.entry(e["deposit"]["id"].as_i64().unwrap())
            .or_default()
            .push(e["new_state"].as_str().unwrap().to_owned());
    }
    for (d, states) in &per {
        assert_eq!(states[0], "SEEN", "deposit {d}: {states:?}");
        for pair in states.windows(2) {
            assert_ne!(
                pair[0], pair[1],
                "deposit {d} reported twice for one change: {states:?}"
            );
        }
    }
    per
}

fn world_with_deposits(backend: Backend) -> (World, Address, Vec<Address>, Receiver) {
    let w = World::new(backend, 3);
    let token = w.anvil.deploy_token();
    w.add_token(token);
    let watched: Vec<Address> = (1..=6).map(recipient).collect();
    let mut args = vec![
        "deposit",
        "watch",
        "--chain",
        "local",
        "--tenant",
        "acme",
        "--reference",
        "user-1",
    ];
    // Half watched by `deposit watch`, half imported from a file, as a
    // front system's list of addresses (and one public key) would be.
    let list: Vec<String> = watched[..3].iter().map(|a| a.to_string()).collect();
    args.extend(list.iter().map(String::as_str));
    w.ok(&args);
    let (k, from_key) = (key(UNFUNDED_KEY), address_of(&key(UNFUNDED_KEY)));
    let public_key = format!(
        "0x{}",
        hex::encode(k.verifying_key().to_encoded_point(true).as_bytes())
    );
    let file = w.dir.path().join("deposit-addresses.json");
    let mut entries: Vec<Value> = watched[3..]
        .iter()
        .map(|a| json!({"address": a.to_string(), "reference": "user-2"}))
        .collect();
    entries.push(json!({"public_key": public_key, "reference": "user-3"}));
    std::fs::write(&file, Value::from(entries).to_string()).unwrap();
    let imported = w.json(&[
        "address",
        "import",
        file.to_str().unwrap(),
        "--chain",
        "local",
        "--role",
        "deposit",
        "--tenant",
        "acme",
    ]);
    assert_eq!(imported["added"], 4, "{imported}");
    let listed = w.json(&["address", "list", "--chain", "local"]);
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["address"] == from_key.to_string()),
        "{listed}"
    );
    // Deposit addresses belong to a tenant.
    w.fails(
        &[
            "address",
            "import",
            file.to_str().unwrap(),
            "--chain",
            "local",
            "--role",
            "deposit",
        ],
        2,
    );
    let receiver = Receiver::start();
    let secret = w.dir.path().join("acme.secret");
    std::fs::write(&secret, SECRET).unwrap();
    w.ok(&[
        "callback",
        "set",
        "--tenant",
        "acme",
        "--url",
        &receiver.url,
        "--secret-file",
        secret.to_str().unwrap(),
    ]);
    (w, token, watched, receiver)
}

/// Many ETH and token deposits per block across many blocks; a reorg that
/// removes one deposit and moves another; all ends as the chain says.
pub fn deposits_are_followed_through_reorgs(backend: Backend) {
    let (w, token, watched, receiver) = world_with_deposits(backend);
    let _s = Service::start(&w);
    // The follower starts at the head it first sees: wait for it.
    std::thread::sleep(Duration::from_millis(1500));
    let senders: Vec<Address> = (1..6).map(|i| dev(i).1).collect();
    for s in &senders {
        w.anvil.mint(token, *s, 1_000_000_000_000);
    }
    w.anvil.rpc("evm_setAutomine", json!([false]));
    let mut truth = Truth::new();
    for block in 0..40u32 {
        for (n, s) in senders.iter().enumerate() {
            let to = watched[(block as usize + n) % watched.len()];
            let wei = 1_000_000_000_000u128 * u128::from(block + 1) + n as u128;
            let h = send_eth(&w, *s, to, wei);
            truth.insert(
                (h.to_lowercase(), "tx".into()),
                (to, "ETH".into(), wei.to_string()),
            );
            let units = 1_000 * u128::from(block + 1) + n as u128;
            let h = send_token(&w, token, *s, to, units);
            truth.insert(
                (h.to_lowercase(), "log:0".into()),
                (to, "TUSD".into(), units.to_string()),
            );
        }
        // Payments to addresses nobody watches are not deposits.
        send_eth(&w, senders[0], recipient(99), 5);
        w.anvil.mine(1);
    }

    // A reorganisation: from a snapshot, one deposit is mined and then
    // reverted away for good, another is mined, reverted, and mined again
    // in another block (the same signed transaction: the same deposit).
    let snapshot = w.anvil.rpc("evm_snapshot", json!([]));
    let gone = send_eth(&w, senders[1], watched[0], 777);
    let raw = w.anvil.rpc("eth_signTransaction", json!([{"from": senders[2].to_string(), "to": watched[1].to_string(), "value": "0x309", "gas": "0x5208", "nonce": format!("0x{:x}", w.anvil.nonce(senders[2])), "maxFeePerGas": "0x2540be400", "maxPriorityFeePerGas": "0x3b9aca00", "chainId": "0x7a69"}]));
    let moved = w
        .anvil
        .rpc("eth_sendRawTransaction", json!([raw.clone()]))
        .as_str()
        .unwrap()
        .to_lowercase();
    w.anvil.mine(1);
    let first_block = block_of(&w, &moved).unwrap();
    let _ = eventually("the follower to see the doomed deposits", || {
        let hub = hub_deposits(&w);
        hub.contains_key(&(gone.to_lowercase(), "tx".into()))
            && hub.contains_key(&(moved.clone(), "tx".into()))
    });
    w.anvil.rpc("evm_revert", json!([snapshot]));
    w.anvil.mine(2); // another branch, longer, without them
    w.anvil.rpc("eth_sendRawTransaction", json!([raw]));
    w.anvil.mine(1);
    let second_block = block_of(&w, &moved).unwrap();
    assert_ne!(first_block, second_block);
    truth.insert(
        (moved.clone(), "tx".into()),
        (watched[1], "ETH".into(), "777".into()),
    );
    // Reorganisations of depth 1 to 10 by anvil_reorg: the last `depth`
    // blocks, each with a deposit the follower has seen, are replaced by
    // blocks without them.
    let mut gone_set = BTreeSet::from([gone.to_lowercase()]);
    for depth in [1u32, 4, 10] {
        let mut doomed = Vec::new();
        for n in 0..depth {
            doomed.push(
                send_eth(
                    &w,
                    senders[3],
                    watched[5],
                    10_000 + u128::from(depth * 100 + n),
                )
                .to_lowercase(),
            );
            w.anvil.mine(1);
        }
        let _ = eventually(
            "the follower to see the deposits about to be reorganised",
            || {
                let hub = hub_deposits(&w);
                doomed
                    .iter()
                    .all(|h| hub.contains_key(&(h.clone(), "tx".into())))
            },
        );
        w.anvil.rpc("anvil_reorg", json!([depth, []]));
        w.anvil.mine(1);
        gone_set.extend(doomed);
    }
    w.anvil.rpc("evm_setAutomine", json!([true]));
    w.anvil.mine(5);

    let _ = eventually("every deposit to be CONFIRMED as the chain says", || {
        let hub = hub_deposits(&w);
        truth.keys().all(|k| {
            hub.get(k).is_some_and(|d| {
                d.3 == "CONFIRMED" && Some(d.4.to_lowercase()) == block_of(&w, &k.0)
            })
        }) && gone_set.iter().all(|g| {
            hub.get(&(g.clone(), "tx".into()))
                .is_some_and(|d| d.3 == "REORGED")
        })
    });
    check_against_chain(&w, &truth, &gone_set);
    let _ = eventually("the callbacks", || {
        let per = callbacks_once_per_change(&receiver);
        per.len() == truth.len() + gone_set.len()
            && per
                .values()
                .filter(|s| s.last().map(String::as_str) == Some("CONFIRMED"))
                .count()
                == truth.len()
    });
    let per = callbacks_once_per_change(&receiver);
    let states: Vec<&Vec<String>> = per.values().collect();
    assert!(
        states.iter().any(|s| s.as_slice() == ["SEEN", "REORGED"]),
        "the disappeared deposit: {per:?}"
    );
    assert!(
        states
            .iter()
            .any(|s| s.as_slice() == ["SEEN", "REORGED", "SEEN", "CONFIRMED"]),
        "the moved deposit: {per:?}"
    );
    let list = w.json(&["deposit", "list", "--state", "REORGED"]);
    assert_eq!(list.as_array().unwrap().len(), gone_set.len());
    let chains = w.json(&["chain", "list"]);
    assert!(chains[0]["internal_transfers"].is_string(), "{chains}");
}

/// kill -9 of the service while it scans, then a restart: it resumes from
/// the last stored block; nothing is missed or recorded twice.
pub fn a_kill_while_scanning_misses_nothing(backend: Backend) {
    let (w, token, watched, receiver) = world_with_deposits(backend);
    let mut s = Service::start(&w);
    std::thread::sleep(Duration::from_millis(1500));
    let from = dev(5).1;
    w.anvil.mint(token, from, 1_000_000_000);
    let mut truth = Truth::new();
    w.anvil.rpc("evm_setAutomine", json!([false]));
    for round in 0..4u32 {
        for block in 0..25u32 {
            let to = watched[(block % 6) as usize];
            let wei = u128::from(round * 100 + block + 1);
            let h = send_eth(&w, from, to, wei);
            truth.insert(
                (h.to_lowercase(), "tx".into()),
                (to, "ETH".into(), wei.to_string()),
            );
            w.anvil.mine(1);
        }
        std::thread::sleep(Duration::from_millis(100 + 150 * u64::from(round)));
        s.kill();
        s = Service::start(&w);
    }
    w.anvil.mine(4);
    let _ = eventually("every deposit CONFIRMED", || {
        let hub = hub_deposits(&w);
        truth
            .keys()
            .all(|k| hub.get(k).is_some_and(|d| d.3 == "CONFIRMED"))
    });
    check_against_chain(&w, &truth, &BTreeSet::new());
    assert_eq!(hub_deposits(&w).len(), truth.len(), "no deposit twice");
    let _ = eventually("the callbacks", || {
        callbacks_once_per_change(&receiver).len() == truth.len()
    });
    drop(s);
}

/// With a witness node, a deposit is CONFIRMED only once the witness shows
/// it the same, in the same block: a node of the same network that has not
/// seen it (a fork of the chain taken before it) keeps it SEEN however deep
/// it is; an honest witness (another endpoint of the chain) confirms it,
/// and each state is called back once.
pub fn a_deposit_is_confirmed_only_when_the_witness_shows_it(backend: Backend) {
    let (w, token, watched, receiver) = world_with_deposits(backend);
    let sender = dev(1).1;
    w.anvil.mint(token, sender, 1_000_000);
    let lagging = Anvil::start_with(&["--fork-url", &w.anvil.url]);
    w.ok(&["chain", "update", "local", "--witness-rpc", &lagging.url]);
    let s = Service::start(&w);
    // The follower starts at the head it first sees: wait for it.
    std::thread::sleep(Duration::from_millis(1500));
    let eth = send_eth(&w, sender, watched[0], 1_000_000_007).to_lowercase();
    let units = send_token(&w, token, sender, watched[1], 4_200).to_lowercase();
    w.anvil.mine(6); // twice the chain's 3 confirmations
    let states = |w: &World| -> Vec<String> {
        let hub = hub_deposits(w);
        [(eth.clone(), "tx"), (units.clone(), "log:0")]
            .iter()
            .map(|(h, p)| {
                hub.get(&(h.clone(), (*p).to_owned()))
                    .map_or("-".into(), |d| d.3.clone())
            })
            .collect()
    };
    assert!(eventually("both deposits seen", || states(&w) == ["SEEN", "SEEN"]));
    // Several follower rounds, each asking the witness.
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        states(&w),
        ["SEEN", "SEEN"],
        "confirmed without the witness"
    );
    let waiting = || {
        let text = ureq::get(&format!("{}/metrics", s.url))
            .call()
            .unwrap()
            .into_string()
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("coldsign_deposits_waiting_for_witness "))
            .map(str::to_owned)
    };
    assert_eq!(waiting().as_deref(), Some("2"));

    let honest = FaultProxy::start(&w.anvil.url);
    w.ok(&["chain", "update", "local", "--witness-rpc", &honest.url]);
    assert!(
        eventually("both deposits confirmed", || states(&w)
            == ["CONFIRMED", "CONFIRMED"]),
        "{:?}",
        states(&w)
    );
    assert!(honest.calls("eth_getLogs") > 0, "the witness was not read");
    assert_eq!(waiting().as_deref(), Some("0"));
    assert!(eventually("the callbacks", || {
        callbacks_once_per_change(&receiver)
            .values()
            .filter(|s| *s == &["SEEN", "CONFIRMED"])
            .count()
            == 2
    }));
    let truth: Truth = [
        (
            (eth.clone(), "tx".to_owned()),
            (watched[0], "ETH".to_owned(), "1000000007".to_owned()),
        ),
        (
            (units.clone(), "log:0".to_owned()),
            (watched[1], "TUSD".to_owned(), "4200".to_owned()),
        ),
    ]
    .into_iter()
    .collect();
    check_against_chain(&w, &truth, &BTreeSet::new());
    // `deposit list --since` takes a date or a time with a zone.
    let count = |since: &str| {
        w.json(&["deposit", "list", "--since", since])
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(count("2000-01-01"), 2);
    assert_eq!(count("2999-01-01T00:00:00+02:00"), 0);
}
