//! Errors of batch construction and parsing.

use super::summary::SummaryError;
use crate::{address::Address, hash::B256, transaction::TxValidityError};
use thiserror::Error;

/// Why a batch file (or a batch being built) was refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum BatchError {
    /// Not JSON, or a missing, unknown or mistyped field.
    #[error("batch file is not valid: {0}")]
    Json(String),
    /// The `format` field is missing or names another format.
    #[error("not a {expected} file (format is {found:?})")]
    UnknownFormat {
        /// The format expected.
        expected: &'static str,
        /// The format found, if any.
        found: Option<String>,
    },
    /// A version this build does not read.
    #[error("unsupported batch file version {0:?} (this build reads version 1)")]
    UnsupportedVersion(Option<u64>),
    /// `created_at` is not `YYYY-MM-DDTHH:MM:SSZ`.
    #[error("created_at {0:?} is not a UTC timestamp like 2026-01-31T12:00:00Z")]
    BadTimestamp(String),
    /// A batch with no items.
    #[error("batch has no items")]
    Empty,
    /// Too many items.
    #[error("batch has {0} items, more than the {max} allowed", max = super::MAX_ITEMS)]
    TooManyItems(usize),
    /// Two items share an order id.
    #[error("order id {0:?} appears more than once")]
    DuplicateOrderId(String),
    /// Two items spend the same nonce of the same sender.
    #[error("orders {first:?} and {second:?} both use nonce {nonce} of {from}")]
    DuplicateNonce {
        /// The sender.
        from: Address,
        /// The nonce used twice.
        nonce: u64,
        /// The first order using it.
        first: String,
        /// The second order using it.
        second: String,
    },
    /// One item is invalid.
    #[error("item {index} (order {order_id:?}): {reason}")]
    Item {
        /// Position in the file, from 0.
        index: usize,
        /// The item's order id.
        order_id: String,
        /// What is wrong with it.
        reason: ItemError,
    },
    /// The digest stated in the file differs from the one recomputed.
    #[error("batch digest mismatch: file states {stated}, content hashes to {computed} (the file was edited or damaged)")]
    DigestMismatch {
        /// Digest in the file.
        stated: B256,
        /// Digest of the content.
        computed: B256,
    },
}

/// What is wrong with one unsigned item.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ItemError {
    /// Empty, too long, or with spaces or control characters.
    #[error("order id must be 1-128 printable ASCII characters without spaces")]
    BadOrderId,
    /// Not a BIP32 path like `m/44'/60'/0'/0/7`.
    #[error("derivation path {0:?} is not a valid BIP32 path")]
    BadDerivationPath(String),
    /// The transaction's chain id is not the batch's.
    #[error("transaction chain id {found} differs from the batch chain id {expected}")]
    ChainIdMismatch {
        /// The batch's chain id.
        expected: u64,
        /// The item's chain id.
        found: u64,
    },
    /// The transaction is invalid as a transaction.
    #[error("{0}")]
    Invalid(#[from] TxValidityError),
    /// The stated signing hash is not the hash of the fields.
    #[error("signing hash {stated} differs from {computed} recomputed from the fields")]
    SigningHashMismatch {
        /// Hash in the file.
        stated: B256,
        /// Hash of the fields.
        computed: B256,
    },
    /// The human summary disagrees with the transaction.
    #[error("summary disagrees with the transaction: {0}")]
    Summary(#[from] SummaryError),
    /// A void that is not a 0-value native transfer from the sender to itself.
    #[error("a void item must be a 0-value native transfer from the sender to itself")]
    BadVoid,
    /// `kind` written as `"payment"`: a payment is written without `kind`.
    #[error("\"kind\": \"payment\" is not canonical: a payment has no kind field")]
    ExplicitPaymentKind,
}
