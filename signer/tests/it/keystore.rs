//! init, addresses, xpub, passwords and keystore damage.

use crate::util::*;
use coldsign_signer::keystore::KeystoreFile;
use std::os::unix::fs::PermissionsExt;

/// The proof of an exported entry, checked as the hub checks it.
fn check_proof(fingerprint: &str, entry: &serde_json::Value) {
    use coldsign_core::address_proof::{AddressProof, WalletFingerprint};
    let fp: WalletFingerprint = fingerprint.parse().unwrap();
    let proof: AddressProof = entry["proof"].as_str().unwrap().parse().unwrap();
    let address: coldsign_core::Address = entry["address"].as_str().unwrap().parse().unwrap();
    proof
        .verify(&fp, entry["path"].as_str().unwrap(), &address)
        .unwrap();
}

#[test]
fn init_from_mnemonic_file_gives_the_well_known_dev_addresses() {
    let env = Env::new();
    let out = env.init_dev();
    assert!(stdout(&out).contains(DEV_ADDRESSES[0]), "{}", stdout(&out));
    assert!(stdout(&out).contains("fingerprint:"));
    let mode = std::fs::metadata(env.keystore())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let text = std::fs::read_to_string(env.keystore()).unwrap();
    assert!(!text.contains("junk") && !text.contains(PASSWORD));
    let ks: KeystoreFile = serde_json::from_str(&text).unwrap();
    assert_eq!(ks.version, 2);

    let out = env.run_pw(&["addresses", "--count", "3", "--json"]);
    assert_ok(&out);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["data"]["fingerprint"], ks.public.fingerprint);
    let list = v["data"]["addresses"].as_array().unwrap();
    assert_eq!(list.len(), 3);
    for (i, entry) in list.iter().enumerate() {
        assert_eq!(entry["index"], i);
        assert_eq!(entry["path"], format!("m/44'/60'/0'/0/{i}"));
        assert_eq!(entry["address"], DEV_ADDRESSES[i]);
        let pk = hex::decode(&entry["public_key"].as_str().unwrap()[2..]).unwrap();
        assert_eq!(pk.len(), 33);
        let from_pk = coldsign_core::Address::from_sec1_public_key(&pk).unwrap();
        assert_eq!(from_pk.to_checksum(), DEV_ADDRESSES[i]);
        check_proof(&ks.public.fingerprint, entry);
    }

    let out = env.run_pw(&["addresses", "--start", "1", "--count", "2"]);
    assert_ok(&out);
    let lines: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 2);
    assert!(
        lines[0].starts_with("1\tm/44'/60'/0'/0/1\t0x70997970C51812dc3A010C7d01b50e0d17dc79C8\t0x")
    );
    assert_eq!(lines[0].split('\t').nth(4).unwrap().len(), 132);
}

#[test]
fn addresses_in_bulk_and_limits() {
    let env = Env::new();
    env.init_dev();
    let out = env.run_pw(&["addresses", "--count", "500", "--json"]);
    assert_ok(&out);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let fp = v["data"]["fingerprint"].as_str().unwrap().to_owned();
    let list = v["data"]["addresses"].as_array().unwrap();
    assert_eq!(list.len(), 500);
    for entry in list {
        check_proof(&fp, entry);
    }
    let out = env.run_pw(&["addresses", "--count", "100001"]);
    assert_exit(&out, 2, "--count must be 1 to 100000");
}

#[test]
fn address_export_needs_the_password() {
    let env = Env::new();
    env.init_dev();
    for args in [
        &["addresses", "--count", "1"][..],
        &["addresses", "--account", "1", "--count", "1"],
        &["xpub"],
        &["info"],
    ] {
        // No terminal for the prompt here, and no file: refused.
        let out = env.run(args);
        assert_exit(&out, 2, "--password-file");
        assert!(stdout(&out).is_empty(), "{args:?}: {}", stdout(&out));
    }
    let out = env.run_pw(&["addresses", "--account", "1", "--count", "1"]);
    assert_ok(&out);
    assert!(stdout(&out).starts_with("0\tm/44'/60'/1'/0/0\t0x"));
    let xpub0 = env.run_pw(&["xpub"]);
    assert_ok(&xpub0);
    assert!(stdout(&xpub0).starts_with("xpub"));
    let info = env.run_pw(&["info"]);
    assert_ok(&info);
    assert!(
        stdout(&info).contains("are the seed's"),
        "{}",
        stdout(&info)
    );
    let wrong = env.write("wrong.txt", "not the password at all\n");
    for args in [&["xpub", "--account", "1"][..], &["addresses"], &["info"]] {
        let mut all = args.to_vec();
        all.extend(["--password-file", wrong.to_str().unwrap()]);
        let out = env.run(&all);
        assert_exit(&out, 3, "wrong password");
        assert!(stdout(&out).is_empty());
    }
}

/// Item 1 of issue 10: a public section edited with its checksum
/// recomputed gave an attacker's addresses with exit 0, and `sign` said
/// "wrong password". Now every command that shows or uses it refuses it,
/// naming the edit.
#[test]
fn an_edited_public_section_is_refused_by_every_command_that_reads_it() {
    // An attacker's own wallet: its fingerprint, first address and xpub.
    let theirs = theirs_public();
    type Edit = Box<dyn Fn(&mut KeystoreFile)>;
    let (t1, t2, t3) = (theirs.clone(), theirs.clone(), theirs);
    let edits: [(&str, Edit); 4] = [
        (
            "first address",
            Box::new(move |k| k.public.first_address = t1.first_address),
        ),
        (
            "fingerprint",
            Box::new(move |k| k.public.fingerprint = t2.fingerprint.clone()),
        ),
        (
            "xpub",
            Box::new(move |k| k.public.accounts[0].xpub = t3.accounts[0].xpub.clone()),
        ),
        ("everything", Box::new(|k| k.public = theirs_public())),
    ];
    for (what, edit) in edits {
        let env = Env::new();
        env.init_dev();
        edit_keystore(&env, |k| edit(k), true);
        for args in [
            &["addresses", "--count", "2", "--json"][..],
            &["xpub"],
            &["info"],
        ] {
            let out = env.run_pw(args);
            assert_exit(&out, 4, "public section does not match the encrypted seed");
            assert!(stdout(&out).is_empty(), "{what} {args:?}: {}", stdout(&out));
            assert!(!stderr(&out).contains("wrong password"), "{what}");
        }
        let out = sign_small(&env);
        assert_exit(&out, 4, "public section does not match the encrypted seed");
        assert!(!env.path("batch_1_20261121_signed.json").exists());
    }
}

fn theirs_public() -> coldsign_signer::keystore::PublicInfo {
    let attacker = Env::new();
    let m = attacker.write(
        "m.txt",
        "legal winner thank year wave sausage worth useful legal winner thank yellow\n",
    );
    assert_ok(&attacker.init_from(&m, &attacker.password_file()));
    let k: KeystoreFile =
        serde_json::from_str(&std::fs::read_to_string(attacker.keystore()).unwrap()).unwrap();
    k.public
}

#[test]
fn init_refuses_to_overwrite_an_existing_keystore() {
    let env = Env::new();
    env.init_dev();
    let before = std::fs::read(env.keystore()).unwrap();
    let m = env.path("mnemonic.txt");
    let pw = env.password_file();
    let out = env.init_from(&m, &pw);
    assert_exit(&out, 8, "already exists");
    assert_eq!(std::fs::read(env.keystore()).unwrap(), before);
}

#[test]
fn init_refuses_bad_mnemonics_and_short_passwords() {
    let env = Env::new();
    let bad = env.write(
        "bad.txt",
        "test test test test test test test test test test test test\n",
    );
    let pw = env.password_file();
    let out = env.init_from(&bad, &pw);
    assert_exit(&out, 5, "mnemonic");
    let good = env.write("m.txt", DEV_MNEMONIC);
    let short = env.write("short.txt", "short\n");
    let out = env.init_from(&good, &short);
    assert_exit(&out, 2, "at least 12 characters");
    let out = env.run(&[
        "init",
        "--mnemonic-file",
        good.to_str().unwrap(),
        "--password-file",
        pw.to_str().unwrap(),
        "--kdf-memory-mib",
        "32",
    ]);
    assert_exit(&out, 2, "below the minimum of 64 MiB");
    assert!(!env.keystore().exists());
}

/// The words a backup display printed, numbered from 1.
fn shown_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if let Some((n, w)) = t.split_once(". ") {
            if n.parse::<usize>() == Ok(words.len() + 1) && !w.contains(' ') {
                words.push(w.to_owned());
            }
        }
    }
    words
}

/// The word numbers a prompt asks for, in order (`word #N: `).
fn asked(text: &str) -> Vec<usize> {
    text.match_indices("word #")
        .filter_map(|(at, _)| {
            let rest = &text[at + 6..];
            rest[..rest.find(": ")?].parse().ok()
        })
        .collect()
}

#[test]
fn generated_words_are_never_printed_off_a_terminal() {
    let env = Env::new();
    let pw = env.password_file();
    // No terminal (standard input from /dev/null, standard error a pipe):
    // refused before anything is made.
    let out = env.run(&[
        "init",
        "--words",
        "12",
        "--password-file",
        pw.to_str().unwrap(),
    ]);
    assert_exit(&out, 2, "only on a terminal");
    assert!(stderr(&out).contains("--unsafe-print-mnemonic-to-stdout"));
    assert!(shown_words(&stderr(&out)).is_empty() && stdout(&out).is_empty());
    assert!(!env.keystore().exists() && !env.audit_log().exists());
}

#[test]
fn the_unsafe_flag_prints_the_words_on_stdout_and_still_checks_them() {
    use std::io::{Read, Write};
    let env = Env::new();
    let pw = env.password_file();
    let mut child = env
        .cmd()
        .args([
            "init",
            "--words",
            "15",
            "--password-file",
            pw.to_str().unwrap(),
            "--unsafe-print-mnemonic-to-stdout",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let mut input = child.stdin.take().unwrap();
    // The words come first on stdout; read them, then answer on stdin.
    let mut printed = String::new();
    let mut buf = [0u8; 1024];
    while shown_words(&printed).len() < 15 {
        let n = out.read(&mut buf).unwrap();
        assert!(n > 0, "signer stopped early: {printed}");
        printed.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let words = shown_words(&printed);
    writeln!(input).unwrap(); // written down
    let mut prompts = String::new();
    let mut answered = 0;
    let mut wrong_once = false;
    while answered < 4 {
        let n = err.read(&mut buf).unwrap();
        assert!(n > 0, "signer stopped early: {prompts}");
        prompts.push_str(&String::from_utf8_lossy(&buf[..n]));
        let asked = asked(&prompts);
        let mut k = answered + usize::from(wrong_once);
        while k < asked.len() {
            let word = &words[asked[k] - 1];
            if !wrong_once {
                // One typo first: asked again, with the same words.
                writeln!(input, "{word}x").unwrap();
                wrong_once = true;
            } else {
                // Any case, extra whitespace.
                writeln!(input, "  {} ", word.to_uppercase()).unwrap();
                answered += 1;
            }
            k += 1;
        }
    }
    drop(input);
    let mut rest = String::new();
    err.read_to_string(&mut rest).unwrap();
    out.read_to_string(&mut printed).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{prompts}{rest}");
    assert!(prompts.contains("That is not word #"), "{prompts}");
    assert!(
        shown_words(&prompts).is_empty(),
        "words on stderr: {prompts}"
    );
    assert!(printed.contains("first address: 0x"));
    // The words shown are the keystore's: the same first address.
    let check = Env::new();
    let m = check.write("m.txt", &words.join(" "));
    let again = check.init_from(&m, &check.password_file());
    assert_ok(&again);
    let first = |t: &str| {
        t.lines()
            .find(|l| l.starts_with("first address:"))
            .unwrap()
            .to_owned()
    };
    assert_eq!(first(&printed), first(&stdout(&again)));
}

/// The terminal flow as an operator sees it, on a pseudo-terminal: the
/// password first (a short one and a mismatch asked again), then the words,
/// Enter, the screen cleared, and 4 words typed back (a typo asked again).
#[test]
fn init_on_a_terminal_asks_the_password_first_and_clears_before_the_check() {
    let env = Env::new();
    let mut t = env.pty(&["init", "--words", "12"]);
    t.expect("New administrator password (at least 12 characters): ");
    t.send("short");
    t.expect("at least 12 characters; try again (2 of 3).");
    t.expect("New administrator password");
    t.send(PASSWORD);
    t.expect("Repeat the password: ");
    t.send("correct horse battery stapler");
    t.expect("the two passwords differ; try again (3 of 3).");
    t.expect("New administrator password");
    t.send(PASSWORD);
    t.expect("Repeat the password: ");
    t.send(PASSWORD);
    let shown = t.expect("Press Enter once they are written down");
    let words = shown_words(&shown);
    assert_eq!(words.len(), 12, "{shown}");
    t.send("");
    let cleared = t.expect("\x1b[2J\x1b[3J\x1b[H");
    assert!(
        !cleared.contains("word #"),
        "asked before the clear: {cleared}"
    );
    let mut answered = Vec::new();
    let mut typo_done = false;
    while answered.len() < 4 {
        let prompt = t.expect(": ");
        let n = asked(&prompt);
        let Some(&k) = n.last() else { continue };
        assert!(!shown_words(&prompt).iter().any(|w| words.contains(w)));
        if !typo_done {
            t.send("notaword");
            t.expect("That is not word #");
            typo_done = true;
            continue;
        }
        t.send(&format!(" {} ", words[k - 1].to_uppercase()));
        answered.push(k);
    }
    t.expect("Backup confirmed.");
    let (code, seen) = t.finish();
    assert_eq!(code, 0, "{seen}");
    assert!(answered.windows(2).all(|w| w[0] < w[1]), "{answered:?}");
    assert!(env.keystore().exists(), "{seen}");
    // The password typed is the keystore's.
    assert_ok(&env.run_pw(&["info"]));
}

#[test]
fn init_on_a_terminal_fails_after_three_wrong_tries_with_an_init_message() {
    let env = Env::new();
    let pw = env.password_file();
    let mut t = env.pty(&[
        "init",
        "--words",
        "24",
        "--password-file",
        pw.to_str().unwrap(),
    ]);
    let shown = t.expect("Press Enter once they are written down");
    assert_eq!(shown_words(&shown).len(), 24, "{shown}");
    t.send("");
    for _ in 0..3 {
        t.expect("word #");
        t.expect(": ");
        t.send("wrong");
    }
    let (code, seen) = t.finish();
    assert_eq!(code, 7, "{seen}");
    assert!(seen.contains("typed wrong 3 times"), "{seen}");
    assert!(seen.contains("No keystore was written"), "{seen}");
    assert!(!seen.contains("nothing was signed"), "{seen}");
    assert!(!env.keystore().exists() && !env.audit_log().exists());
}

#[test]
fn init_refuses_a_ledger_beside_a_generated_wallet_before_showing_words() {
    let env = Env::new();
    env.init_dev();
    std::fs::remove_file(env.keystore()).unwrap();
    let pw = env.password_file();
    let t = env.pty(&[
        "init",
        "--words",
        "12",
        "--password-file",
        pw.to_str().unwrap(),
    ]);
    let (code, seen) = t.finish();
    assert_eq!(code, 11, "{seen}");
    assert!(seen.contains("never takes over a ledger"), "{seen}");
    assert!(shown_words(&seen).is_empty(), "{seen}");
    assert!(!env.keystore().exists());
}

#[test]
fn mnemonic_files_of_every_length_any_case_and_a_bad_word_named() {
    let env = Env::new();
    let pw = env.password_file();
    // 18 words, shouted, spread over lines: BIP39 test vector (trezor).
    let m = env.write(
        "m.txt",
        "GRAVITY machine north sort system female\n  filter attitude volume fold club stay\n\tfeature office ecology stable narrow FOG\n",
    );
    assert_ok(&env.init_from(&m, &pw));
    let env = Env::new();
    let typo = env.write(
        "typo.txt",
        "test test test test tset test test test test test test junk\n",
    );
    let out = env.init_from(&typo, &pw);
    assert_exit(
        &out,
        5,
        "word 5 (\"tset\") is not in the BIP39 English word list",
    );
    assert!(!env.keystore().exists());
    let short = env.write(
        "short.txt",
        "test test test test test test test test test test test\n",
    );
    assert_exit(&env.init_from(&short, &pw), 5, "12, 15, 18, 21 or 24");
}

fn edit_keystore(env: &Env, f: impl FnOnce(&mut KeystoreFile), recompute: bool) {
    let text = std::fs::read_to_string(env.keystore()).unwrap();
    let mut ks: KeystoreFile = serde_json::from_str(&text).unwrap();
    f(&mut ks);
    if recompute {
        ks.recompute_checksum_unchecked();
    }
    std::fs::write(env.keystore(), serde_json::to_string_pretty(&ks).unwrap()).unwrap();
}

fn sign_small(env: &Env) -> std::process::Output {
    let file = env.write_batch(&batch_of(1, &[native(0, 0, 1)]));
    env.sign(&file, &[])
}

#[test]
fn wrong_password_is_refused_with_its_own_exit_code() {
    let env = Env::new();
    env.init_dev();
    let file = env.write_batch(&batch_of(1, &[native(0, 0, 1)]));
    let wrong = env.write("wrong.txt", "correct horse battery stapler\n");
    let out = env.run(&[
        "sign",
        file.to_str().unwrap(),
        "--yes",
        "--password-file",
        wrong.to_str().unwrap(),
    ]);
    assert_exit(&out, 3, "wrong password");
    assert!(!env.path("batch_1_20261121_signed.json").exists());
}

#[test]
fn damaged_keystore_is_told_apart_from_a_wrong_password() {
    let env = Env::new();
    env.init_dev();
    edit_keystore(&env, |k| k.kdf.salt.replace_range(0..2, "00"), false);
    assert_exit(&sign_small(&env), 4, "damaged");
}

#[test]
fn edited_parameters_fail_decryption_even_with_a_fixed_checksum() {
    type Edit = fn(&mut KeystoreFile);
    let edits: [(&str, Edit); 5] = [
        ("salt", |k| k.kdf.salt = "11".repeat(32)),
        ("memory", |k| k.kdf.memory_kib += 8),
        ("iterations", |k| k.kdf.iterations += 1),
        ("nonce", |k| k.cipher.nonce = "22".repeat(12)),
        ("ledger head", |k| {
            if let Some(h) = k.ledger_head.as_mut() {
                h.seq += 1;
            }
        }),
    ];
    for (what, edit) in edits {
        let env = Env::new();
        env.init_dev();
        edit_keystore(&env, edit, true);
        let out = sign_small(&env);
        assert_exit(&out, 3, "could not be decrypted");
        let _ = what;
    }
}

#[test]
fn unsupported_version_and_weak_parameters_are_refused() {
    let env = Env::new();
    env.init_dev();
    edit_keystore(&env, |k| k.version = 3, true);
    assert_exit(&env.run(&["xpub"]), 4, "unsupported keystore version");

    let env = Env::new();
    env.init_dev();
    // Made with the test-only tiny KDF: a normal run refuses it.
    let out = env
        .cmd()
        .env_remove("SIGNER_INSECURE_KDF_FOR_TESTS")
        .arg("xpub")
        .output()
        .unwrap();
    assert_exit(&out, 4, "below the minimum of 64 MiB");

    let env = Env::new();
    assert_exit(&env.run(&["xpub"]), 4, "signer init");
}

#[test]
fn change_password_re_encrypts() {
    let env = Env::new();
    env.init_dev();
    let before: KeystoreFile =
        serde_json::from_str(&std::fs::read_to_string(env.keystore()).unwrap()).unwrap();
    let pw = env.password_file();
    let new = env.write("new.txt", "a much better passphrase\n");
    let out = env.run(&[
        "change-password",
        "--password-file",
        pw.to_str().unwrap(),
        "--new-password-file",
        new.to_str().unwrap(),
    ]);
    assert_ok(&out);
    let after: KeystoreFile =
        serde_json::from_str(&std::fs::read_to_string(env.keystore()).unwrap()).unwrap();
    assert_ne!(before.kdf.salt, after.kdf.salt);
    assert_ne!(before.ciphertext, after.ciphertext);
    assert_eq!(before.public, after.public);
    let mode = std::fs::metadata(env.keystore())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    assert_exit(&sign_small(&env), 3, "wrong password");
    let file = env.path("batch_1_20261121_unsigned.json");
    let out = env.run(&[
        "sign",
        file.to_str().unwrap(),
        "--yes",
        "--password-file",
        new.to_str().unwrap(),
    ]);
    assert_ok(&out);
}

/// Item 9 of issue 10: with the test-only switch set, `change-password`
/// re-encrypted a real keystore with the test KDF. It now never lowers the
/// cost, and uses test parameters only for a keystore that has them.
#[test]
fn change_password_never_lowers_the_kdf_cost() {
    let env = Env::new();
    let m = env.write("m.txt", DEV_MNEMONIC);
    let pw = env.password_file();
    let out = env.run(&[
        "init",
        "--mnemonic-file",
        m.to_str().unwrap(),
        "--password-file",
        pw.to_str().unwrap(),
        "--kdf-memory-mib",
        "64",
        "--kdf-iterations",
        "1",
    ]);
    assert_ok(&out);
    let new = env.write("new.txt", "a much better passphrase\n");
    let change = |from: &std::path::Path, to: &std::path::Path| {
        env.run(&[
            "change-password",
            "--password-file",
            from.to_str().unwrap(),
            "--new-password-file",
            to.to_str().unwrap(),
        ])
    };
    let out = change(&pw, &new);
    assert_ok(&out);
    assert!(
        stdout(&out).contains("65536 KiB, 1 passes"),
        "{}",
        stdout(&out)
    );
    let after: KeystoreFile =
        serde_json::from_str(&std::fs::read_to_string(env.keystore()).unwrap()).unwrap();
    assert_eq!((after.kdf.memory_kib, after.kdf.iterations), (64 * 1024, 1));
    // A keystore with test parameters keeps them (only under the switch).
    let test = Env::new();
    test.init_dev();
    let new = test.write("new.txt", "a much better passphrase\n");
    let pw = test.password_file();
    let out = test.run(&[
        "change-password",
        "--password-file",
        pw.to_str().unwrap(),
        "--new-password-file",
        new.to_str().unwrap(),
    ]);
    assert_ok(&out);
    let after: KeystoreFile =
        serde_json::from_str(&std::fs::read_to_string(test.keystore()).unwrap()).unwrap();
    assert_eq!((after.kdf.memory_kib, after.kdf.iterations), (256, 1));
    // A wrong current password is refused before a new one is read.
    let missing = test.path("no-such-file.txt");
    let out = test.run(&[
        "change-password",
        "--password-file",
        pw.to_str().unwrap(),
        "--new-password-file",
        missing.to_str().unwrap(),
    ]);
    assert_exit(&out, 3, "wrong password");
}

#[test]
fn keystore_location_option_env_and_default() {
    let env = Env::new();
    let m = env.write("m.txt", DEV_MNEMONIC);
    let pw = env.password_file();
    // --keystore wins over SIGNER_KEYSTORE.
    let custom = env.path("custom/k.json");
    let out = env.run(&[
        "--keystore",
        custom.to_str().unwrap(),
        "init",
        "--mnemonic-file",
        m.to_str().unwrap(),
        "--password-file",
        pw.to_str().unwrap(),
    ]);
    assert_ok(&out);
    assert!(custom.exists() && env.path("custom/audit.jsonl").exists());
    assert!(!env.keystore().exists());
    // Without either: $HOME/.local/share/coldsign/keystore.json.
    let out = env
        .cmd()
        .env_remove("SIGNER_KEYSTORE")
        .arg("info")
        .output()
        .unwrap();
    assert_exit(&out, 4, ".local/share/coldsign/keystore.json");
    let out = env
        .cmd()
        .env_remove("SIGNER_KEYSTORE")
        .args([
            "init",
            "--mnemonic-file",
            m.to_str().unwrap(),
            "--password-file",
            pw.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_ok(&out);
    assert!(env.path(".local/share/coldsign/keystore.json").exists());
}
