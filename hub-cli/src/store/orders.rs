//! The store's statements for orders (see [`crate::store`]): new orders,
//! holds and cancels, and what `order list`, `show` and `plan` read.

use crate::{
    clock::now_rfc3339,
    db::{params, Db, Row, Value},
    error::Result,
    model::{bulk_rows, Order, ORDER_COLS},
    state::OrderState,
};
use coldsign_core::{Address, U256};
use std::collections::HashMap;
use time::OffsetDateTime;

/// The stored orders among those with these order ids, in no set order.
pub(crate) fn orders_with_ids(db: &mut Db, order_ids: &[&str]) -> Result<Vec<Order>> {
    let mut out = Vec::new();
    for chunk in order_ids.chunks(bulk_rows(1)) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let ids: Vec<Value> = chunk.iter().map(|&id| id.into()).collect();
        for r in db.query(
            &format!("SELECT {ORDER_COLS} FROM orders o WHERE o.order_id IN ({marks})"),
            &ids,
        )? {
            out.push(Order::from_row(&r)?);
        }
    }
    Ok(out)
}

/// A new order for [`insert_pending_orders`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct NewOrderRow<'a> {
    /// The order's unique id.
    pub(crate) order_id: &'a str,
    /// The chain (database id).
    pub(crate) chain: i64,
    /// The asset's symbol.
    pub(crate) asset: &'a str,
    /// The token (database id), `None` for the native coin.
    pub(crate) token: Option<i64>,
    /// The sending address.
    pub(crate) from: Address,
    /// The recipient.
    pub(crate) to: Address,
    /// The amount in base units.
    pub(crate) amount: U256,
}

/// Inserts `orders` as PENDING orders of `tenant` (`None`: the desk's own),
/// created and updated at `now`, with multi-row INSERTs of up to
/// [`bulk_rows`] rows; returns their database ids by order id.
pub(crate) fn insert_pending_orders(
    db: &mut Db,
    orders: &[NewOrderRow<'_>],
    now: &str,
    tenant: Option<&str>,
) -> Result<HashMap<String, i64>> {
    let mut ids: HashMap<String, i64> = HashMap::with_capacity(orders.len());
    for chunk in orders.chunks(bulk_rows(11)) {
        let mut sql = String::from(
            "INSERT INTO orders (order_id, chain, asset, token, from_address, to_address, amount, state, \
             created_at, updated_at, tenant) VALUES ",
        );
        let mut values = Vec::with_capacity(chunk.len() * 11);
        for (n, o) in chunk.iter().enumerate() {
            sql.push_str(if n == 0 { "" } else { ", " });
            sql.push_str("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
            values.extend([
                Value::from(o.order_id),
                Value::from(o.chain),
                Value::from(o.asset),
                Value::from(o.token),
                Value::from(o.from.to_checksum()),
                Value::from(o.to.to_checksum()),
                Value::from(o.amount.to_string()),
                Value::from(OrderState::Pending.as_str()),
                Value::from(now),
                Value::from(now),
                Value::from(tenant),
            ]);
        }
        // RETURNING's row order is not promised: each id by its order id.
        sql.push_str(" RETURNING id, order_id");
        for r in db.query(&sql, &values)? {
            ids.insert(r.text(1)?, r.int(0)?);
        }
    }
    Ok(ids)
}

/// Holds order `order_ref` since `now`, if it is PENDING, neither held nor
/// cancelled; whether it was.
pub(crate) fn hold_order(db: &mut Db, order_ref: i64, now: &str) -> Result<bool> {
    let n = db.execute(
        "UPDATE orders SET held_at = ?, updated_at = ? WHERE id = ? AND state = 'PENDING' \
         AND held_at IS NULL AND cancel_requested_at IS NULL",
        params![now, now, order_ref],
    )?;
    Ok(n == 1)
}

/// Releases order `order_ref`, if it is still held since `since`; whether
/// it was.
pub(crate) fn release_order(db: &mut Db, order_ref: i64, since: &str) -> Result<bool> {
    let n = db.execute(
        "UPDATE orders SET held_at = NULL, updated_at = ? WHERE id = ? AND held_at = ?",
        params![now_rfc3339(), order_ref, since],
    )?;
    Ok(n == 1)
}

/// Ends the hold of order `order_ref` (its cancel wins over it), without
/// touching its update time.
pub(crate) fn clear_hold(db: &mut Db, order_ref: i64) -> Result<()> {
    db.execute(
        "UPDATE orders SET held_at = NULL WHERE id = ?",
        params![order_ref],
    )?;
    Ok(())
}

/// Marks order `order_ref` as cancel requested now, if it is PENDING and
/// not marked yet; whether it was.
pub(crate) fn request_cancel(db: &mut Db, order_ref: i64) -> Result<bool> {
    let n = db.execute(
        "UPDATE orders SET cancel_requested_at = ?, updated_at = ? WHERE id = ? AND state = 'PENDING' \
         AND cancel_requested_at IS NULL",
        params![now_rfc3339(), now_rfc3339(), order_ref],
    )?;
    Ok(n == 1)
}

/// Whether the batch `batch` exists.
pub(crate) fn batch_exists(db: &mut Db, batch: i64) -> Result<bool> {
    Ok(db
        .query_opt("SELECT id FROM batches WHERE id = ?", params![batch])?
        .is_some())
}

/// Which orders [`orders_page`] reads: each filter given narrows them.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct OrderQuery {
    /// Only in this state, or only the held ones.
    pub(crate) state: Option<StateFilter>,
    /// Only on this chain (database id).
    pub(crate) chain: Option<i64>,
    /// Only created in or after the second of this instant (the database
    /// compares whole seconds: the caller checks the exact instant).
    pub(crate) since: Option<OffsetDateTime>,
    /// Only those with an item in this batch.
    pub(crate) batch: Option<i64>,
}

/// The state filter of [`OrderQuery`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StateFilter {
    /// PENDING and held.
    Held,
    /// In this state.
    State(OrderState),
}

/// An order as `order list` reads it: with its chain's name and its
/// asset's decimals.
#[derive(Debug, Clone)]
pub(crate) struct ListedOrder {
    /// The chain's name.
    pub(crate) chain_name: String,
    /// The asset's decimals, as stored.
    pub(crate) decimals: i64,
    /// The order.
    pub(crate) order: Order,
}

/// The orders matching `q`, by id, each with its chain's name and its
/// asset's decimals: one query whatever the filters.
pub(crate) fn orders_page(db: &mut Db, q: &OrderQuery) -> Result<Vec<ListedOrder>> {
    let mut conditions: Vec<&str> = Vec::new();
    let mut values: Vec<Value> = Vec::new();
    match q.state {
        Some(StateFilter::Held) => {
            conditions.push("o.state = 'PENDING' AND o.held_at IS NOT NULL");
        }
        Some(StateFilter::State(state)) => {
            conditions.push("o.state = ?");
            values.push(state.as_str().into());
        }
        None => {}
    }
    if let Some(chain) = q.chain {
        conditions.push("o.chain = ?");
        values.push(chain.into());
    }
    if let Some(t) = q.since {
        // Stored times are UTC RFC 3339 with as many fraction digits as
        // needed, which do not sort as text within one second: the
        // database compares whole seconds.
        conditions.push("substr(o.created_at, 1, 19) >= ?");
        values.push(crate::clock::whole_seconds(t).into());
    }
    if let Some(b) = q.batch {
        conditions
            .push("EXISTS (SELECT 1 FROM batch_items i WHERE i.order_ref = o.id AND i.batch = ?)");
        values.push(b.into());
    }
    let filter_sql = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    db.query(
        &format!(
            "SELECT c.name, COALESCE(t.decimals, c.native_decimals), {ORDER_COLS} FROM orders o \
             JOIN chains c ON c.id = o.chain LEFT JOIN tokens t ON t.id = o.token{filter_sql} \
             ORDER BY o.id"
        ),
        &values,
    )?
    .iter()
    .map(|r| {
        let order = Order::from_row(&Row::slice(r, 2))?;
        Ok(ListedOrder {
            chain_name: r.text(0)?,
            decimals: r.int(1)?,
            order,
        })
    })
    .collect()
}

/// The PENDING, unheld orders on `chain`, of every tenant, that send from
/// one of its cold addresses, by id.
pub(crate) fn pending_cold_orders_on(db: &mut Db, chain: i64) -> Result<Vec<Order>> {
    db.query(
        &format!(
            "SELECT {ORDER_COLS} FROM orders o WHERE o.chain = ? AND o.state = 'PENDING' AND o.held_at IS NULL \
             AND EXISTS (SELECT 1 FROM addresses a WHERE a.chain = o.chain AND a.address = o.from_address AND a.role = 'cold') \
             ORDER BY o.id"
        ),
        params![chain],
    )?
    .iter()
    .map(Order::from_row)
    .collect()
}

/// An event of an order's history.
#[derive(Debug, Clone)]
pub(crate) struct OrderEvent {
    /// When (RFC 3339).
    pub(crate) at: String,
    /// What it is about: `order`, `item` or `batch`.
    pub(crate) kind: String,
    /// The batch it is about, if any.
    pub(crate) batch: Option<i64>,
    /// The state before (none for a creation).
    pub(crate) from_state: Option<String>,
    /// The state after.
    pub(crate) to_state: String,
    /// Why.
    pub(crate) reason: String,
    /// What was said.
    pub(crate) message: String,
    /// Who did it.
    pub(crate) operator: String,
}

impl OrderEvent {
    /// The event in the columns of `r` from `at` on (at, kind, batch,
    /// from_state, to_state, reason, message, operator).
    fn from_row_at(r: &Row, at: usize) -> Result<Self> {
        Ok(Self {
            at: r.text(at)?,
            kind: r.text(at + 1)?,
            batch: r.opt_int(at + 2)?,
            from_state: r.opt_text(at + 3)?,
            to_state: r.text(at + 4)?,
            reason: r.text(at + 5)?,
            message: r.text(at + 6)?,
            operator: r.text(at + 7)?,
        })
    }
}

/// The events of order `order_ref`, oldest first.
pub(crate) fn order_events(db: &mut Db, order_ref: i64) -> Result<Vec<OrderEvent>> {
    db.query(
        "SELECT at, kind, batch, from_state, to_state, reason, message, operator FROM events \
         WHERE order_ref = ? ORDER BY id",
        params![order_ref],
    )?
    .iter()
    .map(|r| OrderEvent::from_row_at(r, 0))
    .collect()
}

/// The events of order `order_ref` with their ids, oldest first.
pub(crate) fn order_events_with_ids(db: &mut Db, order_ref: i64) -> Result<Vec<(i64, OrderEvent)>> {
    db.query(
        "SELECT id, at, kind, batch, from_state, to_state, reason, message, operator FROM events \
         WHERE order_ref = ? ORDER BY id",
        params![order_ref],
    )?
    .iter()
    .map(|r| Ok((r.int(0)?, OrderEvent::from_row_at(r, 1)?)))
    .collect()
}
