//! `GET /metrics`: Prometheus text. Counts of orders and batches by state
//! and the age of the oldest pending order come from the database at each
//! scrape; node errors and latency, callback deliveries and failures, and
//! orders received are counted by this process.

use super::State;
use axum::{
    extract::State as AxState,
    http::{header, StatusCode},
    response::{IntoResponse, Response},
};
use std::{
    collections::BTreeMap,
    fmt::Write as _,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

/// Callback counts of one tenant: delivered, failed attempts, dead, total
/// seconds, last HTTP status.
type CallbackCounts = (u64, u64, u64, f64, u16);

/// What this process counts.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    orders_received: AtomicU64,
    /// Per chain: (node errors, calls, total seconds, seconds waiting on the node).
    nodes: Mutex<BTreeMap<String, (u64, u64, f64, f64)>>,
    /// Per tenant: (delivered, failed attempts, dead, total seconds, last status).
    callbacks: Mutex<BTreeMap<String, CallbackCounts>>,
    supervisor_rounds: AtomicU64,
}

impl Metrics {
    /// Orders accepted by `POST /v1/orders`.
    pub(crate) fn orders_received(&self, n: usize) {
        self.orders_received.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// One supervisor round over one chain's node: how long, how much of
    /// it was spent waiting on the node, and whether the node failed.
    pub(crate) fn node(&self, chain: &str, took: Duration, waited: Duration, failed: bool) {
        if let Ok(mut m) = self.nodes.lock() {
            let e = m.entry(chain.to_owned()).or_default();
            e.0 += u64::from(failed);
            e.1 += 1;
            e.2 += took.as_secs_f64();
            e.3 += waited.as_secs_f64();
        }
    }

    /// One callback attempt.
    pub(crate) fn callback(&self, tenant: &str, took: Duration, status: Option<u16>, dead: bool) {
        if let Ok(mut m) = self.callbacks.lock() {
            let e = m.entry(tenant.to_owned()).or_default();
            match status {
                Some(s) if (200..300).contains(&s) => e.0 += 1,
                _ => e.1 += 1,
            }
            e.2 += u64::from(dead);
            e.3 += took.as_secs_f64();
            e.4 = status.unwrap_or(0);
        }
    }

    /// A finished supervisor round.
    pub(crate) fn supervisor_round(&self) {
        self.supervisor_rounds.fetch_add(1, Ordering::Relaxed);
    }
}

fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Renders the metrics.
pub(crate) async fn render(AxState(state): AxState<Arc<State>>) -> Response {
    let db = state
        .pool
        .run(|db| {
            let counts = crate::store::service::state_counts(db)?;
            let disagreements = crate::store::service::payout_disagreements(db)?.len();
            let waiting = crate::store::service::deposits_waiting_for_witness(db)?;
            let backlog = crate::store::service::outbox_backlog(db)?;
            Ok((
                counts.orders,
                counts.batches,
                counts.oldest_pending,
                backlog,
                (disagreements, waiting),
            ))
        })
        .await;
    let Ok((orders, batches, oldest, backlog, (disagreements, waiting))) = db else {
        return (StatusCode::SERVICE_UNAVAILABLE, "# database unavailable\n").into_response();
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP coldsign_orders Orders by state.\n# TYPE coldsign_orders gauge"
    );
    for (s, n) in &orders {
        let _ = writeln!(out, "coldsign_orders{{state=\"{}\"}} {n}", label(s));
    }
    let _ = writeln!(
        out,
        "# HELP coldsign_payout_disagreements Payouts whose receipt names another block than the chain follower saw at that height (an alert).\n\
         # TYPE coldsign_payout_disagreements gauge\ncoldsign_payout_disagreements {disagreements}"
    );
    let _ = writeln!(
        out,
        "# HELP coldsign_deposits_waiting_for_witness SEEN deposits deep enough to be confirmed that the witness node does not show yet.\n\
         # TYPE coldsign_deposits_waiting_for_witness gauge\ncoldsign_deposits_waiting_for_witness {waiting}"
    );
    let _ = writeln!(
        out,
        "# HELP coldsign_batches Batches by state.\n# TYPE coldsign_batches gauge"
    );
    for (s, n) in &batches {
        let _ = writeln!(out, "coldsign_batches{{state=\"{}\"}} {n}", label(s));
    }
    let age = oldest
        .and_then(|t| {
            time::OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339).ok()
        })
        .map(|t| (time::OffsetDateTime::now_utc() - t).whole_seconds().max(0))
        .unwrap_or(0);
    let _ = writeln!(
        out,
        "# HELP coldsign_oldest_pending_order_age_seconds Age of the oldest PENDING order.\n\
         # TYPE coldsign_oldest_pending_order_age_seconds gauge\ncoldsign_oldest_pending_order_age_seconds {age}"
    );
    let _ = writeln!(
        out,
        "# HELP coldsign_orders_received_total Orders accepted by POST /v1/orders.\n\
         # TYPE coldsign_orders_received_total counter\ncoldsign_orders_received_total {}",
        state.metrics.orders_received.load(Ordering::Relaxed)
    );
    let _ = writeln!(out, "# HELP coldsign_callback_backlog Callback events not delivered yet, by tenant and status.\n# TYPE coldsign_callback_backlog gauge");
    for (t, s, n) in &backlog {
        let _ = writeln!(
            out,
            "coldsign_callback_backlog{{tenant=\"{}\",status=\"{}\"}} {n}",
            label(t),
            label(s)
        );
    }
    if let Ok(nodes) = state.metrics.nodes.lock() {
        let _ = writeln!(out, "# HELP coldsign_node_errors_total Supervisor rounds whose node failed, by chain.\n# TYPE coldsign_node_errors_total counter");
        for (c, (e, _, _, _)) in nodes.iter() {
            let _ = writeln!(
                out,
                "coldsign_node_errors_total{{chain=\"{}\"}} {e}",
                label(c)
            );
        }
        let _ = writeln!(out, "# HELP coldsign_node_round_seconds Time of supervisor rounds against each chain's node.\n# TYPE coldsign_node_round_seconds summary");
        for (c, (_, n, secs, _)) in nodes.iter() {
            let _ = writeln!(
                out,
                "coldsign_node_round_seconds_count{{chain=\"{}\"}} {n}",
                label(c)
            );
            let _ = writeln!(
                out,
                "coldsign_node_round_seconds_sum{{chain=\"{}\"}} {secs:.6}",
                label(c)
            );
        }
        let _ = writeln!(out, "# HELP coldsign_node_wait_seconds Time of supervisor rounds spent waiting on each chain's node (the rest is the hub's own work).\n# TYPE coldsign_node_wait_seconds summary");
        for (c, (_, n, _, waited)) in nodes.iter() {
            let _ = writeln!(
                out,
                "coldsign_node_wait_seconds_count{{chain=\"{}\"}} {n}",
                label(c)
            );
            let _ = writeln!(
                out,
                "coldsign_node_wait_seconds_sum{{chain=\"{}\"}} {waited:.6}",
                label(c)
            );
        }
    }
    if let Ok(cb) = state.metrics.callbacks.lock() {
        let _ = writeln!(out, "# HELP coldsign_callbacks_delivered_total Callbacks answered 2xx.\n# TYPE coldsign_callbacks_delivered_total counter");
        for (t, v) in cb.iter() {
            let _ = writeln!(
                out,
                "coldsign_callbacks_delivered_total{{tenant=\"{}\"}} {}",
                label(t),
                v.0
            );
        }
        let _ = writeln!(out, "# HELP coldsign_callbacks_failed_total Callback attempts that failed.\n# TYPE coldsign_callbacks_failed_total counter");
        for (t, v) in cb.iter() {
            let _ = writeln!(
                out,
                "coldsign_callbacks_failed_total{{tenant=\"{}\"}} {}",
                label(t),
                v.1
            );
        }
        let _ = writeln!(out, "# HELP coldsign_callbacks_dead_total Callback events given up on.\n# TYPE coldsign_callbacks_dead_total counter");
        for (t, v) in cb.iter() {
            let _ = writeln!(
                out,
                "coldsign_callbacks_dead_total{{tenant=\"{}\"}} {}",
                label(t),
                v.2
            );
        }
        let _ = writeln!(out, "# HELP coldsign_callback_seconds Time receivers took to answer.\n# TYPE coldsign_callback_seconds summary");
        for (t, v) in cb.iter() {
            let _ = writeln!(
                out,
                "coldsign_callback_seconds_count{{tenant=\"{}\"}} {}",
                label(t),
                v.0 + v.1
            );
            let _ = writeln!(
                out,
                "coldsign_callback_seconds_sum{{tenant=\"{}\"}} {:.6}",
                label(t),
                v.3
            );
        }
        let _ = writeln!(out, "# HELP coldsign_callback_last_status The receiver's last HTTP status (0: no answer).\n# TYPE coldsign_callback_last_status gauge");
        for (t, v) in cb.iter() {
            let _ = writeln!(
                out,
                "coldsign_callback_last_status{{tenant=\"{}\"}} {}",
                label(t),
                v.4
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP coldsign_supervisor_rounds_total Rounds of the batch supervisor.\n# TYPE coldsign_supervisor_rounds_total counter\ncoldsign_supervisor_rounds_total {}",
        state.metrics.supervisor_rounds.load(Ordering::Relaxed)
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}
