//! The store's statements for callbacks: the tenants' callback settings
//! and the outbox the dispatcher claims, delivers and records.

use crate::{
    db::{params, Backend, Db, Value},
    error::{HubError, Result},
    model::bulk_rows,
};

/// Relaxes a SQLite connection's commits to `synchronous = NORMAL` (WAL
/// mode keeps them atomic; the last ones may be lost on a power cut). No
/// change on PostgreSQL.
pub(crate) fn relax_sync(db: &mut Db) -> Result<()> {
    if db.backend() == Backend::Sqlite {
        db.batch_execute("PRAGMA synchronous = NORMAL")?;
    }
    Ok(())
}

/// The tenants that have a callback URL, in name order.
pub(crate) fn callback_tenants(db: &mut Db) -> Result<Vec<String>> {
    Ok(db
        .query("SELECT tenant FROM callbacks ORDER BY tenant", params![])?
        .iter()
        .map(|r| r.text(0))
        .collect::<std::result::Result<_, _>>()?)
}

/// The statement that leases up to a limit of due events of `tenants`
/// tenants (parameters: the lease's end, the tenants, now twice, the
/// limit), in event order, skipping any event with an earlier pending event
/// of the same order or deposit (callbacks of one order or deposit are
/// delivered in order). Those checks probe `outbox_order` and
/// `outbox_deposit`, and the due rows come from `outbox_pending`, so a
/// claim never walks delivered rows nor scans a backlog once per row
/// (`the_claim_uses_indexes_only` checks the plan).
pub(crate) fn claim_statement(backend: Backend, tenants: usize) -> String {
    let due = format!(
        "SELECT x.id FROM outbox x JOIN callbacks c ON c.tenant = x.tenant \
         WHERE x.tenant IN ({}) AND x.status = 'pending' AND x.next_attempt_at <= ? AND (x.lease_until IS NULL OR x.lease_until < ?) \
         AND NOT (x.order_ref IS NOT NULL AND EXISTS (SELECT 1 FROM outbox p WHERE p.order_ref = x.order_ref \
         AND p.id < x.id AND p.status = 'pending')) \
         AND NOT (x.deposit IS NOT NULL AND EXISTS (SELECT 1 FROM outbox p WHERE p.deposit = x.deposit \
         AND p.id < x.id AND p.status = 'pending')) \
         ORDER BY x.id LIMIT ?",
        vec!["?"; tenants].join(", ")
    );
    match backend {
        Backend::Postgres => format!(
            "UPDATE outbox SET lease_until = ? WHERE id IN ({due} FOR UPDATE OF x SKIP LOCKED) RETURNING id"
        ),
        Backend::Sqlite => format!("UPDATE outbox SET lease_until = ? WHERE id IN ({due}) RETURNING id"),
    }
}

/// Leases up to `limit` due events of `tenants` until `lease` (due at
/// `now`), atomically, and returns their outbox ids in event order.
pub(crate) fn lease_due(
    db: &mut Db,
    tenants: &[String],
    now: &str,
    lease: &str,
    limit: i64,
) -> Result<Vec<i64>> {
    if tenants.is_empty() {
        return Ok(Vec::new());
    }
    let sql = claim_statement(db.backend(), tenants.len());
    let mut values = vec![Value::from(lease)];
    values.extend(tenants.iter().map(|t| Value::from(t.as_str())));
    values.extend([Value::from(now), Value::from(now), Value::from(limit)]);
    let claim_rows = |db: &mut Db| {
        db.query(&sql, &values)?
            .iter()
            .map(|r| r.int(0))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(HubError::from)
    };
    // One statement is atomic on its own: on PostgreSQL without BEGIN and
    // COMMIT around it (two round trips a round); SQLite's BEGIN IMMEDIATE
    // costs nothing and takes the write lock before the statement reads.
    match db.backend() {
        Backend::Postgres => claim_rows(db),
        Backend::Sqlite => db.transaction(claim_rows),
    }
}

/// A leased outbox row with its event and where it goes.
#[derive(Debug, Clone)]
pub(crate) struct ClaimedEvent {
    /// The outbox row.
    pub(crate) id: i64,
    pub(crate) tenant: String,
    /// Attempts made so far.
    pub(crate) attempts: i64,
    /// The tenant's callback URL and secret.
    pub(crate) url: String,
    pub(crate) secret: String,
    /// The event row and its fields.
    pub(crate) event_id: i64,
    pub(crate) at: String,
    /// `order`, `item`, `batch` or `deposit`.
    pub(crate) kind: String,
    pub(crate) batch: Option<i64>,
    pub(crate) from_state: Option<String>,
    pub(crate) to_state: String,
    pub(crate) reason: String,
    pub(crate) message: String,
    /// The order's id, for an order's event.
    pub(crate) order_id: Option<String>,
    /// The order's transaction in the event's batch, if any.
    pub(crate) tx_hash: Option<String>,
    pub(crate) block_number: Option<i64>,
    /// The deposit, for a deposit's event.
    pub(crate) deposit: Option<i64>,
}

/// The events of the outbox rows `ids`, in event order (one query: a query
/// per event was a round trip each on PostgreSQL).
pub(crate) fn claimed_events(db: &mut Db, ids: &[i64]) -> Result<Vec<ClaimedEvent>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let marks = vec!["?"; ids.len()].join(", ");
    let values: Vec<Value> = ids.iter().map(|id| Value::from(*id)).collect();
    let rows = db.query(
        &format!(
            "SELECT x.id, x.tenant, x.attempts, c.url, c.secret, e.id, e.at, e.kind, e.batch, e.from_state, \
             e.to_state, e.reason, e.message, o.order_id, \
             (SELECT i.tx_hash FROM batch_items i WHERE i.order_ref = x.order_ref AND i.batch = e.batch), \
             (SELECT i.block_number FROM batch_items i WHERE i.order_ref = x.order_ref AND i.batch = e.batch), \
             x.deposit \
             FROM outbox x JOIN events e ON e.id = x.event JOIN callbacks c ON c.tenant = x.tenant \
             LEFT JOIN orders o ON o.id = x.order_ref WHERE x.id IN ({marks}) ORDER BY x.id"
        ),
        &values,
    )?;
    rows.iter()
        .map(|r| {
            Ok(ClaimedEvent {
                id: r.int(0)?,
                tenant: r.text(1)?,
                attempts: r.int(2)?,
                url: r.text(3)?,
                secret: r.text(4)?,
                event_id: r.int(5)?,
                at: r.text(6)?,
                kind: r.text(7)?,
                batch: r.opt_int(8)?,
                from_state: r.opt_text(9)?,
                to_state: r.text(10)?,
                reason: r.text(11)?,
                message: r.text(12)?,
                order_id: r.opt_text(13)?,
                tx_hash: r.opt_text(14)?,
                block_number: r.opt_int(15)?,
                deposit: r.opt_int(16)?,
            })
        })
        .collect()
}

/// The outcome of one attempt, as recorded on its outbox row.
#[derive(Debug, Clone)]
pub(crate) struct AttemptRecord {
    pub(crate) id: i64,
    /// `delivered`, `pending` (retried later) or `dead`.
    pub(crate) status: &'static str,
    pub(crate) attempts: i64,
    /// The receiver's HTTP status, if it answered.
    pub(crate) last_status: Option<i64>,
    pub(crate) last_error: Option<String>,
    /// When to try again; `None` keeps the row's.
    pub(crate) next_attempt_at: Option<String>,
    /// When it was delivered; `None` keeps the row's.
    pub(crate) delivered_at: Option<String>,
}

/// Records the attempts' outcomes with multi-row UPDATEs (one transaction
/// when they take more than one statement), releasing their leases.
pub(crate) fn record_attempts(db: &mut Db, records: &[AttemptRecord]) -> Result<()> {
    // A delivery keeps its due time, a failure keeps an earlier delivery's
    // time (`callback replay --since-event`): NULL means "unchanged".
    let tuple = "(CAST(? AS BIGINT), ?, CAST(? AS BIGINT), CAST(? AS BIGINT), ?, ?, ?)";
    let write = |db: &mut Db, chunk: &[AttemptRecord]| {
        let sql = format!(
            "WITH v (id, status, attempts, last_status, last_error, next_attempt_at, delivered_at) AS \
             (VALUES {}) UPDATE outbox SET status = v.status, attempts = v.attempts, \
             last_status = v.last_status, last_error = v.last_error, \
             next_attempt_at = COALESCE(v.next_attempt_at, outbox.next_attempt_at), \
             delivered_at = COALESCE(v.delivered_at, outbox.delivered_at), lease_until = NULL \
             FROM v WHERE outbox.id = v.id",
            vec![tuple; chunk.len()].join(", ")
        );
        let mut values = Vec::with_capacity(chunk.len() * 7);
        for r in chunk {
            values.extend([
                Value::from(r.id),
                Value::from(r.status),
                Value::from(r.attempts),
                Value::from(r.last_status),
                Value::from(r.last_error.clone()),
                Value::from(r.next_attempt_at.clone()),
                Value::from(r.delivered_at.clone()),
            ]);
        }
        db.execute(&sql, &values)
    };
    if records.len() <= bulk_rows(7) {
        write(db, records)?;
    } else {
        db.transaction(|db| {
            for chunk in records.chunks(bulk_rows(7)) {
                write(db, chunk)?;
            }
            Ok::<_, HubError>(())
        })?;
    }
    Ok(())
}

/// Sets (or replaces) a tenant's callback URL and secret.
pub(crate) fn upsert_callback(
    db: &mut Db,
    tenant: &str,
    url: &str,
    secret: &str,
    now: &str,
) -> Result<()> {
    db.execute(
        "INSERT INTO callbacks (tenant, url, secret, updated_at) VALUES (?, ?, ?, ?) \
         ON CONFLICT (tenant) DO UPDATE SET url = excluded.url, secret = excluded.secret, updated_at = excluded.updated_at",
        params![tenant, url, secret, now],
    )?;
    Ok(())
}

/// Makes a tenant's dead events due again at `now`; returns how many.
pub(crate) fn replay_dead(db: &mut Db, tenant: &str, now: &str) -> Result<u64> {
    Ok(db.execute(
        "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = ?, lease_until = NULL \
         WHERE tenant = ? AND status = 'dead'",
        params![now, tenant],
    )?)
}

/// Makes every event of a tenant from event `since` on due again at `now`,
/// delivered or not; returns how many.
pub(crate) fn replay_since(db: &mut Db, tenant: &str, since: i64, now: &str) -> Result<u64> {
    Ok(db.execute(
        "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = ?, lease_until = NULL \
         WHERE tenant = ? AND event >= ?",
        params![now, tenant, since],
    )?)
}
