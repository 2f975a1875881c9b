//! Secret values: passwords and seed material.
//!
//! Each lives in a zeroizing buffer (wiped when dropped), has a `Debug` that
//! prints nothing secret, no `Display`, no `Serialize`, and is read only
//! through an explicit `expose_*` call.

use std::fmt;
use zeroize::Zeroizing;

/// A password typed by the operator or read from a password file.
pub struct Password(Zeroizing<String>);

impl Password {
    /// Wraps a password.
    pub fn new(text: String) -> Self {
        Self(Zeroizing::new(text))
    }

    /// The password's bytes, for key derivation only.
    pub fn expose_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// Whether the password is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Length in characters.
    pub fn char_count(&self) -> usize {
        self.0.chars().count()
    }

    /// Compares two passwords in time independent of where they differ.
    pub fn ct_eq(&self, other: &Self) -> bool {
        ct_eq(self.expose_bytes(), other.expose_bytes())
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// What the keystore protects: BIP39 entropy and the optional BIP39
/// passphrase ("25th word").
pub struct SeedMaterial {
    entropy: Zeroizing<Vec<u8>>,
    passphrase: Zeroizing<String>,
}

/// Why seed material was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SeedError {
    /// Not a valid BIP39 English mnemonic (unknown word, bad checksum, bad length).
    #[error("not a valid BIP39 mnemonic: {0}")]
    Mnemonic(String),
    /// Only 12 and 24 words are accepted.
    #[error("mnemonic has {0} words; only 12 or 24 are accepted")]
    WordCount(usize),
    /// Decrypted plaintext of the wrong shape.
    #[error("seed material is malformed")]
    Malformed,
}

impl SeedMaterial {
    /// Parses an English BIP39 mnemonic of 12 or 24 words (whitespace between
    /// words is normalised) with an optional passphrase.
    pub fn from_phrase(phrase: &str, passphrase: Zeroizing<String>) -> Result<Self, SeedError> {
        let normalised = Zeroizing::new(phrase.split_whitespace().collect::<Vec<_>>().join(" "));
        let words = normalised.split(' ').filter(|w| !w.is_empty()).count();
        if words != 12 && words != 24 {
            return Err(SeedError::WordCount(words));
        }
        let mnemonic = bip39::Mnemonic::parse_in_normalized(bip39::Language::English, &normalised)
            .map_err(|e| SeedError::Mnemonic(e.to_string()))?;
        Ok(Self {
            entropy: Zeroizing::new(mnemonic.to_entropy()),
            passphrase,
        })
    }

    /// Fresh entropy for a mnemonic of `words` words (12 or 24) from the
    /// operating system's random number generator.
    pub fn generate(words: usize) -> Result<Self, SeedError> {
        use rand_core::RngCore;
        let len = match words {
            12 => 16,
            24 => 32,
            other => return Err(SeedError::WordCount(other)),
        };
        let mut entropy = Zeroizing::new(vec![0u8; len]);
        rand_core::OsRng.fill_bytes(&mut entropy);
        Ok(Self {
            entropy,
            passphrase: Zeroizing::new(String::new()),
        })
    }

    fn mnemonic(&self) -> Result<bip39::Mnemonic, SeedError> {
        bip39::Mnemonic::from_entropy_in(bip39::Language::English, &self.entropy)
            .map_err(|e| SeedError::Mnemonic(e.to_string()))
    }

    /// The mnemonic's words, for the one-time backup display only.
    pub fn expose_words(&self) -> Result<Zeroizing<Vec<String>>, SeedError> {
        let m = self.mnemonic()?;
        Ok(Zeroizing::new(m.words().map(str::to_owned).collect()))
    }

    /// The 64-byte BIP39 seed (PBKDF2 of the mnemonic and passphrase).
    pub fn to_seed(&self) -> Result<Zeroizing<[u8; 64]>, SeedError> {
        let m = self.mnemonic()?;
        Ok(Zeroizing::new(m.to_seed(self.passphrase.as_str())))
    }

    /// Serialises for encryption: entropy length, entropy, passphrase bytes.
    pub fn to_plaintext(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(
            1 + self.entropy.len() + self.passphrase.len(),
        ));
        // Entropy is 16 or 32 bytes, so its length fits in one byte.
        out.push(u8::try_from(self.entropy.len()).unwrap_or(0));
        out.extend_from_slice(&self.entropy);
        out.extend_from_slice(self.passphrase.as_bytes());
        out
    }

    /// Parses decrypted plaintext written by [`SeedMaterial::to_plaintext`].
    pub fn from_plaintext(plain: &[u8]) -> Result<Self, SeedError> {
        let (&len, rest) = plain.split_first().ok_or(SeedError::Malformed)?;
        let len = usize::from(len);
        if !(len == 16 || len == 32) || rest.len() < len {
            return Err(SeedError::Malformed);
        }
        let passphrase = std::str::from_utf8(&rest[len..]).map_err(|_| SeedError::Malformed)?;
        Ok(Self {
            entropy: Zeroizing::new(rest[..len].to_vec()),
            passphrase: Zeroizing::new(passphrase.to_owned()),
        })
    }

    /// Whether a BIP39 passphrase is set (its value is never shown).
    pub fn has_passphrase(&self) -> bool {
        !self.passphrase.is_empty()
    }
}

impl fmt::Debug for SeedMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SeedMaterial(<redacted>)")
    }
}

/// Constant-time byte comparison (length is not secret).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// PUBLIC, INSECURE development mnemonic (Hardhat / anvil); never fund it.
    const DEV_MNEMONIC: &str = "test test test test test test test test test test test junk";

    #[test]
    fn debug_hides_secrets() {
        let p = Password::new("hunter2-secret".into());
        assert!(!format!("{p:?}").contains("hunter2"));
        let s =
            SeedMaterial::from_phrase(DEV_MNEMONIC, Zeroizing::new("pp-secret".into())).unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains("test") && !shown.contains("pp-secret"));
    }

    #[test]
    fn different_secrets_compare_unequal() {
        let a = Password::new("correct horse".into());
        let b = Password::new("correct horsf".into());
        assert!(a.ct_eq(&Password::new("correct horse".into())));
        assert!(!a.ct_eq(&b));
        assert!(!a.ct_eq(&Password::new("correct hors".into())));
    }

    #[test]
    fn plaintext_round_trips_and_refuses_garbage() {
        let s = SeedMaterial::from_phrase(DEV_MNEMONIC, Zeroizing::new("x".into())).unwrap();
        let back = SeedMaterial::from_plaintext(&s.to_plaintext()).unwrap();
        assert_eq!(*back.to_seed().unwrap(), *s.to_seed().unwrap());
        assert!(back.has_passphrase());
        assert!(SeedMaterial::from_plaintext(&[]).is_err());
        assert!(SeedMaterial::from_plaintext(&[17; 20]).is_err());
        assert!(SeedMaterial::from_plaintext(&[16; 3]).is_err());
    }

    #[test]
    fn refuses_bad_mnemonics() {
        let none = || Zeroizing::new(String::new());
        assert!(SeedMaterial::from_phrase("test test test", none()).is_err());
        let bad_checksum = "test test test test test test test test test test test test";
        assert!(SeedMaterial::from_phrase(bad_checksum, none()).is_err());
        let spaced = "  test test test test test test\ntest test test test test junk\n";
        assert!(SeedMaterial::from_phrase(spaced, none()).is_ok());
        assert_eq!(
            SeedMaterial::generate(24)
                .unwrap()
                .expose_words()
                .unwrap()
                .len(),
            24
        );
        assert!(SeedMaterial::generate(15).is_err());
    }
}
