//! The signed batch: what the signer writes and the hub uploads.

use super::{
    check_header, unsigned::UnsignedBatch, BatchError, LedgerHead, FORMAT_VERSION, MAX_ITEMS,
    SIGNED_FORMAT,
};
use crate::{hash::B256, hex_data::serde_hex::bytes, transaction::SignedTransaction};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// One signed item as it stands in the file: not yet verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedItem {
    /// The order id of the unsigned item it answers.
    pub order_id: String,
    /// The raw signed transaction (EIP-2718 bytes).
    #[serde(with = "bytes")]
    pub raw_transaction: Vec<u8>,
    /// keccak256 of the raw transaction.
    pub tx_hash: B256,
}

/// A signed batch file, parsed but not yet verified against its unsigned
/// batch: use [`SignedBatch::verify_against`] before trusting any item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedBatch {
    format: String,
    version: u32,
    /// The batch id.
    pub batch_id: u64,
    /// The chain id.
    pub chain_id: u64,
    /// The digest of the unsigned batch this file answers.
    pub unsigned_digest: B256,
    /// The head of the signer's ledger once this batch was recorded in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger_head: Option<LedgerHead>,
    /// The signed items, in the unsigned batch's order.
    pub items: Vec<SignedItem>,
}

impl SignedBatch {
    /// Assembles the signed batch answering `unsigned`, from signed
    /// transactions given in the unsigned batch's item order.
    ///
    /// # Warning
    /// This does not check the signatures; the signer checks each one as it
    /// signs, and the hub re-checks everything with `verify_against`.
    pub fn from_signed_transactions(
        unsigned: &UnsignedBatch,
        signed: &[SignedTransaction],
    ) -> Self {
        let items = unsigned
            .items()
            .iter()
            .zip(signed)
            .map(|(item, tx)| SignedItem {
                order_id: item.order_id().to_owned(),
                raw_transaction: tx.raw().to_vec(),
                tx_hash: tx.hash(),
            })
            .collect();
        Self {
            format: SIGNED_FORMAT.to_owned(),
            version: FORMAT_VERSION,
            batch_id: unsigned.batch_id(),
            chain_id: unsigned.chain_id(),
            unsigned_digest: unsigned.digest(),
            ledger_head: None,
            items,
        }
    }

    /// The same file, carrying the signer's ledger head.
    pub fn with_ledger_head(mut self, head: LedgerHead) -> Self {
        self.ledger_head = Some(head);
        self
    }

    /// Parses a signed batch file: format, version, fields, hex, and unique
    /// order ids. The transactions themselves are checked by
    /// [`SignedBatch::verify_against`], item by item.
    pub fn parse(json: &str) -> Result<Self, BatchError> {
        check_header(json, SIGNED_FORMAT)?;
        let batch: Self =
            serde_json::from_str(json).map_err(|e| BatchError::Json(e.to_string()))?;
        if batch.items.is_empty() {
            return Err(BatchError::Empty);
        }
        if batch.items.len() > MAX_ITEMS {
            return Err(BatchError::TooManyItems(batch.items.len()));
        }
        let mut seen = HashSet::with_capacity(batch.items.len());
        for item in &batch.items {
            if !seen.insert(item.order_id.as_str()) {
                return Err(BatchError::DuplicateOrderId(item.order_id.clone()));
            }
        }
        Ok(batch)
    }

    /// The file's text: pretty-printed JSON ending in a newline.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }
}
