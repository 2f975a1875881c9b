//! The supervisor: follows every open batch without an operator. Each
//! round, for every batch that was sent and is not CLOSED, it runs one
//! `sync` (receipts, confirmations, lingering detection, the re-check of
//! BROADCAST_ERROR items) and then sends what is ready to send: in that
//! order, what a round sent is followed from the next round on, instead of
//! asking the node at once for receipts of transactions it got
//! milliseconds before (10,000 receipts and transactions asked for, and
//! every item read, for nothing, after a large batch's send). Node faults
//! are logged and counted, never fatal. Nothing that needs an operator's
//! decision (resolve, check, resend, cancel) is decided here.
//!
//! With several `serve` processes on one PostgreSQL, a batch is worked on
//! by one process at a time: a session-level advisory lock per batch, tried
//! and not waited for.

use super::State;
use crate::{
    cli::{BatchCmd, Command},
    commands::{self, Ctx},
    db::Db,
    error::{ErrorKind, Result},
    model::Actor,
    output::Output,
    store::service,
};
use std::{sync::Arc, time::Instant};

/// The advisory-lock key of a batch.
fn lock_key(batch: i64) -> i64 {
    0x636f_6c64_0000_0000_i64 ^ batch
}

fn try_lock(db: &mut Db, batch: i64) -> Result<bool> {
    service::try_advisory_lock(db, lock_key(batch))
}

fn unlock(db: &mut Db, batch: i64) -> Result<()> {
    service::advisory_unlock(db, lock_key(batch))
}

/// One round over every open batch, on `db` (the supervisor's own
/// connection). Errors of one batch are logged and do not stop the others.
pub(crate) fn round(state: &Arc<State>, db: Db) -> Db {
    let mut ctx = Ctx {
        db,
        out: Output::captured(),
        actor: Actor {
            operator: state.operator.clone(),
        },
        tenant: None,
    };
    let open: Vec<(i64, String, String)> = match service::open_batches(&mut ctx.db) {
        Ok(open) => open,
        Err(e) => {
            tracing::warn!("supervisor: cannot read the open batches: {e}");
            return ctx.db;
        }
    };
    for (id, batch_state, chain) in open {
        match try_lock(&mut ctx.db, id) {
            Ok(true) => {}
            Ok(false) => continue, // another process follows it
            Err(e) => {
                tracing::warn!(batch = id, "supervisor: cannot lock the batch: {e}");
                continue;
            }
        }
        let started = Instant::now();
        let waited = crate::rpc::stats::thread_wait();
        let mut failed = false;
        // `batch sync ID`'s round, without the summary nobody reads here.
        match commands::sync::follow(&mut ctx, id) {
            Ok(_) => {}
            Err(e) => {
                failed |= e.error_kind() == ErrorKind::Node;
                tracing::warn!(batch = id, "supervisor: sync: {e}");
            }
        }
        if batch_state == "SENDING_TX" {
            if let Err(e) = commands::run(&mut ctx, Command::Batch(BatchCmd::Send { id })) {
                failed |= e.error_kind() == ErrorKind::Node;
                tracing::warn!(batch = id, "supervisor: send: {e}");
            }
        }
        let node_wait = crate::rpc::stats::thread_wait().saturating_sub(waited);
        state
            .metrics
            .node(&chain, started.elapsed(), node_wait, failed);
        if let Err(e) = unlock(&mut ctx.db, id) {
            tracing::warn!(batch = id, "supervisor: cannot unlock the batch: {e}");
        }
    }
    state.metrics.supervisor_round();
    ctx.db
}
