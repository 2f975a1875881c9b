//! A batch of 1,000 orders from 100 senders, native and ERC-20 mixed,
//! through the whole runbook; then every recipient's balance on chain is
//! checked against the sum of its orders.

use crate::world::{recipient, World};
use coldsign_e2e::{Backend, ETH};
use std::{collections::BTreeMap, time::Instant};

const SENDERS: usize = 100;
const ORDERS_PER_SENDER: usize = 10;
const RECIPIENTS: usize = 150;

/// One order of the big batch: (id, asset, sender index, recipient, amount
/// text, amount in base units).
fn order(n: usize) -> (String, &'static str, usize, u32, String, u128) {
    let sender = n / ORDERS_PER_SENDER;
    // Every recipient gets several orders, from several senders.
    let to = u32::try_from((n * 7 + n / RECIPIENTS) % RECIPIENTS).expect("small") + 1000;
    if n.is_multiple_of(2) {
        // 0.000001 .. 0.001 ETH.
        let micro = u128::try_from(n).expect("small") + 1;
        (
            format!("BIG-{n:04}"),
            "ETH",
            sender,
            to,
            format!("0.{micro:06}"),
            micro * 1_000_000_000_000,
        )
    } else {
        // 1.00 .. 7.99 USDT.
        let cents = u128::try_from((n % 7 + 1) * 100 + n % 100).expect("small");
        (
            format!("BIG-{n:04}"),
            "USDT",
            sender,
            to,
            format!("{}.{:02}", cents / 100, cents % 100),
            cents * 10_000,
        )
    }
}

/// 1,000 orders (half ETH, half USDT) from the signer's first 100 addresses
/// to 150 fresh recipients, in one batch signed by the real signer, to
/// CLOSED; then every order is COMPLETED and every recipient holds exactly
/// the sum of its orders, in ether and in tokens.
pub fn thousand_orders_from_hundred_senders(backend: Backend) {
    let started = Instant::now();
    let w = World::standard(backend, 2);
    let cold = w.cold_addresses();
    assert_eq!(cold.len(), SENDERS);
    for a in &cold {
        w.anvil.set_balance(*a, 100 * ETH);
        w.anvil.mint(w.token(), *a, 1_000_000_000);
    }
    let orders: Vec<_> = (0..SENDERS * ORDERS_PER_SENDER).map(order).collect();
    let rows: Vec<_> = orders
        .iter()
        .map(|(id, asset, s, to, amount, _)| {
            (
                id.as_str(),
                *asset,
                cold[*s],
                recipient(*to),
                amount.as_str(),
            )
        })
        .collect();
    // Recipients are fresh addresses: no balance, not a sender.
    let mut expected: BTreeMap<u32, (u128, u128)> = BTreeMap::new();
    for (_, asset, _, to, _, base) in &orders {
        let e = expected.entry(*to).or_default();
        if *asset == "ETH" {
            e.0 += base;
        } else {
            e.1 += base;
        }
    }
    assert_eq!(expected.len(), RECIPIENTS);
    for to in expected.keys() {
        assert!(!cold.contains(&recipient(*to)));
        assert_eq!(w.anvil.balance(recipient(*to)), 0);
    }
    let setup = started.elapsed();

    w.import_orders(&rows);
    let batch = w.create_batch();
    let built = started.elapsed();
    w.export_and_sign();
    let signed = started.elapsed();
    let upload = w.run("hub-cli batch upload <BATCH> <USB>/batch_<BATCH>_<DATE>_signed.json");
    assert!(upload.stdout.contains("1000 sent"), "{}", upload.stdout);
    let sent = started.elapsed();
    w.wait_closed();
    let closed = started.elapsed();
    eprintln!(
        "large batch ({backend:?}): set-up {setup:.1?}, import+build {:.1?}, export+sign {:.1?}, \
         upload+send {:.1?}, sync to CLOSED {:.1?}, total {closed:.1?}",
        built - setup,
        signed - built,
        sent - signed,
        closed - sent,
    );

    // Every order final in the hub, every item paid.
    let states = w.order_states();
    assert_eq!(states.len(), orders.len());
    for (id, state) in &states {
        assert_eq!(state, "COMPLETED", "{id}");
    }
    let items = w.hub_json(&["batch", "show", &batch])["items"].clone();
    let items = items.as_array().expect("items");
    assert_eq!(items.len(), orders.len());
    assert!(items.iter().all(|i| i["state"] == "DISBURSED"));
    // Every recipient holds exactly the sum of its orders.
    for (to, (wei, units)) in &expected {
        let r = recipient(*to);
        assert_eq!(w.anvil.balance(r), *wei, "ETH of {r}");
        assert_eq!(w.anvil.token_balance(w.token(), r), *units, "USDT of {r}");
    }
}
