//! `batch send` and `batch resend`: broadcast signed transactions.

use super::{connect, Ctx};
use crate::{
    error::{ErrorKind, HubError, OperationError, Result},
    model::{Batch, Chain, Item, ItemMove},
    rpc::SendAnswer,
    rpc::{Rpc, RpcError},
    state::{BatchState, ItemState},
};
use serde_json::json;

/// Why `batch send` or `batch resend` refused to broadcast, or what its
/// broadcast left to do. Each says what to do next; its
/// [`OperationError::kind`] gives its exit code and HTTP status.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SendError {
    /// `batch resend` while orders are still BROADCAST_ERROR or LINGERING.
    #[error(
        "batch {batch} still has exceptions: {}; resolve them first (`hub-cli batch resolve`, `hub-cli batch check`)",
        open_list(.open)
    )]
    OpenExceptions {
        batch: i64,
        open: Vec<(String, ItemState)>,
    },
    /// `batch send` on a batch with no accepted signed file.
    #[error(
        "batch {batch} is {state}: there is nothing signed to send; upload its signed file first \
         (`hub-cli batch upload {batch} FILE`)"
    )]
    NothingSigned { batch: i64, state: BatchState },
    /// The node answered some transactions with neither a yes nor a no.
    #[error(
        "{count} transaction(s) may not have reached the node ({first}): run `hub-cli batch send {batch}` again"
    )]
    MaybeNotReached {
        batch: i64,
        count: usize,
        first: String,
    },
    /// The node rejected some transactions: each needs an operator.
    #[error(
        "{count} order(s) are BROADCAST_ERROR: resolve each with `hub-cli batch resolve {batch} ORDER --on-chain|--resend|--rebuild`"
    )]
    Rejected { batch: i64, count: usize },
}

crate::error::operation_error!(SendError);

impl OperationError for SendError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::OpenExceptions { .. } | Self::NothingSigned { .. } => ErrorKind::Conflict,
            Self::MaybeNotReached { .. } => ErrorKind::Node,
            Self::Rejected { .. } => ErrorKind::NeedsOperator,
        }
    }
}

/// The orders still open, as `ORDER (STATE), ...`.
fn open_list(open: &[(String, ItemState)]) -> String {
    open.iter()
        .map(|(order, state)| format!("{order} ({state})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What the node's answer to `eth_sendRawTransaction` means for us.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Accepted(&'static str),
    Rejected(String),
    Unknown(String),
}

fn classify(rpc: &Rpc, item: &Item, answer: Result<SendAnswer, RpcError>) -> Result<Verdict> {
    match answer {
        Ok(v) => {
            // The node must answer with the hash of our own signed bytes;
            // anything else is a node fault, and the transaction does not
            // count as sent.
            if matches!(v, SendAnswer::Hash(h) if Some(h) == item.tx_hash) {
                Ok(Verdict::Accepted("accepted by the node"))
            } else {
                let v = match v {
                    SendAnswer::Hash(h) => format!("\"{h}\""),
                    SendAnswer::Other(text) => text,
                };
                Ok(Verdict::Rejected(format!(
                    "node fault: {} answered {v} for our transaction {}; it does not count as sent. \
                     The node may or may not have passed it on: `hub-cli batch sync {}` keeps checking for a receipt; \
                     resolve with --resend once the node is fixed (or pointed elsewhere)",
                    rpc.display_url(),
                    item.tx_hash.map(|h| h.to_string()).unwrap_or_default(),
                    item.batch
                )))
            }
        }
        Err(RpcError::Node { message, .. }) => {
            let m = message.to_ascii_lowercase();
            if m.contains("already known")
                || m.contains("known transaction")
                || m.contains("already imported")
            {
                return Ok(Verdict::Accepted("the node already knows it"));
            }
            if m.contains("nonce too low")
                || m.contains("nonce is too low")
                || m.contains("oldnonce")
            {
                if let Some(hash) = item.tx_hash {
                    if rpc.receipt(hash)?.is_some() || rpc.transaction(hash)?.is_some() {
                        return Ok(Verdict::Accepted(
                            "already mined (nonce too low, and the transaction is ours)",
                        ));
                    }
                }
            }
            Ok(Verdict::Rejected(message))
        }
        Err(e) => Ok(Verdict::Unknown(e.to_string())),
    }
}

/// Items marked SENDING per database transaction: their JSON-RPC requests
/// (100 transactions each) follow, and their verdicts are recorded in the
/// next group's transaction. Fewer, larger transactions (a commit each, an
/// fsync) than one per request; a crash leaves at most this many items
/// SENDING, which the next send sends again (harmless: the node already
/// knows them).
const GROUP: usize = 2_000;

/// Records, in one transaction, the verdicts in `judged` (each item as it
/// was sent, SENDING) and then marks `next` SENDING, and the batch's state.
fn record(
    db: &mut crate::db::Db,
    actor: &crate::model::Actor,
    id: i64,
    judged: &[(Item, Verdict)],
    next: &[&Item],
    reason: &'static str,
) -> Result<()> {
    let mut moves: Vec<ItemMove<'_>> = judged
        .iter()
        .filter_map(|(i, v)| {
            let (to, reason, message) = match v {
                Verdict::Accepted(why) => (ItemState::Confirming, "broadcast", (*why).to_owned()),
                Verdict::Rejected(m) => {
                    (ItemState::BroadcastError, "rejected by the node", m.clone())
                }
                Verdict::Unknown(_) => return None,
            };
            Some(ItemMove::new(i, to, reason).message(message))
        })
        .collect();
    moves.extend(
        next.iter()
            .filter(|i| i.state != ItemState::Sending)
            .map(|i| ItemMove::new(i, ItemState::Sending, reason)),
    );
    if moves.is_empty() {
        return Ok(());
    }
    let refresh = if judged.is_empty() {
        "sending"
    } else {
        "broadcast"
    };
    db.transaction(|db| {
        actor.move_items(db, &moves)?;
        actor.refresh_batch(db, id, refresh)?;
        Ok::<_, HubError>(())
    })
}

/// Sends the group's transactions, 100 per JSON-RPC request, and adds each
/// one's verdict to `judged`. A request the node did not answer is an
/// error (the verdicts before it are in `judged`).
fn broadcast(
    rpc: &Rpc,
    id: i64,
    group: &[&Item],
    judged: &mut Vec<(Item, Verdict)>,
    bar: &indicatif::ProgressBar,
) -> Result<()> {
    for chunk in group.chunks(100) {
        let raws: Vec<&[u8]> = chunk
            .iter()
            .map(|i| i.raw_tx.as_deref().unwrap_or_default())
            .collect();
        let answers = rpc.send_raws(&raws).map_err(|e| {
            HubError::Node(format!(
                "{e}: the transactions may or may not have reached the node; \
                 run `hub-cli batch send {id}` again once it answers (resending is harmless)"
            ))
        })?;
        for (i, a) in chunk.iter().zip(answers) {
            let mut sending = (*i).clone();
            sending.state = ItemState::Sending;
            let verdict = classify(rpc, &sending, a)?;
            judged.push((sending, verdict));
            bar.inc(1);
        }
    }
    Ok(())
}

/// Counts the verdicts.
fn tally(
    judged: &[(Item, Verdict)],
    accepted: &mut u64,
    rejected: &mut Vec<(String, String)>,
    unknown: &mut Vec<(String, String)>,
) {
    for (i, v) in judged {
        match v {
            Verdict::Accepted(_) => *accepted += 1,
            Verdict::Rejected(m) => rejected.push((i.order.order_id.clone(), m.clone())),
            Verdict::Unknown(m) => unknown.push((i.order.order_id.clone(), m.clone())),
        }
    }
}

/// Broadcasts READY_TO_SEND (and interrupted SENDING) items, or with
/// `resend` the READY_TO_RESEND ones.
pub(crate) fn send(ctx: &mut Ctx, id: i64, resend: bool) -> Result<()> {
    let batch = Batch::head(&mut ctx.db, id)?;
    let items = Item::of_batch(&mut ctx.db, id)?;
    if resend {
        let open: Vec<_> = items
            .iter()
            .filter(|i| matches!(i.state, ItemState::BroadcastError | ItemState::Lingering))
            .map(|i| (i.order.order_id.clone(), i.state))
            .collect();
        if !open.is_empty() {
            return Err(SendError::OpenExceptions { batch: id, open }.into());
        }
    } else if !matches!(
        batch.state,
        BatchState::SendingTx | BatchState::ProcessException | BatchState::InProcess
    ) {
        return Err(SendError::NothingSigned {
            batch: id,
            state: batch.state,
        }
        .into());
    }
    let targets: Vec<&Item> = items
        .iter()
        .filter(|i| {
            if resend {
                i.state == ItemState::ReadyToResend
            } else {
                matches!(i.state, ItemState::ReadyToSend | ItemState::Sending)
            }
        })
        .collect();
    if targets.is_empty() {
        ctx.out.result(
            json!({"batch": id, "state": batch.state.as_str(), "sent": 0}),
            &format!(
                "batch {id}: nothing to {}",
                if resend { "resend" } else { "send" }
            ),
        );
        return Ok(());
    }
    let chain = Chain::by_id(&mut ctx.db, batch.chain)?;
    let rpc = connect(&chain)?;
    let actor = ctx.actor.clone();
    let bar = ctx
        .out
        .progress(if resend { "resend" } else { "send" }, targets.len() as u64);
    let (mut accepted, mut rejected, mut unknown) = (0u64, Vec::new(), Vec::new());
    let reason = if resend { "resend" } else { "send" };
    // The verdicts of the transactions sent so far and not yet recorded.
    let mut judged: Vec<(Item, Verdict)> = Vec::new();
    for group in targets.chunks(GROUP) {
        // SENDING is recorded before anything leaves: a crash after this
        // point is recovered by sending again (the node says "already
        // known"). The previous group's verdicts go in the same transaction.
        record(&mut ctx.db, &actor, id, &judged, group, reason)?;
        tally(&judged, &mut accepted, &mut rejected, &mut unknown);
        judged.clear();
        let sent = broadcast(&rpc, id, group, &mut judged, &bar);
        if let Err(e) = sent {
            // What the node already answered is recorded before the error.
            record(&mut ctx.db, &actor, id, &judged, &[], reason)?;
            return Err(e);
        }
    }
    record(&mut ctx.db, &actor, id, &judged, &[], reason)?;
    tally(&judged, &mut accepted, &mut rejected, &mut unknown);
    bar.finish_and_clear();
    let state = Batch::head(&mut ctx.db, id)?.state;
    let mut human = format!(
        "batch {id}: {accepted} sent, {} rejected; batch is {state}\n",
        rejected.len()
    );
    for (o, m) in &rejected {
        human.push_str(&format!("  {o}: BROADCAST_ERROR: {m}\n"));
    }
    let outcome = if let Some((_, first)) = unknown.first() {
        Err(SendError::MaybeNotReached {
            batch: id,
            count: unknown.len(),
            first: first.clone(),
        }
        .into())
    } else if !rejected.is_empty() {
        Err(SendError::Rejected {
            batch: id,
            count: rejected.len(),
        }
        .into())
    } else {
        Ok(())
    };
    ctx.out.finish(
        json!({"batch": id, "state": state.as_str(), "sent": accepted,
            "rejected": rejected.iter().map(|(o, m)| json!({"order_id": o, "message": m})).collect::<Vec<_>>()}),
        &human,
        outcome,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_send_error_has_its_kind_and_says_what_to_do() {
        let cases = [
            (
                SendError::OpenExceptions {
                    batch: 3,
                    open: vec![
                        ("W-1".to_owned(), ItemState::BroadcastError),
                        ("W-2".to_owned(), ItemState::Lingering),
                    ],
                },
                ErrorKind::Conflict,
                "W-1 (BROADCAST_ERROR), W-2 (LINGERING); resolve them first",
            ),
            (
                SendError::NothingSigned {
                    batch: 3,
                    state: BatchState::Blocked,
                },
                ErrorKind::Conflict,
                "batch 3 is BLOCKED: there is nothing signed to send; upload its signed file first",
            ),
            (
                SendError::MaybeNotReached {
                    batch: 3,
                    count: 2,
                    first: "timed out".to_owned(),
                },
                ErrorKind::Node,
                "run `hub-cli batch send 3` again",
            ),
            (
                SendError::Rejected { batch: 3, count: 1 },
                ErrorKind::NeedsOperator,
                "`hub-cli batch resolve 3 ORDER --on-chain|--resend|--rebuild`",
            ),
        ];
        crate::error::testing::check_errors(cases);
    }
}
