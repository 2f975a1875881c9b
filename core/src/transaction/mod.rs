//! Ethereum transactions: EIP-1559 (type 2) and legacy with EIP-155 replay
//! protection (type 0), their signing hashes, signed EIP-2718 encodings,
//! strict decoding and sender recovery.

mod eip1559;
mod legacy;
mod signed;

pub use eip1559::{AccessList, AccessListItem, TxEip1559};
pub use legacy::TxLegacy;
pub use signed::{SignedTransaction, TxDecodeError};

use crate::{address::Address, amount::U256, hash::B256, signature::Signature};
use thiserror::Error;

/// Why a transaction is not valid as a transaction, whatever the chain state.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TxValidityError {
    /// Chain id 0 gives no replay protection.
    #[error("chain id 0 is not allowed (no replay protection)")]
    ZeroChainId,
    /// The tip is above the fee cap.
    #[error("max priority fee per gas {priority} is above max fee per gas {max}")]
    PriorityFeeAboveMaxFee {
        /// max_priority_fee_per_gas.
        priority: U256,
        /// max_fee_per_gas.
        max: U256,
    },
    /// gas limit × max fee + value does not fit in 256 bits.
    #[error("gas limit x max fee per gas + value overflows 256 bits")]
    CostOverflow,
}

/// An unsigned transaction of either supported type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transaction {
    /// Type 0 with EIP-155 replay protection.
    Legacy(TxLegacy),
    /// Type 2 (EIP-1559).
    Eip1559(TxEip1559),
}

impl Transaction {
    /// The EIP-2718 type number (0 for legacy).
    pub fn tx_type(&self) -> u8 {
        match self {
            Self::Legacy(_) => 0,
            Self::Eip1559(_) => TxEip1559::TYPE,
        }
    }

    /// The chain the transaction is bound to.
    pub fn chain_id(&self) -> u64 {
        match self {
            Self::Legacy(tx) => tx.chain_id,
            Self::Eip1559(tx) => tx.chain_id,
        }
    }

    /// The sender's nonce.
    pub fn nonce(&self) -> u64 {
        match self {
            Self::Legacy(tx) => tx.nonce,
            Self::Eip1559(tx) => tx.nonce,
        }
    }

    /// The gas limit.
    pub fn gas_limit(&self) -> u64 {
        match self {
            Self::Legacy(tx) => tx.gas_limit,
            Self::Eip1559(tx) => tx.gas_limit,
        }
    }

    /// The most the sender can pay per gas: `max_fee_per_gas`, or `gas_price`.
    pub fn max_fee_per_gas(&self) -> U256 {
        match self {
            Self::Legacy(tx) => tx.gas_price,
            Self::Eip1559(tx) => tx.max_fee_per_gas,
        }
    }

    /// The recipient, or `None` for contract creation.
    pub fn to(&self) -> Option<Address> {
        match self {
            Self::Legacy(tx) => tx.to,
            Self::Eip1559(tx) => tx.to,
        }
    }

    /// The native value transferred, in wei.
    pub fn value(&self) -> U256 {
        match self {
            Self::Legacy(tx) => tx.value,
            Self::Eip1559(tx) => tx.value,
        }
    }

    /// The calldata.
    pub fn input(&self) -> &[u8] {
        match self {
            Self::Legacy(tx) => &tx.input,
            Self::Eip1559(tx) => &tx.input,
        }
    }

    /// The worst-case fee: gas limit × max fee per gas, if it fits.
    pub fn max_fee(&self) -> Option<U256> {
        U256::from(self.gas_limit()).checked_mul(self.max_fee_per_gas())
    }

    /// The worst-case total debit: max fee + value, if it fits.
    pub fn max_cost(&self) -> Option<U256> {
        self.max_fee()?.checked_add(self.value())
    }

    /// Checks what must hold for any transaction, whatever the chain state.
    pub fn check_validity(&self) -> Result<(), TxValidityError> {
        if self.chain_id() == 0 {
            return Err(TxValidityError::ZeroChainId);
        }
        if let Self::Eip1559(tx) = self {
            if tx.max_priority_fee_per_gas > tx.max_fee_per_gas {
                return Err(TxValidityError::PriorityFeeAboveMaxFee {
                    priority: tx.max_priority_fee_per_gas,
                    max: tx.max_fee_per_gas,
                });
            }
        }
        self.max_cost().ok_or(TxValidityError::CostOverflow)?;
        Ok(())
    }

    /// The bytes whose keccak256 is signed.
    pub fn signing_payload(&self) -> Vec<u8> {
        match self {
            Self::Legacy(tx) => tx.signing_payload(),
            Self::Eip1559(tx) => tx.signing_payload(),
        }
    }

    /// The hash the sender signs, recomputed from the fields.
    pub fn signing_hash(&self) -> B256 {
        crate::hash::keccak256(self.signing_payload())
    }

    /// The signed EIP-2718 encoding (for legacy, the bare RLP list).
    pub fn encode_signed(&self, signature: &Signature) -> Vec<u8> {
        match self {
            Self::Legacy(tx) => tx.encode_signed(signature),
            Self::Eip1559(tx) => tx.encode_signed(signature),
        }
    }

    /// Signs with `key` (RFC 6979, low-s) and returns the signed transaction.
    pub fn sign(
        self,
        key: &k256::ecdsa::SigningKey,
    ) -> Result<SignedTransaction, crate::signature::SignatureError> {
        let signature = Signature::sign_hash(key, &self.signing_hash())?;
        Ok(SignedTransaction::new_unchecked(self, signature))
    }
}
