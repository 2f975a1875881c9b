//! init, addresses, xpub, passwords and keystore damage.

use crate::util::*;
use coldsign_signer::keystore::KeystoreFile;
use std::os::unix::fs::PermissionsExt;

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

    let out = env.run(&["addresses", "--count", "3", "--json"]);
    assert_ok(&out);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["schema_version"], 1);
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
    }

    let out = env.run(&["addresses", "--start", "1", "--count", "2"]);
    assert_ok(&out);
    let lines: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 2);
    assert!(
        lines[0].starts_with("1\tm/44'/60'/0'/0/1\t0x70997970C51812dc3A010C7d01b50e0d17dc79C8\t0x")
    );
}

#[test]
fn addresses_in_bulk_and_limits() {
    let env = Env::new();
    env.init_dev();
    let out = env.run(&["addresses", "--count", "500"]);
    assert_ok(&out);
    assert_eq!(stdout(&out).lines().count(), 500);
    let out = env.run(&["addresses", "--count", "100001"]);
    assert_exit(&out, 2, "--count must be 1 to 100000");
}

#[test]
fn account_without_stored_xpub_needs_the_password() {
    let env = Env::new();
    env.init_dev();
    let out = env.run(&["addresses", "--account", "1", "--count", "1"]);
    assert_exit(&out, 2, "--password-file");
    let pw = env.password_file();
    let out = env.run(&[
        "addresses",
        "--account",
        "1",
        "--count",
        "1",
        "--password-file",
        pw.to_str().unwrap(),
    ]);
    assert_ok(&out);
    assert!(stdout(&out).starts_with("0\tm/44'/60'/1'/0/0\t0x"));
    let xpub0 = env.run(&["xpub"]);
    assert_ok(&xpub0);
    assert!(stdout(&xpub0).starts_with("xpub"));
    let wrong = env.write("wrong.txt", "not the password at all\n");
    let out = env.run(&[
        "xpub",
        "--account",
        "1",
        "--password-file",
        wrong.to_str().unwrap(),
    ]);
    assert_exit(&out, 3, "wrong password");
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

#[test]
fn generated_mnemonic_must_be_confirmed() {
    let env = Env::new();
    let pw = env.password_file();
    let out = env.run_with_stdin(
        &[
            "init",
            "--words",
            "12",
            "--password-file",
            pw.to_str().unwrap(),
        ],
        "wrong\nwrong\nwrong\n",
    );
    assert_exit(&out, 7, "not confirmed");
    assert!(stderr(&out).contains("Write these 12 words"));
    assert!(!env.keystore().exists());
}

#[test]
fn generated_mnemonic_confirmed_creates_the_keystore() {
    use std::io::{Read, Write};
    let env = Env::new();
    let pw = env.password_file();
    let mut child = env
        .cmd()
        .args([
            "init",
            "--words",
            "24",
            "--password-file",
            pw.to_str().unwrap(),
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = child.stderr.take().unwrap();
    let mut input = child.stdin.take().unwrap();
    let mut seen = String::new();
    let mut answered = 0;
    let mut buf = [0u8; 256];
    while answered < 3 {
        let n = err.read(&mut buf).unwrap();
        assert!(n > 0, "signer stopped early: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        // Answer each "word #N: " prompt once it appears.
        let prompts: Vec<usize> = seen
            .match_indices("word #")
            .filter_map(|(at, _)| {
                let rest = &seen[at + 6..];
                let end = rest.find(": ")?;
                rest[..end].parse().ok()
            })
            .collect();
        while answered < prompts.len() {
            let k = prompts[answered];
            let word = seen
                .lines()
                .find_map(|l| l.trim().strip_prefix(&format!("{k}. ")).map(str::to_owned))
                .unwrap();
            writeln!(input, "{word}").unwrap();
            answered += 1;
        }
    }
    drop(input);
    let out = child.wait_with_output().unwrap();
    assert_ok(&out);
    assert!(env.keystore().exists());
    assert!(stdout(&out).contains("first address: 0x"));
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
        ("first address", |k| {
            k.public.first_address = addr(DEV_ADDRESSES[1])
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
    edit_keystore(&env, |k| k.version = 2, true);
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
