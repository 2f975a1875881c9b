//! The store's statements for chains (see [`crate::store`]).
