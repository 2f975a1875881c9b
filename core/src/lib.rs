//! # coldsign-core
//!
//! The pure heart of coldsign: transaction types and their EIP-2718 / EIP-1559 /
//! EIP-155 encodings, signing hashes, signatures, addresses, amounts, ERC-20
//! calldata, and the unsigned/signed batch file formats with their validation.
//!
//! Nothing here does I/O, talks to a network or keeps global state: every
//! function is a computation on its arguments, so the same code can run on the
//! air-gapped signer and on the online hub.

pub mod address;
pub mod address_proof;
pub mod amount;
pub mod batch;
pub mod erc20;
pub mod hash;
pub mod hex_data;
pub mod rlp_strict;
pub mod signature;
pub mod text;
pub mod transaction;

pub use address::Address;
pub use amount::U256;
pub use hash::{keccak256, B256};
pub use signature::Signature;
pub use transaction::{SignedTransaction, Transaction, TxEip1559, TxLegacy};
