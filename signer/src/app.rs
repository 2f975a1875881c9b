//! The commands: each reads its inputs, calls the library, and prints.
//! Results go to standard output; prompts and progress to standard error.

use crate::{
    audit::{AuditLog, Event, LoggedTotal},
    cli::{
        AddressesArgs, AuditCommand, ChangePasswordArgs, Cli, Command, InitArgs, InspectArgs,
        SignArgs, VerifyArgs, XpubArgs,
    },
    error::{Result, SignerError},
    fsutil::{self, Overwrite},
    hd::{AccountXpub, Root},
    keystore::{KdfParams, Keystore},
    policy::Policy,
    prompt,
    review::Review,
    secret::SeedMaterial,
    sign,
};
use coldsign_core::{
    batch::{signed_file_name_for, BatchFileKind, BatchFileName, SignedBatch, UnsignedBatch},
    keccak256, SignedTransaction,
};
use serde_json::json;
use std::{
    io::Write,
    path::{Path, PathBuf},
};
use zeroize::Zeroizing;

/// The most addresses one `addresses` call exports.
pub const MAX_ADDRESSES: u32 = 100_000;
/// The environment variable naming a policy file.
pub const POLICY_ENV: &str = "SIGNER_POLICY";
/// The policy file looked for beside the keystore.
pub const POLICY_FILE_NAME: &str = "policy.toml";

/// Runs one command.
pub fn run(cli: Cli) -> Result<()> {
    let keystore = keystore_path(cli.keystore)?;
    match cli.command {
        Command::Init(a) => init(&keystore, a),
        Command::Addresses(a) => addresses(&keystore, a),
        Command::Xpub(a) => xpub(&keystore, a),
        Command::Inspect(a) => inspect(&keystore, a),
        Command::Sign(a) => sign_cmd(&keystore, a),
        Command::Verify(a) => verify(a),
        Command::ChangePassword(a) => change_password(&keystore, a),
        Command::Info(a) => info(&keystore, a.json),
        Command::Audit(AuditCommand::Show(a)) => audit_show(&keystore, a.json),
        Command::Audit(AuditCommand::Verify(a)) => audit_verify(&keystore, &a.expect_head),
    }
}

/// The keystore location: the option (or `SIGNER_KEYSTORE`), else
/// `$XDG_DATA_HOME/coldsign/keystore.json`, else
/// `$HOME/.local/share/coldsign/keystore.json`.
pub fn keystore_path(given: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p);
    }
    let env_dir = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(xdg) = env_dir("XDG_DATA_HOME") {
        return Ok(xdg.join("coldsign").join("keystore.json"));
    }
    if let Some(home) = env_dir("HOME") {
        return Ok(home.join(".local/share/coldsign/keystore.json"));
    }
    Err(SignerError::Usage(
        "no keystore location: give --keystore or set SIGNER_KEYSTORE".into(),
    ))
}

fn envelope(data: serde_json::Value) -> String {
    json!({ "schema_version": 1, "success": true, "data": data }).to_string()
}

fn root_of(seed: &SeedMaterial) -> Result<Root> {
    let bytes = seed
        .to_seed()
        .map_err(|e| SignerError::Unexpected(e.to_string()))?;
    Root::from_seed(&bytes).map_err(|e| SignerError::Unexpected(e.to_string()))
}

// ---------------------------------------------------------------- init

fn init(path: &Path, a: InitArgs) -> Result<()> {
    if path.symlink_metadata().is_ok() {
        return Err(SignerError::OutputExists {
            path: path.to_owned(),
            hint: " (a keystore is never overwritten)",
        });
    }
    let mut kdf = KdfParams::for_new_keystore();
    if let Some(m) = a.kdf_memory_mib {
        if m < crate::keystore::MIN_MEMORY_KIB / 1024 {
            return Err(SignerError::Usage(format!(
                "--kdf-memory-mib {m} is below the minimum of {} MiB",
                crate::keystore::MIN_MEMORY_KIB / 1024
            )));
        }
        kdf.memory_kib = m.saturating_mul(1024);
    }
    if let Some(t) = a.kdf_iterations {
        kdf.iterations = t;
    }
    kdf.check().map_err(SignerError::Usage)?;
    let passphrase = match &a.bip39_passphrase_file {
        Some(f) => prompt::read_secret_line(f)?,
        None => Zeroizing::new(String::new()),
    };
    let seed = match &a.mnemonic_file {
        Some(f) => {
            let phrase =
                Zeroizing::new(std::fs::read_to_string(f).map_err(|e| {
                    SignerError::Usage(format!("cannot read {}: {e}", f.display()))
                })?);
            SeedMaterial::from_phrase(&phrase, passphrase)
                .map_err(|e| SignerError::bad_input(format!("mnemonic file {}", f.display()), e))?
        }
        None => {
            let fresh =
                SeedMaterial::generate(a.words).map_err(|e| SignerError::Usage(e.to_string()))?;
            show_and_confirm_backup(&fresh)?;
            if passphrase.is_empty() {
                fresh
            } else {
                let words = fresh
                    .expose_words()
                    .map_err(|e| SignerError::Unexpected(e.to_string()))?;
                SeedMaterial::from_phrase(&Zeroizing::new(words.join(" ")), passphrase)
                    .map_err(|e| SignerError::Unexpected(e.to_string()))?
            }
        }
    };
    let password = prompt::new_password(a.password_file.as_deref())?;
    eprintln!(
        "deriving the encryption key (Argon2id, {} KiB, {} passes)...",
        kdf.memory_kib, kdf.iterations
    );
    let ks = Keystore::create(path, &password, &seed, kdf, crate::audit::now_rfc3339())?;
    let log = AuditLog::beside(path);
    log.append(Event {
        event: "init".into(),
        result: "ok".into(),
        detail: Some(format!("fingerprint {}", ks.public().fingerprint)),
        ..Event::default()
    })?;
    println!("keystore:      {}", path.display());
    println!("fingerprint:   {}", ks.public().fingerprint);
    println!(
        "first address: {} (m/44'/60'/0'/0/0)",
        ks.public().first_address
    );
    Ok(())
}

fn show_and_confirm_backup(seed: &SeedMaterial) -> Result<()> {
    use rand_core::RngCore;
    let words = seed
        .expose_words()
        .map_err(|e| SignerError::Unexpected(e.to_string()))?;
    eprintln!();
    eprintln!(
        "Write these {} words on paper, in order. They are shown ONCE.",
        words.len()
    );
    eprintln!("Anyone who has them can spend every address of this wallet.");
    eprintln!();
    for (i, w) in words.iter().enumerate() {
        eprintln!("  {:>2}. {w}", i + 1);
    }
    eprintln!();
    let mut asked: Vec<usize> = Vec::new();
    while asked.len() < 3 {
        let i = usize::try_from(rand_core::OsRng.next_u32()).unwrap_or(0) % words.len();
        if !asked.contains(&i) {
            asked.push(i);
        }
    }
    asked.sort_unstable();
    eprintln!("To confirm your backup, type the requested words.");
    for i in asked {
        let answer = prompt::ask(&format!("word #{}: ", i + 1))?;
        if answer.as_deref().map(|a| a.as_str()) != Some(words[i].as_str()) {
            return Err(SignerError::Declined);
        }
    }
    // Clear the words from the screen's scrollback as far as we can.
    eprintln!("\x1b[2J\x1b[3J\x1b[H");
    Ok(())
}

// ---------------------------------------------------------------- addresses / xpub

fn account_xpub(path: &Path, account: u32, password_file: Option<&Path>) -> Result<AccountXpub> {
    let ks = Keystore::open(path)?;
    if let Some(x) = ks.stored_xpub(account)? {
        return Ok(x);
    }
    eprintln!("the keystore does not store account {account}'s xpub: unlocking to derive it");
    let password = prompt::password(password_file, "Password: ")?;
    let seed = ks.unlock(&password)?;
    root_of(&seed)?
        .account_xpub(account)
        .map_err(|e| SignerError::Unexpected(e.to_string()))
}

fn addresses(path: &Path, a: AddressesArgs) -> Result<()> {
    if a.count == 0 || a.count > MAX_ADDRESSES {
        return Err(SignerError::Usage(format!(
            "--count must be 1 to {MAX_ADDRESSES}"
        )));
    }
    if a.account > crate::hd::MAX_INDEX {
        return Err(SignerError::Usage("--account must be below 2^31".into()));
    }
    if a.start
        .checked_add(a.count - 1)
        .is_none_or(|last| last > crate::hd::MAX_INDEX)
    {
        return Err(SignerError::Usage(
            "--start + --count goes beyond index 2^31 - 1".into(),
        ));
    }
    let xpub = account_xpub(path, a.account, a.password_file.as_deref())?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    write_addresses(&mut out, &xpub, &a).and_then(|()| out.flush().map_err(write_error))
}

/// How many addresses are derived (in parallel) and formatted per step:
/// the output is streamed, so memory stays small for 100,000 addresses.
const ADDRESS_CHUNK: u32 = 4096;

fn write_error(e: std::io::Error) -> SignerError {
    SignerError::Io {
        context: "cannot write the addresses to standard output".into(),
        source: e,
    }
}

/// One exported address in the JSON output. The field order is the sorted
/// order `serde_json` gives a `json!` object, so the output is the same as
/// `envelope(json!({"account", "addresses", "xpub"}))`.
#[derive(serde::Serialize)]
struct AddressJson<'a> {
    address: &'a coldsign_core::Address,
    index: u32,
    path: &'a str,
    public_key: &'a str,
}

/// Writes `signer addresses`' output for `a` (the range is checked): the
/// JSON envelope (`--json`) or one tab-separated line per address. Addresses
/// are derived and formatted in parallel, a chunk at a time, and written in
/// index order.
fn write_addresses(
    out: &mut impl std::io::Write,
    xpub: &AccountXpub,
    a: &AddressesArgs,
) -> Result<()> {
    use rayon::prelude::*;
    let chain = xpub
        .external_chain(a.account)
        .map_err(|e| SignerError::Usage(e.to_string()))?;
    if a.json {
        // `{"data":{"account":A,"addresses":[...],"xpub":"..."},"schema_version":1,"success":true}`
        write!(out, r#"{{"data":{{"account":{},"addresses":["#, a.account).map_err(write_error)?;
    }
    let end = a.start + (a.count - 1);
    let mut first = a.start;
    loop {
        let last = end.min(first.saturating_add(ADDRESS_CHUNK - 1));
        let texts: Vec<String> = (first..=last)
            .into_par_iter()
            .map(|index| {
                let i = chain
                    .address(index)
                    .map_err(|e| SignerError::Usage(e.to_string()))?;
                if a.json {
                    let mut text = if index == a.start {
                        String::new()
                    } else {
                        ",".to_owned()
                    };
                    text.push_str(
                        &serde_json::to_string(&AddressJson {
                            address: &i.address,
                            index: i.index,
                            path: &i.path,
                            public_key: &i.public_key,
                        })
                        .map_err(|e| SignerError::Unexpected(e.to_string()))?,
                    );
                    Ok(text)
                } else {
                    Ok(format!(
                        "{}\t{}\t{}\t{}\n",
                        i.index, i.path, i.address, i.public_key
                    ))
                }
            })
            .collect::<Result<_>>()?;
        for t in &texts {
            out.write_all(t.as_bytes()).map_err(write_error)?;
        }
        if last == end {
            break;
        }
        first = last + 1;
    }
    if a.json {
        let xpub_text = serde_json::to_string(&xpub.to_xpub_string())
            .map_err(|e| SignerError::Unexpected(e.to_string()))?;
        writeln!(
            out,
            r#"],"xpub":{xpub_text}}},"schema_version":1,"success":true}}"#
        )
        .map_err(write_error)?;
    }
    Ok(())
}

fn xpub(path: &Path, a: XpubArgs) -> Result<()> {
    let x = account_xpub(path, a.account, a.password_file.as_deref())?;
    if a.json {
        println!(
            "{}",
            envelope(json!({
                "account": a.account,
                "path": format!("m/44'/60'/{}'", a.account),
                "xpub": x.to_xpub_string(),
            }))
        );
    } else {
        println!("{}", x.to_xpub_string());
    }
    Ok(())
}

fn info(path: &Path, as_json: bool) -> Result<()> {
    let ks = Keystore::open(path)?;
    let f = ks.file();
    if as_json {
        println!(
            "{}",
            envelope(json!({
                "keystore": path.display().to_string(),
                "version": f.version,
                "public": f.public,
                "kdf": { "algorithm": f.kdf.algorithm, "memory_kib": f.kdf.memory_kib,
                         "iterations": f.kdf.iterations, "parallelism": f.kdf.parallelism },
            }))
        );
    } else {
        println!("keystore:      {}", path.display());
        println!("version:       {}", f.version);
        println!("fingerprint:   {}", f.public.fingerprint);
        println!("first address: {}", f.public.first_address);
        println!("created at:    {}", f.public.created_at);
        println!(
            "kdf:           {} {} KiB, {} passes, {} lane(s)",
            f.kdf.algorithm, f.kdf.memory_kib, f.kdf.iterations, f.kdf.parallelism
        );
        for a in &f.public.accounts {
            println!("account {}:     {} {}", a.account, a.path, a.xpub);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- inspect / sign

fn resolve_policy(keystore: &Path, given: Option<&Path>) -> Result<Policy> {
    if let Some(p) = given {
        return Policy::load(p);
    }
    if let Some(p) = std::env::var_os(POLICY_ENV).filter(|v| !v.is_empty()) {
        return Policy::load(Path::new(&p));
    }
    let beside = AuditLog::beside(keystore)
        .path()
        .with_file_name(POLICY_FILE_NAME);
    if beside.is_file() {
        return Policy::load(&beside);
    }
    Ok(Policy::default())
}

fn read_unsigned(file: &Path) -> Result<UnsignedBatch> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| SignerError::Usage(format!("cannot read {}: {e}", file.display())))?;
    UnsignedBatch::parse(&text).map_err(|e| {
        SignerError::bad_input(
            format!(
                "unsigned batch {} refused; nothing was signed",
                file.display()
            ),
            e,
        )
    })
}

fn refused(file: &Path, e: sign::CheckError) -> SignerError {
    SignerError::bad_input(
        format!("batch {} refused; nothing was signed", file.display()),
        e,
    )
}

struct Prepared {
    review: Review,
    breaches: Vec<String>,
}

fn prepare(file: &Path, batch: &UnsignedBatch, policy: &Policy) -> Result<Prepared> {
    let checked = sign::check_batch(batch).map_err(|e| refused(file, e))?;
    let evaluation = policy.evaluate(&checked);
    let review = Review::new(&checked, policy, &evaluation).map_err(|e| refused_plain(file, e))?;
    let breaches = review.breaches.clone();
    Ok(Prepared { review, breaches })
}

fn refused_plain(file: &Path, e: impl std::error::Error + Send + Sync + 'static) -> SignerError {
    SignerError::bad_input(
        format!("batch {} refused; nothing was signed", file.display()),
        e,
    )
}

fn policy_error(breaches: &[String]) -> SignerError {
    let mut msg = format!("{} breach(es)", breaches.len());
    for b in breaches.iter().take(20) {
        msg.push_str("\n  - ");
        msg.push_str(b);
    }
    if breaches.len() > 20 {
        msg.push_str(&format!("\n  ... and {} more", breaches.len() - 20));
    }
    SignerError::Policy(msg)
}

fn inspect(keystore: &Path, a: InspectArgs) -> Result<()> {
    let batch = read_unsigned(&a.file)?;
    let policy = resolve_policy(keystore, a.policy.as_deref())?;
    let prepared = prepare(&a.file, &batch, &policy)?;
    if a.json {
        let v = serde_json::to_value(&prepared.review)
            .map_err(|e| SignerError::Unexpected(e.to_string()))?;
        println!("{}", envelope(v));
    } else {
        print!("{}", prepared.review.render());
    }
    if prepared.breaches.is_empty() {
        Ok(())
    } else {
        Err(policy_error(&prepared.breaches))
    }
}

fn batch_event(
    batch: &UnsignedBatch,
    review: Option<&Review>,
    result: &str,
    detail: String,
) -> Event {
    Event {
        event: "sign".into(),
        batch_id: Some(batch.batch_id()),
        chain_id: Some(batch.chain_id()),
        unsigned_digest: Some(batch.digest()),
        items: Some(batch.items().len()),
        totals: review.map(|r| {
            r.assets
                .iter()
                .map(|t| LoggedTotal {
                    asset: t.asset.clone(),
                    token: t.token.map(|a| a.to_string()),
                    amount: t.total.clone(),
                })
                .collect()
        }),
        result: result.into(),
        detail: Some(detail),
    }
}

fn default_output(input: &Path, batch: &UnsignedBatch) -> Result<PathBuf> {
    let name = signed_file_name_for(&batch.file_name())
        .map_err(|e| SignerError::bad_input("cannot name the signed file", e))?;
    let dir = match input.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    Ok(dir.join(name))
}

fn sign_cmd(keystore_path: &Path, a: SignArgs) -> Result<()> {
    let log = AuditLog::beside(keystore_path);
    let keystore = Keystore::open(keystore_path)?;
    log.read_verified()?;
    // The password's Argon2id derivation (256 MiB by default) runs before the
    // batch is loaded, so the two never occupy memory together; the derived
    // key opens the seed only after the checks, the policy and the review.
    let password = prompt::password(a.password_file.as_deref(), "Password: ")?;
    let unlock_key = keystore.derive_unlock_key(&password)?;
    drop(password);
    let batch = read_unsigned(&a.file)?;
    let out = match &a.out {
        Some(o) => o.clone(),
        None => default_output(&a.file, &batch)?,
    };
    let overwrite = if a.force {
        Overwrite::Replace
    } else {
        Overwrite::Refuse
    };
    const OUT_HINT: &str = " (use --force to replace it, or --out for another name)";
    if overwrite == Overwrite::Refuse && out.symlink_metadata().is_ok() {
        return Err(SignerError::OutputExists {
            path: out,
            hint: OUT_HINT,
        });
    }
    let policy = resolve_policy(keystore_path, a.policy.as_deref())?;
    // Every check that needs no key, on the whole batch.
    let checked = match sign::check_batch(&batch) {
        Ok(c) => c,
        Err(e) => {
            log.append(batch_event(&batch, None, "refused", e.to_string()))?;
            return Err(refused(&a.file, e));
        }
    };
    let evaluation = policy.evaluate(&checked);
    let review =
        Review::new(&checked, &policy, &evaluation).map_err(|e| refused_plain(&a.file, e))?;
    print!("{}", review.render());
    if !review.breaches.is_empty() {
        log.append(batch_event(
            &batch,
            Some(&review),
            "refused",
            format!("policy: {}", review.breaches.join("; ")),
        ))?;
        return Err(policy_error(&review.breaches));
    }
    // Unlock, derive each key once, and match every sender.
    let seed = match keystore.unlock_with(&unlock_key) {
        Ok(s) => s,
        Err(e) => {
            log.append(batch_event(&batch, Some(&review), "refused", e.to_string()))?;
            return Err(e);
        }
    };
    drop(unlock_key);
    let root = root_of(&seed)?;
    drop(seed);
    let ring = match sign::derive_and_match(&root, &checked) {
        Ok(r) => r,
        Err(e) => {
            log.append(batch_event(&batch, Some(&review), "refused", e.to_string()))?;
            return Err(refused(&a.file, e));
        }
    };
    drop(root);
    eprintln!(
        "all {} sender(s) derived from this keystore ({} distinct key(s)).",
        review.senders,
        ring.len()
    );
    if !a.yes {
        let answer = prompt::ask(&format!(
            "Type the batch id ({}) to sign these {} transaction(s), anything else to cancel: ",
            batch.batch_id(),
            batch.items().len()
        ))?;
        let expected = batch.batch_id().to_string();
        if answer.as_deref().map(|s| s.as_str()) != Some(expected.as_str()) {
            log.append(batch_event(
                &batch,
                Some(&review),
                "declined",
                "operator did not confirm".into(),
            ))?;
            return Err(SignerError::Declined);
        }
    }
    let signed = match sign::sign_all(&checked, &ring) {
        Ok(s) => s,
        Err(e) => {
            log.append(batch_event(&batch, Some(&review), "failed", e.to_string()))?;
            return Err(refused(&a.file, e));
        }
    };
    drop(ring);
    // Only the signed batch is needed from here: free the unsigned one
    // before writing, and stream the file rather than building its text.
    let event = batch_event(
        &batch,
        Some(&review),
        "signed",
        format!("wrote {}", out.display()),
    );
    drop(checked);
    drop(batch);
    fsutil::write_atomic_with(&out, 0o644, overwrite, OUT_HINT, |w| {
        write_signed(w, &signed)
    })?;
    let head = log.append(event)?;
    println!();
    println!(
        "signed {} transaction(s): {}",
        signed.items.len(),
        out.display()
    );
    println!("audit log entry {}: head {}", head.entries, head.head);
    Ok(())
}

/// Writes the signed file's text: the same bytes as [`SignedBatch::to_json`]
/// (pretty-printed JSON and a newline), without holding them in memory.
pub fn write_signed(w: &mut dyn Write, signed: &SignedBatch) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *w, signed)?;
    w.write_all(b"\n")
}

// ---------------------------------------------------------------- verify

fn sibling_unsigned(signed: &Path) -> Option<PathBuf> {
    let name = signed.file_name()?.to_str()?;
    let parsed: BatchFileName = name.parse().ok()?;
    if parsed.kind != BatchFileKind::Signed {
        return None;
    }
    let unsigned = BatchFileName {
        kind: BatchFileKind::Unsigned,
        ..parsed
    };
    let p = signed.with_file_name(unsigned.to_string());
    p.is_file().then_some(p)
}

fn verify(a: VerifyArgs) -> Result<()> {
    let text = std::fs::read_to_string(&a.signed)
        .map_err(|e| SignerError::Usage(format!("cannot read {}: {e}", a.signed.display())))?;
    let signed = SignedBatch::parse(&text).map_err(|e| {
        SignerError::bad_input(format!("signed batch {} is invalid", a.signed.display()), e)
    })?;
    let unsigned_path = a.unsigned.clone().or_else(|| sibling_unsigned(&a.signed));
    if let Some(up) = unsigned_path {
        let unsigned = read_unsigned(&up)?;
        let items = signed.verify_against(&unsigned).map_err(|e| {
            SignerError::bad_input(
                format!(
                    "{} does not verify against {}",
                    a.signed.display(),
                    up.display()
                ),
                e,
            )
        })?;
        println!(
            "OK: {} item(s) of batch {} (chain {}) verified against {} (digest {})",
            items.len(),
            unsigned.batch_id(),
            unsigned.chain_id(),
            up.display(),
            unsigned.digest()
        );
        return Ok(());
    }
    let mut failures = Vec::new();
    for (i, item) in signed.items.iter().enumerate() {
        let check = || -> std::result::Result<String, String> {
            if keccak256(&item.raw_transaction) != item.tx_hash {
                return Err("tx_hash is not the hash of the raw transaction".into());
            }
            let tx = SignedTransaction::decode_for_chain(&item.raw_transaction, signed.chain_id)
                .map_err(|e| e.to_string())?;
            let from = tx.recover_sender().map_err(|e| e.to_string())?;
            Ok(format!(
                "{i}\t{}\t{}\tfrom {from}\tnonce {}",
                item.order_id,
                item.tx_hash,
                tx.transaction().nonce()
            ))
        };
        match check() {
            Ok(line) => println!("{line}"),
            Err(e) => failures.push(format!("item {i} (order {:?}): {e}", item.order_id)),
        }
    }
    if !failures.is_empty() {
        return Err(SignerError::bad_input_msg(format!(
            "{} of {} item(s) failed: {}",
            failures.len(),
            signed.items.len(),
            failures.join("; ")
        )));
    }
    println!(
        "OK: {} item(s) decode and carry valid signatures (NOT checked against the unsigned batch: give --unsigned for that)",
        signed.items.len()
    );
    Ok(())
}

// ---------------------------------------------------------------- password / audit

fn change_password(path: &Path, a: ChangePasswordArgs) -> Result<()> {
    let mut ks = Keystore::open(path)?;
    let log = AuditLog::beside(path);
    log.read_verified()?;
    let old = prompt::password(a.password_file.as_deref(), "Current password: ")?;
    let new = prompt::new_password(a.new_password_file.as_deref())?;
    ks.change_password(&old, &new)?;
    log.append(Event {
        event: "change-password".into(),
        result: "ok".into(),
        ..Event::default()
    })?;
    println!("password changed: {}", path.display());
    Ok(())
}

fn audit_show(keystore: &Path, as_json: bool) -> Result<()> {
    let log = AuditLog::beside(keystore);
    let (entries, verified) = log.read_verified()?;
    if as_json {
        println!(
            "{}",
            envelope(
                json!({ "entries": entries, "head": verified.head, "count": verified.entries })
            )
        );
        return Ok(());
    }
    for e in &entries {
        let batch = e
            .batch_id
            .map(|b| format!(" batch {b}"))
            .unwrap_or_default();
        let items = e.items.map(|n| format!(" items {n}")).unwrap_or_default();
        let totals = e
            .totals
            .as_ref()
            .map(|t| {
                let parts: Vec<String> = t
                    .iter()
                    .map(|t| format!("{} {}", t.amount, t.asset))
                    .collect();
                format!(" totals [{}]", parts.join(", "))
            })
            .unwrap_or_default();
        let detail = e
            .detail
            .as_deref()
            .map(|d| format!(" - {d}"))
            .unwrap_or_default();
        println!(
            "{:>5} {} {}{batch}{items}{totals} {}{detail}",
            e.seq, e.time, e.event, e.result
        );
    }
    println!(
        "{} entr(ies), chain intact, head {}",
        verified.entries, verified.head
    );
    Ok(())
}

fn audit_verify(keystore: &Path, expect: &[String]) -> Result<()> {
    let log = AuditLog::beside(keystore);
    let (entries, v) = log.read_verified()?;
    for hash in expect {
        let wanted = coldsign_core::B256::from_hex(hash)
            .map_err(|e| SignerError::Usage(format!("--expect-head {hash}: {e}")))?;
        if !entries.iter().any(|e| e.hash == wanted) {
            return Err(SignerError::Audit {
                path: log.path().to_owned(),
                reason: format!(
                    "no entry has the recorded head {wanted}: entries were removed from the end, or the log was replaced"
                ),
            });
        }
    }
    println!(
        "audit log {}: OK, {} entr(ies), head {}",
        log.path().display(),
        v.entries,
        v.head
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// PUBLIC, INSECURE development mnemonic (Hardhat / anvil); never fund it.
    const DEV_MNEMONIC: &str = "test test test test test test test test test test test junk";

    fn args(start: u32, count: u32, json: bool) -> AddressesArgs {
        AddressesArgs {
            start,
            count,
            account: 0,
            json,
            password_file: None,
        }
    }

    #[test]
    fn streamed_signed_file_equals_to_json() {
        use coldsign_core::{
            batch::{Summary, UnsignedItemDraft},
            Transaction, TxEip1559, U256,
        };
        let seed = SeedMaterial::from_phrase(DEV_MNEMONIC, Default::default()).unwrap();
        let root = root_of(&seed).unwrap();
        let senders = root.account_xpub(0).unwrap().addresses(0, 0, 2).unwrap();
        let drafts = (0..4u64)
            .map(|i| {
                let sender = &senders[(i % 2) as usize];
                let recipient = senders[((i + 1) % 2) as usize].address;
                let wei = U256::from(1_000_000_000u64) * U256::from(i + 1);
                UnsignedItemDraft {
                    order_id: format!("o-{i}"),
                    from: sender.address,
                    derivation_path: sender.path.clone(),
                    tx: Transaction::Eip1559(TxEip1559 {
                        chain_id: 1,
                        nonce: i / 2,
                        max_priority_fee_per_gas: U256::from(1u64),
                        max_fee_per_gas: U256::from(2u64),
                        gas_limit: 21_000,
                        to: Some(recipient),
                        value: wei,
                        input: Vec::new(),
                        access_list: Vec::new(),
                    }),
                    summary: Summary {
                        asset: "ETH".into(),
                        decimals: 18,
                        token: None,
                        recipient,
                        amount: coldsign_core::amount::format_units(wei, 18).unwrap(),
                    },
                    kind: coldsign_core::batch::ItemKind::Payment,
                }
            })
            .collect();
        let batch = UnsignedBatch::new(7, 1, "2026-11-21T06:00:00Z", drafts).unwrap();
        let signed = sign::sign_batch(&root, &batch).unwrap();
        let mut streamed = Vec::new();
        write_signed(&mut streamed, &signed).unwrap();
        assert_eq!(String::from_utf8(streamed).unwrap(), signed.to_json());
    }

    #[test]
    fn streamed_addresses_equal_the_envelope() {
        let seed = SeedMaterial::from_phrase(DEV_MNEMONIC, Default::default()).unwrap();
        let xpub = root_of(&seed).unwrap().account_xpub(0).unwrap();
        // Crosses a chunk boundary.
        let (start, count) = (ADDRESS_CHUNK - 2, 5);
        let list = xpub.addresses(0, start, count).unwrap();

        let mut json_out = Vec::new();
        write_addresses(&mut json_out, &xpub, &args(start, count, true)).unwrap();
        let want = envelope(json!({
            "account": 0,
            "xpub": xpub.to_xpub_string(),
            "addresses": list,
        })) + "\n";
        assert_eq!(String::from_utf8(json_out).unwrap(), want);

        let mut text_out = Vec::new();
        write_addresses(&mut text_out, &xpub, &args(start, count, false)).unwrap();
        let want: String = list
            .iter()
            .map(|i| format!("{}\t{}\t{}\t{}\n", i.index, i.path, i.address, i.public_key))
            .collect();
        assert_eq!(String::from_utf8(text_out).unwrap(), want);
    }
}
