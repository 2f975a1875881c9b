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
};
use hmac::{Hmac, Mac};
use serde_json::json;
use std::{sync::Arc, time::Duration};

/// How long a claimed event is reserved for the claiming process.
const LEASE: Duration = Duration::from_secs(60);
/// Events claimed per round.
const CLAIM: i64 = 200;

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

/// Claims due events and builds their bodies.
fn claim(db: &mut Db) -> Result<Vec<Delivery>> {
    let now = fixed_after(Duration::ZERO);
    let lease = fixed_after(LEASE);
    let due = "SELECT x.id FROM outbox x JOIN callbacks c ON c.tenant = x.tenant \
         WHERE x.status = 'pending' AND x.next_attempt_at <= ? AND (x.lease_until IS NULL OR x.lease_until < ?) \
         AND NOT EXISTS (SELECT 1 FROM outbox p WHERE (p.order_ref = x.order_ref OR p.deposit = x.deposit) \
         AND p.id < x.id AND p.status = 'pending') \
         ORDER BY x.id LIMIT ?";
    let claim_sql = match db.backend() {
        Backend::Postgres => format!(
            "UPDATE outbox SET lease_until = ? WHERE id IN ({due} FOR UPDATE OF x SKIP LOCKED) RETURNING id"
        ),
        Backend::Sqlite => format!("UPDATE outbox SET lease_until = ? WHERE id IN ({due}) RETURNING id"),
    };
    let ids: Vec<i64> = db.transaction(|db| {
        db.query(
            &claim_sql,
            params![lease.as_str(), now.as_str(), now.as_str(), CLAIM],
        )?
        .iter()
        .map(|r| r.int(0))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(crate::error::HubError::from)
    })?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let r = db.query_one(
            "SELECT x.id, x.tenant, x.attempts, c.url, c.secret, e.id, e.at, e.kind, e.batch, e.from_state, \
             e.to_state, e.reason, e.message, o.order_id, \
             (SELECT i.tx_hash FROM batch_items i WHERE i.order_ref = x.order_ref AND i.batch = e.batch), \
             (SELECT i.block_number FROM batch_items i WHERE i.order_ref = x.order_ref AND i.batch = e.batch), \
             x.deposit \
             FROM outbox x JOIN events e ON e.id = x.event JOIN callbacks c ON c.tenant = x.tenant \
             LEFT JOIN orders o ON o.id = x.order_ref WHERE x.id = ?",
            params![id],
        )?;
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

/// Records one attempt's outcome.
fn record(
    db: &mut Db,
    d: &Delivery,
    status: Option<u16>,
    error: Option<&str>,
    max_attempts: i64,
) -> Result<bool> {
    let delivered = status.is_some_and(|s| (200..300).contains(&s));
    let attempts = d.attempts + 1;
    if delivered {
        db.execute(
            "UPDATE outbox SET status = 'delivered', attempts = ?, last_status = ?, last_error = NULL, \
             delivered_at = ?, lease_until = NULL WHERE id = ?",
            params![attempts, status.map(i64::from), fixed_after(Duration::ZERO), d.id],
        )?;
        return Ok(false);
    }
    let dead = attempts >= max_attempts;
    db.execute(
        "UPDATE outbox SET status = ?, attempts = ?, last_status = ?, last_error = ?, next_attempt_at = ?, \
         lease_until = NULL WHERE id = ?",
        &[
            Value::from(if dead { "dead" } else { "pending" }),
            Value::from(attempts),
            Value::from(status.map(i64::from)),
            Value::from(error.map(str::to_owned)),
            Value::from(fixed_after(backoff(attempts))),
            Value::from(d.id),
        ],
    )?;
    Ok(dead)
}

/// POSTs one event; the receiver's status, or why there was none.
fn post(agent: &ureq::Agent, d: &Delivery) -> (Option<u16>, Option<String>) {
    let t = time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64;
    let sig = signature(&d.secret, t, &d.body);
    match agent
        .post(&d.url)
        .set("Content-Type", "application/json")
        .set("X-Coldsign-Signature", &sig)
        .send_string(&d.body)
    {
        Ok(r) => (Some(r.status()), None),
        Err(ureq::Error::Status(code, _)) => (Some(code), Some(format!("HTTP {code}"))),
        Err(ureq::Error::Transport(t)) => (None, Some(t.to_string())),
    }
}

/// One dispatch round: claims, delivers and records. Returns how many
/// events it attempted.
pub(crate) fn round(state: &Arc<State>, db: &mut Db, agent: &ureq::Agent) -> Result<usize> {
    let batch = claim(db)?;
    let n = batch.len();
    for d in &batch {
        let started = std::time::Instant::now();
        let (status, error) = post(agent, d);
        let dead = record(db, d, status, error.as_deref(), state.callback_attempts)?;
        state
            .metrics
            .callback(&d.tenant, started.elapsed(), status, dead);
        if dead {
            tracing::warn!(tenant = %d.tenant, outbox = d.id, "callback given up after {} attempts: {}", d.attempts + 1, error.unwrap_or_default());
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
    fn backoff_grows_and_is_capped() {
        assert!(backoff(0) >= Duration::from_secs(1));
        assert!(backoff(3) >= Duration::from_secs(8));
        assert!(backoff(50) <= Duration::from_secs(750));
    }
}
