//! Signed transactions: the EIP-2718 envelope, its strict decoding, the
//! transaction hash and sender recovery.

use super::{legacy::TxLegacy, Transaction, TxEip1559};
use crate::amount::U256;
use crate::{
    address::Address,
    hash::{keccak256, B256},
    rlp_strict::RlpError,
    signature::{Signature, SignatureError},
};
use thiserror::Error;

/// Splits an EIP-155 `v` into chain id and y parity.
fn legacy_chain_and_parity(v: U256) -> Result<(u64, bool), TxDecodeError> {
    if v == U256::from(27u8) || v == U256::from(28u8) {
        return Err(TxDecodeError::NotReplayProtected(v));
    }
    if v < U256::from(35u8) {
        return Err(TxDecodeError::InvalidV(v));
    }
    let (chain_id, parity) = (v - 35u8).div_mod(U256::from(2u8));
    let chain_id = u64::try_from(chain_id).map_err(|_| TxDecodeError::InvalidV(v))?;
    Ok((chain_id, !parity.is_zero()))
}

/// Why raw signed transaction bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TxDecodeError {
    /// No bytes at all.
    #[error("empty transaction")]
    Empty,
    /// An EIP-2718 type this product does not handle.
    #[error("unsupported transaction type 0x{0:02x} (only 0x02 and legacy are supported)")]
    UnsupportedType(u8),
    /// The RLP is malformed or non-canonical.
    #[error("malformed transaction: {0}")]
    Rlp(#[from] RlpError),
    /// A legacy `v` of 27/28: signed without a chain id.
    #[error("legacy transaction without EIP-155 replay protection (v = {0})")]
    NotReplayProtected(U256),
    /// A legacy `v` that is neither 27/28 nor `chain_id*2+35/36` with a
    /// 64-bit chain id.
    #[error("legacy transaction has an invalid v value {0}")]
    InvalidV(U256),
    /// A type-2 `y_parity` other than 0 or 1.
    #[error("y_parity must be 0 or 1, found {0}")]
    InvalidYParity(u64),
    /// The signature values are invalid (range, high s).
    #[error("invalid signature: {0}")]
    Signature(#[from] SignatureError),
    /// The transaction is for another chain than the one expected.
    #[error("transaction is for chain {found}, expected chain {expected}")]
    ChainIdMismatch {
        /// The chain expected.
        expected: u64,
        /// The chain in the transaction.
        found: u64,
    },
    /// Decoding succeeded but re-encoding differs: the input was not in the
    /// one canonical form.
    #[error("transaction encoding is not canonical")]
    NonCanonical,
}

/// A transaction with a valid, low-s signature, and its canonical bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTransaction {
    tx: Transaction,
    signature: Signature,
    raw: Vec<u8>,
    hash: B256,
}

impl SignedTransaction {
    /// Joins a transaction and its signature, computing the raw bytes and hash.
    ///
    /// # Warning
    ///
    /// Nothing is verified: the signature may be over another transaction,
    /// or by another key than the sender expected, and the result is still
    /// a `SignedTransaction`. Use it only for a signature just made over
    /// this transaction's signing hash, and check it with
    /// [`SignedTransaction::recover_sender`] before trusting it. Bytes from
    /// outside go through [`SignedTransaction::decode_for_chain`] instead.
    pub fn new_unchecked(tx: Transaction, signature: Signature) -> Self {
        let raw = tx.encode_signed(&signature);
        let hash = keccak256(&raw);
        Self {
            tx,
            signature,
            raw,
            hash,
        }
    }

    /// Decodes raw EIP-2718 bytes (type 2, or a legacy RLP list), strictly.
    pub fn decode(raw: &[u8]) -> Result<Self, TxDecodeError> {
        let first = *raw.first().ok_or(TxDecodeError::Empty)?;
        let (tx, signature) = match first {
            TxEip1559::TYPE => {
                let (tx, y, r, s) = TxEip1559::decode_signed_fields(&raw[1..])?;
                let y_parity = match y {
                    0 => false,
                    1 => true,
                    other => return Err(TxDecodeError::InvalidYParity(other)),
                };
                (Transaction::Eip1559(tx), Signature::new(y_parity, r, s)?)
            }
            0xc0..=0xff => {
                let (fields, v, r, s) = TxLegacy::decode_signed_fields(raw)?;
                let (chain_id, y_parity) = legacy_chain_and_parity(v)?;
                let tx = fields.with_chain_id(chain_id);
                (Transaction::Legacy(tx), Signature::new(y_parity, r, s)?)
            }
            other => return Err(TxDecodeError::UnsupportedType(other)),
        };
        let decoded = Self::new_unchecked(tx, signature);
        if decoded.raw != raw {
            return Err(TxDecodeError::NonCanonical);
        }
        Ok(decoded)
    }

    /// Decodes strictly and requires the transaction to be for `chain_id`.
    pub fn decode_for_chain(raw: &[u8], chain_id: u64) -> Result<Self, TxDecodeError> {
        let tx = Self::decode(raw)?;
        if tx.tx.chain_id() != chain_id {
            return Err(TxDecodeError::ChainIdMismatch {
                expected: chain_id,
                found: tx.tx.chain_id(),
            });
        }
        Ok(tx)
    }

    /// The transaction that was signed.
    pub fn transaction(&self) -> &Transaction {
        &self.tx
    }

    /// The signature.
    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    /// The raw bytes as broadcast (`eth_sendRawTransaction`).
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// The transaction hash: keccak256 of the raw bytes.
    pub fn hash(&self) -> B256 {
        self.hash
    }

    /// The address whose key signed this transaction.
    pub fn recover_sender(&self) -> Result<Address, SignatureError> {
        self.signature.recover_address(&self.tx.signing_hash())
    }
}
