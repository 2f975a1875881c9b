//! Hex text as Ethereum JSON-RPC writes it: `0x`-prefixed byte strings and
//! quantities (minimal hex, `0x0` for zero).

use crate::amount::U256;
use thiserror::Error;

/// Why a piece of hex text was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum HexError {
    /// The text does not start with `0x`.
    #[error("hex value {0:?} must start with 0x")]
    MissingPrefix(String),
    /// A character is not a hex digit, or the digit count is odd.
    #[error("hex value {0:?} is not valid hex")]
    Invalid(String),
    /// The decoded value has the wrong number of bytes.
    #[error("hex value has {found} bytes, expected {expected}")]
    WrongLength {
        /// Bytes expected.
        expected: usize,
        /// Bytes found.
        found: usize,
    },
    /// A quantity is empty, has leading zeros or upper-case digits.
    #[error(
        "quantity {0:?} is not canonical (0x followed by lower-case hex without leading zeros)"
    )]
    NonCanonicalQuantity(String),
    /// A quantity does not fit the target type.
    #[error("quantity {0:?} is too large")]
    QuantityOverflow(String),
}

fn strip_prefix(s: &str) -> Result<&str, HexError> {
    s.strip_prefix("0x")
        .ok_or_else(|| HexError::MissingPrefix(s.to_owned()))
}

/// Decodes `0x`-prefixed hex of any even length into bytes.
pub fn decode(s: &str) -> Result<Vec<u8>, HexError> {
    let digits = strip_prefix(s)?;
    hex::decode(digits).map_err(|_| HexError::Invalid(s.to_owned()))
}

/// Decodes `0x`-prefixed hex of exactly `N` bytes.
pub fn decode_fixed<const N: usize>(s: &str) -> Result<[u8; N], HexError> {
    let bytes = decode(s)?;
    let found = bytes.len();
    bytes
        .try_into()
        .map_err(|_| HexError::WrongLength { expected: N, found })
}

/// Encodes bytes as `0x`-prefixed lower-case hex.
pub fn encode(bytes: impl AsRef<[u8]>) -> String {
    let bytes = bytes.as_ref();
    let mut out = vec![0u8; 2 + 2 * bytes.len()];
    prefixed_hex_into(bytes, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

fn quantity_digits(s: &str) -> Result<&str, HexError> {
    let digits = strip_prefix(s)?;
    let canonical = !digits.is_empty()
        && (digits == "0" || !digits.starts_with('0'))
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if canonical {
        Ok(digits)
    } else {
        Err(HexError::NonCanonicalQuantity(s.to_owned()))
    }
}

/// Parses a canonical JSON-RPC quantity into a `U256`.
pub fn parse_quantity_u256(s: &str) -> Result<U256, HexError> {
    let digits = quantity_digits(s)?;
    if digits.len() > 64 {
        return Err(HexError::QuantityOverflow(s.to_owned()));
    }
    U256::from_str_radix(digits, 16).map_err(|_| HexError::Invalid(s.to_owned()))
}

/// Parses a canonical JSON-RPC quantity into a `u64`.
pub fn parse_quantity_u64(s: &str) -> Result<u64, HexError> {
    let digits = quantity_digits(s)?;
    u64::from_str_radix(digits, 16).map_err(|_| HexError::QuantityOverflow(s.to_owned()))
}

/// Formats a `U256` as a canonical JSON-RPC quantity.
pub fn quantity_u256(v: U256) -> String {
    format!("{v:#x}")
}

/// Formats a `u64` as a canonical JSON-RPC quantity.
pub fn quantity_u64(v: u64) -> String {
    format!("{v:#x}")
}

/// `0x` and the lower-case hex of `bytes` in `out`, which must be exactly
/// `2 + 2 * bytes.len()` long; returns the text (empty if the length is
/// wrong). For fixed-size values, without allocating.
pub(crate) fn prefixed_hex_into<'a>(bytes: &[u8], out: &'a mut [u8]) -> &'a str {
    if out.len() != 2 + 2 * bytes.len() {
        return "";
    }
    out[0] = b'0';
    out[1] = b'x';
    if hex::encode_to_slice(bytes, &mut out[2..]).is_err() {
        return "";
    }
    std::str::from_utf8(out).unwrap_or("")
}

/// Deserializes a JSON string through `parse`, reading it in place when the
/// input allows (serde's `Cow<str>` always copies it).
pub(crate) fn deserialize_str_with<'de, D, T, E>(
    d: D,
    expecting: &'static str,
    parse: fn(&str) -> Result<T, E>,
) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    E: std::fmt::Display,
{
    struct Visitor<T, E> {
        expecting: &'static str,
        parse: fn(&str) -> Result<T, E>,
    }
    impl<T, E: std::fmt::Display> serde::de::Visitor<'_> for Visitor<T, E> {
        type Value = T;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.expecting)
        }
        fn visit_str<X: serde::de::Error>(self, v: &str) -> Result<T, X> {
            (self.parse)(v).map_err(X::custom)
        }
    }
    d.deserialize_str(Visitor { expecting, parse })
}

/// Serde adapters for fields written as JSON-RPC quantities or hex bytes.
pub mod serde_hex {
    /// `u64` as a canonical quantity.
    pub mod u64_quantity {
        use serde::{Deserializer, Serializer};
        /// Serializes as `0x…`.
        pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&super::super::quantity_u64(*v))
        }
        /// Deserializes a canonical quantity.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
            super::super::deserialize_str_with(
                d,
                "a hex quantity",
                super::super::parse_quantity_u64,
            )
        }
    }

    /// `U256` as a canonical quantity.
    pub mod u256_quantity {
        use crate::amount::U256;
        use serde::{Deserializer, Serializer};
        /// Serializes as `0x…`.
        pub fn serialize<S: Serializer>(v: &U256, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&super::super::quantity_u256(*v))
        }
        /// Deserializes a canonical quantity.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<U256, D::Error> {
            super::super::deserialize_str_with(
                d,
                "a hex quantity",
                super::super::parse_quantity_u256,
            )
        }
    }

    /// `Vec<u8>` as `0x`-prefixed hex.
    pub mod bytes {
        use serde::{Deserializer, Serializer};
        /// Serializes as `0x…`.
        pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&super::super::encode(v))
        }
        /// Deserializes `0x`-prefixed hex.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
            super::super::deserialize_str_with(d, "0x-prefixed hex", super::super::decode)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_must_be_canonical() {
        assert_eq!(parse_quantity_u64("0x0"), Ok(0));
        assert_eq!(parse_quantity_u64("0x5208"), Ok(21000));
        for bad in ["0x", "0x00", "0x01", "5208", "0X1", "0xAB", "0x-1", "0x 1"] {
            assert!(parse_quantity_u64(bad).is_err(), "{bad} accepted");
            assert!(parse_quantity_u256(bad).is_err(), "{bad} accepted");
        }
        assert!(parse_quantity_u64("0x10000000000000000").is_err());
        assert_eq!(quantity_u64(0), "0x0");
        assert_eq!(quantity_u256(U256::from(255u64)), "0xff");
    }

    #[test]
    fn u256_quantity_limits() {
        let max = format!("0x{}", "f".repeat(64));
        assert_eq!(parse_quantity_u256(&max), Ok(U256::MAX));
        assert!(parse_quantity_u256(&format!("0x1{}", "0".repeat(64))).is_err());
    }

    #[test]
    fn bytes_need_prefix_and_even_length() {
        assert_eq!(decode("0x"), Ok(vec![]));
        assert_eq!(decode("0xA9059cbb"), Ok(vec![0xa9, 0x05, 0x9c, 0xbb]));
        assert!(decode("a9").is_err());
        assert!(decode("0xa").is_err());
        assert!(decode_fixed::<2>("0xa9").is_err());
    }
}
