//! The checks that run on the whole batch before anything is signed, and the
//! parallel signing itself.
//!
//! Order of work for `signer sign`:
//! 1. [`check_batch`] (no key needed): every item's chain id, validity as a
//!    transaction, recomputed signing hash, decoded token transfer against its
//!    summary, derivation path inside the allowed prefix; per sender, nonces
//!    distinct and contiguous.
//! 2. [`derive_and_match`]: derive each distinct key once (each account node
//!    once) and check every item's derived address equals its sender.
//! 3. [`sign_all`]: sign every item on all cores, deterministically
//!    (RFC 6979), and spot-check a recovered signature.
//!
//! Signing uses libsecp256k1 (the `secp256k1` crate, Bitcoin Core's
//! library): about twice as fast as the pure-Rust `k256`, with the same
//! RFC 6979 nonces and low-s normalisation, so the signatures are identical
//! (a unit test checks this, and every integration test compares each raw
//! transaction with ethers.js).
//!
//! Any failure refuses the whole batch and names the item.

use crate::hd::{EthPath, KeyRing, Root};
use coldsign_core::{
    batch::{SignedBatch, UnsignedBatch},
    Address, Signature, SignedTransaction, B256, U256,
};
use rayon::prelude::*;
use std::collections::BTreeMap;
use thiserror::Error;

/// Why a batch was refused before signing.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CheckError {
    /// One item fails a check.
    #[error("item {index} (order {order_id:?}): {reason}")]
    Item {
        /// Position in the file, from 0.
        index: usize,
        /// The item's order id.
        order_id: String,
        /// What is wrong.
        reason: String,
    },
    /// A sender's nonces have a gap.
    #[error("nonces of {from} are not contiguous: {nonces}")]
    NonceGap {
        /// The sender.
        from: Address,
        /// The sender's nonces, sorted.
        nonces: String,
    },
    /// Two items of a sender share a nonce.
    #[error("nonce {nonce} of {from} is used more than once")]
    DuplicateNonce {
        /// The sender.
        from: Address,
        /// The nonce.
        nonce: u64,
    },
    /// Signing failed (a bug or a broken key).
    #[error("item {index}: signing failed: {reason}")]
    Signing {
        /// Position in the file.
        index: usize,
        /// What failed.
        reason: String,
    },
}

/// A batch that passed every check that needs no key.
#[derive(Debug)]
pub struct CheckedBatch<'a> {
    batch: &'a UnsignedBatch,
    paths: Vec<EthPath>,
    hashes: Vec<B256>,
    amounts: Vec<U256>,
}

impl CheckedBatch<'_> {
    /// The batch.
    pub fn batch(&self) -> &UnsignedBatch {
        self.batch
    }

    /// Each item's parsed derivation path, in item order.
    pub fn paths(&self) -> &[EthPath] {
        &self.paths
    }

    /// Each item's amount in base units of its asset, decoded from the
    /// transaction (equal to its summary's, which was checked).
    pub fn amounts(&self) -> &[U256] {
        &self.amounts
    }

    /// Each item's account number, in item order.
    pub fn accounts(&self) -> Vec<u32> {
        self.paths.iter().map(|p| p.account).collect()
    }
}

fn item_err(batch: &UnsignedBatch, index: usize, reason: impl ToString) -> CheckError {
    CheckError::Item {
        index,
        order_id: batch.items()[index].order_id().to_owned(),
        reason: reason.to_string(),
    }
}

/// Runs every check that needs no key on the whole batch.
pub fn check_batch(batch: &UnsignedBatch) -> Result<CheckedBatch<'_>, CheckError> {
    let checked: Vec<(EthPath, B256, U256)> = batch
        .items()
        .par_iter()
        .enumerate()
        .map(|(index, item)| {
            let tx = item.transaction();
            if tx.chain_id() == 0 || tx.chain_id() != batch.chain_id() {
                return Err(item_err(
                    batch,
                    index,
                    format!(
                        "chain id {} is not the batch's {} (or is 0)",
                        tx.chain_id(),
                        batch.chain_id()
                    ),
                ));
            }
            // `UnsignedBatch` already checked the transaction's validity and
            // its summary against it, and recomputed this signing hash from
            // the fields (refusing the file if the stated one differed): an
            // `UnsignedBatch` cannot hold an item that fails them, so they
            // are not run a second time here.
            let hash = item.signing_hash();
            if item.summary().token.is_none()
                && item.summary().decimals != crate::policy::NATIVE_DECIMALS
            {
                return Err(item_err(
                    batch,
                    index,
                    format!(
                        "a native coin amount has {} decimals, but the summary says {}: the amount would be shown wrongly (100 ETH labelled with 30 decimals reads as 0.0000000001)",
                        crate::policy::NATIVE_DECIMALS,
                        item.summary().decimals
                    ),
                ));
            }
            let amount = match item.summary().token {
                None => tx.value(),
                Some(_) => {
                    coldsign_core::erc20::Transfer::decode(tx.input())
                        .map_err(|e| item_err(batch, index, e))?
                        .amount
                }
            };
            let path: EthPath = item
                .derivation_path()
                .parse()
                .map_err(|e| item_err(batch, index, e))?;
            Ok((path, hash, amount))
        })
        .collect::<Result<_, _>>()?;
    check_nonces(batch)?;
    let mut paths = Vec::with_capacity(checked.len());
    let mut hashes = Vec::with_capacity(checked.len());
    let mut amounts = Vec::with_capacity(checked.len());
    for (p, h, a) in checked {
        paths.push(p);
        hashes.push(h);
        amounts.push(a);
    }
    Ok(CheckedBatch {
        batch,
        paths,
        hashes,
        amounts,
    })
}

/// Per sender, nonces must be distinct and form one run without gaps.
fn check_nonces(batch: &UnsignedBatch) -> Result<(), CheckError> {
    let mut by_sender: BTreeMap<Address, Vec<u64>> = BTreeMap::new();
    for item in batch.items() {
        by_sender
            .entry(item.from())
            .or_default()
            .push(item.transaction().nonce());
    }
    for (from, mut nonces) in by_sender {
        nonces.sort_unstable();
        for pair in nonces.windows(2) {
            if pair[0] == pair[1] {
                return Err(CheckError::DuplicateNonce {
                    from,
                    nonce: pair[0],
                });
            }
            if pair[1] != pair[0] + 1 {
                let shown: Vec<String> = nonces.iter().take(20).map(u64::to_string).collect();
                return Err(CheckError::NonceGap {
                    from,
                    nonces: shown.join(", "),
                });
            }
        }
    }
    Ok(())
}

/// Derives each distinct key once and checks each item's derived address is
/// its stated sender.
pub fn derive_and_match(root: &Root, checked: &CheckedBatch<'_>) -> Result<KeyRing, CheckError> {
    let ring = root
        .derive_keys(&checked.paths)
        .map_err(|e| CheckError::Signing {
            index: 0,
            reason: e.to_string(),
        })?;
    for (index, (item, path)) in checked.batch.items().iter().zip(&checked.paths).enumerate() {
        let derived = ring.get(path).map(|k| k.address());
        if derived != Some(item.from()) {
            return Err(item_err(
                checked.batch,
                index,
                format!(
                    "path {path} derives {}, not the stated sender {} (wrong path, wrong sender, or another wallet's batch)",
                    derived.map_or("nothing".to_owned(), |a| a.to_string()),
                    item.from()
                ),
            ));
        }
    }
    Ok(ring)
}

/// Signs every item on all cores. Output order is item order, and signatures
/// are deterministic (RFC 6979), so the same batch always gives the same result.
pub fn sign_all(checked: &CheckedBatch<'_>, ring: &KeyRing) -> Result<SignedBatch, CheckError> {
    let batch = checked.batch;
    let ctx = signing_context();
    let signed: Vec<SignedTransaction> = batch
        .items()
        .par_iter()
        .zip(checked.paths.par_iter().zip(checked.hashes.par_iter()))
        .enumerate()
        .map(|(index, (item, (path, hash)))| {
            let key = ring.get(path).ok_or_else(|| CheckError::Signing {
                index,
                reason: "key not derived".into(),
            })?;
            let sig = sign_hash_fast(&ctx, key.expose_secp256k1_key(), hash)
                .map_err(|reason| CheckError::Signing { index, reason })?;
            Ok(SignedTransaction::new_unchecked(
                item.transaction().clone(),
                sig,
            ))
        })
        .collect::<Result<_, _>>()?;
    // Spot check: the first and last signatures recover to their senders.
    for index in [0, signed.len().saturating_sub(1)] {
        let recovered = signed[index].recover_sender().ok();
        if recovered != Some(batch.items()[index].from()) {
            return Err(CheckError::Signing {
                index,
                reason: "signature does not recover to the sender".into(),
            });
        }
    }
    Ok(SignedBatch::from_signed_transactions(batch, &signed))
}

/// A libsecp256k1 signing context, randomised against side channels.
fn signing_context() -> secp256k1::Secp256k1<secp256k1::SignOnly> {
    use rand_core::RngCore;
    let mut ctx = secp256k1::Secp256k1::signing_only();
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    rand_core::OsRng.fill_bytes(seed.as_mut());
    ctx.seeded_randomize(&seed);
    ctx
}

/// Signs a 32-byte hash with RFC 6979 nonces and low `s` (libsecp256k1).
fn sign_hash_fast(
    ctx: &secp256k1::Secp256k1<secp256k1::SignOnly>,
    key: &secp256k1::SecretKey,
    hash: &B256,
) -> Result<Signature, String> {
    let msg = secp256k1::Message::from_slice(&hash.0).map_err(|e| e.to_string())?;
    let (recid, rs) = ctx.sign_ecdsa_recoverable(&msg, key).serialize_compact();
    let y_parity = match recid.to_i32() {
        0 => false,
        1 => true,
        // x(R) >= n: probability ~2^-128, and Ethereum cannot express it.
        other => return Err(format!("unusable recovery id {other}")),
    };
    let r = coldsign_core::U256::from_big_endian(&rs[..32]);
    let s = coldsign_core::U256::from_big_endian(&rs[32..]);
    Signature::new(y_parity, r, s).map_err(|e| e.to_string())
}

/// The whole signing path after the keystore is unlocked: checks, derivation,
/// signing. (Policy and review happen in between in `signer sign`; this is
/// what the benchmark times.)
pub fn sign_batch(root: &Root, batch: &UnsignedBatch) -> Result<SignedBatch, CheckError> {
    let checked = check_batch(batch)?;
    let ring = derive_and_match(root, &checked)?;
    sign_all(&checked, &ring)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use coldsign_core::keccak256;

    #[test]
    fn libsecp256k1_signatures_equal_k256_signatures() {
        let ctx = signing_context();
        for k in 1u8..=20 {
            let key = k256::ecdsa::SigningKey::from_slice(&[k; 32]).unwrap();
            let fast = secp256k1::SecretKey::from_slice(&[k; 32]).unwrap();
            for m in 0u8..10 {
                let hash = keccak256([k, m]);
                let reference = Signature::sign_hash(&key, &hash).unwrap();
                assert_eq!(sign_hash_fast(&ctx, &fast, &hash).unwrap(), reference);
            }
        }
    }
}
