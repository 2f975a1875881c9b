//! Chain names for the review: a built-in table of well-known chain ids,
//! plus names the policy gives (`[chain_names]`) for others.

/// Well-known EIP-155 chain ids and their names.
pub const WELL_KNOWN: &[(u64, &str)] = &[
    (1, "Ethereum"),
    (10, "OP Mainnet"),
    (56, "BNB Smart Chain"),
    (137, "Polygon"),
    (8453, "Base"),
    (17000, "Holesky (testnet)"),
    (31337, "local anvil/hardhat (development)"),
    (42161, "Arbitrum One"),
    (11155111, "Sepolia (testnet)"),
];

/// The built-in name of `chain_id`, if it is well known.
pub fn well_known(chain_id: u64) -> Option<&'static str> {
    WELL_KNOWN
        .iter()
        .find(|(id, _)| *id == chain_id)
        .map(|(_, name)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_names_the_common_chains() {
        assert_eq!(well_known(1), Some("Ethereum"));
        assert_eq!(well_known(8453), Some("Base"));
        assert_eq!(well_known(11155111), Some("Sepolia (testnet)"));
        assert_eq!(well_known(5), None);
        let mut ids: Vec<u64> = WELL_KNOWN.iter().map(|(id, _)| *id).collect();
        ids.dedup();
        assert_eq!(ids.len(), WELL_KNOWN.len());
    }
}
