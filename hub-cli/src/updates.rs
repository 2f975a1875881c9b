//! What an item transition writes besides its state and message: one typed
//! variant per kind of change (built, signed, mined, reorganised, …). The
//! transitions in [`crate::model::Actor`] are the only code that writes an
//! item's state, and they take these rather than column names and values;
//! the column names of each update live here and nowhere else.

use crate::{
    bindings,
    db::Value,
    error::{HubError, Result},
    model::{db_int, Item},
};
use coldsign_core::{batch::ItemKind, B256, U256};

/// The columns an item transition sets besides its state and message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum ItemUpdate {
    /// Nothing else changes.
    #[default]
    None,
    /// The transaction was built: what was bound and what will be signed.
    Built {
        /// A payment, or the void of its order.
        kind: ItemKind,
        nonce: u64,
        gas_limit: u64,
        /// The max fee per gas (EIP-1559) or the gas price (legacy).
        max_fee_per_gas: U256,
        /// Absent for a legacy transaction.
        max_priority_fee_per_gas: Option<U256>,
        signing_hash: B256,
    },
    /// The build failed: the item holds no nonce.
    BuildFailed,
    /// The batch changed under a built item, which must be built again: it
    /// holds no nonce until then.
    Unbuilt,
    /// The signer's transaction came back: its bytes and hash.
    Signed { raw_tx: Vec<u8>, tx_hash: B256 },
    /// A receipt was accepted as evidence: where the transaction was mined.
    Mined {
        block_number: u64,
        block_hash: B256,
        gas_used: U256,
        /// Gas used times the effective gas price, in wei.
        fee: U256,
    },
    /// The block of the receipt is no longer canonical: the receipt is gone.
    Reorganised,
    /// The order's nonce was consumed by one of its own signed versions
    /// (`tx_hash`), which the item now follows; `kind` is that version's,
    /// when it is known to differ.
    Following {
        tx_hash: B256,
        kind: Option<ItemKind>,
    },
}

impl ItemUpdate {
    /// The columns and values this update writes, in a fixed order per
    /// variant (updates with the same columns share one bulk statement).
    pub(crate) fn columns(&self) -> Result<Vec<(&'static str, Value)>> {
        Ok(match self {
            Self::None => Vec::new(),
            Self::Built {
                kind,
                nonce,
                gas_limit,
                max_fee_per_gas,
                max_priority_fee_per_gas,
                signing_hash,
            } => vec![
                ("kind", bindings::kind_value(*kind)),
                ("nonce", Value::from(db_int(*nonce)?)),
                ("gas_limit", Value::from(db_int(*gas_limit)?)),
                ("max_fee_per_gas", Value::from(max_fee_per_gas.to_string())),
                (
                    "max_priority_fee_per_gas",
                    Value::from(max_priority_fee_per_gas.map(|p| p.to_string())),
                ),
                ("signing_hash", Value::from(signing_hash.to_string())),
            ],
            Self::BuildFailed | Self::Unbuilt => vec![("nonce", Value::Null)],
            Self::Signed { raw_tx, tx_hash } => vec![
                (
                    "raw_tx",
                    Value::from(coldsign_core::hex_data::encode(raw_tx)),
                ),
                ("tx_hash", Value::from(tx_hash.to_string())),
            ],
            Self::Mined {
                block_number,
                block_hash,
                gas_used,
                fee,
            } => vec![
                ("block_number", Value::from(db_int(*block_number)?)),
                ("block_hash", Value::from(block_hash.to_string())),
                ("gas_used", Value::from(gas_used.to_string())),
                ("fee", Value::from(fee.to_string())),
            ],
            Self::Reorganised => vec![
                ("block_number", Value::Null),
                ("block_hash", Value::Null),
                ("gas_used", Value::Null),
                ("fee", Value::Null),
            ],
            Self::Following { tx_hash, kind } => {
                let mut cols = vec![("tx_hash", Value::from(tx_hash.to_string()))];
                if let Some(kind) = kind {
                    cols.push(("kind", bindings::kind_value(*kind)));
                }
                cols
            }
        })
    }

    /// The same change applied to an item as loaded, so a caller can carry
    /// on with the item as the database now holds it without reading it
    /// back. (`gas_used` is stored but not part of a loaded item.)
    pub(crate) fn apply(&self, item: &mut Item) {
        match self {
            Self::None => {}
            Self::Built {
                kind,
                nonce,
                gas_limit,
                max_fee_per_gas,
                signing_hash,
                ..
            } => {
                item.kind = *kind;
                item.nonce = Some(*nonce);
                item.gas_limit = Some(*gas_limit);
                item.max_fee_per_gas = Some(*max_fee_per_gas);
                item.signing_hash = Some(*signing_hash);
            }
            Self::BuildFailed | Self::Unbuilt => item.nonce = None,
            Self::Signed { raw_tx, tx_hash } => {
                item.raw_tx = Some(raw_tx.clone());
                item.tx_hash = Some(*tx_hash);
            }
            Self::Mined {
                block_number,
                block_hash,
                fee,
                ..
            } => {
                item.block_number = Some(*block_number);
                item.block_hash = Some(*block_hash);
                item.fee = Some(*fee);
            }
            Self::Reorganised => {
                item.block_number = None;
                item.block_hash = None;
                item.fee = None;
            }
            Self::Following { tx_hash, kind } => {
                item.tx_hash = Some(*tx_hash);
                if let Some(kind) = kind {
                    item.kind = *kind;
                }
            }
        }
    }

    /// A receipt's fields as a [`ItemUpdate::Mined`].
    pub(crate) fn mined(receipt: &crate::rpc::Receipt) -> Self {
        Self::Mined {
            block_number: receipt.block_number,
            block_hash: receipt.block_hash,
            gas_used: receipt.gas_used,
            fee: receipt.gas_used.saturating_mul(receipt.effective_gas_price),
        }
    }
}

/// Refuses an update that makes no sense for the state it comes with, so a
/// wrong pairing is caught where the transition is written, not later when
/// an item turns out to lack its receipt or its bytes.
pub(crate) fn check_pairing(
    to: crate::state::ItemState,
    update: &ItemUpdate,
) -> std::result::Result<(), HubError> {
    use crate::state::ItemState as S;
    let ok = match update {
        ItemUpdate::None => true,
        ItemUpdate::Built { .. } => to == S::TxBuilt,
        ItemUpdate::BuildFailed => to == S::BuildError,
        ItemUpdate::Unbuilt => to == S::Selected,
        ItemUpdate::Signed { .. } => to == S::SignatureReady,
        ItemUpdate::Mined { .. } => {
            matches!(to, S::Confirming | S::Disbursed | S::DisbursementFailed)
        }
        ItemUpdate::Reorganised | ItemUpdate::Following { .. } => to == S::Confirming,
    };
    if ok {
        Ok(())
    } else {
        Err(HubError::Internal(format!(
            "an item moving to {to} cannot carry the update {update:?}"
        )))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::state::ItemState as S;

    fn every_update() -> Vec<ItemUpdate> {
        vec![
            ItemUpdate::None,
            ItemUpdate::Built {
                kind: ItemKind::Void,
                nonce: 4,
                gas_limit: 21_000,
                max_fee_per_gas: U256::from(9u64),
                max_priority_fee_per_gas: Some(U256::from(1u64)),
                signing_hash: B256([1; 32]),
            },
            ItemUpdate::BuildFailed,
            ItemUpdate::Unbuilt,
            ItemUpdate::Signed {
                raw_tx: vec![2, 0xf8],
                tx_hash: B256([2; 32]),
            },
            ItemUpdate::Mined {
                block_number: 7,
                block_hash: B256([3; 32]),
                gas_used: U256::from(21_000u64),
                fee: U256::from(42u64),
            },
            ItemUpdate::Reorganised,
            ItemUpdate::Following {
                tx_hash: B256([4; 32]),
                kind: None,
            },
        ]
    }

    #[test]
    fn each_update_goes_with_its_states_only() {
        // Every (state, update) pair, against the table written out.
        for update in every_update() {
            let allowed: &[S] = match update {
                ItemUpdate::None => S::ALL,
                ItemUpdate::Built { .. } => &[S::TxBuilt],
                ItemUpdate::BuildFailed => &[S::BuildError],
                ItemUpdate::Unbuilt => &[S::Selected],
                ItemUpdate::Signed { .. } => &[S::SignatureReady],
                ItemUpdate::Mined { .. } => &[S::Confirming, S::Disbursed, S::DisbursementFailed],
                ItemUpdate::Reorganised | ItemUpdate::Following { .. } => &[S::Confirming],
            };
            for &to in S::ALL {
                assert_eq!(
                    check_pairing(to, &update).is_ok(),
                    allowed.contains(&to),
                    "{update:?} moving to {to}"
                );
            }
        }
    }

    #[test]
    fn columns_are_item_columns_and_nulls_clear_what_apply_clears() {
        const ITEM_COLUMNS: &[&str] = &[
            "kind",
            "nonce",
            "gas_limit",
            "max_fee_per_gas",
            "max_priority_fee_per_gas",
            "signing_hash",
            "raw_tx",
            "tx_hash",
            "block_number",
            "block_hash",
            "gas_used",
            "fee",
        ];
        for update in every_update() {
            let columns = update.columns().unwrap();
            for (name, value) in &columns {
                assert!(ITEM_COLUMNS.contains(name), "{update:?} writes {name}");
                let cleared = *value == Value::Null;
                // Only the updates that take something away write NULL.
                let expected = matches!(
                    (&update, *name),
                    (ItemUpdate::BuildFailed | ItemUpdate::Unbuilt, "nonce")
                        | (ItemUpdate::Reorganised, _)
                );
                assert_eq!(cleared, expected, "{update:?}: {name} = {value:?}");
            }
        }
    }
}
