//! The audit log and ledger: an append-only JSON-lines file beside the
//! keystore (`audit.jsonl`). It records every command's outcome and, in each
//! `sign` entry whose result is `signed`, every item that was signed (the
//! ledger, see [`crate::ledger`]).
//!
//! Two chains protect it:
//!
//! - The **hash chain**, checkable by anyone: `hash` is keccak256 of the
//!   entry's compact JSON with its keys sorted and without `hash`; `prev` is
//!   the previous entry's `hash` (32 zero bytes for the first). Editing,
//!   removing or reordering an entry breaks it, unless whoever did it
//!   recomputed the hashes.
//! - The **MAC chain**, checkable only with the seed: `mac` is
//!   HMAC-SHA256 under [`MacKey`] (derived from the BIP39 seed) of
//!   `"coldsign/audit-entry/v1"`, the previous MAC (32 zero bytes for the
//!   first) and the entry's compact sorted JSON without `hash` and `mac`
//!   (so it covers `seq` and `prev`). Nobody without the seed can forge,
//!   edit, remove or reorder a MACed entry, even recomputing the hashes.
//!
//! Every entry is MACed except those written when the seed could not be
//! opened (a wrong password): they carry no `mac`, may not carry ledger
//! items, and are covered by the next MACed entry through `prev`. A log
//! begun before the ledger existed starts with entries that have no MAC
//! (and no items): they are accepted before the first MACed entry only.
//!
//! Removing entries from the *end* leaves valid shorter chains: the
//! keystore keeps the head of the last recorded batch (see
//! [`crate::keystore::KeystoreFile::ledger_head`]), the hub sends back the
//! latest head it has seen, and the runbook has the operator write the hash
//! head in a paper logbook.

use crate::{
    error::{Result, SignerError},
    ledger::LedgerItem,
};
use coldsign_core::{batch::LedgerHead, B256};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Sha256, Sha512};
use std::{
    fs::OpenOptions,
    io::{BufRead, Write},
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
};
use zeroize::{Zeroize, Zeroizing};

/// The audit log's file name, in the keystore's directory.
pub const FILE_NAME: &str = "audit.jsonl";
/// The label of the MAC key's derivation from the BIP39 seed.
pub const MAC_KEY_LABEL: &str = "coldsign/audit-mac/v1";
/// The domain tag that starts every entry's MAC input.
pub const ENTRY_MAC_DOMAIN: &str = "coldsign/audit-entry/v1";

/// The key of the log's MACs: the first 32 bytes of
/// HMAC-SHA512(key = `"coldsign/audit-mac/v1"`, message = the 64-byte BIP39
/// seed). Only the seed gives it; zeroized on drop; never printed.
pub struct MacKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for MacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MacKey(<redacted>)")
    }
}

impl MacKey {
    /// Derives the key from a 64-byte BIP39 seed.
    pub fn from_seed(seed: &[u8; 64]) -> Self {
        // HMAC takes keys of any length, so this cannot fail.
        let mut h = <Hmac<Sha512> as Mac>::new_from_slice(MAC_KEY_LABEL.as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        h.update(seed);
        let mut full = h.finalize().into_bytes();
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&full[..32]);
        let bytes: &mut [u8] = &mut full;
        bytes.zeroize();
        Self(key)
    }

    fn hmac(&self) -> Hmac<Sha256> {
        <Hmac<Sha256> as Mac>::new_from_slice(self.0.as_ref())
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"))
    }
}

/// One asset total, as logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggedTotal {
    /// The symbol.
    pub asset: String,
    /// The token contract, or `None` for the native coin.
    pub token: Option<String>,
    /// The total in the asset's units.
    pub amount: String,
}

/// What an entry records, before it is chained.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Event {
    /// `init`, `sign`, `change-password`.
    pub event: String,
    /// The batch id, for batch events.
    pub batch_id: Option<u64>,
    /// The chain id, for batch events.
    pub chain_id: Option<u64>,
    /// The unsigned batch digest, for batch events.
    pub unsigned_digest: Option<B256>,
    /// The item count, for batch events.
    pub items: Option<usize>,
    /// Totals per asset, for batch events.
    pub totals: Option<Vec<LoggedTotal>>,
    /// `signed`, `refused`, `declined`, `ok`, `failed`.
    pub result: String,
    /// Why, or the output file.
    pub detail: Option<String>,
    /// The orders the operator allowed to be signed again at another nonce
    /// (`--allow-reissue`), for batch events.
    pub allowed_reissues: Option<Vec<String>>,
    /// Every signed item, for the entry that records a signed batch.
    pub ledger: Option<Vec<LedgerItem>>,
    /// The policy applied, for batch events: its file and hash, or
    /// [`NO_POLICY`] when the operator chose to sign without one.
    pub policy: Option<String>,
}

/// The `policy` of a batch entry signed with `--no-policy`.
pub const NO_POLICY: &str = "none (--no-policy)";

/// An entry as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Position in the log, from 0.
    pub seq: u64,
    /// UTC time, RFC 3339.
    pub time: String,
    /// The kind of event.
    pub event: String,
    /// The batch id.
    pub batch_id: Option<u64>,
    /// The chain id.
    pub chain_id: Option<u64>,
    /// The unsigned batch digest.
    pub unsigned_digest: Option<B256>,
    /// The item count.
    pub items: Option<usize>,
    /// Totals per asset.
    pub totals: Option<Vec<LoggedTotal>>,
    /// The outcome.
    pub result: String,
    /// Details.
    pub detail: Option<String>,
    /// Orders allowed to be signed again at another nonce (`--allow-reissue`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_reissues: Option<Vec<String>>,
    /// The signed items (the ledger), in the batch's order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger: Option<Vec<LedgerItem>>,
    /// The previous entry's hash (zero for the first).
    pub prev: B256,
    /// The MAC under the seed's [`MacKey`]; absent only for entries written
    /// without the seed (a wrong password).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<B256>,
    /// The policy applied (batch events): its file and hash, or
    /// [`NO_POLICY`]. Absent in entries written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// This entry's hash.
    pub hash: B256,
}

/// The canonical form that is hashed and MACed: the entry's fields in sorted
/// key order (what a `serde_json::Value` of the entry serialises to), without
/// `hash`, and for the MAC without `mac`. Entries without the fields added
/// for the ledger hash exactly as they did before them.
#[derive(Serialize)]
struct Canonical<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed_reissues: Option<&'a [String]>,
    batch_id: Option<u64>,
    chain_id: Option<u64>,
    detail: Option<&'a str>,
    event: &'a str,
    items: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ledger: Option<&'a [Box<RawValue>]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mac: Option<B256>,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy: Option<&'a str>,
    prev: B256,
    result: &'a str,
    seq: u64,
    time: &'a str,
    totals: Option<Vec<CanonicalTotal<'a>>>,
    unsigned_digest: Option<B256>,
}

#[derive(Serialize)]
struct CanonicalTotal<'a> {
    amount: &'a str,
    asset: &'a str,
    token: Option<&'a str>,
}

/// Each ledger item's compact JSON, serialised once on all cores: an entry
/// is hashed, MACed and written, and each of those copies these bytes
/// rather than serialising 100,000 items again. The same bytes as the items
/// serialised in place (`entry_out_writes_what_entry_writes` checks it).
fn ledger_json(ledger: Option<&[LedgerItem]>) -> Option<Vec<Box<RawValue>>> {
    use rayon::prelude::*;
    let items = ledger?;
    // Serialising these types cannot fail.
    items
        .par_iter()
        .map(serde_json::value::to_raw_value)
        .collect::<std::result::Result<Vec<_>, _>>()
        .ok()
}

/// An [`Entry`] as written, with its ledger already serialised: the same
/// fields in the same order.
#[derive(Serialize)]
struct EntryOut<'a> {
    seq: u64,
    time: &'a str,
    event: &'a str,
    batch_id: Option<u64>,
    chain_id: Option<u64>,
    unsigned_digest: Option<B256>,
    items: Option<usize>,
    totals: Option<&'a [LoggedTotal]>,
    result: &'a str,
    detail: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed_reissues: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ledger: Option<&'a [Box<RawValue>]>,
    prev: B256,
    #[serde(skip_serializing_if = "Option::is_none")]
    mac: Option<B256>,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy: Option<&'a str>,
    hash: B256,
}

impl<'a> EntryOut<'a> {
    fn new(e: &'a Entry, ledger: Option<&'a [Box<RawValue>]>) -> Self {
        Self {
            seq: e.seq,
            time: &e.time,
            event: &e.event,
            batch_id: e.batch_id,
            chain_id: e.chain_id,
            unsigned_digest: e.unsigned_digest,
            items: e.items,
            totals: e.totals.as_deref(),
            result: &e.result,
            detail: e.detail.as_deref(),
            allowed_reissues: e.allowed_reissues.as_deref(),
            ledger,
            prev: e.prev,
            mac: e.mac,
            policy: e.policy.as_deref(),
            hash: e.hash,
        }
    }
}

/// Feeds serialised bytes into a hash or MAC without buffering them (a
/// 100,000-item entry is tens of MB).
struct Feed<F: FnMut(&[u8])>(F);

impl<F: FnMut(&[u8])> Write for Feed<F> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        (self.0)(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Entry {
    fn canonical<'a>(
        &'a self,
        with_mac: bool,
        ledger: Option<&'a [Box<RawValue>]>,
    ) -> Canonical<'a> {
        Canonical {
            allowed_reissues: self.allowed_reissues.as_deref(),
            batch_id: self.batch_id,
            chain_id: self.chain_id,
            detail: self.detail.as_deref(),
            event: &self.event,
            items: self.items,
            ledger,
            mac: if with_mac { self.mac } else { None },
            policy: self.policy.as_deref(),
            prev: self.prev,
            result: &self.result,
            seq: self.seq,
            time: &self.time,
            totals: self.totals.as_ref().map(|t| {
                t.iter()
                    .map(|t| CanonicalTotal {
                        amount: &t.amount,
                        asset: &t.asset,
                        token: t.token.as_deref(),
                    })
                    .collect()
            }),
            unsigned_digest: self.unsigned_digest,
        }
    }

    /// keccak256 of the entry's compact JSON, keys sorted, without `hash`.
    pub fn compute_hash(&self) -> B256 {
        self.compute_hash_with(ledger_json(self.ledger.as_deref()).as_deref())
    }

    /// The MAC of this entry under `key`, after the MAC `prev_mac`.
    pub fn compute_mac(&self, key: &MacKey, prev_mac: &B256) -> B256 {
        self.compute_mac_with(
            key,
            prev_mac,
            ledger_json(self.ledger.as_deref()).as_deref(),
        )
    }

    /// [`Entry::compute_hash`] with the ledger already serialised.
    fn compute_hash_with(&self, ledger: Option<&[Box<RawValue>]>) -> B256 {
        use sha3::Digest;
        let mut k = sha3::Keccak256::new();
        // Writing into a hash cannot fail, and these types always serialise.
        let _ = serde_json::to_writer(Feed(|b: &[u8]| k.update(b)), &self.canonical(true, ledger));
        B256(k.finalize().into())
    }

    /// [`Entry::compute_mac`] with the ledger already serialised.
    fn compute_mac_with(
        &self,
        key: &MacKey,
        prev_mac: &B256,
        ledger: Option<&[Box<RawValue>]>,
    ) -> B256 {
        let mut m = key.hmac();
        m.update(ENTRY_MAC_DOMAIN.as_bytes());
        m.update(prev_mac.as_bytes());
        let _ = serde_json::to_writer(Feed(|b: &[u8]| m.update(b)), &self.canonical(false, ledger));
        B256(m.finalize().into_bytes().into())
    }

    /// The fingerprint an `init` entry names (`fingerprint 1a2b3c4d…`).
    pub fn init_fingerprint(&self) -> Option<&str> {
        if self.event != "init" {
            return None;
        }
        let rest = self.detail.as_deref()?.strip_prefix("fingerprint ")?;
        Some(rest.split([' ', ';', ',']).next().unwrap_or(rest))
    }
}

/// Opens the log for reading without blocking (a FIFO in its place never
/// hangs the signer), refusing anything but a regular file.
fn open_log(path: &Path) -> std::io::Result<std::fs::File> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "it is not a regular file (a FIFO, device or directory): refusing to read it",
        ));
    }
    Ok(file)
}

/// The audit log of one keystore.
#[derive(Debug, Clone)]
pub struct AuditLog {
    path: PathBuf,
}

/// The state of a verified log: where its chains end.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scan {
    /// Number of entries.
    pub entries: u64,
    /// The hash of the last entry (zero if empty).
    pub head: B256,
    /// The last MACed entry: the ledger's head.
    pub ledger_head: Option<LedgerHead>,
    /// Entries after the last MACed one (written without the seed).
    pub unmaced_tail: u64,
    /// Whether the MACs were checked (a key was given).
    pub macs_checked: bool,
    /// The file's length when it was read: appends check it is unchanged.
    len: u64,
}

/// The current UTC time to the second, RFC 3339 (`2026-11-21T09:30:00Z`).
pub(crate) fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

impl AuditLog {
    /// The log beside `keystore`.
    pub fn beside(keystore: &Path) -> Self {
        let dir = match keystore.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        Self {
            path: dir.join(FILE_NAME),
        }
    }

    /// The log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, reason: impl Into<String>) -> SignerError {
        SignerError::Audit {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    fn forged(&self, reason: impl Into<String>) -> SignerError {
        SignerError::LedgerIntegrity {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    /// Reads every entry in order, checking the hash chain and, with `key`,
    /// the MAC chain, and hands each verified entry to `visit`. Reads line
    /// by line, so only what `visit` keeps stays in memory.
    ///
    /// A broken hash chain is [`SignerError::Audit`]; a MAC that does not
    /// verify, or a ledger entry without a MAC, is
    /// [`SignerError::LedgerIntegrity`].
    pub fn scan(
        &self,
        key: Option<&MacKey>,
        mut visit: impl FnMut(Entry) -> Result<()>,
    ) -> Result<Scan> {
        let file = match open_log(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Scan {
                    macs_checked: key.is_some(),
                    ..Scan::default()
                })
            }
            Err(e) => {
                return Err(SignerError::io(
                    format!("cannot read {}", self.path.display()),
                    e,
                ))
            }
        };
        let mut reader = std::io::BufReader::with_capacity(1 << 16, file);
        let mut scan = Scan {
            macs_checked: key.is_some(),
            ..Scan::default()
        };
        let mut prev_mac = B256::default();
        let mut line = String::new();
        loop {
            line.clear();
            let n = reader
                .read_line(&mut line)
                .map_err(|e| SignerError::io(format!("cannot read {}", self.path.display()), e))?;
            if n == 0 {
                break;
            }
            scan.len += n as u64;
            let line_no = scan.entries + 1;
            if !line.ends_with('\n') {
                return Err(self.err("the last line is incomplete (truncated or edited)"));
            }
            let entry: Entry = serde_json::from_str(&line).map_err(|e| {
                self.err(format!(
                    "line {line_no} is not a valid entry: {}",
                    crate::term::field(&e.to_string())
                ))
            })?;
            if line.capacity() > 1 << 20 {
                // A batch's entry can be tens of MB: free it at once.
                line = String::new();
            }
            if entry.seq != scan.entries {
                return Err(self.err(format!(
                    "line {line_no} has seq {} where {} was expected (an entry was removed or reordered)",
                    entry.seq, scan.entries
                )));
            }
            if entry.prev != scan.head {
                return Err(self.err(format!(
                    "line {line_no} does not follow the previous entry (an entry was removed, reordered or edited)"
                )));
            }
            if entry.compute_hash() != entry.hash {
                return Err(self.err(format!(
                    "line {line_no} was edited (its hash does not match its content)"
                )));
            }
            match entry.mac {
                Some(mac) => {
                    if let Some(key) = key {
                        if entry.compute_mac(key, &prev_mac) != mac {
                            return Err(self.forged(format!(
                                "line {line_no} (entry {}) fails its MAC: the log was edited, entries were removed or reordered and the hashes recomputed, or it was written by another wallet's seed",
                                entry.seq
                            )));
                        }
                    }
                    prev_mac = mac;
                    scan.ledger_head = Some(LedgerHead {
                        seq: entry.seq,
                        mac,
                    });
                    scan.unmaced_tail = 0;
                }
                None => {
                    // Before the first MAC: a log begun before the ledger.
                    let needs_mac = entry.ledger.is_some()
                        || (scan.ledger_head.is_some()
                            && (entry.event == "init" || entry.result == "signed"));
                    if needs_mac {
                        return Err(self.forged(format!(
                            "line {line_no} (entry {}) records a {} {} without a MAC: it was forged or its MAC removed",
                            entry.seq, entry.event, entry.result
                        )));
                    }
                    scan.unmaced_tail += 1;
                }
            }
            scan.head = entry.hash;
            scan.entries += 1;
            visit(entry)?;
        }
        Ok(scan)
    }

    /// Reads every entry, checking the hash chain only (no key needed).
    pub fn read_verified(&self) -> Result<(Vec<Entry>, Scan)> {
        let mut entries = Vec::new();
        let scan = self.scan(None, |e| {
            entries.push(e);
            Ok(())
        })?;
        Ok((entries, scan))
    }

    /// Appends `event` to the log that `after` describes (from
    /// [`AuditLog::scan`] in this process: a broken log is never extended,
    /// and a log that changed since is refused), MACed under `key` when
    /// given, and fsyncs the file. Returns the new state.
    pub fn append(&self, after: &Scan, event: Event, key: Option<&MacKey>) -> Result<Scan> {
        let now_len = match std::fs::metadata(&self.path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => {
                return Err(SignerError::io(
                    format!("cannot read {}", self.path.display()),
                    e,
                ))
            }
        };
        if now_len != after.len {
            return Err(self.err(
                "the log changed while this command ran: not appending (run the command again)",
            ));
        }
        if event.ledger.is_some() && key.is_none() {
            return Err(SignerError::Unexpected(
                "a ledger entry must be MACed".into(),
            ));
        }
        let mut entry = Entry {
            seq: after.entries,
            time: now_rfc3339(),
            event: event.event,
            batch_id: event.batch_id,
            chain_id: event.chain_id,
            unsigned_digest: event.unsigned_digest,
            items: event.items,
            totals: event.totals,
            result: event.result,
            detail: event.detail,
            allowed_reissues: event.allowed_reissues.filter(|a| !a.is_empty()),
            ledger: event.ledger,
            prev: after.head,
            policy: event.policy,
            mac: None,
            hash: B256::default(),
        };
        let ledger = ledger_json(entry.ledger.as_deref());
        if let Some(key) = key {
            let prev_mac = after.ledger_head.map(|h| h.mac).unwrap_or_default();
            entry.mac = Some(entry.compute_mac_with(key, &prev_mac, ledger.as_deref()));
        }
        entry.hash = entry.compute_hash_with(ledger.as_deref());
        let ctx = || format!("cannot append to {}", self.path.display());
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&self.path)
            .map_err(|e| SignerError::io(ctx(), e))?;
        let mut w = std::io::BufWriter::with_capacity(1 << 16, &file);
        serde_json::to_writer(&mut w, &EntryOut::new(&entry, ledger.as_deref()))
            .map_err(std::io::Error::from)
            .and_then(|()| w.write_all(b"\n"))
            .and_then(|()| w.flush())
            .map_err(|e| SignerError::io(ctx(), e))?;
        drop(w);
        file.sync_all().map_err(|e| SignerError::io(ctx(), e))?;
        let len = std::fs::metadata(&self.path)
            .map_err(|e| SignerError::io(ctx(), e))?
            .len();
        Ok(Scan {
            entries: after.entries + 1,
            head: entry.hash,
            ledger_head: match entry.mac {
                Some(mac) => Some(LedgerHead {
                    seq: entry.seq,
                    mac,
                }),
                None => after.ledger_head,
            },
            unmaced_tail: if entry.mac.is_some() {
                0
            } else {
                after.unmaced_tail + 1
            },
            macs_checked: after.macs_checked,
            len,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn key(byte: u8) -> MacKey {
        MacKey::from_seed(&[byte; 64])
    }

    fn entry(seq: u64) -> Entry {
        Entry {
            seq,
            time: "2026-11-21T06:01:02Z".into(),
            event: "sign".into(),
            batch_id: Some(7),
            chain_id: Some(1),
            unsigned_digest: Some(B256([3; 32])),
            items: Some(6),
            totals: Some(vec![LoggedTotal {
                asset: "ETH".into(),
                token: None,
                amount: "1.5".into(),
            }]),
            result: "signed".into(),
            detail: Some("wrote x".into()),
            allowed_reissues: None,
            ledger: None,
            prev: B256([1; 32]),
            mac: None,
            policy: None,
            hash: B256::default(),
        }
    }

    #[test]
    fn the_hash_is_over_the_sorted_json_as_before_the_ledger() {
        // The original definition: keccak256 of the serde_json::Value of the
        // entry (a sorted map) without `hash`.
        let e = entry(1);
        let mut v = serde_json::to_value(&e).unwrap();
        v.as_object_mut().unwrap().remove("hash");
        let old = coldsign_core::keccak256(serde_json::to_vec(&v).unwrap());
        assert_eq!(e.compute_hash(), old);

        let mut with_mac = entry(1);
        with_mac.mac = Some(B256([9; 32]));
        with_mac.allowed_reissues = Some(vec!["o-1".into()]);
        with_mac.policy = Some(NO_POLICY.into());
        let mut v = serde_json::to_value(&with_mac).unwrap();
        v.as_object_mut().unwrap().remove("hash");
        let sorted = coldsign_core::keccak256(serde_json::to_vec(&v).unwrap());
        assert_eq!(with_mac.compute_hash(), sorted);
    }

    fn ledger_item(n: u8) -> crate::ledger::LedgerItem {
        crate::ledger::LedgerItem {
            data_hash: B256([n; 32]),
            from: coldsign_core::Address([n; 20]),
            kind: coldsign_core::batch::ItemKind::Payment,
            nonce: u64::from(n),
            order_id: format!("o-{n}"),
            recipient: n
                .is_multiple_of(2)
                .then_some(coldsign_core::Address([n ^ 0xff; 20])),
            signing_hash: B256([n ^ 1; 32]),
            to: coldsign_core::Address([n ^ 2; 20]),
            tx_hash: B256([n ^ 3; 32]),
            value: coldsign_core::U256::from(u64::from(n) * 1_000),
        }
    }

    #[test]
    fn entry_out_writes_what_entry_writes() {
        // The ledger serialised once, ahead, gives the bytes serde writes for
        // the entry itself, and the hash of the sorted JSON as defined.
        let mut e = entry(3);
        e.ledger = Some((0..40).map(ledger_item).collect());
        e.mac = Some(B256([9; 32]));
        e.policy = Some("policy.toml 0xab".into());
        e.allowed_reissues = Some(vec!["o-1".into()]);
        e.hash = B256([4; 32]);
        let ledger = ledger_json(e.ledger.as_deref());
        assert_eq!(
            serde_json::to_string(&EntryOut::new(&e, ledger.as_deref())).unwrap(),
            serde_json::to_string(&e).unwrap()
        );
        let mut v = serde_json::to_value(&e).unwrap();
        v.as_object_mut().unwrap().remove("hash");
        let sorted = coldsign_core::keccak256(serde_json::to_vec(&v).unwrap());
        assert_eq!(e.compute_hash(), sorted);
        assert_eq!(e.compute_hash_with(ledger.as_deref()), sorted);
        let (k, prev) = (key(5), B256([6; 32]));
        assert_eq!(
            e.compute_mac_with(&k, &prev, ledger.as_deref()),
            e.compute_mac(&k, &prev)
        );
    }

    #[test]
    fn the_mac_depends_on_key_content_seq_and_previous_mac() {
        let e = entry(1);
        let zero = B256::default();
        let m = e.compute_mac(&key(1), &zero);
        assert_ne!(m, e.compute_mac(&key(2), &zero));
        assert_ne!(m, e.compute_mac(&key(1), &B256([5; 32])));
        assert_ne!(m, entry(2).compute_mac(&key(1), &zero));
        let mut edited = entry(1);
        edited.items = Some(5);
        assert_ne!(m, edited.compute_mac(&key(1), &zero));
        // The MAC does not cover itself or the hash.
        let mut stamped = entry(1);
        stamped.mac = Some(m);
        stamped.hash = B256([7; 32]);
        assert_eq!(m, stamped.compute_mac(&key(1), &zero));
    }

    #[test]
    fn mac_key_derivation_is_pinned_and_hidden() {
        // HMAC-SHA512(key = "coldsign/audit-mac/v1", msg = 64 zero bytes)[..32],
        // computed independently with Python's hmac module.
        let k = MacKey::from_seed(&[0u8; 64]);
        assert_eq!(
            hex::encode(k.0.as_ref()),
            "159b0f4833e7e9c88dbaada4e46d76fb67e6b392ff1fedc29b4251f75956dbcd"
        );
        assert_eq!(format!("{k:?}"), "MacKey(<redacted>)");
    }

    fn event(name: &str, result: &str) -> Event {
        Event {
            event: name.into(),
            result: result.into(),
            ..Event::default()
        }
    }

    #[test]
    fn a_log_begun_before_the_ledger_is_accepted_until_its_first_mac() {
        let dir = std::env::temp_dir().join(format!("coldsign-audit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = AuditLog::beside(&dir.join("keystore.json"));
        let _ = std::fs::remove_file(log.path());
        let k = key(1);
        // What the signer wrote before the ledger existed: no MACs.
        let s = log.scan(None, |_| Ok(())).unwrap();
        let s = log.append(&s, event("init", "ok"), None).unwrap();
        log.append(&s, event("sign", "signed"), None).unwrap();
        let s = log.scan(Some(&k), |_| Ok(())).unwrap();
        assert_eq!((s.entries, s.ledger_head), (2, None));
        // The first MACed entry starts the ledger...
        let s = log.append(&s, event("sign", "signed"), Some(&k)).unwrap();
        assert_eq!(s.ledger_head.map(|h| h.seq), Some(2));
        let s = log.scan(Some(&k), |_| Ok(())).unwrap();
        assert_eq!(s.ledger_head.map(|h| h.seq), Some(2));
        // ...a wrong password's entry may follow without a MAC...
        let s = log.append(&s, event("sign", "refused"), None).unwrap();
        assert_eq!(log.scan(Some(&k), |_| Ok(())).unwrap().unmaced_tail, 1);
        // ...but no signed batch may follow without one.
        log.append(&s, event("sign", "signed"), None).unwrap();
        let err = log.scan(None, |_| Ok(())).unwrap_err();
        assert!(matches!(err, SignerError::LedgerIntegrity { .. }), "{err}");
        assert!(err.to_string().contains("without a MAC"), "{err}");
        // A ledger entry is never written without a key.
        let s = AuditLog::beside(&dir.join("other/keystore.json"));
        let mut with_items = event("sign", "signed");
        with_items.ledger = Some(Vec::new());
        assert!(s.append(&Scan::default(), with_items, None).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn init_fingerprint_is_read_from_the_detail() {
        let mut e = entry(0);
        e.event = "init".into();
        e.detail = Some("fingerprint 1a2b3c4d; keystore re-created".into());
        assert_eq!(e.init_fingerprint(), Some("1a2b3c4d"));
        e.detail = Some("fingerprint 1a2b3c4d".into());
        assert_eq!(e.init_fingerprint(), Some("1a2b3c4d"));
        e.event = "sign".into();
        assert_eq!(e.init_fingerprint(), None);
    }
}
