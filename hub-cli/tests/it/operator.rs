//! The hub for a daily operator: set-up mistakes caught or corrected,
//! obviously wrong input refused, no panic on a closed pipe, nodes that do
//! not answer reported quickly, and the small things (modes, version,
//! completions, configuration) an operator relies on. Each test reproduces
//! the defect it is named after with the real binary.

use crate::harness::*;
use coldsign_core::Address;
use std::{
    io::{BufRead, BufReader},
    process::Stdio,
};

const USAGE: i32 = 2;
const INPUT: i32 = 3;
const CONFLICT: i32 = 5;
const DATABASE: i32 = 6;
const NODE: i32 = 7;

/// `hub-cli order list | head -2` on a long list: no panic, no backtrace.
pub fn output_cut_short_by_a_pipe_is_not_a_panic(backend: Backend) {
    let w = World::new(backend, 1);
    let (k1, a1) = dev(1);
    w.import_keys(&[&k1]);
    let rows: Vec<(String, Address)> = (0..1500)
        .map(|n| (format!("pipe-{n}"), recipient(1)))
        .collect();
    let refs: Vec<(&str, &str, Address, Address, &str)> = rows
        .iter()
        .map(|(id, to)| (id.as_str(), "ETH", a1, *to, "0.001"))
        .collect();
    w.import_orders(&refs);
    let mut child = w
        .command(&["order", "list"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    {
        let mut out = BufReader::new(child.stdout.take().unwrap());
        out.read_line(&mut first).unwrap();
        out.read_line(&mut first).unwrap();
    } // the reader goes away, as `head -2` does
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(first.contains("pipe-"), "{first}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(status.code(), Some(101), "{stderr}");
}

/// A token's decimals come from its contract; a wrong `--decimals` is
/// refused instead of building every order 10^12 off.
pub fn token_decimals_are_checked_against_the_contract(backend: Backend) {
    let w = World::new(backend, 1);
    let token = w.anvil.deploy_token();
    let contract = token.to_string();
    let base = [
        "token",
        "add",
        "--chain",
        "local",
        "--symbol",
        "TUSD",
        "--contract",
        contract.as_str(),
    ];
    let mut wrong = base.to_vec();
    wrong.extend(["--decimals", "18"]);
    let r = w.fails(&wrong, INPUT);
    assert!(r.stderr.contains("6 decimals, not 18"), "{}", r.stderr);
    assert_eq!(w.json(&["token", "list"]).as_array().unwrap().len(), 0);
    // Left out, they are read from the contract.
    w.ok(&base);
    assert_eq!(w.json(&["token", "list"])[0]["decimals"], 6);

    // Corrected later: refused while an unfinished order uses the token.
    let (k1, a1) = dev(1);
    w.import_keys(&[&k1]);
    w.import_orders(&[("T", "TUSD", a1, recipient(1), "5")]);
    // What each cold address holds, from the node.
    w.anvil.mint(token, a1, 7_500_000);
    let held = w.json(&["address", "list", "--chain", "local", "--balances"]);
    let balances = held[0]["balances"].as_array().unwrap();
    assert_eq!(balances[0]["asset"], "ETH");
    assert_eq!(
        balances[0]["amount_base_units"],
        w.anvil.balance(a1).to_string()
    );
    assert_eq!(balances[1]["asset"], "TUSD");
    assert_eq!(balances[1]["amount"], "7.5");
    let r = w.fails(
        &[
            "token",
            "update",
            "--chain",
            "local",
            "--symbol",
            "TUSD",
            "--decimals",
            "18",
        ],
        CONFLICT,
    );
    assert!(r.stderr.contains("unfinished order"), "{}", r.stderr);
    let r = w.fails(
        &["token", "remove", "--chain", "local", "--symbol", "TUSD"],
        CONFLICT,
    );
    assert!(r.stderr.contains("cannot be removed"), "{}", r.stderr);
}

/// A chain can be corrected (its node, confirmations, fees) and an unused
/// one removed; a node of another chain is refused.
pub fn chains_can_be_corrected_and_removed(backend: Backend) {
    let w = World::new(backend, 1);
    w.ok(&[
        "chain",
        "update",
        "local",
        "--confirmations",
        "3",
        "--max-fee-cap",
        "900000000000",
    ]);
    let chains = w.json(&["chain", "list"]);
    assert_eq!(chains[0]["confirmations"], 3);
    assert_eq!(chains[0]["max_fee_cap"], "900000000000");
    w.ok(&["chain", "update", "local", "--max-fee-cap", "none"]);
    assert!(w.json(&["chain", "list"])[0]["max_fee_cap"].is_null());

    let other = Anvil::start_with(&["--chain-id", "777"]);
    let r = w.fails(&["chain", "update", "local", "--rpc", &other.url], NODE);
    assert!(r.stderr.contains("chain id 777"), "{}", r.stderr);
    assert!(
        r.stderr.contains("hub-cli chain update local --rpc"),
        "{}",
        r.stderr
    );
    w.fails(&["chain", "update", "local"], USAGE);

    w.ok(&[
        "chain",
        "add",
        "spare",
        "--chain-id",
        "777",
        "--rpc",
        &other.url,
    ]);
    w.ok(&["chain", "remove", "spare"]);
    assert_eq!(w.json(&["chain", "list"]).as_array().unwrap().len(), 1);
    let (k1, _) = dev(1);
    w.import_keys(&[&k1]);
    let r = w.fails(&["chain", "remove", "local"], CONFLICT);
    assert!(r.stderr.contains("cannot be removed"), "{}", r.stderr);
}

/// Every state change names who did it: with no operator anywhere, a
/// command that changes state is refused; one that only reads runs.
pub fn state_changes_need_an_operator(backend: Backend) {
    let w = World::new(backend, 1);
    let anonymous = |args: &[&str]| {
        let o = w
            .command(args)
            .env_remove("HUB_OPERATOR")
            .env_remove("USER")
            .env("HOME", w.dir.path())
            .output()
            .unwrap();
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (code, stderr) = anonymous(&["chain", "update", "local", "--confirmations", "2"]);
    assert_eq!(code, USAGE, "{stderr}");
    assert!(stderr.contains("--operator"), "{stderr}");
    assert_eq!(
        w.json(&["chain", "list"])[0]["confirmations"],
        1,
        "nothing changed"
    );
    let (code, stderr) = anonymous(&["chain", "list"]);
    assert_eq!(code, 0, "{stderr}");
    // The operator is recorded with the change.
    let (k1, a1) = dev(1);
    w.import_keys(&[&k1]);
    w.import_orders(&[("O", "ETH", a1, recipient(1), "1")]);
    let events = w.json(&["order", "show", "O"])["events"].clone();
    assert!(
        events
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["operator"] == "test"),
        "{events}"
    );
}

/// A configuration file gives the database and the operator; a flag
/// overrides it; an unknown key is refused.
pub fn a_configuration_file_is_read_and_overridden(backend: Backend) {
    let w = World::new(backend, 1);
    let config = w.dir.path().join("hub.toml");
    std::fs::write(
        &config,
        format!(
            "database_url = {:?}\noperator = \"carol\"\nrpc_timeout = 5\n",
            w.db.url
        ),
    )
    .unwrap();
    let run = |args: &[&str], operator_flag: bool| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_hub-cli"));
        c.args(args)
            .arg("--config")
            .arg(&config)
            .current_dir(w.dir.path());
        c.env_remove("HUB_OPERATOR").env_remove("HUB_DATABASE_URL");
        if operator_flag {
            c.args(["--operator", "dave"]);
        }
        let o = c.output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    let (k1, a1) = dev(1);
    w.import_keys(&[&k1]);
    let (from, to) = (a1.to_string(), recipient(1).to_string());
    let add = |id: &str| {
        vec![
            "order", "add", "--id", id, "--chain", "local", "--asset", "ETH", "--from", &from,
            "--to", &to, "--amount", "1",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<String>>()
    };
    let a = add("cfg-1");
    run(&a.iter().map(String::as_str).collect::<Vec<_>>(), false);
    let b = add("cfg-2");
    run(&b.iter().map(String::as_str).collect::<Vec<_>>(), true);
    let operator_of =
        |order: &str| w.json(&["order", "show", order])["events"][0]["operator"].clone();
    assert_eq!(operator_of("cfg-1"), "carol");
    assert_eq!(operator_of("cfg-2"), "dave");

    std::fs::write(&config, "operater = \"typo\"\n").unwrap();
    let o = w
        .command(&["chain", "list", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(USAGE));
    assert!(String::from_utf8_lossy(&o.stderr).contains("operater"));
}

/// A node that accepts connections and never answers is reported after
/// `--rpc-timeout`, not after minutes of silence.
pub fn a_silent_node_times_out_with_a_clear_message(backend: Backend) {
    let w = World::new(backend, 1);
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let r = w.fails(
        &[
            "chain",
            "add",
            "mute",
            "--chain-id",
            "5",
            "--rpc",
            &url,
            "--rpc-timeout",
            "1",
        ],
        NODE,
    );
    assert!(
        r.stderr.contains("no answer to eth_chainId within 1 s"),
        "{}",
        r.stderr
    );
    assert_eq!(
        r.stderr.matches("127.0.0.1").count(),
        1,
        "the URL once: {}",
        r.stderr
    );
    drop(silent);
}

/// `sync --wait` rides out a node outage and finishes once the node is
/// back, saying what it waits for; `sync --all` needs no batch id.
pub fn sync_rides_out_a_node_outage(backend: Backend) {
    let w = World::behind_proxy(backend, 1);
    let (k1, a1) = dev(1);
    w.import_keys(&[&k1]);
    w.import_orders(&[("S", "ETH", a1, recipient(2), "1")]);
    let id = w.create_batch();
    let signed = sign_file(&w.export(&id), &[&k1]);
    w.ok(&[
        "batch",
        "upload",
        &id,
        signed.to_str().unwrap(),
        "--no-send",
    ]);
    w.ok(&["batch", "send", &id]);
    w.proxy().set(Fault::Down);
    let child = w
        .command(&[
            "batch",
            "sync",
            &id,
            "--wait",
            "--timeout",
            "60",
            "--interval",
            "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(4));
    w.proxy().clear();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("node fault") || stderr.contains("trying again"),
        "{stderr}"
    );
    assert_eq!(w.batch_state(&id), "CLOSED");
    assert!(w
        .json(&["batch", "sync", "--all"])
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(w.anvil.balance(recipient(2)), ETH);
}

/// Small things: an export directory that does not exist is refused, the
/// SQLite file is private, `--version` names the commit, completions
/// exist, PostgreSQL failures are named.
pub fn operator_small_things(backend: Backend) {
    let w = World::new(backend, 1);
    let (k1, a1) = dev(1);
    w.import_keys(&[&k1]);
    w.import_orders(&[("X", "ETH", a1, recipient(3), "1")]);
    let id = w.create_batch();
    let typo = w.dir.path().join("no-such-usb");
    let r = w.fails(
        &["batch", "export", &id, "--out", typo.to_str().unwrap()],
        INPUT,
    );
    assert!(r.stderr.contains("not a directory"), "{}", r.stderr);
    assert!(!typo.exists());

    if backend == Backend::Sqlite {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&w.db.url).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{mode:o}");
    }
    let version = w.ok(&["--version"]);
    assert!(version.contains('(') && version.contains(')'), "{version}");
    let bash = w.ok(&["completions", "bash"]);
    assert!(
        bash.contains("hub-cli") && bash.contains("complete"),
        "{}",
        &bash[..200.min(bash.len())]
    );

    let missing = "postgres://postgres@127.0.0.1:5432/coldsign_no_such_database";
    let bare = |db: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_hub-cli"))
            .args(["order", "list", "--db", db])
            .env("HUB_OPERATOR", "test")
            .output()
            .unwrap()
    };
    let o = bare(missing);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(DATABASE), "{stderr}");
    assert!(stderr.contains("createdb"), "{stderr}");
    assert!(!stderr.contains(":***"), "no password to hide: {stderr}");
    let refused = "postgres://postgres@127.0.0.1:1/test";
    let o = bare(refused);
    assert!(String::from_utf8_lossy(&o.stderr).contains("connection refused"));
}

/// Text from a file never reaches the terminal raw: a signed file with an
/// ESC sequence in an unknown key is refused with the sequence made
/// visible, in the error and in `batch show`.
pub fn hostile_text_is_escaped_before_it_is_printed(backend: Backend) {
    let w = World::new(backend, 1);
    let (k1, a1) = dev(1);
    w.import_keys(&[&k1]);
    w.import_orders(&[("E", "ETH", a1, recipient(4), "1")]);
    let id = w.create_batch();
    let signed = sign_file(&w.export(&id), &[&k1]);
    let text = std::fs::read_to_string(&signed).unwrap();
    let hostile = text.replacen(
        "\"items\"",
        "\"\\u001b[2J\\rOK: batch verified and signed\": 1, \"items\"",
        1,
    );
    std::fs::write(&signed, hostile).unwrap();
    let r = w.run(&["batch", "upload", &id, signed.to_str().unwrap()]);
    assert_ne!(r.code, 0);
    assert!(
        !r.stderr.contains('\u{1b}') && !r.stderr.contains('\r'),
        "{:?}",
        r.stderr
    );
    assert!(r.stderr.contains("\\u{1b}"), "{}", r.stderr);
    let shown = w.ok(&["batch", "show", &id]);
    assert!(!shown.contains('\u{1b}'), "{shown:?}");
}

/// Dropping in bulk and filtering a batch by state.
pub fn drop_every_build_error_and_filter_by_state(backend: Backend) {
    let w = World::new(backend, 1);
    let (k1, a1) = dev(1);
    let (k2, a2) = key_and_address(UNFUNDED_KEY);
    w.import_keys(&[&k1, &k2]);
    w.import_orders(&[
        ("G", "ETH", a1, recipient(5), "1"),
        ("B1", "ETH", a2, recipient(6), "1"),
        ("B2", "ETH", a2, recipient(7), "1"),
    ]);
    let r = w.run(&[
        "batch",
        "create",
        "--chain",
        "local",
        "--all-pending",
        "--auto-build",
    ]);
    let id = r.stdout.trim().lines().last().unwrap().to_owned();
    assert_eq!(w.batch_state(&id), "BLOCKED");
    let errors = w.json(&["batch", "show", &id, "--state", "BUILD_ERROR"]);
    assert_eq!(errors["items"].as_array().unwrap().len(), 2, "{errors}");
    w.fails(&["batch", "show", &id, "--state", "BROKEN"], USAGE);
    let dropped = w.json(&["batch", "drop", &id, "--build-errors"]);
    assert_eq!(dropped["dropped"].as_array().unwrap().len(), 2, "{dropped}");
    assert_eq!(w.order_state("B1"), "PENDING");
    w.ok(&["batch", "build", &id]);
    assert_eq!(w.batch_state(&id), "READY_FOR_SIGNATURE");
}

fn key_and_address(hex_key: &str) -> (k256::ecdsa::SigningKey, Address) {
    let k = key(hex_key);
    let a = address_of(&k);
    (k, a)
}

/// `order plan` says what each sender lacks for its pending orders, before
/// a build finds out.
pub fn order_plan_names_what_each_sender_lacks(backend: Backend) {
    let w = World::new(backend, 1);
    let token = w.anvil.deploy_token();
    w.add_token(token);
    let (k1, a1) = dev(1);
    w.import_keys(&[&k1]);
    w.anvil.set_balance(a1, 3 * ETH);
    w.anvil.mint(token, a1, 2_000_000);
    w.import_orders(&[
        ("N-1", "ETH", a1, recipient(1), "2"),
        ("N-2", "ETH", a1, recipient(2), "2"),
        ("T-1", "TUSD", a1, recipient(3), "5"),
    ]);
    let plan = w.json(&["order", "plan", "--chain", "local"]);
    assert_eq!(plan["orders"], 3);
    let senders = plan["senders"].as_array().unwrap();
    let eth = senders.iter().find(|s| s["asset"] == "ETH").unwrap();
    let short: u128 = eth["short_base_units"].as_str().unwrap().parse().unwrap();
    assert!(
        short > ETH && short < 2 * ETH,
        "4 ETH and fees against 3 ETH: {eth}"
    );
    let tusd = senders.iter().find(|s| s["asset"] == "TUSD").unwrap();
    assert_eq!(tusd["short"], "3", "{tusd}");
    let human = w.ok(&["order", "plan", "--chain", "local"]);
    assert!(human.contains("fall short"), "{human}");
}
