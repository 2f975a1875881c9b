//! `batch sync`, `batch check` and `batch resolve`: follow transactions to a
//! final state and give the operator a path out of every exception.

use super::{connect, orders::asset_of, Ctx};
use crate::{
    db::{Db, Value},
    error::{HubError, Result},
    model::{db_int, Actor, Asset, Batch, Chain, Item},
    rpc::{Receipt, Rpc},
    state::{BatchState, ItemState, OrderState},
};
use coldsign_core::{hex_data, B256};
use serde_json::json;
use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

/// How an operator resolves a BROADCAST_ERROR.
#[derive(Debug)]
pub(crate) enum Resolution {
    /// It landed.
    OnChain {
        /// The landed transaction's hash, if not the signed one's.
        tx_hash: Option<String>,
        /// Its block.
        block: Option<u64>,
    },
    /// Send it again.
    Resend,
    /// Give up on it; the order returns to pending.
    Rebuild,
}

/// A change decided from the node's answers, written afterwards.
struct Change {
    item: Item,
    to: ItemState,
    reason: &'static str,
    message: String,
    set: Vec<(&'static str, Value)>,
    order_to: Option<OrderState>,
}

fn native(chain: &Chain) -> Asset {
    Asset {
        symbol: chain.native_symbol.clone(),
        decimals: chain.native_decimals,
        token: None,
    }
}

fn receipt_cols(r: &Receipt) -> Result<Vec<(&'static str, Value)>> {
    let fee = r.gas_used.saturating_mul(r.effective_gas_price);
    Ok(vec![
        ("block_number", Value::from(db_int(r.block_number)?)),
        ("block_hash", Value::from(r.block_hash.to_string())),
        ("gas_used", Value::from(r.gas_used.to_string())),
        ("fee", Value::from(fee.to_string())),
    ])
}

const CLEAR_RECEIPT: [(&str, Value); 4] = [
    ("block_number", Value::Null),
    ("block_hash", Value::Null),
    ("gas_used", Value::Null),
    ("fee", Value::Null),
];

/// The canonical hash of block `n`, asked once per block.
fn canonical(rpc: &Rpc, cache: &mut HashMap<u64, Option<B256>>, n: u64) -> Result<Option<B256>> {
    if let Some(h) = cache.get(&n) {
        return Ok(*h);
    }
    let h = rpc.block_hash(n)?;
    cache.insert(n, h);
    Ok(h)
}

/// What became of one CONFIRMING item, from its receipt.
fn judge_receipt(
    chain: &Chain,
    rpc: &Rpc,
    cache: &mut HashMap<u64, Option<B256>>,
    latest: u64,
    item: &Item,
    r: &Receipt,
    changes: &mut Vec<Change>,
) -> Result<()> {
    let confirmations = (latest + 1).saturating_sub(r.block_number);
    let moved = item.block_hash.is_some_and(|h| h != r.block_hash);
    if confirmations >= chain.confirmations
        && canonical(rpc, cache, r.block_number)? == Some(r.block_hash)
    {
        let fee = r.gas_used.saturating_mul(r.effective_gas_price);
        let fee_text = format!("{} {}", native(chain).human(fee), chain.native_symbol);
        let (to, order_to, message) = if r.status == 1 {
            (
                ItemState::Disbursed,
                OrderState::Completed,
                format!(
                    "mined in block {} with {confirmations} confirmation(s); fee {fee_text}",
                    r.block_number
                ),
            )
        } else {
            (ItemState::DisbursementFailed, OrderState::Failed, format!(
                "reverted on chain (status 0) in block {}; not paid out; fee {fee_text} was still spent", r.block_number))
        };
        changes.push(Change {
            item: item.clone(),
            to,
            reason: if r.status == 1 {
                "confirmed"
            } else {
                "reverted"
            },
            message,
            set: receipt_cols(r)?,
            order_to: Some(order_to),
        });
    } else if item.block_hash != Some(r.block_hash) {
        changes.push(Change {
            item: item.clone(),
            to: ItemState::Confirming,
            reason: if moved { "reorg" } else { "mined" },
            message: if moved {
                format!("its block is no longer canonical; now in block {} ({confirmations}/{} confirmations)", r.block_number, chain.confirmations)
            } else {
                format!("mined in block {} ({confirmations}/{} confirmations)", r.block_number, chain.confirmations)
            },
            set: receipt_cols(r)?,
            order_to: None,
        });
    }
    Ok(())
}

/// What became of an item the node has no receipt for.
fn judge_missing(rpc: &Rpc, item: &Item, hash: B256, changes: &mut Vec<Change>) -> Result<()> {
    let mut reorged = false;
    if let Some(block) = item.block_number {
        // Its block is no longer canonical: back to waiting, and hand our
        // own signed transaction to the node again (same bytes, harmless).
        reorged = true;
        let mut message =
            format!("block {block} is no longer canonical: waiting to be mined again");
        if let Some(raw) = &item.raw_tx {
            if rpc.send_raw(raw).is_ok() {
                message.push_str(" (re-broadcast)");
            }
        }
        changes.push(Change {
            item: item.clone(),
            to: ItemState::Confirming,
            reason: "reorg",
            message,
            set: CLEAR_RECEIPT.to_vec(),
            order_to: None,
        });
    }
    if rpc.transaction(hash)?.is_some() {
        return Ok(());
    }
    let mut base = item.clone();
    if reorged {
        base.block_number = None;
        base.block_hash = None;
    }
    if let Some(c) = judge_unknown(rpc, &base, hash)? {
        changes.push(c);
    }
    Ok(())
}

/// The node does not know the transaction: LINGERING if its nonce is unused,
/// BROADCAST_ERROR if another transaction took the nonce.
fn judge_unknown(rpc: &Rpc, item: &Item, hash: B256) -> Result<Option<Change>> {
    let nonce = item.nonce.unwrap_or_default();
    let used = rpc.nonce(item.sender, "latest")?;
    if used <= nonce {
        return Ok(Some(Change {
            item: item.clone(),
            to: ItemState::Lingering,
            reason: "unknown to the node",
            message: format!("the node does not know {hash} and nonce {nonce} is unused: run `hub-cli batch check`"),
            set: Vec::new(),
            order_to: None,
        }));
    }
    if rpc.receipt(hash)?.is_some() {
        return Ok(None); // mined meanwhile: the next round sees it
    }
    Ok(Some(Change {
        item: item.clone(),
        to: ItemState::BroadcastError,
        reason: "nonce taken",
        message: format!(
            "nonce {nonce} of {} was used by another transaction: if that one pays this order resolve with \
             --on-chain --tx-hash H, otherwise --rebuild",
            item.sender
        ),
        set: Vec::new(),
        order_to: None,
    }))
}

fn apply(db: &mut Db, actor: &Actor, batch: i64, changes: &[Change]) -> Result<BatchState> {
    db.transaction(|db| {
        let mut current: std::collections::HashMap<i64, ItemState> =
            std::collections::HashMap::new();
        for c in changes {
            let mut item = c.item.clone();
            if let Some(s) = current.get(&item.id) {
                item.state = *s;
            }
            actor.move_item(db, &item, c.to, c.reason, &c.message, &c.set)?;
            current.insert(item.id, c.to);
            if let Some(o) = c.order_to {
                actor.move_order(
                    db,
                    item.order.id,
                    Some(batch),
                    OrderState::InBatch,
                    o,
                    c.reason,
                    &c.message,
                )?;
            }
        }
        actor.refresh_batch(db, batch, "sync")
    })
}

fn sync_once(ctx: &mut Ctx, id: i64) -> Result<(BatchState, Vec<Item>)> {
    let batch = Batch::get(&mut ctx.db, id)?;
    if !matches!(
        batch.state,
        BatchState::SendingTx
            | BatchState::InProcess
            | BatchState::ProcessException
            | BatchState::Closed
    ) {
        return Err(HubError::Conflict(format!(
            "batch {id} is {}: nothing has been sent yet, so there is nothing to sync",
            batch.state
        )));
    }
    let chain = Chain::by_id(&mut ctx.db, batch.chain)?;
    let items = Item::of_batch(&mut ctx.db, id)?;
    let confirming: Vec<&Item> = items
        .iter()
        .filter(|i| i.state == ItemState::Confirming)
        .collect();
    if confirming.is_empty() {
        let actor = ctx.actor.clone();
        let state = ctx
            .db
            .transaction(|db| actor.refresh_batch(db, id, "sync"))?;
        return Ok((state, items));
    }
    let rpc = connect(&chain)?;
    let latest = rpc.block_number()?;
    let hashes: Vec<B256> = confirming
        .iter()
        .map(|i| i.tx_hash.unwrap_or_default())
        .collect();
    let receipts = rpc.receipts(&hashes)?;
    let bar = ctx.out.progress("sync", confirming.len() as u64);
    let mut changes = Vec::new();
    let mut cache = HashMap::new();
    for ((item, hash), receipt) in confirming.iter().zip(&hashes).zip(&receipts) {
        match receipt {
            Some(r) => judge_receipt(&chain, &rpc, &mut cache, latest, item, r, &mut changes)?,
            None => judge_missing(&rpc, item, *hash, &mut changes)?,
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let actor = ctx.actor.clone();
    let state = apply(&mut ctx.db, &actor, id, &changes)?;
    Ok((state, Item::of_batch(&mut ctx.db, id)?))
}

fn summary(
    ctx: &mut Ctx,
    id: i64,
    state: BatchState,
    items: &[Item],
) -> Result<(serde_json::Value, String)> {
    let mut counts: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    for i in items {
        *counts.entry(i.state.as_str()).or_default() += 1;
    }
    let mut human = format!("batch {id}: {state}\n");
    let mut list = Vec::new();
    for i in items {
        let asset = asset_of(&mut ctx.db, &i.order)?;
        human.push_str(&format!(
            "  {:<20} {:<20} {} {}{}\n",
            i.order.order_id,
            i.state.as_str(),
            asset.human(i.order.amount),
            i.order.asset,
            i.message
                .as_ref()
                .map(|m| format!("  ({m})"))
                .unwrap_or_default()
        ));
        list.push(json!({"order_id": i.order.order_id, "state": i.state.as_str(), "tx_hash": i.tx_hash,
            "block_number": i.block_number, "fee": i.fee.map(|f| f.to_string()), "message": i.message}));
    }
    Ok((
        json!({"batch": id, "state": state.as_str(), "counts": counts, "items": list}),
        human,
    ))
}

/// `batch sync [--wait]`.
pub(crate) fn sync(ctx: &mut Ctx, id: i64, wait: bool, timeout: u64, interval: u64) -> Result<()> {
    let start = Instant::now();
    loop {
        let (state, items) = sync_once(ctx, id)?;
        let resend_due = items.iter().any(|i| i.state == ItemState::ReadyToResend);
        let unsent = items
            .iter()
            .any(|i| matches!(i.state, ItemState::ReadyToSend | ItemState::Sending));
        let needs_operator = state == BatchState::ProcessException || resend_due || unsent;
        if !wait || state == BatchState::Closed || needs_operator {
            let (data, human) = summary(ctx, id, state, &items)?;
            if wait && needs_operator {
                let what = if state == BatchState::ProcessException {
                    format!("resolve the BROADCAST_ERROR orders (`hub-cli batch resolve {id} ORDER ...`) and check the LINGERING ones (`hub-cli batch check {id}`)")
                } else if unsent {
                    format!("some transactions were never sent: run `hub-cli batch send {id}`")
                } else {
                    format!("orders are READY_TO_RESEND: run `hub-cli batch resend {id}`")
                };
                return ctx.out.finish(
                    data,
                    &human,
                    Err(HubError::NeedsOperator(format!(
                        "batch {id} is {state} and needs an operator: {what}"
                    ))),
                );
            }
            return ctx.out.finish(data, &human, Ok(()));
        }
        if start.elapsed() >= Duration::from_secs(timeout) {
            let (data, human) = summary(ctx, id, state, &items)?;
            return ctx.out.finish(
                data,
                &human,
                Err(HubError::Timeout(format!(
                    "batch {id} is still {state} after {timeout}s: run `hub-cli batch sync {id} --wait` again later"
                ))),
            );
        }
        std::thread::sleep(Duration::from_secs(interval.max(1)));
    }
}

/// `batch check`: re-examine LINGERING orders once.
pub(crate) fn check(ctx: &mut Ctx, id: i64) -> Result<()> {
    let batch = Batch::get(&mut ctx.db, id)?;
    let chain = Chain::by_id(&mut ctx.db, batch.chain)?;
    let items = Item::of_batch(&mut ctx.db, id)?;
    let lingering: Vec<&Item> = items
        .iter()
        .filter(|i| i.state == ItemState::Lingering)
        .collect();
    if lingering.is_empty() {
        ctx.out.result(
            json!({"batch": id, "undetermined": 0, "determined": 0}),
            &format!("batch {id}: no LINGERING orders"),
        );
        return Ok(());
    }
    let rpc = connect(&chain)?;
    let mut changes = Vec::new();
    let (mut undetermined, mut determined) = (0u64, 0u64);
    for item in &lingering {
        let hash = item.tx_hash.unwrap_or_default();
        if rpc.receipt(hash)?.is_some() || rpc.transaction(hash)?.is_some() {
            determined += 1;
            changes.push(Change {
                item: (*item).clone(),
                to: ItemState::Confirming,
                reason: "check: known again",
                message: "the node knows the transaction again".to_owned(),
                set: Vec::new(),
                order_to: None,
            });
            continue;
        }
        match judge_unknown(&rpc, item, hash)? {
            Some(c) if c.to == ItemState::Lingering => {
                undetermined += 1;
                changes.push(Change {
                    to: ItemState::ReadyToResend,
                    reason: "check: undetermined",
                    message: format!("still unknown to the node, nonce unused: resend it with `hub-cli batch resend {id}`"),
                    ..c
                });
            }
            Some(c) => {
                determined += 1;
                changes.push(c);
            }
            None => determined += 1,
        }
    }
    let actor = ctx.actor.clone();
    let state = apply(&mut ctx.db, &actor, id, &changes)?;
    ctx.out.result(
        json!({"batch": id, "state": state.as_str(), "undetermined": undetermined, "determined": determined}),
        &format!(
            "batch {id}: {undetermined} still undetermined (now READY_TO_RESEND), {determined} now determined; batch is {state}\n{}",
            if undetermined > 0 { format!("send them again with `hub-cli batch resend {id}`") } else { String::new() }
        ),
    );
    Ok(())
}

/// `batch resolve`: the operator's decision on a BROADCAST_ERROR order.
pub(crate) fn resolve(ctx: &mut Ctx, id: i64, order_id: &str, how: Resolution) -> Result<()> {
    let batch = Batch::get(&mut ctx.db, id)?;
    let items = Item::of_batch(&mut ctx.db, id)?;
    let item = Item::find(&items, id, order_id)?;
    if item.state != ItemState::BroadcastError {
        return Err(HubError::Conflict(format!(
            "order {order_id} is {}: only BROADCAST_ERROR orders are resolved this way{}",
            item.state,
            if item.state == ItemState::Lingering {
                format!(" (use `hub-cli batch check {id}` for LINGERING)")
            } else {
                String::new()
            }
        )));
    }
    if matches!(how, Resolution::Rebuild) {
        refuse_stranding(&items, &item)?;
    }
    let change = match how {
        Resolution::Resend => Change {
            item: item.clone(),
            to: ItemState::ReadyToResend,
            reason: "resolved: resend",
            message: format!("the node was at fault: send again with `hub-cli batch resend {id}`"),
            set: Vec::new(),
            order_to: None,
        },
        Resolution::Rebuild => Change {
            item: item.clone(),
            to: ItemState::DisbursementFailed,
            reason: "resolved: rebuild",
            message: format!(
                "can never work as signed; order back to pending for a new batch; nonce {} is free again",
                item.nonce.map(|n| n.to_string()).unwrap_or_else(|| "-".into())
            ),
            set: Vec::new(),
            order_to: Some(OrderState::Pending),
        },
        Resolution::OnChain { tx_hash, block } => {
            let chain = Chain::by_id(&mut ctx.db, batch.chain)?;
            let rpc = connect(&chain)?;
            let hash = match tx_hash {
                Some(h) => B256(hex_data::decode_fixed::<32>(&h).map_err(|e| HubError::Input(format!("--tx-hash: {e}")))?),
                None => item.tx_hash.ok_or_else(|| HubError::Internal("no transaction hash".to_owned()))?,
            };
            let receipt = rpc.receipt(hash)?.ok_or_else(|| {
                HubError::Conflict(format!(
                    "the node has no receipt for {hash}: it did not land (yet); wait, or resolve with --resend or --rebuild"
                ))
            })?;
            if let Some(b) = block {
                if b != receipt.block_number {
                    return Err(HubError::Input(format!(
                        "{hash} is in block {}, not {b}", receipt.block_number
                    )));
                }
            }
            if Some(hash) != item.tx_hash {
                verify_same_payment(&rpc, &item, hash)?;
            }
            Change {
                item: item.clone(),
                to: ItemState::Confirming,
                reason: "resolved: on chain",
                message: format!("landed in block {}; waiting for confirmations", receipt.block_number),
                set: vec![("tx_hash", Value::from(hash.to_string()))],
                order_to: None,
            }
        }
    };
    let actor = ctx.actor.clone();
    let state = ctx.db.transaction(|db| {
        actor.move_item(
            db,
            &change.item,
            change.to,
            change.reason,
            &change.message,
            &change.set,
        )?;
        if let Some(o) = change.order_to {
            actor.move_order(
                db,
                item.order.id,
                Some(id),
                OrderState::InBatch,
                o,
                change.reason,
                &change.message,
            )?;
        }
        actor.refresh_batch(db, id, change.reason)
    })?;
    ctx.out.result(
        json!({"batch": id, "order_id": order_id, "state": change.to.as_str(), "batch_state": state.as_str()}),
        &format!("order {order_id}: {} ({}); batch {id} is {state}", change.to, change.message),
    );
    Ok(())
}

/// Refuses a rebuild whose freed nonce would strand later transactions of
/// the same sender in this batch that may still land: they could never be
/// mined, and the batch could never close.
fn refuse_stranding(items: &[Item], item: &Item) -> Result<()> {
    let Some(nonce) = item.nonce else {
        return Ok(());
    };
    let waiting: Vec<String> = items
        .iter()
        .filter(|i| i.sender == item.sender && i.nonce.is_some_and(|n| n > nonce))
        .filter(|i| {
            matches!(
                i.state,
                ItemState::ReadyToSend
                    | ItemState::Sending
                    | ItemState::Confirming
                    | ItemState::Lingering
                    | ItemState::ReadyToResend
            )
        })
        .map(|i| {
            format!(
                "{} (nonce {}, {})",
                i.order.order_id,
                i.nonce.unwrap_or_default(),
                i.state
            )
        })
        .collect();
    if waiting.is_empty() {
        return Ok(());
    }
    Err(HubError::Conflict(format!(
        "rebuilding order {} would leave nonce {nonce} of {} unused and strand later transactions of the \
         same sender in this batch: {}; resolve it with --resend (after fixing the node-side cause) or --on-chain instead",
        item.order.order_id,
        item.sender,
        waiting.join(", ")
    )))
}

/// A transaction given by the operator must pay exactly this order from the
/// same sender and nonce.
fn verify_same_payment(rpc: &Rpc, item: &Item, hash: B256) -> Result<()> {
    let tx = rpc
        .transaction(hash)?
        .ok_or_else(|| HubError::Input(format!("the node does not know transaction {hash}")))?;
    let signed = item
        .raw_tx
        .as_deref()
        .map(coldsign_core::SignedTransaction::decode)
        .transpose()
        .map_err(|e| HubError::Internal(e.to_string()))?
        .ok_or_else(|| HubError::Internal("no signed transaction".to_owned()))?;
    let ours = signed.transaction();
    let same = tx.from == item.sender
        && Some(tx.nonce) == item.nonce
        && tx.to == ours.to()
        && tx.value == ours.value()
        && tx.input == ours.input();
    if !same {
        return Err(HubError::Input(format!(
            "transaction {hash} does not pay this order (sender, nonce, recipient, value or data differ)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{model::Order, state::OrderState};
    use coldsign_core::{Address, U256};

    fn item(order: &str, sender: u8, nonce: u64, state: ItemState) -> Item {
        Item {
            id: i64::try_from(nonce).unwrap(),
            batch: 1,
            position: 0,
            state,
            message: None,
            sender: Address([sender; 20]),
            nonce: Some(nonce),
            gas_limit: None,
            max_fee_per_gas: None,
            raw_tx: None,
            tx_hash: None,
            block_number: None,
            block_hash: None,
            fee: None,
            order: Order {
                id: 1,
                order_id: order.to_owned(),
                chain: 1,
                asset: "ETH".to_owned(),
                token: None,
                from: Address([sender; 20]),
                to: Address([9; 20]),
                amount: U256::one(),
                state: OrderState::InBatch,
                created_at: String::new(),
            },
        }
    }

    #[test]
    fn rebuild_that_would_strand_a_later_nonce_is_refused() {
        let a = item("a", 1, 5, ItemState::BroadcastError);
        let later = item("b", 1, 6, ItemState::Confirming);
        let err = refuse_stranding(&[a.clone(), later], &a)
            .unwrap_err()
            .to_string();
        assert!(err.contains("b (nonce 6, CONFIRMING)"), "{err}");
        // Earlier nonces, other senders and final or failed items do not count.
        let others = [
            a.clone(),
            item("c", 1, 4, ItemState::Confirming),
            item("d", 2, 9, ItemState::Confirming),
            item("e", 1, 7, ItemState::BroadcastError),
        ];
        refuse_stranding(&others, &a).unwrap();
    }
}
