//! Integration tests of the `signer` binary: each runs the real executable in
//! a temporary directory, as an operator would, and checks exit codes,
//! output and files.
#![allow(clippy::unwrap_used, missing_docs, unreachable_pub)]

mod util;

mod audit;
mod cross_check;
mod hardening;
mod hostile;
mod keystore;
mod ledger;
mod no_network;
mod policy;
mod review;
mod sign;
mod tamper;
