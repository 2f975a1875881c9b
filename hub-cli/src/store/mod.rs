//! The store: the SQL of the commands and the service, as functions named for what they
//! read or write, taking and returning typed values. Command code holds no
//! SQL; the records and the state transitions (`model.rs`), the nonce
//! bindings (`bindings.rs`) and the migrations (`db/`) keep theirs.

pub(crate) mod batches;
pub(crate) mod chains;
pub(crate) mod deposits;
pub(crate) mod follower;
pub(crate) mod orders;
pub(crate) mod outbox;
pub(crate) mod service;
