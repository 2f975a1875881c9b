//! The signer's error type and the exit code of each kind of failure.
//!
//! Every failure the operator can meet has its own variant, and each variant
//! maps to one documented exit code (see `docs/signer.md`), so runbooks can
//! tell a wrong password from a tampered file without parsing messages.

use std::path::PathBuf;
use thiserror::Error;

/// Exit codes, one per kind of failure.
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// An unexpected failure (I/O error, bug).
    pub const UNEXPECTED: u8 = 1;
    /// Wrong usage: bad arguments, unreadable or invalid configuration.
    pub const USAGE: u8 = 2;
    /// The password does not open the keystore.
    pub const WRONG_PASSWORD: u8 = 3;
    /// The keystore is missing, damaged, or of an unsupported version or parameters.
    pub const KEYSTORE: u8 = 4;
    /// The batch (or signed) file is malformed, inconsistent or tampered with.
    pub const BAD_INPUT: u8 = 5;
    /// The batch breaks the signing policy.
    pub const POLICY: u8 = 6;
    /// The operator did not confirm.
    pub const DECLINED: u8 = 7;
    /// The output file (or keystore) already exists.
    pub const OUTPUT_EXISTS: u8 = 8;
    /// The audit log failed verification of its hash chain.
    pub const AUDIT: u8 = 9;
    /// The ledger refuses the batch: an order signed before at another
    /// (chain, sender, nonce), or at the same one with other content.
    pub const LEDGER_REFUSES: u8 = 10;
    /// The ledger is not authentic (a MAC fails, it belongs to another
    /// wallet) or is behind (deleted, truncated, restored from an old
    /// backup, or behind the head the hub has seen).
    pub const LEDGER_INTEGRITY: u8 = 11;
}

/// Any failure of a signer command.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SignerError {
    /// Wrong usage or invalid configuration.
    #[error("{0}")]
    Usage(String),
    /// The password does not open the keystore.
    #[error("wrong password: the keystore could not be decrypted with it")]
    WrongPassword,
    /// The keystore is missing, damaged or unsupported.
    #[error("keystore {path}: {reason}")]
    Keystore {
        /// The keystore file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The input file is malformed, inconsistent or tampered with.
    #[error("{context}")]
    BadInput {
        /// What was being read or checked.
        context: String,
        /// The underlying reason, if any.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    },
    /// The batch breaks the policy.
    #[error("refused by policy: {0}")]
    Policy(String),
    /// The operator did not confirm.
    #[error("not confirmed by the operator: nothing was signed")]
    Declined,
    /// `init`: the operator did not confirm the backup of new words.
    #[error("the backup of the new words was not confirmed: {0}. No keystore was written and these words are discarded: run `signer init` again for new ones (and destroy the paper with these)")]
    BackupNotConfirmed(String),
    /// The output already exists.
    #[error("{} already exists: refusing to overwrite it{hint}", path.display())]
    OutputExists {
        /// The existing file.
        path: PathBuf,
        /// How to proceed, if there is a way.
        hint: &'static str,
    },
    /// The audit log failed verification.
    #[error("audit log {}: {reason}", path.display())]
    Audit {
        /// The audit log.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The ledger refuses the batch (a reissue or a conflicting version of
    /// an order signed before).
    #[error("refused by the ledger; nothing was signed: {0}")]
    Ledger(String),
    /// The ledger is not authentic, or behind what was recorded elsewhere.
    #[error("ledger {}: {reason}", path.display())]
    LedgerIntegrity {
        /// The audit log that holds the ledger.
        path: PathBuf,
        /// What is wrong and what to do.
        reason: String,
    },
    /// An I/O failure.
    #[error("{context}")]
    Io {
        /// What was being done.
        context: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Anything else.
    #[error("{0}")]
    Unexpected(String),
}

impl SignerError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => exit::USAGE,
            Self::WrongPassword => exit::WRONG_PASSWORD,
            Self::Keystore { .. } => exit::KEYSTORE,
            Self::BadInput { .. } => exit::BAD_INPUT,
            Self::Policy(_) => exit::POLICY,
            Self::Declined | Self::BackupNotConfirmed(_) => exit::DECLINED,
            Self::OutputExists { .. } => exit::OUTPUT_EXISTS,
            Self::Audit { .. } => exit::AUDIT,
            Self::Ledger(_) => exit::LEDGER_REFUSES,
            Self::LedgerIntegrity { .. } => exit::LEDGER_INTEGRITY,
            Self::Io { .. } | Self::Unexpected(_) => exit::UNEXPECTED,
        }
    }

    /// A bad-input error with a cause.
    pub fn bad_input(
        context: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::BadInput {
            context: context.into(),
            source: Some(Box::new(source)),
        }
    }

    /// A bad-input error without a further cause.
    pub fn bad_input_msg(context: impl Into<String>) -> Self {
        Self::BadInput {
            context: context.into(),
            source: None,
        }
    }

    /// An I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

/// Shorthand for results of signer commands.
pub type Result<T, E = SignerError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_distinct() {
        let errors = [
            SignerError::Usage(String::new()),
            SignerError::WrongPassword,
            SignerError::Keystore {
                path: PathBuf::new(),
                reason: String::new(),
            },
            SignerError::bad_input_msg(""),
            SignerError::Policy(String::new()),
            SignerError::Declined,
            SignerError::OutputExists {
                path: PathBuf::new(),
                hint: "",
            },
            SignerError::Audit {
                path: PathBuf::new(),
                reason: String::new(),
            },
            SignerError::Ledger(String::new()),
            SignerError::LedgerIntegrity {
                path: PathBuf::new(),
                reason: String::new(),
            },
            SignerError::Unexpected(String::new()),
        ];
        let mut codes: Vec<u8> = errors.iter().map(SignerError::exit_code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), errors.len());
        assert!(!codes.contains(&exit::OK));
    }
}
