//! Policy breaches: each refuses the batch (exit 6) and names the rule and
//! the item.

use crate::util::*;

const BASE: &str = r#"
allowed_chain_ids = [31337]
native_symbol = "ETH"
max_fee_per_gas_gwei = "100"
max_total_fee = "1"
[assets.ETH]
token = "native"
max_per_tx = "2"
max_per_batch = "10"
[assets.USDT]
token = "0xdAC17F958D2ee523a2206206994597C13D831ec7"
decimals = 6
max_per_tx = "5000"
max_per_batch = "100000"
"#;

fn sign_with(
    env: &Env,
    policy: &str,
    batch: &coldsign_core::batch::UnsignedBatch,
) -> std::process::Output {
    let p = env.write("policy.toml", policy);
    let file = env.write_batch(batch);
    env.sign(&file, &["--policy", p.to_str().unwrap(), "--force"])
}

#[test]
fn a_batch_within_policy_is_signed() {
    let env = Env::new();
    env.init_dev();
    let out = sign_with(&env, BASE, &mixed_batch(31));
    assert_ok(&out);
    assert!(stdout(&out).contains("Policy: "));
    assert!(!stdout(&out).contains("BREACH"));
}

#[test]
fn each_rule_is_enforced_and_named() {
    let env = Env::new();
    env.init_dev();
    let cases: Vec<(
        String,
        coldsign_core::batch::UnsignedBatch,
        &str,
        Option<&str>,
    )> = vec![
        (
            BASE.replace("[31337]", "[1, 10]"),
            mixed_batch(32),
            "allowed_chain_ids",
            None,
        ),
        (
            BASE.into(),
            batch_of(33, &[native(0, 0, 1), native(1, 0, 2_500_000_000)]),
            "assets.ETH.max_per_tx",
            Some("order-1"),
        ),
        (
            BASE.into(),
            batch_of(
                34,
                &[
                    token(0, 0, 4_000),
                    token(0, 1, 4_000),
                    token(1, 0, 5_000),
                    token(1, 1, 100_000),
                ],
            ),
            "assets.USDT.max_per_tx",
            Some("order-3"),
        ),
        (
            BASE.replace("max_per_batch = \"10\"", "max_per_batch = \"3\""),
            batch_of(
                35,
                &[native(0, 0, 2_000_000_000), native(1, 0, 2_000_000_000)],
            ),
            "assets.ETH.max_per_batch",
            None,
        ),
        (
            BASE.replace(
                "max_fee_per_gas_gwei = \"100\"",
                "max_fee_per_gas_gwei = \"35\"",
            ),
            mixed_batch(36),
            "max_fee_per_gas_gwei",
            Some("order-0"),
        ),
        (
            BASE.replace("max_total_fee = \"1\"", "max_total_fee = \"0.001\""),
            mixed_batch(37),
            "max_total_fee",
            None,
        ),
        (
            format!("recipient_allowlist = [\"{}\"]\n{BASE}", DEV_ADDRESSES[2]),
            mixed_batch(38),
            "recipient_allowlist",
            Some("order-0"),
        ),
        (
            BASE.replace("[assets.USDT]", "[assets.USDX]"),
            mixed_batch(39),
            "unlisted_assets",
            Some("order-1"),
        ),
        (
            BASE.replace(USDT, "0x0000000000000000000000000000000000000bad"),
            mixed_batch(40),
            "assets.USDT.token",
            Some("order-1"),
        ),
        (
            format!("allowed_accounts = [1]\n{BASE}"),
            mixed_batch(41),
            "allowed_accounts",
            Some("order-0"),
        ),
    ];
    for (policy, batch, rule, item) in cases {
        let out = sign_with(&env, &policy, &batch);
        assert_exit(&out, 6, &format!("rule `{rule}`"));
        if let Some(item) = item {
            assert!(stderr(&out).contains(item), "{rule}: {}", stderr(&out));
        }
        assert!(
            stdout(&out).contains("BREACH"),
            "{rule}: review shows the breach"
        );
        let signed = env.path(&format!("batch_{}_20261121_signed.json", batch.batch_id()));
        assert!(!signed.exists(), "{rule}: nothing signed");
    }
}

#[test]
fn a_look_alike_token_label_is_caught_by_the_policy() {
    // A consistent batch (valid digest) that labels a transfer of another
    // contract as USDT: the policy binds the label to the real contract.
    let env = Env::new();
    env.init_dev();
    let mut d = draft(0, &token(0, 0, 10));
    let fake = addr("0x0000000000000000000000000000000000000bad");
    if let coldsign_core::Transaction::Eip1559(tx) = &mut d.tx {
        tx.to = Some(fake);
    }
    d.summary.token = Some(fake);
    let batch = batch_from_drafts(42, vec![d]);
    let out = sign_with(&env, BASE, &batch);
    assert_exit(&out, 6, "rule `assets.USDT.token`");
}

#[test]
fn policy_beside_the_keystore_applies_by_default_and_bad_policies_are_usage_errors() {
    let env = Env::new();
    env.init_dev();
    std::fs::write(env.path("ks/policy.toml"), BASE.replace("[31337]", "[1]")).unwrap();
    let file = env.write_batch(&mixed_batch(43));
    assert_exit(&env.sign(&file, &[]), 6, "allowed_chain_ids");
    let out = env.run(&["inspect", file.to_str().unwrap()]);
    assert_exit(&out, 6, "allowed_chain_ids");
    assert!(stdout(&out).contains("BREACH"));

    std::fs::write(env.path("ks/policy.toml"), "max_fee_per_gas = 1\n").unwrap();
    assert_exit(&env.sign(&file, &[]), 2, "unknown field");
}

#[test]
fn the_example_policy_is_valid() {
    let env = Env::new();
    env.init_dev();
    let example = workspace_dir().join("docs/policy.example.toml");
    let file = env.write_batch(&mixed_batch(44));
    let out = env.run(&[
        "inspect",
        file.to_str().unwrap(),
        "--policy",
        example.to_str().unwrap(),
    ]);
    assert_ok(&out);
}
