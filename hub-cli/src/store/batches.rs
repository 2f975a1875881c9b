//! The store's statements for batches (see [`crate::store`]).
