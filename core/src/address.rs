//! Ethereum addresses: 20 bytes, shown with the EIP-55 mixed-case checksum.

use crate::hash::keccak256;
use std::{fmt, str::FromStr};
use thiserror::Error;

/// A 20-byte Ethereum account address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Address(pub [u8; 20]);

/// Why an address text was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum AddressError {
    /// Not `0x` followed by 40 hex digits.
    #[error("{0:?} is not an address (0x followed by 40 hex digits)")]
    Malformed(String),
    /// Mixed case whose EIP-55 checksum is wrong: likely a typo.
    #[error(
        "address {given} has a wrong EIP-55 checksum (expected {expected}): check it for a typo"
    )]
    BadChecksum {
        /// The text given.
        given: String,
        /// The correctly checksummed form.
        expected: String,
    },
    /// A public key that is not a valid secp256k1 point.
    #[error("not a valid secp256k1 public key")]
    BadPublicKey,
}

impl Address {
    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// The address of an uncompressed SEC1 public key (`0x04 || x || y`):
    /// the last 20 bytes of keccak256(x || y).
    pub fn from_uncompressed_public_key(key: &[u8; 65]) -> Self {
        let hash = keccak256(&key[1..]);
        let mut out = [0u8; 20];
        out.copy_from_slice(&hash.0[12..]);
        Self(out)
    }

    /// The address of a secp256k1 verifying key.
    pub fn from_verifying_key(key: &k256::ecdsa::VerifyingKey) -> Self {
        let point = key.to_encoded_point(false);
        let mut bytes = [0u8; 65];
        bytes.copy_from_slice(point.as_bytes());
        Self::from_uncompressed_public_key(&bytes)
    }

    /// The address of a SEC1-encoded public key, compressed or not.
    pub fn from_sec1_public_key(key: &[u8]) -> Result<Self, AddressError> {
        let key = k256::ecdsa::VerifyingKey::from_sec1_bytes(key)
            .map_err(|_| AddressError::BadPublicKey)?;
        Ok(Self::from_verifying_key(&key))
    }

    /// The EIP-55 checksummed form, `0x`-prefixed.
    pub fn to_checksum(&self) -> String {
        let lower = hex::encode(self.0);
        let hash = keccak256(lower.as_bytes());
        let mut out = String::with_capacity(42);
        out.push_str("0x");
        for (i, c) in lower.chars().enumerate() {
            let nibble = (hash.0[i / 2] >> (if i % 2 == 0 { 4 } else { 0 })) & 0x0f;
            if c.is_ascii_alphabetic() && nibble >= 8 {
                out.push(c.to_ascii_uppercase());
            } else {
                out.push(c);
            }
        }
        out
    }
}

impl FromStr for Address {
    type Err = AddressError;

    /// Accepts all lower-case, all upper-case, or a correct EIP-55 checksum.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let malformed = || AddressError::Malformed(s.to_owned());
        let digits = s.strip_prefix("0x").ok_or_else(malformed)?;
        if digits.len() != 40 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(malformed());
        }
        let mut bytes = [0u8; 20];
        hex::decode_to_slice(digits, &mut bytes).map_err(|_| malformed())?;
        let address = Self(bytes);
        let has_lower = digits.bytes().any(|b| b.is_ascii_lowercase());
        let has_upper = digits.bytes().any(|b| b.is_ascii_uppercase());
        if has_lower && has_upper {
            let expected = address.to_checksum();
            if expected != s {
                return Err(AddressError::BadChecksum {
                    given: s.to_owned(),
                    expected,
                });
            }
        }
        Ok(address)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_checksum())
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_checksum())
    }
}

impl serde::Serialize for Address {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_checksum())
    }
}

impl<'de> serde::Deserialize<'de> for Address {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_lower_upper_and_correct_checksum() {
        let good = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
        let a: Address = good.parse().unwrap();
        assert_eq!(a.to_checksum(), good);
        assert_eq!(good.to_lowercase().parse::<Address>(), Ok(a));
        let upper = format!("0x{}", &good[2..].to_uppercase());
        assert_eq!(upper.parse::<Address>(), Ok(a));
    }

    #[test]
    fn refuses_wrong_checksum_and_malformed() {
        let bad = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD";
        assert!(matches!(
            bad.parse::<Address>(),
            Err(AddressError::BadChecksum { .. })
        ));
        for s in [
            "5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",
            "0x5aae",
            "0X5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",
            "0xzaaeb6053f3e94c9b9a09f33669435e7ef1beaed",
            "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed00",
        ] {
            assert!(
                matches!(s.parse::<Address>(), Err(AddressError::Malformed(_))),
                "{s}"
            );
        }
    }
}
