//! The keystore: a versioned JSON file (mode 0600) holding the BIP39 entropy
//! and optional passphrase encrypted with AES-256-GCM under a key derived from
//! the administrator password with Argon2id, plus public data in clear.
//!
//! ```json
//! {
//!   "format": "coldsign/keystore",
//!   "version": 2,
//!   "kdf": { "algorithm": "argon2id", "argon2_version": 19, "memory_kib": 262144,
//!            "iterations": 3, "parallelism": 1, "salt": "…32 hex bytes…" },
//!   "cipher": { "algorithm": "aes-256-gcm", "nonce": "…12 hex bytes…" },
//!   "public": { "fingerprint": "…", "first_address": "0x…", "created_at": "…",
//!               "accounts": [ { "account": 0, "path": "m/44'/60'/0'", "xpub": "xpub…" } ] },
//!   "ledger_head": { "seq": 12, "mac": "0x…" },
//!   "ciphertext": "…",
//!   "checksum": "0x…"
//! }
//! ```
//!
//! Format, version, KDF parameters and salt, nonce and ledger head are the
//! AES-GCM associated data, so editing any of them makes decryption fail.
//! The public data is not: it is a copy of what the seed gives, recomputed
//! from the seed and compared at every unlock, so an edited public section
//! is refused with its own message (a wrong password could not be told from
//! an edit if it were authenticated data). Nothing uses it before that
//! check. Version 1 keystores (public data inside the associated data) are
//! read as they are and rewritten as version 2 by the next `sign` or
//! `change-password`.
//! `ledger_head` is the head of the audit log (the signer's ledger) once the
//! last batch was recorded: a log that no longer holds it was deleted,
//! truncated or replaced, and `sign` refuses it. It is rewritten, with a
//! fresh nonce, each time a batch is recorded. `checksum` is keccak256 of
//! every field but itself: it is not a security measure (anyone can
//! recompute it) but lets the signer tell a damaged file from a wrong password.

use crate::{
    error::{Result, SignerError},
    fsutil::{self, Overwrite},
    hd::Root,
    secret::{Password, SeedMaterial},
};
use aes_gcm::{aead::Aead, Aes256Gcm, KeyInit, Nonce};
use coldsign_core::{batch::LedgerHead, keccak256, Address, B256};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The `format` field of keystore files.
pub const FORMAT: &str = "coldsign/keystore";
/// The keystore version this build writes.
pub const VERSION: u32 = 2;
/// The keystore versions this build reads: 1 (public data inside the
/// associated data) and 2.
pub const READABLE_VERSIONS: [u32; 2] = [1, 2];
/// Default Argon2id memory: 256 MiB.
pub const DEFAULT_MEMORY_KIB: u32 = 256 * 1024;
/// Default Argon2id passes.
pub const DEFAULT_ITERATIONS: u32 = 3;
/// Default Argon2id lanes.
pub const DEFAULT_PARALLELISM: u32 = 1;
// The issue's floor: at least 256 MiB and 3 passes by default, and never
// below 64 MiB. Checked at compile time.
const _: () = assert!(DEFAULT_MEMORY_KIB >= 256 * 1024 && DEFAULT_ITERATIONS >= 3);
const _: () = assert!(MIN_MEMORY_KIB >= 64 * 1024);

/// The least memory accepted: 64 MiB.
pub const MIN_MEMORY_KIB: u32 = 64 * 1024;
/// The most memory accepted (a damaged file must not exhaust the machine): 4 GiB.
pub const MAX_MEMORY_KIB: u32 = 4 * 1024 * 1024;
/// The most passes accepted.
pub const MAX_ITERATIONS: u32 = 64;
/// Environment variable that lets tests use tiny Argon2 parameters.
///
/// Test-only: with it set to `1`, `init` uses 256 KiB and one pass, and
/// keystores with parameters below [`MIN_MEMORY_KIB`] are opened. Never set it
/// on a real signer.
pub const INSECURE_KDF_ENV: &str = "SIGNER_INSECURE_KDF_FOR_TESTS";
/// Argon2id memory of a keystore `init` makes under the test switch: 256 KiB.
pub const TEST_MEMORY_KIB: u32 = 256;
/// Argon2id passes of a keystore `init` makes under the test switch.
pub const TEST_ITERATIONS: u32 = 1;

/// Whether the test-only weak-KDF switch is on.
pub fn insecure_kdf_for_tests() -> bool {
    std::env::var(INSECURE_KDF_ENV).is_ok_and(|v| v == "1")
}

/// Argon2id parameters and salt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KdfParams {
    /// Always `argon2id`.
    pub algorithm: String,
    /// Argon2 version number: 19 (0x13).
    pub argon2_version: u32,
    /// Memory cost in KiB.
    pub memory_kib: u32,
    /// Number of passes.
    pub iterations: u32,
    /// Degree of parallelism (lanes).
    pub parallelism: u32,
    /// Random salt, hex.
    pub salt: String,
}

impl KdfParams {
    /// Fresh parameters with a random 32-byte salt.
    pub fn new(memory_kib: u32, iterations: u32) -> Self {
        use rand_core::RngCore;
        let mut salt = [0u8; 32];
        rand_core::OsRng.fill_bytes(&mut salt);
        Self {
            algorithm: "argon2id".into(),
            argon2_version: 0x13,
            memory_kib,
            iterations,
            parallelism: DEFAULT_PARALLELISM,
            salt: hex::encode(salt),
        }
    }

    /// The parameters `init` uses: the defaults, or tiny ones under the
    /// test-only switch.
    pub fn for_new_keystore() -> Self {
        if insecure_kdf_for_tests() {
            Self::new(TEST_MEMORY_KIB, TEST_ITERATIONS)
        } else {
            Self::new(DEFAULT_MEMORY_KIB, DEFAULT_ITERATIONS)
        }
    }

    /// The parameters to re-encrypt a keystore that has these, with a fresh
    /// salt: never a lower cost than this keystore's memory, passes and
    /// lanes, and raised to the defaults if below them. The test switch
    /// never lowers anything: under it the keystore keeps exactly its cost,
    /// so test-only parameters are used only by a keystore that already
    /// has them (and such a keystore does not open without the switch).
    pub fn for_reencryption(&self) -> Self {
        self.for_reencryption_under(insecure_kdf_for_tests())
    }

    fn for_reencryption_under(&self, test_switch: bool) -> Self {
        let mut next = Self::new(self.memory_kib, self.iterations);
        next.parallelism = self.parallelism.max(DEFAULT_PARALLELISM);
        if !test_switch {
            next.memory_kib = next.memory_kib.max(DEFAULT_MEMORY_KIB);
            next.iterations = next.iterations.max(DEFAULT_ITERATIONS);
        }
        next
    }

    /// Whether `self` costs at least as much as `other` in every dimension.
    pub fn costs_at_least(&self, other: &Self) -> bool {
        self.memory_kib >= other.memory_kib
            && self.iterations >= other.iterations
            && self.parallelism >= other.parallelism
    }

    /// Refuses unknown algorithms and parameters too weak or too costly.
    pub fn check(&self) -> std::result::Result<(), String> {
        if self.algorithm != "argon2id" || self.argon2_version != 0x13 {
            return Err(format!(
                "unsupported key derivation {} version {}",
                self.algorithm, self.argon2_version
            ));
        }
        let min = if insecure_kdf_for_tests() {
            8
        } else {
            MIN_MEMORY_KIB
        };
        if self.memory_kib < min {
            return Err(format!(
                "Argon2id memory {} KiB is below the minimum of {} MiB",
                self.memory_kib,
                MIN_MEMORY_KIB / 1024
            ));
        }
        if self.memory_kib > MAX_MEMORY_KIB {
            return Err(format!(
                "Argon2id memory {} KiB is above 4 GiB",
                self.memory_kib
            ));
        }
        if self.iterations == 0 || self.iterations > MAX_ITERATIONS {
            return Err(format!(
                "Argon2id passes {} outside 1..={MAX_ITERATIONS}",
                self.iterations
            ));
        }
        if self.parallelism == 0 || self.parallelism > 16 {
            return Err(format!(
                "Argon2id lanes {} outside 1..=16",
                self.parallelism
            ));
        }
        match hex::decode(&self.salt) {
            Ok(s) if (16..=64).contains(&s.len()) => Ok(()),
            _ => Err("salt is not 16 to 64 hex bytes".into()),
        }
    }

    /// Derives the 32-byte encryption key from `password`.
    fn derive_key(&self, password: &Password) -> std::result::Result<Zeroizing<[u8; 32]>, String> {
        let salt = hex::decode(&self.salt).map_err(|e| e.to_string())?;
        let params =
            argon2::Params::new(self.memory_kib, self.iterations, self.parallelism, Some(32))
                .map_err(|e| e.to_string())?;
        let argon =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut key = Zeroizing::new([0u8; 32]);
        argon
            .hash_password_into(password.expose_bytes(), &salt, key.as_mut())
            .map_err(|e| e.to_string())?;
        Ok(key)
    }
}

/// A key derived from a password by the keystore's KDF, not yet known to be
/// right: [`Keystore::unlock_with`] tells. Zeroized on drop; never printed.
pub struct UnlockKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for UnlockKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UnlockKey(<redacted>)")
    }
}

/// The cipher and its nonce.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CipherParams {
    /// Always `aes-256-gcm`.
    pub algorithm: String,
    /// 12-byte nonce, hex (fresh for every encryption).
    pub nonce: String,
}

/// One account's extended public key, stored in clear.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountEntry {
    /// The account number.
    pub account: u32,
    /// `m/44'/60'/<account>'`.
    pub path: String,
    /// The account-level `xpub…`.
    pub xpub: String,
}

/// The keystore's public data: a copy of what the seed gives, kept in
/// clear. Not to be trusted before [`Keystore::unlock`] compared it with the
/// seed (which every unlock does).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicInfo {
    /// BIP32 fingerprint of the master public key (8 hex digits).
    pub fingerprint: String,
    /// The address of `m/44'/60'/0'/0/0`.
    pub first_address: Address,
    /// When the keystore was created, UTC.
    pub created_at: String,
    /// Account-level xpubs, for exporting addresses without the password.
    pub accounts: Vec<AccountEntry>,
}

/// The keystore file as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeystoreFile {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`VERSION`].
    pub version: u32,
    /// Key derivation.
    pub kdf: KdfParams,
    /// Encryption.
    pub cipher: CipherParams,
    /// Public data.
    pub public: PublicInfo,
    /// The head of the audit log once the last batch was recorded in it
    /// (absent in keystores written before the ledger existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger_head: Option<LedgerHead>,
    /// The encrypted seed material with its GCM tag, hex.
    pub ciphertext: String,
    /// keccak256 of the associated data and ciphertext (damage detection).
    pub checksum: B256,
}

#[derive(Serialize)]
struct Associated<'a> {
    format: &'a str,
    version: u32,
    kdf: &'a KdfParams,
    cipher: &'a CipherParams,
    #[serde(skip_serializing_if = "Option::is_none")]
    public: Option<&'a PublicInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ledger_head: Option<LedgerHead>,
}

impl KeystoreFile {
    /// The compact JSON of the header fields: with `public` or without.
    fn header(&self, with_public: bool) -> Vec<u8> {
        serde_json::to_vec(&Associated {
            format: &self.format,
            version: self.version,
            kdf: &self.kdf,
            cipher: &self.cipher,
            public: with_public.then_some(&self.public),
            ledger_head: self.ledger_head,
        })
        .unwrap_or_default()
    }

    /// The AES-GCM associated data: every header field, without the public
    /// data from version 2 on.
    fn associated_data(&self) -> Vec<u8> {
        self.header(self.version == 1)
    }

    /// keccak256 of every header field (public data included) and the
    /// ciphertext: in version 1 that is the associated data and the
    /// ciphertext, as it always was.
    fn compute_checksum(&self) -> B256 {
        let mut data = self.header(true);
        data.extend_from_slice(self.ciphertext.as_bytes());
        keccak256(data)
    }

    /// Recomputes `checksum` after an edit.
    ///
    /// # Warning
    /// The checksum only tells damage from a wrong password; it protects
    /// nothing (anyone can recompute it). Tests use this to check that an edit
    /// with a recomputed checksum still fails, through the associated data.
    pub fn recompute_checksum_unchecked(&mut self) {
        self.checksum = self.compute_checksum();
    }

    /// The stored (unverified) xpub of `account`, if any.
    pub fn account_xpub(&self, account: u32) -> Option<&str> {
        self.public
            .accounts
            .iter()
            .find(|a| a.account == account)
            .map(|a| a.xpub.as_str())
    }
}

/// How many accounts' xpubs `init` stores in clear.
pub const STORED_ACCOUNTS: u32 = 1;

/// An opened keystore: its file and location.
#[derive(Debug)]
pub struct Keystore {
    path: PathBuf,
    file: KeystoreFile,
}

fn damaged(path: &Path, reason: impl Into<String>) -> SignerError {
    SignerError::Keystore {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

fn encrypt(
    path: &Path,
    kdf: KdfParams,
    public: PublicInfo,
    ledger_head: Option<LedgerHead>,
    password: &Password,
    seed: &SeedMaterial,
) -> Result<KeystoreFile> {
    kdf.check().map_err(|r| damaged(path, r))?;
    let key = kdf
        .derive_key(password)
        .map_err(|e| SignerError::Unexpected(format!("key derivation failed: {e}")))?;
    encrypt_with(kdf, public, ledger_head, &key, seed)
}

/// Encrypts `seed` under an already derived `key` with a fresh nonce, as a
/// keystore of the current [`VERSION`].
fn encrypt_with(
    kdf: KdfParams,
    public: PublicInfo,
    ledger_head: Option<LedgerHead>,
    key: &[u8; 32],
    seed: &SeedMaterial,
) -> Result<KeystoreFile> {
    encrypt_as(VERSION, kdf, public, ledger_head, key, seed)
}

/// [`encrypt_with`] as a keystore of `version` (tests write version 1).
fn encrypt_as(
    version: u32,
    kdf: KdfParams,
    public: PublicInfo,
    ledger_head: Option<LedgerHead>,
    key: &[u8; 32],
    seed: &SeedMaterial,
) -> Result<KeystoreFile> {
    use rand_core::RngCore;
    let mut nonce = [0u8; 12];
    rand_core::OsRng.fill_bytes(&mut nonce);
    let mut file = KeystoreFile {
        format: FORMAT.into(),
        version,
        kdf,
        cipher: CipherParams {
            algorithm: "aes-256-gcm".into(),
            nonce: hex::encode(nonce),
        },
        public,
        ledger_head,
        ciphertext: String::new(),
        checksum: B256::default(),
    };
    let cipher =
        Aes256Gcm::new_from_slice(key).map_err(|e| SignerError::Unexpected(e.to_string()))?;
    let aad = file.associated_data();
    let plaintext = seed.to_plaintext();
    let ct = cipher
        .encrypt(
            &Nonce::from(nonce),
            aes_gcm::aead::Payload {
                msg: &plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| SignerError::Unexpected("encryption failed".into()))?;
    file.ciphertext = hex::encode(ct);
    file.checksum = file.compute_checksum();
    Ok(file)
}

/// The public data of seed material: fingerprint, first address, xpubs.
pub fn public_info(seed: &SeedMaterial, created_at: String) -> Result<PublicInfo> {
    let bytes = seed
        .to_seed()
        .map_err(|e| SignerError::Unexpected(e.to_string()))?;
    let root = Root::from_seed(&bytes).map_err(|e| SignerError::Unexpected(e.to_string()))?;
    let first = root
        .account_node(0)
        .and_then(|n| n.child(0))
        .map_err(|e| SignerError::Unexpected(e.to_string()))?;
    let accounts = (0..STORED_ACCOUNTS)
        .map(|account| {
            let xpub = root
                .account_xpub(account)
                .map_err(|e| SignerError::Unexpected(e.to_string()))?;
            Ok(AccountEntry {
                account,
                path: format!("m/44'/60'/{account}'"),
                xpub: xpub.to_xpub_string(),
            })
        })
        .collect::<Result<_>>()?;
    Ok(PublicInfo {
        fingerprint: root.fingerprint(),
        first_address: first.address(),
        created_at,
        accounts,
    })
}

impl Keystore {
    /// Creates a new keystore at `path` (mode 0600) recording the audit
    /// log's `ledger_head`; refuses if one exists.
    pub fn create(
        path: &Path,
        password: &Password,
        seed: &SeedMaterial,
        kdf: KdfParams,
        created_at: String,
        ledger_head: Option<LedgerHead>,
    ) -> Result<Self> {
        if path.symlink_metadata().is_ok() {
            return Err(SignerError::OutputExists {
                path: path.to_owned(),
                hint: " (a keystore is never overwritten; move it away first if you really mean to replace it)",
            });
        }
        let public = public_info(seed, created_at)?;
        let file = encrypt(path, kdf, public, ledger_head, password, seed)?;
        let ks = Self {
            path: path.to_owned(),
            file,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| SignerError::io(format!("cannot create {}", dir.display()), e))?;
        }
        fsutil::write_atomic(path, ks.to_json().as_bytes(), 0o600, Overwrite::Refuse, "")?;
        Ok(ks)
    }

    fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(&self.file).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Reads and checks a keystore file (no password needed): format,
    /// version, parameters and checksum.
    pub fn open(path: &Path) -> Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(damaged(
                path,
                "no keystore here: run `signer init` first, or give --keystore / SIGNER_KEYSTORE",
            )),
            Err(e) => return Err(damaged(path, format!("cannot read: {e}"))),
        };
        #[derive(Deserialize)]
        struct Header {
            format: Option<String>,
            version: Option<u64>,
        }
        let header: Header = serde_json::from_str(&text)
            .map_err(|e| damaged(path, format!("damaged: not valid JSON ({e})")))?;
        if header.format.as_deref() != Some(FORMAT) {
            return Err(damaged(
                path,
                format!("not a coldsign keystore (format {:?})", header.format),
            ));
        }
        if !header
            .version
            .is_some_and(|v| READABLE_VERSIONS.iter().any(|r| u64::from(*r) == v))
        {
            return Err(damaged(
                path,
                format!(
                    "unsupported keystore version {:?} (this build reads versions 1 and {VERSION})",
                    header.version
                ),
            ));
        }
        let file: KeystoreFile =
            serde_json::from_str(&text).map_err(|e| damaged(path, format!("damaged: {e}")))?;
        if file.compute_checksum() != file.checksum {
            return Err(damaged(
                path,
                "damaged: checksum mismatch (the file was edited or corrupted); restore it from backup",
            ));
        }
        if file.cipher.algorithm != "aes-256-gcm" {
            return Err(damaged(
                path,
                format!("unsupported cipher {:?}", file.cipher.algorithm),
            ));
        }
        file.kdf.check().map_err(|r| damaged(path, r))?;
        Ok(Self {
            path: path.to_owned(),
            file,
        })
    }

    /// The file's location.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored file.
    pub fn file(&self) -> &KeystoreFile {
        &self.file
    }

    /// The public data as stored: not checked against the seed until an
    /// unlock (which compares it); show it only after one.
    pub fn public(&self) -> &PublicInfo {
        &self.file.public
    }

    /// The audit log's head once the last batch was recorded, as the
    /// keystore remembers it. Authenticated only once the keystore is
    /// unlocked (it is part of the associated data).
    pub fn ledger_head(&self) -> Option<LedgerHead> {
        self.file.ledger_head
    }

    /// Records a new ledger head: re-encrypts the seed under the same
    /// password key (`key`, already derived) with a fresh nonce and
    /// replaces the file atomically.
    pub fn record_ledger_head(&mut self, key: &UnlockKey, head: LedgerHead) -> Result<()> {
        let seed = self.unlock_with(key)?;
        let file = encrypt_with(
            self.file.kdf.clone(),
            self.file.public.clone(),
            Some(head),
            &key.0,
            &seed,
        )?;
        self.file = file;
        fsutil::write_atomic(
            &self.path,
            self.to_json().as_bytes(),
            0o600,
            Overwrite::Replace,
            "",
        )
    }

    /// Decrypts the seed material with `password`.
    ///
    /// A wrong password gives [`SignerError::WrongPassword`]; a file whose
    /// checksum is right but whose decryption fails was edited by someone who
    /// recomputed the checksum, which cannot be told from a wrong password.
    pub fn unlock(&self, password: &Password) -> Result<SeedMaterial> {
        self.unlock_with(&self.derive_unlock_key(password)?)
    }

    /// The first half of [`Keystore::unlock`]: the password's Argon2id key
    /// derivation (the memory-hard, slow part), without trying the key yet.
    /// `signer sign` runs it before loading a batch, so the KDF's memory and
    /// the batch never occupy memory together.
    pub fn derive_unlock_key(&self, password: &Password) -> Result<UnlockKey> {
        self.file
            .kdf
            .derive_key(password)
            .map(UnlockKey)
            .map_err(|e| damaged(&self.path, format!("key derivation failed: {e}")))
    }

    /// The second half of [`Keystore::unlock`]: decrypts and checks the seed
    /// material with a derived key. A wrong password is found here.
    pub fn unlock_with(&self, key: &UnlockKey) -> Result<SeedMaterial> {
        let nonce: [u8; 12] = hex::decode(&self.file.cipher.nonce)
            .ok()
            .and_then(|n| n.try_into().ok())
            .ok_or_else(|| damaged(&self.path, "damaged: nonce is not 12 hex bytes"))?;
        let ct = hex::decode(&self.file.ciphertext)
            .map_err(|_| damaged(&self.path, "damaged: ciphertext is not hex"))?;
        let cipher = Aes256Gcm::new_from_slice(key.0.as_ref())
            .map_err(|e| SignerError::Unexpected(e.to_string()))?;
        let aad = self.file.associated_data();
        let plain = Zeroizing::new(
            cipher
                .decrypt(
                    &Nonce::from(nonce),
                    aes_gcm::aead::Payload {
                        msg: &ct,
                        aad: &aad,
                    },
                )
                .map_err(|_| SignerError::WrongPassword)?,
        );
        let seed = SeedMaterial::from_plaintext(&plain)
            .map_err(|e| damaged(&self.path, format!("damaged: {e}")))?;
        self.check_public(&seed)?;
        Ok(seed)
    }

    /// The stored public data must be what `seed` gives: fingerprint, first
    /// address and every stored account xpub (the creation time is not
    /// derived). A difference means the public section was edited (and its
    /// checksum recomputed): it is refused, naming what differs.
    fn check_public(&self, seed: &SeedMaterial) -> Result<()> {
        let stored = &self.file.public;
        let expected = public_info(seed, stored.created_at.clone())?;
        if expected == *stored {
            return Ok(());
        }
        let mut diffs = Vec::new();
        if expected.fingerprint != stored.fingerprint {
            diffs.push(format!(
                "fingerprint {:?} stored, the seed's is {}",
                stored.fingerprint, expected.fingerprint
            ));
        }
        if expected.first_address != stored.first_address {
            diffs.push(format!(
                "first address {} stored, the seed's is {}",
                stored.first_address, expected.first_address
            ));
        }
        if expected.accounts != stored.accounts {
            // Parsed strictly, for the message: an xprv, a master key or a
            // damaged string is named as such.
            let refused: Vec<String> = stored
                .accounts
                .iter()
                .filter_map(|a| {
                    crate::hd::AccountXpub::parse(&a.xpub)
                        .err()
                        .map(|e| format!("account {}'s stored xpub: {e}", a.account))
                })
                .collect();
            diffs.push(if refused.is_empty() {
                "the stored account xpubs are not the seed's".to_owned()
            } else {
                refused.join("; ")
            });
        }
        Err(damaged(
            &self.path,
            format!(
                "its public section does not match the encrypted seed: it was edited ({}). \
                 Addresses or xpubs it showed are not this wallet's: do not use them. Restore the \
                 keystore from its backup, or re-create it from the mnemonic (move this file away, \
                 then `signer init --mnemonic-file F`)",
                diffs.join("; ")
            ),
        ))
    }

    /// Re-encrypts under `new_password` with a fresh salt and nonce and at
    /// least the same KDF cost ([`KdfParams::for_reencryption`]: raised to
    /// the defaults, never lowered), replacing the file atomically.
    pub fn change_password(&mut self, old: &Password, new: &Password) -> Result<()> {
        let seed = self.unlock(old)?;
        self.change_password_with(&seed, new)
    }

    /// [`Keystore::change_password`] with the seed already unlocked.
    pub fn change_password_with(&mut self, seed: &SeedMaterial, new: &Password) -> Result<()> {
        let kdf = self.file.kdf.for_reencryption();
        if !kdf.costs_at_least(&self.file.kdf) {
            return Err(SignerError::Unexpected(
                "refusing to lower the keystore's KDF cost".into(),
            ));
        }
        let file = encrypt(
            &self.path,
            kdf,
            self.file.public.clone(),
            self.file.ledger_head,
            new,
            seed,
        )?;
        self.file = file;
        fsutil::write_atomic(
            &self.path,
            self.to_json().as_bytes(),
            0o600,
            Overwrite::Replace,
            "",
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn default_cost_is_at_least_256_mib_and_3_passes() {
        if !insecure_kdf_for_tests() {
            let p = KdfParams::for_new_keystore();
            assert_eq!(p.memory_kib, DEFAULT_MEMORY_KIB);
            assert!(p.check().is_ok());
            let mut weak = p.clone();
            weak.memory_kib = MIN_MEMORY_KIB - 1;
            assert!(weak.check().unwrap_err().contains("below the minimum"));
        }
    }

    #[test]
    fn reencryption_never_lowers_the_cost() {
        let test = KdfParams::new(TEST_MEMORY_KIB, TEST_ITERATIONS);
        // Test parameters only for a test keystore under the test switch.
        let kept = test.for_reencryption_under(true);
        assert_eq!((kept.memory_kib, kept.iterations), (TEST_MEMORY_KIB, 1));
        assert_ne!(kept.salt, test.salt);
        let raised = test.for_reencryption_under(false);
        assert_eq!(
            (raised.memory_kib, raised.iterations),
            (DEFAULT_MEMORY_KIB, DEFAULT_ITERATIONS)
        );
        // A real keystore never goes down to test parameters: under the
        // switch it keeps its cost, without it it is raised to the defaults.
        let mut real = KdfParams::new(MIN_MEMORY_KIB, 1);
        let kept = real.for_reencryption_under(true);
        assert_eq!((kept.memory_kib, kept.iterations), (MIN_MEMORY_KIB, 1));
        let raised = real.for_reencryption_under(false);
        assert_eq!(
            (raised.memory_kib, raised.iterations),
            (DEFAULT_MEMORY_KIB, DEFAULT_ITERATIONS)
        );
        for switch in [false, true] {
            real.memory_kib = 1024 * 1024;
            real.iterations = 10;
            real.parallelism = 4;
            let next = real.for_reencryption_under(switch);
            assert_eq!(
                (next.memory_kib, next.iterations, next.parallelism),
                (1024 * 1024, 10, 4)
            );
            assert!(next.costs_at_least(&real));
        }
    }

    /// PUBLIC, INSECURE development mnemonic (Hardhat / anvil); never fund it.
    const DEV_MNEMONIC: &str = "test test test test test test test test test test test junk";

    fn dev_seed() -> SeedMaterial {
        SeedMaterial::from_phrase(DEV_MNEMONIC, Zeroizing::new(String::new())).unwrap()
    }

    /// A keystore file of `version` under a fixed key (no KDF run: the key
    /// stands for the password's), written to `dir`.
    fn write_keystore(dir: &Path, version: u32, key: &[u8; 32]) -> Keystore {
        let seed = dev_seed();
        let public = public_info(&seed, "2026-11-21T06:00:00Z".into()).unwrap();
        let kdf = KdfParams::new(MIN_MEMORY_KIB, 1);
        let file = encrypt_as(version, kdf, public, None, key, &seed).unwrap();
        let ks = Keystore {
            path: dir.join("keystore.json"),
            file,
        };
        std::fs::write(&ks.path, ks.to_json()).unwrap();
        Keystore::open(&ks.path).unwrap()
    }

    #[test]
    fn version_1_is_read_and_rewritten_as_version_2() {
        let dir = tempfile::tempdir().unwrap();
        let key = [7u8; 32];
        let mut ks = write_keystore(dir.path(), 1, &key);
        assert_eq!(ks.file().version, 1);
        let unlock = UnlockKey(Zeroizing::new(key));
        ks.unlock_with(&unlock).unwrap();
        // In version 1 the public data is authenticated: an edit cannot be
        // told from a wrong password.
        let mut edited = ks.file.clone();
        edited.public.fingerprint = "00000000".into();
        edited.recompute_checksum_unchecked();
        let v1 = Keystore {
            path: ks.path.clone(),
            file: edited,
        };
        assert!(matches!(
            v1.unlock_with(&unlock),
            Err(SignerError::WrongPassword)
        ));
        let head = LedgerHead {
            seq: 0,
            mac: B256([1; 32]),
        };
        ks.record_ledger_head(&unlock, head).unwrap();
        let again = Keystore::open(&ks.path).unwrap();
        assert_eq!(again.file().version, VERSION);
        assert_eq!(again.ledger_head(), Some(head));
        again.unlock_with(&unlock).unwrap();
        let wrong = UnlockKey(Zeroizing::new([8u8; 32]));
        assert!(matches!(
            again.unlock_with(&wrong),
            Err(SignerError::WrongPassword)
        ));
    }

    #[test]
    fn an_edited_public_section_is_named_not_a_wrong_password() {
        let dir = tempfile::tempdir().unwrap();
        let key = [9u8; 32];
        let ks = write_keystore(dir.path(), VERSION, &key);
        let unlock = UnlockKey(Zeroizing::new(key));
        type Edit = fn(&mut PublicInfo);
        let edits: [(&str, Edit); 5] = [
            ("fingerprint", |p| p.fingerprint = "deadbeef".into()),
            ("first address", |p| p.first_address = Address([0x11; 20])),
            ("xpub", |p| p.accounts[0].xpub.push('x')),
            ("xprv for an xpub", |p| {
                // BIP-0032 test vector 1, chain m: a private key.
                p.accounts[0].xpub = "xprv9s21ZrQH143K3QTDL4LXw2F7HEK3wJUD2nW2nRk4stbPy6cq3jPPqjiChkVvvNKmPGJxWUtg6LnF5kejMRNNU3TGtRBeJgk33yuGBxrMPHi".into()
            }),
            ("account xpubs", |p| {
                let mut extra = p.accounts[0].clone();
                extra.account = 1;
                p.accounts.push(extra);
            }),
        ];
        for (what, edit) in edits {
            let mut file = ks.file.clone();
            edit(&mut file.public);
            // Without a recomputed checksum: damaged.
            let text = serde_json::to_string_pretty(&file).unwrap();
            std::fs::write(&ks.path, &text).unwrap();
            let err = Keystore::open(&ks.path).unwrap_err().to_string();
            assert!(err.contains("checksum mismatch"), "{what}: {err}");
            // With it: opens, and the unlock refuses it by name.
            file.recompute_checksum_unchecked();
            std::fs::write(&ks.path, serde_json::to_string_pretty(&file).unwrap()).unwrap();
            let opened = Keystore::open(&ks.path).unwrap();
            let err = opened.unlock_with(&unlock).unwrap_err();
            assert!(matches!(err, SignerError::Keystore { .. }), "{what}: {err}");
            let text = err.to_string();
            assert!(
                text.contains("public section does not match the encrypted seed"),
                "{what}: {text}"
            );
            if what == "xprv for an xpub" {
                assert!(text.contains("where an xpub is expected"), "{text}");
            }
        }
    }
}
