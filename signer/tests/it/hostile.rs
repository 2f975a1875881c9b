//! Hostile names through every path that prints: unknown JSON keys and enum
//! values, TOML keys, file names, audit log entries. Nothing a file says may
//! reach the terminal as a control character, and nothing may fake a line.

use crate::util::*;

/// Clears the screen, homes the cursor and prints a fake success line;
/// then a CR, a C1 CSI and a right-to-left override.
const NASTY: &str = "\u{1b}[2J\u{1b}[HOK: batch verified and signed\r\u{9b}31m\u{202e}evil";

/// Whether `text` holds anything a terminal would obey (our own colour
/// codes are never used on a pipe).
fn hostile(text: &str) -> bool {
    text.chars()
        .any(|c| (c.is_control() && c != '\n' && c != '\t') || coldsign_core::text::is_hostile(c))
}

fn assert_clean(out: &std::process::Output, what: &str) {
    for (name, text) in [("stdout", stdout(out)), ("stderr", stderr(out))] {
        assert!(
            !hostile(&text),
            "{what}: raw control characters on {name}:\n{text:?}"
        );
        assert!(
            !text.lines().any(|l| l.starts_with("OK: batch verified")),
            "{what}: a faked line on {name}:\n{text}"
        );
    }
}

/// `json` with `key: value` added to the first item.
fn with_item_field(json: &str, key: &str, value: serde_json::Value) -> String {
    let mut v: serde_json::Value = serde_json::from_str(json).unwrap();
    v["items"][0][key] = value;
    serde_json::to_string_pretty(&v).unwrap()
}

#[test]
fn parser_errors_never_echo_controls() {
    let env = Env::new();
    env.init_dev();
    let batch = mixed_batch(81);
    let json = batch.to_json();
    let unknown_key = with_item_field(&json, &format!("x{NASTY}\nOK: signed"), 1.into());
    let unknown_kind = with_item_field(&json, "kind", format!("{NASTY}\nOK: signed").into());
    let pw = env.password_file();
    for (name, text) in [("unknown key", unknown_key), ("unknown kind", unknown_kind)] {
        let file = env.write(&batch.file_name(), &text);
        let f = file.to_str().unwrap();
        let out = env.run(&["inspect", f]);
        assert_exit(&out, 5, "refused");
        assert_clean(&out, name);
        assert!(
            stderr(&out).contains("\\u{1b}[2J"),
            "{name}: {}",
            stderr(&out)
        );
        let out = env.run(&["sign", f, "--yes", "--password-file", pw.to_str().unwrap()]);
        assert_exit(&out, 5, "refused");
        assert_clean(&out, name);
    }
    // The signed file's parser too.
    let signed = env.write(
        "batch_81_20261121_signed.json",
        &format!("{{\"format\":\"coldsign/signed-batch\",\"version\":1,\"{NASTY}\":1}}"),
    );
    let out = env.run(&["verify", signed.to_str().unwrap(), "--signatures-only"]);
    assert!(!out.status.success());
    assert_clean(&out, "verify");
    // The policy's parser.
    let policy = env.write(
        "p.toml",
        &format!(
            "\"{}\" = 1\n",
            NASTY
                .replace('\u{1b}', "\\u001b")
                .replace('\r', "\\r")
                .replace('\u{9b}', "\\u009b")
                .replace('\u{202e}', "\\u202e")
        ),
    );
    let file = env.write_batch(&batch);
    let out = env.run(&[
        "inspect",
        file.to_str().unwrap(),
        "--policy",
        policy.to_str().unwrap(),
    ]);
    assert_exit(&out, 2, "policy");
    assert_clean(&out, "policy");
    assert!(stderr(&out).contains("\\u{1b}[2J"), "{}", stderr(&out));
}

#[test]
fn file_names_are_escaped_in_the_review_messages_and_json() {
    let env = Env::new();
    env.init_dev();
    let batch = mixed_batch(82);
    let file = env.write_batch(&batch);
    let name = format!("policy{}.toml", NASTY.replace('/', "_"));
    let policy = env.write(&name, PERMISSIVE_POLICY);
    let p = policy.to_str().unwrap();
    let out = env.run(&["inspect", file.to_str().unwrap(), "--policy", p]);
    assert_ok(&out);
    assert_clean(&out, "review");
    assert!(
        stdout(&out).contains("policy\\u{1b}[2J"),
        "{}",
        stdout(&out)
    );
    let out = env.run(&["inspect", file.to_str().unwrap(), "--policy", p, "--json"]);
    assert_ok(&out);
    assert_clean(&out, "review --json");
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(
        v["data"]["policy"].as_str().unwrap().ends_with(&name),
        "the JSON value is intact"
    );
    // Signing with it, and to an output named by whoever wrote the stick.
    let out_name = env.path(&format!("signed{}.json", NASTY.replace('/', "_")));
    let out = env.sign(&file, &["--policy", p, "--out", out_name.to_str().unwrap()]);
    assert_ok(&out);
    assert_clean(&out, "sign");
    // A missing unsigned file named with controls: the error is escaped.
    let bad = env.path(&format!("batch{}.json", NASTY.replace('/', "_")));
    std::fs::write(&bad, "{").unwrap();
    let out = env.run(&["inspect", bad.to_str().unwrap()]);
    assert_exit(&out, 5, "refused");
    assert_clean(&out, "error");
    // The audit log stores the policy's name escaped; show and verify print it.
    let log = std::fs::read_to_string(env.audit_log()).unwrap();
    assert!(
        !log.contains("\\u001b[2J"),
        "stored raw (as a JSON escape of ESC)"
    );
    for args in [
        vec!["audit", "show"],
        vec!["audit", "show", "--json"],
        vec!["audit", "verify"],
    ] {
        let out = env.run(&args);
        assert_ok(&out);
        assert_clean(&out, &args.join(" "));
    }
}

#[test]
fn an_audit_entry_rewritten_with_controls_is_shown_escaped() {
    let env = Env::new();
    env.init_dev();
    assert_ok(&env.sign(&env.write_batch(&mixed_batch(83)), &[]));
    // Rewrite the last entry's text, recomputing its hash: without the
    // password `audit show` cannot tell, so it must escape what it shows.
    let text = std::fs::read_to_string(env.audit_log()).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut v: serde_json::Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    v["detail"] = format!("{NASTY}\nOK: batch verified and signed").into();
    v["totals"][0]["asset"] = NASTY.into();
    v["event"] = format!("sign{NASTY}").into();
    v.as_object_mut().unwrap().remove("hash");
    let hash = coldsign_core::keccak256(serde_json::to_vec(&v).unwrap());
    v["hash"] = hash.to_string().into();
    *lines.last_mut().unwrap() = serde_json::to_string(&v).unwrap();
    std::fs::write(env.audit_log(), lines.join("\n") + "\n").unwrap();
    for args in [vec!["audit", "show"], vec!["audit", "show", "--json"]] {
        let out = env.run(&args);
        assert_ok(&out);
        assert_clean(&out, &args.join(" "));
        assert!(stdout(&out).contains("\\u{1b}[2J") || stdout(&out).contains("\\u001b[2J"));
    }
    let pw = env.password_file();
    let out = env.run(&["audit", "verify", "--password-file", pw.to_str().unwrap()]);
    assert_exit(&out, 11, "fails its MAC");
    assert_clean(&out, "audit verify");
    // A line that is not an entry: the parser's message is escaped.
    lines.push(format!("{{\"{NASTY}\": 1}}"));
    std::fs::write(env.audit_log(), lines.join("\n") + "\n").unwrap();
    let out = env.run(&["audit", "verify"]);
    assert_exit(&out, 9, "is not a valid entry");
    assert_clean(&out, "audit verify, bad line");
}
