//! The store's statements for orders (see [`crate::store`]).
