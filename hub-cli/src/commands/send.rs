//! `batch send` and `batch resend`: broadcast signed transactions.

use super::{connect, Ctx};
use crate::{
    error::{HubError, Result},
    model::{Batch, Chain, Item, ItemMove},
    rpc::{Call, Rpc, RpcError},
    state::{BatchState, ItemState},
};
use coldsign_core::{hex_data, B256};
use serde_json::json;

/// What the node's answer to `eth_sendRawTransaction` means for us.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Accepted(&'static str),
    Rejected(String),
    Unknown(String),
}

fn classify(
    rpc: &Rpc,
    item: &Item,
    answer: Result<serde_json::Value, RpcError>,
) -> Result<Verdict> {
    match answer {
        Ok(v) => {
            // The node must answer with the hash of our own signed bytes;
            // anything else is a node fault, and the transaction does not
            // count as sent.
            let answered = v
                .as_str()
                .and_then(|h| hex_data::decode_fixed::<32>(h).ok())
                .map(B256);
            if answered.is_some() && answered == item.tx_hash {
                Ok(Verdict::Accepted("accepted by the node"))
            } else {
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

/// Broadcasts READY_TO_SEND (and interrupted SENDING) items, or with
/// `resend` the READY_TO_RESEND ones.
pub(crate) fn send(ctx: &mut Ctx, id: i64, resend: bool) -> Result<()> {
    let batch = Batch::get(&mut ctx.db, id)?;
    let items = Item::of_batch(&mut ctx.db, id)?;
    if resend {
        let open: Vec<_> = items
            .iter()
            .filter(|i| matches!(i.state, ItemState::BroadcastError | ItemState::Lingering))
            .map(|i| format!("{} ({})", i.order.order_id, i.state))
            .collect();
        if !open.is_empty() {
            return Err(HubError::Conflict(format!(
                "batch {id} still has exceptions: {}; resolve them first (`hub-cli batch resolve`, `hub-cli batch check`)",
                open.join(", ")
            )));
        }
    } else if !matches!(
        batch.state,
        BatchState::SendingTx | BatchState::ProcessException | BatchState::InProcess
    ) {
        return Err(HubError::Conflict(format!(
            "batch {id} is {}: there is nothing signed to send",
            batch.state
        )));
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
    for chunk in targets.chunks(100) {
        // SENDING is recorded before anything leaves: a crash after this
        // point is recovered by sending again (the node says "already known").
        let reason = if resend { "resend" } else { "send" };
        let moves: Vec<ItemMove<'_>> = chunk
            .iter()
            .filter(|i| i.state != ItemState::Sending)
            .map(|i| ItemMove::new(i, ItemState::Sending, reason))
            .collect();
        ctx.db.transaction(|db| {
            actor.move_items(db, &moves)?;
            actor.refresh_batch(db, id, "sending")?;
            Ok::<_, HubError>(())
        })?;
        let sending: Vec<Item> = chunk
            .iter()
            .map(|i| {
                let mut s = (*i).clone();
                s.state = ItemState::Sending;
                s
            })
            .collect();
        let calls: Vec<Call> = sending
            .iter()
            .map(|i| {
                let raw = i.raw_tx.clone().unwrap_or_default();
                (
                    "eth_sendRawTransaction",
                    json!([coldsign_core::hex_data::encode(raw)]),
                )
            })
            .collect();
        let answers = rpc.batch(&calls).map_err(|e| {
            HubError::Node(format!(
                "{e}: the transactions may or may not have reached the node; \
                 run `hub-cli batch send {id}` again once it answers (resending is harmless)"
            ))
        })?;
        let mut verdicts = Vec::new();
        for (i, a) in sending.iter().zip(answers) {
            verdicts.push(classify(&rpc, i, a)?);
            bar.inc(1);
        }
        let moves: Vec<ItemMove<'_>> = sending
            .iter()
            .zip(&verdicts)
            .filter_map(|(i, v)| {
                let (to, reason, message) = match v {
                    Verdict::Accepted(why) => {
                        (ItemState::Confirming, "broadcast", (*why).to_owned())
                    }
                    Verdict::Rejected(m) => {
                        (ItemState::BroadcastError, "rejected by the node", m.clone())
                    }
                    Verdict::Unknown(_) => return None,
                };
                Some(ItemMove::new(i, to, reason).message(message))
            })
            .collect();
        ctx.db.transaction(|db| {
            actor.move_items(db, &moves)?;
            actor.refresh_batch(db, id, "broadcast")?;
            Ok::<_, HubError>(())
        })?;
        for (i, v) in sending.iter().zip(&verdicts) {
            match v {
                Verdict::Accepted(_) => accepted += 1,
                Verdict::Rejected(m) => rejected.push((i.order.order_id.clone(), m.clone())),
                Verdict::Unknown(m) => unknown.push((i.order.order_id.clone(), m.clone())),
            }
        }
    }
    bar.finish_and_clear();
    let state = Batch::get(&mut ctx.db, id)?.state;
    let mut human = format!(
        "batch {id}: {accepted} sent, {} rejected; batch is {state}\n",
        rejected.len()
    );
    for (o, m) in &rejected {
        human.push_str(&format!("  {o}: BROADCAST_ERROR: {m}\n"));
    }
    let outcome = if let Some((_, first)) = unknown.first() {
        Err(HubError::Node(format!(
            "{} transaction(s) may not have reached the node ({first}): run `hub-cli batch send {id}` again",
            unknown.len(),
        )))
    } else if !rejected.is_empty() {
        Err(HubError::NeedsOperator(format!(
            "{} order(s) are BROADCAST_ERROR: resolve each with `hub-cli batch resolve {id} ORDER --on-chain|--resend|--rebuild`",
            rejected.len()
        )))
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
