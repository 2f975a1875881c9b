//! The review shows where the money goes: totals per recipient, new
//! recipients, the chain by name, nonces, fees, access lists, flags, and
//! amounts with decimals the signer can vouch for.

use crate::util::*;
use coldsign_core::{
    amount::format_units,
    batch::{Summary, UnsignedBatch, UnsignedItemDraft},
    Address, Transaction, U256,
};

/// A native payment of `wei` from development account `sender` at `nonce`.
fn pay(i: usize, sender: usize, nonce: u64, to: Address, wei: U256) -> UnsignedItemDraft {
    let mut d = draft(i, &native(sender, nonce, 1));
    d.summary = Summary {
        asset: "ETH".into(),
        decimals: 18,
        token: None,
        recipient: to,
        amount: format_units(wei, 18).unwrap(),
    };
    if let Transaction::Eip1559(tx) = &mut d.tx {
        tx.to = Some(to);
        tx.value = wei;
    }
    d
}

fn eth(tenths: u64) -> U256 {
    U256::from(tenths) * U256::from(100_000_000_000_000_000u64)
}

fn recipient(n: u8) -> Address {
    let mut a = [0x11u8; 20];
    a[19] = n;
    Address(a)
}

/// The example: ten payments of 4.9 ETH to one address, hidden
/// among ten payments of 5 ETH to ten others.
fn hidden_recipient_batch(id: u64) -> UnsignedBatch {
    let mut drafts = Vec::new();
    for i in 0..10 {
        drafts.push(pay(i, 0, i as u64, recipient(0xee), eth(49)));
    }
    for i in 10..20 {
        drafts.push(pay(i, 0, i as u64, recipient(i as u8), eth(50)));
    }
    batch_from_drafts(id, drafts)
}

#[test]
fn the_recipient_of_ten_small_payments_appears_with_its_total() {
    let env = Env::new();
    env.init_dev();
    let file = env.write_batch(&hidden_recipient_batch(61));
    let out = env.run(&["inspect", file.to_str().unwrap()]);
    assert_ok(&out);
    let text = stdout(&out);
    let hidden = recipient(0xee).to_string();
    let line = text
        .lines()
        .find(|l| l.contains(&hidden) && l.contains("payment(s)"))
        .unwrap_or_else(|| panic!("the 49 ETH recipient is not listed:\n{text}"));
    assert!(line.contains("49 ") || line.contains("49.0"), "{line}");
    assert!(line.contains("10 payment(s)"), "{line}");
    // All eleven recipients are at or above 1% of the 99 ETH total.
    assert_eq!(text.matches("payment(s)").count(), 11, "{text}");
    // The top 5 payments alone would not show it.
    let largest = &text[text.find("Largest payments:").unwrap()..];
    let largest = &largest[..largest.find("\n\n").unwrap()];
    assert!(!largest.contains(&hidden), "{largest}");

    // With a high threshold the ten largest recipients are still listed.
    let p = env.write(
        "high.toml",
        "unlisted_assets = \"allow\"\n[assets.ETH]\ntoken = \"native\"\nshow_recipients_above = \"100\"\n",
    );
    let out = env.run(&[
        "inspect",
        file.to_str().unwrap(),
        "--policy",
        p.to_str().unwrap(),
    ]);
    assert_ok(&out);
    let text = stdout(&out);
    assert!(text.contains(&hidden), "{text}");
    assert!(text.contains("threshold 100 ETH"), "{text}");
    assert_eq!(text.matches(" payment(s)").count(), 10, "{text}");
    assert!(
        text.contains("to 1 other recipient(s), each below the threshold"),
        "{text}"
    );
}

#[test]
fn recipients_never_paid_before_are_marked_new() {
    let env = Env::new();
    env.init_dev();
    let first = batch_from_drafts(62, vec![pay(0, 0, 0, recipient(1), eth(1))]);
    assert_ok(&env.sign(&env.write_batch(&first), &[]));
    let mut drafts = vec![
        pay(0, 0, 1, recipient(1), eth(1)),
        pay(1, 0, 2, recipient(2), eth(1)),
    ];
    for d in &mut drafts {
        d.order_id = format!("second-{}", d.order_id);
    }
    let second = batch_from_drafts(63, drafts);
    let file = env.write_batch(&second);
    let out = env.run(&["inspect", file.to_str().unwrap()]);
    assert_ok(&out);
    let text = stdout(&out);
    assert!(
        text.contains("2 distinct, 1 never paid before by this signer (NEW)"),
        "{text}"
    );
    let line = |a: Address| {
        text.lines()
            .find(|l| l.contains(&a.to_string()) && l.contains("payment(s)"))
            .unwrap()
            .to_owned()
    };
    assert!(!line(recipient(1)).contains("NEW"), "{text}");
    assert!(line(recipient(2)).ends_with("NEW"), "{text}");
    // A token payment's recipient counts as paid, not its contract.
    let mut tok = draft(0, &token(1, 0, 5));
    tok.order_id = "tok-0".into();
    let tok = batch_from_drafts(64, vec![tok]);
    assert_ok(&env.sign(&env.write_batch(&tok), &[]));
    let mut again = draft(0, &token(1, 1, 5));
    again.order_id = "again-0".into();
    let again = batch_from_drafts(65, vec![again]);
    let out = env.run(&["inspect", env.write_batch(&again).to_str().unwrap()]);
    assert!(
        stdout(&out).contains("1 distinct, 0 never paid before"),
        "{}",
        stdout(&out)
    );
    // Without a keystore (no ledger) it says it could not tell.
    let bare = Env::new();
    let out = bare.run(&[
        "inspect",
        bare.write_batch(&second).to_str().unwrap(),
        "--no-policy",
    ]);
    assert_ok(&out);
    assert!(stdout(&out).contains("never-paid-before NOT checked"));
}

#[test]
fn chain_nonces_fees_access_lists_and_flags_are_shown() {
    let env = Env::new();
    let mut with_list = pay(2, 1, 0, recipient(3), eth(1));
    if let Transaction::Eip1559(tx) = &mut with_list.tx {
        tx.access_list = vec![coldsign_core::transaction::AccessListItem {
            address: recipient(9),
            storage_keys: vec![coldsign_core::B256([1; 32]), coldsign_core::B256([2; 32])],
        }];
        tx.max_priority_fee_per_gas = U256::from(3_000_000_000u64);
    }
    let mut legacy = native(2, 0, 7);
    legacy.legacy = true;
    let batch = batch_from_drafts(
        66,
        vec![
            pay(0, 0, 4, Address::default(), eth(1)),
            pay(1, 0, 5, addr(USDT), eth(1)),
            with_list,
            pay(3, 1, 1, addr(DEV_ADDRESSES[1]), eth(1)),
            draft(4, &legacy),
            draft(5, &token(2, 1, 3)),
        ],
    );
    let out = env.run(&[
        "inspect",
        env.write_batch(&batch).to_str().unwrap(),
        "--no-policy",
    ]);
    assert_ok(&out);
    let text = stdout(&out);
    for needle in [
        "chain:        local anvil/hardhat (development) (chain id 31337)",
        &format!("{} (m/44'/60'/0'/0/0): nonces 4 to 5 (2 item(s))", DEV_ADDRESSES[0]),
        &format!("{} (m/44'/60'/0'/0/1): nonces 0 to 1 (2 item(s))", DEV_ADDRESSES[1]),
        &format!("{} (m/44'/60'/0'/0/2): nonces 0 to 1 (2 item(s))", DEV_ADDRESSES[2]),
        "priority fee per gas:  1 to 3 gwei (5 item(s))",
        "max fee per gas:       40 gwei (5 item(s))",
        "gas price (legacy):    30 gwei (1 item(s))",
        "Access lists: 1 item(s) carry one",
        &format!("item 2 (order \"order-2\"): {} (2 storage key(s))", recipient(9)),
        "Flagged payments: 3",
        "FLAG: item 0 (order \"order-0\") pays 0x0000000000000000000000000000000000000000, the zero address",
        "FLAG: item 1 (order \"order-1\") pays 0xdAC17F958D2ee523a2206206994597C13D831ec7, a token contract",
        "FLAG: item 3 (order \"order-3\") pays 0x70997970C51812dc3A010C7d01b50e0d17dc79C8, its own sender",
        "Worst-case fee exposure:",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }

    // An unknown chain is said to be unknown; the policy can name it.
    let mut drafts = vec![pay(0, 0, 0, recipient(1), eth(1))];
    if let Transaction::Eip1559(tx) = &mut drafts[0].tx {
        tx.chain_id = 424242;
    }
    let odd = UnsignedBatch::new(67, 424242, CREATED_AT, drafts).unwrap();
    let file = env.write_batch(&odd);
    let out = env.run(&["inspect", file.to_str().unwrap(), "--no-policy"]);
    assert!(
        stdout(&out).contains("chain id 424242 (UNKNOWN"),
        "{}",
        stdout(&out)
    );
    let p = env.write(
        "named.toml",
        "[chain_names]\n424242 = \"Treasury testnet\"\n",
    );
    let out = env.run(&[
        "inspect",
        file.to_str().unwrap(),
        "--policy",
        p.to_str().unwrap(),
    ]);
    assert!(
        stdout(&out).contains("chain:        Treasury testnet (chain id 424242)"),
        "{}",
        stdout(&out)
    );
    let p = env.write("rename.toml", "[chain_names]\n1 = \"Testnet, honest\"\n");
    let out = env.run(&[
        "inspect",
        file.to_str().unwrap(),
        "--policy",
        p.to_str().unwrap(),
    ]);
    assert_exit(&out, 2, "a policy may name only other chains");
}

#[test]
fn unlisted_tokens_show_their_contract_next_to_every_amount() {
    let env = Env::new();
    env.init_dev(); // its policy allows unlisted assets
    let file = env.write_batch(&mixed_batch(68));
    let out = env.run(&["inspect", file.to_str().unwrap()]);
    assert_ok(&out);
    let text = stdout(&out);
    let tag = format!("[token {USDT}, not in the policy]");
    let usdt_amounts: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("1253") || l.contains(" 1000 ") || l.contains(" 250 "))
        .collect();
    assert!(!usdt_amounts.is_empty(), "{text}");
    for l in usdt_amounts {
        assert!(l.contains(&tag), "{l}\n{text}");
    }
    assert!(text.contains("from the batch file: NOT in the policy, NOT checked"));
    // Listed in the policy: decimals from the policy, no tag.
    let p = env.write(
        "listed.toml",
        &format!(
            "[assets.ETH]\ntoken = \"native\"\n[assets.USDT]\ntoken = \"{USDT}\"\ndecimals = 6\n"
        ),
    );
    let out = env.run(&[
        "inspect",
        file.to_str().unwrap(),
        "--policy",
        p.to_str().unwrap(),
    ]);
    assert_ok(&out);
    assert!(
        !stdout(&out).contains("not in the policy]"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("6 decimals, from the policy"));
}

#[test]
fn a_native_amount_with_other_decimals_is_refused() {
    let env = Env::new();
    env.init_dev();
    // 100 ETH labelled with 30 decimals would read as 0.0000000001 ETH.
    let wei = U256::from(100u64) * U256::exp10(18);
    let mut d = pay(0, 0, 0, recipient(1), wei);
    d.summary.decimals = 30;
    d.summary.amount = format_units(wei, 30).unwrap();
    let batch = batch_from_drafts(69, vec![d]);
    let file = env.write_batch(&batch);
    for policy in [None, Some("[assets.ETH]\ntoken = \"native\"\n")] {
        let p;
        let mut extra = vec![];
        if let Some(text) = policy {
            p = env.write("p.toml", text);
            extra = vec!["--policy", p.to_str().unwrap()];
        }
        let out = env.sign(&file, &extra);
        assert_exit(
            &out,
            5,
            "a native coin amount has 18 decimals, but the summary says 30",
        );
        assert!(!env.path("batch_69_20261121_signed.json").exists());
    }
    let p = env.write(
        "bad.toml",
        "[assets.ETH]\ntoken = \"native\"\ndecimals = 30\n",
    );
    let out = env.run(&[
        "inspect",
        file.to_str().unwrap(),
        "--policy",
        p.to_str().unwrap(),
    ]);
    assert_exit(&out, 2, "the native coin always has 18 decimals");
}
