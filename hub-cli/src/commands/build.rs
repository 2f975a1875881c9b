//! `batch build`: nonces, fees, gas limits and funds checks against the
//! node, then the unsigned batch file's content.

use super::{connect, orders::asset_of, Ctx};
use crate::{
    bindings::{self, Binding, NonceUse, Whose},
    clock::now_batch_timestamp,
    error::{ErrorKind, HubError, OperationError, Result},
    evidence::{self, BlockCache},
    fees::{Fees, NATIVE_TRANSFER_GAS},
    model::{AddressRow, Asset, Batch, Chain, Item, ItemMove, Order},
    output::{Output, Table},
    rpc::{Balance, GasRequest, Rpc, RpcError},
    state::{BatchState, ItemState, OrderState},
    store::batches,
    updates::ItemUpdate,
};
use coldsign_core::{
    batch::{BatchError, ItemKind, Summary, UnsignedBatch, UnsignedItemDraft},
    erc20::Transfer,
    Address, Transaction, TxEip1559, TxLegacy, B256, U256,
};
use serde_json::{json, Value as Json};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Why `batch build` (or `batch create --build`) could not build a batch,
/// or left it BLOCKED. Each says what to do next; its
/// [`OperationError::kind`] gives its exit code and HTTP status.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BuildError {
    /// Some orders failed to build: the batch is BLOCKED.
    #[error(
        "batch {batch} is BLOCKED: fix the orders marked BUILD_ERROR (fund the sender, register the \
         address...) and run `hub-cli batch build {batch}` again, or take them out with `hub-cli batch drop {batch} ORDER`"
    )]
    Blocked { batch: i64 },
    /// A token's `balanceOf` did not answer 32 bytes.
    #[error("balanceOf on {token} returned {bytes} bytes: is it an ERC-20 contract on {chain}?")]
    NotErc20 {
        token: Address,
        bytes: usize,
        chain: String,
    },
    /// The prefetch has no answer for a sender (`what`: nonce, balance...).
    #[error("no {what} fetched for {sender}")]
    NotFetched { what: &'static str, sender: Address },
    /// A signed file was accepted already: too late to build.
    #[error("batch {batch} is {state}: it can be built only before a signed file was accepted")]
    NotBuildable { batch: i64, state: BatchState },
    /// The unsigned file left the hub, and `--force` was not given.
    #[error(
        "batch {batch}'s unsigned file (digest {digest}) was exported: rebuilding would replace the file already \
         carried to the signer; sign and upload that file, or rebuild with `hub-cli batch build {batch} --force`, \
         which keeps every nonce and voids the old file (its signed answer is then refused)"
    )]
    Exported { batch: i64, digest: B256 },
    /// Every order was dropped from the batch.
    #[error("batch {batch} has no orders left: cancel it with `hub-cli batch cancel {batch}`")]
    NoOrders { batch: i64 },
    /// The chain settled every order before the build: the batch is empty.
    #[error(
        "every order of batch {batch} was already settled on chain (see `hub-cli order show`): cancel the empty batch with `hub-cli batch cancel {batch}`"
    )]
    AllSettled { batch: i64 },
    /// A token transfer was built without its gas estimate.
    #[error("no gas estimate for order {order}")]
    NoGasEstimate { order: String },
    /// The built items do not make a valid unsigned file.
    #[error("the built batch is not valid: {error}")]
    InvalidBatch { error: BatchError },
}

crate::error::operation_error!(BuildError);

impl OperationError for BuildError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Blocked { .. } => ErrorKind::NeedsOperator,
            Self::NotErc20 { .. } => ErrorKind::Node,
            Self::NotBuildable { .. }
            | Self::Exported { .. }
            | Self::NoOrders { .. }
            | Self::AllSettled { .. } => ErrorKind::Conflict,
            Self::NotFetched { .. } | Self::NoGasEstimate { .. } | Self::InvalidBatch { .. } => {
                ErrorKind::Internal
            }
        }
    }
}

/// What a build did, for printing.
#[derive(Debug)]
pub(crate) struct Report {
    /// For `--json`.
    pub(crate) json: Json,
    /// For people.
    pub(crate) human: String,
    /// Some order could not be built.
    pub(crate) blocked: bool,
}

/// The outcome for one item.
enum Outcome {
    Built {
        nonce: u64,
        gas_limit: u64,
        fees: Fees,
        draft: Box<UnsignedItemDraft>,
    },
    Failed(String),
}

/// `batch build`.
pub(crate) fn build(ctx: &mut Ctx, id: i64, force: bool) -> Result<()> {
    let report = run_build(ctx, id, force)?;
    let outcome = if report.blocked {
        Err(blocked_error(id))
    } else {
        Ok(())
    };
    ctx.out.finish(report.json, &report.human, outcome)
}

/// Wei per gas as gwei, for people.
fn gwei(wei: U256) -> String {
    format!(
        "{} gwei",
        coldsign_core::amount::format_units(wei, 9).unwrap_or_else(|_| wei.to_string())
    )
}

/// The error for a build that left the batch BLOCKED.
pub(crate) fn blocked_error(id: i64) -> HubError {
    BuildError::Blocked { batch: id }.into()
}

fn node_msg(e: RpcError) -> Result<String> {
    match e {
        RpcError::Node { message, .. } => Ok(message),
        other => Err(other.into()),
    }
}

/// What build needs from the node, fetched up front with JSON-RPC batch
/// requests: nonces and balances per sender, code of native recipients,
/// token balances per sender and token, and gas estimates.
struct Prefetch {
    nonces: HashMap<Address, u64>,
    /// Transactions mined per sender (`latest`): nonces below are consumed.
    mined: HashMap<Address, u64>,
    balances: HashMap<Address, U256>,
    token_balances: HashMap<(Address, Address), U256>,
    /// Per item id; no entry for a plain native transfer (21,000 gas).
    estimates: HashMap<i64, std::result::Result<u64, String>>,
}

/// The error for a prefetch that has no `what` for `sender`.
fn not_fetched(what: &'static str, sender: Address) -> HubError {
    BuildError::NotFetched { what, sender }.into()
}

impl Prefetch {
    fn load(db: &mut crate::db::Db, rpc: &Rpc, chain: &Chain, items: &[Item]) -> Result<Self> {
        let senders: Vec<Address> = items
            .iter()
            .map(|i| i.sender)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut nonces = HashMap::new();
        let mut mined = HashMap::new();
        let mut balances = HashMap::new();
        for (s, state) in senders.iter().zip(rpc.sender_states(&senders)?) {
            nonces.insert(*s, state.pending_nonce);
            balances.insert(*s, state.balance);
            mined.insert(*s, state.mined_nonce);
        }

        // Assets, native recipients' code, token balances.
        let mut cache = Assets::default();
        let mut assets = HashMap::new();
        for i in items {
            assets.insert(i.id, cache.of(db, &i.order)?);
        }
        let recipients: Vec<Address> = items
            .iter()
            .filter(|i| assets.get(&i.id).is_some_and(|a| a.token.is_none()))
            .map(|i| i.order.to)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let pairs: Vec<(Address, Address)> = items
            .iter()
            .filter_map(|i| {
                assets
                    .get(&i.id)
                    .and_then(|a| a.token.as_ref())
                    .map(|t| (i.sender, t.contract))
            })
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let (codes, held) = rpc.code_and_token_balances(&recipients, &pairs)?;
        let has_code: HashMap<Address, bool> = recipients.iter().copied().zip(codes).collect();
        let mut token_balances = HashMap::new();
        for ((sender, token), balance) in pairs.iter().zip(held) {
            match balance {
                Balance::Units(units) => {
                    token_balances.insert((*sender, *token), units);
                }
                Balance::NotAWord { bytes } => {
                    return Err(BuildError::NotErc20 {
                        token: *token,
                        bytes,
                        chain: chain.name.clone(),
                    }
                    .into())
                }
            }
        }

        // Gas estimates for token transfers and payments to contracts.
        let mut ids = Vec::new();
        let mut requests: Vec<GasRequest> = Vec::new();
        for i in items {
            let Some(asset) = assets.get(&i.id) else {
                continue;
            };
            if i.order.cancel_requested_at.is_some() {
                continue; // a void: a plain self-transfer
            }
            let request = match &asset.token {
                Some(t) => GasRequest {
                    from: i.sender,
                    to: t.contract,
                    data: Some(
                        Transfer {
                            to: i.order.to,
                            amount: i.order.amount,
                        }
                        .encode(),
                    ),
                    value: None,
                },
                None if has_code.get(&i.order.to).copied().unwrap_or(false) => GasRequest {
                    from: i.sender,
                    to: i.order.to,
                    data: None,
                    value: Some(i.order.amount),
                },
                None => continue,
            };
            ids.push(i.id);
            requests.push(request);
        }
        let mut estimates = HashMap::new();
        for (id, r) in ids.into_iter().zip(rpc.gas_estimates(&requests)?) {
            let e = match r {
                Ok(gas) => Ok(gas),
                Err(e) => Err(node_msg(e)?),
            };
            estimates.insert(id, e);
        }
        Ok(Self {
            nonces,
            mined,
            balances,
            token_balances,
            estimates,
        })
    }

    fn nonce(&self, sender: Address) -> Result<u64> {
        self.nonces
            .get(&sender)
            .copied()
            .ok_or_else(|| not_fetched("nonce", sender))
    }

    fn mined(&self, sender: Address) -> Result<u64> {
        self.mined
            .get(&sender)
            .copied()
            .ok_or_else(|| not_fetched("mined nonce", sender))
    }

    fn balance(&self, sender: Address) -> Result<U256> {
        self.balances
            .get(&sender)
            .copied()
            .ok_or_else(|| not_fetched("balance", sender))
    }

    fn token_balance(&self, sender: Address, token: Address) -> Result<U256> {
        self.token_balances
            .get(&(sender, token))
            .copied()
            .ok_or_else(|| not_fetched("token balance", sender))
    }

    /// `None` for a plain native transfer (21,000 gas).
    fn estimate(&self, item: i64) -> Option<std::result::Result<u64, String>> {
        self.estimates.get(&item).cloned()
    }
}

/// The assets of a batch's orders, read once per asset rather than once per
/// order.
#[derive(Default)]
struct Assets(HashMap<Option<i64>, Asset>);

impl Assets {
    fn of(&mut self, db: &mut crate::db::Db, order: &Order) -> Result<Asset> {
        if let Some(a) = self.0.get(&order.token) {
            if a.symbol == order.asset {
                return Ok(a.clone());
            }
        }
        let a = asset_of(db, order)?;
        self.0.insert(order.token, a.clone());
        Ok(a)
    }
}

/// What the chain says of a bound order whose nonce is already consumed.
enum Settled {
    /// Paid by one of its own signed versions (status 1), or reverted.
    Paid { hash: B256, block: u64, status: u64 },
    /// Cancelled by its own void.
    Voided { hash: B256, block: u64 },
    /// Consumed by a foreign transaction: the binding is released.
    Released { hash: B256 },
}

/// Before building, settles the batch's bound orders whose nonce the chain
/// already shows consumed: by one of the order's own versions (the order is
/// paid, or cancelled by its void, and leaves the batch), or by a foreign
/// transaction (the binding is released and the order takes a new nonce).
/// Orders cancelled while unbound leave the batch as FAILED. Returns the
/// orders that could not be settled, with why (they fail to build).
fn settle_consumed(
    ctx: &mut Ctx,
    rpc: &Rpc,
    id: i64,
    items: &[Item],
    pre: &Prefetch,
    live: &HashMap<i64, Binding>,
) -> Result<HashMap<i64, String>> {
    let mut unsettled = HashMap::new();
    let mut settled: Vec<(&Item, Settled)> = Vec::new();
    let mut cancelled: Vec<&Item> = Vec::new();
    for item in items {
        let Some(b) = live.get(&item.order.id) else {
            if item.order.cancel_requested_at.is_some() {
                cancelled.push(item);
            }
            continue;
        };
        if b.nonce >= pre.mined(b.sender)? {
            continue;
        }
        match bindings::nonce_use(rpc, b.sender, b.nonce)? {
            NonceUse::Unused => {}
            NonceUse::ConsumedUnknown(why) => {
                unsettled.insert(item.id, format!(
                    "nonce {} of {} it is bound to was consumed, and the hub cannot tell by which transaction: {why}",
                    b.nonce, b.sender
                ));
            }
            NonceUse::ConsumedBy(c) => {
                let versions = bindings::versions(&mut ctx.db, item.order.id)?;
                match bindings::whose(&versions, &c) {
                    Whose::Foreign => settled.push((item, Settled::Released { hash: c.hash })),
                    Whose::Own(kind) => {
                        let receipt = rpc.receipt(c.hash)?;
                        let Some(r) = receipt else {
                            unsettled.insert(
                                item.id,
                                format!(
                                    "the node shows {} at nonce {} but has no receipt for it",
                                    c.hash, b.nonce
                                ),
                            );
                            continue;
                        };
                        if let Err(why) =
                            evidence::check_receipt(rpc, &mut BlockCache::new(), c.hash, &r)?
                        {
                            unsettled.insert(item.id, why);
                            continue;
                        }
                        settled.push((
                            item,
                            match kind {
                                ItemKind::Payment => Settled::Paid {
                                    hash: c.hash,
                                    block: r.block_number,
                                    status: r.status,
                                },
                                ItemKind::Void => Settled::Voided {
                                    hash: c.hash,
                                    block: r.block_number,
                                },
                            },
                        ));
                    }
                }
            }
        }
    }
    if settled.is_empty() && cancelled.is_empty() {
        return Ok(unsettled);
    }
    let actor = ctx.actor.clone();
    ctx.db.transaction(|db| {
        for (item, how) in &settled {
            let (to, reason, message) = match how {
                Settled::Released { hash } => {
                    bindings::release(db, item.order.id, &format!("nonce consumed by foreign transaction {hash}"))?;
                    continue;
                }
                Settled::Paid { hash, block, status: 1 } => (OrderState::Completed, "paid by an earlier version", format!(
                    "paid by its signed transaction {hash} in block {block} (an earlier version); taken out of batch {id}"
                )),
                Settled::Paid { hash, block, .. } => (OrderState::Failed, "reverted", format!(
                    "its signed transaction {hash} reverted on chain in block {block}; not paid out; taken out of batch {id}"
                )),
                Settled::Voided { hash, block } => (OrderState::Failed, "cancelled", format!(
                    "cancelled: its void {hash} consumed its nonce in block {block}; taken out of batch {id}"
                )),
            };
            batches::delete_item(db, item.id)?;
            actor.move_order(db, item.order.id, Some(id), OrderState::InBatch, to, reason, &message)?;
        }
        for item in &cancelled {
            batches::delete_item(db, item.id)?;
            actor.move_order(db, item.order.id, Some(id), OrderState::InBatch, OrderState::Failed, "cancelled",
                &format!("cancelled by the operator; no transaction of it can be mined; taken out of batch {id}"))?;
        }
        Ok::<_, HubError>(())
    })?;
    Ok(unsettled)
}

/// Builds the batch and stores the result; returns the report.
///
/// Orders bound to a nonce (their transaction left the hub in an exported
/// file) are built at that nonce; a bound order with a pending cancel gets
/// its void there. A batch whose file was exported is rebuilt only with
/// `force`, which keeps every nonce and voids the old file.
pub(crate) fn run_build(ctx: &mut Ctx, id: i64, force: bool) -> Result<Report> {
    let batch = Batch::get(&mut ctx.db, id)?;
    let allowed = matches!(
        batch.state,
        BatchState::New
            | BatchState::BuildingTx
            | BatchState::Blocked
            | BatchState::ReadyForSignature
            | BatchState::SignatureError
    );
    if !allowed {
        return Err(BuildError::NotBuildable {
            batch: id,
            state: batch.state,
        }
        .into());
    }
    let exported = bindings::exported_file(&mut ctx.db, id)?;
    if let (Some(digest), false) = (exported, force) {
        return Err(BuildError::Exported { batch: id, digest }.into());
    }
    let chain = Chain::by_id(&mut ctx.db, batch.chain)?;
    let rpc = connect(&chain)?;
    let items = Item::of_batch(&mut ctx.db, id)?;
    if items.is_empty() {
        return Err(BuildError::NoOrders { batch: id }.into());
    }
    let actor = ctx.actor.clone();
    if batch.state != BatchState::BuildingTx || exported.is_some() {
        ctx.db.transaction(|db| {
            if exported.is_some() {
                bindings::void_files(db, id)?;
            }
            if batch.state != BatchState::BuildingTx {
                actor.move_batch(
                    db,
                    &batch,
                    BatchState::BuildingTx,
                    "build",
                    if exported.is_some() {
                        "rebuilding (forced): the exported file is void; every nonce is kept"
                    } else {
                        "building unsigned transactions"
                    },
                )?;
            }
            Ok::<_, HubError>(())
        })?;
    }

    let fees = match rpc.base_fee()? {
        Some(base) => chain.fees.eip1559(base, rpc.priority_fee()?),
        None => chain.fees.legacy(rpc.gas_price()?),
    };

    let mut pre = Prefetch::load(&mut ctx.db, &rpc, &chain, &items)?;
    let live = bindings::live(&mut ctx.db, chain.id)?;
    let mut unsettled = settle_consumed(ctx, &rpc, id, &items, &pre, &live)?;
    let items = {
        let now = Item::of_batch(&mut ctx.db, id)?;
        if now.len() != items.len() {
            pre = Prefetch::load(&mut ctx.db, &rpc, &chain, &now)?;
        }
        now
    };
    if items.is_empty() {
        let b = Batch::get(&mut ctx.db, id)?;
        ctx.db.transaction(|db| {
            actor.move_batch(
                db,
                &b,
                BatchState::New,
                "build finished",
                "every order was settled by the chain: cancel this empty batch",
            )
        })?;
        return Err(BuildError::AllSettled { batch: id }.into());
    }
    let live = bindings::live(&mut ctx.db, chain.id)?;
    let in_batch: BTreeSet<i64> = items.iter().map(|i| i.order.id).collect();
    let bar = ctx.out.progress("build", items.len() as u64);
    let mut by_sender: BTreeMap<Address, Vec<&Item>> = BTreeMap::new();
    for i in &items {
        by_sender.entry(i.sender).or_default().push(i);
    }
    let mut outcomes: HashMap<i64, Outcome> = HashMap::new();
    let held = batches::held_nonces(&mut ctx.db, chain.id, id)?;
    let mut assets = Assets::default();
    for (sender, mut sender_items) in by_sender {
        let reg = AddressRow::find(&mut ctx.db, chain.id, sender)?;
        let path = match reg {
            Some(a) if a.role == "cold" => a.derivation_path,
            _ => None,
        };
        let Some(path) = path else {
            for i in sender_items {
                outcomes.insert(
                    i.id,
                    Outcome::Failed(format!(
                        "{sender} is not a registered cold address with a derivation path"
                    )),
                );
                bar.inc(1);
            }
            continue;
        };
        let mined = pre.mined(sender)?;
        // Nonces of this sender bound to orders outside this batch and not
        // consumed yet: no later nonce may be used, or it would wait forever.
        let waiting_for: Vec<(u64, i64)> = live
            .values()
            .filter(|b| b.sender == sender && !in_batch.contains(&b.order_ref) && b.nonce >= mined)
            .map(|b| (b.nonce, b.order_ref))
            .collect();
        let first_gap = waiting_for.iter().map(|(n, _)| *n).min();
        let bound_nonces: BTreeSet<u64> = live
            .values()
            .filter(|b| b.sender == sender)
            .map(|b| b.nonce)
            .collect();
        let mut held = held.get(&sender).cloned().unwrap_or_default();
        held.extend(bound_nonces.iter().copied());
        // Bound orders first, in nonce order; then the others.
        sender_items.sort_by_key(|i| {
            (
                live.get(&i.order.id).map_or(u64::MAX, |b| b.nonce),
                i.position,
            )
        });
        let mut next_nonce = pre.nonce(sender)?;
        let native_balance = pre.balance(sender)?;
        let mut native_needed = U256::zero();
        let mut token_needed: HashMap<Address, U256> = HashMap::new();
        for item in sender_items {
            bar.inc(1);
            if let Some(why) = unsettled.remove(&item.id) {
                outcomes.insert(item.id, Outcome::Failed(why));
                continue;
            }
            let binding = live.get(&item.order.id);
            let planned = binding.map(|b| b.nonce);
            if let Some(gap) = first_gap {
                if planned.is_none_or(|n| n > gap) {
                    let (n, order_ref) = waiting_for.iter().min().copied().unwrap_or_default();
                    let other = Order::by_ref(&mut ctx.db, order_ref)?;
                    outcomes.insert(item.id, Outcome::Failed(format!(
                        "nonce {n} of {sender} is bound to order {}, which is not in this batch: a later nonce would \
                         wait for it forever; put {} in this batch, or abandon it with `hub-cli order cancel {}` \
                         (its void then takes nonce {n} in a batch)",
                        other.order_id, other.order_id, other.order_id
                    )));
                    continue;
                }
            }
            let void = item.order.cancel_requested_at.is_some();
            let asset = if void {
                Asset {
                    symbol: chain.native_symbol.clone(),
                    decimals: chain.native_decimals,
                    token: None,
                }
            } else {
                assets.of(&mut ctx.db, &item.order)?
            };
            let amount = if void {
                U256::zero()
            } else {
                item.order.amount
            };
            let (to, value, input, gas_limit) = match &asset.token {
                None if void => (sender, U256::zero(), Vec::new(), NATIVE_TRANSFER_GAS),
                None => {
                    let gas = match pre.estimate(item.id) {
                        None => NATIVE_TRANSFER_GAS,
                        Some(Ok(g)) => chain.fees.gas_limit(g),
                        Some(Err(e)) => {
                            outcomes.insert(
                                item.id,
                                Outcome::Failed(format!("gas estimation failed: {e}")),
                            );
                            continue;
                        }
                    };
                    (item.order.to, amount, Vec::new(), gas)
                }
                Some(token) => {
                    let balance = pre.token_balance(sender, token.contract)?;
                    let needed = token_needed
                        .get(&token.contract)
                        .copied()
                        .unwrap_or_default()
                        + amount;
                    if needed > balance {
                        outcomes.insert(
                            item.id,
                            Outcome::Failed(format!(
                                "insufficient {} balance: {sender} holds {} {}, needs {} {} with its earlier orders in this batch",
                                asset.symbol,
                                asset.human(balance),
                                asset.symbol,
                                asset.human(needed),
                                asset.symbol
                            )),
                        );
                        continue;
                    }
                    let data = Transfer {
                        to: item.order.to,
                        amount,
                    }
                    .encode();
                    match pre.estimate(item.id) {
                        Some(Ok(g)) => {
                            token_needed.insert(token.contract, needed);
                            (token.contract, U256::zero(), data, chain.fees.gas_limit(g))
                        }
                        Some(Err(e)) => {
                            outcomes.insert(
                                item.id,
                                Outcome::Failed(format!("gas estimation failed: {e}")),
                            );
                            continue;
                        }
                        None => {
                            return Err(BuildError::NoGasEstimate {
                                order: item.order.order_id.clone(),
                            }
                            .into())
                        }
                    }
                }
            };
            let cost = U256::from(gas_limit)
                .saturating_mul(fees.max_per_gas())
                .saturating_add(value);
            let needed = native_needed.saturating_add(cost);
            if needed > native_balance {
                let native = crate::model::Asset {
                    symbol: chain.native_symbol.clone(),
                    decimals: chain.native_decimals,
                    token: None,
                };
                outcomes.insert(
                    item.id,
                    Outcome::Failed(format!(
                        "insufficient funds: {sender} holds {} {}, needs {} {} for this and its earlier orders \
                         (value plus worst-case fees)",
                        native.human(native_balance),
                        chain.native_symbol,
                        native.human(needed),
                        chain.native_symbol
                    )),
                );
                continue;
            }
            native_needed = needed;
            let nonce = match planned {
                Some(n) => n,
                None => {
                    while held.contains(&next_nonce) {
                        next_nonce += 1;
                    }
                    next_nonce += 1;
                    next_nonce - 1
                }
            };
            let tx = match fees {
                Fees::Eip1559 {
                    max_fee_per_gas,
                    max_priority_fee_per_gas,
                } => Transaction::Eip1559(TxEip1559 {
                    chain_id: chain.chain_id,
                    nonce,
                    max_priority_fee_per_gas,
                    max_fee_per_gas,
                    gas_limit,
                    to: Some(to),
                    value,
                    input,
                    access_list: Vec::new(),
                }),
                Fees::Legacy { gas_price } => Transaction::Legacy(TxLegacy {
                    chain_id: chain.chain_id,
                    nonce,
                    gas_price,
                    gas_limit,
                    to: Some(to),
                    value,
                    input,
                }),
            };
            let draft = UnsignedItemDraft {
                order_id: item.order.order_id.clone(),
                from: sender,
                derivation_path: path.clone(),
                tx,
                summary: Summary {
                    asset: asset.symbol.clone(),
                    decimals: asset.decimals,
                    token: asset.token.as_ref().map(|t| t.contract),
                    recipient: if void { sender } else { item.order.to },
                    amount: asset.human(amount),
                },
                kind: if void {
                    ItemKind::Void
                } else {
                    ItemKind::Payment
                },
            };
            outcomes.insert(
                item.id,
                Outcome::Built {
                    nonce,
                    gas_limit,
                    fees,
                    draft: Box::new(draft),
                },
            );
        }
    }
    bar.finish_and_clear();

    // Items in file order.
    let mut drafts = Vec::new();
    let mut errors = Vec::new();
    for i in &items {
        match outcomes.get(&i.id) {
            Some(Outcome::Built { draft, .. }) => drafts.push((**draft).clone()),
            Some(Outcome::Failed(m)) => errors.push((i.order.order_id.clone(), m.clone())),
            None => errors.push((i.order.order_id.clone(), "not built".to_owned())),
        }
    }
    let created_at = now_batch_timestamp();
    let unsigned = if errors.is_empty() {
        let batch_id = u64::try_from(id).unwrap_or_default();
        let head = batches::last_ledger_head(&mut ctx.db)?;
        Some(
            UnsignedBatch::with_ledger_head(batch_id, chain.chain_id, &created_at, head, drafts)
                .map_err(|error| BuildError::InvalidBatch { error })?,
        )
    } else {
        None
    };

    let mut t = Table::new(&["ORDER", "STATE", "NONCE", "GAS", "MAX FEE/GAS", "MESSAGE"]);
    let mut rows = Vec::new();
    // Every item's change and event in bulk, in one transaction.
    let mut moves = Vec::with_capacity(items.len());
    for i in &items {
        match outcomes.get(&i.id) {
            Some(Outcome::Built {
                nonce,
                gas_limit,
                fees,
                draft,
            }) => {
                let (max_fee, prio) = match fees {
                    Fees::Eip1559 {
                        max_fee_per_gas,
                        max_priority_fee_per_gas,
                    } => (*max_fee_per_gas, Some(*max_priority_fee_per_gas)),
                    Fees::Legacy { gas_price } => (*gas_price, None),
                };
                moves.push(ItemMove::new(i, ItemState::TxBuilt, "built").update(
                    ItemUpdate::Built {
                        kind: draft.kind,
                        nonce: *nonce,
                        gas_limit: *gas_limit,
                        max_fee_per_gas: max_fee,
                        max_priority_fee_per_gas: prio,
                        signing_hash: draft.tx.signing_hash(),
                    },
                ));
                t.row(vec![
                    i.order.order_id.clone(),
                    ItemState::TxBuilt.to_string(),
                    nonce.to_string(),
                    gas_limit.to_string(),
                    gwei(max_fee),
                    String::new(),
                ]);
                rows.push(
                    json!({"order_id": i.order.order_id, "state": "TX_BUILT", "nonce": nonce,
                    "gas_limit": gas_limit, "max_fee_per_gas": max_fee.to_string()}),
                );
            }
            other => {
                let m = match other {
                    Some(Outcome::Failed(m)) => m.clone(),
                    _ => "not built".to_owned(),
                };
                t.row(vec![
                    i.order.order_id.clone(),
                    ItemState::BuildError.to_string(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    m.clone(),
                ]);
                rows.push(
                    json!({"order_id": i.order.order_id, "state": "BUILD_ERROR", "message": m}),
                );
                moves.push(
                    ItemMove::new(i, ItemState::BuildError, "build failed")
                        .message(m)
                        .update(ItemUpdate::BuildFailed),
                );
            }
        }
    }
    let to_state = ctx.db.transaction(|db| {
        actor.move_items(db, &moves)?;
        let current = Batch::get(db, id)?;
        let (to, message) = match &unsigned {
            Some(u) => {
                batches::store_unsigned_file(db, id, &u.to_json(), &created_at)?;
                (
                    BatchState::ReadyForSignature,
                    format!("export it: `hub-cli batch export {id}`"),
                )
            }
            None => {
                batches::clear_unsigned_file(db, id)?;
                (
                    BatchState::Blocked,
                    format!(
                        "{} order(s) failed to build: fix them or drop them, then build again",
                        errors.len()
                    ),
                )
            }
        };
        actor.move_batch(db, &current, to, "build finished", &message)?;
        Ok::<_, HubError>(to)
    })?;
    let human = format!("batch {id}: {to_state}\n{}", Output::table(&t));
    Ok(Report {
        json: json!({"batch": id, "state": to_state.as_str(), "items": rows}),
        human,
        blocked: to_state == BatchState::Blocked,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_build_error_has_its_kind_and_says_what_to_do() {
        let cases = [
            (
                BuildError::Blocked { batch: 3 },
                ErrorKind::NeedsOperator,
                "run `hub-cli batch build 3` again, or take them out with `hub-cli batch drop 3 ORDER`",
            ),
            (
                BuildError::NotErc20 {
                    token: Address([1; 20]),
                    bytes: 0,
                    chain: "sepolia".to_owned(),
                },
                ErrorKind::Node,
                "returned 0 bytes: is it an ERC-20 contract on sepolia?",
            ),
            (
                BuildError::NotFetched {
                    what: "mined nonce",
                    sender: Address([1; 20]),
                },
                ErrorKind::Internal,
                "no mined nonce fetched for ",
            ),
            (
                BuildError::NotBuildable {
                    batch: 3,
                    state: BatchState::InProcess,
                },
                ErrorKind::Conflict,
                "batch 3 is IN_PROCESS: it can be built only before",
            ),
            (
                BuildError::Exported {
                    batch: 3,
                    digest: B256([7; 32]),
                },
                ErrorKind::Conflict,
                "rebuild with `hub-cli batch build 3 --force`, which keeps every nonce",
            ),
            (
                BuildError::NoOrders { batch: 3 },
                ErrorKind::Conflict,
                "cancel it with `hub-cli batch cancel 3`",
            ),
            (
                BuildError::AllSettled { batch: 3 },
                ErrorKind::Conflict,
                "cancel the empty batch with `hub-cli batch cancel 3`",
            ),
            (
                BuildError::NoGasEstimate {
                    order: "W-1".to_owned(),
                },
                ErrorKind::Internal,
                "no gas estimate for order W-1",
            ),
            (
                BuildError::InvalidBatch {
                    error: BatchError::Json("empty".to_owned()),
                },
                ErrorKind::Internal,
                "the built batch is not valid: ",
            ),
        ];
        crate::error::testing::check_errors(cases);
        // The line continuations join the prose as `format!` did.
        assert!(BuildError::Blocked { batch: 3 }
            .to_string()
            .contains("register the address...) and run"));
    }

    #[test]
    fn a_hint_on_a_build_error_keeps_its_kind_and_text() {
        let hub = blocked_error(3).with_hint("batch 3 was created but not built");
        assert_eq!(hub.error_kind(), ErrorKind::NeedsOperator);
        assert!(hub
            .to_string()
            .ends_with("drop 3 ORDER`; batch 3 was created but not built"));
    }
}
