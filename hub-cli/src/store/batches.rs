//! The store's statements for batches (see [`crate::store`]).

use crate::{
    db::{params, Db},
    error::{HubError, Result},
    model::{db_int, parse_address, Order, ORDER_COLS},
    state::{BatchState, ItemState},
};
use coldsign_core::{batch::LedgerHead, Address, B256};
use std::collections::{BTreeSet, HashMap};

/// The PENDING, unheld orders of `tenant` (`None`: the desk's own) on
/// `chain` that send from one of its cold addresses, oldest first.
pub(crate) fn pending_cold_orders(
    db: &mut Db,
    chain: i64,
    tenant: Option<&str>,
) -> Result<Vec<Order>> {
    db.query(
        &format!(
            "SELECT {ORDER_COLS} FROM orders o WHERE o.chain = ? AND COALESCE(o.tenant, '') = ? \
             AND o.state = 'PENDING' AND o.held_at IS NULL AND EXISTS \
             (SELECT 1 FROM addresses a WHERE a.chain = o.chain AND a.address = o.from_address AND a.role = 'cold') \
             ORDER BY o.id"
        ),
        params![chain, tenant.unwrap_or_default()],
    )?
    .iter()
    .map(Order::from_row)
    .collect()
}

/// The tenants with PENDING, unheld orders on `chain`, with how many, by
/// name.
pub(crate) fn tenants_with_pending(db: &mut Db, chain: i64) -> Result<Vec<(String, i64)>> {
    db.query(
        "SELECT tenant, COUNT(*) FROM orders WHERE chain = ? AND tenant IS NOT NULL \
         AND state = 'PENDING' AND held_at IS NULL GROUP BY tenant ORDER BY tenant",
        params![chain],
    )?
    .iter()
    .map(|r| Ok((r.text(0)?, r.int(1)?)))
    .collect()
}

/// How many PENDING orders of `tenant` (`None`: the desk's own) on `chain`
/// are held.
pub(crate) fn held_pending_count(db: &mut Db, chain: i64, tenant: Option<&str>) -> Result<i64> {
    Ok(db
        .query_one(
            "SELECT COUNT(*) FROM orders WHERE chain = ? AND COALESCE(tenant, '') = ? \
             AND state = 'PENDING' AND held_at IS NOT NULL",
            params![chain, tenant.unwrap_or_default()],
        )?
        .int(0)?)
}

/// The wallet fingerprint (if recorded) of every cold address on `chain`,
/// by address as stored (checksummed).
pub(crate) fn cold_wallets(db: &mut Db, chain: i64) -> Result<HashMap<String, Option<String>>> {
    db.query(
        "SELECT address, wallet_fingerprint FROM addresses WHERE chain = ? AND role = 'cold'",
        params![chain],
    )?
    .iter()
    .map(|r| Ok((r.text(0)?, r.opt_text(1)?)))
    .collect()
}

/// Inserts a NEW batch of `tenant` (`None`: the desk's own) on `chain`,
/// created at `now`; returns its id.
pub(crate) fn insert_new_batch(
    db: &mut Db,
    chain: i64,
    tenant: Option<&str>,
    now: &str,
) -> Result<i64> {
    Ok(db
        .query_one(
            "INSERT INTO batches (chain, state, created_at, updated_at, tenant) VALUES (?, ?, ?, ?, ?) RETURNING id",
            params![chain, BatchState::New.as_str(), now, now, tenant],
        )?
        .int(0)?)
}

/// Inserts order `order_ref` into `batch` at `position` as a SELECTED item
/// sent from `sender`, created at `now`; returns the item's id.
pub(crate) fn insert_selected_item(
    db: &mut Db,
    batch: i64,
    order_ref: i64,
    position: i64,
    sender: Address,
    now: &str,
) -> Result<i64> {
    Ok(db
        .query_one(
            "INSERT INTO batch_items (batch, order_ref, position, state, sender, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
            params![batch, order_ref, position, ItemState::Selected.as_str(), sender.to_checksum(), now, now],
        )?
        .int(0)?)
}

/// Deletes the batch item `item` (its order leaves the batch).
pub(crate) fn delete_item(db: &mut Db, item: i64) -> Result<()> {
    db.execute("DELETE FROM batch_items WHERE id = ?", params![item])?;
    Ok(())
}

/// Sets the message of the batch item `item`, leaving its state as it is.
pub(crate) fn set_item_message(db: &mut Db, item: i64, message: &str) -> Result<()> {
    db.execute(
        "UPDATE batch_items SET message = ? WHERE id = ?",
        params![message, item],
    )?;
    Ok(())
}

/// Removes the stored unsigned file of `batch` and its creation time.
pub(crate) fn clear_unsigned_file(db: &mut Db, batch: i64) -> Result<()> {
    db.execute(
        "UPDATE batches SET unsigned_json = NULL, file_created_at = NULL WHERE id = ?",
        params![batch],
    )?;
    Ok(())
}

/// Stores `json` as the unsigned file of `batch`, created at `created_at`.
pub(crate) fn store_unsigned_file(
    db: &mut Db,
    batch: i64,
    json: &str,
    created_at: &str,
) -> Result<()> {
    db.execute(
        "UPDATE batches SET unsigned_json = ?, file_created_at = ? WHERE id = ?",
        params![json, created_at, batch],
    )?;
    Ok(())
}

/// Records that a signed file of `batch` was accepted at `accepted_at`,
/// with the signer's ledger head it carried (if any).
pub(crate) fn record_signed_accepted(
    db: &mut Db,
    batch: i64,
    accepted_at: &str,
    head: Option<LedgerHead>,
) -> Result<()> {
    db.execute(
        "UPDATE batches SET signed_accepted_at = ?, ledger_seq = ?, ledger_mac = ? WHERE id = ?",
        params![
            accepted_at,
            head.map(|h| db_int(h.seq)).transpose()?,
            head.map(|h| h.mac.to_string()),
            batch
        ],
    )?;
    Ok(())
}

/// The signer's ledger head (sequence number, MAC) recorded with the
/// accepted signed file of `batch`, if both are set.
pub(crate) fn ledger_head_of(db: &mut Db, batch: i64) -> Result<Option<(i64, String)>> {
    let head = db.query_one(
        "SELECT ledger_seq, ledger_mac FROM batches WHERE id = ?",
        params![batch],
    )?;
    Ok(match (head.opt_int(0)?, head.opt_text(1)?) {
        (Some(seq), Some(mac)) => Some((seq, mac)),
        _ => None,
    })
}

/// The latest ledger head the hub has seen in an accepted signed file.
pub(crate) fn last_ledger_head(db: &mut Db) -> Result<Option<LedgerHead>> {
    let row = db.query_opt(
        "SELECT ledger_seq, ledger_mac FROM batches WHERE ledger_seq IS NOT NULL ORDER BY ledger_seq DESC, id DESC",
        params![],
    )?;
    row.map(|r| {
        let mac = coldsign_core::hex_data::decode_fixed::<32>(&r.text(1)?)
            .map_err(|e| HubError::Internal(format!("stored ledger mac: {e}")))?;
        Ok(LedgerHead {
            seq: u64::try_from(r.int(0)?).unwrap_or_default(),
            mac: B256(mac),
        })
    })
    .transpose()
}

/// Outstanding nonces held by the hub's signed, unfinished transactions in
/// other batches of `chain` than `batch`, per sender (one query for every
/// sender).
pub(crate) fn held_nonces(
    db: &mut Db,
    chain: i64,
    batch: i64,
) -> Result<HashMap<Address, BTreeSet<u64>>> {
    let rows = db.query(
        "SELECT i.sender, i.nonce FROM batch_items i JOIN batches b ON b.id = i.batch \
         WHERE b.chain = ? AND i.batch <> ? AND i.nonce IS NOT NULL AND i.state IN \
         ('SIGNATURE_READY', 'READY_TO_SEND', 'SENDING', 'CONFIRMING', 'BROADCAST_ERROR', 'LINGERING', 'READY_TO_RESEND')",
        params![chain, batch],
    )?;
    let mut held: HashMap<Address, BTreeSet<u64>> = HashMap::new();
    for r in &rows {
        let sender = parse_address(&r.text(0)?)?;
        held.entry(sender)
            .or_default()
            .insert(u64::try_from(r.int(1)?).unwrap_or_default());
    }
    Ok(held)
}

/// Whether `batch` has an item whose sent transaction sync follows
/// (CONFIRMING or BROADCAST_ERROR, with a hash).
pub(crate) fn has_items_to_follow(db: &mut Db, batch: i64) -> Result<bool> {
    Ok(db
        .query_opt(
            "SELECT 1 FROM batch_items WHERE batch = ? AND state IN ('CONFIRMING', 'BROADCAST_ERROR') \
             AND tx_hash IS NOT NULL LIMIT 1",
            params![batch],
        )?
        .is_some())
}

/// One line of `batch list`.
#[derive(Debug, Clone)]
pub(crate) struct Listed {
    /// The batch id.
    pub(crate) id: i64,
    /// Its chain's name.
    pub(crate) chain: String,
    /// Its state, as stored.
    pub(crate) state: String,
    /// When it was created.
    pub(crate) created_at: String,
    /// How many items it has.
    pub(crate) orders: i64,
}

/// Every batch with its chain's name and item count, newest first (one
/// query); only `tenant`'s batches when one is given (the service's list).
pub(crate) fn listed(db: &mut Db, tenant: Option<&str>) -> Result<Vec<Listed>> {
    let rows = match tenant {
        None => db.query(
            "SELECT b.id, c.name, b.state, b.created_at, \
             (SELECT COUNT(*) FROM batch_items i WHERE i.batch = b.id) \
             FROM batches b JOIN chains c ON c.id = b.chain ORDER BY b.id DESC",
            params![],
        )?,
        Some(t) => db.query(
            "SELECT b.id, c.name, b.state, b.created_at, \
             (SELECT COUNT(*) FROM batch_items i WHERE i.batch = b.id) \
             FROM batches b JOIN chains c ON c.id = b.chain WHERE b.tenant = ? ORDER BY b.id DESC",
            params![t],
        )?,
    };
    rows.iter()
        .map(|r| {
            Ok(Listed {
                id: r.int(0)?,
                chain: r.text(1)?,
                state: r.text(2)?,
                created_at: r.text(3)?,
                orders: r.int(4)?,
            })
        })
        .collect()
}
