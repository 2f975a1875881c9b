//! # coldsign-signer
//!
//! The air-gapped signer of coldsign: an encrypted keystore (Argon2id +
//! AES-256-GCM) holding a BIP39 seed, BIP32 derivation on
//! `m/44'/60'/<account>'/0/<index>`, the review and policy checks that run
//! before anything is signed, parallel deterministic signing, and a
//! hash-chained audit log. It links no networking code.
//!
//! The `signer` binary (`src/main.rs`) is a thin wrapper over
//! [`app::run`]; the operator guide is `docs/signer.md`.

pub mod app;
pub mod audit;
pub mod chains;
pub mod cli;
pub mod error;
pub mod fsutil;
pub mod hd;
pub mod hygiene;
pub mod keystore;
pub mod ledger;
pub mod policy;
pub mod prompt;
pub mod review;
pub mod secret;
pub mod sign;
pub mod term;
