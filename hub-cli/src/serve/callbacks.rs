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
    db::Db,
    error::Result,
    store::outbox::{self, AttemptRecord},
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
    outbox::relax_sync(&mut db)?;
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

/// Claims due events and builds their bodies.
fn claim(db: &mut Db) -> Result<Vec<Delivery>> {
    let now = fixed_after(Duration::ZERO);
    let lease = fixed_after(LEASE);
    // Only tenants with a callback URL have events to claim. Named in a
    // plain filter, they keep the ordering checks (an index probe or two
    // per row) off every other tenant's pending events, which the scan in
    // event order would otherwise check at every round only to find no URL
    // for them.
    let tenants = outbox::callback_tenants(db)?;
    let ids = outbox::lease_due(db, &tenants, &now, &lease, CLAIM)?;
    let events = outbox::claimed_events(db, &ids)?;
    let mut out = Vec::with_capacity(events.len());
    for e in events {
        let body = match e.deposit {
            Some(deposit) => {
                let filter = crate::commands::deposits::DepositFilter {
                    id: Some(deposit),
                    ..Default::default()
                };
                let d = crate::commands::deposits::list(db, &filter, None)?
                    .into_iter()
                    .next()
                    .unwrap_or_default();
                json!({
                    "event_id": e.event_id,
                    "type": "deposit.state_changed",
                    "deposit": d,
                    "old_state": e.from_state,
                    "new_state": e.to_state,
                    "reason": e.reason,
                    "message": e.message,
                    "at": e.at,
                })
            }
            None => json!({
                "event_id": e.event_id,
                "type": if e.kind == "batch" { "batch.state_changed" } else { "order.state_changed" },
                "order_id": e.order_id,
                "batch": e.batch,
                "old_state": e.from_state,
                "new_state": e.to_state,
                "reason": e.reason,
                "message": e.message,
                "tx_hash": e.tx_hash,
                "block_number": e.block_number,
                "at": e.at,
            }),
        };
        out.push(Delivery {
            id: e.id,
            tenant: e.tenant,
            attempts: e.attempts,
            url: e.url,
            secret: e.secret,
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
    let mut records = Vec::with_capacity(done.len());
    for (d, o) in done {
        let attempts = d.attempts + 1;
        let last_status = o.status.map(i64::from);
        if o.delivered() {
            dead.push(false);
            records.push(AttemptRecord {
                id: d.id,
                status: "delivered",
                attempts,
                last_status,
                last_error: None,
                next_attempt_at: None,
                delivered_at: Some(now.clone()),
            });
        } else {
            let given_up = attempts >= max_attempts;
            dead.push(given_up);
            records.push(AttemptRecord {
                id: d.id,
                status: if given_up { "dead" } else { "pending" },
                attempts,
                last_status,
                last_error: o.error.clone(),
                next_attempt_at: Some(fixed_after(backoff(attempts))),
                delivered_at: None,
            });
        }
    }
    outbox::record_attempts(db, &records)?;
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
    outbox::upsert_callback(db, tenant, url, secret, &crate::clock::now_rfc3339())
}

/// Sends a tenant's dead (or, with `all`, every undelivered and delivered
/// since `since_event`) events again. Returns how many were queued.
pub(crate) fn replay(db: &mut Db, tenant: &str, since_event: Option<i64>) -> Result<u64> {
    let now = fixed_after(Duration::ZERO);
    match since_event {
        None => outbox::replay_dead(db, tenant, &now),
        Some(e) => outbox::replay_since(db, tenant, e, &now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{Backend, Value};

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
        let sql = outbox::claim_statement(Backend::Sqlite, 2);
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
