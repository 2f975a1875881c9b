//! Canonical RLP decoding on top of the `rlp` crate.
//!
//! The `rlp` crate parses item headers (and refuses long-form lengths below 56
//! and lengths with a zero prefix); this layer adds what a signer must also
//! refuse: trailing bytes, a single byte below `0x80` wrapped in a string
//! header, integers with leading zero bytes, list payloads that do not split
//! exactly into items, and wrong field counts. Every error names the field.

use crate::{address::Address, amount::U256, hash::B256};
use thiserror::Error;

/// Why RLP input was refused, and in which field.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RlpError {
    /// A header the `rlp` crate refused (too short, non-minimal length, …).
    #[error("{field}: malformed RLP header ({reason:?})")]
    Header {
        /// The field being read.
        field: &'static str,
        /// The `rlp` crate's verdict.
        reason: rlp::DecoderError,
    },
    /// Bytes left after the top-level item.
    #[error("{extra} trailing byte(s) after the transaction")]
    TrailingBytes {
        /// How many bytes were left over.
        extra: usize,
    },
    /// A list was expected.
    #[error("{field}: expected an RLP list, found a string")]
    ExpectedList {
        /// The field being read.
        field: &'static str,
    },
    /// A string was expected.
    #[error("{field}: expected an RLP string, found a list")]
    ExpectedString {
        /// The field being read.
        field: &'static str,
    },
    /// A single byte below `0x80` must be encoded as itself.
    #[error("{field}: single byte below 0x80 wrapped in a string header (non-canonical)")]
    NonCanonicalSingleByte {
        /// The field being read.
        field: &'static str,
    },
    /// An integer with a leading zero byte.
    #[error("{field}: integer has leading zero bytes (non-canonical)")]
    LeadingZero {
        /// The field being read.
        field: &'static str,
    },
    /// An integer wider than its field allows.
    #[error("{field}: integer is {found} bytes, at most {max} allowed")]
    IntegerTooLarge {
        /// The field being read.
        field: &'static str,
        /// The widest allowed, in bytes.
        max: usize,
        /// The width found.
        found: usize,
    },
    /// A fixed-size string of the wrong size.
    #[error("{field}: expected {expected} bytes, found {found}")]
    WrongLength {
        /// The field being read.
        field: &'static str,
        /// Bytes expected.
        expected: usize,
        /// Bytes found.
        found: usize,
    },
    /// A list with the wrong number of fields.
    #[error("{field}: expected {expected} fields, found {found}")]
    WrongFieldCount {
        /// The list being read.
        field: &'static str,
        /// Fields expected.
        expected: usize,
        /// Fields found.
        found: usize,
    },
}

/// One decoded RLP item: a string or a list, with its payload.
#[derive(Debug, Clone, Copy)]
pub struct Item<'a> {
    is_list: bool,
    payload: &'a [u8],
}

/// Reads one item from the front of `bytes`; returns it and the rest.
fn split_item<'a>(bytes: &'a [u8], field: &'static str) -> Result<(Item<'a>, &'a [u8]), RlpError> {
    let header = |reason| RlpError::Header { field, reason };
    let info = rlp::PayloadInfo::from(bytes).map_err(header)?;
    let end = info
        .header_len
        .checked_add(info.value_len)
        .filter(|&end| end <= bytes.len())
        .ok_or(header(rlp::DecoderError::RlpIsTooShort))?;
    let first = bytes[0];
    let is_list = first >= 0xc0;
    let payload = &bytes[info.header_len..end];
    if !is_list && info.header_len == 1 && payload.len() == 1 && payload[0] < 0x80 {
        return Err(RlpError::NonCanonicalSingleByte { field });
    }
    Ok((Item { is_list, payload }, &bytes[end..]))
}

/// Decodes `bytes` as exactly one list (nothing may follow it) of exactly
/// `fields` items.
pub fn decode_list<'a>(
    bytes: &'a [u8],
    field: &'static str,
    fields: usize,
) -> Result<Vec<Item<'a>>, RlpError> {
    let (item, rest) = split_item(bytes, field)?;
    if !rest.is_empty() {
        return Err(RlpError::TrailingBytes { extra: rest.len() });
    }
    item.list(field, Some(fields))
}

/// Checks that `bytes` is exactly one canonical RLP item, recursively: every
/// nested list splits exactly into canonical items. Used for untrusted input
/// whose shape is not known in advance.
pub fn validate(bytes: &[u8]) -> Result<(), RlpError> {
    let (item, rest) = split_item(bytes, "rlp")?;
    if !rest.is_empty() {
        return Err(RlpError::TrailingBytes { extra: rest.len() });
    }
    validate_nested(&item)
}

fn validate_nested(item: &Item<'_>) -> Result<(), RlpError> {
    if item.is_list {
        for child in item.list("rlp", None)? {
            validate_nested(&child)?;
        }
    }
    Ok(())
}

impl<'a> Item<'a> {
    /// The items of a list; with `expected`, refuses any other count.
    pub fn list(
        &self,
        field: &'static str,
        expected: Option<usize>,
    ) -> Result<Vec<Item<'a>>, RlpError> {
        if !self.is_list {
            return Err(RlpError::ExpectedList { field });
        }
        let mut items = Vec::with_capacity(expected.unwrap_or(4));
        let mut rest = self.payload;
        while !rest.is_empty() {
            let (item, next) = split_item(rest, field)?;
            items.push(item);
            rest = next;
        }
        match expected {
            Some(n) if n != items.len() => Err(RlpError::WrongFieldCount {
                field,
                expected: n,
                found: items.len(),
            }),
            _ => Ok(items),
        }
    }

    /// The payload of a string item.
    pub fn bytes(&self, field: &'static str) -> Result<&'a [u8], RlpError> {
        if self.is_list {
            return Err(RlpError::ExpectedString { field });
        }
        Ok(self.payload)
    }

    fn integer_bytes(&self, field: &'static str, max: usize) -> Result<&'a [u8], RlpError> {
        let bytes = self.bytes(field)?;
        if bytes.first() == Some(&0) {
            return Err(RlpError::LeadingZero { field });
        }
        if bytes.len() > max {
            return Err(RlpError::IntegerTooLarge {
                field,
                max,
                found: bytes.len(),
            });
        }
        Ok(bytes)
    }

    /// A canonical unsigned integer of at most 64 bits.
    pub fn u64(&self, field: &'static str) -> Result<u64, RlpError> {
        let bytes = self.integer_bytes(field, 8)?;
        Ok(bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    /// A canonical unsigned integer of at most 256 bits.
    pub fn u256(&self, field: &'static str) -> Result<U256, RlpError> {
        let bytes = self.integer_bytes(field, 32)?;
        Ok(U256::from_big_endian(bytes))
    }

    /// A string of exactly `N` bytes.
    pub fn fixed<const N: usize>(&self, field: &'static str) -> Result<[u8; N], RlpError> {
        let bytes = self.bytes(field)?;
        bytes.try_into().map_err(|_| RlpError::WrongLength {
            field,
            expected: N,
            found: bytes.len(),
        })
    }

    /// A 32-byte value.
    pub fn b256(&self, field: &'static str) -> Result<B256, RlpError> {
        self.fixed::<32>(field).map(B256)
    }

    /// The `to` field: an address, or the empty string for contract creation.
    pub fn optional_address(&self, field: &'static str) -> Result<Option<Address>, RlpError> {
        if self.bytes(field)?.is_empty() {
            return Ok(None);
        }
        self.fixed::<20>(field).map(|b| Some(Address(b)))
    }
}

/// Appends a `U256` as a minimal big-endian RLP integer.
pub fn append_u256(stream: &mut rlp::RlpStream, value: &U256) {
    let be = value.to_big_endian();
    let start = be.iter().position(|&b| b != 0).unwrap_or(be.len());
    stream.append(&&be[start..]);
}

/// Appends an optional address (`to`): empty string for contract creation.
pub fn append_optional_address(stream: &mut rlp::RlpStream, to: &Option<Address>) {
    match to {
        Some(a) => stream.append(&a.0.as_slice()),
        None => stream.append_empty_data(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_trailing_bytes_and_wrong_counts() {
        // [1, 2]
        assert!(decode_list(&[0xc2, 0x01, 0x02], "t", 2).is_ok());
        assert_eq!(
            decode_list(&[0xc2, 0x01, 0x02, 0x00], "t", 2).unwrap_err(),
            RlpError::TrailingBytes { extra: 1 }
        );
        assert!(matches!(
            decode_list(&[0xc2, 0x01, 0x02], "t", 3),
            Err(RlpError::WrongFieldCount {
                expected: 3,
                found: 2,
                ..
            })
        ));
        // list header says 3 bytes but the last item is cut
        assert!(decode_list(&[0xc3, 0x01, 0x82, 0xff], "t", 2).is_err());
    }

    #[test]
    fn refuses_non_canonical_integers() {
        let items = decode_list(&[0xc3, 0x81, 0x05, 0x00], "t", 2);
        assert!(matches!(
            items,
            Err(RlpError::NonCanonicalSingleByte { .. })
        ));
        let items = decode_list(&[0xc3, 0x82, 0x00, 0x05], "t", 1).unwrap();
        assert!(matches!(
            items[0].u64("n"),
            Err(RlpError::LeadingZero { .. })
        ));
        // long form for a short string
        let mut bad = vec![0xc4, 0xb8, 0x02, 0x01, 0x02];
        assert!(matches!(
            decode_list(&bad, "t", 1),
            Err(RlpError::Header { .. })
        ));
        bad[0] = 0xc5;
        assert!(decode_list(&bad, "t", 1).is_err());
    }

    #[test]
    fn integer_widths() {
        let nine = [0xc9, 0x88, 1, 2, 3, 4, 5, 6, 7, 8];
        let items = decode_list(&nine, "t", 1).unwrap();
        assert_eq!(items[0].u64("n"), Ok(0x0102030405060708));
        let ten = [0xca, 0x89, 1, 2, 3, 4, 5, 6, 7, 8, 9];
        let items = decode_list(&ten, "t", 1).unwrap();
        assert!(matches!(
            items[0].u64("n"),
            Err(RlpError::IntegerTooLarge { .. })
        ));
        assert!(items[0].u256("n").is_ok());
    }
}
