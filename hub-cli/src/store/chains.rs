//! The store's statements for chains (see [`crate::store`]): chains, their
//! tokens and their cold addresses, as `chain`, `token` and `address` keep
//! them.

use crate::{
    clock::now_rfc3339,
    db::{params, Db},
    error::Result,
    model::{db_int, Chain},
};
use coldsign_core::Address;

/// Inserts `chain` (its `id` is not used), created now. A chain with the
/// same name or chain id fails with [`crate::db::DbError::Unique`].
pub(crate) fn insert_chain(db: &mut Db, chain: &Chain) -> Result<()> {
    db.execute(
        "INSERT INTO chains (name, chain_id, rpc_url, confirmations, native_symbol, native_decimals, \
         base_fee_multiplier_pct, priority_fee_multiplier_pct, max_fee_cap, priority_fee_cap, gas_margin_pct, \
         witness_rpc_url, created_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        params![
            chain.name.as_str(),
            db_int(chain.chain_id)?,
            chain.rpc_url.as_str(),
            db_int(chain.confirmations)?,
            chain.native_symbol.as_str(),
            i64::from(chain.native_decimals),
            db_int(chain.fees.base_fee_multiplier_pct)?,
            db_int(chain.fees.priority_fee_multiplier_pct)?,
            chain.fees.max_fee_cap.map(|v| v.to_string()),
            chain.fees.priority_fee_cap.map(|v| v.to_string()),
            db_int(chain.fees.gas_margin_pct)?,
            chain.witness_rpc_url.as_deref(),
            now_rfc3339()
        ],
    )?;
    Ok(())
}

/// Writes the settings `chain update` changes (nodes, confirmations, fee
/// policy) of `chain` to its row.
pub(crate) fn update_chain(db: &mut Db, chain: &Chain) -> Result<()> {
    db.execute(
        "UPDATE chains SET rpc_url = ?, witness_rpc_url = ?, confirmations = ?, base_fee_multiplier_pct = ?, \
         priority_fee_multiplier_pct = ?, max_fee_cap = ?, priority_fee_cap = ?, gas_margin_pct = ? WHERE id = ?",
        params![
            chain.rpc_url.as_str(),
            chain.witness_rpc_url.as_deref(),
            db_int(chain.confirmations)?,
            db_int(chain.fees.base_fee_multiplier_pct)?,
            db_int(chain.fees.priority_fee_multiplier_pct)?,
            chain.fees.max_fee_cap.map(|v| v.to_string()),
            chain.fees.priority_fee_cap.map(|v| v.to_string()),
            db_int(chain.fees.gas_margin_pct)?,
            chain.id
        ],
    )?;
    Ok(())
}

/// Deletes the chain with database id `chain`.
pub(crate) fn delete_chain(db: &mut Db, chain: i64) -> Result<()> {
    db.execute("DELETE FROM chains WHERE id = ?", params![chain])?;
    Ok(())
}

/// How the chain follower sees ETH moved by internal calls on `chain`
/// (`trace_block`, another method, or `None` until `serve` asked the node).
pub(crate) fn internal_transfers(db: &mut Db, chain: i64) -> Result<Option<String>> {
    Ok(db
        .query_one(
            "SELECT internal_transfers FROM chains WHERE id = ?",
            params![chain],
        )?
        .opt_text(0)?)
}

/// The unfinished (neither CLOSED nor CANCELLED) batches of `chain`, as
/// (id, state name), by id.
pub(crate) fn unfinished_batches(db: &mut Db, chain: i64) -> Result<Vec<(i64, String)>> {
    db.query(
        "SELECT id, state FROM batches WHERE chain = ? AND state NOT IN ('CLOSED', 'CANCELLED') ORDER BY id",
        params![chain],
    )?
    .iter()
    .map(|r| Ok((r.int(0)?, r.text(1)?)))
    .collect()
}

/// A table whose rows name a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChainUser {
    /// `tokens`.
    Tokens,
    /// `addresses`.
    Addresses,
    /// `orders`.
    Orders,
    /// `batches`.
    Batches,
}

impl ChainUser {
    /// The table's name.
    fn table(self) -> &'static str {
        match self {
            Self::Tokens => "tokens",
            Self::Addresses => "addresses",
            Self::Orders => "orders",
            Self::Batches => "batches",
        }
    }
}

/// How many rows of `table` name `chain`.
pub(crate) fn rows_of_chain(db: &mut Db, table: ChainUser, chain: i64) -> Result<i64> {
    Ok(db
        .query_one(
            &format!("SELECT COUNT(*) FROM {} WHERE chain = ?", table.table()),
            params![chain],
        )?
        .int(0)?)
}

/// Inserts the token `symbol` of `chain` at `contract` with `decimals`,
/// created now. A token with the same symbol or contract on the chain
/// fails with [`crate::db::DbError::Unique`].
pub(crate) fn insert_token(
    db: &mut Db,
    chain: i64,
    symbol: &str,
    contract: Address,
    decimals: u8,
) -> Result<()> {
    db.execute(
        "INSERT INTO tokens (chain, symbol, contract, decimals, created_at) VALUES (?, ?, ?, ?, ?)",
        params![
            chain,
            symbol,
            contract.to_checksum(),
            i64::from(decimals),
            now_rfc3339()
        ],
    )?;
    Ok(())
}

/// Sets the contract and decimals of token `token`. A contract another
/// token of the chain has fails with [`crate::db::DbError::Unique`].
pub(crate) fn set_token_contract(
    db: &mut Db,
    token: i64,
    contract: Address,
    decimals: u8,
) -> Result<()> {
    db.execute(
        "UPDATE tokens SET contract = ?, decimals = ? WHERE id = ?",
        params![contract.to_checksum(), i64::from(decimals), token],
    )?;
    Ok(())
}

/// Deletes the token with database id `token`.
pub(crate) fn delete_token(db: &mut Db, token: i64) -> Result<()> {
    db.execute("DELETE FROM tokens WHERE id = ?", params![token])?;
    Ok(())
}

/// How many orders, in any state, are of token `token`.
pub(crate) fn orders_of_token(db: &mut Db, token: i64) -> Result<i64> {
    Ok(db
        .query_one(
            "SELECT COUNT(*) FROM orders WHERE token = ?",
            params![token],
        )?
        .int(0)?)
}

/// How many unfinished (PENDING or IN_BATCH) orders are of token `token`.
pub(crate) fn open_orders_of_token(db: &mut Db, token: i64) -> Result<i64> {
    Ok(db
        .query_one(
            "SELECT COUNT(*) FROM orders WHERE token = ? AND state IN ('PENDING', 'IN_BATCH')",
            params![token],
        )?
        .int(0)?)
}

/// Inserts `address` on `chain` with `role`, its derivation path, public
/// key and the fingerprint of the wallet that proved it, created now.
pub(crate) fn insert_address(
    db: &mut Db,
    chain: i64,
    address: Address,
    role: &str,
    derivation_path: &str,
    public_key: &str,
    wallet_fingerprint: &str,
) -> Result<()> {
    db.execute(
        "INSERT INTO addresses (chain, address, role, derivation_path, public_key, wallet_fingerprint, created_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
        params![chain, address.to_checksum(), role, derivation_path, public_key, wallet_fingerprint, now_rfc3339()],
    )?;
    Ok(())
}

/// Records the fingerprint of the wallet that proved `address` on `chain`.
pub(crate) fn set_wallet_fingerprint(
    db: &mut Db,
    chain: i64,
    address: Address,
    wallet_fingerprint: &str,
) -> Result<()> {
    db.execute(
        "UPDATE addresses SET wallet_fingerprint = ? WHERE chain = ? AND address = ?",
        params![wallet_fingerprint, chain, address.to_checksum()],
    )?;
    Ok(())
}
