//! BIP32 key derivation on the Ethereum path `m/44'/60'/A'/0/i`.
//!
//! Signing derives each account node (`m/44'/60'/A'/0`) once per batch and
//! then each distinct child once, however many items it signs: non-hardened
//! children only need the account node's public key (computed once) and one
//! HMAC-SHA512 each, so a batch of 10,000 items from 1,000 senders costs
//! 1,000 child derivations and one public key per sender.

use bip32::{ChildNumber, DerivationPath, ExtendedKey, Prefix, PublicKey as _, XPrv, XPub};
use coldsign_core::{
    address_proof::{self, AddressProof, WalletFingerprint},
    Address,
};
use k256::ecdsa::VerifyingKey;
use rayon::prelude::*;
use std::{collections::BTreeMap, fmt, str::FromStr};
use thiserror::Error;
use zeroize::Zeroizing;

/// BIP44 purpose.
pub const PURPOSE: u32 = 44;
/// SLIP-44 coin type of Ether (used by every EVM chain's common wallets).
pub const COIN_TYPE: u32 = 60;
/// The only accepted change level: the external chain.
pub const CHANGE: u32 = 0;
/// Largest non-hardened index.
pub const MAX_INDEX: u32 = (1 << 31) - 1;

/// Why a path or a derivation was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum HdError {
    /// Not a BIP32 path in canonical form.
    #[error("derivation path {0:?} is not a canonical BIP32 path")]
    BadPath(String),
    /// A valid path outside the allowed `m/44'/60'/<account>'/0/<index>`.
    #[error("derivation path {0:?} is outside the allowed prefix m/44'/60'/<account>'/0/<index>")]
    OutsidePrefix(String),
    /// The BIP32 library refused (a derived key is invalid; probability below 2^-127).
    #[error("key derivation failed: {0}")]
    Derivation(String),
    /// An extended key that BIP32 does not allow, or of the wrong kind.
    #[error("extended key refused: {0}")]
    BadExtendedKey(String),
    /// A proof of possession could not be made.
    #[error("address proof failed: {0}")]
    Proof(String),
}

/// A path `m/44'/60'/account'/0/index`: the only kind the signer derives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EthPath {
    /// The hardened account number.
    pub account: u32,
    /// The non-hardened address index.
    pub index: u32,
}

impl EthPath {
    /// The path of `account` and `index`, if both are in range.
    pub fn new(account: u32, index: u32) -> Option<Self> {
        (account <= MAX_INDEX && index <= MAX_INDEX).then_some(Self { account, index })
    }
}

impl fmt::Display for EthPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "m/{PURPOSE}'/{COIN_TYPE}'/{}'/{CHANGE}/{}",
            self.account, self.index
        )
    }
}

impl FromStr for EthPath {
    type Err = HdError;

    /// Accepts only the canonical spelling (`'` for hardened, no leading zeros).
    fn from_str(s: &str) -> Result<Self, HdError> {
        let parsed: DerivationPath = s.parse().map_err(|_| HdError::BadPath(s.to_owned()))?;
        if parsed.to_string() != s {
            return Err(HdError::BadPath(s.to_owned()));
        }
        let c: Vec<ChildNumber> = parsed.iter().collect();
        let outside = || HdError::OutsidePrefix(s.to_owned());
        if c.len() != 5 {
            return Err(outside());
        }
        let hard =
            |n: ChildNumber, v: Option<u32>| n.is_hardened() && v.is_none_or(|v| n.index() == v);
        let soft =
            |n: ChildNumber, v: Option<u32>| !n.is_hardened() && v.is_none_or(|v| n.index() == v);
        if hard(c[0], Some(PURPOSE))
            && hard(c[1], Some(COIN_TYPE))
            && hard(c[2], None)
            && soft(c[3], Some(CHANGE))
            && soft(c[4], None)
        {
            Ok(Self {
                account: c[2].index(),
                index: c[4].index(),
            })
        } else {
            Err(outside())
        }
    }
}

fn child(n: u32, hardened: bool) -> Result<ChildNumber, HdError> {
    ChildNumber::new(n, hardened).map_err(|e| HdError::Derivation(e.to_string()))
}

fn derr(e: bip32::Error) -> HdError {
    HdError::Derivation(e.to_string())
}

/// The master key of a wallet: the root of every derivation.
pub struct Root(XPrv);

impl fmt::Debug for Root {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Root(<redacted>)")
    }
}

impl Root {
    /// The master key of a 64-byte BIP39 seed.
    pub fn from_seed(seed: &[u8; 64]) -> Result<Self, HdError> {
        XPrv::new(seed).map(Self).map_err(derr)
    }

    /// The BIP32 fingerprint of the master public key, as 8 hex digits: a
    /// public name of the wallet that reveals nothing about its keys.
    pub fn fingerprint(&self) -> String {
        self.wallet_fingerprint().to_string()
    }

    /// The same fingerprint as a value.
    pub fn wallet_fingerprint(&self) -> WalletFingerprint {
        WalletFingerprint(self.0.public_key().fingerprint())
    }

    fn account_level(&self, account: u32) -> Result<XPrv, HdError> {
        self.0
            .derive_child(child(PURPOSE, true)?)
            .and_then(|k| k.derive_child(ChildNumber::new(COIN_TYPE, true)?))
            .and_then(|k| k.derive_child(ChildNumber::new(account, true)?))
            .map_err(derr)
    }

    /// The account-level extended public key `m/44'/60'/account'`, for
    /// watch-only derivation of the account's addresses.
    pub fn account_xpub(&self, account: u32) -> Result<AccountXpub, HdError> {
        Ok(AccountXpub(self.account_level(account)?.public_key()))
    }

    /// The node `m/44'/60'/account'/0`, whose children are the account's keys.
    pub fn account_node(&self, account: u32) -> Result<AccountNode, HdError> {
        let node = self
            .account_level(account)?
            .derive_child(child(CHANGE, false)?)
            .map_err(derr)?;
        AccountNode::new(node)
    }

    /// Derives the keys of every distinct path in `paths`: each account node
    /// once, each child once, children in parallel.
    pub fn derive_keys<'a>(
        &self,
        paths: impl IntoIterator<Item = &'a EthPath>,
    ) -> Result<KeyRing, HdError> {
        let mut by_account: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        for p in paths {
            by_account.entry(p.account).or_default().push(p.index);
        }
        let mut keys = BTreeMap::new();
        for (account, mut indexes) in by_account {
            indexes.sort_unstable();
            indexes.dedup();
            let node = self.account_node(account)?;
            let derived: Vec<(EthPath, DerivedKey)> = indexes
                .par_iter()
                .map(|&index| {
                    let key = node.child(index)?;
                    Ok((EthPath { account, index }, key))
                })
                .collect::<Result<_, HdError>>()?;
            keys.extend(derived);
        }
        Ok(KeyRing { keys })
    }
}

/// An account node `m/44'/60'/A'/0` with its public key computed once.
pub struct AccountNode {
    node: XPrv,
    public: VerifyingKey,
    secret: secp256k1::SecretKey,
    ctx: secp256k1::Secp256k1<secp256k1::SignOnly>,
}

impl Drop for AccountNode {
    fn drop(&mut self) {
        self.secret.non_secure_erase();
    }
}

impl fmt::Debug for AccountNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccountNode(<redacted>)")
    }
}

impl AccountNode {
    fn new(node: XPrv) -> Result<Self, HdError> {
        let public = *node.private_key().verifying_key();
        let bytes = Zeroizing::new(<[u8; 32]>::from(node.private_key().to_bytes()));
        let secret = secp256k1::SecretKey::from_slice(bytes.as_ref())
            .map_err(|e| HdError::Derivation(e.to_string()))?;
        Ok(Self {
            node,
            public,
            secret,
            ctx: secp256k1::Secp256k1::signing_only(),
        })
    }

    /// The key and address of non-hardened child `index` (BIP32 CKDpriv:
    /// the tweak is HMAC-SHA512 of the chain code, the parent public key
    /// and the index; the child key is parent + tweak mod n).
    pub fn child(&self, index: u32) -> Result<DerivedKey, HdError> {
        let (tweak, _chain_code) = self
            .public
            .derive_tweak(&self.node.attrs().chain_code, child(index, false)?)
            .map_err(derr)?;
        let tweak = Zeroizing::new(tweak);
        let bad = |e: secp256k1::Error| HdError::Derivation(e.to_string());
        let scalar = secp256k1::Scalar::from_be_bytes(*tweak)
            .map_err(|_| HdError::Derivation("tweak is not below the curve order".into()))?;
        let key = self.secret.add_tweak(&scalar).map_err(bad)?;
        let public = secp256k1::PublicKey::from_secret_key(&self.ctx, &key);
        let address = Address::from_uncompressed_public_key(&public.serialize_uncompressed());
        Ok(DerivedKey {
            key,
            address,
            public,
        })
    }

    /// The address of child `index` with its proof of possession: the
    /// child key signs [`address_proof::proof_message`] of `fingerprint`,
    /// the path and the address (RFC 6979, low s) with `ctx`, a context
    /// from [`proof_context`]. Costs one child derivation and one
    /// signature.
    pub fn proven_address(
        &self,
        account: u32,
        index: u32,
        fingerprint: &WalletFingerprint,
        ctx: &ProofContext,
    ) -> Result<ProvenAddress, HdError> {
        let key = self.child(index)?;
        let path = EthPath { account, index }.to_string();
        let digest = address_proof::proof_message(fingerprint, &path, &key.address)
            .map_err(|e| HdError::Proof(e.to_string()))?;
        let msg =
            secp256k1::Message::from_slice(&digest.0).map_err(|e| HdError::Proof(e.to_string()))?;
        let (recid, rs) = ctx
            .0
            .sign_ecdsa_recoverable(&msg, &key.key)
            .serialize_compact();
        let proof = AddressProof::from_compact(recid.to_i32() == 1, &rs)
            .map_err(|e| HdError::Proof(e.to_string()))?;
        Ok(ProvenAddress {
            index,
            path,
            address: key.address,
            public_key: format!("0x{}", hex::encode(key.public.serialize())),
            proof,
        })
    }
}

/// A libsecp256k1 signing context for proofs, randomised against side
/// channels (shared by the threads that sign).
pub struct ProofContext(secp256k1::Secp256k1<secp256k1::SignOnly>);

impl fmt::Debug for ProofContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProofContext")
    }
}

/// A fresh [`ProofContext`], randomised from the operating system's RNG.
pub fn proof_context() -> ProofContext {
    use rand_core::RngCore;
    let mut seed = Zeroizing::new([0u8; 32]);
    rand_core::OsRng.fill_bytes(seed.as_mut());
    let mut ctx = secp256k1::Secp256k1::signing_only();
    ctx.seeded_randomize(&seed);
    ProofContext(ctx)
}

/// One exported address with its proof of possession.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProvenAddress {
    /// The address index `i`.
    pub index: u32,
    /// The full derivation path.
    pub path: String,
    /// The EIP-55 address.
    pub address: Address,
    /// The compressed SEC1 public key, `0x`-prefixed hex.
    pub public_key: String,
    /// The signature of the address's key over the proof message.
    pub proof: AddressProof,
}

/// A derived signing key (libsecp256k1) and its address; the key is wiped
/// on drop.
pub struct DerivedKey {
    key: secp256k1::SecretKey,
    address: Address,
    public: secp256k1::PublicKey,
}

impl Drop for DerivedKey {
    fn drop(&mut self) {
        self.key.non_secure_erase();
    }
}

impl fmt::Debug for DerivedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DerivedKey({}, <redacted>)", self.address)
    }
}

impl DerivedKey {
    /// The key's address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// The signing key (wiped when the `DerivedKey` is dropped).
    pub fn expose_secp256k1_key(&self) -> &secp256k1::SecretKey {
        &self.key
    }
}

/// The keys of one batch, by path.
#[derive(Debug)]
pub struct KeyRing {
    keys: BTreeMap<EthPath, DerivedKey>,
}

impl KeyRing {
    /// The key of `path`, if it was derived.
    pub fn get(&self, path: &EthPath) -> Option<&DerivedKey> {
        self.keys.get(path)
    }

    /// How many distinct keys were derived.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key was derived.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// An account-level extended public key `m/44'/60'/A'`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountXpub(XPub);

/// One exported address.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AddressInfo {
    /// The address index `i`.
    pub index: u32,
    /// The full derivation path.
    pub path: String,
    /// The EIP-55 address.
    pub address: Address,
    /// The compressed SEC1 public key, `0x`-prefixed hex.
    pub public_key: String,
}

/// The kind of a strictly parsed extended key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtendedKeyKind {
    /// An `xpub`: version 0x0488B21E and a valid compressed public key.
    Public,
    /// An `xprv`: version 0x0488ADE4, a zero byte and a scalar in 1..n-1.
    Private,
}

/// Parses a BIP32 extended key (Base58Check, 78 bytes) strictly: the
/// checksum; the version bytes, which must be mainnet `xpub` or `xprv`; the
/// key data, which must match the version (a public key with a 02/03 prefix
/// on the curve, or a zero byte and a private key in 1..n-1); and the
/// depth-0 rules (a master key has parent fingerprint 0 and child number 0).
/// The invalid keys of BIP-0032 "Test vector 5" are all refused.
pub fn parse_extended_key(s: &str) -> Result<(ExtendedKeyKind, ExtendedKey), HdError> {
    let bad = |why: &str| HdError::BadExtendedKey(why.to_owned());
    let key: ExtendedKey = s.parse().map_err(|_| {
        bad("not a Base58Check extended key of 78 bytes (a typo, or a damaged checksum)")
    })?;
    let kind = if key.prefix.version() == Prefix::XPUB.version() {
        ExtendedKeyKind::Public
    } else if key.prefix.version() == Prefix::XPRV.version() {
        ExtendedKeyKind::Private
    } else {
        return Err(HdError::BadExtendedKey(format!(
            "unknown version bytes {:#010x} (only xpub 0x0488b21e and xprv 0x0488ade4)",
            key.prefix.version()
        )));
    };
    if key.attrs.depth == 0 {
        if key.attrs.parent_fingerprint != [0; 4] {
            return Err(bad(
                "a depth-0 (master) key with a non-zero parent fingerprint",
            ));
        }
        if u32::from(key.attrs.child_number) != 0 {
            return Err(bad("a depth-0 (master) key with a non-zero child number"));
        }
    }
    match kind {
        ExtendedKeyKind::Public => {
            if !matches!(key.key_bytes[0], 2 | 3) {
                return Err(HdError::BadExtendedKey(format!(
                    "xpub key data starts with {:#04x}, not 0x02 or 0x03 (a private key, or not a compressed public key)",
                    key.key_bytes[0]
                )));
            }
            secp256k1::PublicKey::from_slice(&key.key_bytes)
                .map_err(|_| bad("xpub key data is not a point on secp256k1"))?;
        }
        ExtendedKeyKind::Private => {
            if key.key_bytes[0] != 0 {
                return Err(bad(
                    "xprv key data does not start with a zero byte (a public key?)",
                ));
            }
            secp256k1::SecretKey::from_slice(&key.key_bytes[1..])
                .map_err(|_| bad("xprv private key is not in 1..n-1"))?;
        }
    }
    Ok((kind, key))
}

impl AccountXpub {
    /// Parses an `xpub…` string strictly ([`parse_extended_key`]); an
    /// `xprv` is refused.
    pub fn parse(s: &str) -> Result<Self, HdError> {
        match parse_extended_key(s)? {
            (ExtendedKeyKind::Public, key) => XPub::try_from(key).map(Self).map_err(derr),
            (ExtendedKeyKind::Private, _) => Err(HdError::BadExtendedKey(
                "an xprv (a private key) where an xpub is expected".into(),
            )),
        }
    }

    /// The `xpub…` string.
    pub fn to_xpub_string(&self) -> String {
        self.0.to_string(Prefix::XPUB)
    }

    /// The external chain `m/44'/60'/account'/0` of this account, ready to
    /// derive addresses (`account` only names the paths).
    pub fn external_chain(&self, account: u32) -> Result<ExternalChain, HdError> {
        let node = self.0.derive_child(child(CHANGE, false)?).map_err(derr)?;
        let public = secp256k1::PublicKey::from_slice(&node.public_key().to_bytes())
            .map_err(|e| HdError::Derivation(e.to_string()))?;
        Ok(ExternalChain {
            account,
            node,
            public,
            ctx: secp256k1::Secp256k1::verification_only(),
        })
    }

    /// The addresses `start .. start + count` of `account`, derived from this
    /// public key alone, in parallel.
    pub fn addresses(
        &self,
        account: u32,
        start: u32,
        count: u32,
    ) -> Result<Vec<AddressInfo>, HdError> {
        self.external_chain(account)?.addresses(start, count)
    }
}

/// The node `m/44'/60'/A'/0` of an account's extended public key: each of
/// its non-hardened children is one address, derived without any secret.
///
/// A child costs one HMAC-SHA512 (the BIP32 tweak) and one public-key tweak
/// (`parent + tweak·G`, libsecp256k1 with its precomputed generator table),
/// then one Keccak-256 for the address.
pub struct ExternalChain {
    account: u32,
    node: XPub,
    public: secp256k1::PublicKey,
    ctx: secp256k1::Secp256k1<secp256k1::VerifyOnly>,
}

impl fmt::Debug for ExternalChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ExternalChain(m/44'/60'/{}'/0)", self.account)
    }
}

impl ExternalChain {
    /// The address of child `index` (BIP32 CKDpub: the tweak is HMAC-SHA512
    /// of the chain code, the parent public key and the index; the child
    /// public key is parent + tweak·G).
    pub fn address(&self, index: u32) -> Result<AddressInfo, HdError> {
        let (tweak, _chain_code) = self
            .node
            .public_key()
            .derive_tweak(&self.node.attrs().chain_code, child(index, false)?)
            .map_err(derr)?;
        let scalar = secp256k1::Scalar::from_be_bytes(tweak)
            .map_err(|_| HdError::Derivation("tweak is not below the curve order".into()))?;
        let key = self
            .public
            .add_exp_tweak(&self.ctx, &scalar)
            .map_err(|e| HdError::Derivation(e.to_string()))?;
        Ok(AddressInfo {
            index,
            path: EthPath {
                account: self.account,
                index,
            }
            .to_string(),
            address: Address::from_uncompressed_public_key(&key.serialize_uncompressed()),
            public_key: format!("0x{}", hex::encode(key.serialize())),
        })
    }

    /// The addresses `start .. start + count`, in parallel, in index order.
    pub fn addresses(&self, start: u32, count: u32) -> Result<Vec<AddressInfo>, HdError> {
        let end = start
            .checked_add(count)
            .filter(|&e| e <= MAX_INDEX + 1)
            .ok_or_else(|| HdError::Derivation("index range beyond 2^31 - 1".into()))?;
        (start..end)
            .into_par_iter()
            .map(|index| self.address(index))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::secret::SeedMaterial;

    /// PUBLIC, INSECURE development mnemonic (Hardhat / anvil); never fund it.
    const DEV_MNEMONIC: &str = "test test test test test test test test test test test junk";
    const DEV_ADDRESSES: [&str; 3] = [
        "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
    ];

    fn dev_root() -> Root {
        let s = SeedMaterial::from_phrase(DEV_MNEMONIC, Default::default()).unwrap();
        Root::from_seed(&s.to_seed().unwrap()).unwrap()
    }

    #[test]
    fn dev_mnemonic_gives_the_well_known_addresses() {
        let root = dev_root();
        let node = root.account_node(0).unwrap();
        let xpub = root.account_xpub(0).unwrap();
        let public = xpub.addresses(0, 0, 3).unwrap();
        for (i, want) in DEV_ADDRESSES.iter().enumerate() {
            let i = u32::try_from(i).unwrap();
            assert_eq!(node.child(i).unwrap().address().to_checksum(), *want);
            assert_eq!(public[i as usize].address.to_checksum(), *want);
        }
        assert_eq!(public[2].path, "m/44'/60'/0'/0/2");
        let xpub_text = xpub.to_xpub_string();
        assert_eq!(AccountXpub::parse(&xpub_text).unwrap(), xpub);
    }

    #[test]
    fn public_derivation_equals_private_and_bip32_crate_derivation() {
        let root = dev_root();
        let node = root.account_node(0).unwrap();
        let xpub = root.account_xpub(0).unwrap();
        let chain = xpub.external_chain(0).unwrap();
        let reference = xpub.0.derive_child(child(CHANGE, false).unwrap()).unwrap();
        for index in (0..40).chain([1_000, 99_999, MAX_INDEX - 1, MAX_INDEX]) {
            let info = chain.address(index).unwrap();
            assert_eq!(info.address, node.child(index).unwrap().address());
            let k = reference
                .derive_child(child(index, false).unwrap())
                .unwrap();
            assert_eq!(
                info.public_key,
                format!("0x{}", hex::encode(k.public_key().to_bytes()))
            );
            assert_eq!(info.path, format!("m/44'/60'/0'/0/{index}"));
        }
        assert!(chain.addresses(MAX_INDEX, 2).is_err());
        assert_eq!(chain.addresses(MAX_INDEX, 1).unwrap().len(), 1);
    }

    #[test]
    fn matches_the_fixture_vectors() {
        let text = include_str!("../../fixtures/vectors/bip32_bip44.json");
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        let root = dev_root();
        let mut paths = Vec::new();
        for entry in v["vectors"].as_array().unwrap() {
            paths.push(entry["path"].as_str().unwrap().parse::<EthPath>().unwrap());
        }
        let ring = root.derive_keys(&paths).unwrap();
        for (entry, path) in v["vectors"].as_array().unwrap().iter().zip(&paths) {
            let key = ring.get(path).unwrap();
            assert_eq!(
                key.address().to_checksum(),
                entry["address"].as_str().unwrap()
            );
        }
    }

    #[test]
    fn paths_outside_the_prefix_are_refused() {
        assert_eq!(
            "m/44'/60'/3'/0/17".parse::<EthPath>(),
            Ok(EthPath {
                account: 3,
                index: 17
            })
        );
        for bad in [
            "m/44'/60'/0'/0",
            "m/44'/60'/0'/1/0",
            "m/44'/61'/0'/0/0",
            "m/49'/60'/0'/0/0",
            "m/44'/60'/0/0/0",
            "m/44'/60'/0'/0/0'",
            "m/44'/60'/0'/0/0/1",
            "m/44h/60h/0h/0/0",
            "m/44'/60'/0'/0/07",
            "",
        ] {
            assert!(bad.parse::<EthPath>().is_err(), "{bad}");
        }
    }

    #[test]
    fn bip32_test_vector_5_keys_are_all_refused() {
        let text = include_str!("../../fixtures/vectors/bip32_invalid.json");
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        let invalid = v["vectors"].as_array().unwrap();
        assert_eq!(invalid.len(), 16);
        for entry in invalid {
            let key = entry["key"].as_str().unwrap();
            let reason = entry["reason"].as_str().unwrap();
            assert!(
                parse_extended_key(key).is_err(),
                "accepted ({reason}): {key}"
            );
            assert!(
                AccountXpub::parse(key).is_err(),
                "accepted as xpub ({reason}): {key}"
            );
        }
        for entry in v["valid"].as_array().unwrap() {
            let key = entry["key"].as_str().unwrap();
            let (kind, _) = parse_extended_key(key).unwrap();
            match entry["kind"].as_str().unwrap() {
                "xpub" => {
                    assert_eq!(kind, ExtendedKeyKind::Public);
                    assert_eq!(AccountXpub::parse(key).unwrap().to_xpub_string(), key);
                }
                _ => {
                    assert_eq!(kind, ExtendedKeyKind::Private);
                    let err = AccountXpub::parse(key).unwrap_err().to_string();
                    assert!(err.contains("xprv"), "{err}");
                }
            }
        }
    }

    #[test]
    fn depth_zero_rules_are_named() {
        let text = include_str!("../../fixtures/vectors/bip32_invalid.json");
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        for entry in v["vectors"].as_array().unwrap() {
            let reason = entry["reason"].as_str().unwrap();
            if let Some(what) = reason.strip_prefix("zero depth with non-zero ") {
                let err = parse_extended_key(entry["key"].as_str().unwrap())
                    .err()
                    .unwrap()
                    .to_string();
                let want = if what == "index" {
                    "non-zero child number"
                } else {
                    "non-zero parent fingerprint"
                };
                assert!(err.contains(want), "{reason}: {err}");
            }
        }
    }

    #[test]
    fn proven_addresses_verify_and_are_the_derived_ones() {
        let root = dev_root();
        let fp = root.wallet_fingerprint();
        let node = root.account_node(0).unwrap();
        let ctx = proof_context();
        for (i, want) in DEV_ADDRESSES.iter().enumerate() {
            let index = u32::try_from(i).unwrap();
            let p = node.proven_address(0, index, &fp, &ctx).unwrap();
            assert_eq!(p.address.to_checksum(), *want);
            assert_eq!(p.path, format!("m/44'/60'/0'/0/{i}"));
            p.proof.verify(&fp, &p.path, &p.address).unwrap();
            let digest = address_proof::proof_message(&fp, &p.path, &p.address).unwrap();
            // Recovered by k256, another implementation than the one that signed.
            assert_eq!(p.proof.signature().recover_address(&digest), Ok(p.address));
            let public = root
                .account_xpub(0)
                .unwrap()
                .addresses(0, index, 1)
                .unwrap();
            assert_eq!(p.public_key, public[0].public_key);
        }
        let p = node.proven_address(0, 7, &fp, &ctx).unwrap();
        assert!(p.proof.verify(&fp, "m/44'/60'/0'/0/8", &p.address).is_err());
    }

    #[test]
    fn debug_hides_keys() {
        let root = dev_root();
        assert_eq!(format!("{root:?}"), "Root(<redacted>)");
        let k = root.account_node(0).unwrap().child(0).unwrap();
        assert!(!format!("{k:?}").contains("ac0974"));
    }
}
