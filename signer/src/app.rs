//! The commands: each reads its inputs, calls the library, and prints.
//! Results go to standard output; prompts and progress to standard error.

use crate::{
    audit::{AuditLog, Event, LoggedTotal, MacKey, Scan, NO_POLICY},
    cli::{
        AddressesArgs, AuditCommand, AuditVerifyArgs, ChangePasswordArgs, Cli, Command, InfoArgs,
        InitArgs, InspectArgs, SignArgs, VerifyArgs, XpubArgs,
    },
    error::{Result, SignerError},
    fsutil::{self, Overwrite},
    hd::{AccountNode, AccountXpub, ProvenAddress, Root},
    keystore::{KdfParams, Keystore},
    ledger::{self, Ledger, LedgerReport, Recording},
    policy::Policy,
    prompt,
    review::Review,
    secret::SeedMaterial,
    sign, term,
};
use coldsign_core::{
    address_proof::{AddressProof, WalletFingerprint},
    batch::{
        signed_file_name_for, BatchFileKind, BatchFileName, LedgerHead, SignedBatch, UnsignedBatch,
    },
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

/// Runs one command. A command that touches secrets first turns core dumps
/// off and locks memory ([`crate::hygiene::harden`]).
pub fn run(cli: Cli) -> Result<()> {
    if cli.command.touches_secrets() {
        let hardened = crate::hygiene::harden()?;
        if let Some(why) = hardened.not_locked_because {
            term::errln(&format!(
                "signer: note: memory is not locked ({why}); secrets could reach swap: run the signer without swap or with encrypted swap"
            ));
        }
    }
    let keystore = keystore_path(cli.keystore)?;
    match cli.command {
        Command::Init(a) => init(&keystore, a),
        Command::Addresses(a) => addresses(&keystore, a),
        Command::Xpub(a) => xpub(&keystore, a),
        Command::Inspect(a) => inspect(&keystore, a),
        Command::Sign(a) => sign_cmd(&keystore, a),
        Command::Verify(a) => verify(a),
        Command::ChangePassword(a) => change_password(&keystore, a),
        Command::Info(a) => info(&keystore, a),
        Command::Audit(AuditCommand::Show(a)) => audit_show(&keystore, a.json),
        Command::Audit(AuditCommand::Verify(a)) => audit_verify(&keystore, &a),
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
    let log = AuditLog::beside(path);
    let (seed, password) = match &a.mnemonic_file {
        Some(f) => {
            // The file first (nothing typed in vain if it is wrong), then
            // the password.
            let phrase = fsutil::read_secret_text(f, "mnemonic file")?;
            let seed = SeedMaterial::from_phrase(&phrase, passphrase).map_err(|e| {
                SignerError::bad_input(
                    format!(
                        "mnemonic file {} refused; nothing was written",
                        term::path(f)
                    ),
                    e,
                )
            })?;
            drop(phrase);
            let password = prompt::new_password(a.password_file.as_deref())?;
            (seed, password)
        }
        None => {
            // Everything that can refuse comes before the words are shown,
            // so a refusal never costs a backup the operator already wrote.
            refuse_ledger_for_a_new_wallet(&log)?;
            let mode = backup_display(a.unsafe_print_mnemonic_to_stdout)?;
            let password = prompt::new_password(a.password_file.as_deref())?;
            let fresh =
                SeedMaterial::generate(a.words).map_err(|e| SignerError::Usage(e.to_string()))?;
            show_and_confirm_backup(&fresh, mode)?;
            let seed = if passphrase.is_empty() {
                fresh
            } else {
                fresh.with_passphrase(&passphrase)
            };
            (seed, password)
        }
    };
    let (root, mac_key) = open_seed(&seed)?;
    let fingerprint = root.fingerprint();
    drop(root);
    // The ledger beside the keystore is kept, never restarted: re-creating
    // the keystore from the same words continues it; another wallet's
    // ledger must be moved away first.
    let (kept, scan) = adopt_existing_log(&log, &mac_key, &fingerprint)?;
    eprintln!(
        "deriving the encryption key (Argon2id, {} KiB, {} passes)...",
        kdf.memory_kib, kdf.iterations
    );
    let detail = match &kept {
        None => format!("fingerprint {fingerprint}"),
        Some(l) => format!(
            "fingerprint {fingerprint}; keystore re-created, keeping the ledger of {} entr(ies), {} signed item(s)",
            l.entries(),
            l.recorded_items()
        ),
    };
    // The entry first, so the keystore can record it as the ledger head.
    if let Some(dir) = log.path().parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| SignerError::io(format!("cannot create {}", dir.display()), e))?;
    }
    let after = log.append(
        &scan,
        Event {
            event: "init".into(),
            result: "ok".into(),
            detail: Some(detail),
            ..Event::default()
        },
        Some(&mac_key),
    )?;
    let ks = Keystore::create(
        path,
        &password,
        &seed,
        kdf,
        crate::audit::now_rfc3339(),
        after.ledger_head,
    )?;
    println!("keystore:      {}", term::path(path));
    println!("fingerprint:   {}", ks.public().fingerprint);
    println!(
        "first address: {} (m/44'/60'/0'/0/0)",
        ks.public().first_address
    );
    if let Some(l) = kept {
        println!(
            "audit log:     {} kept: {} entr(ies), {} batch(es) and {} item(s) signed before; MACs verified with this seed",
            term::path(log.path()),
            l.entries(),
            l.recorded_batches(),
            l.recorded_items()
        );
    }
    Ok(())
}

/// A generated wallet is new: no ledger beside it can be its own. One there
/// belongs to another wallet (or is this wallet's, to restore with
/// `--mnemonic-file`), and is refused before the password is asked and the
/// words are shown.
fn refuse_ledger_for_a_new_wallet(log: &AuditLog) -> Result<()> {
    let scan = log.scan(None, |_| Ok(()))?;
    if scan.entries == 0 {
        return Ok(());
    }
    Err(SignerError::LedgerIntegrity {
        path: log.path().to_owned(),
        reason: format!(
            "an audit log of {} entr(ies) is beside the new keystore, and a newly generated wallet never takes over a ledger: move it away (and keep it: it is another wallet's record of what it signed), or restore that wallet with `signer init --mnemonic-file F`. Nothing was written and no words were generated",
            scan.entries
        ),
    })
}

/// Where `init` shows new words and asks them back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BackupDisplay {
    /// On the terminal (standard error), answers from the terminal
    /// (standard input); the screen is cleared before the check.
    Terminal,
    /// On standard output whatever it is (`--unsafe-print-mnemonic-to-stdout`);
    /// answers from standard input.
    UnsafeStdout,
}

/// New words are shown only on a terminal: standard error and standard
/// input must both be one, unless the operator asked for standard output
/// by the flag that names the risk.
fn backup_display(unsafe_stdout: bool) -> Result<BackupDisplay> {
    use std::io::IsTerminal;
    if unsafe_stdout {
        return Ok(BackupDisplay::UnsafeStdout);
    }
    if std::io::stderr().is_terminal() && std::io::stdin().is_terminal() {
        return Ok(BackupDisplay::Terminal);
    }
    Err(SignerError::Usage(
        "init shows new words only on a terminal, and standard error or standard input is not one here (a pipe, a file, a log). Run it at the signer's console; or import words with --mnemonic-file; or, only where the output is not kept anywhere, add --unsafe-print-mnemonic-to-stdout. Nothing was written and no words were generated".into(),
    ))
}

/// Shows the new words once, waits until the operator has written them
/// down, clears the screen, and has [`prompt::CONFIRMED_WORDS`] of them
/// typed back (each [`prompt::WORD_TRIES`] times at most).
fn show_and_confirm_backup(seed: &SeedMaterial, mode: BackupDisplay) -> Result<()> {
    let words = seed
        .expose_words()
        .map_err(|e| SignerError::Unexpected(e.to_string()))?;
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut err = std::io::stderr();
    match mode {
        BackupDisplay::Terminal => prompt::show_words(&mut err, &words)?,
        BackupDisplay::UnsafeStdout => {
            let stdout = std::io::stdout();
            prompt::show_words(&mut stdout.lock(), &words)?;
        }
    }
    let ready = prompt::ask_on(
        &mut input,
        &mut err,
        "Press Enter once they are written down (the screen is then cleared): ",
    )?;
    if ready.is_none() {
        return Err(SignerError::BackupNotConfirmed(
            "the input ended before the words were written down".into(),
        ));
    }
    if mode == BackupDisplay::Terminal {
        // Off the screen and out of the scrollback before they are asked.
        let _ = write!(err, "{}", prompt::CLEAR_SCREEN);
        let _ = err.flush();
    }
    let positions = prompt::positions_to_confirm(words.len(), prompt::CONFIRMED_WORDS);
    prompt::confirm_words(&mut input, &mut err, &words, &positions)
}

/// The audit log `init` finds beside a new keystore, if any, verified under
/// the new seed's key. A log of another wallet (other fingerprints in its
/// `init` entries) or one whose MACs fail is refused: it must be moved away
/// or restored, never silently restarted.
fn adopt_existing_log(
    log: &AuditLog,
    key: &MacKey,
    fingerprint: &str,
) -> Result<(Option<Ledger>, Scan)> {
    let mut wallets = std::collections::BTreeSet::new();
    let plain = log.scan(None, |e| {
        if let Some(fp) = e.init_fingerprint() {
            wallets.insert(fp.to_owned());
        }
        Ok(())
    })?;
    if plain.entries == 0 {
        return Ok((None, plain));
    }
    if !wallets.is_empty() && !wallets.contains(fingerprint) {
        let names: Vec<String> = wallets.into_iter().collect();
        return Err(SignerError::LedgerIntegrity {
            path: log.path().to_owned(),
            reason: format!(
                "this audit log is the ledger of another wallet (fingerprint {}), and this mnemonic is wallet {fingerprint}: move it away (and keep it: it is that wallet's record of what it signed) before creating a keystore for another wallet here, or import that wallet's mnemonic",
                names.join(", ")
            ),
        });
    }
    let (ledger, scan) = Ledger::load(log, Some(key)).map_err(|e| match e {
        SignerError::LedgerIntegrity { path, reason } => SignerError::LedgerIntegrity {
            path,
            reason: format!(
                "{reason}. It belongs to this wallet, so it was tampered with: restore it from the backup before re-creating the keystore (never start a new log: the ledger is what stops an order being paid twice)"
            ),
        },
        other => other,
    })?;
    Ok((Some(ledger), scan))
}

// ---------------------------------------------------------------- addresses / xpub / info

/// Opens the keystore and unlocks it with the password (from the file or
/// a prompt): the public data is checked against the seed on the way.
/// Address export derives everything from the seed, never from the stored
/// public data.
fn unlock_for_export(path: &Path, password_file: Option<&Path>) -> Result<(Keystore, Root)> {
    let ks = Keystore::open(path)?;
    let password = prompt::password(password_file, "Password: ")?;
    let seed = ks.unlock(&password)?;
    drop(password);
    let root = root_of(&seed)?;
    Ok((ks, root))
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
    let (_ks, root) = unlock_for_export(path, a.password_file.as_deref())?;
    let export = AddressExport::new(&root, a.account)?;
    drop(root);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    write_addresses(&mut out, &export, &a).and_then(|()| out.flush().map_err(write_error))
}

/// How many addresses are derived and proven (in parallel) and formatted
/// per step: the output is streamed, so memory stays small for 100,000
/// addresses.
const ADDRESS_CHUNK: u32 = 4096;

fn write_error(e: std::io::Error) -> SignerError {
    SignerError::Io {
        context: "cannot write the addresses to standard output".into(),
        source: e,
    }
}

/// What an address export needs from the seed: the account's external
/// chain node (private: each address signs its proof), its xpub and the
/// wallet fingerprint. The node's keys are wiped on drop.
struct AddressExport {
    account: u32,
    node: AccountNode,
    xpub: AccountXpub,
    fingerprint: WalletFingerprint,
}

impl AddressExport {
    fn new(root: &Root, account: u32) -> Result<Self> {
        let bug = |e: crate::hd::HdError| SignerError::Unexpected(e.to_string());
        Ok(Self {
            account,
            node: root.account_node(account).map_err(bug)?,
            xpub: root.account_xpub(account).map_err(bug)?,
            fingerprint: root.wallet_fingerprint(),
        })
    }
}

/// One exported address in the JSON output. The field order is the sorted
/// order `serde_json` gives a `json!` object, so the output is the same as
/// `envelope(json!({"account", "addresses", "fingerprint", "xpub"}))`.
#[derive(serde::Serialize)]
struct AddressJson<'a> {
    address: &'a coldsign_core::Address,
    index: u32,
    path: &'a str,
    proof: &'a AddressProof,
    public_key: &'a str,
}

/// Writes `signer addresses`' output for `a` (the range is checked): the
/// JSON envelope (`--json`) or one tab-separated line per address. Addresses
/// are derived, proven and formatted in parallel, a chunk at a time, and
/// written in index order. The first proof of each chunk is checked by
/// recovering its signer with `k256`, another implementation than the one
/// that signed.
fn write_addresses(
    out: &mut impl std::io::Write,
    export: &AddressExport,
    a: &AddressesArgs,
) -> Result<()> {
    use rayon::prelude::*;
    let ctx = crate::hd::proof_context();
    let fp = &export.fingerprint;
    if a.json {
        // `{"data":{"account":A,"addresses":[...],"fingerprint":"..","xpub":"..."},"schema_version":1,"success":true}`
        write!(out, r#"{{"data":{{"account":{},"addresses":["#, a.account).map_err(write_error)?;
    }
    let end = a.start + (a.count - 1);
    let mut first = a.start;
    loop {
        let last = end.min(first.saturating_add(ADDRESS_CHUNK - 1));
        let texts: Vec<String> = (first..=last)
            .into_par_iter()
            .map(|index| {
                let p = export
                    .node
                    .proven_address(export.account, index, fp, &ctx)
                    .map_err(|e| SignerError::Unexpected(e.to_string()))?;
                if index == first {
                    spot_check(fp, &p)?;
                }
                if a.json {
                    let mut text = if index == a.start {
                        String::new()
                    } else {
                        ",".to_owned()
                    };
                    text.push_str(
                        &serde_json::to_string(&AddressJson {
                            address: &p.address,
                            index: p.index,
                            path: &p.path,
                            proof: &p.proof,
                            public_key: &p.public_key,
                        })
                        .map_err(|e| SignerError::Unexpected(e.to_string()))?,
                    );
                    Ok(text)
                } else {
                    Ok(format!(
                        "{}\t{}\t{}\t{}\t{}\n",
                        p.index, p.path, p.address, p.public_key, p.proof
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
        let fingerprint =
            serde_json::to_string(fp).map_err(|e| SignerError::Unexpected(e.to_string()))?;
        let xpub_text = serde_json::to_string(&export.xpub.to_xpub_string())
            .map_err(|e| SignerError::Unexpected(e.to_string()))?;
        writeln!(
            out,
            r#"],"fingerprint":{fingerprint},"xpub":{xpub_text}}},"schema_version":1,"success":true}}"#
        )
        .map_err(write_error)?;
    }
    Ok(())
}

/// Recovers the signer of a proof with `k256` and compares it with the
/// address: a bug in the signing path is caught before the file leaves.
fn spot_check(fp: &WalletFingerprint, p: &ProvenAddress) -> Result<()> {
    let digest = coldsign_core::address_proof::proof_message(fp, &p.path, &p.address)
        .map_err(|e| SignerError::Unexpected(e.to_string()))?;
    match p.proof.signature().recover_address(&digest) {
        Ok(a) if a == p.address => Ok(()),
        other => Err(SignerError::Unexpected(format!(
            "the proof of {} ({}) does not recover to it ({other:?}): nothing was exported",
            p.address, p.path
        ))),
    }
}

fn xpub(path: &Path, a: XpubArgs) -> Result<()> {
    if a.account > crate::hd::MAX_INDEX {
        return Err(SignerError::Usage("--account must be below 2^31".into()));
    }
    let (_ks, root) = unlock_for_export(path, a.password_file.as_deref())?;
    let x = root
        .account_xpub(a.account)
        .map_err(|e| SignerError::Unexpected(e.to_string()))?;
    if a.json {
        println!(
            "{}",
            envelope(json!({
                "account": a.account,
                "fingerprint": root.fingerprint(),
                "path": format!("m/44'/60'/{}'", a.account),
                "xpub": x.to_xpub_string(),
            }))
        );
    } else {
        println!("{}", x.to_xpub_string());
    }
    Ok(())
}

fn info(path: &Path, a: InfoArgs) -> Result<()> {
    // The unlock compares every stored public field with the seed: what is
    // printed below is the seed's.
    let (ks, _root) = unlock_for_export(path, a.password_file.as_deref())?;
    let f = ks.file();
    if a.json {
        println!(
            "{}",
            envelope(json!({
                "keystore": path.display().to_string(),
                "version": f.version,
                "public": f.public,
                "public_checked_against_seed": true,
                "ledger_head": f.ledger_head,
                "kdf": { "algorithm": f.kdf.algorithm, "memory_kib": f.kdf.memory_kib,
                         "iterations": f.kdf.iterations, "parallelism": f.kdf.parallelism },
            }))
        );
    } else {
        println!("keystore:      {}", term::path(path));
        println!("version:       {}", f.version);
        println!("fingerprint:   {}", f.public.fingerprint);
        println!("first address: {}", f.public.first_address);
        // Not derived from the seed, so not checked: escaped.
        println!("created at:    {}", term::field(&f.public.created_at));
        println!(
            "kdf:           {} {} KiB, {} passes, {} lane(s)",
            f.kdf.algorithm, f.kdf.memory_kib, f.kdf.iterations, f.kdf.parallelism
        );
        for acc in &f.public.accounts {
            println!("account {}:     {} {}", acc.account, acc.path, acc.xpub);
        }
        if let Some(h) = f.ledger_head {
            println!("ledger head:   entry {} (mac {})", h.seq, h.mac);
        }
        println!("checked:       fingerprint, first address and xpubs are the seed's");
    }
    Ok(())
}

// ---------------------------------------------------------------- inspect / sign

/// Which policy applies, and how it was chosen.
enum PolicyChoice {
    /// Loaded from a file.
    File(Box<Policy>),
    /// `--no-policy`: the operator chose to go without one.
    Declined,
    /// None found, and `--no-policy` not given: `sign` refuses.
    Missing,
}

impl PolicyChoice {
    fn policy(&self) -> Policy {
        match self {
            Self::File(p) => (**p).clone(),
            Self::Declined | Self::Missing => Policy::default(),
        }
    }

    /// How the audit log records it: the file and its keccak256, or
    /// [`NO_POLICY`].
    fn label(&self) -> String {
        match self {
            Self::File(p) => format!(
                "{} (keccak256 {})",
                term::field(p.source.as_deref().unwrap_or("?")),
                p.source_digest.unwrap_or_default()
            ),
            Self::Declined | Self::Missing => NO_POLICY.to_owned(),
        }
    }
}

/// The policy: `--policy F`, else `$SIGNER_POLICY`, else `policy.toml`
/// beside the keystore. `--no-policy` is refused when a policy is installed
/// (an installed policy is never bypassed from the command line).
fn resolve_policy(keystore: &Path, given: Option<&Path>, no_policy: bool) -> Result<PolicyChoice> {
    if let Some(p) = given {
        return Policy::load(p).map(|p| PolicyChoice::File(Box::new(p)));
    }
    let installed = std::env::var_os(POLICY_ENV)
        .filter(|v| !v.is_empty())
        .map(|p| (PathBuf::from(p), format!("${POLICY_ENV}")))
        .or_else(|| {
            let beside = AuditLog::beside(keystore)
                .path()
                .with_file_name(POLICY_FILE_NAME);
            // Anything by that name counts (a directory or FIFO there is
            // refused when read, never skipped).
            beside
                .symlink_metadata()
                .is_ok()
                .then(|| (beside, "the policy beside the keystore".to_owned()))
        });
    match (installed, no_policy) {
        (Some((path, what)), true) => Err(SignerError::Usage(format!(
            "--no-policy was given, but a policy is installed ({what}: {}): an installed policy is never bypassed from the command line; leave out --no-policy to apply it, or remove the policy first",
            term::path(&path)
        ))),
        (Some((path, _)), false) => Policy::load(&path).map(|p| PolicyChoice::File(Box::new(p))),
        (None, true) => Ok(PolicyChoice::Declined),
        (None, false) => Ok(PolicyChoice::Missing),
    }
}

/// Why `sign` refuses to run without a policy.
fn no_policy_error(keystore: &Path) -> SignerError {
    let beside = AuditLog::beside(keystore)
        .path()
        .with_file_name(POLICY_FILE_NAME);
    SignerError::Usage(format!(
        "no policy: `signer sign` refuses to sign without one. Install one at {} (see docs/policy.example.toml), give --policy F or ${POLICY_ENV}, or pass --no-policy to sign without any limits (shown in red and recorded in the audit log)",
        term::path(&beside)
    ))
}

fn read_unsigned(file: &Path) -> Result<UnsignedBatch> {
    let text = fsutil::read_text_bounded(file, "unsigned batch", fsutil::MAX_BATCH_FILE_BYTES)?;
    UnsignedBatch::parse(&text).map_err(|e| {
        SignerError::bad_input(
            format!(
                "unsigned batch {} refused; nothing was signed",
                term::path(file)
            ),
            e,
        )
    })
}

fn refused(file: &Path, e: sign::CheckError) -> SignerError {
    SignerError::bad_input(
        format!("batch {} refused; nothing was signed", term::path(file)),
        e,
    )
}

fn refused_plain(file: &Path, e: impl std::error::Error + Send + Sync + 'static) -> SignerError {
    SignerError::bad_input(
        format!("batch {} refused; nothing was signed", term::path(file)),
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

/// The signing root and the ledger's MAC key, from the seed.
fn open_seed(seed: &SeedMaterial) -> Result<(Root, MacKey)> {
    let bytes = seed
        .to_seed()
        .map_err(|e| SignerError::Unexpected(e.to_string()))?;
    let root = Root::from_seed(&bytes).map_err(|e| SignerError::Unexpected(e.to_string()))?;
    Ok((root, MacKey::from_seed(&bytes)))
}

/// The ledger must hold the head the keystore recorded: otherwise the log
/// was deleted, truncated or replaced by an older copy.
fn check_keystore_head(log: &AuditLog, ledger: &Ledger, head: Option<LedgerHead>) -> Result<()> {
    let Some(head) = head else { return Ok(()) };
    ledger
        .holds(head)
        .map_err(|why| SignerError::LedgerIntegrity {
            path: log.path().to_owned(),
            reason: format!(
                "the keystore recorded ledger head entry {} (mac {}), but {why}. The audit log was deleted, truncated or replaced by an older copy: restore it from the backup (never start a new one: the ledger is what stops an order being paid twice)",
                head.seq, head.mac
            ),
        })
}

/// The unsigned file's ledger head (the latest the hub has seen from this
/// signer) must be in the ledger: the hub can make the signer refuse, never
/// make it accept.
fn check_hub_head(log: &AuditLog, ledger: &Ledger, batch: &UnsignedBatch) -> Result<()> {
    let Some(head) = batch.ledger_head() else {
        return Ok(());
    };
    ledger
        .holds(head)
        .map_err(|why| SignerError::LedgerIntegrity {
            path: log.path().to_owned(),
            reason: format!(
                "batch {} carries ledger head entry {} (mac {}), the latest the hub has seen from this signer, but {why}. This ledger is behind the hub's: it was truncated or restored from an old backup, or this is another signer. Restore the ledger from a backup that holds entry {}",
                batch.batch_id(),
                head.seq,
                head.mac,
                head.seq
            ),
        })
}

/// What `inspect` can say from the ledger without the password: the hash
/// chain is checked, the MACs are not.
fn inspect_ledger(
    ks: &Keystore,
    batch: &UnsignedBatch,
    checked: &sign::CheckedBatch<'_>,
    allow_reissue: &[String],
) -> Result<LedgerReport> {
    let log = AuditLog::beside(ks.path());
    let (ledger, _) = Ledger::load(&log, None)?;
    check_keystore_head(&log, &ledger, ks.ledger_head())?;
    check_hub_head(&log, &ledger, batch)?;
    Ok(ledger.check(checked, allow_reissue, false))
}

fn inspect(keystore: &Path, a: InspectArgs) -> Result<()> {
    let batch = read_unsigned(&a.file)?;
    let choice = resolve_policy(keystore, a.policy.as_deref(), a.no_policy)?;
    let policy = choice.policy();
    let checked = sign::check_batch(&batch).map_err(|e| refused(&a.file, e))?;
    let evaluation = policy.evaluate(&checked);
    let review = Review::new(
        &checked,
        &policy,
        &evaluation,
        matches!(choice, PolicyChoice::Declined),
    )
    .map_err(|e| refused_plain(&a.file, e))?;
    let mut failure = None;
    // Without a keystore this is not a signer machine: there is no ledger.
    let review = match Keystore::open(keystore)
        .and_then(|ks| inspect_ledger(&ks, &batch, &checked, &a.allow_reissue))
    {
        Ok(report) => {
            if report.refusals.count > 0 {
                failure = Some(SignerError::Ledger(report.refusal_message()));
            }
            review.with_ledger(report)
        }
        Err(e @ SignerError::Keystore { .. }) => review.without_ledger(e.to_string()),
        Err(e) => {
            let why = e.to_string();
            failure = Some(e);
            review.without_ledger(why)
        }
    };
    if a.json {
        let v =
            serde_json::to_value(&review).map_err(|e| SignerError::Unexpected(e.to_string()))?;
        term::json(&envelope(v));
    } else {
        term::out_painted(&review.render_with(term::stdout_colour()));
    }
    if let Some(e) = failure {
        return Err(e);
    }
    if !review.breaches.is_empty() {
        return Err(policy_error(&review.breaches));
    }
    if matches!(choice, PolicyChoice::Missing) {
        return Err(no_policy_error(keystore));
    }
    Ok(())
}

fn batch_event(
    batch: &UnsignedBatch,
    review: Option<&Review>,
    allow_reissue: &[String],
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
        // A stored message: whatever it quotes from the batch is escaped.
        detail: Some(coldsign_core::text::escape_lines_for_terminal(&detail).into_owned()),
        allowed_reissues: (!allow_reissue.is_empty()).then(|| allow_reissue.to_vec()),
        ledger: None,
        policy: None,
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

/// The audit trail of one `sign` run after the ledger was loaded: every
/// outcome is appended once, MACed, with the batch, the reissues allowed
/// and the policy that judged it.
struct SignAudit<'a> {
    log: &'a AuditLog,
    state: Scan,
    key: &'a MacKey,
    policy: String,
    batch: &'a UnsignedBatch,
    allow: &'a [String],
}

impl SignAudit<'_> {
    /// The entry of this run's outcome `result` (`refused`, `declined`,
    /// `failed`, `signed`), with the review's totals once there is one.
    fn event(&self, review: Option<&Review>, result: &str, detail: String) -> Event {
        let mut event = batch_event(self.batch, review, self.allow, result, detail);
        event.policy = Some(self.policy.clone());
        event
    }

    /// Appends `event` to the log.
    fn record(&mut self, event: Event) -> Result<()> {
        self.state = self.log.append(&self.state, event, Some(self.key))?;
        Ok(())
    }

    /// Records that the run ends with `result` and returns `error`.
    fn end<T>(
        &mut self,
        review: Option<&Review>,
        result: &str,
        detail: String,
        error: SignerError,
    ) -> Result<T> {
        self.record(self.event(review, result, detail))?;
        Err(error)
    }
}

fn sign_cmd(keystore_path: &Path, a: SignArgs) -> Result<()> {
    let log = AuditLog::beside(keystore_path);
    // Fail closed: no policy, no signing, unless the operator said so.
    let choice = resolve_policy(keystore_path, a.policy.as_deref(), a.no_policy)?;
    if matches!(choice, PolicyChoice::Missing) {
        return Err(no_policy_error(keystore_path));
    }
    let policy = choice.policy();
    let policy_label = choice.label();
    let mut keystore = Keystore::open(keystore_path)?;
    // The password's Argon2id derivation (256 MiB by default) runs before the
    // batch is loaded, so the two never occupy memory together.
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
    let allow = &a.allow_reissue;
    // Unlock: the seed gives the ledger's MAC key as well as the signing keys.
    let seed = match keystore.unlock_with(&unlock_key) {
        Ok(s) => s,
        Err(e) => {
            // Without the seed there is no MAC key: this entry is logged
            // without a MAC (the next MACed entry covers it).
            let scan = log.scan(None, |_| Ok(()))?;
            let mut event = batch_event(&batch, None, allow, "refused", e.to_string());
            event.policy = Some(policy_label.clone());
            log.append(&scan, event, None)?;
            return Err(e);
        }
    };
    let (root, mac_key) = open_seed(&seed)?;
    drop(seed);
    // The whole ledger, authenticated, before anything else: every MAC, the
    // head the keystore recorded, and the head the hub has seen.
    let (ledger, scan) = Ledger::load(&log, Some(&mac_key))?;
    check_keystore_head(&log, &ledger, keystore.ledger_head())?;
    check_hub_head(&log, &ledger, &batch)?;
    let mut audit = SignAudit {
        log: &log,
        state: scan,
        key: &mac_key,
        policy: policy_label,
        batch: &batch,
        allow,
    };
    // Every check that needs no key, on the whole batch.
    let checked = match sign::check_batch(&batch) {
        Ok(c) => c,
        Err(e) => return audit.end(None, "refused", e.to_string(), refused(&a.file, e)),
    };
    let report = ledger.check(&checked, allow, true);
    let evaluation = policy.evaluate(&checked);
    let review = match Review::new(
        &checked,
        &policy,
        &evaluation,
        matches!(choice, PolicyChoice::Declined),
    ) {
        Ok(r) => r.with_ledger(report),
        Err(e) => return audit.end(None, "refused", e.to_string(), refused_plain(&a.file, e)),
    };
    term::out_painted(&review.render_with(term::stdout_colour()));
    if let Some(report) = review.ledger.as_ref().filter(|r| r.refusals.count > 0) {
        let msg = report.refusal_message();
        let detail = format!("ledger: {msg}");
        return audit.end(Some(&review), "refused", detail, SignerError::Ledger(msg));
    }
    if !review.breaches.is_empty() {
        let detail = format!("policy: {}", review.breaches.join("; "));
        return audit.end(
            Some(&review),
            "refused",
            detail,
            policy_error(&review.breaches),
        );
    }
    // Derive each key once, and match every sender.
    let ring = match sign::derive_and_match(&root, &checked) {
        Ok(r) => r,
        Err(e) => return audit.end(Some(&review), "refused", e.to_string(), refused(&a.file, e)),
    };
    drop(root);
    term::errln(&format!(
        "all {} sender(s) derived from this keystore ({} distinct key(s)).",
        review.senders,
        ring.len()
    ));
    if !a.yes {
        let answer = prompt::ask(&format!(
            "Type the batch id ({}) to sign these {} transaction(s), anything else to cancel: ",
            batch.batch_id(),
            batch.items().len()
        ))?;
        let expected = batch.batch_id().to_string();
        if answer.as_deref().map(|s| s.as_str()) != Some(expected.as_str()) {
            let detail = "operator did not confirm".to_owned();
            return audit.end(Some(&review), "declined", detail, SignerError::Declined);
        }
    }
    let signed = match sign::sign_all(&checked, &ring) {
        Ok(s) => s,
        Err(e) => return audit.end(Some(&review), "failed", e.to_string(), refused(&a.file, e)),
    };
    drop(ring);
    // Record what was signed before the signed file exists. A batch
    // recorded before (same digest, so the same transactions) is not
    // recorded twice: its file carries the head of that first recording, so
    // signing the same file again gives the same bytes.
    let head = match ledger.recording_of(&batch.digest()).map(Recording::head) {
        Some(head) => {
            let detail = format!(
                "signed again, identical to the batch recorded in ledger entry {}; signed file {}",
                head.seq,
                out.display()
            );
            audit.record(audit.event(Some(&review), "signed", detail))?;
            head
        }
        None => {
            let mut event = audit.event(
                Some(&review),
                "signed",
                format!("signed file {}", out.display()),
            );
            event.ledger = Some(ledger::items_of(&checked, &signed)?);
            audit.record(event)?;
            let head = audit
                .state
                .ledger_head
                .ok_or_else(|| SignerError::Unexpected("the ledger entry has no MAC".into()))?;
            keystore.record_ledger_head(&unlock_key, head)?;
            head
        }
    };
    let state = audit.state;
    drop(unlock_key);
    // Only the signed batch is needed from here: free the rest before
    // writing, and stream the file rather than building its text.
    drop(ledger);
    drop(checked);
    drop(batch);
    let signed = signed.with_ledger_head(head);
    fsutil::write_atomic_with(&out, 0o644, overwrite, OUT_HINT, |w| {
        write_signed(w, &signed)
    })?;
    term::outln("");
    term::outln(&format!(
        "signed {} transaction(s): {}",
        signed.items.len(),
        term::path(&out)
    ));
    term::outln(&format!(
        "audit log entry {}: head {}",
        state.entries, state.head
    ));
    term::outln(&format!(
        "ledger head:   entry {} (mac {}), carried in the signed file",
        head.seq, head.mac
    ));
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
    let text = fsutil::read_text_bounded(&a.signed, "signed batch", fsutil::MAX_BATCH_FILE_BYTES)?;
    let signed = SignedBatch::parse(&text).map_err(|e| {
        SignerError::bad_input(
            format!("signed batch {} is invalid", term::path(&a.signed)),
            e,
        )
    })?;
    drop(text);
    let unsigned_path = a.unsigned.clone().or_else(|| sibling_unsigned(&a.signed));
    if let Some(up) = unsigned_path {
        let unsigned = read_unsigned(&up)?;
        let items = signed.verify_against(&unsigned).map_err(|e| {
            SignerError::bad_input(
                format!(
                    "{} does not verify against {}",
                    term::path(&a.signed),
                    term::path(&up)
                ),
                e,
            )
        })?;
        term::outln(&format!(
            "OK: {} item(s) of batch {} (chain {}) verified against {} (digest {})",
            items.len(),
            unsigned.batch_id(),
            unsigned.chain_id(),
            term::path(&up),
            unsigned.digest()
        ));
        return Ok(());
    }
    if !a.signatures_only {
        return Err(SignerError::bad_input_msg(format!(
            "{} was NOT verified: its unsigned batch is not next to it and --unsigned was not given. Without it, nothing says these transactions are what the hub exported: give --unsigned F, or --signatures-only to check only the hashes and signatures",
            term::path(&a.signed)
        )));
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
                term::field(&item.order_id),
                item.tx_hash,
                tx.transaction().nonce()
            ))
        };
        match check() {
            Ok(line) => term::outln(&line),
            Err(e) => failures.push(format!(
                "item {i} (order {}): {}",
                term::quoted(&item.order_id),
                term::field(&e)
            )),
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
    term::outln(&format!(
        "OK: {} item(s) decode and carry valid signatures (--signatures-only: NOT checked against the unsigned batch, so NOT that they pay what the hub exported)",
        signed.items.len()
    ));
    Ok(())
}

// ---------------------------------------------------------------- password / audit

fn change_password(path: &Path, a: ChangePasswordArgs) -> Result<()> {
    let mut ks = Keystore::open(path)?;
    let log = AuditLog::beside(path);
    let old = prompt::password(a.password_file.as_deref(), "Current password: ")?;
    // The current password is checked before a new one is asked for.
    let seed = ks.unlock(&old)?;
    drop(old);
    let new = prompt::new_password(a.new_password_file.as_deref())?;
    let (_, mac_key) = open_seed(&seed)?;
    // A log that fails verification is never extended.
    let (ledger, scan) = Ledger::load(&log, Some(&mac_key))?;
    check_keystore_head(&log, &ledger, ks.ledger_head())?;
    drop(ledger);
    let before = ks.file().kdf.clone();
    ks.change_password_with(&seed, &new)?;
    drop(seed);
    let after = &ks.file().kdf;
    log.append(
        &scan,
        Event {
            event: "change-password".into(),
            result: "ok".into(),
            ..Event::default()
        },
        Some(&mac_key),
    )?;
    println!("password changed: {}", path.display());
    println!(
        "key derivation: Argon2id {} KiB, {} passes, {} lane(s) (was {} KiB, {} passes, {} lane(s)); new salt and nonce",
        after.memory_kib,
        after.iterations,
        after.parallelism,
        before.memory_kib,
        before.iterations,
        before.parallelism
    );
    Ok(())
}

fn audit_show(keystore: &Path, as_json: bool) -> Result<()> {
    let log = AuditLog::beside(keystore);
    let (entries, scan) = log.read_verified()?;
    if as_json {
        term::json(&envelope(json!({
            "entries": entries,
            "head": scan.head,
            "count": scan.entries,
            "ledger_head": scan.ledger_head,
        })));
        return Ok(());
    }
    // Every string of an entry is shown escaped: without the password the
    // MACs are not checked, so the text may be anyone's.
    let f = |t: &str| term::field(t).into_owned();
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
                    .map(|t| format!("{} {}", f(&t.amount), f(&t.asset)))
                    .collect();
                format!(" totals [{}]", parts.join(", "))
            })
            .unwrap_or_default();
        let recorded = e
            .ledger
            .as_ref()
            .map(|l| format!(" ledger +{} item(s)", l.len()))
            .unwrap_or_default();
        let reissues = e
            .allowed_reissues
            .as_ref()
            .map(|r| {
                let r: Vec<String> = r.iter().map(|o| f(o)).collect();
                format!(" allow-reissue [{}]", r.join(", "))
            })
            .unwrap_or_default();
        let policy = e
            .policy
            .as_deref()
            .map(|p| format!(" policy {}", f(p)))
            .unwrap_or_default();
        let unmaced = if e.mac.is_none() { " (no MAC)" } else { "" };
        let detail = e
            .detail
            .as_deref()
            .map(|d| format!(" - {}", f(d)))
            .unwrap_or_default();
        term::outln(&format!(
            "{:>5} {} {}{batch}{items}{totals}{recorded}{reissues}{policy} {}{unmaced}{detail}",
            e.seq,
            f(&e.time),
            f(&e.event),
            f(&e.result)
        ));
    }
    term::outln(&format!(
        "{} entr(ies), hash chain intact (MACs not checked: `signer audit verify --password-file F`), head {}",
        scan.entries, scan.head
    ));
    Ok(())
}

fn audit_verify(keystore: &Path, a: &AuditVerifyArgs) -> Result<()> {
    let log = AuditLog::beside(keystore);
    let mut wanted = Vec::new();
    for hash in &a.expect_head {
        wanted.push(
            coldsign_core::B256::from_hex(hash)
                .map_err(|e| SignerError::Usage(format!("--expect-head {hash}: {e}")))?,
        );
    }
    let opened = Keystore::open(keystore);
    let key = if a.mac || a.password_file.is_some() {
        // The MACs need the seed, so the keystore.
        let ks = Keystore::open(keystore)?;
        let password = prompt::password(a.password_file.as_deref(), "Password: ")?;
        let seed = ks.unlock(&password)?;
        Some(open_seed(&seed)?.1)
    } else {
        None
    };
    let mut found = vec![false; wanted.len()];
    let (ledger, scan) = Ledger::load_inspecting(&log, key.as_ref(), |e| {
        for (w, f) in wanted.iter().zip(found.iter_mut()) {
            *f |= e.hash == *w;
        }
    })?;
    if let Some(i) = found.iter().position(|f| !f) {
        return Err(SignerError::Audit {
            path: log.path().to_owned(),
            reason: format!(
                "no entry has the recorded head {}: entries were removed from the end, or the log was replaced",
                wanted[i]
            ),
        });
    }
    match &opened {
        Ok(ks) => {
            check_keystore_head(&log, &ledger, ks.ledger_head())?;
            if let Some(h) = ks.ledger_head() {
                term::outln(&format!(
                    "keystore: the ledger head it recorded (entry {}) is in the log{}",
                    h.seq,
                    if key.is_some() {
                        ""
                    } else {
                        " (its value is authenticated only with the password)"
                    }
                ));
            }
        }
        Err(e) => term::outln(&format!(
            "keystore: not read ({e}): its recorded ledger head was not compared"
        )),
    }
    term::outln(&format!(
        "ledger: {} batch(es) and {} distinct item(s) signed; head {}",
        ledger.recorded_batches(),
        ledger.recorded_items(),
        scan.ledger_head.map_or("none".to_owned(), |h| format!(
            "entry {} (mac {})",
            h.seq, h.mac
        ))
    ));
    if key.is_some() {
        let tail = if scan.unmaced_tail > 0 {
            format!(
                "; the {} entr(ies) after it were written without the seed (a wrong password) and no MAC covers them yet",
                scan.unmaced_tail
            )
        } else {
            String::new()
        };
        term::outln(&format!(
            "MACs: OK, every entry{} authenticated with the seed's key{tail}",
            scan.ledger_head
                .map(|h| format!(" up to entry {}", h.seq))
                .unwrap_or_default()
        ));
    } else {
        term::outln("MACs: NOT CHECKED (no password). Without them, a log rewritten with recomputed hashes (entries edited, removed or reordered) passes; give --password-file F or --mac to check them (`signer sign` always does).");
    }
    term::outln(&format!(
        "audit log {}: OK, {} entr(ies), head {}",
        log.path().display(),
        scan.entries,
        scan.head
    ));
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
        let root = root_of(&seed).unwrap();
        let export = AddressExport::new(&root, 0).unwrap();
        let fp = root.wallet_fingerprint();
        // Crosses a chunk boundary.
        let (start, count) = (ADDRESS_CHUNK - 2, 5);
        let ctx = crate::hd::proof_context();
        let list: Vec<ProvenAddress> = (start..start + count)
            .map(|i| export.node.proven_address(0, i, &fp, &ctx).unwrap())
            .collect();
        let public = root
            .account_xpub(0)
            .unwrap()
            .addresses(0, start, count)
            .unwrap();
        for (p, q) in list.iter().zip(&public) {
            assert_eq!((p.address, &p.public_key), (q.address, &q.public_key));
            p.proof.verify(&fp, &p.path, &p.address).unwrap();
        }

        let mut json_out = Vec::new();
        write_addresses(&mut json_out, &export, &args(start, count, true)).unwrap();
        let want = envelope(json!({
            "account": 0,
            "fingerprint": fp.to_string(),
            "xpub": root.account_xpub(0).unwrap().to_xpub_string(),
            "addresses": list,
        })) + "\n";
        assert_eq!(String::from_utf8(json_out).unwrap(), want);

        let mut text_out = Vec::new();
        write_addresses(&mut text_out, &export, &args(start, count, false)).unwrap();
        let want: String = list
            .iter()
            .map(|i| {
                format!(
                    "{}\t{}\t{}\t{}\t{}\n",
                    i.index, i.path, i.address, i.public_key, i.proof
                )
            })
            .collect();
        assert_eq!(String::from_utf8(text_out).unwrap(), want);
    }
}
