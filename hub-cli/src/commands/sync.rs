//! `batch sync`, `batch check` and `batch resolve`: follow transactions to a
//! final state and give the operator a path out of every exception.

use super::{connect, connect_witness, orders::asset_of, Ctx};
use crate::{
    bindings::{self, NonceUse, Whose},
    db::Db,
    error::{ErrorKind, HubError, OperationError, Result},
    evidence::{self, BlockCache},
    model::{Actor, Asset, Batch, Chain, Item, ItemMove, OrderMove},
    rpc::{Receipt, Rpc},
    state::{BatchState, ItemState, OrderState},
    store::batches,
    updates::ItemUpdate,
};
use coldsign_core::{batch::ItemKind, hex_data, Address, B256};
use serde_json::json;
use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

/// Why `batch sync` (one batch, `--wait` or `--all`), `batch check` or
/// `batch resolve` stopped, or what a synced batch needs. Each says what to
/// do next; its [`OperationError::kind`] gives its exit code and HTTP
/// status.
///
/// The node's own failures (unreachable, odd answers) are of the node kind
/// ([`ErrorKind::Node`]), whichever type carries them: `--wait` rides them
/// out and the service's supervisor counts them.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SyncError {
    /// The batch was not sent yet: there is nothing to follow.
    #[error("batch {batch} is {state}: nothing has been sent yet, so there is nothing to sync")]
    NothingSent { batch: i64, state: BatchState },
    /// `--wait` ran out of time while the node kept failing.
    #[error(
        "batch {batch}: the node still fails after {timeout}s ({why}); nothing was lost: \
         run `hub-cli batch sync {batch} --wait` again once it answers"
    )]
    NodeStillFails {
        batch: i64,
        timeout: u64,
        why: String,
    },
    /// `--wait` stopped: the batch needs an operator's decision.
    #[error("batch {batch} is {state} and needs an operator: {what}")]
    WaitNeedsOperator {
        batch: i64,
        state: BatchState,
        what: String,
    },
    /// `--wait` ran out of time before the batch closed.
    #[error(
        "batch {batch} is still {state} after {timeout}s: run `hub-cli batch sync {batch} --wait` again later"
    )]
    StillOpen {
        batch: i64,
        state: BatchState,
        timeout: u64,
    },
    /// `--all`: a synced batch needs an operator's decision.
    #[error("batch {batch} needs an operator: {what}")]
    AllNeedsOperator { batch: i64, what: String },
    /// `resolve` on an order that is not BROADCAST_ERROR.
    #[error(
        "order {order} is {state}: only BROADCAST_ERROR orders are resolved this way{}",
        lingering_hint(*.state, *.batch)
    )]
    NotBroadcastError {
        batch: i64,
        order: String,
        state: ItemState,
    },
    /// `resolve --on-chain --tx-hash` with a hash that does not parse.
    #[error("--tx-hash: {error}")]
    BadTxHash { error: hex_data::HexError },
    /// `resolve --on-chain` of an item without a transaction hash.
    #[error("no transaction hash")]
    NoTxHash,
    /// `resolve --on-chain`: the node has no receipt for the transaction.
    #[error(
        "the node has no receipt for {hash}: it did not land (yet); wait, or resolve with --resend or --rebuild"
    )]
    NoReceipt { hash: B256 },
    /// `resolve --on-chain`: the receipt does not count (`why`: the check).
    #[error("{why}; the order is left as it is")]
    ReceiptNotCounted { why: String },
    /// `resolve --on-chain --block`: the transaction is in another block.
    #[error("{hash} is in block {block}, not {given}")]
    WrongBlock { hash: B256, block: u64, given: u64 },
    /// `resolve --rebuild` of an order whose signed transaction landed.
    #[error(
        "order {order} cannot be rebuilt: its signed transaction {hash} has a receipt (block {block}), so it landed; \
         resolve with `--on-chain --tx-hash {hash}`"
    )]
    RebuildLanded {
        order: String,
        hash: B256,
        block: u64,
    },
    /// `resolve --rebuild` of an order whose nonce one of its own versions consumed.
    #[error(
        "order {order} cannot be rebuilt: nonce {nonce} of {sender} was consumed by its own transaction {hash} (block {block}); \
         resolve with `--on-chain --tx-hash {hash}`"
    )]
    RebuildNonceOwn {
        order: String,
        nonce: u64,
        sender: Address,
        hash: B256,
        block: u64,
    },
    /// `resolve --rebuild` of an order whose nonce an unidentified transaction consumed.
    #[error(
        "order {order} cannot be rebuilt: nonce {nonce} of {sender} was consumed and the hub cannot tell by which \
         transaction ({why}); if it paid this order resolve with `--on-chain --tx-hash H`"
    )]
    RebuildNonceUnknown {
        order: String,
        nonce: u64,
        sender: Address,
        why: String,
    },
    /// `resolve --rebuild` would strand the sender's later transactions (`waiting`).
    #[error(
        "rebuilding order {order} would leave nonce {nonce} of {sender} unused and strand later transactions of the \
         same sender in this batch: {}; resolve it with --resend (after fixing the node-side cause) or --on-chain instead",
        waiting_list(.waiting)
    )]
    RebuildStrands {
        order: String,
        nonce: u64,
        sender: Address,
        waiting: Vec<(String, u64, ItemState)>,
    },
    /// `resolve --on-chain --tx-hash`: the node does not know the transaction.
    #[error(
        "the node does not know transaction {hash}: check the hash, or wait until the node has it (an \
         explorer may show it first)"
    )]
    UnknownTransaction { hash: B256 },
    /// `resolve --on-chain --tx-hash`: the node's bytes for it do not decode.
    #[error("the node's bytes for {hash} do not decode: {error}")]
    UndecodableTransaction {
        hash: B256,
        error: coldsign_core::transaction::TxDecodeError,
    },
    /// `resolve --on-chain --tx-hash`: another sender's or nonce's transaction.
    #[error("transaction {hash} is not a transaction of {sender} at nonce {nonce}")]
    NotOfSender {
        hash: B256,
        sender: Address,
        nonce: u64,
    },
    /// `resolve --on-chain --tx-hash`: none of the order's exported versions.
    #[error("transaction {hash} is none of the versions of order {order} that the hub exported")]
    NotAVersion { hash: B256, order: String },
}

crate::error::operation_error!(SyncError);

impl OperationError for SyncError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::NothingSent { .. }
            | Self::NotBroadcastError { .. }
            | Self::NoReceipt { .. }
            | Self::RebuildLanded { .. }
            | Self::RebuildNonceOwn { .. }
            | Self::RebuildNonceUnknown { .. }
            | Self::RebuildStrands { .. } => ErrorKind::Conflict,
            Self::NodeStillFails { .. } | Self::StillOpen { .. } => ErrorKind::Timeout,
            Self::WaitNeedsOperator { .. } | Self::AllNeedsOperator { .. } => {
                ErrorKind::NeedsOperator
            }
            Self::BadTxHash { .. }
            | Self::WrongBlock { .. }
            | Self::UnknownTransaction { .. }
            | Self::NotOfSender { .. }
            | Self::NotAVersion { .. } => ErrorKind::Input,
            Self::NoTxHash => ErrorKind::Internal,
            Self::ReceiptNotCounted { .. } | Self::UndecodableTransaction { .. } => ErrorKind::Node,
        }
    }
}

/// For a LINGERING order, where to go instead of `resolve`.
fn lingering_hint(state: ItemState, batch: i64) -> String {
    if state == ItemState::Lingering {
        format!(" (use `hub-cli batch check {batch}` for LINGERING)")
    } else {
        String::new()
    }
}

/// The stranded transactions, as `ORDER (nonce N, STATE), ...`.
fn waiting_list(waiting: &[(String, u64, ItemState)]) -> String {
    waiting
        .iter()
        .map(|(order, nonce, state)| format!("{order} (nonce {nonce}, {state})"))
        .collect::<Vec<_>>()
        .join(", ")
}

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
    update: ItemUpdate,
    order_to: Option<OrderState>,
    /// Release the order's nonce binding, for this reason: the chain showed
    /// the nonce consumed by a transaction that is none of its own.
    release: Option<String>,
}

impl Change {
    fn new(item: &Item, to: ItemState, reason: &'static str, message: String) -> Self {
        Self {
            item: item.clone(),
            to,
            reason,
            message,
            update: ItemUpdate::None,
            order_to: None,
            release: None,
        }
    }
}

fn native(chain: &Chain) -> Asset {
    Asset {
        symbol: chain.native_symbol.clone(),
        decimals: chain.native_decimals,
        token: None,
    }
}

/// What judging a batch's items needs: the chain, its node (and witness),
/// and what was already asked of them in this round.
struct Judge<'a> {
    chain: &'a Chain,
    rpc: &'a Rpc,
    witness: Option<&'a Rpc>,
    latest: u64,
    canonical: HashMap<u64, Option<B256>>,
    blocks: BlockCache,
    witness_blocks: BlockCache,
}

impl<'a> Judge<'a> {
    fn new(chain: &'a Chain, rpc: &'a Rpc, witness: Option<&'a Rpc>, latest: u64) -> Self {
        Self {
            chain,
            rpc,
            witness,
            latest,
            canonical: HashMap::new(),
            blocks: BlockCache::new(),
            witness_blocks: BlockCache::new(),
        }
    }

    /// The canonical hash of block `n`, asked once per block.
    fn canonical(&mut self, n: u64) -> Result<Option<B256>> {
        if let Some(h) = self.canonical.get(&n) {
            return Ok(*h);
        }
        let h = self.rpc.block_hash(n)?;
        self.canonical.insert(n, h);
        Ok(h)
    }

    /// What became of one CONFIRMING (or BROADCAST_ERROR) item, from its
    /// receipt: counted only on evidence the hub checked.
    fn receipt(
        &mut self,
        item: &Item,
        hash: B256,
        r: &Receipt,
        changes: &mut Vec<Change>,
    ) -> Result<()> {
        let chain = self.chain;
        let confirmations = (self.latest + 1).saturating_sub(r.block_number);
        let deep = confirmations >= chain.confirmations
            && self.canonical(r.block_number)? == Some(r.block_hash);
        let recorded = item.block_hash == Some(r.block_hash);
        if !deep && recorded && item.state == ItemState::Confirming {
            return Ok(());
        }
        if let Err(why) = evidence::check_receipt(self.rpc, &mut self.blocks, hash, r)? {
            if item.message.as_deref() != Some(why.as_str()) || item.state != ItemState::Confirming
            {
                let to = if item.state == ItemState::BroadcastError {
                    ItemState::BroadcastError
                } else {
                    ItemState::Confirming
                };
                changes.push(Change::new(item, to, "receipt not counted", why));
            }
            return Ok(());
        }
        if deep {
            if let Some(w) = self.witness {
                if let Err(why) = evidence::witness_agrees(w, &mut self.witness_blocks, hash, r)? {
                    let message = format!(
                        "mined in block {}, not final until the witness agrees: {why}",
                        r.block_number
                    );
                    if item.message.as_deref() != Some(message.as_str())
                        || item.state != ItemState::Confirming
                    {
                        let mut c = Change::new(
                            item,
                            ItemState::Confirming,
                            "waiting for the witness",
                            message,
                        );
                        c.update = ItemUpdate::mined(r);
                        changes.push(c);
                    }
                    return Ok(());
                }
            }
            let fee = r.gas_used.saturating_mul(r.effective_gas_price);
            let fee_text = format!("{} {}", native(chain).human(fee), chain.native_symbol);
            let nonce = item.nonce.unwrap_or_default();
            let (to, order_to, reason, message) = match (item.kind, r.status) {
                (ItemKind::Void, _) => (
                    ItemState::DisbursementFailed,
                    OrderState::Failed,
                    "cancelled",
                    format!(
                        "cancelled: its void consumed nonce {nonce} in block {}, so no signed version of the order can be mined; fee {fee_text}",
                        r.block_number
                    ),
                ),
                (ItemKind::Payment, 1) => (
                    ItemState::Disbursed,
                    OrderState::Completed,
                    "confirmed",
                    format!("mined in block {} with {confirmations} confirmation(s); fee {fee_text}", r.block_number),
                ),
                (ItemKind::Payment, _) => (
                    ItemState::DisbursementFailed,
                    OrderState::Failed,
                    "reverted",
                    format!("reverted on chain (status 0) in block {}; not paid out; fee {fee_text} was still spent", r.block_number),
                ),
            };
            let mut c = Change::new(item, to, reason, message);
            if item.state == ItemState::BroadcastError {
                // Final states are reached through CONFIRMING.
                let mut first = Change::new(
                    item,
                    ItemState::Confirming,
                    "landed after all",
                    format!("the node has a receipt for {hash}"),
                );
                first.update = ItemUpdate::mined(r);
                changes.push(first);
            }
            c.update = ItemUpdate::mined(r);
            c.order_to = Some(order_to);
            changes.push(c);
        } else {
            let moved = item.block_hash.is_some_and(|h| h != r.block_hash);
            let (reason, message) = if item.state == ItemState::BroadcastError {
                ("landed after all", format!("the node reported an error, but {hash} was mined in block {} ({confirmations}/{} confirmations)", r.block_number, chain.confirmations))
            } else if moved {
                ("reorg", format!("its block is no longer canonical; now in block {} ({confirmations}/{} confirmations)", r.block_number, chain.confirmations))
            } else {
                (
                    "mined",
                    format!(
                        "mined in block {} ({confirmations}/{} confirmations)",
                        r.block_number, chain.confirmations
                    ),
                )
            };
            let mut c = Change::new(item, ItemState::Confirming, reason, message);
            c.update = ItemUpdate::mined(r);
            changes.push(c);
        }
        Ok(())
    }
}

/// What became of an item the node has no receipt for.
fn judge_missing(
    db: &mut Db,
    rpc: &Rpc,
    item: &Item,
    hash: B256,
    changes: &mut Vec<Change>,
) -> Result<()> {
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
        let mut c = Change::new(item, ItemState::Confirming, "reorg", message);
        c.update = ItemUpdate::Reorganised;
        changes.push(c);
    }
    if rpc.transaction(hash)?.is_some() {
        return Ok(());
    }
    let mut base = item.clone();
    if reorged {
        base.block_number = None;
        base.block_hash = None;
        base.state = ItemState::Confirming;
    }
    if let Some(c) = judge_unknown(db, rpc, &base, hash)? {
        changes.push(c);
    }
    Ok(())
}

/// The node does not know the transaction: LINGERING if its nonce is
/// unused. If the nonce was consumed, the chain says by what: one of the
/// order's own versions (the item follows that transaction from now on),
/// or a foreign transaction (BROADCAST_ERROR, and the order's binding is
/// released so that a rebuild gives it a new nonce).
fn judge_unknown(db: &mut Db, rpc: &Rpc, item: &Item, hash: B256) -> Result<Option<Change>> {
    let nonce = item.nonce.unwrap_or_default();
    let used = rpc.nonce(item.sender, "latest")?;
    if used <= nonce {
        if item.state == ItemState::BroadcastError {
            return Ok(None); // the operator decides (resend or rebuild)
        }
        return Ok(Some(Change::new(
            item,
            ItemState::Lingering,
            "unknown to the node",
            format!("the node does not know {hash} and nonce {nonce} is unused: run `hub-cli batch check {}`", item.batch),
        )));
    }
    if rpc.receipt(hash)?.is_some() {
        return Ok(None); // mined meanwhile: the next round sees it
    }
    let error = ItemState::BroadcastError;
    let change = match bindings::nonce_use(rpc, item.sender, nonce)? {
        NonceUse::Unused => return Ok(None), // a reorg under us: the next round sees it
        NonceUse::ConsumedBy(c) => {
            match bindings::whose(&bindings::versions(db, item.order.id)?, &c) {
                Whose::Own(kind) => {
                    let what = match kind {
                        ItemKind::Payment => "an earlier signed version of this order",
                        ItemKind::Void => "this order's void",
                    };
                    let mut ch = Change::new(
                        item,
                        ItemState::Confirming,
                        "nonce used by the order's own version",
                        format!(
                            "nonce {nonce} was consumed by {what}, {} (block {}): following it",
                            c.hash, c.block_number
                        ),
                    );
                    ch.update = ItemUpdate::Following {
                        tx_hash: c.hash,
                        kind: Some(kind),
                    };
                    if item.state == ItemState::BroadcastError && item.tx_hash == Some(c.hash) {
                        return Ok(None);
                    }
                    ch
                }
                Whose::Foreign => {
                    let message = format!(
                    "nonce {nonce} of {} was consumed by {} (block {}), which is none of this order's versions: \
                     the order is not paid; resolve with --rebuild to pay it at a new nonce",
                    item.sender, c.hash, c.block_number
                );
                    if item.state == error && item.message.as_deref() == Some(message.as_str()) {
                        return Ok(None);
                    }
                    let mut ch = Change::new(item, error, "nonce taken", message);
                    ch.release = Some(format!("nonce consumed by foreign transaction {}", c.hash));
                    ch
                }
            }
        }
        NonceUse::ConsumedUnknown(why) => {
            let message = format!(
                "nonce {nonce} of {} was used by another transaction, and the hub cannot tell which: {why}; \
                 if that one pays this order resolve with --on-chain --tx-hash H",
                item.sender
            );
            if item.state == error && item.message.as_deref() == Some(message.as_str()) {
                return Ok(None);
            }
            Change::new(item, error, "nonce taken", message)
        }
    };
    Ok(Some(change))
}

/// Writes the changes in one transaction, then the batch's state.
///
/// In bulk: the items changed once are moved by [`Actor::move_items`] and
/// the orders by [`Actor::move_orders`] (a few multi-row statements for a
/// whole batch, with the same compare-and-set and one event per change),
/// rather than two statements and two events' worth of round trips per
/// item. An item changed twice in one round (a BROADCAST_ERROR that landed
/// after all, a reorg then a verdict) is moved one change at a time, in
/// order. Every item event precedes its order's event, as before.
fn apply(db: &mut Db, actor: &Actor, batch: i64, changes: &[Change]) -> Result<BatchState> {
    let mut times: HashMap<i64, usize> = HashMap::new();
    for c in changes {
        *times.entry(c.item.id).or_default() += 1;
    }
    let once = |c: &&Change| times.get(&c.item.id) == Some(&1);
    let moves: Vec<ItemMove<'_>> = changes
        .iter()
        .filter(once)
        .map(|c| {
            ItemMove::new(&c.item, c.to, c.reason)
                .message(c.message.clone())
                .update(c.update.clone())
        })
        .collect();
    let orders: Vec<OrderMove<'_>> = changes
        .iter()
        .filter_map(|c| {
            c.order_to.map(|to| OrderMove {
                order_ref: c.item.order.id,
                batch: Some(batch),
                from: OrderState::InBatch,
                to,
                reason: c.reason,
                message: &c.message,
            })
        })
        .collect();
    db.transaction(|db| {
        actor.move_items(db, &moves)?;
        let mut current: HashMap<i64, ItemState> = HashMap::new();
        for c in changes.iter().filter(|c| !once(c)) {
            let mut item = c.item.clone();
            if let Some(s) = current.get(&item.id) {
                item.state = *s;
            }
            actor.move_item(db, &item, c.to, c.reason, &c.message, &c.update)?;
            current.insert(item.id, c.to);
        }
        for c in changes {
            if let Some(why) = &c.release {
                bindings::release(db, c.item.order.id, why)?;
            }
        }
        actor.move_orders(db, &orders)?;
        actor.refresh_batch(db, batch, "sync")
    })
}

/// The items as [`apply`] left them, from the changes themselves rather
/// than reading the whole batch again (a large batch's items are megabytes
/// of rows). `None` if a change is for an item not among them: the caller
/// then reads them. (Debug builds compare the result with the stored rows
/// after every sync.)
fn applied(mut items: Vec<Item>, changes: &[Change]) -> Option<Vec<Item>> {
    let at: HashMap<i64, usize> = items.iter().enumerate().map(|(n, i)| (i.id, n)).collect();
    for c in changes {
        let item = items.get_mut(*at.get(&c.item.id)?)?;
        item.state = c.to;
        item.message = (!c.message.is_empty()).then(|| c.message.clone());
        c.update.apply(item);
        if let Some(o) = c.order_to {
            item.order.state = o;
        }
    }
    Some(items)
}

fn sync_once(ctx: &mut Ctx, id: i64) -> Result<(BatchState, Vec<Item>)> {
    let batch = Batch::head(&mut ctx.db, id)?;
    if !matches!(
        batch.state,
        BatchState::SendingTx
            | BatchState::InProcess
            | BatchState::ProcessException
            | BatchState::Closed
    ) {
        return Err(SyncError::NothingSent {
            batch: id,
            state: batch.state,
        }
        .into());
    }
    let chain = Chain::by_id(&mut ctx.db, batch.chain)?;
    let items = Item::of_batch(&mut ctx.db, id)?;
    // BROADCAST_ERROR items are re-checked too: the node may have accepted
    // the transaction although it answered with an error.
    let followed: Vec<&Item> = items
        .iter()
        .filter(|i| {
            matches!(i.state, ItemState::Confirming | ItemState::BroadcastError)
                && i.tx_hash.is_some()
        })
        .collect();
    if followed.is_empty() {
        let actor = ctx.actor.clone();
        let state = ctx
            .db
            .transaction(|db| actor.refresh_batch(db, id, "sync"))?;
        return Ok((state, items));
    }
    let rpc = connect(&chain)?;
    let witness = connect_witness(&chain)?;
    let latest = rpc.block_number()?;
    let hashes: Vec<B256> = followed
        .iter()
        .map(|i| i.tx_hash.unwrap_or_default())
        .collect();
    let receipts = rpc.receipts(&hashes)?;
    // Whether the node still knows each CONFIRMING transaction it has no
    // receipt for (none was mined yet: the usual case right after a send),
    // asked in batch requests rather than one request per item.
    let pooled: Vec<usize> = followed
        .iter()
        .zip(&receipts)
        .enumerate()
        .filter(|(_, (i, r))| {
            r.is_none() && i.state == ItemState::Confirming && i.block_number.is_none()
        })
        .map(|(n, _)| n)
        .collect();
    let pooled_hashes: Vec<B256> = pooled.iter().map(|&n| hashes[n]).collect();
    let mut known: Vec<Option<bool>> = vec![None; followed.len()];
    for (&n, tx) in pooled.iter().zip(rpc.transactions(&pooled_hashes)?) {
        known[n] = Some(tx.is_some());
    }
    let bar = ctx.out.progress("sync", followed.len() as u64);
    let mut changes = Vec::new();
    let mut judge = Judge::new(&chain, &rpc, witness.as_ref(), latest);
    for (((item, hash), receipt), known) in followed.iter().zip(&hashes).zip(&receipts).zip(&known)
    {
        match (receipt, item.state) {
            (Some(r), _) => judge.receipt(item, *hash, r, &mut changes)?,
            // Not mined, never was: known to the node means waiting;
            // unknown, what its nonce says.
            (None, ItemState::Confirming) if known.is_some() => {
                if *known == Some(false) {
                    changes.extend(judge_unknown(&mut ctx.db, &rpc, item, *hash)?);
                }
            }
            (None, ItemState::Confirming) => {
                judge_missing(&mut ctx.db, &rpc, item, *hash, &mut changes)?
            }
            (None, _) => {
                if let Some(c) = judge_unknown(&mut ctx.db, &rpc, item, *hash)? {
                    changes.push(c);
                }
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let actor = ctx.actor.clone();
    let state = apply(&mut ctx.db, &actor, id, &changes)?;
    let items = match applied(items, &changes) {
        Some(items) => items,
        None => Item::of_batch(&mut ctx.db, id)?,
    };
    if cfg!(debug_assertions) {
        let stored = Item::of_batch(&mut ctx.db, id)?;
        for (a, b) in items.iter().zip(&stored) {
            let same = (
                a.id,
                a.state,
                &a.message,
                a.tx_hash,
                a.block_number,
                a.block_hash,
            ) == (
                b.id,
                b.state,
                &b.message,
                b.tx_hash,
                b.block_number,
                b.block_hash,
            ) && (a.fee, a.kind, a.order.state) == (b.fee, b.kind, b.order.state);
            assert!(
                same,
                "sync's items differ from the stored ones: {a:?} {b:?}"
            );
        }
    }
    Ok((state, items))
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
    // Each asset looked up once, not twice per item.
    let mut assets: HashMap<(i64, Option<i64>), Asset> = HashMap::new();
    for i in items {
        let asset = match assets.entry((i.order.chain, i.order.token)) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(asset_of(&mut ctx.db, &i.order)?)
            }
        };
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

/// What a batch needs from an operator after a sync round, if anything.
fn operator_needed(id: i64, state: BatchState, items: &[Item]) -> Option<String> {
    let any = |s: ItemState| items.iter().any(|i| i.state == s);
    if state == BatchState::ProcessException {
        let mut what = Vec::new();
        if any(ItemState::BroadcastError) {
            what.push(format!(
                "resolve the BROADCAST_ERROR orders (`hub-cli batch resolve {id} ORDER --on-chain|--resend|--rebuild`; \
                 the node may have accepted them anyway: sync keeps checking for receipts)"
            ));
        }
        if any(ItemState::Lingering) {
            what.push(format!(
                "check the LINGERING orders (`hub-cli batch check {id}`)"
            ));
        }
        return Some(what.join(" and "));
    }
    if any(ItemState::ReadyToSend) || any(ItemState::Sending) {
        return Some(format!(
            "some transactions were never sent: run `hub-cli batch send {id}`"
        ));
    }
    if any(ItemState::ReadyToResend) {
        return Some(format!(
            "orders are READY_TO_RESEND: run `hub-cli batch resend {id}`"
        ));
    }
    None
}

/// One sync round that tolerates another process syncing the same batch:
/// a compare-and-set that lost is read again, a few times.
fn sync_round(ctx: &mut Ctx, id: i64) -> Result<(BatchState, Vec<Item>)> {
    let mut tries = 0;
    loop {
        match sync_once(ctx, id) {
            Err(HubError::Concurrent(why)) if tries < 5 => {
                tries += 1;
                ctx.out.note(&format!(
                    "batch {id}: another process changed it meanwhile ({why}); reading it again"
                ));
                std::thread::sleep(Duration::from_millis(300 * tries));
            }
            other => return other,
        }
    }
}

/// One sync round of batch `id`, as `batch sync ID` runs it, for the
/// service's supervisor: without the summary of every item that the
/// command builds for its output and the supervisor would not read.
/// Returns the batch's state.
///
/// A batch with nothing to follow yet (every transaction still to be sent)
/// only has its state refreshed, as `sync_once` does, without reading every
/// item first to find that out.
pub(crate) fn follow(ctx: &mut Ctx, id: i64) -> Result<BatchState> {
    if !batches::has_items_to_follow(&mut ctx.db, id)? {
        let batch = Batch::head(&mut ctx.db, id)?;
        if matches!(
            batch.state,
            BatchState::SendingTx
                | BatchState::InProcess
                | BatchState::ProcessException
                | BatchState::Closed
        ) {
            let actor = ctx.actor.clone();
            return ctx.db.transaction(|db| actor.refresh_batch(db, id, "sync"));
        }
    }
    Ok(sync_round(ctx, id)?.0)
}

/// `batch sync [--wait]`. With `--wait`, node faults are ridden out with
/// back-off until the timeout, each wait announced on stderr.
pub(crate) fn sync(ctx: &mut Ctx, id: i64, wait: bool, timeout: u64, interval: u64) -> Result<()> {
    let start = Instant::now();
    let interval = Duration::from_secs(interval.max(1));
    let mut backoff = interval;
    loop {
        let (state, items) = match sync_round(ctx, id) {
            Ok(v) => {
                backoff = interval;
                v
            }
            Err(e) if wait && e.error_kind() == ErrorKind::Node => {
                let why = e.to_string();
                let left = Duration::from_secs(timeout).saturating_sub(start.elapsed());
                if left.is_zero() {
                    return Err(SyncError::NodeStillFails {
                        batch: id,
                        timeout,
                        why,
                    }
                    .into());
                }
                let pause = backoff.min(left);
                ctx.out.note(&format!(
                    "batch {id}: node fault ({why}); trying again in {}s",
                    pause.as_secs().max(1)
                ));
                std::thread::sleep(pause);
                backoff = (backoff * 2).min(Duration::from_secs(60));
                continue;
            }
            Err(e) => return Err(e),
        };
        let needs = operator_needed(id, state, &items);
        if !wait || state == BatchState::Closed || needs.is_some() {
            let (data, human) = summary(ctx, id, state, &items)?;
            if let (true, Some(what)) = (wait, needs) {
                return ctx.out.finish(
                    data,
                    &human,
                    Err(SyncError::WaitNeedsOperator {
                        batch: id,
                        state,
                        what,
                    }
                    .into()),
                );
            }
            return ctx.out.finish(data, &human, Ok(()));
        }
        if start.elapsed() >= Duration::from_secs(timeout) {
            let (data, human) = summary(ctx, id, state, &items)?;
            return ctx.out.finish(
                data,
                &human,
                Err(SyncError::StillOpen {
                    batch: id,
                    state,
                    timeout,
                }
                .into()),
            );
        }
        let confirming = items
            .iter()
            .filter(|i| i.state == ItemState::Confirming)
            .count();
        let mined = items
            .iter()
            .filter(|i| i.state == ItemState::Confirming && i.block_number.is_some())
            .count();
        ctx.out.note(&format!(
            "batch {id}: {state}, {confirming} order(s) confirming ({mined} mined, waiting for confirmations); \
             next check in {}s",
            interval.as_secs()
        ));
        std::thread::sleep(interval);
    }
}

/// `batch sync --all`: one round for every batch that was sent and is not
/// CLOSED, so a cron line needs no batch id. A batch that fails is reported
/// and the others still synced; the exit code is the worst outcome.
pub(crate) fn sync_all(ctx: &mut Ctx) -> Result<()> {
    let open: Vec<Batch> = Batch::all(&mut ctx.db)?
        .into_iter()
        .filter(|b| {
            matches!(
                b.state,
                BatchState::SendingTx | BatchState::InProcess | BatchState::ProcessException
            )
        })
        .collect();
    let mut data = Vec::new();
    let mut human = String::new();
    let mut worst: Option<HubError> = None;
    for b in open.iter().rev() {
        match sync_round(ctx, b.id) {
            Ok((state, items)) => {
                let needs = operator_needed(b.id, state, &items);
                human.push_str(&format!(
                    "batch {}: {state}{}\n",
                    b.id,
                    needs
                        .as_ref()
                        .map(|n| format!(" (needs an operator: {n})"))
                        .unwrap_or_default()
                ));
                data.push(json!({"batch": b.id, "state": state.as_str(), "needs_operator": needs}));
                if let Some(n) = needs {
                    if !worst
                        .as_ref()
                        .is_some_and(|w| w.error_kind() == ErrorKind::Node)
                    {
                        worst = Some(
                            SyncError::AllNeedsOperator {
                                batch: b.id,
                                what: n,
                            }
                            .into(),
                        );
                    }
                }
            }
            Err(e) => {
                human.push_str(&format!("batch {}: not synced: {e}\n", b.id));
                data.push(json!({"batch": b.id, "error": e.to_string()}));
                worst = Some(e);
            }
        }
    }
    if open.is_empty() {
        human.push_str("no batch to sync: none is SENDING_TX, IN_PROCESS or PROCESS_EXCEPTION\n");
    }
    ctx.out
        .finish(json!(data), &human, worst.map_or(Ok(()), Err))
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
            changes.push(Change::new(
                item,
                ItemState::Confirming,
                "check: known again",
                "the node knows the transaction again".to_owned(),
            ));
            continue;
        }
        match judge_unknown(&mut ctx.db, &rpc, item, hash)? {
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
        return Err(SyncError::NotBroadcastError {
            batch: id,
            order: order_id.to_owned(),
            state: item.state,
        }
        .into());
    }
    let chain = Chain::by_id(&mut ctx.db, batch.chain)?;
    let change = match how {
        Resolution::Resend => Change::new(
            &item,
            ItemState::ReadyToResend,
            "resolved: resend",
            format!("the node was at fault: send again with `hub-cli batch resend {id}`"),
        ),
        Resolution::Rebuild => {
            refuse_stranding(&items, &item)?;
            let rpc = connect(&chain)?;
            let release = refuse_paid(&mut ctx.db, &rpc, &item)?;
            let nonce = item
                .nonce
                .map(|n| n.to_string())
                .unwrap_or_else(|| "-".into());
            let mut c = Change::new(
                &item,
                ItemState::DisbursementFailed,
                "resolved: rebuild",
                match &release {
                    None => format!(
                        "can never work as signed; order back to pending for a new batch, still bound to nonce {nonce} \
                         so that at most one of its versions can be mined"
                    ),
                    Some(_) => format!(
                        "nonce {nonce} was taken by a foreign transaction; order back to pending for a new batch at a new nonce"
                    ),
                },
            );
            c.order_to = Some(OrderState::Pending);
            c.release = release;
            c
        }
        Resolution::OnChain { tx_hash, block } => {
            let rpc = connect(&chain)?;
            let hash = match tx_hash {
                Some(h) => B256(
                    hex_data::decode_fixed::<32>(&h)
                        .map_err(|error| SyncError::BadTxHash { error })?,
                ),
                None => item.tx_hash.ok_or(SyncError::NoTxHash)?,
            };
            let receipt = rpc.receipt(hash)?.ok_or(SyncError::NoReceipt { hash })?;
            if let Err(why) = evidence::check_receipt(&rpc, &mut BlockCache::new(), hash, &receipt)?
            {
                return Err(SyncError::ReceiptNotCounted { why }.into());
            }
            if let Some(b) = block {
                if b != receipt.block_number {
                    return Err(SyncError::WrongBlock {
                        hash,
                        block: receipt.block_number,
                        given: b,
                    }
                    .into());
                }
            }
            let kind = if Some(hash) != item.tx_hash {
                Some(verify_same_payment(&mut ctx.db, &rpc, &item, hash)?)
            } else {
                None
            };
            let mut c = Change::new(
                &item,
                ItemState::Confirming,
                "resolved: on chain",
                format!(
                    "landed in block {}; waiting for confirmations",
                    receipt.block_number
                ),
            );
            c.update = ItemUpdate::Following {
                tx_hash: hash,
                kind,
            };
            c
        }
    };
    let actor = ctx.actor.clone();
    let state = apply(&mut ctx.db, &actor, id, std::slice::from_ref(&change))?;
    ctx.out.result(
        json!({"batch": id, "order_id": order_id, "state": change.to.as_str(), "batch_state": state.as_str()}),
        &format!("order {order_id}: {} ({}); batch {id} is {state}", change.to, change.message),
    );
    Ok(())
}

/// Refuses a rebuild of an order that was, or may have been, paid: any of
/// its signed versions has a receipt, or its nonce was consumed by one of
/// its own versions, or by a transaction the hub cannot identify. Returns
/// the reason to release the order's binding when a foreign transaction
/// consumed the nonce (the order then takes a new nonce); `None` keeps it.
fn refuse_paid(db: &mut Db, rpc: &Rpc, item: &Item) -> Result<Option<String>> {
    let order_id = &item.order.order_id;
    let mut hashes = bindings::signed_hashes(db, item.order.id)?;
    hashes.extend(item.tx_hash);
    hashes.sort_by_key(|h| h.0);
    hashes.dedup();
    for (h, r) in hashes.iter().zip(rpc.receipts(&hashes)?) {
        if let Some(r) = r {
            return Err(SyncError::RebuildLanded {
                order: order_id.clone(),
                hash: *h,
                block: r.block_number,
            }
            .into());
        }
    }
    let Some(nonce) = item.nonce else {
        return Ok(None);
    };
    match bindings::nonce_use(rpc, item.sender, nonce)? {
        NonceUse::Unused => Ok(None),
        NonceUse::ConsumedBy(c) => {
            match bindings::whose(&bindings::versions(db, item.order.id)?, &c) {
                Whose::Own(_) => Err(SyncError::RebuildNonceOwn {
                    order: order_id.clone(),
                    nonce,
                    sender: item.sender,
                    hash: c.hash,
                    block: c.block_number,
                }
                .into()),
                Whose::Foreign => Ok(Some(format!(
                    "nonce consumed by foreign transaction {}",
                    c.hash
                ))),
            }
        }
        NonceUse::ConsumedUnknown(why) => Err(SyncError::RebuildNonceUnknown {
            order: order_id.clone(),
            nonce,
            sender: item.sender,
            why,
        }
        .into()),
    }
}

/// Refuses a rebuild whose freed nonce would strand later transactions of
/// the same sender in this batch that may still land: they could never be
/// mined, and the batch could never close.
fn refuse_stranding(items: &[Item], item: &Item) -> Result<()> {
    let Some(nonce) = item.nonce else {
        return Ok(());
    };
    let waiting: Vec<(String, u64, ItemState)> = items
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
            (
                i.order.order_id.clone(),
                i.nonce.unwrap_or_default(),
                i.state,
            )
        })
        .collect();
    if waiting.is_empty() {
        return Ok(());
    }
    Err(SyncError::RebuildStrands {
        order: item.order.order_id.clone(),
        nonce,
        sender: item.sender,
        waiting,
    }
    .into())
}

/// A transaction given by the operator must be one of the order's own
/// versions (its signing hash, recomputed from the signed bytes the node
/// gives, is one the hub exported), signed by the sender at the item's
/// nonce. Returns its kind.
fn verify_same_payment(db: &mut Db, rpc: &Rpc, item: &Item, hash: B256) -> Result<ItemKind> {
    let raw = rpc
        .raw_transaction(hash)?
        .ok_or(SyncError::UnknownTransaction { hash })?;
    let signed = coldsign_core::SignedTransaction::decode(&raw)
        .map_err(|error| SyncError::UndecodableTransaction { hash, error })?;
    let from = signed.recover_sender().ok();
    if signed.hash() != hash
        || from != Some(item.sender)
        || Some(signed.transaction().nonce()) != item.nonce
    {
        return Err(SyncError::NotOfSender {
            hash,
            sender: item.sender,
            nonce: item.nonce.unwrap_or_default(),
        }
        .into());
    }
    let consumer = bindings::Consumer {
        hash,
        signing_hash: signed.transaction().signing_hash(),
        block_number: 0,
    };
    match bindings::whose(&bindings::versions(db, item.order.id)?, &consumer) {
        Whose::Own(kind) => Ok(kind),
        Whose::Foreign => Err(SyncError::NotAVersion {
            hash,
            order: item.order.order_id.clone(),
        }
        .into()),
    }
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
            signing_hash: None,
            kind: coldsign_core::batch::ItemKind::Payment,
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
                cancel_requested_at: None,
                tenant: None,
                held_at: None,
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

    #[test]
    fn each_sync_error_has_its_kind_and_says_what_to_do() {
        let hash = B256([7; 32]);
        let sender = Address([1; 20]);
        let cases = [
            (
                SyncError::NothingSent {
                    batch: 3,
                    state: BatchState::ReadyForSignature,
                },
                ErrorKind::Conflict,
                "batch 3 is READY_FOR_SIGNATURE: nothing has been sent yet",
            ),
            (
                SyncError::NodeStillFails {
                    batch: 3,
                    timeout: 60,
                    why: "connection refused".to_owned(),
                },
                ErrorKind::Timeout,
                "nothing was lost: run `hub-cli batch sync 3 --wait` again once it answers",
            ),
            (
                SyncError::WaitNeedsOperator {
                    batch: 3,
                    state: BatchState::ProcessException,
                    what: "check the LINGERING orders".to_owned(),
                },
                ErrorKind::NeedsOperator,
                "batch 3 is PROCESS_EXCEPTION and needs an operator: check the LINGERING orders",
            ),
            (
                SyncError::StillOpen {
                    batch: 3,
                    state: BatchState::InProcess,
                    timeout: 60,
                },
                ErrorKind::Timeout,
                "run `hub-cli batch sync 3 --wait` again later",
            ),
            (
                SyncError::AllNeedsOperator {
                    batch: 3,
                    what: "resolve them".to_owned(),
                },
                ErrorKind::NeedsOperator,
                "batch 3 needs an operator: resolve them",
            ),
            (
                SyncError::NotBroadcastError {
                    batch: 3,
                    order: "W-1".to_owned(),
                    state: ItemState::Lingering,
                },
                ErrorKind::Conflict,
                "resolved this way (use `hub-cli batch check 3` for LINGERING)",
            ),
            (
                SyncError::BadTxHash {
                    error: hex_data::decode_fixed::<32>("0x12").unwrap_err(),
                },
                ErrorKind::Input,
                "--tx-hash: ",
            ),
            (
                SyncError::NoTxHash,
                ErrorKind::Internal,
                "no transaction hash",
            ),
            (
                SyncError::NoReceipt { hash },
                ErrorKind::Conflict,
                "wait, or resolve with --resend or --rebuild",
            ),
            (
                SyncError::ReceiptNotCounted {
                    why: "the block is unknown".to_owned(),
                },
                ErrorKind::Node,
                "the block is unknown; the order is left as it is",
            ),
            (
                SyncError::WrongBlock {
                    hash,
                    block: 5,
                    given: 4,
                },
                ErrorKind::Input,
                " is in block 5, not 4",
            ),
            (
                SyncError::RebuildLanded {
                    order: "W-1".to_owned(),
                    hash,
                    block: 5,
                },
                ErrorKind::Conflict,
                "so it landed; resolve with `--on-chain --tx-hash 0x0707",
            ),
            (
                SyncError::RebuildNonceOwn {
                    order: "W-1".to_owned(),
                    nonce: 4,
                    sender,
                    hash,
                    block: 5,
                },
                ErrorKind::Conflict,
                "(block 5); resolve with `--on-chain --tx-hash 0x0707",
            ),
            (
                SyncError::RebuildNonceUnknown {
                    order: "W-1".to_owned(),
                    nonce: 4,
                    sender,
                    why: "no block".to_owned(),
                },
                ErrorKind::Conflict,
                "by which transaction (no block); if it paid this order resolve with `--on-chain --tx-hash H`",
            ),
            (
                SyncError::RebuildStrands {
                    order: "W-1".to_owned(),
                    nonce: 4,
                    sender,
                    waiting: vec![("W-2".to_owned(), 5, ItemState::Confirming)],
                },
                ErrorKind::Conflict,
                "strand later transactions of the same sender in this batch: W-2 (nonce 5, CONFIRMING); \
                 resolve it with --resend",
            ),
            (
                SyncError::UnknownTransaction { hash },
                ErrorKind::Input,
                "check the hash, or wait until the node has it",
            ),
            (
                SyncError::UndecodableTransaction {
                    hash,
                    error: coldsign_core::SignedTransaction::decode(&[]).unwrap_err(),
                },
                ErrorKind::Node,
                "do not decode: ",
            ),
            (
                SyncError::NotOfSender {
                    hash,
                    sender,
                    nonce: 4,
                },
                ErrorKind::Input,
                " at nonce 4",
            ),
            (
                SyncError::NotAVersion {
                    hash,
                    order: "W-1".to_owned(),
                },
                ErrorKind::Input,
                "none of the versions of order W-1 that the hub exported",
            ),
        ];
        crate::error::testing::check_errors(cases);
        // Only a LINGERING order is pointed to `batch check`.
        let text = SyncError::NotBroadcastError {
            batch: 3,
            order: "W-1".to_owned(),
            state: ItemState::Confirming,
        }
        .to_string();
        assert_eq!(
            text,
            "order W-1 is CONFIRMING: only BROADCAST_ERROR orders are resolved this way"
        );
    }
}
