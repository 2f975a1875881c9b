//! Callbacks: every state change of a tenant's orders and batches, POSTed
//! to the tenant's URL, signed, at least once, in order for each order.
//!
//! The changes are in the outbox, written in the same database transaction
//! as the change itself (`Actor::events`). The dispatcher claims due rows
//! with a lease (on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so several
//! processes never deliver the same event at the same time; a dead
//! process's lease runs out), never an event of an order while an earlier
//! one of the same order is undelivered, POSTs each, and records the
//! outcome: delivered, or retried later with exponential back-off and
//! jitter, until `max_attempts`, then dead (`hub-cli callback replay` sends
//! dead events again).
//!
//! The signature header: `X-Coldsign-Signature: t=<unix seconds>,v1=<hex
//! HMAC-SHA256(secret, "<t>.<body>")>`.

use super::State;
use crate::{
    clock::fixed_after,
    db::{params, Backend, Db, Value},
    error::Result,
    model::bulk_rows,
};
use hmac::{Hmac, Mac};
use serde_json::json;
use std::{sync::Arc, time::Duration};

/// How long a claimed event is reserved for the claiming process.
const LEASE: Duration = Duration::from_secs(60);
/// Events claimed per round.
const CLAIM: i64 = 200;

/// The dispatcher's own database connection. On SQLite its commits (the
/// leases and the outcomes of attempts) are not synced to disk one by one
/// (`synchronous = NORMAL`, in WAL mode): a power cut may lose the last of
/// them, and those events are then sent again, which at-least-once
/// delivery allows; the next commit with SQLite's full sync (the API's, the
/// supervisor's) makes them durable too. Each of its commits was an fsync
/// (2 to 12 ms here) holding SQLite's one write lock, which the API's
/// requests wait for.
pub(crate) fn connect(url: &str) -> Result<Db> {
    let mut db = Db::open(url, false)?;
    if db.backend() == Backend::Sqlite {
        db.batch_execute("PRAGMA synchronous = NORMAL")?;
    }
    Ok(db)
}

/// `t=<t>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub(crate) fn signature(secret: &str, t: u64, body: &str) -> String {
    let mut mac =
        <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| {
            <Hmac<sha2::Sha256> as Mac>::new_from_slice(b"").expect("HMAC takes any key")
        });
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    let tag = mac.finalize().into_bytes();
    format!(
        "t={t},v1={}",
        coldsign_core::hex_data::encode(tag).trim_start_matches("0x")
    )
}

/// The delay before attempt `attempts + 1`: 1 s doubling to 10 min, with
/// up to a quarter of jitter.
fn backoff(attempts: i64) -> Duration {
    let base = 1u64 << attempts.clamp(0, 10) as u32;
    let secs = base.min(600);
    let mut b = [0u8; 2];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
    let jitter = u64::from(u16::from_le_bytes(b)) % (secs * 250 + 1);
    Duration::from_millis(secs * 1000 + jitter)
}

/// One claimed event, ready to POST.
struct Delivery {
    id: i64,
    tenant: String,
    attempts: i64,
    url: String,
    secret: String,
    body: String,
}

/// The statement that leases up to `CLAIM` due events of `tenants`
/// tenants (parameters: the lease's end, the tenants, now twice, the
/// limit), in event order, skipping any event with an earlier pending event
/// of the same order or deposit (callbacks of one order or deposit are
/// delivered in order). Those checks probe `outbox_order` and
/// `outbox_deposit`, and the due rows come from `outbox_pending`, so a
/// claim never walks delivered rows nor scans a backlog once per row
/// (`the_claim_uses_indexes_only` checks the plan).
fn claim_statement(backend: Backend, tenants: usize) -> String {
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

/// Claims due events and builds their bodies.
fn claim(db: &mut Db) -> Result<Vec<Delivery>> {
    let now = fixed_after(Duration::ZERO);
    let lease = fixed_after(LEASE);
    // Only tenants with a callback URL have events to claim. Named in a
    // plain filter, they keep the ordering checks below (an index probe or
    // two per row) off every other tenant's pending events, which the scan
    // in event order would otherwise check at every round only to find no
    // URL for them.
    let tenants: Vec<Value> = db
        .query("SELECT tenant FROM callbacks ORDER BY tenant", params![])?
        .iter()
        .map(|r| r.text(0).map(Value::from))
        .collect::<std::result::Result<_, _>>()?;
    if tenants.is_empty() {
        return Ok(Vec::new());
    }
    let claim_sql = claim_statement(db.backend(), tenants.len());
    let mut values = vec![Value::from(lease.as_str())];
    values.extend(tenants);
    values.extend([
        Value::from(now.as_str()),
        Value::from(now.as_str()),
        Value::from(CLAIM),
    ]);
    let claim_rows = |db: &mut Db| {
        db.query(&claim_sql, &values)?
            .iter()
            .map(|r| r.int(0))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(crate::error::HubError::from)
    };
    // One statement is atomic on its own: on PostgreSQL without BEGIN and
    // COMMIT around it (two round trips a round); SQLite's BEGIN IMMEDIATE
    // costs nothing and takes the write lock before the statement reads.
    let ids: Vec<i64> = match db.backend() {
        Backend::Postgres => claim_rows(db)?,
        Backend::Sqlite => db.transaction(claim_rows)?,
    };
    let mut out = Vec::with_capacity(ids.len());
    if ids.is_empty() {
        return Ok(out);
    }
    // Every claimed event's body in one query, in event order (a query
    // per event was a round trip each on PostgreSQL).
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
    for r in &rows {
        let kind = r.text(7)?;
        if let Some(deposit) = r.opt_int(16)? {
            let filter = crate::commands::deposits::DepositFilter {
                id: Some(deposit),
                ..Default::default()
            };
            let d = crate::commands::deposits::list(db, &filter, None)?
                .into_iter()
                .next()
                .unwrap_or_default();
            let body = json!({
                "event_id": r.int(5)?,
                "type": "deposit.state_changed",
                "deposit": d,
                "old_state": r.opt_text(9)?,
                "new_state": r.text(10)?,
                "reason": r.text(11)?,
                "message": r.text(12)?,
                "at": r.text(6)?,
            });
            out.push(Delivery {
                id: r.int(0)?,
                tenant: r.text(1)?,
                attempts: r.int(2)?,
                url: r.text(3)?,
                secret: r.text(4)?,
                body: body.to_string(),
            });
            continue;
        }
        let body = json!({
            "event_id": r.int(5)?,
            "type": if kind == "batch" { "batch.state_changed" } else { "order.state_changed" },
            "order_id": r.opt_text(13)?,
            "batch": r.opt_int(8)?,
            "old_state": r.opt_text(9)?,
            "new_state": r.text(10)?,
            "reason": r.text(11)?,
            "message": r.text(12)?,
            "tx_hash": r.opt_text(14)?,
            "block_number": r.opt_int(15)?,
            "at": r.text(6)?,
        });
        out.push(Delivery {
            id: r.int(0)?,
            tenant: r.text(1)?,
            attempts: r.int(2)?,
            url: r.text(3)?,
            secret: r.text(4)?,
            body: body.to_string(),
        });
    }
    Ok(out)
}

/// What one attempt gave: the receiver's status (none: no answer), why it
/// failed, and how long it took.
struct Outcome {
    status: Option<u16>,
    error: Option<String>,
    took: Duration,
}

impl Outcome {
    /// A 2xx answer.
    fn delivered(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Records the outcomes of `done` (deliveries with their attempt's
/// outcome) in one transaction, with multi-row UPDATEs: delivered, or due
/// again after a back-off, or dead after `max_attempts`. Returns, for each,
/// whether it is now dead.
fn record(db: &mut Db, done: &[(&Delivery, Outcome)], max_attempts: i64) -> Result<Vec<bool>> {
    let now = fixed_after(Duration::ZERO);
    let mut dead = Vec::with_capacity(done.len());
    let mut rows: Vec<[Value; 7]> = Vec::with_capacity(done.len());
    for (d, o) in done {
        let attempts = d.attempts + 1;
        let status = Value::from(o.status.map(i64::from));
        if o.delivered() {
            dead.push(false);
            rows.push([
                Value::from(d.id),
                Value::from("delivered"),
                Value::from(attempts),
                status,
                Value::Null,
                Value::Null,
                Value::from(now.as_str()),
            ]);
        } else {
            let given_up = attempts >= max_attempts;
            dead.push(given_up);
            rows.push([
                Value::from(d.id),
                Value::from(if given_up { "dead" } else { "pending" }),
                Value::from(attempts),
                status,
                Value::from(o.error.clone()),
                Value::from(fixed_after(backoff(attempts))),
                Value::Null,
            ]);
        }
    }
    // A delivery keeps its due time, a failure keeps an earlier delivery's
    // time (`callback replay --since-event`): NULL means "unchanged".
    let tuple = "(CAST(? AS BIGINT), ?, CAST(? AS BIGINT), CAST(? AS BIGINT), ?, ?, ?)";
    let write = |db: &mut Db, chunk: &[[Value; 7]]| {
        let sql = format!(
            "WITH v (id, status, attempts, last_status, last_error, next_attempt_at, delivered_at) AS \
             (VALUES {}) UPDATE outbox SET status = v.status, attempts = v.attempts, \
             last_status = v.last_status, last_error = v.last_error, \
             next_attempt_at = COALESCE(v.next_attempt_at, outbox.next_attempt_at), \
             delivered_at = COALESCE(v.delivered_at, outbox.delivered_at), lease_until = NULL \
             FROM v WHERE outbox.id = v.id",
            vec![tuple; chunk.len()].join(", ")
        );
        let values: Vec<Value> = chunk.iter().flatten().cloned().collect();
        db.execute(&sql, &values)
    };
    if rows.len() <= bulk_rows(7) {
        write(db, &rows)?;
    } else {
        db.transaction(|db| {
            for chunk in rows.chunks(bulk_rows(7)) {
                write(db, chunk)?;
            }
            Ok::<_, crate::error::HubError>(())
        })?;
    }
    Ok(dead)
}

/// POSTs one event over the agent's kept-alive connection.
fn post(agent: &ureq::Agent, d: &Delivery) -> Outcome {
    let started = std::time::Instant::now();
    let t = time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64;
    let sig = signature(&d.secret, t, &d.body);
    let (status, error) = match agent
        .post(&d.url)
        .set("Content-Type", "application/json")
        .set("X-Coldsign-Signature", &sig)
        .send_string(&d.body)
    {
        Ok(r) => {
            let status = r.status();
            drain(r);
            (Some(status), None)
        }
        Err(ureq::Error::Status(code, r)) => {
            drain(r);
            (Some(code), Some(format!("HTTP {code}")))
        }
        Err(ureq::Error::Transport(t)) => (None, Some(t.to_string())),
    };
    Outcome {
        status,
        error,
        took: started.elapsed(),
    }
}

/// Reads (up to 64 KiB of) an answer's body, so that its connection goes
/// back to the agent's pool for the next event instead of being closed.
fn drain(r: ureq::Response) {
    let _ = std::io::copy(
        &mut std::io::Read::take(r.into_reader(), 64 * 1024),
        &mut std::io::sink(),
    );
}

/// Attempts between two records of outcomes at most (a round's claim):
/// they are written in bulk, one commit (an fsync) a round, and a crash
/// sends again at most this many.
const RECORD_EVERY: usize = CLAIM as usize;
/// Time between two records of outcomes at most (a slow receiver).
const RECORD_AFTER: Duration = Duration::from_secs(1);

/// The pause before the next round after one that attempted `attempted`
/// events: none after a full claim (more are due), a short one after a
/// partial claim, the usual poll after none. The short pause lets a
/// trickle of events (one per order the API takes) go out in rounds of
/// several: each round costs a claim and a record, two commits (an fsync
/// each on SQLite, holding its one write lock), so rounds of one event each
/// tripled the commits an API request waits behind.
pub(crate) fn pause_after(attempted: usize) -> Duration {
    match attempted {
        0 => Duration::from_millis(250),
        n if n >= CLAIM as usize => Duration::ZERO,
        _ => Duration::from_millis(50),
    }
}

/// One dispatch round: claims, delivers and records. Returns how many
/// events it attempted.
///
/// Outcomes are recorded in bulk, every [`RECORD_EVERY`] attempts or
/// [`RECORD_AFTER`], whichever comes first, and at the end: an event
/// stays leased (and its order's later events wait) until its outcome is
/// recorded, so the order of each order's events and the at-least-once
/// rule are those of one record per attempt.
pub(crate) fn round(state: &Arc<State>, db: &mut Db, agent: &ureq::Agent) -> Result<usize> {
    let batch = claim(db)?;
    let n = batch.len();
    let mut done: Vec<(&Delivery, Outcome)> = Vec::with_capacity(RECORD_EVERY);
    let mut since = std::time::Instant::now();
    for (k, d) in batch.iter().enumerate() {
        done.push((d, post(agent, d)));
        if done.len() >= RECORD_EVERY || since.elapsed() >= RECORD_AFTER || k + 1 == n {
            let dead = record(db, &done, state.callback_attempts)?;
            for ((d, o), dead) in done.drain(..).zip(dead) {
                state.metrics.callback(&d.tenant, o.took, o.status, dead);
                if dead {
                    tracing::warn!(tenant = %d.tenant, outbox = d.id, "callback given up after {} attempts: {}", d.attempts + 1, o.error.unwrap_or_default());
                }
            }
            since = std::time::Instant::now();
        }
    }
    Ok(n)
}

/// Sets a tenant's callback URL and secret.
pub(crate) fn set(db: &mut Db, tenant: &str, url: &str, secret: &str) -> Result<()> {
    super::auth::check_tenant(tenant)?;
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(crate::error::HubError::Input(format!(
            "callback URL {url:?} must be http:// or https://"
        )));
    }
    if secret.len() < 16 {
        return Err(crate::error::HubError::Input(
            "the callback secret must be at least 16 bytes: make one with `openssl rand -hex 32`"
                .to_owned(),
        ));
    }
    let now = crate::clock::now_rfc3339();
    db.execute(
        "INSERT INTO callbacks (tenant, url, secret, updated_at) VALUES (?, ?, ?, ?) \
         ON CONFLICT (tenant) DO UPDATE SET url = excluded.url, secret = excluded.secret, updated_at = excluded.updated_at",
        params![tenant, url, secret, now.as_str()],
    )?;
    Ok(())
}

/// Sends a tenant's dead (or, with `all`, every undelivered and delivered
/// since `since_event`) events again. Returns how many were queued.
pub(crate) fn replay(db: &mut Db, tenant: &str, since_event: Option<i64>) -> Result<u64> {
    let now = fixed_after(Duration::ZERO);
    Ok(match since_event {
        None => db.execute(
            "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = ?, lease_until = NULL \
             WHERE tenant = ? AND status = 'dead'",
            params![now.as_str(), tenant],
        )?,
        Some(e) => db.execute(
            "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = ?, lease_until = NULL \
             WHERE tenant = ? AND event >= ?",
            params![now.as_str(), tenant, e],
        )?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The signature a receiver computes with the standard HMAC-SHA256.
    #[test]
    fn signature_is_hmac_sha256_of_t_dot_body() {
        // RFC 4231 test case 2 shape: key "Jefe", message "what do ya want for nothing?".
        let sig = signature("Jefe", 0, "what do ya want for nothing?");
        // HMAC-SHA256("Jefe", "0.what do ya want for nothing?") computed with Python's hmac.
        assert_eq!(
            sig,
            "t=0,v1=37f471929915ccd2cbbe79feb84ffcff4f2bb25e15fc41c2506687331ae179cc"
        );
        assert_ne!(signature("Jefe", 1, "x"), signature("Jefe", 2, "x"));
    }

    #[test]
    fn the_claim_uses_indexes_only() {
        // The plan SQLite picks for the claim on a migrated database: the
        // ordering checks probe the (order_ref, id) and (deposit, id)
        // indexes, never a walk over the pending rows per candidate (with
        // only the status index, each check walked the whole backlog and a
        // deposit backlog locked the database past the follower's timeout).
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(dir.path().join("hub.db").to_str().unwrap(), true).unwrap();
        crate::db::migrate(&mut db).unwrap();
        let sql = claim_statement(Backend::Sqlite, 2);
        let mut values = vec![Value::from("lease")];
        values.extend(["a", "b", "now", "now"].map(Value::from));
        values.push(Value::from(CLAIM));
        let plan: Vec<String> = db
            .query(&format!("EXPLAIN QUERY PLAN {sql}"), &values)
            .unwrap()
            .iter()
            .map(|r| r.text(3).unwrap())
            .collect();
        let text = plan.join("\n");
        assert!(text.contains("USING INDEX outbox_deposit"), "{text}");
        assert!(text.contains("USING INDEX outbox_order"), "{text}");
        assert!(
            !plan
                .iter()
                .any(|step| step.starts_with("SCAN p") || step.starts_with("SCAN outbox")),
            "a table scan in the claim:\n{text}"
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(0) >= Duration::from_secs(1));
        assert!(backoff(3) >= Duration::from_secs(8));
        assert!(backoff(50) <= Duration::from_secs(750));
    }
}
