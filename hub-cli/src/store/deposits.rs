//! The store's statements for deposits (see [`crate::store`]).
