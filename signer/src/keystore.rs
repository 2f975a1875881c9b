//! The keystore: a versioned JSON file (mode 0600) holding the BIP39 entropy
//! and optional passphrase encrypted with AES-256-GCM under a key derived from
//! the administrator password with Argon2id, plus public data in clear.
//!
//! ```json
//! {
//!   "format": "coldsign/keystore",
//!   "version": 1,
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
//! Everything but `ciphertext` and `checksum` (format, version, KDF
//! parameters and salt, nonce, public data, ledger head) is the AES-GCM
//! associated data, so editing any of it makes decryption fail.
//! `ledger_head` is the head of the audit log (the signer's ledger) once the
//! last batch was recorded: a log that no longer holds it was deleted,
//! truncated or replaced, and `sign` refuses it. It is rewritten, with a
//! fresh nonce, each time a batch is recorded. `checksum` is keccak256 of the
//! associated data and ciphertext: it is not a security measure (anyone can
//! recompute it) but lets the signer tell a damaged file from a wrong password.

use crate::{
    error::{Result, SignerError},
    fsutil::{self, Overwrite},
    hd::{AccountXpub, Root},
    secret::{Password, SeedMaterial},
};
use aes_gcm::{aead::Aead, Aes256Gcm, KeyInit, Nonce};
use coldsign_core::{batch::LedgerHead, keccak256, Address, B256};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The `format` field of keystore files.
pub const FORMAT: &str = "coldsign/keystore";
/// The one keystore version this build reads and writes.
pub const VERSION: u32 = 1;
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
            Self::new(256, 1)
        } else {
            Self::new(DEFAULT_MEMORY_KIB, DEFAULT_ITERATIONS)
        }
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

/// What the keystore shows without the password.
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
    public: &'a PublicInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    ledger_head: Option<LedgerHead>,
}

impl KeystoreFile {
    fn associated_data(&self) -> Vec<u8> {
        serde_json::to_vec(&Associated {
            format: &self.format,
            version: self.version,
            kdf: &self.kdf,
            cipher: &self.cipher,
            public: &self.public,
            ledger_head: self.ledger_head,
        })
        .unwrap_or_default()
    }

    fn compute_checksum(&self) -> B256 {
        let mut data = self.associated_data();
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

    /// The stored xpub of `account`, if any.
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

/// Encrypts `seed` under an already derived `key` with a fresh nonce.
fn encrypt_with(
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
        version: VERSION,
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
        if header.version != Some(u64::from(VERSION)) {
            return Err(damaged(
                path,
                format!(
                    "unsupported keystore version {:?} (this build reads version {VERSION})",
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

    /// The public data.
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

    /// The stored xpub of `account`, parsed.
    pub fn stored_xpub(&self, account: u32) -> Result<Option<AccountXpub>> {
        self.file
            .account_xpub(account)
            .map(|x| AccountXpub::parse(x).map_err(|e| damaged(&self.path, e.to_string())))
            .transpose()
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
        // The public data must be that of the secret (it is authenticated, so
        // this only fails on a bug or a keystore written by another program).
        let expected = public_info(&seed, self.file.public.created_at.clone())?;
        if expected != self.file.public {
            return Err(damaged(
                &self.path,
                "public data does not match the encrypted seed",
            ));
        }
        Ok(seed)
    }

    /// Re-encrypts under `new_password` with a fresh salt and nonce and the
    /// same KDF cost (raised to the defaults if below them), replacing the
    /// file atomically.
    pub fn change_password(&mut self, old: &Password, new: &Password) -> Result<()> {
        let seed = self.unlock(old)?;
        self.change_password_with(&seed, new)
    }

    /// [`Keystore::change_password`] with the seed already unlocked.
    pub fn change_password_with(&mut self, seed: &SeedMaterial, new: &Password) -> Result<()> {
        let mut kdf = KdfParams::for_new_keystore();
        if !insecure_kdf_for_tests() {
            kdf.memory_kib = kdf.memory_kib.max(self.file.kdf.memory_kib);
            kdf.iterations = kdf.iterations.max(self.file.kdf.iterations);
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
}
