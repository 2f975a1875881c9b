//! Keccak-256 and the 32-byte hash type.

use sha3::{Digest, Keccak256};
use std::fmt;

/// A 32-byte value: a hash, a storage key or a signing digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct B256(pub [u8; 32]);

impl B256 {
    /// The bytes of the value.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses `0x` followed by exactly 64 hex digits.
    pub fn from_hex(s: &str) -> Result<Self, crate::hex_data::HexError> {
        let bytes = crate::hex_data::decode_fixed::<32>(s)?;
        Ok(Self(bytes))
    }

    /// `0x`-prefixed lower-case hex.
    pub fn to_hex(&self) -> String {
        let mut buf = [0u8; 66];
        crate::hex_data::prefixed_hex_into(&self.0, &mut buf).to_owned()
    }
}

impl fmt::Debug for B256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for B256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 66];
        f.write_str(crate::hex_data::prefixed_hex_into(&self.0, &mut buf))
    }
}

impl serde::Serialize for B256 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 66];
        s.serialize_str(crate::hex_data::prefixed_hex_into(&self.0, &mut buf))
    }
}

impl<'de> serde::Deserialize<'de> for B256 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::hex_data::deserialize_str_with(d, "a 0x-prefixed 32-byte hex value", Self::from_hex)
    }
}

/// Keccak-256 of `data` (the Ethereum hash, not NIST SHA3-256).
pub fn keccak256(data: impl AsRef<[u8]>) -> B256 {
    B256(Keccak256::digest(data.as_ref()).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keccak_of_empty_input_is_the_known_constant() {
        assert_eq!(
            keccak256([]).to_hex(),
            "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
        );
    }

    #[test]
    fn b256_parse_rejects_wrong_length_and_missing_prefix() {
        assert!(B256::from_hex("0x00").is_err());
        assert!(B256::from_hex(&"00".repeat(32)).is_err());
        assert!(B256::from_hex(&format!("0x{}", "00".repeat(32))).is_ok());
    }
}
