//! The operator's order commands: CSV import (quoting, BOM, duplicates, JSON
//! or Latin-1 given by mistake), refused recipients, holding orders, and the
//! filters of `order list`. Each scenario runs once per backend.

use crate::harness::{dev, recipient, Anvil, Backend, World};
use coldsign_core::Address;
use serde_json::Value;

/// Exit codes (docs/hub.md).
const USAGE: i32 = 2;
const INPUT: i32 = 3;
const NOT_FOUND: i32 = 4;
const CONFLICT: i32 = 5;

/// The header every order file starts with.
const HEADER: &str = "order_id,chain,asset,from,to,amount";

/// Writes `bytes` as `name` in the world's directory; returns the path.
fn write(w: &World, name: &str, bytes: &[u8]) -> String {
    let path = w.dir.path().join(name);
    std::fs::write(&path, bytes).expect("write");
    path.to_str().expect("path").to_owned()
}

/// Imports `text` as an order file that must be refused with exit 3; returns
/// stderr.
fn refused(w: &World, text: &[u8]) -> String {
    let path = write(w, "refused.csv", text);
    w.fails(&["order", "import", &path], INPUT).stderr
}

/// The order ids `order list` shows with these extra arguments.
fn listed(w: &World, args: &[&str]) -> Vec<String> {
    let mut a = vec!["order", "list"];
    a.extend_from_slice(args);
    w.json(&a)
        .as_array()
        .expect("list")
        .iter()
        .map(|o| o["order_id"].as_str().expect("id").to_owned())
        .collect()
}

/// A world with dev accounts 1 and 2 registered as cold addresses.
fn world(backend: Backend) -> (World, Address, Address) {
    let w = World::new(backend, 1);
    let (k1, a1) = dev(1);
    let (k2, a2) = dev(2);
    w.import_keys(&[&k1, &k2]);
    (w, a1, a2)
}

pub fn quoted_fields_bom_and_spaces_are_read(backend: Backend) {
    let (w, a1, _) = world(backend);
    let r = recipient(1);
    // What a spreadsheet writes: a BOM, every field quoted, CRLF, and a
    // blank line at the end; then a hand-edited line with spaces around the
    // cells, one of them quoted after the space.
    let text = format!(
        "\u{feff}\"order_id\",\"chain\",\"asset\",\"from\",\"to\",\"amount\"\r\n\
         \"q-1\",\"local\",\"ETH\",\"{a1}\",\"{r}\",\"1.5\"\r\n\
         \x20q-2 , \"local\" ,ETH, {a1} ,{r}, 0.25 \r\n\r\n"
    );
    let path = write(&w, "quoted.csv", text.as_bytes());
    let out = w.ok(&["order", "import", &path]);
    assert!(out.contains("2 order(s) imported"), "{out}");
    let list = w.json(&["order", "list"]);
    assert_eq!(list[0]["order_id"], "q-1");
    assert_eq!(list[0]["chain"], "local");
    assert_eq!(list[0]["amount_base_units"], "1500000000000000000");
    assert_eq!(list[1]["order_id"], "q-2");
    assert_eq!(list[1]["amount"], "0.25");
}

pub fn a_thousands_separator_is_refused_with_its_line(backend: Backend) {
    let (w, a1, _) = world(backend);
    let r = recipient(1);
    let text = format!(
        "{HEADER}\nt-1,local,ETH,{a1},{r},1\n\"t-2\",\"local\",\"ETH\",\"{a1}\",\"{r}\",\"1,000\"\n"
    );
    let err = refused(&w, text.as_bytes());
    assert!(err.contains("line 3:"), "{err}");
    assert!(err.contains("\"1,000\""), "{err}");
    assert!(err.contains("thousands"), "{err}");
    assert!(!err.contains("line 2:"), "{err}");
    assert!(listed(&w, &[]).is_empty(), "nothing may be imported");
}

pub fn a_duplicate_order_id_names_both_lines(backend: Backend) {
    let (w, a1, a2) = world(backend);
    let r = recipient(1);
    // Even the very same line twice: a file with one payment written twice
    // is a mistake of whoever made it.
    let text = format!(
        "{HEADER}\nd-1,local,ETH,{a1},{r},1\nd-2,local,ETH,{a2},{r},2\nd-1,local,ETH,{a1},{r},1\n"
    );
    let err = refused(&w, text.as_bytes());
    assert!(
        err.contains("line 4: order id \"d-1\" is also on line 2"),
        "{err}"
    );
    assert!(listed(&w, &[]).is_empty(), "nothing may be imported");
}

pub fn a_json_file_is_named_json_and_not_echoed(backend: Backend) {
    let (w, _, _) = world(backend);
    for text in [
        "{\"orders\":[{\"order_id\":\"SECRET-CONTENT\"}]}\n",
        "\u{feff}  [ {\"order_id\": \"SECRET-CONTENT\"} ]",
    ] {
        let err = refused(&w, text.as_bytes());
        assert!(err.contains("this looks like JSON, not CSV"), "{err}");
        assert!(err.contains(HEADER), "it says what is expected: {err}");
        assert!(!err.contains("SECRET-CONTENT"), "the file is echoed: {err}");
    }
    assert!(listed(&w, &[]).is_empty());
}

pub fn a_latin1_file_names_the_line_to_fix(backend: Backend) {
    let (w, a1, _) = world(backend);
    let r = recipient(1);
    let mut bytes = format!("{HEADER}\nl-1,local,ETH,{a1},{r},1\n").into_bytes();
    // "Café" in Latin-1 (0xE9), as an old spreadsheet saves it.
    bytes.extend_from_slice(b"l-caf\xe9,local,ETH,");
    bytes.extend_from_slice(format!("{a1},{r},1\n").as_bytes());
    let err = refused(&w, &bytes);
    assert!(err.contains("line 3"), "{err}");
    assert!(err.contains("0xE9"), "{err}");
    assert!(err.contains("save it as UTF-8"), "{err}");
    assert!(!err.contains("line 2"), "{err}");
    assert!(listed(&w, &[]).is_empty());
}

pub fn every_bad_line_is_reported_and_nothing_imported(backend: Backend) {
    let (w, a1, _) = world(backend);
    let r = recipient(1);
    // An empty line counts, as in a text editor.
    let text = format!(
        "{HEADER}\n\
         b-1,local,ETH,{a1},{r},1\n\
         b-2,local,ETH,{a1},{r}\n\
         \r\n\
         b-3,nowhere,ETH,{a1},{r},1\n\
         b-4,local,ETH,{a1},{r},1.5.0\n\
         b-5,local,ETH,{a1},{r},2\n"
    );
    let err = refused(&w, text.as_bytes());
    assert!(err.contains("3 line(s) refused, nothing imported"), "{err}");
    assert!(err.contains("line 3: expected 6 columns, found 5"), "{err}");
    assert!(err.contains("line 5: no chain named \"nowhere\""), "{err}");
    assert!(err.contains("line 6: amount \"1.5.0\""), "{err}");
    assert!(
        !err.contains("line 2:") && !err.contains("line 7:"),
        "{err}"
    );
    // A wrong header is named as such, with what it should be.
    let err = refused(
        &w,
        format!("id,chain,asset,from,to,amount\nb-1,local,ETH,{a1},{r},1\n").as_bytes(),
    );
    assert!(err.contains("line 1"), "{err}");
    assert!(err.contains(HEADER), "{err}");
    assert!(listed(&w, &[]).is_empty());
}

pub fn obviously_wrong_recipients_are_refused(backend: Backend) {
    let (w, a1, a2) = world(backend);
    let token = w.anvil.deploy_token();
    w.add_token(token);
    let zero = Address([0; 20]);
    let good = recipient(9);
    let text = format!(
        "{HEADER}\n\
         r-1,local,ETH,{a1},{zero},1\n\
         r-2,local,TUSD,{a1},{token},1\n\
         r-3,local,ETH,{a1},{token},1\n\
         r-4,local,ETH,{a1},{a2},1\n\
         r-5,local,ETH,{a1},{a1},1\n\
         r-6,local,ETH,{a1},{good},1\n"
    );
    let err = refused(&w, text.as_bytes());
    assert!(err.contains("5 line(s) refused"), "{err}");
    assert!(
        err.contains("line 2: the recipient is the zero address"),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "line 3: the recipient {token} is the contract of token TUSD"
        )),
        "{err}"
    );
    // Any token's contract on the chain, whatever the order pays.
    assert!(
        err.contains(&format!(
            "line 4: the recipient {token} is the contract of token TUSD"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "line 5: the recipient {a2} is a cold address of this hub"
        )),
        "{err}"
    );
    assert!(
        err.contains("line 6: the recipient is the sender itself"),
        "{err}"
    );
    assert!(!err.contains("line 7"), "{err}");
    assert!(listed(&w, &[]).is_empty());

    // `order add` refuses the same, and adds nothing.
    let (from, token_s) = (a1.to_string(), token.to_string());
    for (to, why) in [
        (zero.to_string(), "zero address"),
        (token_s, "contract of token TUSD"),
        (a2.to_string(), "cold address of this hub"),
        (from.clone(), "sender itself"),
    ] {
        let args = [
            "order", "add", "--id", "r-x", "--chain", "local", "--asset", "ETH", "--from", &from,
            "--to", &to, "--amount", "1",
        ];
        let err = w.fails(&args, INPUT).stderr;
        assert!(err.contains(why), "{to}: {err}");
    }
    assert!(listed(&w, &[]).is_empty());
    let args = [
        "order",
        "add",
        "--id",
        "r-x",
        "--chain",
        "local",
        "--asset",
        "ETH",
        "--from",
        &from,
        "--to",
        &good.to_string(),
        "--amount",
        "1",
    ];
    w.ok(&args);
    assert_eq!(listed(&w, &[]), ["r-x"]);
}

/// The JSON of `order show ID`.
fn show(w: &World, id: &str) -> Value {
    w.json(&["order", "show", id])
}

pub fn a_held_order_stays_out_of_batches_until_released(backend: Backend) {
    let (w, a1, a2) = world(backend);
    w.import_orders(&[
        ("h-1", "ETH", a1, recipient(1), "1"),
        ("h-2", "ETH", a2, recipient(2), "2"),
        ("h-3", "ETH", a2, recipient(3), "3"),
    ]);
    let out = w.ok(&["order", "hold", "h-2", "--reason", "customer asked to wait"]);
    assert!(out.contains("order h-2 held"), "{out}");
    // Holding twice is harmless.
    let out = w.ok(&["order", "hold", "h-2"]);
    assert!(out.contains("already held"), "{out}");

    // Shown as held, by list (table and JSON) and by show.
    let table = w.ok(&["order", "list"]);
    let line = table
        .lines()
        .find(|l| l.starts_with("h-2"))
        .expect("h-2 listed");
    assert!(line.contains("PENDING (held)"), "{table}");
    assert!(!table
        .lines()
        .any(|l| l.starts_with("h-1") && l.contains("held")));
    let list = w.json(&["order", "list"]);
    assert_eq!(list[1]["held"], true);
    assert!(list[1]["held_at"].is_string(), "{list}");
    assert_eq!(list[0]["held"], false);
    assert_eq!(listed(&w, &["--state", "HELD"]), ["h-2"]);
    assert_eq!(listed(&w, &["--state", "PENDING"]), ["h-1", "h-2", "h-3"]);
    let human = w.ok(&["order", "show", "h-2"]);
    assert!(human.contains("PENDING (held since"), "{human}");
    let s = show(&w, "h-2");
    assert_eq!(s["state"], "PENDING");
    assert_eq!(s["held"], true);
    let events = s["events"].as_array().expect("events");
    let held = events
        .iter()
        .find(|e| e["reason"] == "held")
        .expect("held event");
    assert_eq!(held["message"], "customer asked to wait");
    assert_eq!(held["operator"], "test");

    // Named explicitly, it is refused, saying how to release it; nothing is
    // created.
    let r = w.fails(
        &["batch", "create", "--chain", "local", "--orders", "h-1,h-2"],
        CONFLICT,
    );
    assert!(r.stderr.contains("order h-2 is held"), "{}", r.stderr);
    assert!(
        r.stderr.contains("hub-cli order release h-2"),
        "{}",
        r.stderr
    );
    assert!(w
        .json(&["batch", "list"])
        .as_array()
        .expect("list")
        .is_empty());

    // --all-pending leaves it out.
    let id = w
        .ok(&["batch", "create", "--chain", "local", "--all-pending"])
        .trim()
        .to_owned();
    let items: Vec<String> = w.json(&["batch", "show", &id])["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["order_id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(items, ["h-1", "h-3"]);
    assert_eq!(w.order_state("h-2"), "PENDING");

    // Only a PENDING order can be held.
    let r = w.fails(&["order", "hold", "h-1"], CONFLICT);
    assert!(r.stderr.contains("order h-1 is IN_BATCH"), "{}", r.stderr);
    assert!(r.stderr.contains("only a PENDING order"), "{}", r.stderr);
    w.fails(&["order", "hold", "nope"], NOT_FOUND);

    // Released, it goes in the next batch like any other.
    let out = w.ok(&["order", "release", "h-2"]);
    assert!(out.contains("order h-2 released"), "{out}");
    let out = w.ok(&["order", "release", "h-2"]);
    assert!(out.contains("not held"), "{out}");
    let s = show(&w, "h-2");
    assert_eq!(s["held"], false);
    assert!(s["events"]
        .as_array()
        .expect("events")
        .iter()
        .any(|e| e["reason"] == "released"));
    assert!(listed(&w, &["--state", "HELD"]).is_empty());
    w.ok(&["batch", "cancel", &id]);
    let id = w
        .ok(&["batch", "create", "--chain", "local", "--orders", "h-2"])
        .trim()
        .to_owned();
    assert_eq!(w.item_state(&id, "h-2"), "SELECTED");
}

pub fn a_cancelled_order_cannot_be_held(backend: Backend) {
    let (w, a1, _) = world(backend);
    w.import_orders(&[
        ("c-1", "ETH", a1, recipient(1), "1"),
        ("c-2", "ETH", a1, recipient(2), "1"),
    ]);
    // Cancelling a held order lifts the hold: the cancel wins.
    w.ok(&["order", "hold", "c-2"]);
    w.ok(&["order", "cancel", "c-2"]);
    assert_eq!(show(&w, "c-2")["held"], false);
    w.ok(&["order", "cancel", "c-1"]);
    let r = w.fails(&["order", "hold", "c-1"], CONFLICT);
    assert!(r.stderr.contains("order c-1 is FAILED"), "{}", r.stderr);
}

pub fn holding_a_bound_order_says_which_nonces_it_blocks(backend: Backend) {
    let (w, a1, _) = world(backend);
    w.import_orders(&[("n-1", "ETH", a1, recipient(1), "1")]);
    let id = w.create_batch();
    w.export(&id);
    // The file left the hub: cancelling the batch leaves n-1 bound to its
    // nonce, and holding it then blocks a1's later nonces.
    w.ok(&["batch", "cancel", &id]);
    let out = w.ok(&["order", "hold", "n-1"]);
    assert!(out.contains(&format!("bound to nonce 0 of {a1}")), "{out}");
    assert!(out.contains("hub-cli order cancel n-1"), "{out}");
    let data = w.json(&["order", "release", "n-1"]);
    assert_eq!(data["changed"], true);
    // An order that never left the hub is held without such a note.
    w.import_orders(&[("n-2", "ETH", a1, recipient(2), "1")]);
    let out = w.ok(&["order", "hold", "n-2"]);
    assert!(!out.contains("bound"), "{out}");
}

pub fn list_filters_combine(backend: Backend) {
    let (w, a1, a2) = world(backend);
    // A second chain on a second node.
    let other = Anvil::start_with(&["--chain-id", "1337"]);
    w.ok(&[
        "chain",
        "add",
        "other",
        "--chain-id",
        "1337",
        "--rpc",
        &other.url,
    ]);
    let addresses = w.dir.path().join("addresses.json");
    w.ok(&[
        "address",
        "import",
        addresses.to_str().expect("path"),
        "--chain",
        "other",
    ]);
    w.import_orders(&[
        ("f-1", "ETH", a1, recipient(1), "1"),
        ("f-2", "ETH", a2, recipient(2), "2"),
    ]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let text = format!(
        "{HEADER}\nf-3,other,ETH,{a1},{},3\nf-4,local,ETH,{a1},{},4\n",
        recipient(3),
        recipient(4)
    );
    let path = write(&w, "later.csv", text.as_bytes());
    w.ok(&["order", "import", &path]);
    let id = w
        .ok(&["batch", "create", "--chain", "local", "--orders", "f-2"])
        .trim()
        .to_owned();

    assert_eq!(listed(&w, &[]), ["f-1", "f-2", "f-3", "f-4"]);
    assert_eq!(listed(&w, &["--chain", "other"]), ["f-3"]);
    assert_eq!(listed(&w, &["--chain", "local"]), ["f-1", "f-2", "f-4"]);
    assert_eq!(listed(&w, &["--state", "IN_BATCH"]), ["f-2"]);
    assert_eq!(listed(&w, &["--state", "pending"]), ["f-1", "f-3", "f-4"]);
    assert_eq!(listed(&w, &["--batch", &id]), ["f-2"]);
    assert_eq!(
        listed(&w, &["--state", "PENDING", "--chain", "local"]),
        ["f-1", "f-4"]
    );
    assert!(listed(&w, &["--state", "PENDING", "--batch", &id]).is_empty());

    // --since: exact to the sub-second, whatever way the time is written.
    let list = w.json(&["order", "list"]);
    let created = |n: usize| {
        list[n]["created_at"]
            .as_str()
            .expect("created_at")
            .to_owned()
    };
    let third = created(2);
    assert_eq!(listed(&w, &["--since", &third]), ["f-3", "f-4"]);
    assert_eq!(listed(&w, &["--since", &created(0)]).len(), 4);
    // The same second without its fraction: still after it.
    let whole_second = format!("{}Z", &third[..19]);
    assert_eq!(listed(&w, &["--since", &whole_second]), ["f-3", "f-4"]);
    // The same instant written in another zone, two hours off UTC (on the
    // same date, whatever the hour).
    let hour: u32 = third[11..13].parse().expect("hour");
    let (local, zone) = if hour >= 2 {
        (hour - 2, "-02:00")
    } else {
        (hour + 2, "+02:00")
    };
    let shifted = format!(
        "{}{local:02}{}{zone}",
        &third[..11],
        &third[13..third.len() - 1]
    );
    assert_eq!(listed(&w, &["--since", &shifted]), ["f-3", "f-4"]);
    // A date alone is its midnight UTC.
    assert_eq!(listed(&w, &["--since", &third[..10]]).len(), 4);
    assert_eq!(listed(&w, &["--since", "2000-01-01T00:00:00Z"]).len(), 4);
    assert!(listed(&w, &["--since", "2999-01-01T00:00:00Z"]).is_empty());
    assert_eq!(
        listed(
            &w,
            &["--since", &third, "--chain", "local", "--state", "PENDING"]
        ),
        ["f-4"]
    );

    // Bad filters are named, with what would be right.
    let r = w.fails(&["order", "list", "--state", "DONE"], USAGE);
    assert!(
        r.stderr
            .contains("PENDING, HELD, IN_BATCH, COMPLETED, FAILED"),
        "{}",
        r.stderr
    );
    let r = w.fails(&["order", "list", "--since", "yesterday"], USAGE);
    assert!(r.stderr.contains("RFC 3339"), "{}", r.stderr);
    assert!(r.stderr.contains("2026-01-31T00:00:00Z"), "{}", r.stderr);
    w.fails(&["order", "list", "--since", "2026-02-30T00:00:00Z"], USAGE);
    w.fails(&["order", "list", "--chain", "nowhere"], NOT_FOUND);
    w.fails(&["order", "list", "--batch", "999"], NOT_FOUND);

    // Each row shows its own chain and its asset's decimals.
    let token = w.anvil.deploy_token();
    w.add_token(token);
    w.ok(&[
        "order",
        "add",
        "--id",
        "f-5",
        "--chain",
        "local",
        "--asset",
        "TUSD",
        "--from",
        &a1.to_string(),
        "--to",
        &recipient(5).to_string(),
        "--amount",
        "2.5",
    ]);
    let list = w.json(&["order", "list"]);
    assert_eq!(list[2]["chain"], "other");
    assert_eq!(list[4]["amount"], "2.5");
    assert_eq!(list[4]["amount_base_units"], "2500000");
    let table = w.ok(&["order", "list", "--chain", "local"]);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("f-5") && l.contains("2.5")),
        "{table}"
    );
}
