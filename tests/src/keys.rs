//! anvil's well-known dev keys, derived from the public mnemonic
//! "test test test test test test test test test test test junk".
//! They are PUBLIC and INSECURE: never use them for anything but tests.

use coldsign_core::Address;
use k256::ecdsa::SigningKey;

/// The PUBLIC, INSECURE development mnemonic anvil's dev accounts come from.
pub const DEV_MNEMONIC: &str = "test test test test test test test test test test test junk";

/// anvil's default dev private keys (public, insecure), accounts 0..=5.
pub const DEV_KEYS: [&str; 6] = [
    "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
];

/// A public, insecure key of an account anvil does not fund.
pub const UNFUNDED_KEY: &str = "1111111111111111111111111111111111111111111111111111111111111111";

/// 1 ETH in wei.
pub const ETH: u128 = 1_000_000_000_000_000_000;

/// A signing key from hex.
pub fn key(hex_key: &str) -> SigningKey {
    SigningKey::from_slice(&hex::decode(hex_key).expect("hex")).expect("key")
}

/// The address of a key.
pub fn address_of(k: &SigningKey) -> Address {
    Address::from_verifying_key(k.verifying_key())
}

/// Anvil dev account `i`.
pub fn dev(i: usize) -> (SigningKey, Address) {
    let k = key(DEV_KEYS[i]);
    let a = address_of(&k);
    (k, a)
}
