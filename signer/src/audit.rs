//! The audit log: an append-only JSON-lines file beside the keystore
//! (`audit.jsonl`). Each entry carries the hash of the previous one, so
//! editing, removing or reordering any entry breaks the chain, which
//! `signer audit verify` detects.
//!
//! The hash of an entry is keccak256 of its compact JSON without the `hash`
//! field; the first entry's `prev` is 32 zero bytes. Removing entries from
//! the *end* leaves a valid shorter chain: `signer sign` prints the new head
//! hash, and the runbook has the operator write it down, so a truncated log
//! shows up as a head that does not match the last recorded one.

use crate::error::{Result, SignerError};
use coldsign_core::{keccak256, B256};
use serde::{Deserialize, Serialize};
use std::{
    fs::OpenOptions,
    io::Write,
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
};

/// The audit log's file name, in the keystore's directory.
pub const FILE_NAME: &str = "audit.jsonl";

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
}

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
    /// The previous entry's hash (zero for the first).
    pub prev: B256,
    /// This entry's hash.
    pub hash: B256,
}

impl Entry {
    fn compute_hash(&self) -> B256 {
        let mut unhashed = self.clone();
        unhashed.hash = B256::default();
        let mut v = serde_json::to_value(&unhashed).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.remove("hash");
        }
        keccak256(serde_json::to_vec(&v).unwrap_or_default())
    }
}

/// The audit log of one keystore.
#[derive(Debug, Clone)]
pub struct AuditLog {
    path: PathBuf,
}

/// The result of verifying the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Number of entries.
    pub entries: u64,
    /// The hash of the last entry (zero if empty).
    pub head: B256,
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

    /// Reads every entry, checking the chain.
    pub fn read_verified(&self) -> Result<(Vec<Entry>, Verified)> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => {
                return Err(SignerError::io(
                    format!("cannot read {}", self.path.display()),
                    e,
                ))
            }
        };
        if !text.is_empty() && !text.ends_with('\n') {
            return Err(self.err("the last line is incomplete (truncated or edited)"));
        }
        let mut entries = Vec::new();
        let mut prev = B256::default();
        for (n, line) in text.lines().enumerate() {
            let line_no = n + 1;
            let entry: Entry = serde_json::from_str(line)
                .map_err(|e| self.err(format!("line {line_no} is not a valid entry: {e}")))?;
            let seq = u64::try_from(n).unwrap_or(u64::MAX);
            if entry.seq != seq {
                return Err(self.err(format!(
                    "line {line_no} has seq {} where {seq} was expected (an entry was removed or reordered)",
                    entry.seq
                )));
            }
            if entry.prev != prev {
                return Err(self.err(format!(
                    "line {line_no} does not follow the previous entry (an entry was removed, reordered or edited)"
                )));
            }
            if entry.compute_hash() != entry.hash {
                return Err(self.err(format!(
                    "line {line_no} was edited (its hash does not match its content)"
                )));
            }
            prev = entry.hash;
            entries.push(entry);
        }
        let verified = Verified {
            entries: u64::try_from(entries.len()).unwrap_or(u64::MAX),
            head: prev,
        };
        Ok((entries, verified))
    }

    /// Appends `event` after verifying the existing chain (a broken log is
    /// never extended), fsyncing the file. Returns the new head.
    pub fn append(&self, event: Event) -> Result<Verified> {
        let (_, before) = self.read_verified()?;
        let mut entry = Entry {
            seq: before.entries,
            time: now_rfc3339(),
            event: event.event,
            batch_id: event.batch_id,
            chain_id: event.chain_id,
            unsigned_digest: event.unsigned_digest,
            items: event.items,
            totals: event.totals,
            result: event.result,
            detail: event.detail,
            prev: before.head,
            hash: B256::default(),
        };
        entry.hash = entry.compute_hash();
        let mut line =
            serde_json::to_string(&entry).map_err(|e| SignerError::Unexpected(e.to_string()))?;
        line.push('\n');
        let ctx = || format!("cannot append to {}", self.path.display());
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&self.path)
            .map_err(|e| SignerError::io(ctx(), e))?;
        f.write_all(line.as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(|e| SignerError::io(ctx(), e))?;
        Ok(Verified {
            entries: before.entries + 1,
            head: entry.hash,
        })
    }
}
