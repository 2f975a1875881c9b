//! Fees and gas limits: EIP-1559 max fee = base fee x multiplier + priority
//! fee, each with a multiplier and an optional cap per chain; legacy gas
//! price on chains without a base fee; gas limit from `eth_estimateGas` with a
//! margin, 21,000 for plain native transfers.

use coldsign_core::U256;

/// Gas of a plain native transfer to an account without code.
pub(crate) const NATIVE_TRANSFER_GAS: u64 = 21_000;

/// A chain's fee policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FeePolicy {
    /// Base fee multiplier, in percent (200 = 2x).
    pub(crate) base_fee_multiplier_pct: u64,
    /// Priority fee multiplier, in percent (100 = as suggested).
    pub(crate) priority_fee_multiplier_pct: u64,
    /// Upper bound of the max fee per gas, in wei.
    pub(crate) max_fee_cap: Option<U256>,
    /// Upper bound of the priority fee per gas, in wei.
    pub(crate) priority_fee_cap: Option<U256>,
    /// Margin on estimated gas, in percent (120 = +20%).
    pub(crate) gas_margin_pct: u64,
}

/// The fees of one transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fees {
    /// EIP-1559.
    Eip1559 {
        /// Max fee per gas.
        max_fee_per_gas: U256,
        /// Max priority fee per gas.
        max_priority_fee_per_gas: U256,
    },
    /// Legacy gas price.
    Legacy {
        /// Gas price.
        gas_price: U256,
    },
}

impl Fees {
    /// The most one unit of gas can cost.
    pub(crate) fn max_per_gas(&self) -> U256 {
        match self {
            Self::Eip1559 {
                max_fee_per_gas, ..
            } => *max_fee_per_gas,
            Self::Legacy { gas_price } => *gas_price,
        }
    }
}

fn pct(v: U256, pct: u64) -> U256 {
    v.saturating_mul(U256::from(pct)) / U256::from(100u8)
}

fn cap(v: U256, cap: Option<U256>) -> U256 {
    cap.map_or(v, |c| v.min(c))
}

impl FeePolicy {
    /// EIP-1559 fees from the latest base fee and the suggested priority fee.
    /// The priority fee never exceeds the max fee (a cap can lower both).
    pub(crate) fn eip1559(&self, base_fee: U256, suggested_priority: U256) -> Fees {
        let priority = cap(
            pct(suggested_priority, self.priority_fee_multiplier_pct),
            self.priority_fee_cap,
        );
        let max_fee = cap(
            pct(base_fee, self.base_fee_multiplier_pct).saturating_add(priority),
            self.max_fee_cap,
        );
        Fees::Eip1559 {
            max_fee_per_gas: max_fee,
            max_priority_fee_per_gas: priority.min(max_fee),
        }
    }

    /// A legacy gas price from `eth_gasPrice`, with the base fee multiplier
    /// and the max fee cap.
    pub(crate) fn legacy(&self, gas_price: U256) -> Fees {
        Fees::Legacy {
            gas_price: cap(
                pct(gas_price, self.base_fee_multiplier_pct),
                self.max_fee_cap,
            ),
        }
    }

    /// The gas limit for an estimate: the estimate plus the margin.
    pub(crate) fn gas_limit(&self, estimate: u64) -> u64 {
        estimate.saturating_mul(self.gas_margin_pct.max(100)) / 100
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> FeePolicy {
        FeePolicy {
            base_fee_multiplier_pct: 200,
            priority_fee_multiplier_pct: 150,
            max_fee_cap: None,
            priority_fee_cap: None,
            gas_margin_pct: 120,
        }
    }

    #[test]
    fn max_fee_is_base_times_multiplier_plus_priority() {
        let f = policy().eip1559(U256::from(10u64), U256::from(2u64));
        assert_eq!(
            f,
            Fees::Eip1559 {
                max_fee_per_gas: U256::from(23u64),
                max_priority_fee_per_gas: U256::from(3u64)
            }
        );
    }

    #[test]
    fn caps_apply_and_priority_stays_below_max() {
        let p = FeePolicy {
            max_fee_cap: Some(U256::from(5u64)),
            priority_fee_cap: Some(U256::from(100u64)),
            ..policy()
        };
        let f = p.eip1559(U256::from(10u64), U256::from(40u64));
        assert_eq!(
            f,
            Fees::Eip1559 {
                max_fee_per_gas: U256::from(5u64),
                max_priority_fee_per_gas: U256::from(5u64)
            }
        );
        assert_eq!(f.max_per_gas(), U256::from(5u64));
    }

    #[test]
    fn gas_margin() {
        assert_eq!(policy().gas_limit(50_000), 60_000);
        let none = FeePolicy {
            gas_margin_pct: 50,
            ..policy()
        };
        assert_eq!(none.gas_limit(50_000), 50_000);
    }
}
