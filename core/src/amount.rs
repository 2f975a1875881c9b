//! Amounts: exact 256-bit unsigned integers in base units, and conversion to
//! and from decimal strings for an asset with a given number of decimals.
//!
//! There is no floating point anywhere in here, nor anywhere money is handled.

use thiserror::Error;

pub use primitive_types::U256;

/// The largest number of decimals an asset may have: `10^77` is the largest
/// power of ten below `2^256`.
pub const MAX_DECIMALS: u8 = 77;

/// Why a decimal amount was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum AmountError {
    /// Not of the form `123` or `123.456`.
    #[error(
        "amount {0:?} is not a plain decimal number (digits, optionally one '.' and more digits)"
    )]
    Malformed(String),
    /// More fraction digits than the asset has decimals.
    #[error("amount {amount:?} has more than {decimals} decimal places")]
    TooManyDecimals {
        /// The text given.
        amount: String,
        /// The asset's decimals.
        decimals: u8,
    },
    /// The amount does not fit in 256 bits of base units.
    #[error("amount {0:?} is too large")]
    Overflow(String),
    /// The asset's decimals are above [`MAX_DECIMALS`].
    #[error("an asset cannot have {0} decimals (at most {MAX_DECIMALS})")]
    UnsupportedDecimals(u8),
}

fn pow10(decimals: u8) -> Result<U256, AmountError> {
    if decimals > MAX_DECIMALS {
        return Err(AmountError::UnsupportedDecimals(decimals));
    }
    Ok(U256::from(10u8).pow(U256::from(decimals)))
}

/// Parses a decimal string such as `"1.5"` into base units (`1500000` for 6
/// decimals). Accepts digits with at most one `.` followed by at least one
/// digit; no sign, exponent, separators, spaces, or leading zeros other than a
/// lone `0` before the point. Trailing zeros in the fraction are accepted.
pub fn parse_units(amount: &str, decimals: u8) -> Result<U256, AmountError> {
    let scale = pow10(decimals)?;
    let malformed = || AmountError::Malformed(amount.to_owned());
    let (int_part, frac_part) = match amount.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (amount, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int_part) || (int_part.len() > 1 && int_part.starts_with('0')) {
        return Err(malformed());
    }
    let frac = match frac_part {
        Some(f) if !all_digits(f) => return Err(malformed()),
        Some(f) => f.trim_end_matches('0'),
        None => "",
    };
    if frac.len() > usize::from(decimals) {
        return Err(AmountError::TooManyDecimals {
            amount: amount.to_owned(),
            decimals,
        });
    }
    let overflow = || AmountError::Overflow(amount.to_owned());
    let int_value = U256::from_dec_str(int_part).map_err(|_| overflow())?;
    let mut frac_value = U256::zero();
    if !frac.is_empty() {
        frac_value = U256::from_dec_str(frac).map_err(|_| overflow())?;
        // `frac.len() <= decimals <= 77`, so this cannot fail.
        let missing = decimals - u8::try_from(frac.len()).map_err(|_| overflow())?;
        frac_value = frac_value
            .checked_mul(pow10(missing)?)
            .ok_or_else(overflow)?;
    }
    int_value
        .checked_mul(scale)
        .and_then(|v| v.checked_add(frac_value))
        .ok_or_else(overflow)
}

/// Formats base units as the shortest exact decimal string: no trailing zeros
/// in the fraction and no `.` for whole amounts (`1500000`, 6 → `"1.5"`).
pub fn format_units(value: U256, decimals: u8) -> Result<String, AmountError> {
    let scale = pow10(decimals)?;
    let (int_value, frac_value) = value.div_mod(scale);
    if frac_value.is_zero() {
        return Ok(int_value.to_string());
    }
    let frac = format!(
        "{:0>width$}",
        frac_value.to_string(),
        width = usize::from(decimals)
    );
    Ok(format!("{int_value}.{}", frac.trim_end_matches('0')))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn u(v: u128) -> U256 {
        U256::from(v)
    }

    #[test]
    fn parses_examples() {
        assert_eq!(parse_units("1.5", 6), Ok(u(1_500_000)));
        assert_eq!(parse_units("0", 18), Ok(u(0)));
        assert_eq!(parse_units("0.000000000000000001", 18), Ok(u(1)));
        assert_eq!(parse_units("12", 0), Ok(u(12)));
        assert_eq!(parse_units("1.50", 6), Ok(u(1_500_000)));
        assert_eq!(parse_units("1.0", 0), Ok(u(1)));
    }

    #[test]
    fn refuses_malformed_amounts() {
        for bad in [
            "", ".", "1.", ".5", "-1", "+1", "1e3", "1,000", " 1", "1 ", "01", "1..2", "0x10", "١",
        ] {
            assert!(
                matches!(parse_units(bad, 18), Err(AmountError::Malformed(_))),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn refuses_too_many_decimals_and_overflow() {
        assert!(matches!(
            parse_units("0.0000001", 6),
            Err(AmountError::TooManyDecimals { .. })
        ));
        assert!(matches!(
            parse_units("1.5", 0),
            Err(AmountError::TooManyDecimals { .. })
        ));
        let max = U256::MAX.to_string();
        assert_eq!(parse_units(&max, 0), Ok(U256::MAX));
        assert!(matches!(
            parse_units(&format!("{max}0"), 0),
            Err(AmountError::Overflow(_))
        ));
        assert!(matches!(
            parse_units(&max, 1),
            Err(AmountError::Overflow(_))
        ));
        assert_eq!(
            parse_units("1", 78),
            Err(AmountError::UnsupportedDecimals(78))
        );
    }

    #[test]
    fn formats_examples() {
        assert_eq!(format_units(u(1_500_000), 6).as_deref(), Ok("1.5"));
        assert_eq!(
            format_units(u(1), 18).as_deref(),
            Ok("0.000000000000000001")
        );
        assert_eq!(format_units(u(0), 18).as_deref(), Ok("0"));
        assert_eq!(format_units(u(10), 1).as_deref(), Ok("1"));
        assert_eq!(
            format_units(U256::MAX, 77).as_deref(),
            Ok("1.15792089237316195423570985008687907853269984665640564039457584007913129639935")
        );
    }

    proptest! {
        #[test]
        fn format_then_parse_is_identity(limbs in any::<[u64; 4]>(), decimals in 0u8..=77) {
            let value = U256(limbs);
            let text = format_units(value, decimals).unwrap();
            prop_assert_eq!(parse_units(&text, decimals).unwrap(), value);
        }

        #[test]
        fn parse_then_format_is_canonical(int in "[1-9][0-9]{0,20}|0", frac in "[0-9]{0,18}", decimals in 18u8..=30) {
            let text = if frac.is_empty() { int.clone() } else { format!("{int}.{frac}") };
            let value = parse_units(&text, decimals).unwrap();
            let back = format_units(value, decimals).unwrap();
            let trimmed = frac.trim_end_matches('0');
            let expected = if trimmed.is_empty() { int } else { format!("{int}.{trimmed}") };
            prop_assert_eq!(back, expected);
        }
    }
}
