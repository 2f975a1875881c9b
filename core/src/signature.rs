//! secp256k1 ECDSA signatures as Ethereum uses them: `(y_parity, r, s)` with a
//! low `s` (EIP-2), deterministic nonces (RFC 6979), and sender recovery.

use crate::{address::Address, amount::U256, hash::B256};
use k256::ecdsa::{RecoveryId, Signature as EcdsaSignature, SigningKey, VerifyingKey};
use thiserror::Error;

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// `r` or `s` is zero or not below the curve order.
    #[error("signature r or s is zero or not below the curve order")]
    OutOfRange,
    /// `s` is in the upper half of the curve order (forbidden by EIP-2).
    #[error("signature s is high (EIP-2 requires s <= n/2)")]
    HighS,
    /// No public key recovers from this signature and hash.
    #[error("no public key recovers from this signature")]
    Unrecoverable,
    /// The signing library refused to sign (the key is unusable).
    #[error("signing failed")]
    SigningFailed,
}

/// A recoverable ECDSA signature with a low `s`.
///
/// Construct one with [`Signature::new`], which enforces the ranges, or by
/// signing with [`Signature::sign_hash`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signature {
    y_parity: bool,
    r: U256,
    s: U256,
}

impl Signature {
    /// Builds a signature, refusing `r`/`s` out of range and a high `s`.
    pub fn new(y_parity: bool, r: U256, s: U256) -> Result<Self, SignatureError> {
        let sig = Self { y_parity, r, s };
        let ecdsa = sig.to_ecdsa()?;
        if ecdsa.normalize_s().is_some() {
            return Err(SignatureError::HighS);
        }
        Ok(sig)
    }

    /// Signs a 32-byte prehash with RFC 6979 nonces; the result has a low `s`.
    pub fn sign_hash(key: &SigningKey, hash: &B256) -> Result<Self, SignatureError> {
        let (sig, recid) = key
            .sign_prehash_recoverable(&hash.0)
            .map_err(|_| SignatureError::SigningFailed)?;
        // k256 already normalises to low-s; make sure, since EIP-2 demands it.
        let (sig, recid) = match sig.normalize_s() {
            Some(low) => (
                low,
                RecoveryId::new(!recid.is_y_odd(), recid.is_x_reduced()),
            ),
            None => (sig, recid),
        };
        let (r, s) = sig.split_bytes();
        Ok(Self {
            y_parity: recid.is_y_odd(),
            r: U256::from_big_endian(&r),
            s: U256::from_big_endian(&s),
        })
    }

    /// The parity of the `y` coordinate of the nonce point (the recovery id).
    pub fn y_parity(&self) -> bool {
        self.y_parity
    }

    /// The `r` value.
    pub fn r(&self) -> U256 {
        self.r
    }

    /// The `s` value.
    pub fn s(&self) -> U256 {
        self.s
    }

    fn to_ecdsa(self) -> Result<EcdsaSignature, SignatureError> {
        let r = self.r.to_big_endian();
        let s = self.s.to_big_endian();
        EcdsaSignature::from_scalars(r, s).map_err(|_| SignatureError::OutOfRange)
    }

    /// The public key that produced this signature over `hash`.
    pub fn recover_key(&self, hash: &B256) -> Result<VerifyingKey, SignatureError> {
        let sig = self.to_ecdsa()?;
        let recid = RecoveryId::new(self.y_parity, false);
        VerifyingKey::recover_from_prehash(&hash.0, &sig, recid)
            .map_err(|_| SignatureError::Unrecoverable)
    }

    /// The address that produced this signature over `hash`.
    pub fn recover_address(&self, hash: &B256) -> Result<Address, SignatureError> {
        self.recover_key(hash)
            .map(|k| Address::from_verifying_key(&k))
    }

    /// The same as [`Signature::recover_address`], computed with
    /// libsecp256k1 instead of `k256`: about four times faster, for bulk
    /// verification ([`crate::batch::SignedBatch::verify_against`]). Both
    /// give the same answer for every signature (tested against each other);
    /// `recover_address` stays on `k256` so that the signer's spot-check of
    /// its own libsecp256k1 signatures is done by another implementation.
    pub fn recover_address_libsecp256k1(&self, hash: &B256) -> Result<Address, SignatureError> {
        use secp256k1::ecdsa::{RecoverableSignature, RecoveryId as SecpRecoveryId};
        let mut compact = [0u8; 64];
        compact[..32].copy_from_slice(&self.r.to_big_endian());
        compact[32..].copy_from_slice(&self.s.to_big_endian());
        let recid = SecpRecoveryId::from_i32(i32::from(self.y_parity))
            .map_err(|_| SignatureError::Unrecoverable)?;
        let sig = RecoverableSignature::from_compact(&compact, recid)
            .map_err(|_| SignatureError::OutOfRange)?;
        let msg =
            secp256k1::Message::from_slice(&hash.0).map_err(|_| SignatureError::Unrecoverable)?;
        let key = secp256k1::Secp256k1::verification_only()
            .recover_ecdsa(&msg, &sig)
            .map_err(|_| SignatureError::Unrecoverable)?;
        Ok(Address::from_uncompressed_public_key(
            &key.serialize_uncompressed(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::keccak256;

    const N: &str = "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141";

    fn key() -> SigningKey {
        SigningKey::from_slice(&[0x46; 32]).unwrap()
    }

    #[test]
    fn sign_then_recover_gives_the_signer() {
        let hash = keccak256(b"coldsign");
        let sig = Signature::sign_hash(&key(), &hash).unwrap();
        let expected = Address::from_verifying_key(key().verifying_key());
        assert_eq!(sig.recover_address(&hash), Ok(expected));
        assert_ne!(sig.recover_address(&keccak256(b"other")), Ok(expected));
    }

    #[test]
    fn both_recoveries_agree() {
        // Real signatures: both give the signer.
        for i in 1..=64u8 {
            let key = SigningKey::from_slice(&[i; 32]).unwrap();
            let expected = Address::from_verifying_key(key.verifying_key());
            let hash = keccak256([i, 0x5a]);
            let sig = Signature::sign_hash(&key, &hash).unwrap();
            assert_eq!(sig.recover_address_libsecp256k1(&hash), Ok(expected));
            assert_eq!(sig.recover_address(&hash), Ok(expected));
        }
        // Arbitrary in-range (r, s, parity): the same address or both
        // refused (about half of all r are not the x of a curve point).
        let (mut ok, mut refused) = (0, 0);
        for i in 0..512u32 {
            let r = U256::from_big_endian(&keccak256(i.to_be_bytes()).0);
            let s = U256::from_big_endian(&keccak256((i + 1_000_000).to_be_bytes()).0) >> 1;
            let hash = keccak256((i + 2_000_000).to_be_bytes());
            let Ok(sig) = Signature::new(i % 2 == 1, r, s) else {
                continue;
            };
            let a = sig.recover_address(&hash);
            let b = sig.recover_address_libsecp256k1(&hash);
            assert_eq!(a.is_ok(), b.is_ok(), "r={r:x} s={s:x}");
            if a.is_ok() {
                assert_eq!(a, b);
                ok += 1;
            } else {
                refused += 1;
            }
        }
        assert!(
            ok > 100 && refused > 100,
            "{ok} recovered, {refused} refused"
        );
    }

    #[test]
    fn refuses_high_s_zero_and_out_of_range() {
        let n = U256::from_str_radix(N, 16).unwrap();
        let hash = keccak256(b"x");
        let sig = Signature::sign_hash(&key(), &hash).unwrap();
        let high = n - sig.s();
        assert_eq!(
            Signature::new(!sig.y_parity(), sig.r(), high),
            Err(SignatureError::HighS)
        );
        assert_eq!(
            Signature::new(false, U256::zero(), sig.s()),
            Err(SignatureError::OutOfRange)
        );
        assert_eq!(
            Signature::new(false, sig.r(), U256::zero()),
            Err(SignatureError::OutOfRange)
        );
        assert_eq!(
            Signature::new(false, n, sig.s()),
            Err(SignatureError::OutOfRange)
        );
        assert_eq!(Signature::new(sig.y_parity(), sig.r(), sig.s()), Ok(sig));
    }
}
