//! The human summary of an item: what the operator is told will be paid, and
//! the check that the transaction pays exactly that.

use crate::{
    address::Address,
    amount::{format_units, parse_units, AmountError, U256},
    erc20::{Erc20Error, Transfer},
    transaction::Transaction,
};
use thiserror::Error;

/// What an item pays, for people: asset, recipient and decimal amount.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    /// Asset symbol (`ETH`, `USDT`): 1-16 ASCII letters, digits, `.`, `-`, `_`.
    pub asset: String,
    /// The asset's decimals.
    pub decimals: u8,
    /// The token contract; `null` for the chain's native coin.
    #[serde(deserialize_with = "required_option")]
    pub token: Option<Address>,
    /// Who receives the funds (the token recipient for ERC-20).
    pub recipient: Address,
    /// The amount, as the shortest exact decimal string in the asset's units.
    pub amount: String,
}

fn required_option<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d)
}

/// How a summary disagrees with its transaction.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SummaryError {
    /// The asset symbol is empty, too long or has odd characters.
    #[error("asset symbol {0:?} is not 1-16 characters of A-Z, a-z, 0-9, '.', '-', '_'")]
    BadAsset(String),
    /// The amount text is not a valid amount for the decimals.
    #[error("amount: {0}")]
    BadAmount(#[from] AmountError),
    /// The amount text is valid but not in its one canonical form.
    #[error("amount {given:?} is not written canonically (expected {canonical:?})")]
    NonCanonicalAmount {
        /// The text given.
        given: String,
        /// The canonical text.
        canonical: String,
    },
    /// The transaction creates a contract.
    #[error("transaction creates a contract instead of paying")]
    ContractCreation,
    /// Native transfer to another address than the summary says.
    #[error("transaction pays {tx} but the summary names {summary}")]
    RecipientMismatch {
        /// Recipient in the transaction.
        tx: Address,
        /// Recipient in the summary.
        summary: Address,
    },
    /// Amount in the transaction differs from the summary.
    #[error("transaction pays {tx} base units but the summary says {summary} ({summary_units} base units)")]
    AmountMismatch {
        /// Base units in the transaction.
        tx: U256,
        /// The summary's text.
        summary: String,
        /// The summary in base units.
        summary_units: U256,
    },
    /// A native transfer that also carries calldata.
    #[error("native transfer carries calldata")]
    NativeWithCalldata,
    /// A token transfer sent to another contract than the summary's token.
    #[error("token transfer calls {tx} but the summary's token is {summary}")]
    TokenContractMismatch {
        /// `to` of the transaction.
        tx: Address,
        /// Token in the summary.
        summary: Address,
    },
    /// A token transfer that also sends native coin.
    #[error("token transfer also sends {0} wei of native coin")]
    TokenWithValue(U256),
    /// The calldata is not a plain ERC-20 transfer.
    #[error("{0}")]
    NotATransfer(#[from] Erc20Error),
}

impl Summary {
    /// The summary's amount in base units, requiring the canonical text.
    pub fn amount_units(&self) -> Result<U256, SummaryError> {
        let units = parse_units(&self.amount, self.decimals)?;
        let canonical = format_units(units, self.decimals)?;
        if canonical != self.amount {
            return Err(SummaryError::NonCanonicalAmount {
                given: self.amount.clone(),
                canonical,
            });
        }
        Ok(units)
    }

    /// Checks that `tx` pays exactly what this summary says.
    pub fn check(&self, tx: &Transaction) -> Result<(), SummaryError> {
        let asset_ok = (1..=16).contains(&self.asset.len())
            && self
                .asset
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !asset_ok {
            return Err(SummaryError::BadAsset(self.asset.clone()));
        }
        let units = self.amount_units()?;
        let to = tx.to().ok_or(SummaryError::ContractCreation)?;
        let (paid_to, paid) = match self.token {
            None => {
                if !tx.input().is_empty() {
                    return Err(SummaryError::NativeWithCalldata);
                }
                (to, tx.value())
            }
            Some(token) => {
                if to != token {
                    return Err(SummaryError::TokenContractMismatch {
                        tx: to,
                        summary: token,
                    });
                }
                if !tx.value().is_zero() {
                    return Err(SummaryError::TokenWithValue(tx.value()));
                }
                let transfer = Transfer::decode(tx.input())?;
                (transfer.to, transfer.amount)
            }
        };
        if paid_to != self.recipient {
            return Err(SummaryError::RecipientMismatch {
                tx: paid_to,
                summary: self.recipient,
            });
        }
        if paid != units {
            return Err(SummaryError::AmountMismatch {
                tx: paid,
                summary: self.amount.clone(),
                summary_units: units,
            });
        }
        Ok(())
    }
}
