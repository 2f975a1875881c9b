//! ERC-20 `transfer(address,uint256)` calldata.

use crate::{address::Address, amount::U256};
use thiserror::Error;

/// The selector of `transfer(address,uint256)`: keccak256 of the signature's
/// first four bytes.
pub const TRANSFER_SELECTOR: [u8; 4] = [0xa9, 0x05, 0x9c, 0xbb];

/// Length of `transfer` calldata: selector and two 32-byte words.
pub const TRANSFER_CALLDATA_LEN: usize = 4 + 32 + 32;

/// A decoded `transfer(to, amount)` call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transfer {
    /// The token recipient.
    pub to: Address,
    /// The amount in the token's base units.
    pub amount: U256,
}

/// Why calldata is not a plain ERC-20 transfer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Erc20Error {
    /// Not exactly 68 bytes.
    #[error("transfer calldata must be exactly 68 bytes, found {0}")]
    WrongLength(usize),
    /// Another function.
    #[error("calldata selector 0x{} is not transfer(address,uint256)", hex::encode(.0))]
    WrongSelector([u8; 4]),
    /// The address word has non-zero bytes above the 20 address bytes.
    #[error("transfer recipient word is not a zero-padded address")]
    DirtyAddressWord,
}

impl Transfer {
    /// ABI-encodes the call.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(TRANSFER_CALLDATA_LEN);
        out.extend_from_slice(&TRANSFER_SELECTOR);
        out.extend_from_slice(&[0u8; 12]);
        out.extend_from_slice(&self.to.0);
        out.extend_from_slice(&self.amount.to_big_endian());
        out
    }

    /// Decodes calldata that must be exactly a `transfer` call.
    pub fn decode(data: &[u8]) -> Result<Self, Erc20Error> {
        if data.len() != TRANSFER_CALLDATA_LEN {
            return Err(Erc20Error::WrongLength(data.len()));
        }
        let mut selector = [0u8; 4];
        selector.copy_from_slice(&data[..4]);
        if selector != TRANSFER_SELECTOR {
            return Err(Erc20Error::WrongSelector(selector));
        }
        if data[4..16].iter().any(|&b| b != 0) {
            return Err(Erc20Error::DirtyAddressWord);
        }
        let mut to = [0u8; 20];
        to.copy_from_slice(&data[16..36]);
        Ok(Self {
            to: Address(to),
            amount: U256::from_big_endian(&data[36..68]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::keccak256;

    #[test]
    fn selector_is_keccak_of_signature() {
        assert_eq!(
            keccak256(b"transfer(address,uint256)").0[..4],
            TRANSFER_SELECTOR
        );
    }

    #[test]
    fn strict_decode() {
        let t = Transfer {
            to: Address([0x11; 20]),
            amount: U256::from(5u8),
        };
        let data = t.encode();
        assert_eq!(Transfer::decode(&data), Ok(t));
        let mut longer = data.clone();
        longer.push(0);
        assert_eq!(Transfer::decode(&longer), Err(Erc20Error::WrongLength(69)));
        let mut dirty = data.clone();
        dirty[4] = 1;
        assert_eq!(Transfer::decode(&dirty), Err(Erc20Error::DirtyAddressWord));
        let mut other = data;
        other[0] = 0x09;
        assert!(matches!(
            Transfer::decode(&other),
            Err(Erc20Error::WrongSelector(_))
        ));
    }
}
