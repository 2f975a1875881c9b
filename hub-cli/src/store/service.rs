//! The store's statements for the service: API keys, the front system's
//! listings, the metrics' counts, the supervisor's open batches and locks,
//! and the payouts the two confirmation paths disagree on.

use crate::{
    db::{params, Backend, Db, Value},
    error::Result,
    model::{Order, ORDER_COLS},
};

/// Records a new API key by its hash (the key itself is never stored).
pub(crate) fn insert_api_key(
    db: &mut Db,
    key_hash: &str,
    prefix: &str,
    tenant: &str,
    scopes: &str,
    operator: &str,
    now: &str,
) -> Result<()> {
    db.execute(
        "INSERT INTO api_keys (key_hash, prefix, tenant, scopes, operator, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        params![key_hash, prefix, tenant, scopes, operator, now],
    )?;
    Ok(())
}

/// The key with this hash, unless revoked: its tenant, scopes (comma
/// separated) and operator.
pub(crate) fn active_api_key(
    db: &mut Db,
    key_hash: &str,
) -> Result<Option<(String, String, String)>> {
    db.query_opt(
        "SELECT tenant, scopes, operator FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL",
        params![key_hash],
    )?
    .map(|r| Ok((r.text(0)?, r.text(1)?, r.text(2)?)))
    .transpose()
}

/// Which of a tenant's orders a page lists.
#[derive(Debug, Clone, Default)]
pub(crate) struct OrderFilter {
    /// Only orders in this state.
    pub(crate) state: Option<String>,
    /// Only orders on the chain of this name.
    pub(crate) chain: Option<String>,
    /// Only orders created at or after this RFC 3339 time.
    pub(crate) since: Option<String>,
}

/// Up to `limit` of `tenant`'s orders with a database id above `after`
/// that pass `filter`, in id order.
pub(crate) fn tenant_orders_page(
    db: &mut Db,
    tenant: &str,
    after: i64,
    filter: &OrderFilter,
    limit: i64,
) -> Result<Vec<Order>> {
    let mut sql = format!(
        "SELECT {ORDER_COLS} FROM orders o JOIN chains c ON c.id = o.chain WHERE o.tenant = ? AND o.id > ?"
    );
    let mut values = vec![Value::from(tenant), Value::from(after)];
    if let Some(s) = &filter.state {
        sql.push_str(" AND o.state = ?");
        values.push(s.as_str().into());
    }
    if let Some(c) = &filter.chain {
        sql.push_str(" AND c.name = ?");
        values.push(c.as_str().into());
    }
    if let Some(s) = &filter.since {
        sql.push_str(" AND o.created_at >= ?");
        values.push(s.as_str().into());
    }
    sql.push_str(" ORDER BY o.id LIMIT ?");
    values.push(limit.into());
    db.query(&sql, &values)?
        .iter()
        .map(Order::from_row)
        .collect()
}

/// The tenant of batch `id`: `None` if there is no such batch, `Some(None)`
/// for the desk's own batch.
pub(crate) fn batch_tenant(db: &mut Db, id: i64) -> Result<Option<Option<String>>> {
    db.query_opt("SELECT tenant FROM batches WHERE id = ?", params![id])?
        .map(|r| r.opt_text(0))
        .transpose()
        .map_err(Into::into)
}

/// (state, count) of every order state and every batch state that has
/// rows, and the creation time of the oldest pending order.
pub(crate) struct StateCounts {
    pub(crate) orders: Vec<(String, i64)>,
    pub(crate) batches: Vec<(String, i64)>,
    pub(crate) oldest_pending: Option<String>,
}

/// The counts `/metrics` reports.
pub(crate) fn state_counts(db: &mut Db) -> Result<StateCounts> {
    let count = |rows: &[crate::db::Row]| -> Result<Vec<(String, i64)>> {
        rows.iter().map(|r| Ok((r.text(0)?, r.int(1)?))).collect()
    };
    let orders = db.query(
        "SELECT state, COUNT(*) FROM orders GROUP BY state",
        params![],
    )?;
    let batches = db.query(
        "SELECT state, COUNT(*) FROM batches GROUP BY state",
        params![],
    )?;
    let oldest = db.query_opt(
        "SELECT MIN(created_at) FROM orders WHERE state = 'PENDING'",
        params![],
    )?;
    Ok(StateCounts {
        orders: count(&orders)?,
        batches: count(&batches)?,
        oldest_pending: oldest.and_then(|r| r.opt_text(0).ok().flatten()),
    })
}

/// (tenant, status, count) of the outbox rows not delivered yet.
pub(crate) fn outbox_backlog(db: &mut Db) -> Result<Vec<(String, String, i64)>> {
    db.query(
        "SELECT tenant, status, COUNT(*) FROM outbox WHERE status <> 'delivered' GROUP BY tenant, status",
        params![],
    )?
    .iter()
    .map(|r| Ok((r.text(0)?, r.text(1)?, r.int(2)?)))
    .collect()
}

/// The batches the supervisor follows (SENDING_TX, IN_PROCESS,
/// PROCESS_EXCEPTION): (id, state, chain name), in id order.
pub(crate) fn open_batches(db: &mut Db) -> Result<Vec<(i64, String, String)>> {
    db.query(
        "SELECT b.id, b.state, c.name FROM batches b JOIN chains c ON c.id = b.chain \
         WHERE b.state IN ('SENDING_TX', 'IN_PROCESS', 'PROCESS_EXCEPTION') ORDER BY b.id",
        params![],
    )?
    .iter()
    .map(|r| Ok((r.int(0)?, r.text(1)?, r.text(2)?)))
    .collect()
}

/// Takes the session advisory lock `key` if no other session holds it
/// (PostgreSQL); always true on SQLite, where one process serves.
pub(crate) fn try_advisory_lock(db: &mut Db, key: i64) -> Result<bool> {
    match db.backend() {
        Backend::Sqlite => Ok(true),
        Backend::Postgres => Ok(db
            .query_one("SELECT pg_try_advisory_lock(?)", params![key])?
            .int(0)?
            == 1),
    }
}

/// Releases the session advisory lock `key` (PostgreSQL).
pub(crate) fn advisory_unlock(db: &mut Db, key: i64) -> Result<()> {
    if db.backend() == Backend::Postgres {
        db.query_one("SELECT pg_advisory_unlock(?)", params![key])?;
    }
    Ok(())
}

/// Payouts the two confirmation paths disagree on: the item's receipt puts
/// its transaction in one block, and the chain follower, which read that
/// height itself, has another block there. Each is an alert (logged by the
/// follower, counted in `/metrics`): one of the nodes lies or a
/// reorganisation is under way. As (order id, block number, receipt's
/// block, follower's block).
pub(crate) fn payout_disagreements(db: &mut Db) -> Result<Vec<(String, i64, String, String)>> {
    db.query(
        "SELECT o.order_id, i.block_number, i.block_hash, b.hash FROM batch_items i \
         JOIN batches bt ON bt.id = i.batch JOIN orders o ON o.id = i.order_ref \
         JOIN blocks b ON b.chain = bt.chain AND b.number = i.block_number \
         WHERE i.block_hash IS NOT NULL AND i.state IN ('CONFIRMING', 'DISBURSED') \
         AND LOWER(b.hash) <> LOWER(i.block_hash)",
        params![],
    )?
    .iter()
    .map(|r| Ok((r.text(0)?, r.int(1)?, r.text(2)?, r.text(3)?)))
    .collect()
}

/// The SEEN deposits of chains with a witness node that are deep enough to
/// be CONFIRMED but wait for the witness to show them (counted in
/// `/metrics`): the witness lags, is down, or disagrees.
pub(crate) fn deposits_waiting_for_witness(db: &mut Db) -> Result<i64> {
    Ok(db
        .query_one(
            "SELECT COUNT(*) FROM deposits d JOIN chains c ON c.id = d.chain \
             WHERE c.witness_rpc_url IS NOT NULL AND d.state = 'SEEN' \
             AND d.block_number + c.confirmations <= (SELECT MAX(b.number) FROM blocks b WHERE b.chain = d.chain)",
            params![],
        )?
        .int(0)?)
}
