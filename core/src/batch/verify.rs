//! Verification of a signed batch against the unsigned batch it answers.

use super::{
    signed::{SignedBatch, SignedItem},
    unsigned::UnsignedBatch,
};
use crate::{
    address::Address,
    hash::{keccak256, B256},
    signature::SignatureError,
    transaction::{SignedTransaction, TxDecodeError},
};
use std::collections::HashMap;
use thiserror::Error;

/// An item that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedItem {
    /// The order id.
    pub order_id: String,
    /// The signed transaction, decoded and checked.
    pub signed: SignedTransaction,
}

/// Why one item of a signed batch was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ItemFailureReason {
    /// The order is in the unsigned batch but not in the signed file.
    #[error("missing from the signed file")]
    Missing,
    /// The signed file has an order the unsigned batch does not.
    #[error("not in the exported batch")]
    Unexpected,
    /// The order stands at another position than it was exported at.
    #[error("out of order: exported at position {exported}, signed at {signed}")]
    OutOfOrder {
        /// Position in the unsigned batch.
        exported: usize,
        /// Position in the signed file.
        signed: usize,
    },
    /// The raw transaction does not decode strictly for the batch's chain.
    #[error("raw transaction does not decode: {0}")]
    Decode(#[from] TxDecodeError),
    /// The decoded fields differ from the exported ones.
    #[error("signed transaction differs from the exported one ({0})")]
    FieldsDiffer(&'static str),
    /// No sender recovers from the signature.
    #[error("signature does not recover: {0}")]
    Unrecoverable(#[from] SignatureError),
    /// The signature recovers to another address than the item's sender.
    #[error("signed by {recovered}, expected {expected}")]
    WrongSigner {
        /// The item's sender.
        expected: Address,
        /// The address the signature recovers to.
        recovered: Address,
    },
    /// The stated transaction hash is not the hash of the raw bytes.
    #[error("tx_hash {stated} is not the hash of the raw transaction ({computed})")]
    HashMismatch {
        /// Hash in the file.
        stated: B256,
        /// Hash of the raw bytes.
        computed: B256,
    },
}

/// One refused item.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("order {order_id:?}: {reason}")]
pub struct ItemFailure {
    /// The order id.
    pub order_id: String,
    /// Why it was refused.
    pub reason: ItemFailureReason,
}

/// Why a signed batch does not answer its unsigned batch.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The signed file is for another batch.
    #[error("signed file is for batch {found}, expected batch {expected}")]
    BatchIdMismatch {
        /// The exported batch's id.
        expected: u64,
        /// The id in the signed file.
        found: u64,
    },
    /// The signed file is for another chain.
    #[error("signed file is for chain {found}, expected chain {expected}")]
    ChainIdMismatch {
        /// The exported batch's chain.
        expected: u64,
        /// The chain in the signed file.
        found: u64,
    },
    /// The signed file answers another version of the unsigned batch.
    #[error(
        "signed file answers unsigned digest {found}, but the exported batch has digest {expected}"
    )]
    DigestMismatch {
        /// The exported batch's digest.
        expected: B256,
        /// The digest in the signed file.
        found: B256,
    },
    /// Some items failed; each is listed.
    #[error("{} of {total} item(s) failed verification: {}", failures.len(), failures.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Items {
        /// Items in the exported batch.
        total: usize,
        /// Every failing item, with its reason.
        failures: Vec<ItemFailure>,
    },
}

impl SignedBatch {
    /// Checks this signed file against the exported `unsigned` batch, item by
    /// item: same batch, chain and digest; the same order ids in the same
    /// order; each raw transaction decodes strictly to exactly the exported
    /// fields, its hash is the stated one, and its signature recovers to the
    /// item's sender. Every failing item is reported, not just the first.
    pub fn verify_against(
        &self,
        unsigned: &UnsignedBatch,
    ) -> Result<Vec<VerifiedItem>, VerifyError> {
        self.verify_against_parallel(unsigned, 1)
    }

    /// [`SignedBatch::verify_against`] with the per-item checks (decoding,
    /// hashing, signature recovery) spread over `threads` scoped threads.
    /// The result is the same as with one thread, item for item and in the
    /// same order; `0` counts as `1`.
    pub fn verify_against_parallel(
        &self,
        unsigned: &UnsignedBatch,
        threads: usize,
    ) -> Result<Vec<VerifiedItem>, VerifyError> {
        if self.batch_id != unsigned.batch_id() {
            return Err(VerifyError::BatchIdMismatch {
                expected: unsigned.batch_id(),
                found: self.batch_id,
            });
        }
        if self.chain_id != unsigned.chain_id() {
            return Err(VerifyError::ChainIdMismatch {
                expected: unsigned.chain_id(),
                found: self.chain_id,
            });
        }
        if self.unsigned_digest != unsigned.digest() {
            return Err(VerifyError::DigestMismatch {
                expected: unsigned.digest(),
                found: self.unsigned_digest,
            });
        }
        let exported: HashMap<&str, usize> = unsigned
            .items()
            .iter()
            .enumerate()
            .map(|(i, item)| (item.order_id(), i))
            .collect();
        // Where each signed item belongs, or why it belongs nowhere.
        let placed: Vec<Result<usize, ItemFailureReason>> = self
            .items
            .iter()
            .enumerate()
            .map(
                |(position, item)| match exported.get(item.order_id.as_str()) {
                    None => Err(ItemFailureReason::Unexpected),
                    Some(&index) if index != position => Err(ItemFailureReason::OutOfOrder {
                        exported: index,
                        signed: position,
                    }),
                    Some(&index) => Ok(index),
                },
            )
            .collect();
        let check = |(item, placed): (&SignedItem, &Result<usize, ItemFailureReason>)| {
            placed
                .clone()
                .and_then(|index| verify_item(unsigned, index, &item.raw_transaction, item.tx_hash))
        };
        let per_thread = self.items.len().div_ceil(threads.max(1)).max(1);
        let checked: Vec<Result<SignedTransaction, ItemFailureReason>> = if threads <= 1 {
            self.items.iter().zip(&placed).map(check).collect()
        } else {
            std::thread::scope(|scope| {
                let handles: Vec<_> = self
                    .items
                    .chunks(per_thread)
                    .zip(placed.chunks(per_thread))
                    .map(|(items, placed)| {
                        scope.spawn(move || items.iter().zip(placed).map(check).collect::<Vec<_>>())
                    })
                    .collect();
                handles
                    .into_iter()
                    .flat_map(|h| match h.join() {
                        Ok(results) => results,
                        Err(panic) => std::panic::resume_unwind(panic),
                    })
                    .collect()
            })
        };
        let mut failures = Vec::new();
        let mut verified = Vec::with_capacity(self.items.len());
        let fail = |order_id: &str, reason| ItemFailure {
            order_id: order_id.to_owned(),
            reason,
        };
        for (item, result) in self.items.iter().zip(checked) {
            match result {
                Ok(signed) => verified.push(VerifiedItem {
                    order_id: item.order_id.clone(),
                    signed,
                }),
                Err(reason) => failures.push(fail(&item.order_id, reason)),
            }
        }
        let signed_ids: std::collections::HashSet<&str> =
            self.items.iter().map(|i| i.order_id.as_str()).collect();
        for item in unsigned.items() {
            if !signed_ids.contains(item.order_id()) {
                failures.push(fail(item.order_id(), ItemFailureReason::Missing));
            }
        }
        if failures.is_empty() {
            Ok(verified)
        } else {
            Err(VerifyError::Items {
                total: unsigned.items().len(),
                failures,
            })
        }
    }
}

fn verify_item(
    unsigned: &UnsignedBatch,
    index: usize,
    raw: &[u8],
    stated_hash: B256,
) -> Result<SignedTransaction, ItemFailureReason> {
    let expected = &unsigned.items()[index];
    let computed = keccak256(raw);
    if computed != stated_hash {
        return Err(ItemFailureReason::HashMismatch {
            stated: stated_hash,
            computed,
        });
    }
    let signed = SignedTransaction::decode_for_chain(raw, unsigned.chain_id())?;
    if let Some(field) = first_difference(signed.transaction(), expected.transaction()) {
        return Err(ItemFailureReason::FieldsDiffer(field));
    }
    // libsecp256k1: the same answer as `recover_sender`, four times faster.
    let recovered = signed
        .signature()
        .recover_address_libsecp256k1(&signed.transaction().signing_hash())?;
    if recovered != expected.from() {
        return Err(ItemFailureReason::WrongSigner {
            expected: expected.from(),
            recovered,
        });
    }
    Ok(signed)
}

/// The name of the first field where two transactions differ, in encoding
/// order, or `None` if they are equal.
fn first_difference(a: &crate::Transaction, b: &crate::Transaction) -> Option<&'static str> {
    use crate::Transaction::{Eip1559, Legacy};
    let (fee_name, tip_differs, access_list_differs) = match (a, b) {
        (Eip1559(x), Eip1559(y)) => (
            "max_fee_per_gas",
            x.max_priority_fee_per_gas != y.max_priority_fee_per_gas,
            x.access_list != y.access_list,
        ),
        (Legacy(_), Legacy(_)) => ("gas_price", false, false),
        _ => return Some("type"),
    };
    [
        ("chain_id", a.chain_id() != b.chain_id()),
        ("nonce", a.nonce() != b.nonce()),
        ("max_priority_fee_per_gas", tip_differs),
        (fee_name, a.max_fee_per_gas() != b.max_fee_per_gas()),
        ("gas_limit", a.gas_limit() != b.gas_limit()),
        ("to", a.to() != b.to()),
        ("value", a.value() != b.value()),
        ("input", a.input() != b.input()),
        ("access_list", access_list_differs),
    ]
    .into_iter()
    .find_map(|(name, differs)| differs.then_some(name))
}
