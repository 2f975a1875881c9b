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
        let mut buf = [0u8; 42];
        self.checksum_into(&mut buf).to_owned()
    }

    /// The EIP-55 checksummed form written into `buf`, without allocating.
    fn checksum_into<'a>(&self, buf: &'a mut [u8; 42]) -> &'a str {
        crate::hex_data::prefixed_hex_into(&self.0, buf);
        let hash = keccak256(&buf[2..]);
        for (i, c) in buf[2..].iter_mut().enumerate() {
            let nibble = (hash.0[i / 2] >> (if i % 2 == 0 { 4 } else { 0 })) & 0x0f;
            if c.is_ascii_alphabetic() && nibble >= 8 {
                c.make_ascii_uppercase();
            }
        }
        std::str::from_utf8(buf).unwrap_or("")
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
            let mut buf = [0u8; 42];
            let expected = address.checksum_into(&mut buf);
            if expected != s {
                return Err(AddressError::BadChecksum {
                    given: s.to_owned(),
                    expected: expected.to_owned(),
                });
            }
        }
        Ok(address)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 42];
        f.write_str(self.checksum_into(&mut buf))
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl serde::Serialize for Address {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 42];
        s.serialize_str(self.checksum_into(&mut buf))
    }
}

impl<'de> serde::Deserialize<'de> for Address {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::hex_data::deserialize_str_with(d, "a 0x-prefixed address", str::parse)
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
