//! The batch files that travel between the hub and the air-gapped signer,
//! version 1: the unsigned batch, the signed batch, their strict parsing, the
//! item-by-item verification of one against the other, and their file names.
//!
//! The format is documented in `docs/batch-format.md`.

mod error;
mod file_name;
mod signed;
mod summary;
mod tx_json;
mod unsigned;
mod verify;

pub use error::{BatchError, ItemError};
pub use file_name::{signed_file_name_for, unsigned_file_name, BatchFileKind, BatchFileName};
pub use signed::{SignedBatch, SignedItem};
pub use summary::{Summary, SummaryError};
pub use unsigned::{UnsignedBatch, UnsignedItem, UnsignedItemDraft};
pub use verify::{ItemFailure, ItemFailureReason, VerifiedItem, VerifyError};

/// Format identifier of unsigned batch files.
pub const UNSIGNED_FORMAT: &str = "coldsign/unsigned-batch";
/// Format identifier of signed batch files.
pub const SIGNED_FORMAT: &str = "coldsign/signed-batch";
/// The one version of the formats this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// What an unsigned item does with its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemKind {
    /// Pays the order (the default: written without a `kind` field).
    Payment,
    /// Cancels the order by consuming its nonce with a 0-value transfer
    /// from the sender to itself, so that no earlier signed version of the
    /// order can ever be mined.
    Void,
}

/// The head of the signer's ledger: the sequence number of its last entry
/// and that entry's MAC. Signed files carry the head after their batch was
/// recorded; unsigned files carry the latest head the hub has seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerHead {
    /// The sequence number of the last entry, from 0.
    pub seq: u64,
    /// The last entry's MAC (keyed by a key derived from the seed).
    pub mac: crate::hash::B256,
}

/// The most items one batch may hold.
pub const MAX_ITEMS: usize = 1_000_000;

/// Reads `format` and `version` before anything else, so an unknown format or
/// a future version gets its own clear error rather than a field error.
fn check_header(json: &str, expected_format: &'static str) -> Result<(), BatchError> {
    #[derive(serde::Deserialize)]
    struct Header {
        format: Option<String>,
        version: Option<u64>,
    }
    let header: Header = serde_json::from_str(json).map_err(|e| BatchError::Json(e.to_string()))?;
    match header.format.as_deref() {
        Some(f) if f == expected_format => {}
        other => {
            return Err(BatchError::UnknownFormat {
                expected: expected_format,
                found: other.map(str::to_owned),
            })
        }
    }
    match header.version {
        Some(v) if v == u64::from(FORMAT_VERSION) => Ok(()),
        other => Err(BatchError::UnsupportedVersion(other)),
    }
}

/// An order id: 1 to 128 printable ASCII characters, no spaces.
fn check_order_id(order_id: &str) -> Result<(), ItemError> {
    let ok = !order_id.is_empty()
        && order_id.len() <= 128
        && order_id.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(ItemError::BadOrderId)
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ`, with plausible field ranges.
fn check_timestamp(ts: &str) -> Result<(), BatchError> {
    let b = ts.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let num = |r: std::ops::Range<usize>| ts[r].parse::<u32>().unwrap_or(u32::MAX);
    let shape = b.len() == 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[19] == b'Z';
    let ranges = shape
        && (1..=12).contains(&num(5..7))
        && (1..=31).contains(&num(8..10))
        && num(11..13) < 24
        && num(14..16) < 60
        && num(17..19) < 61;
    if ranges {
        Ok(())
    } else {
        Err(BatchError::BadTimestamp(ts.to_owned()))
    }
}
