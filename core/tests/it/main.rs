//! Integration tests of coldsign-core: public vectors, property tests and the
//! cross-check against independent implementations.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    unreachable_pub
)]

mod batch_files;
mod crosscheck;
mod roundtrip;
mod support;
mod vectors;
