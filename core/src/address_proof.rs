//! Proofs of possession for exported addresses.
//!
//! `signer addresses` signs, with each address's own key, a message naming
//! the wallet (its BIP32 fingerprint), the derivation path and the address.
//! The hub registers an address only if its proof verifies, so a file whose
//! addresses were swapped for someone else's (an edited keystore, an edited
//! export on the USB stick) is refused before any money is sent to them.
//!
//! The exact bytes (also in `docs/signer.md`, so a third party can check
//! a proof with any secp256k1 library):
//!
//! ```text
//! message = "coldsign/address-proof/v1"   25 ASCII bytes (DOMAIN)
//!        || fingerprint                    4 bytes, the BIP32 fingerprint of the master key
//!        || len(path)                      1 byte
//!        || path                           ASCII, e.g. "m/44'/60'/0'/0/7"
//!        || address                        20 bytes
//! digest = keccak256(message)
//! proof  = r (32 bytes) || s (32 bytes) || v (1 byte, 27 + y parity)
//! ```
//!
//! The signature is ECDSA over secp256k1 of `digest` itself (no EIP-191
//! prefix), deterministic (RFC 6979) and with a low `s` (EIP-2), as
//! `ethers.SigningKey.sign(digest)` makes it; it verifies when the address of
//! the recovered public key is `address`. The message starts with the byte
//! `0x63` (`c`), which begins no Ethereum transaction encoding (legacy
//! transactions are RLP lists, 0xc0 and above; typed ones begin with their
//! type, and 0x63 is none), and the digest is never one of a transaction, so
//! a proof can never be replayed as a transaction signature.

use crate::{
    address::Address,
    amount::U256,
    hash::{keccak256, B256},
    signature::{Signature, SignatureError},
};
use std::{fmt, str::FromStr};
use thiserror::Error;

/// The domain separator every proof message starts with.
pub const DOMAIN: &[u8; 25] = b"coldsign/address-proof/v1";
/// The longest derivation path a proof can name, in bytes.
pub const MAX_PATH_LEN: usize = 255;

/// Why a proof could not be made, read or verified.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum AddressProofError {
    /// The path is longer than [`MAX_PATH_LEN`] bytes.
    #[error("derivation path of {0} bytes is longer than {MAX_PATH_LEN}")]
    PathTooLong(usize),
    /// The path holds something other than printable ASCII.
    #[error("derivation path {0:?} is not printable ASCII")]
    PathNotAscii(String),
    /// A wallet fingerprint that is not 8 hex digits.
    #[error("wallet fingerprint {0:?} is not 8 hex digits")]
    BadFingerprint(String),
    /// A proof that is not `0x` and 65 bytes of hex ending in 27 or 28.
    #[error("proof is not 0x followed by 130 hex digits (r, s, and v = 27 or 28): {0}")]
    Encoding(String),
    /// The signature is out of range or has a high `s`.
    #[error("proof signature is invalid: {0}")]
    Signature(#[from] SignatureError),
    /// The proof was made by another key than the address's.
    #[error("proof was signed by {recovered}, not by {address}: this address is not the wallet's, or the fingerprint or path was changed")]
    WrongSigner {
        /// The address whose key signed.
        recovered: Address,
        /// The address the proof is for.
        address: Address,
    },
}

/// The BIP32 fingerprint of a wallet's master public key: the first 4 bytes
/// of HASH160 of it. A public name of the wallet, shown as 8 lower-case hex
/// digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct WalletFingerprint(pub [u8; 4]);

impl WalletFingerprint {
    /// The 4 bytes.
    pub fn as_bytes(&self) -> &[u8; 4] {
        &self.0
    }
}

impl fmt::Display for WalletFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for WalletFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WalletFingerprint({self})")
    }
}

impl FromStr for WalletFingerprint {
    type Err = AddressProofError;

    /// Exactly 8 hex digits, without `0x` (the form `signer` prints).
    fn from_str(s: &str) -> Result<Self, AddressProofError> {
        let bad = || AddressProofError::BadFingerprint(s.chars().take(40).collect());
        if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let bytes = hex::decode(s).map_err(|_| bad())?;
        bytes.try_into().map(Self).map_err(|_| bad())
    }
}

impl serde::Serialize for WalletFingerprint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for WalletFingerprint {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The message bytes a proof signs (see the module documentation).
pub fn proof_message_bytes(
    fingerprint: &WalletFingerprint,
    path: &str,
    address: &Address,
) -> Result<Vec<u8>, AddressProofError> {
    if path.len() > MAX_PATH_LEN {
        return Err(AddressProofError::PathTooLong(path.len()));
    }
    if !path.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(AddressProofError::PathNotAscii(
            path.escape_debug().to_string(),
        ));
    }
    let mut m = Vec::with_capacity(DOMAIN.len() + 4 + 1 + path.len() + 20);
    m.extend_from_slice(DOMAIN);
    m.extend_from_slice(&fingerprint.0);
    // At most MAX_PATH_LEN (255), checked above.
    m.push(u8::try_from(path.len()).map_err(|_| AddressProofError::PathTooLong(path.len()))?);
    m.extend_from_slice(path.as_bytes());
    m.extend_from_slice(&address.0);
    Ok(m)
}

/// The 32-byte digest a proof signs: keccak256 of [`proof_message_bytes`].
pub fn proof_message(
    fingerprint: &WalletFingerprint,
    path: &str,
    address: &Address,
) -> Result<B256, AddressProofError> {
    proof_message_bytes(fingerprint, path, address).map(keccak256)
}

/// A proof of possession: a recoverable signature by the address's key over
/// [`proof_message`].
///
/// Holding one means nothing until [`AddressProof::verify`] (or
/// [`verify_proof`]) accepted it for a fingerprint, path and address.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AddressProof(Signature);

impl AddressProof {
    /// Signs the proof for `address` (which must be `key`'s) with `k256`:
    /// the test harnesses' way. The signer signs with libsecp256k1 and
    /// builds the proof with [`AddressProof::from_compact`]; both give the
    /// same bytes (RFC 6979).
    pub fn sign(
        key: &k256::ecdsa::SigningKey,
        fingerprint: &WalletFingerprint,
        path: &str,
        address: &Address,
    ) -> Result<Self, AddressProofError> {
        let digest = proof_message(fingerprint, path, address)?;
        Ok(Self(Signature::sign_hash(key, &digest)?))
    }

    /// A proof from a compact signature (`r || s`) and its recovery id, as
    /// libsecp256k1 gives them. Refuses `r`/`s` out of range and a high `s`.
    pub fn from_compact(y_parity: bool, rs: &[u8; 64]) -> Result<Self, AddressProofError> {
        let r = U256::from_big_endian(&rs[..32]);
        let s = U256::from_big_endian(&rs[32..]);
        Ok(Self(Signature::new(y_parity, r, s)?))
    }

    /// The signature.
    pub fn signature(&self) -> &Signature {
        &self.0
    }

    /// The 65 bytes `r || s || v`, with `v` = 27 + y parity.
    pub fn to_bytes(&self) -> [u8; 65] {
        let mut out = [0u8; 65];
        out[..32].copy_from_slice(&self.0.r().to_big_endian());
        out[32..64].copy_from_slice(&self.0.s().to_big_endian());
        out[64] = 27 + u8::from(self.0.y_parity());
        out
    }

    /// `0x` and the 65 bytes in lower-case hex.
    pub fn to_hex(&self) -> String {
        format!("0x{}", hex::encode(self.to_bytes()))
    }

    /// Checks the proof: the key that signed [`proof_message`] of these
    /// values must be `address`'s. Recovers with libsecp256k1.
    pub fn verify(
        &self,
        fingerprint: &WalletFingerprint,
        path: &str,
        address: &Address,
    ) -> Result<(), AddressProofError> {
        let digest = proof_message(fingerprint, path, address)?;
        let recovered = self.0.recover_address_libsecp256k1(&digest)?;
        if recovered != *address {
            return Err(AddressProofError::WrongSigner {
                recovered,
                address: *address,
            });
        }
        Ok(())
    }
}

impl fmt::Display for AddressProof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for AddressProof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AddressProof({})", self.to_hex())
    }
}

impl FromStr for AddressProof {
    type Err = AddressProofError;

    /// `0x` and 130 hex digits: `r`, `s`, and `v` (27 or 28). Strict: no
    /// other `v`, no high `s`.
    fn from_str(s: &str) -> Result<Self, AddressProofError> {
        let bytes: [u8; 65] = crate::hex_data::decode_fixed::<65>(s)
            .map_err(|e| AddressProofError::Encoding(e.to_string()))?;
        let y_parity = match bytes[64] {
            27 => false,
            28 => true,
            v => return Err(AddressProofError::Encoding(format!("v is {v}"))),
        };
        let mut rs = [0u8; 64];
        rs.copy_from_slice(&bytes[..64]);
        Self::from_compact(y_parity, &rs)
    }
}

impl serde::Serialize for AddressProof {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for AddressProof {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Checks `proof` for `fingerprint`, `path` and `address`: the function form
/// of [`AddressProof::verify`].
pub fn verify_proof(
    fingerprint: &WalletFingerprint,
    path: &str,
    address: &Address,
    proof: &AddressProof,
) -> Result<(), AddressProofError> {
    proof.verify(fingerprint, path, address)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k256::ecdsa::SigningKey;

    /// anvil's first dev key (PUBLIC, INSECURE) and its address.
    fn dev0() -> (SigningKey, Address) {
        let k = SigningKey::from_slice(
            &hex::decode("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
                .unwrap(),
        )
        .unwrap();
        let a = Address::from_verifying_key(k.verifying_key());
        (k, a)
    }

    const PATH: &str = "m/44'/60'/0'/0/0";

    fn fp() -> WalletFingerprint {
        "16a93ed0".parse().unwrap()
    }

    #[test]
    fn message_bytes_are_the_documented_ones() {
        let (_, a) = dev0();
        let m = proof_message_bytes(&fp(), PATH, &a).unwrap();
        let mut want = b"coldsign/address-proof/v1".to_vec();
        want.extend_from_slice(&[0x16, 0xa9, 0x3e, 0xd0]);
        want.push(16);
        want.extend_from_slice(PATH.as_bytes());
        want.extend_from_slice(&a.0);
        assert_eq!(m, want);
        assert_eq!(m[0], 0x63);
        assert_eq!(proof_message(&fp(), PATH, &a).unwrap(), keccak256(&want));
    }

    #[test]
    fn a_proof_verifies_and_round_trips() {
        let (k, a) = dev0();
        let p = AddressProof::sign(&k, &fp(), PATH, &a).unwrap();
        p.verify(&fp(), PATH, &a).unwrap();
        verify_proof(&fp(), PATH, &a, &p).unwrap();
        let text = p.to_hex();
        assert_eq!(text.len(), 132);
        assert!(text.ends_with("1b") || text.ends_with("1c"));
        assert_eq!(text.parse::<AddressProof>().unwrap(), p);
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<AddressProof>(&json).unwrap(), p);
    }

    #[test]
    fn a_proof_fails_for_any_other_fingerprint_path_or_address() {
        let (k, a) = dev0();
        let p = AddressProof::sign(&k, &fp(), PATH, &a).unwrap();
        let other_fp: WalletFingerprint = "16a93ed1".parse().unwrap();
        assert!(matches!(
            p.verify(&other_fp, PATH, &a),
            Err(AddressProofError::WrongSigner { .. })
        ));
        assert!(p.verify(&fp(), "m/44'/60'/0'/0/1", &a).is_err());
        let mut b = a;
        b.0[19] ^= 1;
        assert!(p.verify(&fp(), PATH, &b).is_err());
        // Another key's proof for this address.
        let other = SigningKey::from_slice(&[0x11; 32]).unwrap();
        let forged = AddressProof::sign(&other, &fp(), PATH, &a).unwrap();
        let err = forged.verify(&fp(), PATH, &a).unwrap_err();
        assert!(err.to_string().contains("not by"), "{err}");
    }

    #[test]
    fn malformed_proofs_and_fingerprints_are_refused() {
        let (k, a) = dev0();
        let p = AddressProof::sign(&k, &fp(), PATH, &a).unwrap();
        let text = p.to_hex();
        for bad in [
            String::new(),
            text[2..].to_owned(),
            text[..130].to_owned(),
            format!("{}00", &text[..130]),
            format!("{}01", &text[..130]),
            format!("{text}00"),
        ] {
            assert!(bad.parse::<AddressProof>().is_err(), "{bad}");
        }
        // A high s (n - s, with the other parity) is refused.
        let n = U256::from_str_radix(
            "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
            16,
        )
        .unwrap();
        let mut bytes = p.to_bytes();
        let high = n - p.signature().s();
        bytes[32..64].copy_from_slice(&high.to_big_endian());
        bytes[64] = if bytes[64] == 27 { 28 } else { 27 };
        let high_text = format!("0x{}", hex::encode(bytes));
        assert!(matches!(
            high_text.parse::<AddressProof>(),
            Err(AddressProofError::Signature(SignatureError::HighS))
        ));
        for bad in ["", "16a93ed", "16a93ed0a", "0x16a93e", "16a93edg"] {
            assert!(bad.parse::<WalletFingerprint>().is_err(), "{bad}");
        }
        assert_eq!(fp().to_string(), "16a93ed0");
        assert!(proof_message(&fp(), &"m".repeat(256), &a).is_err());
        assert!(proof_message(&fp(), "m/0 /1", &a).is_err());
        assert!(proof_message(&fp(), "m/0\u{1b}[2J", &a).is_err());
    }

    #[test]
    fn libsecp256k1_compact_signatures_give_the_same_proof() {
        let (k, a) = dev0();
        let digest = proof_message(&fp(), PATH, &a).unwrap();
        let secret = secp256k1::SecretKey::from_slice(&k.to_bytes()).unwrap();
        let ctx = secp256k1::Secp256k1::signing_only();
        let msg = secp256k1::Message::from_slice(&digest.0).unwrap();
        let (recid, rs) = ctx
            .sign_ecdsa_recoverable(&msg, &secret)
            .serialize_compact();
        let fast = AddressProof::from_compact(recid.to_i32() == 1, &rs).unwrap();
        assert_eq!(fast, AddressProof::sign(&k, &fp(), PATH, &a).unwrap());
    }
}
