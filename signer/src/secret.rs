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

/// The word counts BIP39 defines: 12, 15, 18, 21 and 24 words (128 to 256
/// bits of entropy, in steps of 32).
pub const WORD_COUNTS: [usize; 5] = [12, 15, 18, 21, 24];

/// Why seed material was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SeedError {
    /// A word that is not in the BIP39 English word list (`position` counts
    /// from 1, as on the paper backup).
    #[error("word {position} ({word:?}) is not in the BIP39 English word list: check it against the paper backup")]
    UnknownWord {
        /// The word's position, from 1.
        position: usize,
        /// The word as given (lower-cased), escaped for printing.
        word: String,
    },
    /// Every word is in the list, but the checksum (the last word's last
    /// bits) is wrong.
    #[error("the words fail the BIP39 checksum: one of them is wrong (a similar word from the list?) or two are swapped")]
    Checksum,
    /// Not a valid BIP39 English mnemonic for another reason.
    #[error("not a valid BIP39 mnemonic: {0}")]
    Mnemonic(String),
    /// A word count BIP39 does not define.
    #[error("mnemonic has {0} words; BIP39 mnemonics have 12, 15, 18, 21 or 24")]
    WordCount(usize),
    /// Decrypted plaintext of the wrong shape.
    #[error("seed material is malformed")]
    Malformed,
}

/// NFKD form of `text`, in a zeroizing buffer (BIP39 normalises both the
/// mnemonic and the passphrase this way). The buffer is allocated once with
/// room to spare, so no partial copy of the secret is left behind by a
/// reallocation in the usual case.
pub fn nfkd(text: &str) -> Zeroizing<String> {
    use unicode_normalization::UnicodeNormalization;
    let mut out = Zeroizing::new(String::with_capacity(text.len() * 3 + 8));
    out.extend(text.nfkd());
    out
}

/// The entropy length in bytes of a mnemonic of `words` words.
fn entropy_len(words: usize) -> Option<usize> {
    WORD_COUNTS.contains(&words).then_some(words / 3 * 4)
}

impl SeedMaterial {
    /// Parses an English BIP39 mnemonic of 12, 15, 18, 21 or 24 words with an
    /// optional passphrase. The phrase is NFKD-normalised and lower-cased,
    /// and any whitespace separates words; the passphrase is NFKD-normalised
    /// (as BIP39 requires) and kept in that form.
    pub fn from_phrase(phrase: &str, passphrase: Zeroizing<String>) -> Result<Self, SeedError> {
        let normal = nfkd(phrase);
        let mut lower = Zeroizing::new(String::with_capacity(normal.len() + 8));
        for (i, word) in normal.split_whitespace().enumerate() {
            if i > 0 {
                lower.push(' ');
            }
            lower.extend(word.chars().flat_map(char::to_lowercase));
        }
        let count = lower.split(' ').filter(|w| !w.is_empty()).count();
        if entropy_len(count).is_none() {
            return Err(SeedError::WordCount(count));
        }
        let english = bip39::Language::English;
        if let Some((i, word)) = lower
            .split(' ')
            .enumerate()
            .find(|(_, w)| english.find_word(w).is_none())
        {
            return Err(SeedError::UnknownWord {
                position: i + 1,
                word: word
                    .chars()
                    .take(40)
                    .collect::<String>()
                    .escape_debug()
                    .to_string(),
            });
        }
        let mnemonic =
            bip39::Mnemonic::parse_in_normalized(english, &lower).map_err(|e| match e {
                bip39::Error::InvalidChecksum => SeedError::Checksum,
                other => SeedError::Mnemonic(other.to_string()),
            })?;
        let (entropy, len) = mnemonic.to_entropy_array();
        let entropy = Zeroizing::new(entropy);
        Ok(Self {
            entropy: Zeroizing::new(entropy[..len].to_vec()),
            passphrase: if passphrase.is_empty() {
                passphrase
            } else {
                nfkd(&passphrase)
            },
        })
    }

    /// Fresh entropy for a mnemonic of `words` words (12, 15, 18, 21 or 24)
    /// from the operating system's random number generator.
    pub fn generate(words: usize) -> Result<Self, SeedError> {
        use rand_core::RngCore;
        let len = entropy_len(words).ok_or(SeedError::WordCount(words))?;
        let mut entropy = Zeroizing::new(vec![0u8; len]);
        rand_core::OsRng.fill_bytes(&mut entropy);
        Ok(Self {
            entropy,
            passphrase: Zeroizing::new(String::new()),
        })
    }

    /// The same words with another BIP39 passphrase (NFKD-normalised).
    pub fn with_passphrase(&self, passphrase: &str) -> Self {
        Self {
            entropy: Zeroizing::new(self.entropy.to_vec()),
            passphrase: nfkd(passphrase),
        }
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
    ///
    /// The passphrase is NFKD-normalised here too (into a zeroizing buffer),
    /// so a keystore written before it was normalised at `init` gives the
    /// same seed as before.
    pub fn to_seed(&self) -> Result<Zeroizing<[u8; 64]>, SeedError> {
        let m = self.mnemonic()?;
        let normal = nfkd(&self.passphrase);
        Ok(Zeroizing::new(m.to_seed_normalized(normal.as_str())))
    }

    /// Serialises for encryption: entropy length, entropy, passphrase bytes.
    pub fn to_plaintext(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(
            1 + self.entropy.len() + self.passphrase.len(),
        ));
        // Entropy is 16 to 32 bytes, so its length fits in one byte.
        out.push(u8::try_from(self.entropy.len()).unwrap_or(0));
        out.extend_from_slice(&self.entropy);
        out.extend_from_slice(self.passphrase.as_bytes());
        out
    }

    /// Parses decrypted plaintext written by [`SeedMaterial::to_plaintext`].
    pub fn from_plaintext(plain: &[u8]) -> Result<Self, SeedError> {
        let (&len, rest) = plain.split_first().ok_or(SeedError::Malformed)?;
        let len = usize::from(len);
        if ![16, 20, 24, 28, 32].contains(&len) || rest.len() < len {
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
        assert!(SeedMaterial::generate(16).is_err());
    }

    /// BIP39 test vectors (trezor/python-mnemonic `vectors.json`, English,
    /// passphrase "TREZOR"): one of each length, with its seed.
    const LENGTHS: [(&str, &str); 5] = [
        (
            "legal winner thank year wave sausage worth useful legal winner thank yellow",
            "2e8905819b8723fe2c1d161860e5ee1830318dbf49a83bd451cfb8440c28bd6fa457fe1296106559a3c80937a1c1069be3a3a5bd381ee6260e8d9739fce1f607",
        ),
        (
            "gravity machine north sort system female filter attitude volume fold club stay feature office ecology stable narrow fog",
            "628c3827a8823298ee685db84f55caa34b5cc195a778e52d45f59bcf75aba68e4d7590e101dc414bc1bbd5737666fbbef35d1f1903953b66624f910feef245ac",
        ),
        (
            "hamster diagram private dutch cause delay private meat slide toddler razor book happy fancy gospel tennis maple dilemma loan word shrug inflict delay length",
            "64c87cde7e12ecf6704ab95bb1408bef047c22db4cc7491c4271d170a1b213d20b385bc1588d9c7b38f1b39d415665b8a9030c9ec653d75e65f847d8fc1fc440",
        ),
        (
            "scheme spot photo card baby mountain device kick cradle pact join borrow",
            "ea725895aaae8d4c1cf682c1bfd2d358d52ed9f0f0591131b559e2724bb234fca05aa9c02c57407e04ee9dc3b454aa63fbff483a8b11de949624b9f1831a9612",
        ),
        (
            "horn tenant knee talent sponsor spell gate clip pulse soap slush warm silver nephew swap uncle crack brave",
            "fd579828af3da1d32544ce4db5c73d53fc8acc4ddb1e3b251a31179cdb71e853c56d2fcb11aed39898ce6c34b10b5382772db8796e52837b54468aeb312cfc3d",
        ),
    ];

    #[test]
    fn every_bip39_length_parses_to_the_vectors_seed() {
        for (phrase, seed) in LENGTHS {
            let s = SeedMaterial::from_phrase(phrase, Zeroizing::new("TREZOR".into())).unwrap();
            assert_eq!(hex::encode(*s.to_seed().unwrap()), seed, "{phrase}");
            let back = SeedMaterial::from_plaintext(&s.to_plaintext()).unwrap();
            assert_eq!(back.expose_words().unwrap().join(" "), phrase);
        }
        for words in WORD_COUNTS {
            let s = SeedMaterial::generate(words).unwrap();
            assert_eq!(s.expose_words().unwrap().len(), words);
            assert!(SeedMaterial::from_plaintext(&s.to_plaintext()).is_ok());
        }
    }

    #[test]
    fn any_letter_case_and_whitespace_are_accepted() {
        let none = || Zeroizing::new(String::new());
        let dev = SeedMaterial::from_phrase(DEV_MNEMONIC, none()).unwrap();
        let shouted = "TEST Test tEsT test test test\ttest test\r\ntest test test JUNK ";
        let s = SeedMaterial::from_phrase(shouted, none()).unwrap();
        assert_eq!(*s.to_seed().unwrap(), *dev.to_seed().unwrap());
        // Full-width letters are their ASCII letters under NFKD.
        let wide = DEV_MNEMONIC.replace("junk", "\u{ff4a}\u{ff55}\u{ff4e}\u{ff4b}");
        let s = SeedMaterial::from_phrase(&wide, none()).unwrap();
        assert_eq!(*s.to_seed().unwrap(), *dev.to_seed().unwrap());
    }

    #[test]
    fn a_bad_word_is_shown_and_numbered_from_one() {
        let none = || Zeroizing::new(String::new());
        let typo = DEV_MNEMONIC.replacen("test", "tset", 1);
        let err = SeedMaterial::from_phrase(&typo, none()).unwrap_err();
        assert_eq!(
            err,
            SeedError::UnknownWord {
                position: 1,
                word: "tset".into()
            }
        );
        assert!(err.to_string().contains("word 1 (\"tset\")"), "{err}");
        let last = DEV_MNEMONIC.replace("junk", "junky");
        let err = SeedMaterial::from_phrase(&last, none())
            .unwrap_err()
            .to_string();
        assert!(err.contains("word 12 (\"junky\")"), "{err}");
        let hostile = DEV_MNEMONIC.replace("junk", "ju\u{1b}[2Jnk");
        let err = SeedMaterial::from_phrase(&hostile, none())
            .unwrap_err()
            .to_string();
        assert!(!err.contains('\u{1b}'), "{err}");
        let swapped = "junk test test test test test test test test test test test";
        assert_eq!(
            SeedMaterial::from_phrase(swapped, none()).unwrap_err(),
            SeedError::Checksum
        );
        for n in [11, 13, 25] {
            let words = vec!["abandon"; n].join(" ");
            assert_eq!(
                SeedMaterial::from_phrase(&words, none()).unwrap_err(),
                SeedError::WordCount(n)
            );
        }
    }

    #[test]
    fn the_passphrase_is_nfkd_normalised() {
        // "é" composed (NFC) and decomposed (NFKD) are one passphrase.
        let composed = Zeroizing::new("caf\u{e9}".to_owned());
        let decomposed = Zeroizing::new("cafe\u{301}".to_owned());
        let a = SeedMaterial::from_phrase(DEV_MNEMONIC, composed.clone()).unwrap();
        let b = SeedMaterial::from_phrase(DEV_MNEMONIC, decomposed).unwrap();
        assert_eq!(*a.to_seed().unwrap(), *b.to_seed().unwrap());
        // Stored normalised...
        assert_eq!(a.to_plaintext()[17..], *"cafe\u{301}".as_bytes());
        // ...and a keystore that stored it unnormalised gives the same seed.
        let mut plain = a.to_plaintext().to_vec();
        plain.truncate(17);
        plain.extend_from_slice(composed.as_bytes());
        let old = SeedMaterial::from_plaintext(&plain).unwrap();
        assert_eq!(*old.to_seed().unwrap(), *a.to_seed().unwrap());
        // The BIP39 reference: the seed of the NFKD passphrase.
        let m = bip39::Mnemonic::parse(DEV_MNEMONIC).unwrap();
        assert_eq!(*a.to_seed().unwrap(), m.to_seed_normalized("cafe\u{301}"));
    }
}
